"""The socket limits and input checks of the ZeroMQ side (docs/operations.md,
"Memory" and "ZeroMQ socket options"; docs/protocol.md):

- a control `send` whose JSON escaping makes it up to 6 times the payload
  (control bytes as \\u0001) still fits the control socket's ZMQ_MAXMSGSIZE;
- a U+0000 inside a connect URL is invalid_url, an invalid id is
  bad_request in every control op (as on the send socket);
- a subscription larger than the PUB sockets' ZMQ_MAXMSGSIZE disconnects
  that subscriber, while ordinary subscriptions keep working;
- the endpoints work on IPv6 loopback (skipped when the host has none).
"""

import json
import os
import socket
import sys

import zmq
from zmq.utils.monitor import recv_monitor_message

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402


def err(b, req, code):
    r = b.request(req)
    assert r["ok"] is False and r["error"] == code, (str(req)[:200], r)
    return r


def test_control_send_escaped():
    """4 MiB of control bytes: 24 MiB of JSON, more than the old limit of
    4/3 * 16 MiB + 64 KiB, less than 6 * 16 MiB + 64 KiB."""
    srv = H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "p", "url": srv.url}], log={"level": "info"}) as b:
            b.wait_state("p", "connected")
            data = "\x01" * (4 << 20)
            body = json.dumps({"op": "send", "id": "p", "data": data}).encode()
            assert len(body) > (16 << 20) * 4 // 3 + 65536, len(body)
            r = b.request(body, timeout=30)
            assert r == {"ok": True}, r
            idx, msg = srv.next_received(30)
            assert msg == data, len(msg)
            assert b.request({"op": "ping"}) == {"ok": True}
    finally:
        srv.stop()


def test_invalid_ids_and_urls():
    srv = H.WSServer()
    try:
        with H.Bridge() as b:
            r = err(b, {"op": "connect", "id": "n", "url": srv.url + "\u0000x"}, "invalid_url")
            assert "U+0000" in r["message"], r
            assert "n" not in b.list()
            err(b, {"op": "connect", "id": "a\u0000b", "url": srv.url}, "bad_request")
            # The same invalid id is bad_request in every op, not unknown_peer.
            for bad in ("a*b", "", "x" * 129, "a\u0000b", "tab\there"):
                err(b, {"op": "send", "id": bad, "data": "x"}, "bad_request")
                err(b, {"op": "remove", "id": bad}, "bad_request")
                err(b, {"op": "stats", "id": bad}, "bad_request")
            # A valid id that is not a peer stays unknown_peer.
            err(b, {"op": "send", "id": "ghost", "data": "x"}, "unknown_peer")
            err(b, {"op": "remove", "id": "ghost"}, "unknown_peer")
            # The refused sends are counted as bad_request.
            m = b.metrics()
            assert m['honeybee_send_failed_total{reason="bad_request"}'] == 5, m
            assert m['honeybee_send_failed_total{reason="unknown_peer"}'] == 1, m
    finally:
        srv.stop()


def test_subscription_size_limit():
    srv = H.WSServer()
    try:
        with H.Bridge(peers=[{"id": "p", "url": srv.url}]) as b:
            b.wait_state("p", "connected")
            big = b.ctx.socket(zmq.SUB)
            big.setsockopt(zmq.LINGER, 0)
            mon = big.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
            big.setsockopt(zmq.SUBSCRIBE, b"p" + b"x" * 5000)  # > 4096
            big.connect(b.endpoints["inbox"])
            seen = set()

            def event(kind):
                def got():
                    while mon.poll(50):
                        ev = recv_monitor_message(mon)
                        seen.add(ev["event"])
                    return kind in seen
                return got
            H.wait_for(event(zmq.EVENT_CONNECTED), 10, "the big subscriber to connect")
            H.wait_for(event(zmq.EVENT_DISCONNECTED), 10,
                       "the bridge to drop the oversized subscription")
            # Ordinary subscriptions still work, and the bridge is fine.
            sub = b.sub("inbox", topic=b"p")

            def seen_msg():
                srv.send_all("m")
                return H.recv_inbox(sub, 0.2)
            assert H.wait_for(seen_msg, 10, "an ordinary subscription")[0] == "p"
            ev = b.events()  # the events PUB: a 1-byte ... 128-byte topic works too
            ev.close()
            assert b.request({"op": "ping"}) == {"ok": True}
            big.disable_monitor()
            mon.close(0)
            big.close(0)
            sub.close(0)
    finally:
        srv.stop()


def _have_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def _free_port6():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.bind(("::1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_ipv6_endpoints():
    if not _have_ipv6_loopback():
        print("skip test_ipv6_endpoints: no IPv6 loopback on this host", flush=True)
        return
    srv = H.WSServer()
    try:
        eps = {n: "tcp://[::1]:%d" % _free_port6() for n in ("inbox", "events", "send", "control")}
        b = H.Bridge(peers=[{"id": "p", "url": srv.url}], bridge=eps)
        b.ctx.setsockopt(zmq.IPV6, 1)  # for the test's own sockets
        try:
            with b:
                assert b.request({"op": "ping"}) == {"ok": True}
                b.wait_state("p", "connected")
                ev = b.events()  # over the send socket and the events PUB
                sub = b.sub("inbox")

                def seen():
                    srv.send_all("v6")
                    return H.recv_inbox(sub, 0.2)
                assert H.wait_for(seen, 10, "the inbox over IPv6")[0] == "p"
                sub.close(0)
                ev.close()
        finally:
            b.ctx.setsockopt(zmq.IPV6, 0)
    finally:
        srv.stop()


if __name__ == "__main__":
    H.run([test_control_send_escaped, test_invalid_ids_and_urls, test_subscription_size_limit,
           test_ipv6_endpoints])
