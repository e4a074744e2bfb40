"""Shared pieces of the test_ship_*.py tests (run with Debian's python3).

A real honeybee-bridge ($HB_BRIDGE) on free loopback ports, a real
WebSocket server (websockets 10.4) in a thread, a control client, and a
line reader for child processes. Everything waits on conditions with
deadlines (generous: the suite also runs under ASan and TSan on 2 cores).
"""
import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import websockets
import zmq

SRC = os.environ.get("HB_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BIN = os.environ.get("HB_BINARY_DIR", os.path.join(SRC, "build"))
BRIDGE = os.environ.get("HB_BRIDGE", os.path.join(BIN, "honeybee-bridge"))
SANITIZER = os.environ.get("HB_SANITIZER", "")
# Sanitizer builds are several times slower: scale every deadline.
SLOW = 4.0 if SANITIZER else 1.0


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports():
    return {k: free_port() for k in ("inbox", "events", "send", "control", "http")}


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    fail(f"timed out waiting for {what}")


class WsServer:
    """A WebSocket server on 127.0.0.1 in its own thread. Records every
    message per path (the bridge's peers connect to ws://.../<id>), echoes
    text messages back as "echo:<text>", and lets the test push messages to
    or drop the connections of one path."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.lock = threading.Lock()
        self.received = {}  # path -> [message]
        self.connects = {}  # path -> number of connections so far
        self.conns = {}  # path -> set of live connections
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            fail("websocket server did not start")

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.server = await websockets.serve(self._handler, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]

        self.loop.run_until_complete(start())
        ready.set()
        self.loop.run_forever()

    async def _handler(self, ws, path):
        with self.lock:
            self.connects[path] = self.connects.get(path, 0) + 1
            self.conns.setdefault(path, set()).add(ws)
        try:
            async for msg in ws:
                with self.lock:
                    self.received.setdefault(path, []).append(msg)
                if isinstance(msg, str):
                    await ws.send("echo:" + msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            with self.lock:
                self.conns[path].discard(ws)

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}/{path}"

    def connect_count(self, path):
        with self.lock:
            return self.connects.get("/" + path, 0)

    def live(self, path):
        with self.lock:
            return len(self.conns.get("/" + path, ()))

    def got(self, path):
        with self.lock:
            return list(self.received.get("/" + path, []))

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10 * SLOW)

    def push(self, path, msg):
        """Send msg on every live connection of path; returns how many."""
        async def go():
            with self.lock:
                conns = list(self.conns.get("/" + path, ()))
            for ws in conns:
                try:
                    await ws.send(msg)
                except websockets.ConnectionClosed:
                    pass
            return len(conns)

        return self._call(go())

    def drop(self, path):
        """Close path's connections from the server side (the bridge reconnects)."""
        async def go():
            with self.lock:
                conns = list(self.conns.get("/" + path, ()))
            for ws in conns:
                await ws.close(1001, "test drops the connection")

        self._call(go())

    def stop(self):
        async def go():
            self.server.close()
            await self.server.wait_closed()

        try:
            self._call(go())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def bridge_config(ports, peers=(), extra=""):
    """YAML for a bridge on the given ports (dict inbox/events/send/control/http)."""
    lines = [
        "bridge:",
        f"  inbox: tcp://127.0.0.1:{ports['inbox']}",
        f"  events: tcp://127.0.0.1:{ports['events']}",
        f"  send: tcp://127.0.0.1:{ports['send']}",
        f"  control: tcp://127.0.0.1:{ports['control']}",
        f"  http: 127.0.0.1:{ports['http']}",
        "  drain_timeout: 2s",
        "pool:",
        "  reconnect: {initial_delay: 50ms, max_delay: 300ms, stable_after: 100ms}",
    ]
    if peers:
        lines.append("peers:")
        for pid, url in peers:
            lines += [f"  - id: {pid}", f"    url: {url}"]
    lines += ["log:", "  level: debug", extra]
    return "\n".join(lines) + "\n"


class Bridge:
    """The real daemon on free ports. `exe` and `env` allow running an
    installed copy with environment overrides instead of a config's ports."""

    def __init__(self, peers=(), exe=BRIDGE, config_path=None, env=None, ports=None):
        self.ports = ports or free_ports()
        self.ep = {k: f"tcp://127.0.0.1:{v}" for k, v in self.ports.items() if k != "http"}
        self.http = f"127.0.0.1:{self.ports['http']}"
        self.dir = tempfile.mkdtemp(prefix="hb-ship-")
        if config_path is None:
            config_path = os.path.join(self.dir, "bridge.yaml")
            with open(config_path, "w") as f:
                f.write(bridge_config(self.ports, peers))
        self.config_path = config_path
        self.log_path = os.path.join(self.dir, "bridge.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([exe, "-c", config_path], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=full_env)
        self.ctx = zmq.Context()
        self.wait_ready()

    def env(self):
        """Environment that points honeybee-cli and the examples at this bridge."""
        return {"HONEYBEE_INBOX": self.ep["inbox"], "HONEYBEE_EVENTS": self.ep["events"],
                "HONEYBEE_SEND": self.ep["send"], "HONEYBEE_CONTROL": self.ep["control"],
                "HONEYBEE_HTTP": self.http}

    def http_status(self, path):
        try:
            with urllib.request.urlopen(f"http://{self.http}{path}", timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                fail(f"bridge exited with {self.proc.returncode}:\n{self.output()}")
            return self.http_status("/readyz") == 200
        wait_for(ready, 15, "bridge /readyz")

    def control(self, req, timeout=5):
        s = self.ctx.socket(zmq.REQ)
        s.linger = 0
        s.connect(self.ep["control"])
        try:
            s.send_json(req)
            if not s.poll(int(timeout * 1000 * SLOW)):
                fail(f"no control reply to {req}")
            return s.recv_json()
        finally:
            s.close()

    def peer_state(self, pid):
        for p in self.control({"op": "list"}).get("peers", []):
            if p["id"] == pid:
                return p["state"]
        return None

    def wait_connected(self, pid, timeout=10):
        wait_for(lambda: self.peer_state(pid) == "connected", timeout, f"peer {pid} connected")

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, expect=0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail(f"bridge did not exit on SIGTERM:\n{self.output()[-3000:]}")
        self.ctx.destroy(linger=0)
        self.log.close()
        if expect is not None and self.proc.returncode != expect:
            fail(f"bridge exited with {self.proc.returncode}, expected {expect}:\n"
                 f"{self.output()[-3000:]}")


class Lines:
    """Reads a child's stdout line by line in a thread; wait() for a line."""

    def __init__(self, proc):
        self.proc = proc
        self.q = queue.Queue()
        self.all = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.q.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.q.put(None)

    def wait(self, pred, timeout, what, required=True):
        """A line matching pred, among those seen or the next ones (all are
        kept in .all); on timeout fail, or return None if not required."""
        deadline = time.monotonic() + timeout * SLOW
        for line in self.all:
            if pred(line):
                return line
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self.q.put(None)
                break
            self.all.append(line)
            if pred(line):
                return line
        if not required:
            return None
        fail(f"timed out waiting for {what}; output so far:\n" + "\n".join(self.all[-40:]))

    def drain(self, timeout=5):
        """Everything up to EOF."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                return self.all
            self.all.append(line)
        return self.all


def run(cmd, env=None, timeout=30, input=None):
    """Run a command to completion; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True,
                          timeout=timeout * SLOW, input=input)


def report(passed, failed=0):
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


def parse_kv(line):
    """'message peer=a conn=1 seq=2 ... data=x y' -> dict (data keeps spaces)."""
    head, _, data = line.partition(" data=")
    out = {}
    for tok in head.split()[1:]:
        k, _, v = tok.partition("=")
        out[k] = v
    if _:
        out["data"] = data
    return out


def event_json(line):
    return json.loads(line.split(" json=", 1)[1])
