#!/usr/bin/env python3
"""Bench driver for the original Python d-back (PyPI d-back 0.0.18).

Starts d_back's WebSocketServer on 127.0.0.1:<port> with its mock data, and a
bot coroutine that broadcasts chat messages "t=<unix micros> seq=<n>" to one
Discord server at --rate per second for --duration seconds through the
package's own broadcast_message. It speaks the same file protocol as
bench/src/bin/bench_server.rs, so bench/src/loadgen.rs drives both alike:

  --start-file  appears when every client has joined: sample RSS, start the bot
  --sent-file   written here when the bot has finished: the number it sent
  --done-file   appears when the loadgen has stopped measuring: stop the CPU
                clock, write --stats-file (JSON) and exit

The mock chat/presence timers are turned off without patching the package:
they only start when no data callbacks are registered, so the driver
registers callbacks that return the same mock data.
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import time


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def proc_status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def wait_for_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


STATUSES = ["online", "idle", "dnd", "offline"]


def bench_users(n):
    """The synthetic members of bench/src/users.rs, identical uid for uid."""
    out = {}
    for i in range(n):
        uid = str(900000000000000000 + i)
        out[uid] = {
            "uid": uid,
            "username": f"member{i}",
            "status": STATUSES[i % 4],
            "roleColor": "#%06x" % ((i * 2654435761) & 0xFFFFFF),
        }
    return out


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main(args):
    from d_back import WebSocketServer

    server = WebSocketServer(port=args.port, host="127.0.0.1")
    mock = server.mock_provider

    async def servers():
        return mock.get_mock_server_data()

    synthetic = bench_users(args.users) if args.users > 0 else None

    async def users(snowflake):
        if synthetic is not None:
            return dict(synthetic)
        return mock.get_mock_user_data(snowflake)

    if not args.mock_traffic:
        server.on_get_server_data(servers)
        server.on_get_user_data(users)

    serve_task = asyncio.create_task(server.start())
    # Ready once start() has bound (it sets server.server).
    for _ in range(1000):
        if server.server is not None or serve_task.done():
            break
        await asyncio.sleep(0.01)
    if server.server is None:
        log("python d-back did not start")
        return 1
    port = server.server.sockets[0].getsockname()[1]
    rss_base = proc_status_kb("VmRSS")
    log(f"python d-back listening on 127.0.0.1:{port}, RSS {rss_base} kB")
    if args.ready_file:
        open(args.ready_file, "w").write(f"127.0.0.1:{port}\n")

    limit = args.duration + args.max_wait
    if not await wait_for_file(args.start_file, args.max_wait):
        log("no start signal; exiting")
        return 1
    await asyncio.sleep(args.settle)
    rss_connected = proc_status_kb("VmRSS")
    cpu0 = cpu_seconds()
    sessions = sum(1 for ws in server.connections if getattr(ws, "discordServer", None) == args.snowflake)

    # The bot: one broadcast per tick, each its own task (as a Discord bot's
    # event handlers would be), so a slow fan-out does not lower the rate.
    total = int(round(args.rate * args.duration))
    tasks = set()
    pad = " " + "x" * args.pad if args.pad > 0 else ""
    t0 = time.monotonic()
    for seq in range(total):
        due = t0 + seq / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        text = f"t={time.time_ns() // 1000} seq={seq}{pad}"
        task = asyncio.create_task(
            server.broadcast_message(args.snowflake, args.uid, text, args.channel)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    open(args.sent_file + ".tmp", "w").write(f"{total}\n")
    os.replace(args.sent_file + ".tmp", args.sent_file)
    send_wall = time.monotonic() - t0

    await wait_for_file(args.done_file, limit)
    cpu = cpu_seconds() - cpu0
    stats = {
        "server": "python",
        "sent": total,
        "send_wall_s": send_wall,
        "sessions_at_start": sessions,
        "cpu_phase_s": cpu,
        "cpu_total_s": cpu_seconds(),
        "rss_base_kb": rss_base,
        "rss_connected_kb": rss_connected,
        "rss_end_kb": proc_status_kb("VmRSS"),
        "hwm_kb": proc_status_kb("VmHWM"),
        "pending_broadcasts": len(tasks),
        "sessions_at_end": sum(
            1 for ws in server.connections if getattr(ws, "discordServer", None) == args.snowflake
        ),
    }
    line = json.dumps(stats)
    log(line)
    if args.stats_file:
        open(args.stats_file, "w").write(line + "\n")
    serve_task.cancel()
    return 0


def log(msg):
    print(msg, file=sys.__stderr__, flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=3001, help="0 picks a free port (see --ready-file)")
    p.add_argument("--rate", type=float, default=10.0, help="broadcasts per second")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of broadcasting")
    p.add_argument("--snowflake", default="232769614004748288", help="Discord server (D-World)")
    p.add_argument("--uid", default="123456789012345001")
    p.add_argument("--channel", default="527964146659229701")
    p.add_argument("--pad", type=int, default=0, help="append this many bytes of text to each message")
    p.add_argument("--start-file", required=True)
    p.add_argument("--sent-file", required=True)
    p.add_argument("--done-file", required=True)
    p.add_argument("--stats-file")
    p.add_argument("--ready-file")
    p.add_argument("--max-wait", type=float, default=300.0, help="give up waiting after this")
    p.add_argument("--settle", type=float, default=0.0,
                   help="seconds to wait after the start signal before the memory sample")
    p.add_argument("--users", type=int, default=0,
                   help="answer users with this many synthetic members (0: the mock users)")
    p.add_argument("--mock-traffic", action="store_true", help="leave the mock chat/presence on")
    p.add_argument("--verbose", action="store_true", help="keep the package's own prints")
    a = p.parse_args()
    raise_nofile()
    if not a.verbose:
        # The package prints several lines per frame; to /dev/null they cost
        # little and do not flood the bench output.
        sys.stdout = open(os.devnull, "w")
    sys.exit(asyncio.run(main(a)))
