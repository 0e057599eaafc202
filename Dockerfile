# d-back in a container: a build stage with the Rust toolchain, then a small
# Debian runtime with only the binary (the frontend is compiled into it).
#
#   docker build -t d-back .
#   podman build --format docker -t d-back .   (podman's own format drops HEALTHCHECK)
#   docker run -p 3000:3000 -e DISCORD_TOKEN=... d-back
#
# Configuration: the image starts with container/d-back.toml, copied to
# /etc/d-back/d-back.toml and named by D_BACK_CONFIG (defaults that suit a
# container live there, not in ENV, so a file mounted over it sets every
# key, host and port included); any D_BACK_* variable (README "Options")
# wins over the file. The bot token: DISCORD_TOKEN, or a secret file named
# by DISCORD_TOKEN_FILE (e.g. /run/secrets/discord_token). README
# "Container" lists the build steps of the first stage; tests/container.rs
# keeps the two the same, and checks these rules.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
# build: the steps README "Container" shows
RUN cargo build --release --locked --bin d-back
RUN strip target/release/d-back
# end of build

FROM debian:bookworm-slim
# ca-certificates: for anything that checks the system's roots (rustls
# itself carries its own). The HEALTHCHECK is the binary itself.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin d-back \
 && mkdir -p /etc/d-back
COPY --from=build /src/target/release/d-back /usr/local/bin/d-back
COPY container/d-back.toml /etc/d-back/d-back.toml
USER 10001:10001
# No RUST_LOG: the image logs what the binary logs by default.
ENV D_BACK_CONFIG=/etc/d-back/d-back.toml
EXPOSE 3000
# `d-back health` reads the configuration as a start does (file, then
# environment), so it probes the port and base path actually served.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/d-back", "health"]
ENTRYPOINT ["/usr/local/bin/d-back"]
