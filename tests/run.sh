#!/usr/bin/env bash
# Runs every test on a fresh Debian machine with Rust (cargo-nextest) and
# Node: installs what the tests need, checks format and lints, runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium for the browser tests, redis-server for tests/redis.rs; one
# apt-get update for whatever is missing.
MISSING=""
[ -x /usr/bin/chromium ] || MISSING="$MISSING chromium"
[ -x /usr/bin/redis-server ] || MISSING="$MISSING redis-server"
if [ -n "$MISSING" ]; then
  echo "== installing$MISSING (browser and Redis tests)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >/dev/null
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
  # nextest does not run doctests: the crate docs' and the README's examples.
  echo "== doctests"
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi
