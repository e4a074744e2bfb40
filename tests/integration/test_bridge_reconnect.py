"""Reconnects and their events, keepalive and stall detection, max_retries,
seen from the outside (events socket, inbox metadata, the peer's side).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

FAST = {"initial_delay": "100ms", "max_delay": "200ms", "jitter": 0.0}


def test_reconnect_after_peer_close():
    srv = H.WSServer()
    try:
        with H.Bridge() as b:
            ev = b.events()
            sub = b.sub("inbox")
            b.ok({"op": "connect", "id": "p", "url": srv.url,
                  "options": {"reconnect": FAST}})
            ev.expect("connected", "p")
            def seen():
                srv.send_all("one")
                return H.recv_inbox(sub, 0.2)
            m1 = H.wait_for(seen, 10, "an inbox message")
            assert m1[2]["conn"] == 1
            srv.close_all(4000, "go away")
            e = ev.expect("disconnected", "p")
            assert e["reason"] == "closed_by_peer" and e["code"] == 4000, e
            assert e["conn"] == 1, e
            assert e.get("error") == "go away", e
            e = ev.expect("connected", "p", timeout=10)
            assert e["attempt"] >= 1 and e["conn"] == 2, e
            while H.recv_inbox(sub, 0.1):
                pass
            m2 = H.wait_for(seen, 10, "an inbox message after reconnect")
            assert m2[2]["conn"] == 2, m2
            assert m2[2]["seq"] > m1[2]["seq"], (m1, m2)  # seq runs across reconnects
            assert b.list()["p"]["state"] == "connected"
            m = b.metrics()
            assert m['honeybee_reconnects_total{peer="p"}'] >= 1, m
            sub.close()
            ev.close()
    finally:
        srv.stop()


def test_dial_failed_and_max_retries():
    port = H.free_port()
    with H.Bridge() as b:
        ev = b.events()
        b.ok({"op": "connect", "id": "d", "url": "ws://127.0.0.1:%d/" % port,
              "options": {"reconnect": dict(FAST, max_retries=2)}})
        ev.expect("added", "d")
        attempts = []
        for _ in range(3):
            e = ev.expect("dial_failed", "d", timeout=10)
            assert e.get("error"), e
            attempts.append(e["attempt"])
        assert attempts == [1, 2, 3], attempts
        e = ev.expect("removed", "d", timeout=10)
        assert e["reason"] == "max_retries", e
        H.wait_for(lambda: "d" not in b.list(), 5, "d to leave the list")
        ev.close()


def test_keepalive_timeout():
    raw = H.RawWSServer(read=True)  # never answers pings
    try:
        with H.Bridge() as b:
            ev = b.events()
            b.ok({"op": "connect", "id": "k", "url": raw.url,
                  "options": {"keepalive": {"ping_interval": "200ms", "timeout": "600ms"},
                              "reconnect": FAST}})
            ev.expect("connected", "k")
            e = ev.expect("disconnected", "k", timeout=10)
            assert e["reason"] == "keepalive", e
            assert e["code"] == 1001, e  # no close received: the one sent
            ev.expect("connected", "k", timeout=10)  # replaced
            ev.close()
    finally:
        raw.stop()


def test_stall_timeout():
    srv = H.WSServer()  # answers pings, sends nothing
    try:
        with H.Bridge() as b:
            ev = b.events()
            b.ok({"op": "connect", "id": "s", "url": srv.url,
                  "options": {"keepalive": {"ping_interval": "100ms", "timeout": "5s",
                                            "stall_timeout": "700ms"},
                              "reconnect": FAST}})
            ev.expect("connected", "s")
            e = ev.expect("disconnected", "s", timeout=10)
            assert e["reason"] == "stall" and e["code"] == 1001, e
            idx, code, _ = srv.next_close(10)
            assert code == 1001, code
            ev.close()
    finally:
        srv.stop()


if __name__ == "__main__":
    H.run([test_reconnect_after_peer_close, test_dial_failed_and_max_retries,
           test_keepalive_timeout, test_stall_timeout])
