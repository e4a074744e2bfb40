"""The daemon's lifecycle: SIGTERM drain, SIGHUP diff reload, /healthz,
/readyz and /metrics, endpoints that cannot be bound, exit codes.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402


def test_sigterm_drain():
    srv = H.WSServer()
    try:
        b = H.Bridge(peers=[{"id": "a", "url": srv.url}])
        b.start()
        b.wait_state("a", "connected")
        ev = b.events()
        # Sends read before the signal are still written.
        for i in range(20):
            b.push("a", "last-%d" % i)
        def all_read():  # the bridge read all 20 (queued or written)
            st = b.ok({"op": "stats", "id": "a"})
            return st["messages_sent_total"] + st["send_queue_depth"] == 20
        H.wait_for(all_read, 5, "the bridge to read the sends")
        b.signal(signal.SIGTERM)
        e = ev.expect("disconnected", "a", timeout=10)
        assert e["reason"] == "shutdown" and e["code"] == 1001, e
        e = ev.expect("removed", "a", timeout=10)
        assert e["reason"] == "shutdown", e
        assert b.wait_exit() == 0, b.stderr()
        # The server's thread may still be recording: read with deadlines.
        got = [srv.next_received()[1] for _ in range(20)]
        assert got == ["last-%d" % i for i in range(20)], got
        assert srv.received.empty(), srv.received.get()
        idx, code, _ = srv.next_close()
        assert code == 1001, code
        b.stop()
        ev.close()
    finally:
        srv.stop()


def test_shutdown_window():
    """During the drain: /readyz 503, connect/remove/send shutting_down,
    list/stats/ping still answered. A peer that never reads keeps the drain
    busy until drain_timeout."""
    raw = H.RawWSServer(read=False)
    try:
        # The checks below run inside the drain window: scale it.
        b = H.Bridge(peers=[{"id": "slow", "url": raw.url}],
                     bridge={"drain_timeout": "%dms" % int(H.t(5) * 1000)},
                     pool={"keepalive": {"ping_interval": "0", "timeout": "0"}})
        b.start()
        b.wait_state("slow", "connected")
        assert b.http("/readyz")[0] == 200
        big = "x" * (1 << 20)
        for _ in range(40):  # far more than the socket buffers hold
            b.push("slow", big)
        H.wait_for(lambda: b.ok({"op": "stats", "id": "slow"})["send_queue_depth"] > 0, 5,
                   "the queue to back up")
        ev = b.events()
        b.signal(signal.SIGTERM)
        H.wait_for(lambda: b.http("/readyz")[0] == 503, 2, "/readyz 503")
        for req in ({"op": "connect", "id": "n", "url": raw.url},
                    {"op": "remove", "id": "slow"},
                    {"op": "send", "id": "slow", "data": "x"}):
            r = b.request(req)
            assert r["ok"] is False and r["error"] == "shutting_down", (req, r)
        assert b.request({"op": "ping"}) == {"ok": True}
        assert "slow" in b.list()
        assert b.ok({"op": "stats"})["ok"]
        e = ev.expect("send_failed", "slow", timeout=10, reason="not_connected")
        ev.expect("removed", "slow", timeout=10, reason="shutdown")
        assert b.wait_exit() == 0
        b.stop()
        ev.close()
    finally:
        raw.stop()


def test_drain_timeout_zero_flushes():
    """drain_timeout 0 still leaves the sockets a linger floor (250 ms) to
    flush the final events: with a subscriber whose backlog is still in the
    bridge's ZeroMQ pipe at exit, closing waits for it (up to the linger)
    instead of discarding it at once, as a linger of 0 would."""
    srv = H.WSServer()
    try:
        peers = [{"id": "z%d" % i, "url": srv.url} for i in range(3)]
        b = H.Bridge(peers=peers, bridge={"drain_timeout": "0"}, log={"level": "info"})
        b.start()
        for p in peers:
            b.wait_state(p["id"], "connected")
        # A subscriber that never reads, with tiny kernel buffers: what the
        # kernel cannot hold waits in the bridge's pipe (events_hwm 100000).
        s = b.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVBUF, 4096)
        s.setsockopt(zmq.RCVHWM, 10)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(b.endpoints["events"])
        late = H.Events(s)
        H.wait_for(lambda: (b.push("probe-late", "x"),
                            late.next(lambda e: e["id"] == "probe-late", 0.2, False))[1],
                   10, "the late subscription")
        # ~9 MB of send_failed events: more than the kernel's buffers hold.
        key = 'honeybee_send_failed_total{reason="unknown_peer"}'
        base = b.metrics()[key]  # the probes
        for i in range(30000):
            b.push("ghost-%05d-" % i + "g" * 110, "x")
        H.wait_for(lambda: b.metrics()[key] == base + 30000, 30, "the backlog to be published")
        b.signal(signal.SIGTERM)
        assert b.wait_exit() == 0, b.stderr()
        b.stop()
        late.close()
        import re
        m = re.search(r"shutdown complete in (\d+) ms", b.stderr())
        assert m, b.stderr()[-2000:]
        # The linger (250 ms) was spent trying to flush; not more than the
        # 2 s cap either.
        assert 200 <= int(m.group(1)) < H.t(5) * 1000, m.group(0)
    finally:
        srv.stop()


def test_sighup_reload():
    keep, change, gone, new = H.WSServer(), H.WSServer(), H.WSServer(), H.WSServer()
    try:
        peers = [{"id": "keep", "url": keep.url}, {"id": "change", "url": change.url},
                 {"id": "gone", "url": gone.url}]
        with H.Bridge(peers=peers) as b:
            for p in ("keep", "change", "gone"):
                b.wait_state(p, "connected")
            b.ok({"op": "connect", "id": "ctl", "url": keep.url})  # not from the file
            b.wait_state("ctl", "connected")
            ev = b.events()
            conns = keep.n_connections
            cfg = dict(b.cfg)
            cfg["peers"] = [{"id": "keep", "url": keep.url},
                            {"id": "change", "url": change.url, "headers": {"X-V": "2"}},
                            {"id": "new", "url": new.url}]
            b.write_config(cfg)
            b.signal(signal.SIGHUP)
            ev.expect("removed", "gone", timeout=10)
            ev.expect("connected", "new", timeout=10)
            ev.expect("removed", "change", timeout=10)
            ev.expect("connected", "change", timeout=10)
            kinds = [(e["kind"], e["id"]) for e in ev.seen]
            assert kinds.index(("removed", "change")) < kinds.index(("added", "change")), kinds
            peers = b.list()
            assert set(peers) == {"keep", "change", "new", "ctl"}, peers
            assert not any(e["id"] in ("keep", "ctl") for e in ev.seen), ev.seen
            assert keep.n_connections == conns  # untouched
            assert peers["keep"]["conn"] == 1 and peers["ctl"]["conn"] == 1, peers
            assert peers["change"]["conn"] == 1, peers  # a new peer: conn restarts
            # (The server records the headers just after the handshake.)
            H.wait_for(lambda: change.headers[-1].get("x-v") == "2", 5,
                       "the changed peer's new header")
            # bridge/log changes need a restart: a warning, peers untouched.
            cfg2 = dict(cfg)
            cfg2["bridge"] = dict(cfg["bridge"], inbox_hwm=7)
            b.write_config(cfg2)
            b.signal(signal.SIGHUP)
            H.wait_for(lambda: "bridge.inbox_hwm changed" in b.stderr(), 5, "the warning")
            assert set(b.list()) == {"keep", "change", "new", "ctl"}
            # An invalid file is logged and ignored.
            with open(b.path, "w") as f:
                f.write("peers: [ {id: x\n")
            b.signal(signal.SIGHUP)
            H.wait_for(lambda: "invalid configuration" in b.stderr(), 5, "the reload error")
            assert set(b.list()) == {"keep", "change", "new", "ctl"}
            assert b.request({"op": "ping"})["ok"]
            ev.close()
    finally:
        for s in (keep, change, gone, new):
            s.stop()


def test_http_endpoints():
    srv = H.WSServer()
    try:
        with H.Bridge(peers=[{"id": 'we"ird', "url": srv.url}]) as b:
            assert b.http("/healthz") == (200, "ok\n")
            assert b.http("/readyz")[0] == 200
            assert b.http("/nope")[0] == 404
            b.wait_state('we"ird', "connected")
            srv.send_all("m")
            H.wait_for(lambda: b.metrics().get("honeybee_messages_received_total") == 1, 5,
                       "metrics")
            m = b.metrics()
            assert m['honeybee_peers{state="connected"}'] == 1, m
            assert m['honeybee_peers{peer="we\\"ird",state="connected"}'] == 1, m
            assert m['honeybee_peers{peer="we\\"ird",state="waiting"}'] == 0, m
            assert m['honeybee_messages_received_total{peer="we\\"ird"}'] == 1
            assert m['honeybee_bytes_received_total'] == 1
            for fam in ("honeybee_messages_sent_total", "honeybee_bytes_sent_total",
                        "honeybee_reconnects_total"):
                assert fam in m and (fam + '{peer="we\\"ird"}') in m, fam
            for r in ("unknown_peer", "not_connected", "queue_full", "too_large",
                      "bad_request"):
                assert 'honeybee_send_failed_total{reason="%s"}' % r in m
            assert 'honeybee_send_failed_total{peer="we\\"ird",reason="unknown_peer"}' not in m
            st, body = b.http("/metrics")
            assert "# TYPE honeybee_messages_received_total counter" in body
            # A body of many chunks (the server writes 16 KiB at a time).
            dead = "ws://127.0.0.1:%d/" % H.free_port()
            for i in range(80):
                b.ok({"op": "connect", "id": "peer-%03d" % i, "url": dead,
                      "options": {"reconnect": {"initial_delay": "30s"}}})
            st, body = b.http("/metrics")
            assert st == 200 and len(body) > 3 * 16384, len(body)
            m = b.metrics()
            for i in range(80):
                assert ('honeybee_bytes_sent_total{peer="peer-%03d"}' % i) in m, i
            assert body.endswith("\n")
    finally:
        srv.stop()


def test_endpoint_in_use():
    def attempt(overrides, blocked):
        b = H.Bridge(bridge=overrides)
        b.start(wait=False)
        assert b.wait_exit() == 1, b.stderr()
        err = b.stderr()
        assert "in use" in err.lower(), err
        return blocked in err, err

    ctx = zmq.Context.instance()
    for _ in range(3):  # another parallel test may take one of our free ports
        blocker = ctx.socket(zmq.PUB)
        port = H.free_port()
        blocker.bind("tcp://127.0.0.1:%d" % port)
        try:
            ep = "tcp://127.0.0.1:%d" % port
            named, err = attempt({"events": ep}, ep)
        finally:
            blocker.close(0)
        if named:
            assert "cannot bind events endpoint " + ep in err, err
            break
    else:
        raise AssertionError("never named the blocked endpoint: " + err)
    # The HTTP port too.
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        try:
            hp = "127.0.0.1:%d" % s.getsockname()[1]
            named, err = attempt({"http": hp}, hp)
        finally:
            s.close()
        if named:
            assert "http" in err, err
            break
    else:
        raise AssertionError("never named the blocked http address: " + err)


def test_exit_codes():
    b = H.Bridge()
    with open(b.path, "w") as f:
        f.write("bridge:\n  inbox_hwm: -5\n")
    r = subprocess.run([H.BRIDGE, "-c", b.path], capture_output=True, timeout=H.t(10))
    assert r.returncode == 2, r
    r = subprocess.run([H.BRIDGE, "--no-such-flag"], capture_output=True, timeout=H.t(10))
    assert r.returncode == 2, r


def test_json_logs():
    srv = H.WSServer()
    try:
        b = H.Bridge(peers=[{"id": "j", "url": srv.url}], log={"level": "info", "format": "json"})
        with b:
            b.wait_state("j", "connected")
        import json
        lines = [json.loads(line) for line in b.stderr().splitlines() if line.strip()]
        assert lines, "no log lines"
        assert any(rec.get("peer") == "j" for rec in lines), lines
    finally:
        srv.stop()


def test_env_overrides():
    ep = "tcp://127.0.0.1:%d" % H.free_port()
    b = H.Bridge(env={"HONEYBEE_CONTROL": ep, "HONEYBEE_LOG_FORMAT": "json"})
    b.endpoints["control"] = ep  # the file says otherwise; the environment wins
    with b:
        assert b.request({"op": "ping"}) == {"ok": True}
    import json
    assert all(json.loads(line)["msg"] for line in b.stderr().splitlines() if line.strip())


if __name__ == "__main__":
    H.run([test_sigterm_drain, test_shutdown_window, test_drain_timeout_zero_flushes,
           test_sighup_reload, test_http_endpoints,
           test_endpoint_in_use, test_exit_codes, test_json_logs, test_env_overrides])
