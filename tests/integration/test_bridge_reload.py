"""SIGHUP reloads beyond the basic diff of test_bridge_lifecycle.py:

- a changed `pool` section reconnects every file peer that inherits the
  changed key, and only those;
- two reloads in quick succession that change the same peer twice end
  with the newest configuration, and a later reload that removes the peer
  does not bring an older configuration back (one pending reconnect per
  id, cancelled on removal);
- a file peer whose connect failed (fd_limit near RLIMIT_NOFILE) is not
  taken for a file peer: a later reload with the same entry connects it;
- a key read only at start-up (bridge.max_handshakes, log.level: the
  schema table's restart column) is named in a warning, and the reload
  applies the rest;
- a control `connect` after a reload inherits the reloaded `pool` section
  (its options merge into it), and a peer connected over control before
  the reload keeps what it had;
- a file peer whose id a control `connect` or `remove` took is left to
  control: a reload neither removes it (the file dropped it) nor adds it
  back (the file kept the same entry); a changed entry adds it again;
- a reload of a valid file logs no ERROR line (test_bridge_curve.py checks
  the same with bridge.curve).
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402


def reloads_done(b):
    """How many reloads the daemon finished (its summary log line)."""
    return b.stderr().count("unchanged,")


def error_lines(b):
    """The daemon's ERROR records (text format: "<ts> ERROR ...")."""
    return [ln for ln in b.stderr().splitlines() if ln.split(" ", 2)[1:2] == ["ERROR"]]


def reload(b, cfg):
    n = reloads_done(b)
    b.write_config(cfg)
    b.signal(signal.SIGHUP)
    H.wait_for(lambda: reloads_done(b) > n, 10, "the reload")


def test_pool_section_change():
    s1, s2, s3 = H.WSServer(), H.WSServer(), H.WSServer()
    try:
        peers = [{"id": "inh1", "url": s1.url}, {"id": "inh2", "url": s2.url},
                 {"id": "own", "url": s3.url, "send_queue": 5}]
        with H.Bridge(peers=peers, pool={"send_queue": 10}) as b:
            for p in ("inh1", "inh2", "own"):
                b.wait_state(p, "connected")
            ev = b.events()
            own_conns = s3.n_connections
            cfg = dict(b.cfg)
            cfg["pool"] = {"send_queue": 20}
            reload(b, cfg)
            for p in ("inh1", "inh2"):
                ev.expect("removed", p, timeout=10)
                ev.expect("connected", p, timeout=10)
            # The peer that sets the key itself is not touched.
            assert s3.n_connections == own_conns
            assert not any(e["id"] == "own" for e in ev.seen), ev.seen
            peers = b.list()
            assert peers["own"]["conn"] == 1, peers
            assert b.ok({"op": "stats", "id": "own"})["state"] == "connected"
            # The daemon took the new section as the file's state: the same
            # file again changes nothing.
            reload(b, cfg)
            last = [ln for ln in b.stderr().splitlines() if "unchanged," in ln][-1]
            assert "0 changed, 3 unchanged" in last, last
            ev.close()
    finally:
        for s in (s1, s2, s3):
            s.stop()


def test_two_quick_reloads():
    s1, s2, s3 = H.WSServer(), H.WSServer(), H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "a", "url": s1.url}]) as b:
            b.wait_state("a", "connected")
            cfg = dict(b.cfg)
            # Two changes of `a`, the second right after the first reload
            # (its reconnect may still be pending).
            reload(b, dict(cfg, peers=[{"id": "a", "url": s2.url}]))
            reload(b, dict(cfg, peers=[{"id": "a", "url": s3.url}]))
            H.wait_for(lambda: (b.list().get("a") or {}).get("url") == s3.url
                       and b.peer_state("a") == "connected", 10,
                       "`a` connected with the newest url")
            H.wait_for(lambda: s3.connected() == 1, 5, "the newest server's connection")
            s2_conns = s2.n_connections
            # A reload that removes `a`: nothing pending may bring it back.
            ev = b.events()
            reload(b, dict(cfg, peers=[]))
            ev.expect("removed", "a", timeout=10)
            time.sleep(H.t(1))  # a stale reconnect would come within 50 ms
            assert "a" not in b.list(), b.list()
            assert not any(e["kind"] == "added" and e["id"] == "a" for e in ev.seen), ev.seen
            assert s2.n_connections == s2_conns
            ev.close()
    finally:
        for s in (s1, s2, s3):
            s.stop()


def test_failed_connect_retried():
    dead = "ws://127.0.0.1:%d/" % H.free_port()
    opts = {"reconnect": {"initial_delay": "60s"}}  # idle in `waiting`, no fd held
    peers = [dict({"id": "p%02d" % i, "url": dead}, **opts) for i in range(50)]
    # 128 descriptors: the pool keeps 64 spare and counts one per peer, so
    # only the first few dozen peers fit; the rest fail with fd_limit.
    with H.Bridge(peers=peers, nofile=128, http=False) as b:
        H.wait_for(lambda: "fd_limit" in b.stderr() or "open file limit" in b.stderr(), 10,
                   "some peers to fail with fd_limit")
        up = set(b.list())
        failed = [p for p in peers if p["id"] not in up]
        assert up and failed, (len(up), len(failed))
        # Remove every peer that is up; keep the failed ones, unchanged.
        ev = b.events()
        cfg = dict(b.cfg)
        reload(b, dict(cfg, peers=failed))
        for pid in sorted(up):
            ev.expect("removed", pid, timeout=10)
        H.wait_for(lambda: not (set(b.list()) & up), 10, "the removals")
        # The same file again: the failed peers are added now that there
        # is room (they were never file peers).
        reload(b, dict(cfg, peers=failed))
        want = {p["id"] for p in failed}
        H.wait_for(lambda: set(b.list()) == want, 10, "the failed peers to be added")
        ev.close()


def test_restart_only_keys():
    s1 = H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "a", "url": s1.url}]) as b:
            b.wait_state("a", "connected")
            cfg = dict(b.cfg)
            cfg["bridge"] = dict(cfg["bridge"], max_handshakes=3)
            cfg["log"] = {"level": "info"}
            cfg["peers"] = [{"id": "a", "url": s1.url}, {"id": "b", "url": s1.url}]
            reload(b, cfg)
            warn = [ln for ln in b.stderr().splitlines() if "only read at start-up" in ln]
            assert len(warn) == 1, b.stderr()[-3000:]
            assert "reload: bridge.max_handshakes, log.level changed" in warn[0], warn
            # The rest of the file is applied; the log level is not (still debug).
            b.wait_state("b", "connected")
            assert "DEBUG [peer=b] added" in b.stderr(), b.stderr()[-3000:]
    finally:
        s1.stop()


def test_valid_reload_no_error():
    """A reload of a valid file, changed or not, is no error: without
    bridge.curve the bridge has no ZAP handler to hand client keys to,
    which is not worth a line (it used to log "reload: <garbage>; keeping
    the running client keys" at every SIGHUP)."""
    s1 = H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "a", "url": s1.url}]) as b:
            b.wait_state("a", "connected")
            cfg = dict(b.cfg)
            reload(b, cfg)
            reload(b, dict(cfg, peers=[{"id": "a", "url": s1.url}, {"id": "b", "url": s1.url}]))
            b.wait_state("b", "connected")
            assert error_lines(b) == [], error_lines(b)
            assert "client keys" not in b.stderr(), b.stderr()[-3000:]
    finally:
        s1.stop()


def test_control_connect_inherits_reloaded_pool():
    # pool.keepalive.app_ping is what a peer writes every ping_interval:
    # the server sees which `pool` section a peer inherited.
    def pool(text):
        return {"keepalive": {"ping_interval": "100ms", "app_ping": text}}

    ws = H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "file", "url": ws.url_of("file")}], pool=pool("v1")) as b:
            b.wait_state("file", "connected")
            b.ok({"op": "connect", "id": "before", "url": ws.url_of("before")})
            H.wait_for(lambda: "v1" in ws.got("before"), 5, "`before` to send the v1 ping")
            reload(b, dict(b.cfg, pool=pool("v2")))
            # Without options: the reloaded section.
            b.ok({"op": "connect", "id": "after", "url": ws.url_of("after")})
            # With options: merged key by key into the reloaded section.
            b.ok({"op": "connect", "id": "opts", "url": ws.url_of("opts"),
                  "options": {"keepalive": {"ping_interval": "150ms"}}})
            H.wait_for(lambda: "v2" in ws.got("after") and "v2" in ws.got("opts"), 5,
                       "the peers connected after the reload to send the v2 ping")
            H.wait_for(lambda: "v2" in ws.got("file"), 5, "the file peer reconnected with v2")
            assert set(ws.got("after")) == {"v2"}, ws.got("after")
            assert set(ws.got("opts")) == {"v2"}, ws.got("opts")
            # A peer added over control before is left alone by the reload.
            assert set(ws.got("before")) == {"v1"}, ws.got("before")
            assert ws.connect_count("before") == 1
    finally:
        ws.stop()


def test_control_takes_file_peer_id():
    ws = H.WSServer()
    try:
        url = ws.url_of
        peers = [{"id": "a", "url": url("a")}, {"id": "b", "url": url("b")},
                 {"id": "c", "url": url("c")}, {"id": "d", "url": url("d")}]
        with H.Bridge(peers=peers) as b:
            for p in "abcd":
                b.wait_state(p, "connected")
            ev = b.events()
            # a: removed over control, then added over control at another
            # URL; d: the same at the same URL; c: removed over control.
            for p in "acd":
                b.ok({"op": "remove", "id": p})
                ev.expect("removed", p, timeout=10)
            b.ok({"op": "connect", "id": "a", "url": url("a2")})
            b.ok({"op": "connect", "id": "d", "url": url("d")})
            ev.expect("connected", "a", timeout=10, url=url("a2"))
            ev.expect("connected", "d", timeout=10)
            ev.pending = []  # the removes' disconnected events and the like
            # The server counts a connection in its own thread, which can
            # come after the bridge's `connected` (seen under TSan): d's
            # file connection and control's.
            H.wait_for(lambda: ws.connect_count("d") == 2, 10, "the server to count d twice")
            d_conns = ws.connect_count("d")

            def quiet(ids, secs=0.5):
                e = ev.next(lambda e: e["id"] in ids, timeout=secs, fail=False)
                assert e is None, e

            # The same file: c stays removed (its entry did not change), a
            # and d stay control's.
            reload(b, dict(b.cfg))
            quiet("acd")
            peers = b.list()
            assert "c" not in peers, peers
            assert peers["a"]["url"] == url("a2") and peers["a"]["conn"] == 1, peers
            # A file without a, c and d (and without b, whose removal marks
            # when the reload's events are out): the control peers stay.
            reload(b, dict(b.cfg, peers=[]))
            ev.expect("removed", "b", timeout=10)
            quiet("acd")
            peers = b.list()
            assert set(peers) == {"a", "d"}, peers
            assert peers["a"]["state"] == "connected" and peers["a"]["url"] == url("a2"), peers
            assert peers["d"]["state"] == "connected" and peers["d"]["conn"] == 1, peers
            assert ws.connect_count("d") == d_conns
            # The entries back, c's changed: c is added again; a and d are
            # held by control peers (not adopted: a later file without them
            # leaves them alone).
            reload(b, dict(b.cfg, peers=[peers_a := {"id": "a", "url": url("a")},
                                         {"id": "c", "url": url("c"), "send_queue": 7},
                                         {"id": "d", "url": url("d")}]))
            ev.expect("connected", "c", timeout=10)
            assert "a peer with this id exists" in b.stderr()
            reload(b, dict(b.cfg, peers=[]))
            ev.expect("removed", "c", timeout=10)
            quiet("ad")
            assert set(b.list()) == {"a", "d"}, b.list()
            assert peers_a["url"] != b.list()["a"]["url"]
            ev.close()
    finally:
        ws.stop()


if __name__ == "__main__":
    H.run([test_pool_section_change, test_two_quick_reloads, test_failed_connect_retried,
           test_restart_only_keys, test_valid_reload_no_error,
           test_control_connect_inherits_reloaded_pool, test_control_takes_file_peer_id])
