"""The example consumers (Python, Node, C) against the real bridge and a real
WebSocket server, and against a synthetic inbox that has a gap, a reconnect,
a restart and a look-alike peer id.

Each example prints the same line format (examples/python/consumer.py):
ready, peers, sent, message, gap, reconnect, restart, event, done.
Go: no Go ZeroMQ binding is packaged in Debian 12 and only Debian and npm
are reachable, so there is no Go example (examples/go/README.md).
"""
import contextlib
import json
import os
import struct
import subprocess
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

NODE_MODULES = os.path.join(H.SRC, "examples", "node", "node_modules")
EXAMPLES = {
    "python": [H.PYTHON, os.path.join(H.SRC, "examples", "python", "consumer.py")],
    "node": ["node", os.path.join(H.SRC, "examples", "node", "consumer.js")],
    "c": [os.path.join(H.BIN, "example_zmq_consumer")],
}
FAST_RECONNECT = {"reconnect": {"initial_delay": "50ms", "max_delay": "300ms",
                                "stable_after": "100ms"}}


def parse_kv(line):
    """'message peer=a conn=1 seq=2 ... data=x y' -> dict (data keeps spaces)."""
    head, sep, data = line.partition(" data=")
    out = {}
    for tok in head.split()[1:]:
        k, _, v = tok.partition("=")
        out[k] = v
    if sep:
        out["data"] = data
    return out


def event_json(line):
    return json.loads(line.split(" json=", 1)[1])


def start(lang, args, env=None):
    full = dict(os.environ)
    for k in ("HONEYBEE_INBOX", "HONEYBEE_EVENTS", "HONEYBEE_SEND", "HONEYBEE_CONTROL"):
        full.pop(k, None)
    full.update(env or {})
    p = subprocess.Popen(EXAMPLES[lang] + args, env=full, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    return p, H.Lines(p)


def finish(p, lines, what):
    try:
        p.wait(H.t(20))
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError(f"{what} did not exit; output:\n" + "\n".join(lines.all))
    out = lines.drain()
    err = p.stderr.read().decode("utf-8", "replace")
    assert p.returncode == 0, f"{what} exited {p.returncode}: {err}\n" + "\n".join(out)
    return out


def synthetic(lang):
    """An XPUB that publishes, once the example's subscription arrives, a
    stream with every case the decoder must tell apart."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    p, lines = start(lang, ["--inbox", f"tcp://127.0.0.1:{port}",
                            "--events", f"tcp://127.0.0.1:{H.free_port()}",
                            "--control", "", "--peer", "relay1", "--count", "5",
                            "--seconds", str(H.t(30))])
    try:
        if not pub.poll(int(H.t(20) * 1000)):
            raise AssertionError(f"{lang}: no subscription arrived")
        sub = pub.recv()
        assert sub == b"\x01relay1", f"{lang}: subscribed with {sub!r}, expected prefix relay1"

        def msg(peer, data, conn, seq, flags=0):
            meta = struct.pack(">BBHIQQ", 1, flags, 0, conn, seq, time.time_ns())
            pub.send_multipart([peer, data, meta])

        msg(b"relay1", b"a", 1, 1)
        msg(b"relay10", b"not me", 1, 1)  # same prefix, other peer
        msg(b"relay1", b"b", 1, 2)
        msg(b"relay1", b"c", 1, 5)  # 2 lost
        msg(b"relay1", b"\x01\x02", 2, 6, flags=1)  # reconnected, binary
        msg(b"relay1", b"again", 1, 1)  # removed and added again
        out = finish(p, lines, f"{lang} (synthetic)")
    finally:
        if p.poll() is None:
            p.kill()
        ctx.destroy(linger=0)
    msgs = [parse_kv(ln) for ln in out if ln.startswith("message ")]
    assert [m["data"] for m in msgs] == ["a", "b", "c", "0102", "again"], \
        f"{lang}: messages {msgs}"
    assert all(m["peer"] == "relay1" for m in msgs), f"{lang}: peer filter {msgs}"
    assert msgs[3]["binary"] == "1" and msgs[0]["binary"] == "0", f"{lang}: flags {msgs}"
    assert [m["seq"] for m in msgs] == ["1", "2", "5", "6", "1"], f"{lang}: seq {msgs}"
    assert "gap peer=relay1 lost=2 seq=2->5" in out, f"{lang}: gap line missing:\n{out}"
    assert "reconnect peer=relay1 conn=1->2" in out, f"{lang}: reconnect line missing:\n{out}"
    assert any(ln.startswith("restart peer=relay1 seq=6->1") for ln in out), \
        f"{lang}: restart line missing:\n{out}"
    assert out[-1] == "done messages=5", f"{lang}: last line {out[-1]!r}"


def reader_gone(lang):
    """`consumer | head -n 2`: once its reader has gone the example stops
    quietly, exit 0 and nothing on stderr (no traceback, no EPIPE)."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    cmd = " ".join("'%s'" % a for a in EXAMPLES[lang] + [
        "--inbox", f"tcp://127.0.0.1:{port}", "--events", f"tcp://127.0.0.1:{H.free_port()}",
        "--control", "", "--seconds", str(H.t(30))])
    # bash reports the example's own exit status; head reads its stdout and
    # exits after 2 lines; the example's stderr is bash's.
    script = f"{cmd} | head -n 2 >/dev/null; echo example_exit=${{PIPESTATUS[0]}}"
    p = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if not pub.poll(int(H.t(20) * 1000)):
            raise AssertionError(f"{lang}: no subscription arrived")
        pub.recv()
        seq = 0

        def publish_until_exit():
            nonlocal seq
            for _ in range(20):
                seq += 1
                pub.send_multipart([b"p", b"x" * 100, struct.pack(
                    ">BBHIQQ", 1, 0, 0, 1, seq, time.time_ns())])
            time.sleep(0.05)
            return p.poll() is not None
        H.wait_for(publish_until_exit, 20, f"{lang} | head to end")
        out = p.stdout.read().decode()
        err = p.stderr.read().decode("utf-8", "replace")
    finally:
        if p.poll() is None:
            p.kill()
        ctx.destroy(linger=0)
    assert "example_exit=0" in out, f"{lang} | head: {out!r}, stderr {err!r}"
    assert err == "", f"{lang} | head wrote to stderr: {err!r}"


def against_bridge(lang, ws, bridge):
    """List, send through PULL, events, inbox messages, a real reconnect."""
    extra = f"extra-{lang}"
    text = f"hello from {lang} test"
    # Endpoints from the environment, in the forms a container sets them:
    # a bind address (tcp://*:P, tcp://0.0.0.0:P) must be read as loopback.
    host = {"python": "*", "node": "0.0.0.0", "c": "*"}[lang]
    env = {k: v.replace("127.0.0.1", host) for k, v in bridge.endpoint_env().items()}
    p, lines = start(lang, ["--send-to", "feed", "--message", text, "--count", "8",
                            "--seconds", str(H.t(60))], env=env)
    try:
        lines.wait(lambda ln: ln.startswith("ready "), 20, f"{lang} ready")
        peers = lines.wait(lambda ln: ln.startswith("peers ") or ln.startswith("list "), 20,
                           f"{lang} list")
        assert peers.startswith("peers n=1 ") and "feed=connected" in peers, \
            f"{lang}: list line {peers!r}"
        lines.wait(lambda ln: ln == "sent peer=feed", 20, f"{lang} sent")
        H.wait_for(lambda: text in ws.got("feed"), 10, f"{lang}'s message at the peer")

        # Events: a new peer's added and connected.
        # (The events SUB may still be joining: retry the cycle until seen.)
        prefix = f"event kind=connected id={extra}"
        for _ in range(10):
            r = bridge.request({"op": "connect", "id": extra, "url": ws.url_of(extra)})
            assert r.get("ok"), f"connect {extra}: {r}"
            bridge.wait_state(extra, "connected")
            if lines.wait(lambda ln: ln.startswith(prefix), 1, "", required=False):
                break
            bridge.request({"op": "remove", "id": extra})
            H.wait_for(lambda: bridge.peer_state(extra) is None, 10, f"{extra} removed")
        ev = lines.wait(lambda ln: ln.startswith(prefix), 20, f"{lang} connected event")
        body = event_json(ev)
        assert body["kind"] == "connected" and body["id"] == extra and "at" in body, \
            f"{lang}: event body {body}"

        # Inbox: tick until the example has a message from conn 1, drop the
        # connection, tick again until it reports the reconnect.
        i = [0]

        def tick(until):
            i[0] += 1
            ws.push("feed", f"tick{i[0]}")
            time.sleep(0.1)
            return any(until(ln) for ln in lines.all + lines.peek())
        # (Earlier examples' runs already reconnected feed: conn is not 1.)
        H.wait_for(lambda: tick(lambda ln: ln.startswith("message peer=feed ")), 20,
                 f"{lang} first message")
        conn = int(parse_kv(next(ln for ln in lines.all
                                 if ln.startswith("message peer=feed ")))["conn"])
        before = ws.connect_count("feed")
        ws.drop("feed")
        H.wait_for(lambda: ws.connect_count("feed") > before and ws.live("feed"), 20,
                 "feed reconnected")
        ws.push("feed", b"\x00\xffbin")
        reconnect = f"reconnect peer=feed conn={conn}->{conn + 1}"
        H.wait_for(lambda: tick(lambda ln: ln == reconnect), 20,
                 f"{lang} reconnect line")
        H.wait_for(lambda: ws.push("feed", "more") >= 0 and p.poll() is not None, 20,
                 f"{lang} to exit after --count")
        out = finish(p, lines, lang)
    finally:
        if p.poll() is None:
            p.kill()
        bridge.request({"op": "remove", "id": extra})
    msgs = [parse_kv(ln) for ln in out if ln.startswith("message ")]
    assert len(msgs) == 8 and out[-1] == "done messages=8", f"{lang}: count:\n{out}"
    seqs = [int(m["seq"]) for m in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + 8)), f"{lang}: seq not consecutive {seqs}"
    assert not any(ln.startswith("gap ") for ln in out), f"{lang}: unexpected gap:\n{out}"
    binm = [m for m in msgs if m["binary"] == "1"]
    assert binm and binm[0]["data"] == "00ff62696e" and binm[0]["conn"] == str(conn + 1), \
        f"{lang}: binary message {msgs}"


@contextlib.contextmanager
def fixture():
    """One bridge with one peer (feed) for the runs against the bridge."""
    assert os.path.isdir(os.path.join(NODE_MODULES, "zeromq")), \
        f"{NODE_MODULES}/zeromq missing: run scripts/node-deps.sh"
    assert os.access(EXAMPLES["c"][0], os.X_OK), f"{EXAMPLES['c'][0]} not built"
    ws = H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "feed", "url": ws.url_of("feed")}], pool=FAST_RECONNECT) as b:
            b.wait_state("feed", "connected")
            yield ws, b
    finally:
        ws.stop()


def synthetic_test(lang):
    def test(fx):
        """Metadata decoding, exact peer filter, gap, reconnect, restart."""
        synthetic(lang)
    test.__name__ = f"test_{lang}_synthetic"
    return test


def reader_gone_test(lang):
    def test(fx):
        """Exit 0, quietly, when the output pipe closes (| head)."""
        reader_gone(lang)
    test.__name__ = f"test_{lang}_reader_gone"
    return test


def bridge_test(lang):
    def test(fx):
        """List, send via PULL, events, inbox, reconnect against the real bridge."""
        ws, bridge = fx
        # The previous example's extra peer must be gone (removed event
        # out) so the next list shows one peer.
        H.wait_for(lambda: len(bridge.list()) == 1, 10, "extra peers removed")
        against_bridge(lang, ws, bridge)
    test.__name__ = f"test_{lang}_against_bridge"
    return test


if __name__ == "__main__":
    LANGS = ("python", "node", "c")
    H.run([synthetic_test(lang) for lang in LANGS] +
          [reader_gone_test(lang) for lang in ("python", "node")] +
          [bridge_test(lang) for lang in LANGS],
          fixture=fixture)
