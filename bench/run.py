#!/usr/bin/env python3
"""The fan-out benchmark: our d-back against the floor and the original Python d-back 0.0.18.

One command runs every scenario against the three servers through the same
loadgen (bench/src/loadgen.rs) and prints one markdown table with ratio
columns and the issue's targets. The floor (bench/src/bin/floor_server.rs) is
a minimal tokio-tungstenite fan-out server: what the load costs with nothing
but WebSocket writes. Every server answers the join with the same synthetic
members (50 unless a scenario says otherwise):

    python3 bench/run.py                 # everything (about 10 minutes)
    python3 bench/run.py --quick         # fewer clients, shorter phases
    python3 bench/run.py --only storm,idle-10k --servers ours

It creates bench/.venv with d-back==0.0.18 if needed, builds the release
bench tools (the d-back-bench crate), and for each scenario and server: starts the driver
(bench/src/bin/bench_server.rs, floor_server.rs or bench/python_server.py) on 127.0.0.1 with a free
port, runs the loadgen against it, and collects both sides' JSON. Each run is
bounded in time; all load stays on 127.0.0.1.

Server CPU is the driver process's user+system time from the moment every
client has joined until the loadgen stops measuring; CPU/delivery divides it
by the deliveries to healthy clients. This machine has 2 cores shared by the
server and the loadgen: the loadgen's own CPU is reported too.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
VENV = os.path.join(BENCH, ".venv")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# name: loadgen/driver parameters (rows are titled by describe()). `baseline` names the run a
# scenario is compared with (the stalled run against the same load without
# the stalled client).
# `users`: members in every server's join (default USERS); `floor: False`
# leaves the floor out (it has no limits or close handshake to storm).
USERS = 50
SCENARIOS = {
    "fanout-1k-100": dict(clients=1000, rate=100),
    "fanout-3k-10": dict(clients=3000, rate=10),
    "fanout-3k-100": dict(clients=3000, rate=100),
    "fanout-10k-10": dict(clients=10000, rate=10),
    "base-1k-10": dict(clients=1000, rate=10, pad=1024, long=True),
    "stalled-1k-10": dict(clients=1000, rate=10, pad=1024, stalled=1, long=True,
                          baseline="base-1k-10", floor=False),
    "storm": dict(storm=10000, concurrency=50, floor=False),
    "idle-10k": dict(clients=10000, rate=0),
    "idle-3k-users1000": dict(clients=3000, rate=0, users=1000),
    # The join of a big guild: its frame's bytes on the wire (run with
    # --deflate to compare compressed joins).
    "join-10k-users": dict(clients=20, rate=0, users=10000),
}
FANOUT = ("fanout-1k-100", "fanout-3k-10", "fanout-3k-100", "fanout-10k-10", "base-1k-10")


def describe(p):
    """The scenario's row title, from the numbers it really runs with."""
    if p.get("storm"):
        return f"storm: {p['storm']:,} handshakes, {p['concurrency']} at a time"
    s = f"{p['clients']:,} clients"
    if p.get("users", USERS) != USERS:
        s += f" ({p['users']:,}-user join)"
    if p.get("stalled"):
        s += f" + {p['stalled']} stalled"
    if not p.get("rate"):
        return s + ", idle (joined, no broadcasts)"
    s += f", {p['rate']:g} broadcasts/s"
    if p.get("pad"):
        s += f", {p['pad'] // 1024} KiB messages"
    if p.get("baseline") is None and p.get("long"):
        s += " (baseline of the stalled run)"
    return s


def quick_params(p):
    q = dict(p)
    for k in ("clients", "storm"):
        if k in q:
            q[k] = max(50, q[k] // 10)
    return q


def ensure_venv(python_arg):
    if python_arg:
        return python_arg
    py = os.path.join(VENV, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "import d_back, importlib.metadata as m; assert m.version('d-back') == '0.0.18'"],
        capture_output=True).returncode == 0
    if not ok:
        log("creating bench/.venv with d-back==0.0.18 ...")
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "d-back==0.0.18"], check=True)
    return py


def build():
    log("building the release bench tools ...")
    subprocess.run(["cargo", "build", "--release", "-p", "d-back-bench", "--bin", "loadgen",
                    "--bin", "bench_server", "--bin", "floor_server"], cwd=ROOT, check=True)
    return bench_bins()


def bench_bins():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return (os.path.join(target, "release", "loadgen"),
            os.path.join(target, "release", "bench_server"),
            os.path.join(target, "release", "floor_server"))


def busy_cpu_seconds():
    """CPU seconds spent busy by the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    busy = sum(fields[:3]) + sum(fields[5:8])
    return busy / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit_s, threshold=0.15):
    """Waits (up to limit_s) for a second in which the machine is almost idle,
    so another job's build does not land in the measurements."""
    end = time.monotonic() + limit_s
    while True:
        b0 = busy_cpu_seconds()
        time.sleep(1.0)
        busy = busy_cpu_seconds() - b0
        if busy <= threshold or time.monotonic() > end:
            if busy > threshold:
                log(f"   machine still busy ({busy:.2f} CPU-s per s); measuring anyway")
            return


def wait_file(path, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path) and open(path).read().strip():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def run_one(server, params, opts, bins, python):
    """One scenario against one server; returns (loadgen report, driver stats)."""
    loadgen_bin, ours_bin, floor_bin = bins
    d = tempfile.mkdtemp(prefix=f"dback-bench-{server}-")
    f = {k: os.path.join(d, k) for k in ("start", "sent", "done", "stats", "ready")}
    storm = params.get("storm")
    rate = 0 if storm else params.get("rate", 0)
    duration = 0 if rate == 0 else (opts.long_duration if params.get("long") else opts.duration)
    common = ["--port", "0", "--rate", str(rate or 1), "--duration", str(duration),
              "--start-file", f["start"], "--sent-file", f["sent"], "--done-file", f["done"],
              "--stats-file", f["stats"], "--ready-file", f["ready"], "--pad", str(params.get("pad", 0)),
              "--max-wait", str(opts.max_wait), "--users", str(params.get("users", USERS)),
              # Idle runs sample memory once the joins' burst is over (every server alike).
              "--settle", str(opts.settle if rate == 0 and not storm else 0)]
    if server == "ours":
        cmd = [ours_bin] + common
    elif server == "floor":
        cmd = [floor_bin] + common
    else:
        cmd = [python, os.path.join(BENCH, "python_server.py")] + common
    drv_log = open(os.path.join(d, "driver.log"), "w")
    drv = subprocess.Popen(cmd, stdout=drv_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn")))
    try:
        if not wait_file(f["ready"], 30, drv):
            raise RuntimeError(f"{server} driver did not start; see {d}/driver.log")
        addr = open(f["ready"]).read().strip()
        lg = [loadgen_bin, "--url", f"ws://{addr}/ws", "--start-file", f["start"],
              "--sent-file", f["sent"], "--done-file", f["done"], "--grace", str(opts.grace),
              "--duration", str(duration + opts.max_wait / 2), "--ramp", str(opts.ramp)]
        if storm:
            lg += ["--storm", str(storm), "--concurrency", str(params["concurrency"])]
        else:
            lg += ["--clients", str(params["clients"]), "--stalled", str(params.get("stalled", 0))]
        if opts.loadgen_threads:
            lg += ["--threads", str(opts.loadgen_threads)]
        if opts.deflate:
            lg += ["--deflate"]
        busy0 = busy_cpu_seconds()
        out = subprocess.run(lg, capture_output=True, text=True, timeout=opts.max_wait + duration + 60)
        busy = busy_cpu_seconds() - busy0
        with open(os.path.join(d, "loadgen.log"), "w") as lf:
            lf.write(out.stderr + out.stdout)
        lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"loadgen failed against {server}: {out.stderr[-500:]}")
        report = json.loads(lines[-1])
        for l in out.stdout.splitlines()[:-1]:
            log(f"    {l}")
        if not wait_file(f["stats"], 30, drv):
            raise RuntimeError(f"{server} driver wrote no stats; see {d}/driver.log")
        stats = json.loads(open(f["stats"]).read())
        # What neither the server nor the loadgen used: other work on the
        # machine during the run (noise). Windows differ slightly; clamp at 0.
        stats["other_cpu_s"] = max(0.0, busy - stats["cpu_total_s"] - report["loadgen_cpu_s"])
        drv.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)
        return report, stats
    finally:
        if drv.poll() is None:
            drv.kill()
            drv.wait()
        drv_log.close()


def metrics(name, params, rep, st):
    """The numbers shown for one server in one scenario."""
    m = {}
    if params.get("storm"):
        m["handshakes/s"] = rep["handshakes_per_s"]
        m["handshake p50 ms"] = rep["handshake_p50_ms"]
        m["handshake p99 ms"] = rep["handshake_p99_ms"]
        m["close p99 ms"] = rep.get("close_p99_ms", 0)
        m["close failed"] = rep.get("close_failed", 0)
        m["completed"] = rep["connected"]
        m["server CPU s"] = st["cpu_phase_s"]
    elif params.get("rate", 0) == 0:
        m["connected"] = rep["connected"]
        m["RSS per connection KiB"] = (st["rss_connected_kb"] - st["rss_base_kb"]) / max(1, rep["connected"])
        m["RSS with all joined MiB"] = st["rss_connected_kb"] / 1024
        m["handshake p99 ms"] = rep["handshake_p99_ms"]
        m["join wire bytes"] = rep.get("join_wire_bytes", 0)
        m["join JSON bytes"] = rep.get("join_json_bytes", 0)
        m["join compressed"] = int(bool(rep.get("join_compressed")))
    else:
        m["connected"] = rep["connected"]
        m["loss"] = rep["loss"]
        m["latency p50 ms"] = rep["latency_p50_ms"]
        m["latency p99 ms"] = rep["latency_p99_ms"]
        m["latency max ms"] = rep["latency_max_ms"]
        m["deliveries/s"] = rep["deliveries_per_s"]
        m["server CPU s"] = st["cpu_phase_s"]
        m["CPU us/delivery"] = 1e6 * st["cpu_phase_s"] / max(1, rep["delivered"])
        m["peak RSS MiB"] = st["hwm_kb"] / 1024
        if params.get("stalled"):
            m["stalled closed"] = rep["stalled_closed_by_server"]
        m["loadgen CPU s"] = rep["loadgen_cpu_s"]
    m["other CPU s (noise)"] = st.get("other_cpu_s", 0.0)
    return m


def targets(name, res):
    """(target text, met?) per scenario, from the servers' metrics."""
    o = res.get((name, "ours"))
    p = res.get((name, "python"))
    f = res.get((name, "floor"))
    if o is None:
        return []
    out = []
    if name in FANOUT and f:
        out.append(("p99 <= 1.5x floor", o["latency p99 ms"] <= 1.5 * max(f["latency p99 ms"], 1.0)))
        out.append(("CPU/delivery <= floor", o["CPU us/delivery"] <= f["CPU us/delivery"]))
    if name == "fanout-1k-100":
        out.append(("zero loss", o["loss"] == 0))
        out.append(("p99 <= 50 ms", o["latency p99 ms"] <= 50))
        if p:
            out.append(("CPU/delivery <= 1/3 original",
                        o["CPU us/delivery"] <= p["CPU us/delivery"] / 3))
    elif name == "fanout-3k-10":
        if p:
            out.append(("CPU/delivery <= 1/2 original",
                        o["CPU us/delivery"] <= p["CPU us/delivery"] / 2))
            out.append(("p99 <= original's", o["latency p99 ms"] <= p["latency p99 ms"]))
    elif name == "fanout-3k-100":
        out.append(("zero loss", o["loss"] == 0))
    elif name == "fanout-10k-10":
        out.append(("zero loss", o["loss"] == 0))
        out.append(("all connected", o["connected"] == SCN[name].get("clients")))
        out.append(("p99 <= 250 ms", o["latency p99 ms"] <= 250))
    elif name == "stalled-1k-10":
        b = res.get(("base-1k-10", "ours"))
        if b:
            out.append(("p99 within 1.5x of run without it",
                        o["latency p99 ms"] <= 1.5 * max(b["latency p99 ms"], 1.0)))
        out.append(("max <= 250 ms", o["latency max ms"] <= 250))
        out.append(("stalled one closed", o.get("stalled closed", 0) >= 1))
        if b:
            out.append(("memory bounded (peak RSS <= baseline + 64 MiB)",
                        o["peak RSS MiB"] <= b["peak RSS MiB"] + 64))
    elif name == "storm":
        if p:
            out.append((">= 5x original handshakes/s", o["handshakes/s"] >= 5 * p["handshakes/s"]))
    elif name.startswith("idle-"):
        if p:
            out.append(("RSS/connection <= 1/2 original",
                        o["RSS per connection KiB"] <= p["RSS per connection KiB"] / 2))
    return out


def fmt(v):
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


SCN = dict(SCENARIOS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma list of scenarios: " + ",".join(SCENARIOS))
    ap.add_argument("--servers", default="ours,floor,python", help="ours,floor,python (default all)")
    ap.add_argument("--quick", action="store_true", help="1/10 of the clients, 3 s phases")
    ap.add_argument("--duration", type=float, default=10.0, help="broadcast seconds per run")
    ap.add_argument("--long-duration", type=float, default=30.0,
                    help="broadcast seconds of the stalled run and its baseline")
    ap.add_argument("--grace", type=float, default=15.0, help="seconds to wait for late deliveries")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="idle runs: seconds after the last join before the memory sample")
    ap.add_argument("--ramp", type=int, default=200, help="connects in flight")
    ap.add_argument("--max-wait", type=float, default=120.0, help="bound on any one wait")
    ap.add_argument("--loadgen-threads", type=int, default=0)
    ap.add_argument("--wait-quiet", type=float, default=60.0,
                    help="before each run, wait up to this long for an idle machine")
    ap.add_argument("--python", help="interpreter with d-back 0.0.18 (default: bench/.venv, created)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json-out", help="also write every raw result here")
    ap.add_argument("--deflate", action="store_true",
                    help="every client offers permessage-deflate as Chromium does (the floor declines)")
    opts = ap.parse_args()
    if opts.quick:
        opts.duration = min(opts.duration, 3.0)
        opts.long_duration = min(opts.long_duration, 6.0)
        opts.grace = min(opts.grace, 5.0)

    names = list(SCENARIOS)
    if opts.only:
        names = [n.strip() for n in opts.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            ap.error(f"unknown scenarios {unknown}; known: {list(SCENARIOS)}")
        if "stalled-1k-10" in names and "base-1k-10" not in names:
            names.insert(names.index("stalled-1k-10"), "base-1k-10")
    servers = [s.strip() for s in opts.servers.split(",") if s.strip()]
    python = ensure_venv(opts.python) if "python" in servers else None
    if opts.no_build:
        bins = bench_bins()
    else:
        bins = build()

    res, raw = {}, {}
    for name in names:
        params = SCENARIOS[name]
        if opts.quick:
            params = quick_params(params)
        SCN[name] = params
        for server in servers:
            if server == "floor" and params.get("floor") is False:
                continue
            log(f"== {name} [{server}]: {describe(params)}")
            wait_quiet(opts.wait_quiet)
            try:
                rep, st = run_one(server, params, opts, bins, python)
            except Exception as e:  # one failed run must not lose the others
                log(f"   FAILED: {e}")
                continue
            res[(name, server)] = metrics(name, params, rep, st)
            raw[f"{name}/{server}"] = {"loadgen": rep, "driver": st}
            log(f"   server: {json.dumps(st)}")

    lines = ["| scenario | metric | ours | floor | original | ours/floor | ours/original | target | met |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]

    def ratio(a, b):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
            return f"{a / b:.3g}"
        return ""

    def cell(v):
        return fmt(v) if v is not None else "-"

    for name in names:
        o, p = res.get((name, "ours"), {}), res.get((name, "python"), {})
        fl = res.get((name, "floor"), {})
        keys = list(o) or list(fl) or list(p)
        tg = targets(name, res)
        desc = describe(SCN[name])
        for i, k in enumerate(keys):
            ov, fv, pv = o.get(k), fl.get(k), p.get(k)
            t, met = ("", "")
            if i < len(tg):
                t, met = tg[i][0], ("yes" if tg[i][1] else "**NO**")
            lines.append(f"| {desc if i == 0 else ''} | {k} | {cell(ov)} | {cell(fv)} | {cell(pv)} | "
                         f"{ratio(ov, fv)} | {ratio(ov, pv)} | {t} | {met} |")
        for t, met in tg[len(keys):]:
            lines.append(f"| | | | | | | | {t} | {'yes' if met else '**NO**'} |")
    cpus = os.cpu_count()
    print(f"\nd-back fan-out bench ({cpus} CPUs shared by server and loadgen; "
          f"broadcast phase {opts.duration:g} s, stalled/baseline {opts.long_duration:g} s, "
          f"grace {opts.grace:g} s; {USERS}-user joins unless noted; "
          f"loss = sent x clients - delivered within the grace)\n")
    print("\n".join(lines))
    if opts.json_out:
        with open(opts.json_out, "w") as jf:
            json.dump(raw, jf, indent=1)


if __name__ == "__main__":
    main()
