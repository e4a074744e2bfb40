"""CURVE on the four ZeroMQ sockets (issue 11, SPEC.md section 9), end to
end with the real daemon, honeybee-cli and the three example consumers.

Keys are made with `honeybee-cli keygen` (czmq certificates). Readers
(inbox, events) and writers (send, control) have their own directories;
a client outside them gets nothing (its handshake fails) and is counted
in /metrics; key directories and address rules reload; and a client
without keys cannot make the bridge hold its multipart message (the
answer to finding 4 for untrusted networks).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import zmq
import zmq.auth

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402
import test_examples as E  # noqa: E402


class Keys:
    """server, reader, writer, both (reader and writer), stranger."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hbtest-curve-")
        self.readers = os.path.join(self.dir, "readers")
        self.writers = os.path.join(self.dir, "writers")
        os.mkdir(self.readers)
        os.mkdir(self.writers)
        self.pub = {}
        for name in ("server", "reader", "writer", "both", "stranger"):
            r = H.run_cmd([H.CLI, "keygen", name, "-d", self.dir])
            assert r.returncode == 0, r.stderr
            assert r.stdout.startswith("public key "), r.stdout
            self.pub[name] = r.stdout.split()[2]
            mode = os.stat(self.secret(name)).st_mode & 0o777
            assert mode == 0o600, "%s_secret has mode %o" % (name, mode)
        r = H.run_cmd([H.CLI, "keygen", "server", "-d", self.dir])
        assert r.returncode == 1, "keygen overwrote a key pair"
        for name, dirs in (("reader", [self.readers]), ("writer", [self.writers]),
                           ("both", [self.readers, self.writers])):
            for d in dirs:
                shutil.copy(self.public(name), d)

    def public(self, name):
        return os.path.join(self.dir, name + ".key")

    def secret(self, name):
        return os.path.join(self.dir, name + ".key_secret")

    def curve(self):
        return {"server_cert": self.secret("server"), "readers": self.readers,
                "writers": self.writers}

    def client(self, name="both"):
        """(server public, public, secret) of a client, for H.Bridge."""
        pub, sec = zmq.auth.load_certificate(self.secret(name))
        return zmq.auth.load_certificate(self.public("server"))[0], pub, sec

    def secure(self, sock, name, server="server"):
        pub, sec = zmq.auth.load_certificate(self.secret(name))
        sock.curve_secretkey, sock.curve_publickey = sec, pub
        sock.curve_serverkey = zmq.auth.load_certificate(self.public(server))[0]
        return sock


def cli(b, keys, name, *args, server="server"):
    extra = []
    if name:
        extra = ["--server-key", keys.public(server), "--cert", keys.secret(name)]
    return H.run_cmd([H.CLI] + list(args) + ["-T", "2"] + extra, env=b.endpoint_env())


def sub(b, keys, which, name):
    s = b.ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    if name:
        keys.secure(s, name)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(b.endpoints[which])
    return s


def first_message(s, ws, timeout):
    deadline = time.monotonic() + H.t(timeout)
    while time.monotonic() < deadline:
        ws.push("feed", "tick")
        if s.poll(200):
            return s.recv_multipart()
    return None


def counted(b, series):
    return b.metrics().get(series, 0)


def test_readers_and_writers():
    keys = Keys()
    ws = H.WSServer()
    try:
        with H.Bridge(bridge={"curve": keys.curve()}, client_keys=keys.client(),
                      peers=[{"id": "feed", "url": ws.url_of("feed")}]) as b:
            assert "CURVE on every ZeroMQ socket" in b.stderr()
            assert cli(b, keys, "writer", "ping").returncode == 0
            assert cli(b, keys, "both", "ping").returncode == 0
            for name, server in (("reader", "server"), ("stranger", "server"),
                                 ("writer", "stranger"), (None, "server")):
                r = cli(b, keys, name, "ping", server=server)
                assert r.returncode == 3, (name, server, r.returncode, r.stdout, r.stderr)
            r = cli(b, keys, "writer", "list")
            assert r.returncode == 0 and "feed" in r.stdout, r.stdout + r.stderr
            # Inbox: a reader gets messages; a writer, a stranger and a
            # plain client get nothing.
            good = sub(b, keys, "inbox", "reader")
            bad = [sub(b, keys, "inbox", n) for n in ("writer", "stranger", None)]
            msg = first_message(good, ws, 10)
            assert msg and msg[0] == b"feed", msg
            for s in bad:
                assert not s.poll(500), "an unauthorised subscriber got a message"
            for s in [good] + bad:
                s.close(0)
            r = cli(b, keys, "writer", "send", "feed", "from-writer")
            assert r.returncode == 0, r.stderr
            H.wait_for(lambda: "from-writer" in ws.got("feed"), 10, "the writer's message")
            r = cli(b, keys, "reader", "send", "feed", "from-reader")
            time.sleep(0.5)
            assert "from-reader" not in ws.got("feed"), "a reader wrote to a peer"
            st, body = b.http("/metrics")
            m = b.metrics()
            assert m['honeybee_zmq_auth_denied_total{domain="writers",reason="key"}'] >= 2, body
            assert m['honeybee_zmq_auth_denied_total{domain="readers",reason="key"}'] >= 2, body
            assert m['honeybee_zmq_handshake_failures_total{socket="control",kind="protocol"}'] \
                >= 1, body
            assert m['honeybee_zmq_handshake_failures_total{socket="inbox",kind="auth"}'] >= 2
    finally:
        ws.stop()


def test_examples_with_curve():
    """The Python, Node and C consumers as a client of both lists (keys
    from the environment or from options), and as a stranger: nothing."""
    assert os.path.isdir(os.path.join(E.NODE_MODULES, "zeromq")), "run scripts/node-deps.sh"
    keys = Keys()
    ws = H.WSServer()
    try:
        with H.Bridge(bridge={"curve": keys.curve()}, client_keys=keys.client(),
                      peers=[{"id": "feed", "url": ws.url_of("feed")}]) as b:
            for lang in ("python", "node", "c"):
                env = dict(b.endpoint_env(), HONEYBEE_SERVER_KEY=keys.pub["server"],
                           HONEYBEE_CLIENT_CERT=keys.secret("both"))
                p, lines = E.start(lang, ["--send-to", "feed", "--message", "curve-" + lang,
                                          "--count", "1", "--seconds", str(H.t(30))], env=env)
                try:
                    lines.wait(lambda ln: ln.startswith("peers n=1 feed="), 20, lang + " list")
                    H.wait_for(lambda: "curve-" + lang in ws.got("feed"), 20, lang + " send")
                    H.wait_for(lambda: ws.push("feed", "m") >= 0 and p.poll() is not None, 20,
                               lang + " message")
                    out = E.finish(p, lines, lang)
                finally:
                    if p.poll() is None:
                        p.kill()
                assert out[-1] == "done messages=1", (lang, out)
                # A stranger (keys as options): no list, no message.
                p, lines = E.start(lang, ["--server-key", keys.public("server"), "--cert",
                                          keys.secret("stranger"), "--send-to", "feed",
                                          "--message", "stranger-" + lang, "--seconds", "3"],
                                   env=b.endpoint_env())
                try:
                    for _ in range(5):
                        ws.push("feed", "m")
                        time.sleep(0.2)
                    out = E.finish(p, lines, lang + " stranger")
                finally:
                    if p.poll() is None:
                        p.kill()
                assert "done messages=0" in out and not any(
                    ln.startswith("peers ") for ln in out), (lang, out)
                assert not any(ln.startswith("message ") for ln in out), (lang, out)
                assert "stranger-" + lang not in ws.got("feed"), lang
    finally:
        ws.stop()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_unauthorised_sender_holds_nothing():
    """Without keys, a 60 x 8 MB multipart message never reaches the
    bridge: the handshake fails first (finding 4: with CURVE, only
    writers can make the bridge hold a message)."""
    keys = Keys()
    with H.Bridge(bridge={"curve": keys.curve()}, client_keys=keys.client()) as b:
        rss0 = rss_kib(b.proc.pid)
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.setsockopt(zmq.SNDTIMEO, 5000)
        push.connect(b.endpoints["send"])
        chunk = b"w" * 8_000_000
        try:
            push.send_multipart([b"e1"] + [chunk] * 60)
        except zmq.Again:
            pass
        # A raw TCP client that says nothing is reaped by the handshake timer.
        raw = socket.create_connection(("127.0.0.1", int(b.endpoints["send"].rsplit(":", 1)[1])))
        time.sleep(3)
        rss1 = rss_kib(b.proc.pid)
        push.close(0)
        ctx.term()
        raw.close()
        print("  RSS %d MiB -> %d MiB while a plain client pushed 480 MB" %
              (rss0 // 1024, rss1 // 1024))
        assert rss1 - rss0 < 64 * 1024, "RSS grew %d KiB" % (rss1 - rss0)
        assert cli(b, keys, "writer", "ping").returncode == 0


def test_keys_and_addresses_reload():
    keys = Keys()
    with H.Bridge(bridge={"curve": keys.curve()}, client_keys=keys.client(), log={"level": "info"}) as b:
        assert cli(b, keys, "stranger", "ping").returncode == 3
        shutil.copy(keys.public("stranger"), keys.writers)
        b.signal(signal.SIGHUP)
        H.wait_for(lambda: cli(b, keys, "stranger", "ping").returncode == 0, 10,
                   "the stranger admitted")
        os.unlink(os.path.join(keys.writers, "stranger.key"))
        b.signal(signal.SIGHUP)
        H.wait_for(lambda: cli(b, keys, "stranger", "ping").returncode == 3, 10,
                   "the stranger refused again")
        # Address rules, reloaded: loopback denied, even for a writer.
        b.cfg["bridge"]["curve"]["deny"] = ["127.0.0.0/8"]
        b.write_config()
        b.signal(signal.SIGHUP)
        H.wait_for(lambda: cli(b, keys, "writer", "ping").returncode == 3, 10, "writer denied")
        b.cfg["bridge"]["curve"]["deny"] = []
        b.cfg["bridge"]["curve"]["allow"] = ["127.0.0.1"]
        b.write_config()
        b.signal(signal.SIGHUP)
        H.wait_for(lambda: cli(b, keys, "writer", "ping").returncode == 0, 10, "writer back")
        st, body = b.http("/metrics")
        assert 'honeybee_zmq_auth_denied_total{domain="writers",reason="address"}' in body
        m = b.metrics()
        assert m['honeybee_zmq_auth_denied_total{domain="writers",reason="address"}'] >= 1, body
        # Four valid reloads: no ERROR line (each used to log a false
        # "reload: <uninitialised text>; keeping the running client keys").
        errors = [ln for ln in b.stderr().splitlines() if ln.split(" ", 2)[1:2] == ["ERROR"]]
        assert errors == [], errors
        # A key directory that went missing is an error, which names it (the
        # file is checked as a whole: the running keys and peers stay).
        gone = keys.writers + ".gone"
        os.rename(keys.writers, gone)
        try:
            b.signal(signal.SIGHUP)
            H.wait_for(lambda: "keeping the running" in b.stderr(), 10, "the reload's error")
        finally:
            os.rename(gone, keys.writers)
        errors = [ln for ln in b.stderr().splitlines() if ln.split(" ", 2)[1:2] == ["ERROR"]]
        assert len(errors) == 1 and "bridge.curve.writers: " in errors[0], errors
        assert cli(b, keys, "writer", "ping").returncode == 0


def test_check_and_start_refuse_bad_certificates():
    keys = Keys()
    d = tempfile.mkdtemp(prefix="hbtest-curvecfg-")
    path = os.path.join(d, "c.yaml")
    # A public certificate alone (czmq reads NAME_secret beside NAME first).
    lone = os.path.join(d, "server.key")
    shutil.copy(keys.public("server"), lone)
    cases = [
        (dict(keys.curve(), server_cert=lone), "holds no secret key"),
        (dict(keys.curve(), server_cert=os.path.join(d, "nope")), "bridge.curve.server_cert"),
        (dict(keys.curve(), readers=os.path.join(d, "nope")), "bridge.curve.readers"),
        ({"server_cert": keys.secret("server"), "readers": keys.readers},
         "bridge.curve.writers: is required"),
        (dict(keys.curve(), allow=["not-an-address"]), "bridge.curve.allow"),
    ]
    with open(os.path.join(d, "junk"), "w") as f:
        f.write("not a certificate\n")
    cases.append((dict(keys.curve(), server_cert=os.path.join(d, "junk")),
                  "not a czmq certificate"))
    for curve, words in cases:
        with open(path, "w") as f:
            f.write(H.to_yaml({"bridge": {"curve": curve}}))
        r = subprocess.run([H.BRIDGE, "-c", path, "--check"], capture_output=True, text=True,
                           timeout=H.t(20))
        assert r.returncode == 2 and words in r.stderr, (curve, r.stderr)
    with open(path, "w") as f:
        f.write(H.to_yaml({"bridge": {"curve": keys.curve()}}))
    r = subprocess.run([H.BRIDGE, "-c", path, "--check"], capture_output=True, text=True,
                       timeout=H.t(20))
    assert r.returncode == 0, r.stderr


if __name__ == "__main__":
    H.run([test_readers_and_writers, test_examples_with_curve,
           test_unauthorised_sender_holds_nothing, test_keys_and_addresses_reload,
           test_check_and_start_refuse_bad_certificates])
