"""hbpeers: bridge-side helpers shared by the hostile-peer matrix, the
peer-side fuzzer and the conformance suite (built on hbtest's public API:
Bridge, Events, recv_inbox, t, wait_for).

- InboxCollector: a thread that owns one inbox SUB socket and files every
  message by (peer id, conn), so checks never race the publisher;
- live_subscriptions: makes sure the inbox and events subscriptions have
  reached the bridge (ZeroMQ's slow joiner) before a test adds its peers;
- valgrind: HB_BRIDGE may point at tests/integration/valgrind-bridge.sh
  (ctest's valgrind entries do that), which runs the real daemon
  (HB_VG_BRIDGE) under memcheck with --error-exitcode=99. finish() stops
  the bridge and fails with valgrind's own report when it found anything.
"""

import os
import re
import threading
import time

import zmq

import hbtest as H
import wsraw as W

VALGRIND = os.environ.get("HB_VALGRIND", "") == "1"


class InboxCollector:
    """Every inbox message, filed by peer id and conn: msgs[(pid, conn)] is
    a list of (binary, payload, meta) in arrival order."""

    def __init__(self, bridge):
        self.endpoint = bridge.endpoints["inbox"]
        self.ctx = bridge.ctx
        self.lock = threading.Lock()
        self.msgs = {}
        self.count = 0
        self.bad = []  # malformed inbox messages (wrong frame count, metadata)
        self._stop = False
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self._ready.wait(10)

    def _run(self):
        s = self.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 0)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(self.endpoint)
        self._ready.set()
        try:
            while not self._stop:
                if not s.poll(100):
                    continue
                frames = s.recv_multipart()
                if len(frames) != 3 or len(frames[2]) != 24:
                    self.bad.append(frames)
                    continue
                meta = H.decode_meta(frames[2])
                pid = frames[0].decode("utf-8", "replace")
                with self.lock:
                    self.msgs.setdefault((pid, meta["conn"]), []).append(
                        (meta["binary"], frames[1], meta))
                    self.count += 1
        finally:
            s.close(0)

    def get(self, pid, conn=None):
        """[(binary, payload)] of one peer (one connection, or all)."""
        with self.lock:
            if conn is not None:
                return [(m[0], m[1]) for m in self.msgs.get((pid, conn), [])]
            out = []
            for (p, c) in sorted(k for k in self.msgs if k[0] == pid):
                out += [(m[0], m[1]) for m in self.msgs[(p, c)]]
            return out

    def settled(self, pid, conn, n, timeout=5.0, quiet=0.05):
        """[(binary, payload)] of (pid, conn) once it holds at least n
        messages (or the deadline passed), and nothing more came for
        `quiet` seconds: the collector thread may lag the events socket."""
        deadline = time.monotonic() + H.t(timeout)
        while len(self.get(pid, conn)) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        while True:
            k = len(self.get(pid, conn))
            time.sleep(quiet)
            got = self.get(pid, conn)
            if len(got) == k:
                return got

    def conns(self, pid):
        with self.lock:
            return sorted(c for (p, c) in self.msgs if p == pid)

    def drop(self, pid):
        """Forget a peer's messages (big payloads are not kept for nothing)."""
        with self.lock:
            for k in [k for k in self.msgs if k[0] == pid]:
                del self.msgs[k]

    def stop(self):
        self._stop = True
        self.thread.join(5)


def _probe_script(stop):
    def script(conn):
        conn.upgrade()
        i = 0
        while not stop.is_set() and not conn.eof.is_set():
            conn.send(W.text("probe %d" % i))
            i += 1
            time.sleep(0.05)
        return "probe"
    return script


def live_subscriptions(b, inbox):
    """Events subscriber (live) and an inbox collector proven live by a probe
    peer that is removed again before this returns."""
    ev = b.events()
    stop = threading.Event()
    srv = W.Server(_probe_script(stop))
    try:
        b.ok({"op": "connect", "id": "probe", "url": srv.url})
        H.wait_for(lambda: inbox.get("probe"), 20, "the inbox subscription (probe peer)")
        b.ok({"op": "remove", "id": "probe"})
        ev.expect("removed", "probe", timeout=20)
    finally:
        stop.set()
        srv.stop()
    return ev


def start(b, timeout=20):
    """Start the bridge (Bridge.start: it retries on a port taken meanwhile)
    and give it `timeout` more seconds to answer ping if it is still
    starting (valgrind's start on a loaded machine took 37 s); if it does
    not come up, kill it before failing, so no daemon outlives the test."""
    try:
        try:
            b.start()
        except AssertionError:
            if b.proc is None or b.proc.poll() is not None:
                raise
            b.wait_ready(timeout)
    except BaseException:
        if b.proc is not None and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()
        raise
    return b


def valgrind_report(stderr):
    """valgrind's own lines from the daemon's stderr."""
    return "\n".join(ln for ln in stderr.splitlines() if re.match(r"^==\d+==", ln))


def finish(b):
    """Stop the bridge (SIGTERM, graceful); fail if it did not exit 0, with
    valgrind's report when it ran under valgrind (exit 99: errors)."""
    rc = b.stop()
    if rc != 0:
        err = b.stderr()
        vg = valgrind_report(err)
        raise AssertionError("bridge exit code %s%s\n%s" % (
            rc, " (valgrind found errors)" if rc == 99 else "",
            vg[-12000:] if vg else err[-6000:]))
    if VALGRIND:
        vg = valgrind_report(b.stderr())
        m = re.search(r"ERROR SUMMARY: (\d+) errors", vg)
        assert m, "no valgrind summary in the daemon's stderr:\n" + b.stderr()[-3000:]
        assert m.group(1) == "0", vg[-12000:]
    return rc


def alive(b, timeout=5.0):
    """The daemon runs and answers control ping."""
    if b.proc.poll() is not None:
        raise AssertionError("the bridge died (exit %s):\n%s" % (
            b.proc.returncode, valgrind_report(b.stderr())[-8000:] or b.stderr()[-4000:]))
    r = b.request({"op": "ping"}, timeout=timeout)
    assert r == {"ok": True}, r
    return True


def end_of(e):
    """A disconnected event -> the oracle's form of the end."""
    r = e.get("reason")
    if r == "protocol_error":
        return ("protocol_error", e.get("code"))
    if r == "too_large":
        return ("too_large", e.get("code"))
    if r == "invalid_utf8":
        return ("invalid_utf8", e.get("code"))
    if r == "closed_by_peer":
        return ("closed_by_peer", e.get("code"), (e.get("error") or "").encode())
    if r == "connection_lost":
        return ("incomplete",) if e.get("code") == 1006 else ("connection_lost", e.get("code"))
    return (r, e.get("code"))
