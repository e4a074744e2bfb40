"""The outbound allow-list (issue 11, finding 5): pool.allow limits what
peers may dial, from the file (--check names the peer) and from control
connect (not_allowed); pool.allow_private: false refuses loopback,
private and link-local hosts in a connect, and a name that resolves only
to such addresses fails at dial (dial_failed); neither can be overridden
by a peer or a connect's options; a reload applies new rules.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

DEAD = "ws://127.0.0.1:%d/" % H.free_port()
SLOW = {"reconnect": {"initial_delay": "30s"}}


def check(cfg):
    d = tempfile.mkdtemp(prefix="hbtest-allow-")
    path = os.path.join(d, "c.yaml")
    with open(path, "w") as f:
        f.write(H.to_yaml(cfg))
    r = subprocess.run([H.BRIDGE, "-c", path, "--check"], capture_output=True, text=True,
                       timeout=H.t(20))
    return r.returncode, r.stderr


def refused(r, code="not_allowed"):
    assert not r["ok"] and r["error"] == code, r
    return r


def test_check_names_the_peer():
    rc, err = check({"pool": {"allow": ["wss://*.example.com", "ws://127.0.0.1:*"]},
                     "peers": [{"id": "ok", "url": "wss://relay.example.com/"},
                               {"id": "local", "url": "ws://127.0.0.1:9/"},
                               {"id": "bad", "url": "wss://evil.example.org/"},
                               {"id": "apex", "url": "wss://example.com/"}]})
    assert rc == 2, err
    assert "peers[2].url: wss://evil.example.org/ is not allowed by pool.allow" in err, err
    assert "peers[3].url" in err and "peers[0].url" not in err and "peers[1]" not in err, err
    rc, err = check({"pool": {"allow": ["not a rule"]}})
    assert rc == 2 and "pool.allow" in err, err
    # Pool-wide: a peer cannot widen it.
    rc, err = check({"pool": {"allow": ["wss://a.example.com"]},
                     "peers": [{"id": "p", "url": "wss://a.example.com/", "allow": ["*"]}]})
    assert rc == 2 and "peers[0].allow" in err and "pool-wide" in err, err


def test_connect_not_allowed():
    with H.Bridge(pool=dict(SLOW, allow=["ws://127.0.0.1:*", "wss://*.example.com:443",
                                         "ws://10.0.0.0/8"])) as b:
        b.ok({"op": "connect", "id": "in", "url": DEAD})
        refused(b.request({"op": "connect", "id": "out", "url": "ws://127.0.0.2:80/"}))
        refused(b.request({"op": "connect", "id": "out", "url": "wss://example.com/"}))
        refused(b.request({"op": "connect", "id": "out", "url": "wss://x.example.com:8443/"}))
        refused(b.request({"op": "connect", "id": "out", "url": "ws://11.0.0.1/"}))
        b.ok({"op": "connect", "id": "net", "url": "ws://10.1.2.3:9/"})
        b.request({"op": "remove", "id": "net"})
        # The options of a connect cannot widen the list.
        r = b.request({"op": "connect", "id": "wide", "url": "ws://8.8.8.8/",
                       "options": {"allow": ["*"]}})
        assert not r["ok"] and r["error"] in ("invalid_option", "not_allowed"), r
        assert b.peer_state("out") is None and b.peer_state("wide") is None
        assert ('WARN control socket: refused: {"ok":false,"error":"not_allowed",'
                '"message":"url is outside pool.allow"}') in b.stderr()


def test_allow_private_false():
    with H.Bridge(pool=dict(SLOW, allow_private=False)) as b:
        for url in ("ws://127.0.0.1:9/", "ws://localhost/", "ws://a.localhost./",
                    "ws://2130706433/", "ws://0x7f.1/", "ws://0177.0.0.1/", "ws://0.0.0.0/",
                    "ws://10.1.2.3/", "ws://172.16.0.1/", "ws://192.168.1.1/",
                    "ws://169.254.169.254/latest/meta-data/", "ws://100.64.0.1/",
                    "ws://[::1]/", "ws://[::ffff:127.0.0.1]/", "ws://[fd00:ec2::254]/",
                    "ws://[fe80::1]/", "ws://[::]/"):
            r = refused(b.request({"op": "connect", "id": "x", "url": url}))
            assert "private" in r["message"], r
        # A public address is not refused (it is dialled; nothing listens).
        b.ok({"op": "connect", "id": "pub", "url": "ws://192.0.2.1:9/"})


def loopback_name():
    """A host name (not "localhost", which the written check catches) whose
    every address is loopback here: this machine's name (in /etc/hosts as
    127.0.0.1 on Debian and in containers). None if there is none."""
    for name in (socket.gethostname(), "vm"):
        if not name or name.lower().rstrip(".") == "localhost" or name.endswith(".localhost"):
            continue
        try:
            addrs = {ai[4][0] for ai in socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)}
        except OSError:
            continue
        if addrs and all(a.startswith("127.") or a == "::1" for a in addrs):
            return name
    return None


def test_allow_private_false_checks_names_after_dns():
    """A name that resolves to 127.0.0.1 passes the connect (names are
    not resolved there) and fails at dial, with the reason in dial_failed
    and the log, and the server never sees it; with allow_private: true
    (the default) the same URL connects."""
    name = loopback_name()
    if not name:
        raise H.Skip("no host name resolves to loopback only here (/etc/hosts)")
    ws = H.WSServer()
    try:
        url = "ws://%s:%d/n" % (name, ws.port)
        fpeer = [{"id": "f", "url": "ws://%s:%d/f" % (name, ws.port)}]
        with H.Bridge(pool=dict(SLOW, allow_private=False), peers=fpeer,
                      log={"level": "info"}) as b:
            ev = b.events()
            b.ok({"op": "connect", "id": "n", "url": url})
            e = ev.expect("dial_failed", "n", timeout=10)
            assert "loopback, private or link-local" in e["error"], e
            assert "every address of %s" % name in e["error"], e
            assert ws.connect_count("/n") == 0
            assert b.peer_state("n") in ("waiting", "connecting"), b.peer_state("n")
            assert "every address of %s is loopback" % name in b.stderr()
            # A peer of the file is not affected (allow_private applies to
            # control connects only).
            b.wait_state("f", "connected")
        with H.Bridge(pool=SLOW) as b:
            b.ok({"op": "connect", "id": "n", "url": url})
            b.wait_state("n", "connected")
            # The server counts in its own thread, possibly after the
            # bridge saw the 101 (seen under TSan).
            H.wait_for(lambda: ws.connect_count("/n") == 1, 10, "the server to count n")
    finally:
        ws.stop()


def test_reload_applies_new_rules():
    ws = H.WSServer()
    try:
        with H.Bridge(pool=SLOW, peers=[{"id": "f", "url": ws.url_of("f")}],
                      log={"level": "info"}) as b:
            b.ok({"op": "connect", "id": "a", "url": DEAD})
            b.cfg["pool"] = dict(SLOW, allow=["ws://127.0.0.1:%d" % ws.port])
            b.write_config()
            b.signal(signal.SIGHUP)
            H.wait_for(lambda: "reload" in b.stderr() and " unchanged," in b.stderr(), 10,
                       "the reload")
            refused(b.request({"op": "connect", "id": "b", "url": DEAD}))
            b.ok({"op": "connect", "id": "c", "url": ws.url_of("c")})
            # A reload whose file breaks the new rules keeps the running set.
            b.cfg["peers"].append({"id": "g", "url": DEAD})
            b.write_config()
            b.signal(signal.SIGHUP)
            H.wait_for(lambda: "is not allowed by pool.allow" in b.stderr(), 10, "refusal")
            assert b.peer_state("g") is None
    finally:
        ws.stop()


if __name__ == "__main__":
    H.run([test_check_names_the_peer, test_connect_not_allowed, test_allow_private_false,
           test_allow_private_false_checks_names_after_dns, test_reload_applies_new_rules])
