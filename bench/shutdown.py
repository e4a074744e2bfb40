#!/usr/bin/python3
"""SIGTERM to exit with N idle WebSocket peers (issue 11, finding 7).

Starts hb-feed holding N idle connections, the bridge with N file peers
pointed at it, waits until control `stats` says all N are connected, sends
SIGTERM and times the exit. Reports, per run: SIGTERM to exit, the bridge's
own "shutdown complete in X ms" (drain, close, events out) and its
"teardown: released N connections in X ms" line, and whether the teardown
left the sockets to the exit (loop.c, hb__loop_exiting).

  bench/shutdown.py --bridge build/release/honeybee-bridge \\
      --bin-dir build/release/bench --peers 1000,5000,10000 --repeat 3
  ... --compare      # each count also with HB_TEARDOWN_FAST_MIN=max: lws_context_destroy
                     #   runs as before the fast path (the watchdog still cuts at 2 s)

The open file limit bounds N: each of hb-feed and the bridge holds one
descriptor per peer (this machine's hard limit is 20,000, so at most about
19,000). Results and their reading: docs/performance.md, "Shutdown".
"""
import argparse
import calendar
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import control, free_port  # noqa: E402  (the runner's own helpers)

NEVER = str(2**64 - 1)


def wall(stamp):
    """'2026-12-05T07:13:54.793750074' (UTC) as seconds since the epoch."""
    day, frac = stamp.split(".")
    t = time.strptime(day, "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) + float("0." + frac)


def rnd(a, b):
    return round(a - b, 3) if a is not None and b is not None else None


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def run_one(a, n, tmp, ctx, fast_min=None):
    lis = max(1, min(16, n // 1000))
    feed = subprocess.Popen([os.path.join(a.bin_dir, "hb-feed"), "--conns", str(n), "--size",
                             "200", "--listeners", str(lis), "--idle"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    b = None
    try:
        ports = None
        deadline = time.monotonic() + 10
        while ports is None and time.monotonic() < deadline:
            line = feed.stdout.readline()
            if not line:
                break
            obj = json.loads(line)
            if obj.get("event") == "listening":
                ports = obj["ports"]
        if not ports:
            raise RuntimeError("hb-feed did not listen")
        eps = ["tcp://127.0.0.1:%d" % free_port() for _ in range(4)]
        cfg = os.path.join(tmp, "bridge-%d.yaml" % n)
        with open(cfg, "w") as f:
            f.write("bridge:\n  inbox: %s\n  events: %s\n  send: %s\n  control: %s\n"
                    '  http: ""\n  drain_timeout: %s\n' % (eps[0], eps[1], eps[2], eps[3],
                                                          a.drain))
            f.write("pool:\n  reconnect: {initial_delay: 100ms, max_delay: 2s}\n")
            f.write("log:\n  level: info\npeers:\n")
            for i in range(n):
                f.write('  - {id: "p%d", url: "ws://127.0.0.1:%d/"}\n' % (i, ports[i % len(ports)]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HONEYBEE_")}
        if fast_min is not None:
            env["HB_TEARDOWN_FAST_MIN"] = fast_min
        err_path = os.path.join(tmp, "bridge-%d-%s.stderr" % (n, fast_min or "default"))
        err = open(err_path, "wb")
        b = subprocess.Popen([a.bridge, "-c", cfg], stderr=err, env=env)
        deadline = time.monotonic() + a.connect_timeout
        connected = 0
        while time.monotonic() < deadline:
            if b.poll() is not None:
                raise RuntimeError("bridge exited: " + read_text(err_path)[-400:])
            r = control(ctx, eps[3], {"op": "stats"}, 1000)
            if r and r.get("ok"):
                connected = int(r["peers"].get("connected", 0))
                if connected >= n:
                    break
            time.sleep(0.2)
        if connected < n:
            raise RuntimeError("only %d of %d connected" % (connected, n))
        time.sleep(a.settle)
        t0, w0 = time.monotonic(), time.time()
        os.kill(b.pid, signal.SIGTERM)
        rc = b.wait(timeout=120)
        took = time.monotonic() - t0
        w1 = w0 + took
        err.close()
        log = read_text(err_path)
        m = re.search(r"shutdown complete in (\d+) ms", log)
        t = re.search(r"teardown: released (\d+) connections in ([\d.]+) ms(.*)", log)
        # Wall-clock stamps of the two lines split the exit into: SIGTERM to
        # "shutdown complete", from there to the teardown line (the bridge's
        # sockets closed, the loop thread joined, the pass), and the rest
        # (lws_context_destroy unless skipped, freeing, exit).
        stamps = {}
        for key, pat in (("complete", "shutdown complete in"), ("teardown", "teardown: released")):
            sm = re.search(r"^(\S+)Z \S+ " + pat, log, re.M)
            if sm:
                stamps[key] = wall(sm.group(1))
        return {"peers": n, "rc": rc, "exit_s": round(took, 3),
                "shutdown_ms": int(m.group(1)) if m else None,
                "released": int(t.group(1)) if t else None,
                "release_ms": float(t.group(2)) if t else None,
                "left_to_exit": bool(t and "left to the process exit" in t.group(3)),
                "watchdog": "exiting without freeing" in log,
                "to_complete_s": rnd(stamps.get("complete"), w0),
                "to_teardown_s": rnd(stamps.get("teardown"), stamps.get("complete")),
                "after_teardown_s": rnd(w1, stamps.get("teardown")),
                "fast_min": fast_min or "default"}
    finally:
        if b and b.poll() is None:
            b.kill()
            b.wait()
        feed.send_signal(signal.SIGINT)
        try:
            feed.wait(timeout=10)
        except subprocess.TimeoutExpired:
            feed.kill()
            feed.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--bin-dir", required=True, help="directory of hb-feed")
    ap.add_argument("--peers", default="1000,5000,10000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--drain", default="2s", help="bridge.drain_timeout")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds idle before SIGTERM")
    ap.add_argument("--connect-timeout", type=float, default=120)
    ap.add_argument("--compare", action="store_true",
                    help="also run each count with the fast teardown off")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = zmq.Context.instance()
    tmp = tempfile.mkdtemp(prefix="hb-shutdown-")
    rows = []
    hdr = ("peers", "teardown", "exit_s", "drain_s", "join_s", "rest_s", "released",
           "release_ms", "left", "rc")
    print("%7s %-8s %7s %7s %7s %7s %9s %10s %5s %3s" % hdr)
    for n in [int(x) for x in a.peers.split(",")]:
        if n + 100 > hard:
            print("%7d skipped: hb-feed and the bridge need %d descriptors each, the hard "
                  "limit is %d" % (n, n + 100, hard))
            continue
        modes = [None, NEVER] if a.compare else [None]
        for _ in range(a.repeat):
            for fm in modes:
                r = run_one(a, n, tmp, ctx, fm)
                rows.append(r)
                print("%7d %-8s %7.3f %7s %7s %7s %9s %10s %5s %3d%s" % (
                    n, "fast" if fm is None else "lws", r["exit_s"], r["to_complete_s"],
                    r["to_teardown_s"], r["after_teardown_s"], r["released"], r["release_ms"],
                    "yes" if r["left_to_exit"] else "no", r["rc"],
                    "  (watchdog)" if r["watchdog"] else ""))
                sys.stdout.flush()
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
