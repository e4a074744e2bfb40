"""Every frame of every socket (SPEC.md sections 4, 5, 6), black-box.

A real websockets server is the peer; real ZeroMQ SUB/PUSH/REQ clients
talk to the real daemon.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402


def confirm_inbox(b, srv, sub, pid):
    """Probe until the inbox subscription is live; return the last seq seen."""
    def seen():
        srv.send_all("probe")
        m = H.recv_inbox(sub, 0.2)
        return m if m and m[0] == pid else None
    m = H.wait_for(seen, 10, "the inbox subscription")
    while True:  # drain probes
        more = H.recv_inbox(sub, 0.2)
        if more is None:
            break
        m = more
    return m[2]


def test_inbox_frames():
    srv, srv2 = H.WSServer(), H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "relay-a", "url": srv.url}]) as b:
            b.wait_state("relay-a", "connected")
            sub = b.sub("inbox")
            last = confirm_inbox(b, srv, sub, "relay-a")
            srv.send_all("hello \u00e9")
            srv.send_all(b"\x00\x01\xff")
            srv.send_all("x" * 5000)  # zero-copy path
            before = time.time_ns()
            pid, payload, meta = H.recv_inbox(sub)
            assert pid == "relay-a"
            assert payload == "hello \u00e9".encode()
            assert meta["version"] == 1 and not meta["binary"] and meta["flags"] == 0
            assert meta["conn"] == 1, meta
            assert meta["seq"] == last["seq"] + 1, (meta, last)
            assert abs(meta["received_ns"] - before) < 60e9, meta
            pid, payload, meta2 = H.recv_inbox(sub)
            assert payload == b"\x00\x01\xff" and meta2["binary"] and meta2["flags"] == 1
            assert meta2["seq"] == meta["seq"] + 1
            pid, payload, meta3 = H.recv_inbox(sub)
            assert payload == b"x" * 5000 and meta3["seq"] == meta2["seq"] + 1
            assert meta3["received_ns"] >= meta2["received_ns"] >= meta["received_ns"]
            # Prefix subscription on the id: a subscriber to "relay-b" gets
            # relay-b's messages (which proves its subscription is live:
            # ZeroMQ's slow joiner), and none of relay-a's.
            b.ok({"op": "connect", "id": "relay-b", "url": srv2.url})
            b.wait_state("relay-b", "connected")
            sub2 = b.sub("inbox", topic=b"relay-b")
            confirm_inbox(b, srv2, sub2, "relay-b")
            srv.send_all("not for sub2")
            srv2.send_all("for sub2")
            # relay-a's message went out first: had the filter let it
            # through, sub2 would get it before relay-b's.
            def relay_a_out():  # sub (all ids) also gets relay-b's probes
                m = H.recv_inbox(sub, 0.2)
                return m and m[0] == "relay-a" and m[1] == b"not for sub2"
            H.wait_for(relay_a_out, 5, "relay-a's message on the all-ids subscriber")
            pid, payload, _ = H.recv_inbox(sub2)
            assert (pid, payload) == ("relay-b", b"for sub2"), (pid, payload)
            assert H.recv_inbox(sub2, 0.3) is None
            sub.close()
            sub2.close()
    finally:
        srv.stop()
        srv2.stop()


def test_events_frames_and_order():
    srv = H.WSServer()
    try:
        with H.Bridge() as b:
            ev = b.events()
            b.ok({"op": "connect", "id": "p1", "url": srv.url})
            e = ev.expect("added", "p1")
            assert e["url"] == srv.url, e
            e = ev.expect("connected", "p1")
            assert e["url"] == srv.url and e["attempt"] == 1, e
            b.ok({"op": "remove", "id": "p1"})
            e = ev.expect("disconnected", "p1")
            assert e["reason"] == "removed" and e["code"] == 1000, e
            e = ev.expect("removed", "p1")
            assert e["reason"] == "removed", e
            kinds = [x["kind"] for x in ev.seen if x["id"] == "p1"]
            assert kinds == ["added", "connected", "disconnected", "removed"], kinds
            idx, code, _ = srv.next_close()
            assert code == 1000, code
            ev.close()
    finally:
        srv.stop()


def test_send_socket():
    srv = H.WSServer()
    srv2 = H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "a", "url": srv.url}, {"id": "b", "url": srv2.url}],
                      pool={"max_message_size": "1KiB"}) as b:
            b.wait_state("a", "connected")
            b.wait_state("b", "connected")
            ev = b.events()
            b.push("a", "plain text")
            assert srv.next_received() == (1, "plain text")
            b.push("a", b"\xff\xfe")  # not UTF-8 -> binary
            assert srv.next_received() == (1, b"\xff\xfe")
            b.push("a", "as binary", "binary")
            assert srv.next_received() == (1, b"as binary")
            b.push("a", "as text", "text")
            assert srv.next_received() == (1, "as text")
            b.push("*", "to all")
            assert srv.next_received() == (1, "to all")
            assert srv2.next_received() == (1, "to all")
            # Order per sender and peer.
            for i in range(50):
                b.push("a", "m%d" % i)
            for i in range(50):
                assert srv.next_received() == (1, "m%d" % i)
            # Refusals: send_failed with a reason, each counted exactly once.
            m0 = b.metrics()
            b.push("nobody", "x")
            ev.expect("send_failed", "nobody", reason="unknown_peer")
            b.push("a", "y" * 2000)
            ev.expect("send_failed", "a", reason="too_large")
            # Malformed: bad_request, id = frame 0 when it is short UTF-8.
            b.push("a")
            ev.expect("send_failed", "a", reason="bad_request")
            b.push("a", "x", "text", "extra")
            ev.expect("send_failed", "a", reason="bad_request")
            b.push("a", "x", "json")
            ev.expect("send_failed", "a", reason="bad_request")
            b.push("a", b"\xff", "text")
            ev.expect("send_failed", "a", reason="bad_request")
            b.push(b"\xff\xfe", "x")
            ev.expect("send_failed", "", reason="bad_request")
            b.push("z" * 200, "x")
            ev.expect("send_failed", "", reason="bad_request")
            b.push("a*b", "x")
            ev.expect("send_failed", "a*b", reason="bad_request")
            b.push("", "x")
            ev.expect("send_failed", "", reason="bad_request")
            # Still working.
            b.push("a", "after")
            assert srv.next_received() == (1, "after")
            m = b.metrics()
            def delta(k):
                return m[k] - m0[k]
            assert delta('honeybee_send_failed_total{reason="bad_request"}') == 8, m
            assert delta('honeybee_send_failed_total{reason="unknown_peer"}') == 1, m
            assert delta('honeybee_send_failed_total{reason="too_large"}') == 1, m
            assert m['honeybee_send_failed_total{peer="a",reason="too_large"}'] == 1
            # (counted just after the write, maybe after the peer read it)
            H.wait_for(lambda: b.metrics()['honeybee_messages_sent_total{peer="a"}'] == 56, 5,
                       "messages_sent_total to count 56")
            # No peer connected: one send_failed "*" not_connected.
            b.ok({"op": "remove", "id": "a"})
            b.ok({"op": "remove", "id": "b"})
            ev.expect("removed", "a")
            ev.expect("removed", "b")
            m0 = b.metrics()
            b.push("*", "nobody home")
            ev.expect("send_failed", "*", reason="not_connected")
            m = b.metrics()
            assert delta('honeybee_send_failed_total{reason="not_connected"}') == 1, m
            ev.close()
    finally:
        srv.stop()
        srv2.stop()


def test_not_connected_send():
    # A peer that cannot connect is `waiting`/`connecting`: not_connected.
    port = H.free_port()
    with H.Bridge(peers=[{"id": "down", "url": "ws://127.0.0.1:%d/" % port,
                          "reconnect": {"initial_delay": "5s"}}]) as b:
        ev = b.events()
        b.push("down", "x")
        ev.expect("send_failed", "down", reason="not_connected")
        r = b.request({"op": "send", "id": "down", "data": "x"})
        assert r == {"ok": False, "error": "not_connected", "message": r["message"]}, r
        ev.close()


def test_broadcast_refusals():
    # "*" with connected peers that refuse: each refusal is its own
    # send_failed with the peer's id and reason (not "*" not_connected), and
    # over control the reply carries the refusal's code.
    srv = H.WSServer()
    try:
        peers = [{"id": "small", "url": srv.url, "max_message_size": "1KiB"},
                 {"id": "big", "url": srv.url}]
        with H.Bridge(peers=peers) as b:
            b.wait_state("small", "connected")
            b.wait_state("big", "connected")
            ev = b.events()
            b.push("*", "x" * 2000)
            e = ev.expect("send_failed", "small", reason="too_large")
            assert e["id"] == "small", e
            assert srv.next_received()[1] == "x" * 2000  # "big" took it
            r = b.request({"op": "remove", "id": "big"})
            assert r["ok"], r
            ev.expect("removed", "big")
            r = b.request({"op": "send", "id": "*", "data": "y" * 2000})
            assert r["ok"] is False and r["error"] == "too_large", r
            m = b.metrics()
            assert m.get('honeybee_send_failed_total{reason="not_connected"}', 0) == 0, m
            assert m['honeybee_send_failed_total{reason="too_large"}'] == 2, m
            ev.close()
    finally:
        srv.stop()


def test_send_refusals_rate_limited():
    """5,000 malformed messages on the send socket: every one is counted
    (honeybee_send_failed_total{reason="bad_request"}), but their warnings
    are rate-limited like a peer's info lines (10, then one every 6 s, the
    rest at debug): a few lines on stderr, and the lines that do go say how
    many were held back, so that lines + held back = 5,000."""
    import re
    n = 5000
    with H.Bridge(log={"level": "info"}) as b:
        m0 = b.metrics().get('honeybee_send_failed_total{reason="bad_request"}', 0)
        t0 = time.monotonic()
        for i in range(n):
            b.push("a")  # one frame: needs [id][payload]
        H.wait_for(lambda: b.metrics().get('honeybee_send_failed_total{reason="bad_request"}', 0)
                   - m0 == n, 30, "%d bad_request refusals counted" % n)

        def tally():
            """(refusal lines, summary lines, refusals they say went to debug)"""
            refusals = summaries = held = 0
            for line in b.stderr().splitlines():
                if "send socket: bad request" in line:
                    refusals += 1
                    g = re.search(r"\((\d+) earlier send socket warnings went to debug\)", line)
                    held += int(g.group(1)) if g else 0
                g = re.search(r"send socket: (\d+) more warnings went to debug", line)
                if g:
                    summaries += 1
                    held += int(g.group(1))
            return refusals, summaries, held
        # The number held back is logged at the latest once the bucket has
        # a token again (6 s after the burst), by the bridge loop's turn.
        H.wait_for(lambda: tally()[0] + tally()[2] >= n, 20, "the held-back count to be logged")
        refusals, summaries, held = tally()
        took = time.monotonic() - t0
        print("  %d refusals in %.1fs: %d warning lines and %d summary lines on stderr, %d "
              "held back to debug" % (n, took, refusals, summaries, held))
        assert refusals + summaries <= 10 + 2 + int(took / 6), (refusals, summaries, held)
        assert refusals + held == n, (refusals, held)


def test_ipc_endpoints():
    srv = H.WSServer()
    try:
        with H.Bridge(ipc=True, peers=[{"id": "a", "url": srv.url}]) as b:
            b.wait_state("a", "connected")
            sub = b.sub("inbox")
            confirm_inbox(b, srv, sub, "a")
            b.push("a", "over ipc")
            assert srv.next_received() == (1, "over ipc")
            sub.close()
    finally:
        srv.stop()


if __name__ == "__main__":
    H.run([test_inbox_frames, test_events_frames_and_order, test_send_socket,
           test_not_connected_send, test_broadcast_refusals, test_send_refusals_rate_limited,
           test_ipc_endpoints])
