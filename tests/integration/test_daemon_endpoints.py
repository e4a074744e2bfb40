"""Endpoints as --check and the start see them (issue 11, finding 6):
every ZeroMQ endpoint and the HTTP address is checked the way it will be
bound (scheme, host, a port 1..65535 with nothing after it), no two
sockets share one, and the HONEYBEE_* overrides go through the same
checks; a plain-TCP socket beyond loopback is warned about at start.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

def check(yaml_text, env=None, tmp=None):
    """--check on a config text; returns (exit code, stderr)."""
    import tempfile
    d = tmp or tempfile.mkdtemp(prefix="hbtest-ep-")
    path = os.path.join(d, "c.yaml")
    with open(path, "w") as f:
        f.write(yaml_text)
    full = {k: v for k, v in os.environ.items() if not k.startswith("HONEYBEE_")}
    full.update(env or {})
    import subprocess
    r = subprocess.run([H.BRIDGE, "-c", path, "--check"], env=full, capture_output=True,
                       text=True, timeout=H.t(20))
    return r.returncode, r.stderr


def ports():
    return [H.free_port() for _ in range(5)]


def base(p):
    return ("bridge:\n  inbox: tcp://127.0.0.1:%d\n  events: tcp://127.0.0.1:%d\n"
            "  send: tcp://127.0.0.1:%d\n  control: tcp://127.0.0.1:%d\n"
            "  http: 127.0.0.1:%d\n" % tuple(p))


def test_valid_endpoints_pass():
    p = ports()
    rc, err = check(base(p))
    assert rc == 0, err
    rc, err = check("bridge:\n  inbox: tcp://*:%d\n  events: \"tcp://[::1]:%d\"\n"
                    "  send: ipc:///tmp/hb-%d.sock\n  control: tcp://localhost:%d\n"
                    "  http: \"[::1]:%d\"\n" % tuple(p))
    assert rc == 0, err


def test_bad_ports_and_schemes():
    p = ports()
    cases = [
        ("tcp://127.0.0.1:99999", "bridge.events"),
        ("tcp://127.0.0.1:1aaaa", "bridge.events"),
        ("tcp://127.0.0.1:0", "bridge.events"),
        ("tcp://127.0.0.1:", "bridge.events"),
        ("tcp://127.0.0.1", "bridge.events"),
        ("garbage://x", "bridge.events"),
        ("tcp://:5551", "bridge.events"),
        ("tcp://127.0.0.1:*", "bridge.events"),
        ("ipc://", "bridge.events"),
    ]
    for ep, key in cases:
        text = base(p).replace("tcp://127.0.0.1:%d" % p[1], '"%s"' % ep)
        rc, err = check(text)
        assert rc == 2, "%s passed --check: %s" % (ep, err)
        assert key in err, "%s: %s" % (ep, err)
    for hp in ("127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x", ":8080", "8080"):
        text = base(p).replace("127.0.0.1:%d\n" % p[4], '"%s"\n' % hp)
        rc, err = check(text)
        assert rc == 2 and "bridge.http" in err, "%s: %s" % (hp, err)


def test_env_overrides_checked():
    p = ports()
    for env in ({"HONEYBEE_EVENTS": "tcp://127.0.0.1:99999"},
                {"HONEYBEE_EVENTS": "tcp://127.0.0.1:1aaaa"},
                {"HONEYBEE_INBOX": "garbage://x"},
                {"HONEYBEE_HTTP": "127.0.0.1:99999"}):
        rc, err = check(base(p), env)
        assert rc == 2, "%s passed --check: %s" % (env, err)
        assert list(env)[0] in err, "%s: %s" % (env, err)


def test_duplicates_refused():
    p = ports()
    text = base(p).replace("tcp://127.0.0.1:%d" % p[3], "tcp://127.0.0.1:%d" % p[0])
    rc, err = check(text)
    assert rc == 2 and "bridge.control" in err and "bridge.inbox" in err, err
    text = base(p).replace("tcp://127.0.0.1:%d" % p[2], "tcp://*:%d" % p[0])
    rc, err = check(text)
    assert rc == 2 and "bridge.send" in err, err
    text = base(p).replace("127.0.0.1:%d\n" % p[4], "127.0.0.1:%d\n" % p[1])
    rc, err = check(text)
    assert rc == 2 and "bridge.http" in err, err
    # An override onto another socket's endpoint, too.
    rc, err = check(base(p), {"HONEYBEE_SEND": "tcp://127.0.0.1:%d" % p[0]})
    assert rc == 2 and "bridge.send" in err, err


def test_beyond_loopback_warns():
    """Plain TCP on every interface: the start says who can then read
    and steer; on loopback it says nothing."""
    p = [H.free_port() for _ in range(4)]
    b = H.Bridge(bridge={"inbox": "tcp://0.0.0.0:%d" % p[0], "control": "tcp://*:%d" % p[1]},
                 http=False)
    b.endpoints["control"] = "tcp://127.0.0.1:%d" % p[1]
    with b:
        err = b.stderr()
        assert "bridge.inbox binds tcp://0.0.0.0:%d beyond loopback without CURVE" % p[0] in err, err
        assert "bridge.control binds tcp://*:%d beyond loopback" % p[1] in err, err
        assert "bridge.events binds" not in err, err


if __name__ == "__main__":
    H.run([test_valid_endpoints_pass, test_bad_ports_and_schemes, test_env_overrides_checked,
           test_duplicates_refused, test_beyond_loopback_warns])
