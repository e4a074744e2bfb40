"""Signals at scale (issue 11, finding 7), against the real daemon.

SIGUSR1 and SIGUSR2 have a meaning (peer states, totals) and never kill;
SIGTERM is honoured while the peers of the file are being added and while
a reload of many peers runs, and the process ends within drain_timeout
plus the documented teardown bound; with thousands of connected peers the
teardown frees the connections in one pass and leaves their sockets to the
exit (HB_TEARDOWN_FAST_MIN forces that path at a size a test can afford).
"""
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

SLOW_RETRY = {"reconnect": {"initial_delay": "30s", "max_delay": "60s"}}


def dead_peers(n, prefix="p"):
    port = H.free_port()  # nothing listens there: every peer waits in backoff
    return [{"id": "%s%05d" % (prefix, i), "url": "ws://127.0.0.1:%d/%d" % (port, i)}
            for i in range(n)]


def test_usr1_usr2_log_and_do_not_kill():
    ws = H.WSServer()
    try:
        peers = [{"id": "a", "url": ws.url_of("a")}, {"id": "b", "url": ws.url_of("b")}]
        with H.Bridge(peers=peers, log={"level": "info"}) as b:
            b.wait_state("a", "connected")
            b.wait_state("b", "connected")
            b.signal(signal.SIGUSR1)
            H.wait_for(lambda: "SIGUSR1: 2 peers" in b.stderr(), 5, "the SIGUSR1 summary")
            H.wait_for(lambda: "[peer=b] state connected" in b.stderr(), 5, "b's state line")
            b.signal(signal.SIGUSR2)
            H.wait_for(lambda: "SIGUSR2: 2 peers (2 connected" in b.stderr(), 5, "SIGUSR2 line")
            assert b.proc.poll() is None, "a user signal killed the bridge"
            assert b.request({"op": "ping"})["ok"]
    finally:
        ws.stop()


def test_sigterm_during_start_of_many_peers():
    """SIGTERM right after the start: the file's 5,000 peers stop being
    added, every added one is closed, exit 0 well within the budget."""
    b = H.Bridge(peers=dead_peers(5000), pool=SLOW_RETRY, log={"level": "info"}, http=False)
    b.start(wait=False)
    H.wait_for(lambda: "ready:" in b.stderr(), 20, "the sockets bound")
    t0 = time.monotonic()
    b.signal(signal.SIGTERM)
    rc = b.wait_exit(20)
    took = time.monotonic() - t0
    print("  exit %d %.2f s after SIGTERM" % (rc, took))
    assert rc == 0, b.stderr()[-2000:]
    assert took < H.t(2 + 2 + 2 + 2), "took %.1fs (drain 2s + close + teardown bound)" % took
    assert "shutdown complete" in b.stderr()
    assert "teardown: released" in b.stderr(), b.stderr()[-2000:]


def test_sigterm_during_reload_of_many_peers():
    """A SIGHUP that adds 5,000 peers, then SIGTERM at once: the reload
    stops between batches and the bridge exits 0 within the budget."""
    with H.Bridge(pool=SLOW_RETRY, log={"level": "info"}, http=False) as b:
        b.cfg["peers"] = dead_peers(5000, "r")
        b.write_config()
        b.signal(signal.SIGHUP)
        H.wait_for(lambda: "SIGHUP: reloading" in b.stderr(), 10, "the reload to start")
        t0 = time.monotonic()
        b.signal(signal.SIGTERM)
        rc = b.wait_exit(30)
        took = time.monotonic() - t0
        print("  exit %d %.2f s after SIGTERM (reload %s)" %
              (rc, took, "stopped" if "reload stopped by a signal" in b.stderr() else "finished"))
        assert rc == 0, b.stderr()[-2000:]
        assert took < H.t(10), "took %.1fs" % took


TEARDOWN = re.compile(r"teardown: released (\d+) connections in [\d.]+ ms(.*)")


def feed(n):
    """hb-feed (bench/) holding n idle WebSocket connections: (process, urls)."""
    exe = os.path.join(H.BIN, "bench", "hb-feed")
    if not os.path.exists(exe):
        raise H.Skip("bench tools not built (HONEYBEE_BUILD_BENCH=OFF)")
    lis = max(1, n // 1000)
    p = subprocess.Popen([exe, "--conns", str(n), "--size", "64", "--listeners", str(lis),
                          "--idle"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    for line in p.stdout:
        obj = json.loads(line)
        if obj.get("event") == "listening":
            ports = obj["ports"]
            return p, ["ws://127.0.0.1:%d/%d" % (ports[i % len(ports)], i) for i in range(n)]
    p.wait()
    raise AssertionError("hb-feed did not listen")


def test_teardown_line_small_pool():
    """A few peers: the teardown frees them and destroys the lws context
    as a library user's hb_pool_destroy does; HB_TEARDOWN_FAST_MIN=0 makes
    it leave the sockets to the exit instead."""
    ws = H.WSServer()
    try:
        for env, fast in ((None, False), ({"HB_TEARDOWN_FAST_MIN": "0"}, True)):
            peers = [{"id": "s%d" % i, "url": ws.url_of("s%d" % i)} for i in range(3)]
            with H.Bridge(peers=peers, log={"level": "info"}, http=False, env=env) as b:
                for p in peers:
                    b.wait_state(p["id"], "connected")
            m = TEARDOWN.search(b.stderr())
            assert m, b.stderr()[-2000:]
            assert ("left to the process exit" in m.group(2)) == fast, m.group(0)
    finally:
        ws.stop()


def test_sigterm_with_thousands_connected():
    """3,000 connected peers, the fast teardown forced: SIGTERM ends the
    process within drain_timeout (2 s, nothing to drain) plus a bound, the
    teardown line says the sockets were left to the exit, exit 0."""
    n = 3000
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < n + 200:
        raise H.Skip("the hard open file limit (%d) is below %d" % (hard, n + 200))
    fp, urls = feed(n)
    try:
        peers = [{"id": "c%05d" % i, "url": u} for i, u in enumerate(urls)]
        b = H.Bridge(peers=peers, pool=SLOW_RETRY, log={"level": "info"}, http=False,
                     env={"HB_TEARDOWN_FAST_MIN": "0"})
        b.start()
        try:
            H.wait_for(lambda: b.request({"op": "stats"})["peers"]["connected"] == n, H.t(30),
                       "every peer connected", interval=0.2)
            t0 = time.monotonic()
            b.signal(signal.SIGTERM)
            rc = b.wait_exit(30)
            took = time.monotonic() - t0
        finally:
            b.stop()
        err = b.stderr()
        m = TEARDOWN.search(err)
        print("  %d peers: exit %d %.2f s after SIGTERM; %s" %
              (n, rc, took, m.group(0) if m else "no teardown line"))
        assert rc == 0, err[-2000:]
        assert m and "left to the process exit" in m.group(2), err[-2000:]
        assert "exiting without freeing" not in err, "the watchdog had to cut the teardown"
        assert took < H.t(2 + 3), "took %.1fs (drain 2 s + 3 s)" % took
    finally:
        fp.send_signal(signal.SIGINT)
        fp.wait(10)


if __name__ == "__main__":
    H.run([test_usr1_usr2_log_and_do_not_kill, test_sigterm_during_start_of_many_peers,
           test_sigterm_during_reload_of_many_peers, test_teardown_line_small_pool,
           test_sigterm_with_thousands_connected])
