//! d-back as the bench servers start it: the public builder, mock servers,
//! `--users N` synthetic members, mock traffic off by default, and the
//! per-IP cap lifted (every bench client is 127.0.0.1).

use crate::driver::DriverArgs;

/// The `--users` list as d-back's typed users.
pub fn bench_users(n: usize) -> Vec<d_back::User> {
    crate::users::users(n)
        .into_iter()
        .map(|u| {
            let status = u.status.parse().expect("a bench status");
            let color = d_back::RoleColor::parse(&u.role_color).expect("a bench colour");
            d_back::User::new(u.uid, u.username, status, color)
        })
        .collect()
}

/// d-back as a user would start it for this load.
pub fn bench_dback(args: &DriverArgs, mock_traffic: bool) -> std::io::Result<d_back::Server> {
    let mut builder = d_back::DBack::builder();
    if args.users > 0 {
        // Built once and handed out per call, as a bot answering from its
        // cache would (python_server.py answers a shallow copy of its dict;
        // the Rust way to share it is a clone of the Arc).
        let users: std::sync::Arc<[d_back::User]> = bench_users(args.users).into();
        builder = builder.on_get_user_data(move |_server| {
            let users = users.clone();
            async move { Ok::<_, d_back::BoxError>(users) }
        });
    }
    builder
        .bind(("127.0.0.1", args.port))
        .config(d_back::Config {
            mock_traffic,
            // Every bench client comes from 127.0.0.1; the per-IP cap is
            // for the open internet, not for this.
            max_connections_per_ip: usize::MAX,
            ..Default::default()
        })
        .build()
}
