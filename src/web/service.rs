//! One worker's HTTP service for one listener, assembled by hand (what
//! actix-web's `HttpServer` does inside): actix-http's HTTP/1 service with
//! its timeouts, the socket options of every connection
//! ([`super::connection`]), WebSocket upgrades handed to
//! `ws::upgrade::take_over` (the one connection path), and everything else
//! to the actix-web app's single route (`web::http::entry`).

/// One worker's HTTP service for one listener (`$data`: the
/// `web::Data<AppState>`, `$addr`: the listener's address): timeouts and
/// socket options, WebSocket upgrades to `upgrade::take_over`, everything
/// else to the actix-web app (`http::entry`). A macro because the service's
/// type cannot be named (it holds the app's closures), and the plain and
/// TLS listeners need it for different streams.
macro_rules! http_service {
    ($data:expr, $addr:expr) => {{
        let data: &actix_web::web::Data<$crate::app::AppState> = &$data;
        let cfg = &data.config;
        let user_timeout = cfg.write_timeout;
        let upgrade_data = data.clone();
        let providers = $crate::web::workers::worker_providers(data);
        let app = actix_web::App::new()
            .app_data(data.clone())
            .app_data(actix_web::web::Data::new(providers))
            .default_service(actix_web::web::to($crate::web::http::entry));
        actix_http::HttpService::build()
            .client_request_timeout(cfg.handshake_timeout)
            // How long an HTTP response to an unread body lingers.
            .client_disconnect_timeout(cfg.close_timeout)
            .local_addr($addr)
            .on_connect_ext(move |io: &_, _: &mut actix_http::Extensions| {
                crate::web::connection::connected(io, user_timeout)
            })
            .upgrade(actix_service::fn_factory(move || {
                let data = upgrade_data.clone();
                async move {
                    let providers = $crate::web::workers::worker_providers(&data);
                    let app = data.into_inner();
                    Ok::<_, ()>(actix_service::fn_service(move |(req, framed)| {
                        crate::ws::upgrade::take_over(app.clone(), providers.clone(), req, framed)
                    }))
                }
            }))
            .finish(actix_service::map_config(app, |_| {
                actix_web::dev::AppConfig::default()
            }))
    }};
}

pub(crate) use http_service;
