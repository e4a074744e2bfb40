"""Signals at scale (issue 11, finding 7), against the real daemon.

SIGUSR1 and SIGUSR2 have a meaning (peer states, totals) and never kill;
SIGTERM is honoured while the peers of the file are being added and while
a reload of many peers runs, and the process ends within drain_timeout
plus the documented teardown bound.
"""
import os
import signal
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


if __name__ == "__main__":
    H.run([test_usr1_usr2_log_and_do_not_kill, test_sigterm_during_start_of_many_peers,
           test_sigterm_during_reload_of_many_peers])
