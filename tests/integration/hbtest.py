"""hbtest: the one harness of the Python black-box tests (tests/integration/test_*.py).

Everything here talks to the real daemon ($HB_BRIDGE) over real sockets:
free ports on 127.0.0.1, a config file written to a temp dir (or a shipped
one, its endpoints moved by HONEYBEE_* variables), WebSocket servers
(websockets 10.4 on an asyncio thread, or raw TCP for misbehaving peers),
ZeroMQ SUB/PUSH/REQ clients, decoders for the frames of SPEC.md sections 4
and 5, a line reader for child processes (honeybee-cli, the examples), and
one runner. Every wait has a deadline scaled by t() (HB_SLOW, and longer
under sanitizers) so that a loaded 2-core machine does not flake.

Run with Debian's /usr/bin/python3 (python3-zmq, python3-websockets); ctest
sets HB_BRIDGE, HB_SOURCE_DIR, HB_BINARY_DIR and HB_SANITIZER.
"""

import asyncio
import base64
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import queue as _queue

import zmq
import websockets

SRC = os.environ.get("HB_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("HB_BINARY_DIR") or os.path.join(SRC, "build")
BRIDGE = os.environ.get("HB_BRIDGE", "")
CLI = os.path.join(BIN, "honeybee-cli")
PYTHON = os.environ.get("HB_PYTHON", "/usr/bin/python3")
SANITIZER = os.environ.get("HB_SANITIZER", "")
# The one slow factor: sanitizer builds run several times slower.
SLOW = float(os.environ.get("HB_SLOW", "1")) * (4.0 if SANITIZER else 1.0)


def t(seconds):
    """A timeout scaled for slow machines and sanitizer builds."""
    return seconds * SLOW


# ---- small utilities --------------------------------------------------------

_ports_given = set()


def free_port():
    """A port free now and never handed out before by this process: the
    kernel may give the same ephemeral port to two bind(0) calls once the
    first socket is closed, and a bridge given one port for two endpoints
    refuses its config (seen in CI: inbox and http on one port)."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def wait_for(cond, timeout=5.0, what="condition", interval=0.02):
    """Poll cond() until it returns a truthy value; return it, else fail."""
    deadline = time.monotonic() + t(timeout)
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


def decode_meta(frame):
    """The 24-byte metadata frame -> dict (SPEC.md section 4)."""
    assert len(frame) == 24, "metadata frame is %d bytes" % len(frame)
    version, flags, reserved, conn, seq, ns = struct.unpack(">BBHIQQ", frame)
    return {"version": version, "flags": flags, "reserved": reserved, "conn": conn,
            "seq": seq, "received_ns": ns, "binary": bool(flags & 1)}


RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


# ---- YAML config ------------------------------------------------------------

_PLAIN = re.compile(r"^(\d+(\.\d+)?(ms|s|m|h)|\d+(B|KiB|MiB)|0)$")


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str) and _PLAIN.match(v):
        return v
    return json.dumps(v)  # a JSON string is a valid double-quoted YAML scalar


def _yaml(obj, indent=0):
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(_yaml(v, indent + 2))
            elif isinstance(v, dict):
                out.append("%s%s: {}" % (pad, k))
            elif isinstance(v, list):
                out.append("%s%s: []" % (pad, k))
            else:
                out.append("%s%s: %s" % (pad, k, _scalar(v)))
    else:
        for item in obj:
            if isinstance(item, dict):
                sub = _yaml(item, indent + 2).split("\n")
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.append("\n".join(sub))
            else:
                out.append("%s- %s" % (pad, _scalar(item)))
    return "\n".join(out)


def to_yaml(cfg):
    return _yaml(cfg) + "\n"


# ---- the daemon ---------------------------------------------------------------

class Bridge:
    """The real daemon on free ports.

    peers: list of peer dicts ({"id": .., "url": .., options}); bridge, pool,
    log: config sections (bridge keys override the free-port endpoints).
    http=False leaves the HTTP server off. env: extra environment of the
    daemon; nofile: its RLIMIT_NOFILE. exe: another honeybee-bridge (an
    installed copy). config: the path of an existing config file to run
    instead of a written one; its endpoints are then moved to free ports by
    the HONEYBEE_* variables (endpoint_env()). client_keys: (server public,
    client public, client secret) that make the harness's own sockets CURVE
    clients (a bridge with bridge.curve).
    """

    def __init__(self, peers=None, bridge=None, pool=None, log=None, http=True,
                 tmpdir=None, ipc=False, extra_args=(), env=None, nofile=None,
                 exe=None, config=None, client_keys=None):
        self.exe = exe or BRIDGE
        assert self.exe, "HB_BRIDGE is not set (run through ctest)"
        self.tmp = tmpdir or tempfile.mkdtemp(prefix="hbtest-")
        self.ipc = ipc
        self.use_http = http
        self.overrides = dict(bridge or {})
        self.cfg = {}
        if pool:
            self.cfg["pool"] = pool
        self.cfg["log"] = log or {"level": "debug"}
        if peers:
            self.cfg["peers"] = peers
        self._assign_endpoints()
        self.given_config = config
        self.path = config or os.path.join(self.tmp, "honeybee.yaml")
        if not config:
            self.write_config()
        self.extra_args = list(extra_args)
        self.env = env
        self.nofile = nofile  # RLIMIT_NOFILE of the daemon, if set
        self.proc = None
        self.ctx = zmq.Context.instance()
        self.client_keys = client_keys
        self._req = None
        self._push = None
        self.stderr_path = os.path.join(self.tmp, "stderr.log")

    def _assign_endpoints(self):
        """Free ports (or ipc paths) for every endpoint not given explicitly."""
        if self.ipc:
            ep = lambda n: "ipc://%s/%s.sock" % (self.tmp, n)
        else:
            ep = lambda n: "tcp://127.0.0.1:%d" % free_port()
        self.endpoints = {n: self.overrides.get(n) or ep(n)
                          for n in ("inbox", "events", "send", "control")}
        b = dict(self.endpoints)
        if "http" in self.overrides:
            b["http"] = self.overrides["http"]
        elif self.use_http:
            b["http"] = "127.0.0.1:%d" % free_port()
        else:
            b["http"] = ""
        self.http_addr = b["http"]
        self.http_port = int(b["http"].rsplit(":", 1)[1]) if b["http"] else None
        b["drain_timeout"] = "2s"
        b.update(self.overrides)
        self.cfg = dict(self.cfg, bridge=b)

    def endpoint_env(self):
        """The HONEYBEE_* variables naming this bridge's endpoints: what
        points honeybee-cli and the examples at it (and, with config=, the
        daemon itself at its free ports)."""
        e = self.endpoints
        return {"HONEYBEE_INBOX": e["inbox"], "HONEYBEE_EVENTS": e["events"],
                "HONEYBEE_SEND": e["send"], "HONEYBEE_CONTROL": e["control"],
                "HONEYBEE_HTTP": self.http_addr}

    def write_config(self, cfg=None):
        assert not self.given_config, "write_config() on a given config file"
        if cfg is not None:
            self.cfg = cfg
        with open(self.path + ".tmp", "w") as f:
            f.write(to_yaml(self.cfg))
        os.replace(self.path + ".tmp", self.path)

    def start(self, wait=True):
        """Start the daemon; with wait, until it answers ping. A free port
        taken by another process in between (tests run in parallel) is
        retried on new ports."""
        for attempt in range(3):
            env = dict(os.environ)
            if self.given_config:
                env.update(self.endpoint_env())
            if self.env:
                env.update(self.env)
            self._errf = open(self.stderr_path, "wb")
            pre = None
            if self.nofile:
                import resource
                n = self.nofile
                pre = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            self.proc = subprocess.Popen([self.exe, "-c", self.path] + self.extra_args,
                                         stdout=subprocess.DEVNULL, stderr=self._errf, env=env,
                                         preexec_fn=pre)
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except AssertionError:
                if (attempt < 2 and self.proc.poll() == 1
                        and "already in use" in self.stderr().lower()):
                    self._assign_endpoints()
                    if not self.given_config:
                        self.write_config()
                    continue
                raise
        return self

    def wait_ready(self, timeout=10):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("bridge exited with %s:\n%s" %
                                     (self.proc.returncode, self.stderr()))
            try:
                return self.request({"op": "ping"}, timeout=0.5).get("ok")
            except TimeoutError:
                return False
        wait_for(ready, timeout, "the bridge to answer ping")

    def stderr(self):
        """Everything the daemon logged so far."""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- control ---------------------------------------------------------------

    def _secure(self, sock):
        if self.client_keys:
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = self.client_keys
        return sock

    def request_raw(self, frames, timeout=5.0):
        """Send raw frames on a REQ socket; return the reply frames."""
        if self._req is None:
            self._req = self._secure(self.ctx.socket(zmq.REQ))
            self._req.setsockopt(zmq.LINGER, 0)
            self._req.connect(self.endpoints["control"])
        self._req.send_multipart(frames)
        if not self._req.poll(int(t(timeout) * 1000)):
            self._req.close()
            self._req = None
            raise TimeoutError("no control reply")
        return self._req.recv_multipart()

    def request(self, obj, timeout=5.0):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        reply = self.request_raw([body], timeout)
        assert len(reply) == 1, "a reply is one frame"
        r = json.loads(reply[0])
        assert isinstance(r, dict) and isinstance(r.get("ok"), bool), r
        if not r["ok"]:
            assert isinstance(r.get("error"), str) and isinstance(r.get("message"), str), r
        return r

    def ok(self, obj):
        r = self.request(obj)
        assert r["ok"], "%s -> %s" % (obj, r)
        return r

    def list(self):
        return {p["id"]: p for p in self.ok({"op": "list"})["peers"]}

    def peer_state(self, pid):
        p = self.list().get(pid)
        return p and p["state"]

    def wait_state(self, pid, state, timeout=10):
        return wait_for(lambda: self.peer_state(pid) == state, timeout,
                        "peer %s to be %s" % (pid, state))

    # -- send ------------------------------------------------------------------

    def push(self, *frames):
        if self._push is None:
            self._push = self._secure(self.ctx.socket(zmq.PUSH))
            self._push.setsockopt(zmq.LINGER, 1000)
            self._push.connect(self.endpoints["send"])
        self._push.send_multipart([f if isinstance(f, bytes) else f.encode() for f in frames])

    # -- subscribers -----------------------------------------------------------

    def sub(self, which, topic=b"", hwm=None):
        s = self._secure(self.ctx.socket(zmq.SUB))
        s.setsockopt(zmq.LINGER, 0)
        if hwm is not None:
            s.setsockopt(zmq.RCVHWM, hwm)
        s.setsockopt(zmq.SUBSCRIBE, topic)
        s.connect(self.endpoints[which])
        return s

    def events(self):
        """An events subscriber whose subscription has reached the bridge."""
        s = Events(self.sub("events"))
        probe = "probe-%d" % id(s)
        def seen():
            self.push(probe, "x")
            return s.next(lambda e: e["kind"] == "send_failed" and e["id"] == probe,
                          timeout=0.2, fail=False)
        wait_for(seen, 10, "the events subscription")
        s.drain()
        return s

    # -- HTTP ------------------------------------------------------------------

    def http(self, path, timeout=5.0):
        url = "http://127.0.0.1:%d%s" % (self.http_port, path)
        try:
            with urllib.request.urlopen(url, timeout=t(timeout)) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        st, body = self.http("/metrics")
        assert st == 200, st
        out = {}
        for line in body.splitlines():
            if line.startswith("#") or not line:
                continue
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
        return out

    # -- lifecycle -------------------------------------------------------------

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=15):
        try:
            return self.proc.wait(timeout=t(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("bridge did not exit in time:\n" + self.stderr()[-4000:])

    def stop(self):
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit()
        elif self.proc:
            rc = self.proc.returncode
        for s in (self._req, self._push):
            if s is not None:
                s.close(0)
        self._req = self._push = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None:
            assert rc == 0, "bridge exit code %s:\n%s" % (rc, self.stderr()[-4000:])
        else:
            sys.stderr.write("---- bridge stderr (tail) ----\n%s\n" % self.stderr()[-6000:])


class Events:
    """Decoded events: (kind, id, json) with frame checks."""

    def __init__(self, sock):
        self.sock = sock
        self.seen = []     # every event received, in order
        self.pending = []  # received, not yet taken by next()/expect()

    def recv(self, timeout=5.0):
        if not self.sock.poll(int(t(timeout) * 1000)):
            return None
        frames = self.sock.recv_multipart()
        assert len(frames) == 3, "an event is 3 frames: %r" % frames
        kind, pid, body = frames[0].decode(), frames[1].decode(), json.loads(frames[2])
        assert body["kind"] == kind and body["id"] == pid, body
        assert RFC3339_NS.match(body["at"]), body["at"]
        self.seen.append(body)
        return body

    def next(self, pred=lambda e: True, timeout=5.0, fail=True):
        """The first event matching pred, whether it already arrived (and no
        earlier call took it) or arrives within the timeout."""
        for i, e in enumerate(self.pending):
            if pred(e):
                del self.pending[i]
                return e
        deadline = time.monotonic() + t(timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if fail:
                    raise AssertionError("no matching event; seen: %s" % self.seen[-20:])
                return None
            e = self.recv(left / SLOW)
            if e is not None:
                if pred(e):
                    return e
                self.pending.append(e)

    def expect(self, kind, pid=None, timeout=5.0, **fields):
        def pred(e):
            if e["kind"] != kind or (pid is not None and e["id"] != pid):
                return False
            return all(e.get(k) == v for k, v in fields.items())
        return self.next(pred, timeout)

    def drain(self):
        while self.sock.poll(50):
            self.sock.recv_multipart()
        self.pending = []
        self.seen = []

    def close(self):
        self.sock.close(0)


def recv_inbox(sock, timeout=5.0):
    """One inbox message -> (peer id, payload bytes, meta dict), or None."""
    if not sock.poll(int(t(timeout) * 1000)):
        return None
    frames = sock.recv_multipart()
    assert len(frames) == 3, "an inbox message is 3 frames: %r" % frames
    meta = decode_meta(frames[2])
    assert meta["version"] == 1 and meta["reserved"] == 0, meta
    return frames[0].decode(), frames[1], meta


# ---- WebSocket servers --------------------------------------------------------

class WSServer:
    """A websockets 10.4 server on its own asyncio thread.

    behaviour: "echo" (send back what arrives), "record" (only record).
    on_connect: list of messages to send to each new client.
    Records every received message as (conn index, message) in self.received
    and the close code each connection saw in self.close_codes.

    One server can stand for many peers: each dials its own path
    (url_of("feed") is ws://127.0.0.1:PORT/feed), and got(), live(),
    connect_count(), push() and drop() act on one path.
    """

    def __init__(self, behaviour="record", on_connect=(), ping_interval=None):
        self.behaviour = behaviour
        self.on_connect = list(on_connect)
        self.ping_interval = ping_interval
        self.received = _queue.Queue()
        self.close_codes = _queue.Queue()
        self.clients = []
        self.n_connections = 0
        self.headers = []
        self._lock = threading.Lock()  # the per-path maps: asyncio thread and the test's
        self._by_path = {}  # path -> {"got": [msg], "connects": n, "live": set(ws)}
        self.loop = asyncio.new_event_loop()
        self.port = None
        self._stop = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self._ready.wait(10), "websocket server did not start"

    @property
    def url(self):
        return "ws://127.0.0.1:%d/" % self.port

    def url_of(self, path):
        """The URL of one path of this server (one peer per path)."""
        return "ws://127.0.0.1:%d/%s" % (self.port, path)

    def _path(self, path):
        return self._by_path.setdefault("/" + path.lstrip("/"),
                                        {"got": [], "connects": 0, "live": set()})

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self):
        self._stop = asyncio.Event()
        async with websockets.serve(self._handler, "127.0.0.1", 0, max_size=None,
                                    ping_interval=self.ping_interval) as srv:
            self.port = srv.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _handler(self, ws, path=None):
        self.n_connections += 1
        idx = self.n_connections
        self.headers.append(dict(ws.request_headers))
        self.clients.append(ws)
        with self._lock:
            mine = self._path(ws.path)
            mine["connects"] += 1
            mine["live"].add(ws)
        try:
            for m in self.on_connect:
                await ws.send(m)
            async for msg in ws:
                self.received.put((idx, msg))
                with self._lock:
                    mine["got"].append(msg)
                if self.behaviour == "echo":
                    await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            if ws in self.clients:
                self.clients.remove(ws)
            with self._lock:
                mine["live"].discard(ws)
            await ws.wait_closed()
            self.close_codes.put((idx, ws.close_code, ws.close_reason))

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(t(timeout))

    def send_all(self, msg):
        async def go():
            for ws in list(self.clients):
                try:
                    await ws.send(msg)
                except websockets.ConnectionClosed:
                    pass
        self._call(go())

    def close_all(self, code=1000, reason=""):
        async def go():
            for ws in list(self.clients):
                await ws.close(code, reason)
        self._call(go())

    def flood(self, payload, count):
        """Send `count` copies as fast as the connection takes them (background)."""
        async def go():
            for ws in list(self.clients):
                for _ in range(count):
                    try:
                        await ws.send(payload)
                    except websockets.ConnectionClosed:
                        return
        return asyncio.run_coroutine_threadsafe(go(), self.loop)

    def connected(self):
        return len(self.clients)

    # -- one path (one peer) of the server -------------------------------------

    def got(self, path):
        """The messages received on path so far."""
        with self._lock:
            return list(self._path(path)["got"])

    def live(self, path):
        """How many connections on path are open."""
        with self._lock:
            return len(self._path(path)["live"])

    def connect_count(self, path):
        """How many connections path has had."""
        with self._lock:
            return self._path(path)["connects"]

    def push(self, path, msg):
        """Send msg on every open connection of path; returns how many."""
        async def go():
            with self._lock:
                conns = list(self._path(path)["live"])
            for ws in conns:
                try:
                    await ws.send(msg)
                except websockets.ConnectionClosed:
                    pass
            return len(conns)
        return self._call(go())

    def drop(self, path, code=1001, reason="test drops the connection"):
        """Close path's connections from the server side."""
        async def go():
            with self._lock:
                conns = list(self._path(path)["live"])
            for ws in conns:
                await ws.close(code, reason)
        self._call(go())

    def next_received(self, timeout=5.0):
        try:
            return self.received.get(timeout=t(timeout))
        except _queue.Empty:
            raise AssertionError("the websocket server received nothing")

    def next_close(self, timeout=5.0):
        try:
            return self.close_codes.get(timeout=t(timeout))
        except _queue.Empty:
            raise AssertionError("no connection closed on the websocket server")

    def stop(self):
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(t(10))


class RawWSServer:
    """A raw TCP server that completes the WebSocket handshake, then stays
    silent: it never answers pings and (read=False) never reads, so the
    peer's keepalive fires and its writes back up."""

    GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, read=False):
        self.read = read
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.n_connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "ws://127.0.0.1:%d/" % self.port

    def _run(self):
        self.lsock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                c.settimeout(5)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = c.recv(4096)
                    if not d:
                        raise OSError("closed")
                    buf += d
                key = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", buf).group(1)
                acc = base64.b64encode(hashlib.sha1(key + self.GUID).digest())
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
                if not self.read:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                self.conns.append(c)
                self.n_connections += 1
            except OSError:
                c.close()

    def stop(self):
        self._stop = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.lsock.close()


# ---- child processes ----------------------------------------------------------

def run_cmd(cmd, env=None, timeout=30, input=None):
    """Run a command to completion (text); env is added to os.environ.
    Returns the CompletedProcess."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(cmd, env=full, capture_output=True, text=True,
                          timeout=t(timeout), input=input)


class Lines:
    """A child's stdout, read line by line on a thread. .all keeps every
    line taken so far; peek() takes what has arrived, wait() one matching
    line, drain() everything up to EOF."""

    def __init__(self, proc):
        self.proc = proc
        self.q = _queue.Queue()
        self.all = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.q.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.q.put(None)

    def _take(self, timeout):
        """Move one line into .all: True; None if none came within timeout
        (None: do not wait); False at EOF."""
        try:
            line = self.q.get(timeout=timeout) if timeout else self.q.get_nowait()
        except _queue.Empty:
            return None
        if line is None:
            self.q.put(None)  # EOF stays visible to the next call
            return False
        self.all.append(line)
        return True

    def peek(self):
        """Move whatever has arrived into .all; returns the new lines."""
        n = len(self.all)
        while self._take(None):
            pass
        return self.all[n:]

    def wait(self, pred, timeout=5.0, what="a line", required=True):
        """A line matching pred, among those taken or the next ones; on
        timeout or EOF fail, or return None if not required."""
        for line in self.all:
            if pred(line):
                return line
        deadline = time.monotonic() + t(timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._take(left):
                break
            if pred(self.all[-1]):
                return self.all[-1]
        if not required:
            return None
        raise AssertionError("timed out waiting for %s; output so far:\n%s" %
                             (what, "\n".join(self.all[-40:])))

    def drain(self, timeout=5.0):
        """Everything up to EOF (or the timeout); returns .all."""
        deadline = time.monotonic() + t(timeout)
        while time.monotonic() < deadline:
            if self._take(0.1) is False:
                break
        return self.all


# ---- running a test file -------------------------------------------------------

class Skip(Exception):
    """Raised by a test that cannot run here (a tool Debian does not
    package); the message says why."""


def run(tests, fixture=None):
    """Run each test function (or those named on the command line), print a
    line per test and a closing "N passed, N failed, N skipped"; exit 1 on
    any failure, else 77 (the SKIP_RETURN_CODE tests/CMakeLists.txt sets,
    so ctest's summary shows it) when a test was skipped, else 0.

    fixture: a callable returning a context manager whose value every test
    takes as its argument (one bridge shared by a file's tests); it is set
    up once, and a failure to set it up or tear it down is a failure."""
    only = sys.argv[1:]
    chosen = [fn for fn in tests if not only or fn.__name__ in only]
    passed = failed = skipped = 0

    def one(fn, *args):
        nonlocal passed, failed, skipped
        t0 = time.monotonic()
        try:
            fn(*args)
            passed += 1
            print("ok   %-40s %.2fs" % (fn.__name__, time.monotonic() - t0), flush=True)
        except Skip as e:
            skipped += 1
            print("skip %-40s %s" % (fn.__name__, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %-40s %.2fs" % (fn.__name__, time.monotonic() - t0), flush=True)
            traceback.print_exc()

    try:
        if fixture is None:
            for fn in chosen:
                one(fn)
        else:
            with fixture() as fx:
                for fn in chosen:
                    one(fn, fx)
    except Exception:
        failed += 1
        print("FAIL %-40s" % "(fixture)", flush=True)
        traceback.print_exc()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    sys.exit(1 if failed else 77 if skipped else 0)
