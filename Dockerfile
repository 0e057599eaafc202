# d-back in a container: a build stage with the Rust toolchain, then a small
# Debian runtime with only the binary (the frontend is compiled into it).
#
#   docker build -t d-back .
#   docker run -p 3000:3000 -e DISCORD_TOKEN=... d-back
#
# Configuration: any D_BACK_* variable (see README "Options"), or a TOML file
# mounted at /etc/d-back/d-back.toml (D_BACK_CONFIG below). The bot token:
# DISCORD_TOKEN, or a secret file named by DISCORD_TOKEN_FILE (e.g.
# /run/secrets/discord_token). README "Container" lists the build steps of
# the first stage; tests/container.rs keeps the two the same.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
# build: the steps README "Container" shows
RUN cargo build --release --locked --bin d-back
RUN strip target/release/d-back
# end of build

FROM debian:bookworm-slim
# curl: the HEALTHCHECK's probe; ca-certificates: for anything that checks
# the system's roots (rustls itself carries its own).
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin d-back \
 && mkdir -p /etc/d-back
COPY --from=build /src/target/release/d-back /usr/local/bin/d-back
USER 10001:10001
ENV D_BACK_HOST=0.0.0.0 \
    D_BACK_PORT=3000 \
    D_BACK_BASE_PATH= \
    RUST_LOG=info
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${D_BACK_PORT}${D_BACK_BASE_PATH}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/d-back"]
