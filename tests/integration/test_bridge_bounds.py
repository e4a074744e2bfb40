"""What a writer can make the bridge hold, and how strictly control options
are typed (issue 11, findings 4, 8 and 9), against the real daemon.

- a peer's send queue is bounded in bytes (pool.send_queue_bytes) as well
  as in messages: queue_full when either bound is reached;
- a multipart message of more frames than a send has is refused and
  reported (bad_request); a frame above the socket's limit closes the
  sender's connection at the frame header and is counted;
- control connect options are typed strictly: header values and
  subprotocols are strings, on_connect items fit max_message_size, Host
  and hop-by-hop headers are refused, a tls file that is not PEM is
  refused without its content being read beyond a prefix.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

MIB = 1 << 20


def test_send_queue_bytes():
    """A peer that never reads: 1 MiB sends over control fill its 2 MiB
    queue (plus what the kernel buffers take) and are then refused with
    queue_full, long before send_queue (1024 messages) is reached."""
    srv = H.RawWSServer(read=False)
    try:
        pool = {"send_queue_bytes": "2MiB", "max_message_size": "1MiB",
                "keepalive": {"ping_interval": 0, "timeout": 0}, "write_timeout": "60s"}
        with H.Bridge(peers=[{"id": "slow", "url": srv.url}], pool=pool) as b:
            b.wait_state("slow", "connected")
            data = "x" * (MIB - 64)
            accepted, first_full = 0, None
            for i in range(40):
                r = b.request({"op": "send", "id": "slow", "data": data}, timeout=10)
                if r["ok"]:
                    accepted += 1
                elif r["error"] == "queue_full":
                    first_full = i
                    break
                else:
                    raise AssertionError(r)
                time.sleep(0.05)  # let the writer push what the kernel takes
            print("  accepted %d MiB before queue_full" % accepted)
            assert first_full is not None, "40 MiB queued to a peer that never reads"
            st = b.ok({"op": "stats", "id": "slow"})
            assert st["send_failed_total"]["queue_full"] >= 1, st
            assert st["send_queue_depth"] <= 3, st
    finally:
        srv.stop()


def test_multipart_and_oversized_frames():
    ws = H.WSServer()
    try:
        with H.Bridge(pool={"max_message_size": "64KiB"},
                      peers=[{"id": "p", "url": ws.url_of("p")}]) as b:
            b.wait_state("p", "connected")
            ev = b.events()
            # 61 frames: refused as a whole and reported (the id is frame 0).
            b.push(*([b"p"] + [b"w" * 100_000] * 60))
            e = ev.expect("send_failed", "p", reason="bad_request")
            m = b.metrics()
            assert m['honeybee_send_failed_total{reason="bad_request"}'] >= 1, m
            # Above max_message_size, within the socket's frame limit:
            # too_large, reported.
            b.push("p", b"y" * (64 * 1024 + 10))
            ev.expect("send_failed", "p", reason="too_large")
            before = m.get('honeybee_zmq_disconnects_total{socket="send"}')
            assert before is not None, "no honeybee_zmq_disconnects_total"
            # One frame above the socket's limit (the largest
            # max_message_size, at least 16 MiB, + 64 KiB): ZeroMQ closes the
            # sender at the frame header, before reading it; the bridge
            # counts the disconnect (ZeroMQ does not say why, docs/operations.md).
            import zmq
            push = b.ctx.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 2000)
            push.connect(b.endpoints["send"])
            push.send_multipart([b"p", b"z" * (16 * MIB + 65536 + 1)])
            H.wait_for(lambda: b.metrics().get('honeybee_zmq_disconnects_total{socket="send"}',
                                               0) > before, 10, "the cut sender counted")
            push.close(0)
            assert "y" * 10 not in "".join(map(str, ws.got("p"))), "a too_large message was sent"
    finally:
        ws.stop()


def connect(b, options, url="ws://127.0.0.1:9/"):
    return b.request({"op": "connect", "id": "p%d" % time.monotonic_ns(), "url": url,
                      "options": options})


def test_control_options_typed_strictly():
    with H.Bridge(pool={"max_message_size": "1MiB", "reconnect": {"initial_delay": "30s"}}) as b:
        bad = [
            ({"headers": {"X-Version": 5}}, "header values must be strings"),
            ({"headers": {"X-On": True}}, "header values must be strings"),
            ({"headers": {"X-N": None}}, "header values must be strings"),
            ({"subprotocols": [5]}, "expected a string"),
            ({"subprotocols": ["a b"]}, "not a valid token"),
            ({"on_connect": [7]}, "expected a string"),
            ({"on_connect": ["x" * (MIB + 1)]}, "more than max_message_size"),
            ({"keepalive": {"app_ping": "p" * (MIB + 1)}}, "longer than max_message_size"),
            ({"headers": {"Host": "metadata.google.internal"}}, "not allowed"),
            ({"headers": {"host": "x"}}, "not allowed"),
            ({"headers": {"Connection": "close"}}, "not allowed"),
            ({"headers": {"Transfer-Encoding": "chunked"}}, "not allowed"),
            ({"headers": {"Sec-WebSocket-Key": "x"}}, "not allowed"),
            ({"headers": {"Proxy-Authorization": "x"}}, "not allowed"),
        ]
        for opts, words in bad:
            r = connect(b, opts)
            assert not r["ok"] and r["error"] == "invalid_option", (opts, r)
            assert words in r["message"], (opts, r)
        # Strings that look like numbers are fine when they are strings.
        assert connect(b, {"headers": {"X-Version": "5"}, "subprotocols": ["v5"]})["ok"]


def test_tls_files_must_be_pem():
    d = tempfile.mkdtemp(prefix="hbtest-pem-")
    secret = os.path.join(d, "secret.txt")
    with open(secret, "w") as f:
        f.write("root:$6$notapem$hash:19000:0:99999:7:::\n" * 10)
    pem = os.path.join(d, "ca.pem")
    with open(pem, "w") as f:
        f.write("# a bundle\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with H.Bridge(pool={"reconnect": {"initial_delay": "30s"}}) as b:
        targets = [secret, "/dev/zero", d]
        if os.path.exists("/etc/shadow"):
            targets.append("/etc/shadow")
        for path in targets:
            for key in ("ca_file", "cert_file", "key_file"):
                r = connect(b, {"tls": {key: path}}, url="wss://127.0.0.1:9/")
                assert not r["ok"] and r["error"] == "invalid_option", (path, r)
                assert "notapem" not in r["message"] and "root:" not in r["message"], r
        r = connect(b, {"tls": {"ca_file": secret}}, url="wss://127.0.0.1:9/")
        assert "is not a PEM file" in r["message"], r
        assert connect(b, {"tls": {"ca_file": pem}}, url="wss://127.0.0.1:9/")["ok"]


if __name__ == "__main__":
    H.run([test_send_queue_bytes, test_multipart_and_oversized_frames,
           test_control_options_typed_strictly, test_tls_files_must_be_pem])
