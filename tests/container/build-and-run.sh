#!/bin/sh
# Builds the d-back image with podman and runs it as an operator would, on
# this machine: by hand, not in CI (the build compiles the crate in a
# container: minutes). Each check prints one `== check:` line and what it
# saw; the script stops at the first that fails. It proves:
#   - the image builds (`podman build --format docker`, which keeps HEALTHCHECK);
#   - GET /healthz answers through the published port;
#   - a mounted config file's `port` is the one served, and a D_BACK_PORT
#     set by the operator still wins over the file;
#   - the token file (DISCORD_TOKEN_FILE) is read: the bot starts (Discord is
#     unreachable here, so it says so), and the token is in no log line;
#   - the image's HEALTHCHECK is kept and passes (`podman healthcheck run`);
#   - `podman stop` closes a connected WebSocket client with 1001.
# Run as root from anywhere: tests/container/build-and-run.sh
# CONTEXT=DIR builds from DIR instead of this checkout (e.g. a `git archive`
# of a commit, to leave uncommitted edits out).
# Needs podman, runc and debootstrap (apt-get install podman runc
# debootstrap) and python3 with `websockets` (pip install websockets).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
context=${CONTEXT:-$repo}
export CONTAINERS_CONF="$here/containers.conf"
image=localhost/d-back:check
name=d-back-check
host_port=${HOST_PORT:-38100}
work=$(mktemp -d /tmp/d-back-container.XXXXXX)
# A token shaped like a real one but not one; never printed.
token="check.$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n').token"

cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAILED: $*"
  exit 1
}

echo "== base images"
"$here/base-images.sh"

echo "== build: nice -n 19 podman build --format docker -t $image $context"
start=$(date +%s)
if ! nice -n 19 podman build --format docker -t "$image" "$context" >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  fail "the image did not build"
fi
grep -E 'STEP [0-9]+/[0-9]+|COMMIT|Finished|Compiling d-back' "$work/build.log" || true
echo "build: ok in $(($(date +%s) - start)) s; $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1000000}')"

echo "== check: the image keeps its HEALTHCHECK and sets no option in ENV"
podman image inspect --format 'healthcheck: {{.Config.Healthcheck.Test}}' "$image"
podman image inspect --format '{{range .Config.Env}}env: {{.}}{{"\n"}}{{end}}' "$image"
podman image inspect --format '{{.Config.Healthcheck.Test}}' "$image" | grep -q 'd-back health' \
  || fail "no HEALTHCHECK in the image"
podman image inspect --format '{{.Config.Env}}' "$image" | grep -Eq 'D_BACK_(HOST|PORT|BASE_PATH)|RUST_LOG' \
  && fail "the image sets an option or RUST_LOG in ENV"

# The operator's files: a config that moves the port, and the token secret.
printf '# mounted by build-and-run.sh\nhost = "0.0.0.0"\nport = 3100\n' >"$work/d-back.toml"
printf '%s\n' "$token" >"$work/discord_token"
chmod 0644 "$work/d-back.toml" "$work/discord_token"

echo "== check: a D_BACK_PORT set by the operator wins over the mounted file"
podman run --rm -v "$work/d-back.toml:/etc/d-back/d-back.toml:ro" -e D_BACK_PORT=3200 \
  "$image" config check | grep -E '^(host|port) ' | tee "$work/env-wins"
grep -q '^port = 3200  # from D_BACK_PORT' "$work/env-wins" || fail "D_BACK_PORT did not win"

echo "== run: podman run -d --name $name -p 127.0.0.1:$host_port:3100 (config and token mounted)"
podman run -d --name "$name" -p "127.0.0.1:$host_port:3100" \
  -v "$work/d-back.toml:/etc/d-back/d-back.toml:ro" \
  -v "$work/discord_token:/run/secrets/discord_token:ro" \
  -e DISCORD_TOKEN_FILE=/run/secrets/discord_token \
  "$image" >/dev/null

echo "== check: GET /healthz on the mounted config's port 3100 (published at $host_port)"
ok=
for _ in $(seq 1 100); do
  if body=$(curl -fsS "http://127.0.0.1:$host_port/healthz" 2>/dev/null); then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { podman logs "$name"; fail "/healthz did not answer"; }
echo "GET /healthz: 200 $body"
podman logs "$name" 2>&1 | grep 'listening on' | tee "$work/listening"
grep -q 'listening on http://0.0.0.0:3100' "$work/listening" || fail "not on the file's port"
podman exec "$name" d-back config check | grep -E '^(host|port) '

echo "== check: the token file is read (Discord is unreachable from here)"
for _ in $(seq 1 50); do
  podman logs "$name" 2>&1 | grep -q 'discord: cannot reach' && break
  sleep 0.2
done
podman logs "$name" 2>&1 | grep 'discord:' | sed 's/^\[[^]]*\] *//' || true
podman logs "$name" 2>&1 | grep -q 'discord: connecting to the gateway' || fail "the bot did not start"
podman logs "$name" 2>&1 | grep -qF "$token" && fail "the token is in the log"
echo "token: read from the file, in no log line"

echo "== check: podman healthcheck run"
if podman healthcheck run "$name"; then echo "healthcheck: exit 0"; else fail "the health check failed"; fi
podman inspect --format 'health status: {{.State.Health.Status}}' "$name" 2>/dev/null \
  || podman inspect --format 'health status: {{.State.Healthcheck.Status}}' "$name"

echo "== check: podman stop closes a WebSocket client with 1001"
python3 - "$host_port" >"$work/client.out" 2>&1 <<'EOF' &
import asyncio, json, sys
import websockets

async def main():
    async with websockets.connect(f"ws://127.0.0.1:{sys.argv[1]}/ws") as ws:
        first = json.loads(await ws.recv())
        print(f"client: got {first['type']} with {len(first['data'])} server(s)", flush=True)
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as closed:
            frame = closed.rcvd
            print(f"client: close {frame.code if frame else None} {frame.reason if frame else ''!r}")

asyncio.run(asyncio.wait_for(main(), 30))
EOF
client=$!
sleep 1
podman stop -t 20 "$name" >/dev/null
wait "$client" || true
cat "$work/client.out"
grep -q 'client: close 1001' "$work/client.out" || fail "no close 1001"
podman inspect --format 'container: exited with {{.State.ExitCode}}' "$name"
echo "== last log lines of the container"
podman logs "$name" 2>&1 | tail -5
echo "== all checks passed"
