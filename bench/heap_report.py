#!/usr/bin/env python3
"""Sorts a dhat heap profile (bench/src/bin/heap_profile.rs) into where a
joined viewer's bytes go: the live bytes at the moment the profile was
taken, by the first frame of each allocation stack that names a part of the
server, divided by the number of sessions.

    python3 bench/heap_report.py /tmp/heap.json --sessions 1000 [--top 15]
"""

import argparse
import json

# (label, substring of a frame): the first frame (from the allocation
# outwards) that matches any of these names the part that owns the bytes.
PARTS = [
    ("actix-http: HTTP/1 read/write buffers", "actix_http::h1::dispatcher::Dispatcher<T,S,B,X,U>::new"),
    ("actix-http: request/response heads (pooled)", "actix_http::message::MessagePool"),
    ("actix-http: request/response heads (pooled)", "BoxedResponsePool"),
    ("actix-http: connection extensions", "actix_http::extensions"),
    ("actix-http: request payload channel", "actix_http::h1::payload"),
    ("actix-http: shutdown signal", "GracefulShutdownSignal"),
    ("our upgrade pump (queue, reads)", "d_back::upgrade::pump"),
    ("our upgrade (handshake)", "d_back::upgrade"),
    ("actor context: mailbox channel", "actix::address::channel"),
    ("actor context: spawned timers and streams", "actix::context_impl"),
    ("actor context: WebsocketContext frames", "actix_web_actors::ws"),
    ("actor context: stream handler", "actix::stream"),
    ("hub entries", "d_back::hub"),
    ("registry (session and hub maps)", "d_back::registry"),
    ("join frame / user list", "d_back::userlist"),
    ("join frame / user list", "d_back::protocol"),
    ("our session state", "d_back::session"),
    ("our session state", "d_back::http"),
    ("tokio: task per connection", "tokio::runtime::task"),
    ("tokio: I/O registration", "tokio::runtime::io"),
    ("actix-server: accept and workers", "actix_server"),
]


def classify(frames):
    for f in frames:
        for label, needle in PARTS:
            if needle in f:
                return label
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile")
    ap.add_argument("--sessions", type=int, required=True)
    ap.add_argument("--top", type=int, default=12, help="also list the biggest allocation sites")
    a = ap.parse_args()
    d = json.load(open(a.profile))
    ftbl = d["ftbl"]
    parts, sites = {}, []
    total = 0
    for pp in d["pps"]:
        eb = pp.get("eb", 0)
        if not eb:
            continue
        frames = [ftbl[i] for i in pp["fs"]]
        label = classify(frames)
        b, n = parts.get(label, (0, 0))
        parts[label] = (b + eb, n + pp.get("ebk", 0))
        total += eb
        site = next((f.split(": ", 1)[-1] for f in frames
                     if "d_back" in f or "actix" in f or "tokio" in f), frames[-1])
        sites.append((eb, pp.get("ebk", 0), label, site))
    s = max(1, a.sessions)
    print(f"live heap {total / 1024:,.1f} KiB for {a.sessions:,} sessions: "
          f"{total / s:,.0f} bytes per session\n")
    print("| part | bytes per session | blocks per session |")
    print("| --- | ---: | ---: |")
    for label, (b, n) in sorted(parts.items(), key=lambda kv: -kv[1][0]):
        print(f"| {label} | {b / s:,.0f} | {n / s:.2f} |")
    print(f"\nbiggest sites:")
    for eb, n, label, site in sorted(sites, reverse=True)[:a.top]:
        print(f"  {eb / s:8,.0f} B/session {n:6} blocks  [{label}] {site[:150]}")


if __name__ == "__main__":
    main()
