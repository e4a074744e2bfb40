"""The daemon's HTTP server as a hostile neighbour sees it (issue 11,
findings 1-3): it binds exactly the configured address, answers GET and
HEAD of /healthz, /readyz and /metrics only, never switches to WebSocket,
survives a descriptor-exhaustion attempt with /healthz and control `ping`
still answering, and does not hold a /metrics body per slow client.

The two heavy ones (descriptor exhaustion, /metrics amplification) are
bounded black-box tests against the real daemon: they measure and assert a
generous bound, and print what they saw (docs/operations.md quotes them).
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402


def raw(port, request, host="127.0.0.1", timeout=5.0):
    """Send a raw request, read the whole answer (the server closes)."""
    s = socket.create_connection((host, port), timeout=H.t(timeout))
    try:
        s.sendall(request)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def status_of(answer):
    line = answer.split(b"\r\n", 1)[0]
    return int(line.split()[1]) if line.startswith(b"HTTP/1.") else None


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_binds_exactly_the_address():
    """bridge.http 127.0.0.1:P listens on 127.0.0.1 only: 127.0.0.2 (also
    loopback on Linux, reached by a wildcard bind) is refused."""
    with H.Bridge() as b:
        st, body = b.http("/healthz")
        assert st == 200, (st, body)
        try:
            socket.create_connection(("127.0.0.2", b.http_port), timeout=2).close()
        except ConnectionRefusedError:
            pass
        else:
            raise AssertionError("HTTP answered on 127.0.0.2: it binds more than 127.0.0.1")
        assert "listening on 127.0.0.1:%d" % b.http_port in b.stderr()


def test_methods_paths_and_upgrade():
    """GET and HEAD of the three routes; 405 (with Allow) for other
    methods, 404 for other paths, a query ignored, an Upgrade ignored."""
    with H.Bridge() as b:
        p = b.http_port
        H.wait_for(lambda: b.http("/readyz")[0] == 200, 10, "/readyz")
        a = raw(p, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(a) == 200 and a.endswith(b"\r\n\r\nok\n"), a
        a = raw(p, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(a) == 200 and a.endswith(b"\r\n\r\n"), a
        assert b"Content-Length: " in a and b"Content-Length: 0\r\n" not in a, a
        a = raw(p, b"GET /readyz?probe=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(a) == 200 and a.endswith(b"ready\n"), a
        for method in (b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE"):
            a = raw(p, method + b" /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert status_of(a) == 405, (method, a)
            assert b"\r\nAllow: GET, HEAD\r\n" in a, a
        for path in (b"/", b"/x", b"/healthz/", b"/metricsx", b"/" + b"a" * 5000):
            a = raw(p, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(a) == 404, (path[:20], a[:80])
        up = (b"GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        for path in (b"/healthz", b"/x"):
            a = raw(p, up % path)
            assert status_of(a) in (200, 404), a
            assert b"Upgrade" not in a.split(b"\r\n\r\n")[0], a
        a = raw(p, b"NOT HTTP AT ALL\r\n\r\n")
        assert status_of(a) == 400, a
        a = raw(p, b"GET /healthz HTTP/1.1\r\n" + b"X-Pad: " + b"p" * 9000 + b"\r\n\r\n")
        assert status_of(a) in (400, 431), a[:80]
        m = b.metrics()
        assert m.get('honeybee_http_responses_total{code="405"}', 0) >= 6, m


def answer_then_end(port, request, junk, chunk=65536, pace=0.0, timeout=10.0):
    """Send `request` then `junk` bytes of garbage (on a thread, in chunks,
    `pace` seconds apart; junk=None: never stop), while reading what the
    server answers. Returns (answer, how the read ended: "eof" or the
    error's name, seconds from the first byte sent to the end of the read,
    seconds the sender ran, the sender's error name or None, bytes of junk
    the kernel took)."""
    import threading
    s = socket.create_connection(("127.0.0.1", port), timeout=H.t(timeout))
    sent = {"err": None, "took": None, "bytes": 0}

    def sender():
        t0 = time.monotonic()
        try:
            s.sendall(request)
            left = junk
            block = b"x" * chunk
            while left is None or left > 0:
                n = chunk if left is None else min(chunk, left)
                s.sendall(block[:n])
                sent["bytes"] += n
                if left is not None:
                    left -= n
                if pace:
                    time.sleep(pace)
        except OSError as e:
            sent["err"] = type(e).__name__
        sent["took"] = time.monotonic() - t0

    th = threading.Thread(target=sender, daemon=True)
    t0 = time.monotonic()
    th.start()
    out = b""
    end = None
    try:
        while True:
            try:
                got = s.recv(65536)
            except OSError as e:
                end = type(e).__name__
                break
            if not got:
                end = "eof"
                break
            out += got
        read_took = time.monotonic() - t0
        th.join(H.t(timeout))
        assert not th.is_alive(), "the sender was never stopped by the server"
    finally:
        s.close()
    return out, end, read_took, sent["took"], sent["err"], sent["bytes"]


def complete(answer):
    """True when `answer` holds a whole response: its head and exactly
    Content-Length bytes of body."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) == int(line.split(b":", 1)[1])
    return False


def test_answer_survives_unread_input():
    """A client still sending when the server has answered (a refused
    request followed by 256 KiB of garbage: 431, 400, 405 with a body the
    server never reads; a well-formed GET followed by garbage) reads the
    whole answer and then EOF, never a reset: the server shuts its side,
    discards what keeps coming for a bounded time, then closes (a closing
    socket with unread input sends RST, which can destroy the answer)."""
    with H.Bridge() as b:
        p = b.http_port
        cases = [
            (431, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 20000 + b"\r\n\r\n"),
            (400, b"NOT HTTP AT ALL\r\n\r\n"),
            (405, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 262144\r\n\r\n"),
            (200, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            (404, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n"),
        ]
        for want, req in cases:
            for rnd in range(3):
                a, end, took, _, err, _ = answer_then_end(p, req, 256 * 1024)
                assert status_of(a) == want, (want, a[:80])
                assert complete(a), (want, a)
                assert end == "eof", "%d: the read ended with %s, not EOF" % (want, end)
                assert err is None, "%d: the sender got %s" % (want, err)
        st, _ = b.http("/healthz")
        assert st == 200


def test_lingering_is_bounded():
    """A client that never stops sending after its answer cannot hold the
    connection: a fast one is cut once the server has discarded 1 MiB, a
    slow one (1 KiB every 20 ms) after 2 s. Either way the answer arrived
    whole first."""
    with H.Bridge() as b:
        p = b.http_port
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        a, end, _, took, err, n = answer_then_end(p, req, None)
        print("  fast sender: answer %s, read ended %s, sender stopped after %.2fs and %d KiB "
              "by %s" % (status_of(a), end, took, n // 1024, err))
        assert status_of(a) == 200 and complete(a), a
        assert err is not None and took < H.t(3), (took, err)
        assert n >= 1024 * 1024, "cut after %d bytes, before the server read 1 MiB" % n
        a, end, _, took, err, n = answer_then_end(p, req, None, chunk=1024, pace=0.02)
        print("  slow sender: answer %s, read ended %s, sender stopped after %.2fs and %d KiB "
              "by %s" % (status_of(a), end, took, n // 1024, err))
        assert status_of(a) == 200 and complete(a), a
        assert err is not None and 1.5 <= took < H.t(5) + 1, (took, err)
        st, _ = b.http("/healthz")
        assert st == 200
        m = b.metrics()  # the end of lingering is not a timeout: the answer was given
        assert m.get("honeybee_http_timeouts_total", 0) == 0, m


def test_idle_connection_times_out():
    """A connection that never sends its request is closed at
    http_read_timeout; one that never reads its response at
    http_write_timeout."""
    with H.Bridge(bridge={"http_read_timeout": "1s", "http_write_timeout": "1s"}) as b:
        s = socket.create_connection(("127.0.0.1", b.http_port), timeout=H.t(10))
        t0 = time.monotonic()
        assert s.recv(1) == b"", "the server answered a request never sent"
        took = time.monotonic() - t0
        s.close()
        assert took < H.t(4), "idle connection held %.1fs (read timeout 1s)" % took
        st, _ = b.http("/healthz")
        assert st == 200


def test_descriptor_exhaustion():
    """Under RLIMIT_NOFILE 256, 300 connections held open (half of them
    WebSocket upgrade requests, half silent) take at most
    http_max_connections descriptors: /healthz and control `ping` keep
    answering while they are held."""
    with H.Bridge(nofile=256) as b:
        pid = b.proc.pid
        fds0 = open_fds(pid)
        held = []
        up = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        try:
            for i in range(300):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(H.t(5))
                s.connect(("127.0.0.1", b.http_port))
                if i % 2:
                    s.sendall(up)
                held.append(s)
            time.sleep(0.5)
            fds = open_fds(pid)
            worst = 0.0
            for _ in range(10):
                t0 = time.monotonic()
                st, body = b.http("/healthz", timeout=3)
                assert st == 200, (st, body)
                assert b.request({"op": "ping"}, timeout=3)["ok"]
                worst = max(worst, time.monotonic() - t0)
            print("  descriptors: %d before, %d with 300 held connections; worst "
                  "/healthz+ping %.3fs" % (fds0, fds, worst))
            assert fds - fds0 <= 64 + 8, "HTTP holds %d descriptors" % (fds - fds0)
        finally:
            for s in held:
                s.close()
        m = b.metrics()
        assert m.get("honeybee_http_evicted_total", 0) > 0, m


def test_metrics_slow_readers_do_not_amplify():
    """10,000 peers (to a closed port: the /metrics body is per peer either
    way); 200 clients send GET /metrics and never read. RSS stays within a
    generous bound of the idle daemon's, and the body size per peer is
    printed."""
    dead = H.free_port()  # nothing listens there
    peers = [{"id": "p%05d" % i, "url": "ws://127.0.0.1:%d/%d" % (dead, i)} for i in range(10000)]
    pool = {"reconnect": {"initial_delay": "30s", "max_delay": "60s"}}
    with H.Bridge(peers=peers, pool=pool, log={"level": "info"}) as b:
        H.wait_for(lambda: len(b.list()) == 10000, 60, "10,000 peers")
        st, body = b.http("/metrics", timeout=30)
        assert st == 200
        per_peer = len(body) / 10000.0
        pid = b.proc.pid
        rss0 = rss_kib(pid)
        held = []
        try:
            for i in range(200):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(H.t(5))
                s.connect(("127.0.0.1", b.http_port))
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                held.append(s)
            time.sleep(1)
            rss1 = rss_kib(pid)
            st, _ = b.http("/healthz", timeout=5)
            assert st == 200
        finally:
            for s in held:
                s.close()
        print("  /metrics body %d bytes (%.0f bytes per peer); RSS %d MiB idle, %d MiB with "
              "200 slow readers" % (len(body), per_peer, rss0 // 1024, rss1 // 1024))
        limit = 3 * len(body) // 1024 + 32 * 1024
        if H.SANITIZER:
            limit += 256 * 1024  # ASan keeps freed memory in quarantine (256 MiB)
        assert rss1 - rss0 < limit, "RSS grew by %d KiB (limit %d KiB)" % (rss1 - rss0, limit)


if __name__ == "__main__":
    H.run([test_binds_exactly_the_address, test_methods_paths_and_upgrade,
           test_answer_survives_unread_input, test_lingering_is_bounded,
           test_idle_connection_times_out, test_descriptor_exhaustion,
           test_metrics_slow_readers_do_not_amplify])
