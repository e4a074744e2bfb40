"""Conformance suite, client side, in the image of Autobahn|Testsuite
(issue 10 item 4): a case server of our own (cases.py; Autobahn's
categories 1 framing, 2 pings and pongs, 3 reserved bits, 4 opcodes,
5 fragmentation, 6 UTF-8, 7 close handling, 9 limits and large messages,
10 miscellaneous) against the real daemon.

As in Autobahn, the client under test echoes: echo_subscriber.py, a
separate process, forwards every inbox message back to its peer through
the send socket (text as text, binary as binary), so both directions are
checked byte for byte: what the bridge published (the inbox, checked
exactly for every case) and what it wrote back (the echo on the wire,
masked, well formed). Every case is one peer (`c<case>`, URL
/case/<case>) of one bridge; several run at a time.

Each case ends PASS, NON-STRICT (passes, not in the strict way, as in
Autobahn: a coalesced pong, UTF-8 failed only at the end of a message) or
FAIL with its reason. The run prints the table and fails if any case
failed. Arguments: case-id prefixes or regexes to run only those
(`test_conformance.py 7. 9.6`); HB_CONFORMANCE_JOBS cases at a time (6).
"""

import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import zmq  # noqa: E402

import hbtest as H  # noqa: E402
import hbpeers as P  # noqa: E402
import wsraw as W  # noqa: E402
import cases as C  # noqa: E402

JOBS = int(os.environ.get("HB_CONFORMANCE_JOBS", "6"))


class CaseFail(Exception):
    pass


class CaseRun:
    """The server side of one case (runs on the connection's thread)."""

    def __init__(self, conn, cid, control):
        self.conn = conn
        self.cid = cid
        self.control = control
        self.first = b""
        self.published = []
        self.want_end = None  # (reason, code, error or None)
        self.grade = "PASS"
        self.notes = []
        self.msgs = []      # data messages the bridge wrote (echoes)
        self.pongs_got = []
        self.msg_i = 0      # echoes consumed by echo()
        self.pong_i = 0
        self.close = self._close  # t.close(): the server closes normally

    # -- plumbing --

    def _up(self):
        if not self.conn.upgraded:
            self.conn.upgrade(first=self.first)

    def _pump(self, timeout):
        ev = self.conn.next_event(timeout, skip=())
        if ev is None:
            return False
        if ev[0] == "msg":
            self.msgs.append((ev[1], ev[2]))
        elif ev[0] == "pong":
            self.pongs_got.append(ev[1])
        elif ev[0] == "eof":
            time.sleep(min(timeout, 0.01))
            return False
        return True

    def _wait(self, cond, timeout):
        deadline = time.monotonic() + H.t(timeout)
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._pump(min(left, 0.05))
        return True

    # -- what a case says --

    def send(self, data):
        self._up()
        self.conn.send(data, timeout=H.t(60))

    def send_chunks(self, data, size, delay=0.0):
        self._up()
        self.conn.send_chunks(data, size, delay)

    def sleep(self, s):
        time.sleep(s)

    def non_strict(self, why):
        if self.grade == "PASS":
            self.grade = "NON-STRICT"
        self.notes.append(why)

    def echo(self, msgs, timeout=10):
        self._up()
        self.published += list(msgs)
        want = self.msg_i + len(msgs)
        ok = self._wait(lambda: len(self.msgs) >= want, timeout)
        got = self.msgs[self.msg_i:want]
        for i, (m, g) in enumerate(zip(msgs, got)):
            if m != g:
                raise CaseFail("echo %d: got %s %d bytes %r, want %s %d bytes %r" % (
                    i + 1, "binary" if g[0] else "text", len(g[1]), g[1][:30],
                    "binary" if m[0] else "text", len(m[1]), m[1][:30]))
        if not ok:
            raise CaseFail("%d of %d echoes came back (%s)" % (len(got), len(msgs), self._end()))
        self.msg_i = want

    def pongs(self, payloads, coalesce=False, timeout=10):
        self._up()
        last = payloads[-1]
        ok = self._wait(lambda: last in self.pongs_got[self.pong_i:], timeout)
        got = self.pongs_got[self.pong_i:]
        if not ok:
            raise CaseFail("no pong for %r (pongs: %r; %s)" % (last, got, self._end()))
        if got == list(payloads):
            pass
        elif coalesce and _subseq(got, payloads):
            self.non_strict("answered %d of %d pings (coalesced)" % (len(got), len(payloads)))
        else:
            raise CaseFail("pongs %r, want %r" % (got, list(payloads)))
        self.pong_i = len(self.pongs_got)

    def quiet(self, seconds):
        self._up()
        n_m, n_p = len(self.msgs), len(self.pongs_got)
        self._wait(lambda: False, seconds)
        if len(self.msgs) != n_m or len(self.pongs_got) != n_p or self.conn.client_close:
            raise CaseFail("the bridge wrote something: %s" % (
                self.msgs[n_m:] or self.pongs_got[n_p:] or self.conn.client_close,))

    def wait_close(self, seconds):
        return self._wait(lambda: self.conn.client_close is not None, seconds)

    def _end(self):
        return "client close %s, eof %s" % (self.conn.client_close, self.conn.eof.is_set())

    def _close(self, code=1000, reason=b""):
        self.send(W.close(code, reason))
        self.expect_close(code, "closed_by_peer", code_in_event=code, reply=False,
                          error=reason.decode() if reason else None)

    def expect_close(self, code, word, code_in_event, reply=False, no_pong=False,
                     published=(), error=None):
        """A normal close: the bridge's close frame carries `code` (for
        None: empty or 1000), the stream ends, the event says word/code."""
        self._up()
        self.published += list(published)
        if not self._wait(lambda: self.conn.client_close is not None, 10):
            raise CaseFail("no close frame from the bridge (%s)" % self._end())
        got = self.conn.client_close[0]
        if not (got == code or (code is None and got in (None, 1000))):
            raise CaseFail("close frame code %s, want %s" % (got, code))
        self._wait(lambda: self.conn.eof.is_set(), 5)
        self.conn.close_tcp()
        if no_pong and len(self.pongs_got) > self.pong_i:
            raise CaseFail("pong after the close: %r" % self.pongs_got[self.pong_i:])
        if len(self.msgs) > self.msg_i:
            raise CaseFail("unexpected echo: %r" % (self.msgs[self.msg_i][1][:40],))
        self.want_end = (word, code_in_event, error)

    def fail(self, code, word, published=(), no_pong=False):
        """The bridge must fail the connection: close frame `code`, event
        reason `word`; messages before the bad frame published (their echo
        may or may not make it back before the close: it is not required)."""
        self._up()
        self.published += list(published)
        if not self._wait(lambda: self.conn.client_close is not None, 10):
            raise CaseFail("the bridge did not fail the connection with %d (%s)" % (
                code, self._end()))
        got = self.conn.client_close[0]
        if got != code:
            raise CaseFail("close frame code %s, want %d" % (got, code))
        self._wait(lambda: self.conn.eof.is_set(), 5)
        self.conn.close_tcp()
        extra = self.msgs[self.msg_i:]
        if extra != list(published)[:len(extra)]:
            raise CaseFail("echoed %r, which was not a valid message before the bad frame" % (
                [m[1][:20] for m in extra],))
        if no_pong and len(self.pongs_got) > self.pong_i:
            raise CaseFail("answered a ping that came after the bad frame")
        self.want_end = (word, code, None)

    def remove_peer(self):
        s = zmq.Context.instance().socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.control)
        s.send_json({"op": "remove", "id": "c" + self.cid})
        if not s.poll(int(H.t(10) * 1000)):
            s.close()
            raise CaseFail("no answer to remove")
        r = s.recv_json()
        s.close()
        if not r.get("ok"):
            raise CaseFail("remove: %s" % r)


def _subseq(got, want):
    it = iter(want)
    return bool(got) and got[-1] == want[-1] and all(any(g == w for w in it) for g in got)


class Suite:
    def __init__(self, selected):
        self.cases = {cid: (desc, fn) for cid, desc, fn in selected}
        self.results = {}
        self.runs = {}
        self.lock = threading.Lock()

    def script(self, conn):
        m = re.match(r"^/case/(.+)$", conn.path or "")
        if not m or m.group(1) not in self.cases:
            conn.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return "404"
        cid = m.group(1)
        with self.lock:
            if cid in self.runs:  # a redial after the case: refuse it
                conn.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return "again"
            t = CaseRun(conn, cid, self.control)
            self.runs[cid] = t
        try:
            self.cases[cid][1](t)
            t.result = None
        except CaseFail as e:
            t.result = str(e)
        except Exception as e:
            t.result = "case error %r" % (e,)
        if not conn.eof.is_set():
            conn.close_tcp()
        return "case"


def run(selected):
    pool = {"connect_timeout": "10s", "send_queue": 4096,
            "reconnect": {"initial_delay": "30s", "max_delay": "30s", "jitter": 0},
            "keepalive": {"ping_interval": 0, "timeout": 0}}
    b = P.start(H.Bridge(pool=pool, log={"level": "warn"}))
    suite = Suite(selected)
    suite.control = b.endpoints["control"]
    table = []
    t0 = time.monotonic()
    srv = inbox = echo = None
    try:
        srv = W.Server(suite.script, name="cases")
        inbox = P.InboxCollector(b)
        echo = subprocess.Popen([sys.executable, os.path.join(HERE, "echo_subscriber.py"),
                                 "--inbox", b.endpoints["inbox"], "--send", b.endpoints["send"],
                                 "--parent", str(os.getpid())])
        ev = b.events()
        _probe(b, inbox)
        order = [cid for cid, _, _ in selected]
        active = {}  # cid -> time started
        events = {}
        queue = list(order)
        while queue or active:
            while queue and len(active) < JOBS:
                cid = queue.pop(0)
                b.ok({"op": "connect", "id": "c" + cid,
                      "url": "ws://127.0.0.1:%d/case/%s" % (srv.port, cid)})
                active[cid] = time.monotonic()
            e = ev.recv(0.05)
            if e is not None:
                events.setdefault(e["id"], []).append(e)
            for cid in list(active):
                t = suite.runs.get(cid)
                pid = "c" + cid
                evs = events.get(pid, [])
                timed_out = time.monotonic() - active[cid] > H.t(120)
                ended = any(x["kind"] in ("disconnected", "removed") for x in evs)
                dial_failed = any(x["kind"] == "dial_failed" for x in evs)
                if not timed_out and not dial_failed and (
                        t is None or not t.conn.done.is_set() or not ended):
                    continue
                del active[cid]
                res, why = _grade(cid, t, evs, inbox, timed_out)
                table.append((cid, res, why))
                if res == "FAIL" or os.environ.get("HB_VERBOSE"):
                    print("  %-8s %-10s %s" % (cid, res, why[:300]), flush=True)
                if b.request({"op": "remove", "id": pid})["ok"]:
                    pass
                inbox.drop(pid)
                if t is not None:
                    t.conn.log = []
                    t.msgs = []
            if b.proc.poll() is not None:
                raise AssertionError("the bridge died: exit %s" % b.proc.returncode)
        P.alive(b)
        ev.close()
    finally:
        if echo:
            echo.terminate()
            echo.wait(10)
        if inbox:
            inbox.stop()
        if srv:
            srv.stop()
        P.finish(b)
    return table, time.monotonic() - t0


def _grade(cid, t, evs, inbox, timed_out):
    if t is None:
        return "FAIL", "the bridge never dialled the case (%s)" % [e["kind"] for e in evs]
    if timed_out and not t.conn.done.is_set():
        return "FAIL", "case timed out"
    if t.result:
        return "FAIL", t.result
    problems = []
    if t.conn.bad():
        problems.append("bad frames from the bridge: %s" % t.conn.bad()[:2])
    d = [e for e in evs if e["kind"] == "disconnected"]
    if not d:
        problems.append("no disconnected event")
    elif t.want_end:
        word, code, error = t.want_end
        e = d[0]
        if e.get("reason") != word or e.get("code") != code:
            problems.append("disconnected %s/%s, want %s/%s" % (
                e.get("reason"), e.get("code"), word, code))
        if error is not None and e.get("error") != error:
            problems.append("disconnected error %r, want %r" % (e.get("error"), error))
    got = inbox.settled("c" + cid, 1, len(t.published))
    if got != t.published:
        problems.append("published %d messages %s, want %d %s" % (
            len(got), [(b, len(p)) for b, p in got][:4], len(t.published),
            [(b, len(p)) for b, p in t.published][:4]))
    if problems:
        return "FAIL", "; ".join(problems)
    return t.grade, "; ".join(t.notes)


def _probe(b, inbox):
    """The echo subscriber and the inbox collector are subscribed: a probe
    peer's message comes back and is on the inbox."""
    got = threading.Event()

    def script(conn):
        conn.upgrade()
        i = 0
        while not got.is_set() and not conn.eof.is_set():
            conn.send(W.text("probe %d" % i))
            i += 1
            if conn.next_event(0.1, skip=("ping", "pong")) not in (None, ("eof",)):
                got.set()
        return "probe"
    srv = W.Server(script)
    try:
        b.ok({"op": "connect", "id": "probe", "url": srv.url})
        H.wait_for(lambda: got.is_set() and inbox.get("probe"), 20, "the echo subscriber")
        b.ok({"op": "remove", "id": "probe"})
    finally:
        got.set()
        srv.stop()


def _key(cid):
    return [int(x) for x in cid.split(".")]


def main():
    pats = sys.argv[1:]
    selected = [c for c in C.CASES
                if not pats or any(c[0] == p or c[0].startswith(p) or re.match(p + "$", c[0])
                                   for p in pats)]
    selected.sort(key=lambda c: _key(c[0]))
    table, took = run(selected)
    table.sort(key=lambda r: _key(r[0]))
    counts = {}
    cats = {}
    for cid, res, why in table:
        counts[res] = counts.get(res, 0) + 1
        cat = cid.split(".")[0]
        cats.setdefault(cat, {}).setdefault(res, 0)
        cats[cat][res] += 1
    print("\nconformance: %d cases in %.1fs" % (len(table), took))
    print("%-8s %-10s %s" % ("case", "result", "note"))
    for cid, res, why in table:
        desc = [c[1] for c in C.CASES if c[0] == cid][0]
        print("%-8s %-10s %s%s" % (cid, res, desc, (" -- " + why[:200]) if why else ""))
    print("\nby category:")
    names = {"1": "framing", "2": "pings and pongs", "3": "reserved bits", "4": "opcodes",
             "5": "fragmentation", "6": "UTF-8 handling", "7": "close handling",
             "9": "limits and large messages", "10": "miscellaneous"}
    for cat in sorted(cats, key=int):
        print("  %-3s %-26s %s" % (cat, names.get(cat, ""), "  ".join(
            "%s %d" % kv for kv in sorted(cats[cat].items()))))
    print("total: %s" % "  ".join("%s %d" % kv for kv in sorted(counts.items())))
    if counts.get("FAIL"):
        sys.exit(1)


if __name__ == "__main__":
    main()
