#!/usr/bin/env bash
# Runs every test on a fresh Debian machine with Rust (cargo-nextest) and
# Node: installs what the tests need, checks format and lints, runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium (and nginx, the proxy of the sub-path test) for the browser
# tests, redis-server for tests/redis.rs; one apt-get update for whatever is
# missing.
MISSING=""
[ -x /usr/bin/chromium ] || MISSING="$MISSING chromium"
[ -x /usr/bin/redis-server ] || MISSING="$MISSING redis-server"
[ -x /usr/sbin/nginx ] || MISSING="$MISSING nginx"
if [ -n "$MISSING" ]; then
  echo "== installing$MISSING (browser, proxy and Redis tests)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >/dev/null
fi

# python websockets: a real third-party compressing client (tests/compression.rs).
if ! python3 -c "import websockets" 2>/dev/null; then
  echo "== pip install websockets (tests/compression.rs)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "websockets>=13"
fi

echo "== npm ci (tests/browser)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # The conformance suites again, every client negotiating permessage-deflate
  # (Chromium's offer) and compressing what it sends.
  echo "== protocol suites with compression negotiated"
  D_BACK_TEST_DEFLATE=1 cargo nextest run --locked --no-fail-fast --test protocol --test closing
  # nextest does not run doctests: the crate docs' and the README's examples.
  echo "== doctests"
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
  D_BACK_TEST_DEFLATE=1 cargo test --locked --no-fail-fast --test protocol --test closing
fi
