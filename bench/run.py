#!/usr/bin/python3
"""bench/run.py: the honeybee-bridge benchmark runner.

Runs each scenario three ways where it makes sense, against the same
subscriber and the same generator:

  bridge  hb-feed --ws--> honeybee-bridge --zmq PUB--> hb-sub
  direct  hb-feed --ws--> hb-direct             (the WebSocket-side limit)
  raw     hb-rawpub --zmq PUB--> hb-sub         (the ZeroMQ-side limit)

and prints one table: messages/s, the bridge's share of the raw ZeroMQ
limit, p50/p99 latency, bridge CPU microseconds per message (utime+stime
deltas of /proc/<pid>/stat over the measured interval) and bridge peak RSS
(VmHWM). Every tool prints JSON lines; this script only orchestrates,
samples /proc and formats. See bench/README.md.

Usage:
  bench/run.py --bridge BUILD/honeybee-bridge --bin-dir BUILD/bench [--full]
  bench/run.py ... --smoke            # seconds; checks the harness, not speed
  bench/run.py ... --only tput1,lat   # a subset (names: see --list)
  bench/run.py ... --only loops       # pool.loops 1, 2, 3 at 50 and 500 peers
  bench/run.py ... --soak 600         # add the soak at 50k msg/s for 600 s
  bench/run.py ... --callgrind        # instructions per message under valgrind
"""

import argparse
import json
import math
import os
import queue
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import zmq

CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------
# processes

class Proc:
    """A child whose stdout is JSON lines, read by a thread into a queue."""

    def __init__(self, name, argv, log_dir, cpu=None, env=None):
        self.name = name
        if cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpu)] + argv
        self.argv = argv
        self.err_path = os.path.join(log_dir, name + ".stderr")
        self.err = open(self.err_path, "wb")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err,
                                  env=env, start_new_session=False)
        self.pid = self.p.pid
        self.q = queue.Queue()
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"event": "text", "text": line}
            self.lines.append(obj)
            self.q.put(obj)
        self.q.put(None)

    def wait_event(self, event, timeout):
        """Returns the first JSON line with this event, or raises."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("%s: no %r within %.0f s (stderr: %s)"
                                   % (self.name, event, timeout, self.stderr_tail()))
            try:
                obj = self.q.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if obj is None:
                raise RuntimeError("%s exited (rc %s) before %r (stderr: %s)"
                                   % (self.name, self.p.poll(), event, self.stderr_tail()))
            if obj.get("event") == event:
                return obj

    def stderr_tail(self, n=400):
        try:
            with open(self.err_path, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def send_signal(self, sig):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the child (by its own pid) and waits; SIGKILL if it hangs."""
        self.send_signal(sig)
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            self.p.wait(timeout=5)
        self.t.join(timeout=2)
        self.err.close()
        return self.p.returncode


class Runner:
    def __init__(self, args):
        self.a = args
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="hb-bench-")
        self.zctx = zmq.Context.instance()
        self.t0 = time.monotonic()

    def reap(self):
        """Stops (by pid) whatever a failed scenario left running."""
        for p in self.procs:
            if p.p.poll() is None:
                p.stop(signal.SIGKILL, timeout=5)

    def cleanup(self):
        self.reap()
        if not self.a.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def tool_rcs(self):
        """(name, rc, stderr tail) of every tool that exited badly."""
        bad = []
        for p in self.procs:
            rc = p.p.poll()
            if rc not in (0, None) and not p.name.startswith("bridge"):
                bad.append((p.name, rc, p.stderr_tail()))
        return bad

    def spawn(self, name, argv, cpu=None, env=None):
        p = Proc(name, argv, self.tmp, cpu=cpu, env=env)
        self.procs.append(p)
        return p

    def tool(self, name):
        return os.path.join(self.a.bin_dir, name)

    # ---- bridge ---------------------------------------------------------

    def bridge_config(self, peers, wss=False, inbox_hwm=100000, loops=None):
        ports = [free_port() for _ in range(4)]
        eps = ["tcp://127.0.0.1:%d" % p for p in ports]
        lines = [
            "bridge:",
            "  inbox: %s" % eps[0],
            "  events: %s" % eps[1],
            "  send: %s" % eps[2],
            "  control: %s" % eps[3],
            '  http: ""',
            "  inbox_hwm: %d" % inbox_hwm,
            "pool:",
            "  reconnect: {initial_delay: 100ms, max_delay: 2s}",
            "  tls: {verify: false}" if wss else "  tls: {verify: true}",
            "  loops: %s" % (loops or "auto"),
            "log:",
            "  level: warn",
            "peers:" if peers else "peers: []",
        ]
        for pid, url in peers:
            lines.append('  - {id: "%s", url: "%s"}' % (pid, url))
        path = os.path.join(self.tmp, "bridge-%d.yaml" % ports[0])
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path, {"inbox": eps[0], "control": eps[3]}

    def log(self, msg):
        if self.a.verbose:
            sys.stderr.write("[%7.2f] %s\n" % (time.monotonic() - self.t0, msg))

    def start_bridge(self, peers, wss=False, valgrind=None, name="bridge", loops=None):
        """Starts the bridge on fresh free ports and waits for its control
        socket. free_port() can race another process for a port, so a
        bridge that exits before answering is retried on new ports."""
        self.log("start %s (%d peers)" % (name, len(peers)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HONEYBEE_")}
        for attempt in range(3):
            cfg, eps = self.bridge_config(peers, wss=wss, loops=loops)
            argv = [self.a.bridge, "-c", cfg]
            if valgrind:
                argv = valgrind + argv
            t0 = time.monotonic()
            b = self.spawn(name, argv, cpu=self.a.bridge_cpu, env=env)
            b.eps = eps
            b.t_spawn = t0
            try:
                self.wait_control(b, timeout=120 if valgrind else 20)
                return b
            except RuntimeError:
                if b.p.poll() is None or attempt == 2:
                    raise
                self.log("%s exited early (rc %s), retrying on new ports" % (name, b.p.returncode))
        raise RuntimeError("unreachable")

    def control(self, ep, req, timeout_ms=3000):
        return control(self.zctx, ep, req, timeout_ms)

    def wait_control(self, b, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b.p.poll() is not None:
                raise RuntimeError("bridge exited rc %s: %s" % (b.p.returncode, b.stderr_tail()))
            r = self.control(b.eps["control"], {"op": "ping"}, timeout_ms=500)
            if r and r.get("ok"):
                return
            time.sleep(0.05)
        raise RuntimeError("bridge control did not answer ping: " + b.stderr_tail())

    def connected(self, b):
        r = self.control(b.eps["control"], {"op": "stats"})
        if not r or not r.get("ok"):
            return None
        peers = r.get("peers")
        if isinstance(peers, dict):
            return int(peers.get("connected", 0))
        return None

    def wait_connected(self, b, n, timeout, tolerate=False):
        """Monotonic time when `stats` first shows n connected. With
        tolerate, returns (None, last count) instead of raising."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            c = self.connected(b)
            if c is not None:
                last = c
                if c >= n:
                    return time.monotonic()
            if b.p.poll() is not None:
                raise RuntimeError("bridge exited: " + b.stderr_tail())
            time.sleep(0.05 if n < 100 else 0.1)
        if tolerate:
            return None, last
        raise RuntimeError("only %s of %d peers connected after %.0f s" % (last, n, timeout))

    # ---- the three paths --------------------------------------------------

    def feed_args(self, conns, size, count=0, rate=0, duration=0, idle=False, listeners=1,
                  tls=None):
        argv = [self.tool("hb-feed"), "--conns", str(conns), "--size", str(size),
                "--listeners", str(listeners)]
        if count:
            argv += ["--count", str(count)]
        if rate:
            argv += ["--rate", str(rate)]
        if duration:
            argv += ["--duration", str(duration)]
        argv += ["--idle"] if idle else ["--wait-signal"]
        if tls:
            argv += ["--tls", tls[0], tls[1]]
        return argv

    def run_bridge(self, sc):
        """One streaming run through the bridge. Returns a result dict."""
        peers, size, per, rate = sc["peers"], sc["size"], sc["per_peer"], sc.get("rate", 0)
        total = peers * per
        wss = sc.get("wss", False)
        feed = self.spawn("feed", self.feed_args(peers, size, per, rate,
                                                 listeners=min(peers, 8),
                                                 tls=self.tls_files() if wss else None),
                          cpu=self.a.tools_cpu)
        ports = feed.wait_event("listening", 10)["ports"]
        scheme = "wss" if wss else "ws"
        plist = [("p%d" % i, "%s://127.0.0.1:%d/" % (scheme, ports[i % len(ports)]))
                 for i in range(peers)]
        b = self.start_bridge(plist, wss=wss, loops=sc.get("loops"))
        subs = self.spawn_subs("sub", b.eps["inbox"], sc, total)
        feed.wait_event("connected", 60)
        self.wait_connected(b, peers, 60)
        cpu0 = proc_cpu(b.pid)
        feed.send_signal(signal.SIGUSR1)
        summ = self.wait_subs(subs, sc)
        cpu1 = proc_cpu(b.pid)
        mem = proc_mem(b.pid)
        fdone = feed.wait_event("done", 30)
        rc = b.stop()
        feed.stop(signal.SIGINT)
        for sub in subs:
            sub.stop()
        recv = summ["received"]
        res = {
            "path": "bridge", "rate": summ["rate"], "received": recv, "expected": total,
            "sent": fdone.get("sent"), "gaps": summ["gaps"], "missing": summ["missing"],
            "missed_at_start": summ["missed_at_start"], "bad": summ["bad"] + summ["bad_size"],
            "dups": summ["dups"], "conn_changes": summ["conn_changes"],
            "p50": summ["lat_us"]["p50"], "p99": summ["lat_us"]["p99"],
            "p999": summ["lat_us"]["p999"], "max": summ["lat_us"]["max"],
            "cpu_us_per_msg": (cpu1 - cpu0) / recv * 1e6 if recv else None,
            # Per message read: what it costs to handle one, delivered or
            # dropped at the inbox HWM (a drop costs ZeroMQ less).
            "cpu_us_per_read": (cpu1 - cpu0) / total * 1e6 if total else None,
            "cpu_s": cpu1 - cpu0, "hwm_kib": mem.get("VmHWM"), "rss_kib": mem.get("VmRSS"),
            "bridge_rc": rc, "stop": summ["stop"], "feed_max_late_us": fdone.get("max_late_us"),
        }
        return res

    def spawn_subs(self, name, ep, sc, total):
        """sc["subs"] (default 1) hb-sub processes on `ep`, each ready."""
        subs = []
        for i in range(sc.get("subs", 1)):
            subs.append(self.spawn("%s%d" % (name, i),
                                   [self.tool("hb-sub"), "--endpoint", ep, "--count", str(total),
                                    "--size", str(sc["size"]), "--idle-ms", str(self.a.idle_ms),
                                    "--timeout-s", str(sc.get("timeout", 300))],
                                   cpu=self.a.tools_cpu))
        for sub in subs:
            sub.wait_event("ready", 30)
        return subs

    def wait_subs(self, subs, sc):
        """The subscribers' summaries as one: what the slowest got (rate,
        received, latency), losses summed."""
        all_ = [s.wait_event("summary", sc.get("timeout", 300) + 30) for s in subs]
        if len(all_) == 1:
            return all_[0]
        out = dict(all_[0])
        for k in ("rate", "received"):
            out[k] = min(x[k] for x in all_)
        for k in ("gaps", "missing", "missed_at_start", "bad", "bad_size", "dups",
                  "conn_changes"):
            out[k] = sum(x[k] for x in all_)
        out["lat_us"] = {k: max(x["lat_us"][k] for x in all_) for k in all_[0]["lat_us"]}
        return out

    def run_node(self, sc):
        """The same run through the Node reference bridge (bench/node)."""
        peers, size, per, rate = sc["peers"], sc["size"], sc["per_peer"], sc.get("rate", 0)
        total = peers * per
        feed = self.spawn("feed-n", self.feed_args(peers, size, per, rate,
                                                   listeners=min(peers, 8)),
                          cpu=self.a.tools_cpu)
        ports = feed.wait_event("listening", 10)["ports"]
        ep = "tcp://127.0.0.1:%d" % free_port()
        argv = ["node", os.path.join(HERE, "node", "bridge.js"), "--inbox", ep, "--hwm", "100000"]
        argv += ["p%d=ws://127.0.0.1:%d/" % (i, ports[i % len(ports)]) for i in range(peers)]
        nb = self.spawn("node-bridge", argv, cpu=self.a.bridge_cpu)
        subs = self.spawn_subs("sub-n", ep, sc, total)
        nb.wait_event("connected", 60)
        feed.wait_event("connected", 60)
        cpu0 = proc_cpu(nb.p.pid)
        feed.send_signal(signal.SIGUSR1)
        summ = self.wait_subs(subs, sc)
        cpu1 = proc_cpu(nb.p.pid)
        mem = proc_mem(nb.p.pid)
        feed.wait_event("done", 30)
        nb.stop()
        feed.stop(signal.SIGINT)
        for sub in subs:
            sub.stop()
        recv = summ["received"]
        return {"path": "node", "rate": summ["rate"], "received": recv,
                "cpu_us_per_msg": (cpu1 - cpu0) / recv * 1e6 if recv else None,
                "expected": total, "gaps": summ["gaps"], "missing": summ["missing"],
                "bad": summ["bad"] + summ["bad_size"], "dups": summ["dups"],
                "p50": summ["lat_us"]["p50"], "p99": summ["lat_us"]["p99"],
                "p999": summ["lat_us"]["p999"], "max": summ["lat_us"]["max"],
                "hwm_kib": mem.get("VmHWM"), "stop": summ["stop"]}

    def run_direct(self, sc):
        peers, size, per, rate = sc["peers"], sc["size"], sc["per_peer"], sc.get("rate", 0)
        total = peers * per
        feed = self.spawn("feed-d", self.feed_args(peers, size, per, rate,
                                                   listeners=min(peers, 8)),
                          cpu=self.a.tools_cpu)
        ports = feed.wait_event("listening", 10)["ports"]
        d = self.spawn("direct", [self.tool("hb-direct"), "--port", ",".join(map(str, ports)),
                                  "--conns", str(peers), "--count", str(total),
                                  "--size", str(size), "--idle-ms", str(self.a.idle_ms),
                                  "--timeout-s", str(sc.get("timeout", 300))],
                       cpu=self.a.bridge_cpu)
        d.wait_event("ready", 60)
        feed.wait_event("connected", 60)
        cpu0 = proc_cpu(d.pid)
        feed.send_signal(signal.SIGUSR1)
        summ = d.wait_event("summary", sc.get("timeout", 300) + 30)
        cpu1 = proc_cpu(d.pid)
        feed.stop(signal.SIGINT)
        d.stop()
        recv = summ["received"]
        return {"path": "direct", "rate": summ["rate"], "received": recv,
                "cpu_us_per_msg": (cpu1 - cpu0) / recv * 1e6 if recv else None,
                "expected": total, "gaps": summ["gaps"], "missing": summ["missing"],
                "bad": summ["bad"] + summ["bad_size"], "dups": summ["dups"],
                "p50": summ["lat_us"]["p50"], "p99": summ["lat_us"]["p99"],
                "p999": summ["lat_us"]["p999"], "max": summ["lat_us"]["max"],
                "stop": summ["stop"]}

    def run_raw(self, sc):
        peers, size, per, rate = sc["peers"], sc["size"], sc["per_peer"], sc.get("rate", 0)
        total = peers * per
        ep = "tcp://127.0.0.1:%d" % free_port()
        nsubs = sc.get("subs", 1)
        subs = [self.spawn("sub-r%d" % i,
                           [self.tool("hb-sub"), "--endpoint", ep, "--count", str(total),
                            "--size", str(size), "--idle-ms", str(self.a.idle_ms),
                            "--timeout-s", str(sc.get("timeout", 300))],
                           cpu=self.a.tools_cpu) for i in range(nsubs)]
        argv = [self.tool("hb-rawpub"), "--endpoint", ep, "--peers", str(peers), "--size",
                str(size), "--count", str(per), "--hwm", "100000"]
        if rate:
            argv += ["--rate", str(rate)]
        else:
            argv += ["--nodrop"]
        if nsubs > 1:
            argv += ["--subs", str(nsubs)]
        pub = self.spawn("rawpub", argv, cpu=self.a.bridge_cpu)
        pub.wait_event("start", 30)
        cpu0 = proc_cpu(pub.pid)
        summ = self.wait_subs(subs, sc)
        try:
            cpu1 = proc_cpu(pub.pid)
        except OSError:  # already gone
            cpu1 = None
        try:  # it exits by itself once ZeroMQ has flushed (linger)
            pub.wait_event("done", 30)
            pub.p.wait(timeout=30)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        pub.stop(signal.SIGTERM, timeout=30)
        for sub in subs:
            sub.stop()
        recv = summ["received"]
        return {"path": "raw", "rate": summ["rate"], "received": recv,
                "cpu_us_per_msg": (cpu1 - cpu0) / recv * 1e6 if recv and cpu1 else None,
                "expected": total, "gaps": summ["gaps"], "missing": summ["missing"],
                "bad": summ["bad"] + summ["bad_size"], "dups": summ["dups"],
                "p50": summ["lat_us"]["p50"], "p99": summ["lat_us"]["p99"],
                "p999": summ["lat_us"]["p999"], "max": summ["lat_us"]["max"],
                "stop": summ["stop"]}

    # ---- idle memory and cold start ----------------------------------------

    def tls_files(self):
        cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        if not os.path.exists(cert):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                            "-out", cert, "-subj", "/CN=127.0.0.1", "-days", "2",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return cert, key

    def baseline_rss(self):
        """RSS of a bridge with no peers, after it settles (KiB)."""
        if getattr(self, "_rss0", None) is None:
            b = self.start_bridge([], name="bridge-0")
            time.sleep(self.a.settle)
            self._rss0 = proc_mem(b.pid).get("VmRSS")
            b.stop()
        return self._rss0

    def ramp_connect(self, b, plist, batch, timeout):
        """Adds peers over control in batches of `batch`, each batch once
        the previous one is connected (an outside dial-rate limit).
        Returns seconds from the first connect to all connected, or None."""
        s = self.zctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 10000)
        s.connect(b.eps["control"])
        t0 = time.monotonic()
        try:
            for i in range(0, len(plist), batch):
                for pid, url in plist[i:i + batch]:
                    s.send_string(json.dumps({"op": "connect", "id": pid, "url": url}))
                    r = json.loads(s.recv())
                    if not r.get("ok"):
                        raise RuntimeError("connect %s: %s" % (pid, r))
                t = self.wait_connected(b, min(i + batch, len(plist)), timeout, tolerate=True)
                if isinstance(t, tuple):
                    return None
            return time.monotonic() - t0
        finally:
            s.close()

    def run_idle(self, n, wss=False, listeners=None, ramp=0):
        rss0 = self.baseline_rss()
        tls = self.tls_files() if wss else None
        lis = listeners or max(1, min(16, n // 1000))
        feed = self.spawn("feed-idle", self.feed_args(n, 200, idle=True, listeners=lis, tls=tls),
                          cpu=self.a.tools_cpu)
        ports = feed.wait_event("listening", 10)["ports"]
        scheme = "wss" if wss else "ws"
        plist = [("p%d" % i, "%s://127.0.0.1:%d/" % (scheme, ports[i % len(ports)]))
                 for i in range(n)]
        if ramp:
            b = self.start_bridge([], wss=wss, name="bridge-idle")
            dt = self.ramp_connect(b, plist, ramp, self.a.connect_timeout)
            t_all = (b.t_spawn + dt) if dt is not None else (None, self.connected(b))
        else:
            b = self.start_bridge(plist, wss=wss, name="bridge-idle")
            t_all = self.wait_connected(b, n, self.a.connect_timeout, tolerate=True)
        reached = n
        if isinstance(t_all, tuple):  # not all connected in time: measure anyway
            reached = t_all[1] or 0
            cold = None
        else:
            cold = t_all - b.t_spawn
        time.sleep(self.a.settle)
        still = self.connected(b)
        mem = proc_mem(b.pid)
        cpu = proc_cpu(b.pid).stat
        rc = b.stop(timeout=60)
        feed.stop(signal.SIGINT)
        per_peer = (mem["VmRSS"] - rss0) / n if mem.get("VmRSS") and rss0 else None
        return {"path": "bridge", "peers": n, "reached": reached, "ramp": ramp, "wss": wss, "cold_start_s": cold,
                "rss0_kib": rss0, "rss_kib": mem.get("VmRSS"), "hwm_kib": mem.get("VmHWM"),
                "per_peer_kib": per_peer, "still_connected": still, "cpu_s": cpu,
                "bridge_rc": rc}

    # ---- soak -----------------------------------------------------------

    def run_soak(self, duration, rate=50000, peers=10, size=200):
        feed = self.spawn("feed-soak", self.feed_args(peers, size, rate=rate, duration=duration),
                          cpu=self.a.tools_cpu)
        ports = feed.wait_event("listening", 10)["ports"]
        plist = [("p%d" % i, "ws://127.0.0.1:%d/" % ports[0]) for i in range(peers)]
        b = self.start_bridge(plist, name="bridge-soak")
        sub = self.spawn("sub-soak", [self.tool("hb-sub"), "--endpoint", b.eps["inbox"],
                                      "--size", str(size), "--idle-ms", "1000",
                                      "--timeout-s", str(int(duration) + 120),
                                      "--progress-s", str(max(1, int(duration // 20)))],
                         cpu=self.a.tools_cpu)
        sub.wait_event("ready", 30)
        feed.wait_event("connected", 60)
        self.wait_connected(b, peers, 60)
        cpu0 = proc_cpu(b.pid)
        feed.send_signal(signal.SIGUSR1)
        t0 = time.monotonic()
        samples = []
        step = max(1.0, duration / 60.0)
        while time.monotonic() - t0 < duration:
            time.sleep(step)
            m = proc_mem(b.pid)
            samples.append((time.monotonic() - t0, m.get("VmRSS")))
        summ = sub.wait_event("summary", 60)
        # Latency per progress interval (hb-sub resets its interval
        # histogram after each line): is p99 stable over the soak?
        ivl = [(e["t_s"], e["lat_us"]["p50"], e["lat_us"]["p99"]) for e in sub.lines
               if e.get("event") == "progress" and e.get("lat_us", {}).get("p99") is not None]
        cpu1 = proc_cpu(b.pid)
        mem = proc_mem(b.pid)
        feed.wait_event("done", 30)
        b.stop()
        feed.stop(signal.SIGINT)
        sub.stop()
        warm = [s for s in samples if s[0] >= duration * 0.1] or samples
        first = warm[0][1]
        peak = max(s[1] for s in warm)
        last = warm[-1][1]
        recv = summ["received"]
        half = [x for x in samples if x[0] >= duration / 2] or samples
        return {"path": "bridge", "rate": summ["rate"], "received": recv,
                "rss_half_growth_pct": (max(x[1] for x in half) - half[0][1]) / half[0][1] * 100.0,
                "expected": int(rate * duration), "gaps": summ["gaps"],
                "missing": summ["missing"], "bad": summ["bad"] + summ["bad_size"],
                "p50": summ["lat_us"]["p50"], "p99": summ["lat_us"]["p99"],
                "p999": summ["lat_us"]["p999"], "max": summ["lat_us"]["max"],
                "cpu_us_per_msg": (cpu1 - cpu0) / recv * 1e6 if recv else None,
                "hwm_kib": mem.get("VmHWM"), "rss_first_kib": first, "rss_peak_kib": peak,
                "rss_last_kib": last, "rss_growth_pct": (peak - first) / first * 100.0,
                "samples": samples, "latency_by_interval": ivl}

    # ---- callgrind --------------------------------------------------------

    def run_callgrind(self, counts=(10000, 60000), size=200):
        """Instructions per message: two runs of different length under
        callgrind; the difference cancels start-up and shutdown."""
        if not shutil.which("valgrind"):
            raise RuntimeError("valgrind not installed")
        totals = []
        out = None
        for n in counts:
            out = os.path.join(self.tmp, "callgrind.%d.out" % n)
            vg = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
            feed = self.spawn("feed-cg", self.feed_args(1, size, n), cpu=self.a.tools_cpu)
            port = feed.wait_event("listening", 10)["ports"][0]
            b = self.start_bridge([("p0", "ws://127.0.0.1:%d/" % port)], valgrind=vg,
                                  name="bridge-cg")
            sub = self.spawn("sub-cg", [self.tool("hb-sub"), "--endpoint", b.eps["inbox"],
                                        "--count", str(n), "--idle-ms", "20000",
                                        "--timeout-s", "600"], cpu=self.a.tools_cpu)
            sub.wait_event("ready", 120)
            feed.wait_event("connected", 120)
            self.wait_connected(b, 1, 120)
            feed.send_signal(signal.SIGUSR1)
            summ = sub.wait_event("summary", 900)
            b.stop(timeout=120)
            feed.stop(signal.SIGINT)
            sub.stop()
            if summ["received"] != n:
                raise RuntimeError("callgrind run received %d of %d" % (summ["received"], n))
            totals.append(callgrind_total(out))
        ir = (totals[1] - totals[0]) / (counts[1] - counts[0])
        top = ""
        if shutil.which("callgrind_annotate"):
            r = subprocess.run(["callgrind_annotate", "--threshold=90", out],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            top = "\n".join(r.stdout.decode("utf-8", "replace").splitlines()[:60])
        return {"ir_per_msg": ir, "totals": totals, "counts": list(counts), "annotate": top}


# --------------------------------------------------------------------------
# /proc and helpers

class Cpu:
    """CPU time of a process: utime+stime from /proc/<pid>/stat (clock
    ticks, 10 ms) and, for short intervals, the sum of the threads'
    /proc/<pid>/task/*/schedstat run time (ns)."""

    def __init__(self, pid):
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
        fields = data[data.rindex(")") + 2:].split()
        self.stat = (int(fields[11]) + int(fields[12])) / CLK_TCK
        self.sched = 0.0
        try:
            for t in os.listdir("/proc/%d/task" % pid):
                try:
                    with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                        self.sched += int(f.read().split()[0]) / 1e9
                except (OSError, ValueError, IndexError):
                    pass
        except OSError:
            pass

    def __sub__(self, other):
        """Seconds used since `other`: the stat figure when it spans at
        least 50 ticks, else the finer schedstat one, unless a thread that
        exited in between took its run time out of the sum (then the stat
        figure: coarse, never negative)."""
        d = self.stat - other.stat
        if d >= 50.0 / CLK_TCK or self.sched == 0 or self.sched < other.sched:
            return d
        return self.sched - other.sched


def proc_cpu(pid):
    return Cpu(pid)


def proc_mem(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            m = re.match(r"(summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(2))
    raise RuntimeError("no totals in " + path)


def control(ctx, ep, req, timeout_ms=3000):
    """One request on the bridge's control socket; None on a timeout."""
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.setsockopt(zmq.SNDTIMEO, timeout_ms)
    try:
        s.connect(ep)
        s.send_string(json.dumps(req))
        return json.loads(s.recv())
    except zmq.Again:
        return None
    finally:
        s.close()


_ports_given = set()


def free_port():
    # Never the same port twice in one run: the kernel may reuse a closed
    # ephemeral port at once, and one bridge given it twice refuses to start.
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def machine():
    model = ""
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE).stdout.decode()
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "model": model, "kernel": os.uname().release}


# --------------------------------------------------------------------------
# scenarios and the table

def scenarios(full, smoke):
    if smoke:
        return [
            {"name": "tput1", "label": "1 peer x 200 B (smoke)", "peers": 1, "size": 200,
             "per_peer": 3000, "timeout": 60},
            {"name": "tput50", "label": "5 peers x 4 KiB (smoke)", "peers": 5, "size": 4096,
             "per_peer": 400, "timeout": 60},
            {"name": "lat", "label": "2 peers, 2,000 msg/s (smoke)", "peers": 2, "size": 200,
             "per_peer": 500, "rate": 2000, "timeout": 60},
            {"name": "subs4", "label": "1 peer x 200 B, 2 subscribers (smoke)", "peers": 1,
             "size": 200, "per_peer": 2000, "subs": 2, "timeout": 60},
        ]
    k = 1 if full else 0.25
    return [
        {"name": "tput1", "label": "1 peer x 200 B, full speed", "peers": 1, "size": 200,
         "per_peer": int(4000000 * k)},
        {"name": "tput50", "label": "50 peers x 200 B, full speed", "peers": 50, "size": 200,
         "per_peer": int(80000 * k)},
        {"name": "tput4k", "label": "1 peer x 4 KiB, full speed", "peers": 1, "size": 4096,
         "per_peer": int(200000 * k)},
        {"name": "lat", "label": "10 peers x 200 B, 10,000 msg/s total", "peers": 10,
         "size": 200, "rate": 10000, "per_peer": int(20000 * (k if k >= 1 else 0.5))},
        {"name": "subs4", "label": "1 peer x 200 B, 4 subscribers", "peers": 1, "size": 200,
         "per_peer": int(2000000 * k), "subs": 4},
        # TLS end to end: the bridge alone (the limits and the Node
        # reference read plain ws).
        {"name": "tput1tls", "label": "1 peer x 200 B over wss, full speed", "peers": 1,
         "size": 200, "per_peer": int(4000000 * k), "wss": True, "bridge_only": True},
        {"name": "tput4ktls", "label": "1 peer x 4 KiB over wss, full speed", "peers": 1,
         "size": 4096, "per_peer": int(200000 * k), "wss": True, "bridge_only": True},
    ]


def loops_scenarios(full):
    """pool.loops 1, 2, 3 at 50 and 500 peers x 200 B, full speed (issue
    13): how the WebSocket side spreads over loop threads. Bridge only (the
    limits do not depend on the bridge's loops). --only loops runs them
    all; each is also named, e.g. loops2x500."""
    k = 1 if full else 0.25
    out = []
    for peers in (50, 500):
        for loops in (1, 2, 3):
            out.append({"name": "loops%dx%d" % (loops, peers), "group": "loops",
                        "label": "%d peers x 200 B, %d loop%s" % (peers, loops,
                                                                  "" if loops == 1 else "s"),
                        "peers": peers, "size": 200, "loops": loops, "bridge_only": True,
                        "per_peer": int(1600000 * k) // peers})
    return out


def sweep_scenarios():
    """How cost grows with message size (1 peer) and with peers (200 B):
    counts sized for a few seconds each on this class of machine."""
    out = []
    for size, n in ((64, 600000), (1024, 150000), (16384, 8000)):
        out.append({"name": "size%d" % size, "label": "sweep: 1 peer x %d B" % size,
                    "peers": 1, "size": size, "per_peer": n})
    for peers in (10, 200):
        out.append({"name": "peers%d" % peers, "label": "sweep: %d peers x 200 B" % peers,
                    "peers": peers, "size": 200, "per_peer": 800000 // peers})
    return out


def plot_svg(results, svg_path):
    """Two small log-log charts of CPU microseconds per message, bridge and
    its two limits: against payload size (1 peer) and against the number of
    peers (200 B), from whatever streaming scenarios the run had (--sweep
    fills them in). Plain SVG, no plotting library."""
    sc = results["scenarios"]
    series = {"size": [], "peers": []}
    for name, x in sc.items():
        meta = x.get("scenario") if isinstance(x, dict) else None
        if not meta or meta.get("rate") or "bridge" not in x:
            continue  # paced runs measure latency, not cost
        if meta["peers"] == 1:
            series["size"].append((meta["size"], x))
        if meta["size"] == 200:
            series["peers"].append((meta["peers"], x))
    colors = {"bridge": "#c0392b", "direct": "#2471a3", "raw": "#229954"}

    def cpu(x, path):  # a log scale shows only positive figures
        v = x.get(path, {}).get("cpu_us_per_msg")
        return v if v and v > 0 else None

    W, H, M = 360, 260, 48
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (2 * W, H + 30)]
    for i, (key, title, unit) in enumerate((("size", "by payload size, 1 peer", "bytes"),
                                            ("peers", "by peers, 200 B", "peers"))):
        pts = sorted(series[key], key=lambda p: p[0])
        ox = i * W
        out.append('<text x="%d" y="16" font-weight="bold">CPU µs per message, %s</text>'
                   % (ox + M, title))
        vals = [cpu(x, path) for _, x in pts for path in colors if cpu(x, path)]
        if not pts or not vals:
            out.append('<text x="%d" y="%d">no data</text>' % (ox + M, H // 2))
            continue
        xs = [math.log2(v) for v, _ in pts]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y0, y1 = math.log10(min(vals)) - 0.1, math.log10(max(vals)) + 0.1

        def px(v, x0=x0, x1=x1, ox=ox):
            return ox + M + (math.log2(v) - x0) / (x1 - x0) * (W - 2 * M)

        def py(v, y0=y0, y1=y1):
            return 24 + (1 - (math.log10(v) - y0) / (y1 - y0)) * (H - 24 - M)

        out.append('<rect x="%d" y="24" width="%d" height="%d" fill="none" stroke="#999"/>'
                   % (ox + M, W - 2 * M, H - 24 - M))
        for v, _ in pts:
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                       % (px(v), H - M + 14, v))
        out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>'
                   % (ox + W // 2, H - M + 28, unit))
        for e in range(math.floor(y0), math.ceil(y1) + 1):
            for m in (1, 2, 5):
                v = m * 10 ** e
                if y0 <= math.log10(v) <= y1:
                    out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>'
                               % (ox + M - 4, py(v) + 4, v))
                    out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>'
                               % (ox + M, ox + W - M, py(v), py(v)))
        for j, (path, color) in enumerate(colors.items()):
            line = [(px(v), py(cpu(x, path))) for v, x in pts if cpu(x, path)]
            if not line:
                continue
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                       % (color, " ".join("%.1f,%.1f" % q for q in line)))
            for q in line:
                out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (q + (color,)))
            out.append('<text x="%d" y="%d" fill="%s">%s</text>'
                       % (ox + M + 8 + 70 * j, H + 20, color, path))
    out.append("</svg>")
    with open(svg_path, "w") as f:
        f.write("\n".join(out) + "\n")


def fmt(v, spec="%.0f", none="-"):
    return none if v is None else spec % v


def print_table(rows, out=sys.stdout):
    hdr = ["scenario", "msg/s", "% raw ZMQ", "p50 µs", "p99 µs", "CPU µs/msg", "peak RSS",
           "notes"]
    table = [hdr]
    for r in rows:
        table.append([r.get("scenario", ""), r.get("msgs", "-"), r.get("share", "-"),
                      r.get("p50", "-"), r.get("p99", "-"), r.get("cpu", "-"),
                      r.get("rss", "-"), r.get("notes", "")])
    widths = [max(len(str(row[i])) for row in table) for i in range(len(hdr))]
    lines = []
    for i, row in enumerate(table):
        lines.append("| " + " | ".join(str(c).ljust(widths[j]) for j, c in enumerate(row)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bridge", default=os.environ.get("HB_BRIDGE"))
    ap.add_argument("--bin-dir", default=None, help="directory of hb-feed, hb-sub, ...")
    ap.add_argument("--smoke", action="store_true", help="tiny run that checks the harness")
    ap.add_argument("--full", action="store_true", help="full-length runs (default: quick)")
    ap.add_argument("--only", default="", help="comma list: tput1,tput50,tput4k,lat,subs4,tput1tls,"
                    "tput4ktls,loops,idle1k,"
                    "idle2k,idle4k,idle10k,ramp10k,wss1k (each idle run also times the cold "
                    "start; ramp10k adds the peers over control 500 at a time)")
    ap.add_argument("--soak", type=float, default=0, help="soak seconds at 50k msg/s (0: skip)")
    ap.add_argument("--callgrind", action="store_true", help="instructions per message")
    ap.add_argument("--sweep", action="store_true",
                    help="add 64 B, 1 KiB, 16 KiB (1 peer) and 10, 200 peers (200 B) runs")
    ap.add_argument("--loops", action="store_true",
                    help="add pool.loops 1, 2, 3 at 50 and 500 peers x 200 B (also --only loops)")
    ap.add_argument("--no-limits", action="store_true", help="skip the direct and raw runs")
    ap.add_argument("--no-node", action="store_true",
                    help="skip the Node reference bridge (bench/node: ws + zeromq)")
    ap.add_argument("--limits-only", action="store_true",
                    help="only the direct and raw runs of the streaming scenarios (no bridge)")
    ap.add_argument("--pin", action="store_true",
                    help="taskset: bridge (and the limits' receivers) on CPU 1, tools on CPU 0")
    ap.add_argument("--idle-ms", type=int, default=3000)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds before RSS is read")
    ap.add_argument("--connect-timeout", type=float, default=60.0,
                    help="seconds an idle run waits for every peer to connect")
    ap.add_argument("--plot", help="write CPU per message by size and by peers as SVG here")
    ap.add_argument("--json-out", default=None, help="write every result here")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each step to stderr")
    a = ap.parse_args()
    if not a.bin_dir:
        base = os.environ.get("HB_BINARY_DIR")
        a.bin_dir = os.path.join(base, "bench") if base else None
    if not a.bin_dir or not (a.bridge or a.limits_only):
        ap.error("need --bridge and --bin-dir (or HB_BRIDGE and HB_BINARY_DIR)")
    # The Node reference bridge needs node and bench/node's npm packages
    # (scripts/node-deps.sh installs them); without them it is skipped, saying so.
    a.node_skip = None
    if a.no_node:
        a.node_skip = "--no-node"
    elif not shutil.which("node"):
        a.node_skip = "node not found"
    elif not os.path.isdir(os.path.join(HERE, "node", "node_modules", "ws")):
        a.node_skip = "bench/node/node_modules missing (run scripts/node-deps.sh)"
    if a.node_skip:
        print("bench: Node reference bridge skipped: %s" % a.node_skip)
    a.bridge_cpu = 1 if a.pin else None
    a.tools_cpu = 0 if a.pin else None

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    only = set(x for x in a.only.split(",") if x)
    if a.smoke:
        idle_list = [("idle1k", 20, False, "20 ws peers idle (smoke)"),
                     ("wss1k", 5, True, "5 wss peers idle (smoke)"),
                     ("ramp10k", 30, False, "30 ws peers idle, added 10 at a time over control "
                      "(smoke)", 10)]
        a.idle_ms = 2000
        a.settle = 0.5
    else:
        idle_list = [("idle1k", 1000, False, "1,000 ws peers idle"),
                     ("idle2k", 2000, False, "2,000 ws peers idle"),
                     ("idle4k", 4000, False, "4,000 ws peers idle"),
                     ("idle10k", 10000, False, "10,000 ws peers idle"),
                     ("ramp10k", 10000, False, "10,000 ws peers idle, added 500 at a time "
                      "over control", 500),
                     ("wss1k", 1000, True, "1,000 wss peers idle")]

    r = Runner(a)
    rows, results, failures = [], {"machine": machine(), "scenarios": {}}, []
    t_begin = time.monotonic()
    try:
        extra = sweep_scenarios() if a.sweep else []
        if not a.smoke and (a.loops or "loops" in only or any(x.startswith("loops") for x in only)):
            extra += loops_scenarios(a.full)
        for sc in scenarios(a.full, a.smoke) + extra:
            if only and sc["name"] not in only and sc.get("group") not in only:
                continue
            res = {}
            if a.limits_only:
                if sc.get("subs", 1) == 1:
                    res["direct"] = r.run_direct(sc)
                res["raw"] = r.run_raw(sc)
                results["scenarios"][sc["name"]] = dict(res, scenario=sc)
                for path in [p for p in ("direct", "raw") if p in res]:
                    x = res[path]
                    rows.append({"scenario": "%s: %s" % (path, sc["label"]),
                                 "msgs": fmt(x["rate"]), "p50": fmt(x["p50"]),
                                 "p99": fmt(x["p99"]),
                                 "cpu": fmt(x.get("cpu_us_per_msg"), "(%.2f)"),
                                 "notes": ("%d lost" % x["missing"]) if x["missing"] else ""})
                    if a.smoke and (x["received"] != x["expected"] or x["missing"] or x["bad"]):
                        failures.append("%s/%s: %s" % (sc["name"], path, json.dumps(x)))
                continue
            try:
                res["bridge"] = r.run_bridge(sc)
                if not a.no_limits and not sc.get("bridge_only"):
                    if sc.get("subs", 1) == 1:  # hb-direct has no subscribers to multiply
                        res["direct"] = r.run_direct(sc)
                    res["raw"] = r.run_raw(sc)
                if not a.node_skip and not sc.get("bridge_only"):
                    res["node"] = r.run_node(sc)
            except Exception as e:  # note it, clean up, go on with the next one
                failures.append("%s: %s" % (sc["name"], e))
                rows.append({"scenario": "bridge: " + sc["label"], "notes": "FAILED: %s" % e})
                r.reap()
                continue
            results["scenarios"][sc["name"]] = dict(res, scenario=sc)
            br = res["bridge"]
            raw = res.get("raw")
            share = br["rate"] / raw["rate"] * 100 if raw and raw["rate"] else None
            notes = []
            if br["missing"] or br["gaps"]:
                notes.append("%d lost in %d gaps" % (br["missing"], br["gaps"]))
            if br["received"] != br["expected"]:
                notes.append("received %d of %d" % (br["received"], br["expected"]))
                notes.append("CPU %.2f us per message read" % br["cpu_us_per_read"])
            rows.append({"scenario": "bridge: " + sc["label"],
                         "msgs": fmt(br["rate"]), "share": fmt(share, "%.0f%%"),
                         "p50": fmt(br["p50"], "%.0f"), "p99": fmt(br["p99"], "%.0f"),
                         "cpu": fmt(br["cpu_us_per_msg"], "%.2f"),
                         "rss": fmt(br["hwm_kib"] / 1024.0 if br["hwm_kib"] else None,
                                    "%.1f MiB"),
                         "notes": "; ".join(notes)})
            if "node" in res:
                x = res["node"]
                nshare = x["rate"] / raw["rate"] * 100 if raw and raw["rate"] else None
                rows.append({"scenario": "  Node bridge (ws + zeromq)", "msgs": fmt(x["rate"]),
                             "share": fmt(nshare, "%.0f%%"), "p50": fmt(x["p50"]),
                             "p99": fmt(x["p99"]), "cpu": fmt(x.get("cpu_us_per_msg"), "%.2f"),
                             "rss": fmt(x["hwm_kib"] / 1024.0 if x.get("hwm_kib") else None,
                                        "%.1f MiB"),
                             "notes": "honeybee %.1fx" % (br["rate"] / x["rate"])
                             if x["rate"] else ""})
            for path in ("direct", "raw"):
                if path in res:
                    x = res[path]
                    rows.append({"scenario": "  %s limit" % path, "msgs": fmt(x["rate"]),
                                 "p50": fmt(x["p50"]), "p99": fmt(x["p99"]),
                                 "cpu": fmt(x.get("cpu_us_per_msg"), "(%.2f)"),
                                 "notes": ("%d lost" % x["missing"]) if x["missing"] else ""})
            if a.smoke:
                for path, x in res.items():
                    if x["received"] != x["expected"] or x["missing"] or x["bad"] or x["dups"]:
                        failures.append("%s/%s: %s" % (sc["name"], path, json.dumps(x)))
                    elif not (x["p50"] > 0 and x["rate"] > 0):
                        failures.append("%s/%s: no latency/rate: %s" % (sc["name"], path, x))
                    elif (x.get("cpu_us_per_msg") or 0) < 0:
                        failures.append("%s/%s: negative CPU: %s" % (sc["name"], path, x))
                if br.get("bridge_rc") not in (0, None):
                    failures.append("%s: bridge exited %s" % (sc["name"], br["bridge_rc"]))
                if not br["cpu_us_per_msg"] or not br["hwm_kib"]:
                    failures.append("%s: no CPU/RSS sample: %s" % (sc["name"], br))

        for entry in idle_list:
            name, n, wss, label = entry[:4]
            ramp = entry[4] if len(entry) > 4 else 0
            if a.limits_only or only and name not in only:
                continue
            try:
                x = r.run_idle(n, wss=wss, ramp=ramp)
            except Exception as e:
                failures.append("%s: %s" % (name, e))
                rows.append({"scenario": "bridge: " + label, "notes": "FAILED: %s" % e})
                r.reap()
                continue
            results["scenarios"][name] = x
            if x["cold_start_s"] is not None and ramp:
                cold = "all connected %.2f s after the first connect" % (x["cold_start_s"])
            elif x["cold_start_s"] is not None:
                cold = "all connected %.2f s after spawn" % x["cold_start_s"]
            else:
                cold = "NOT all connected: %s of %d after %.0f s" % (x["still_connected"], n,
                                                                      a.connect_timeout)
            pp = x["per_peer_kib"]
            rows.append({"scenario": "bridge: " + label,
                         "rss": fmt(x["rss_kib"] / 1024.0, "%.1f MiB"),
                         "notes": "%s KiB per peer (RSS %d - %d KiB with 0 peers); %s"
                                  % (fmt(pp, "%.1f"), x["rss_kib"], x["rss0_kib"], cold)})
            if a.smoke and (x["cold_start_s"] is None or x["still_connected"] != n
                            or not x["per_peer_kib"]
                            or x["bridge_rc"] != 0):
                failures.append("%s: %s" % (name, x))

        if (a.soak or a.smoke) and not a.limits_only:
            dur = a.soak or 2
            x = r.run_soak(dur, rate=50000 if not a.smoke else 5000)
            results["scenarios"]["soak"] = x
            rows.append({"scenario": "bridge: soak %d s at %s msg/s, 10 peers"
                                     % (dur, format(50000 if not a.smoke else 5000, ",")),
                         "msgs": fmt(x["rate"]), "p50": fmt(x["p50"]), "p99": fmt(x["p99"]),
                         "cpu": fmt(x["cpu_us_per_msg"], "%.2f"),
                         "rss": fmt(x["hwm_kib"] / 1024.0, "%.1f MiB"),
                         "notes": "RSS %d -> peak %d -> end %d KiB (%+.1f%% after the first "
                                  "10%%, %+.1f%% over the second half)%s%s"
                                  % (x["rss_first_kib"], x["rss_peak_kib"], x["rss_last_kib"],
                                     x["rss_growth_pct"], x["rss_half_growth_pct"],
                                     "; p99 per %d intervals %s-%s" % (
                                         len(x["latency_by_interval"]),
                                         fmt(min(i[2] for i in x["latency_by_interval"])),
                                         fmt(max(i[2] for i in x["latency_by_interval"])))
                                     if x["latency_by_interval"] else "",
                                     "; %d lost" % x["missing"] if x["missing"] else "")})
            if a.smoke and (x["missing"] or x["bad"] or x["received"] < 0.9 * x["expected"]):
                failures.append("soak: %s" % {k: v for k, v in x.items()
                                              if k not in ("samples", "latency_by_interval")})

        if a.callgrind:
            x = r.run_callgrind()
            results["scenarios"]["callgrind"] = {k: v for k, v in x.items() if k != "annotate"}
            rows.append({"scenario": "bridge under callgrind, 1 peer x 200 B",
                         "notes": "%.0f instructions per message (runs of %d and %d)"
                                  % (x["ir_per_msg"], x["counts"][0], x["counts"][1])})
            sys.stdout.write(x["annotate"][:6000] + "\n")
        if a.smoke:
            for name, rc, err in r.tool_rcs():
                failures.append("%s exited %s: %s" % (name, rc, err))
    except Exception as e:  # report what failed, then clean up
        failures.append("error: %s" % e)
    finally:
        r.cleanup()

    m = results["machine"]
    print("\nhoneybee bench on %s (nproc %s, kernel %s), %.0f s%s"
          % (m["model"], m["nproc"], m["kernel"], time.monotonic() - t_begin,
             ", pinned" if a.pin else ""))
    print_table(rows)
    results["rows"] = rows
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(results, f, indent=1)
    if a.plot:
        plot_svg(results, a.plot)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
