"""The hostile-peer matrix (issue 9 item 3; SPEC.md sections 4, 5, 7, 9).

Each case is one peer of the real daemon pointed at its own scripted raw
server (wsraw.Server): the first connection gets the hostile bytes, later
ones (the redials) a correct handshake and silence; a handshake case
breaks every handshake. 74 cases in 5 groups, one bridge process per
group, the cases of a group all at the same time.
For every case the test asserts, against the real daemon:

- it stays up and answers control `ping` (checked with every case);
- it publishes nothing it refused: the inbox of that peer holds exactly the
  valid messages sent before the bad frame;
- the connection ends with the reason and code of SPEC.md section 5
  (`disconnected`; `dial_failed` for a broken handshake), and the close
  frame the bridge sent, where it still can, carries 1002, 1007 or 1009;
- a declared length above max_message_size closes when the header arrives:
  the server sends the header and never the payload;
- it redials: a second connection arrives.

The expected end of every frame case is written out by hand and checked
against wsraw's oracle too (the same stream, the same limit), so a case
cannot silently assert something the oracle thinks is wrong.

Run one group: `test_hostile_peers.py test_frames_protocol`; one case:
HB_CASES=regex. Under valgrind: ctest -L valgrind (HB_BRIDGE is then
tests/integration/valgrind-bridge.sh).
"""

import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402
import hbpeers as P  # noqa: E402
import wsraw as W  # noqa: E402

KiB, MiB = 1024, 1024 * 1024
ONLY = os.environ.get("HB_CASES", "")

POOL = {
    "connect_timeout": "5s",
    "reconnect": {"initial_delay": "200ms", "max_delay": "1s", "multiplier": 2.0,
                  "jitter": 0, "stable_after": "30s"},
    "keepalive": {"ping_interval": 0, "timeout": 0},
}

PROTO, SIZE, UTF8 = ("protocol_error", 1002), ("too_large", 1009), ("invalid_utf8", 1007)


class Case:
    """kind "frames": after a correct handshake the server writes `before`
    (valid frames), then `bad`; `published` is what the inbox must hold;
    `end` the disconnected (reason, code) and the close code the bridge
    sends (a list: any of them); header_only: `bad` is a frame header whose payload never comes.
    kind "handshake": the server's answer is `script` (a function of the
    Conn); the bridge must report dial_failed and dial again.
    kind "custom": script(conn) does the talking; check(case, ctx) checks."""

    def __init__(self, name, kind="frames", before=(), bad=b"", published=None, end=None,
                 limit=8 * KiB, opts=None, script=None, check=None, header_only=False,
                 oracle=True, wait_close=5.0):
        self.name = name
        self.kind = kind
        self.before = list(before)
        self.bad = bad
        self.published = published
        self.ends = end if isinstance(end, list) else [end]
        self.limit = limit
        self.opts = dict(opts or {})
        self.script = script
        self.check = check
        self.header_only = header_only
        self.oracle = oracle
        self.wait_close = wait_close
        self.server = None
        self.failure = None


def msg(payload, binary=False):
    return (binary, payload.encode() if isinstance(payload, str) else payload)


def before_frames(c):
    """The valid frames written before the bad bytes, and what they publish."""
    fr = b"".join(W.text(p) if not b else W.binary(p) for b, p in c.before)
    return fr, [(b, p) for b, p in c.before]


def frames_script(c):
    def script(conn):
        if conn.index > 1:
            return W.idle(conn)
        pre, _ = before_frames(c)
        conn.upgrade(first=pre)
        if not conn.send(c.bad, timeout=H.t(30)):
            return "send stopped: %r" % (conn.send_error,)
        # The bridge must close now; a client that waits for more gets the
        # stream ended by us after the deadline (then it is `incomplete`).
        if conn.wait_end(H.t(c.wait_close)) is None and not conn.eof.is_set():
            conn.close_tcp()
            return "no close from the client"
        return "closed"
    return script


def handshake_script(answer):
    def script(conn):
        answer(conn)
        conn.wait_eof(H.t(10))
        conn.close_tcp()
        return "handshake"
    return script


# ---- checks ------------------------------------------------------------------------

class Ctx:
    def __init__(self, b, ev, inbox):
        self.b, self.ev, self.inbox = b, ev, inbox


def _first_conn_done(c, timeout):
    conn = c.server.wait_conn(1, timeout)
    assert conn is not None, "the bridge never connected"
    assert conn.done.wait(timeout), "the server script did not finish"
    if conn.error is not None:
        raise AssertionError("server script raised %r" % (conn.error,))
    return conn


def check_frames(c, ctx):
    b, ev, inbox = ctx.b, ctx.ev, ctx.inbox
    pid = c.name
    e1 = ev.next(lambda e: e["id"] == pid and e["kind"] in ("connected", "dial_failed"),
                 timeout=20)
    assert e1["kind"] == "connected", e1
    d = ev.next(lambda e: e["id"] == pid and e["kind"] in ("disconnected", "removed"),
                timeout=c.wait_close + 20)
    P.alive(b)
    assert d["kind"] == "disconnected", d
    got = (d.get("reason"), d.get("code"))
    conn = _first_conn_done(c, H.t(15))
    problems = []
    want = [e[:2] for e in c.ends]
    if got not in want:
        problems.append("disconnected %s/%s, want %s" % (got + (
            " or ".join("%s/%s" % w for w in want),)))
    reason, code = got if got in want else want[0]
    if reason == "closed_by_peer":
        want_close = code if code != 1005 else None
    elif reason in ("protocol_error", "too_large", "invalid_utf8"):
        want_close = code
    else:
        want_close = "none"
    sent = conn.client_close
    if want_close == "none":
        pass
    elif sent is None:
        problems.append("the bridge sent no close frame (want %s)" % want_close)
    elif sent[0] != want_close and not (want_close is None and sent[0] in (None, 1000)):
        problems.append("the bridge's close frame has code %s, want %s" % (sent[0], want_close))
    if conn.bad():
        problems.append("the bridge sent bad frames: %s" % conn.bad()[:3])
    if c.header_only and conn.result != "closed":
        problems.append("no close while the payload was still to come (%s)" % conn.result)
    # What was published: exactly the valid messages before the bad frame.
    want_msgs = [(b_, p) for b_, p in c.published]
    got_msgs = inbox.settled(pid, 1, len(want_msgs))
    if got_msgs != want_msgs:
        problems.append("published %s, want %s" % (_short(got_msgs), _short(want_msgs)))
    # Redial: a second connection, handshake done (`connected` again).
    e2 = ev.next(lambda e: e["id"] == pid and e["kind"] in ("connected", "removed"),
                 timeout=20)
    if e2["kind"] != "connected":
        problems.append("no redial: %s" % e2)
    if inbox.get(pid, 2):
        problems.append("published on the redial: %s" % _short(inbox.get(pid, 2)))
    assert not problems, "; ".join(problems)


def check_handshake(c, ctx):
    b, ev, inbox = ctx.b, ctx.ev, ctx.inbox
    pid = c.name
    d = ev.next(lambda e: e["id"] == pid and e["kind"] in ("dial_failed", "connected",
                                                          "removed"), timeout=30)
    P.alive(b)
    assert d["kind"] == "dial_failed", "want dial_failed, got %s" % d
    assert d.get("attempt") == 1 and d.get("error"), d
    # It dials again (and fails again), and never says connected.
    assert c.server.wait_conn(2, H.t(15)) is not None, "no second dial"
    d2 = ev.next(lambda e: e["id"] == pid and e["kind"] in ("dial_failed", "connected"),
                 timeout=30)
    assert d2["kind"] == "dial_failed" and d2.get("attempt") == 2, d2
    assert not inbox.get(pid), "published %s" % _short(inbox.get(pid))
    if c.check:
        c.check(c, ctx)


def _short(msgs):
    out = []
    for b_, p in msgs:
        out.append(("b" if b_ else "t") + repr(p[:24]) + ("..%d" % len(p) if len(p) > 24 else ""))
    return "[" + ", ".join(out) + "]"


def oracle_check(c):
    """The hand-written expectation must be one the oracle allows."""
    pre, _ = before_frames(c)
    data = pre + c.bad
    outs = W.outcomes(data, c.limit)
    for o in outs.values():
        if any(o.end[:2] == w[:2] for w in c.ends) and list(o.messages) == list(c.published):
            return
    raise AssertionError("oracle disagrees with the case: %s" % list(outs.values()))


def run_cases(cases, pool_extra=None):
    """Run the cases on one bridge; fail with the list of failed cases."""
    cases = [c for c in cases if not ONLY or re.search(ONLY, c.name)]
    if not cases:
        return
    for c in cases:
        if c.kind == "frames" and c.oracle:
            oracle_check(c)
    pool = dict(POOL)
    pool.update(pool_extra or {})
    b = P.start(H.Bridge(pool=pool, log={"level": "info"}))
    failed = []
    inbox = None
    try:
        inbox = P.InboxCollector(b)
        ev = P.live_subscriptions(b, inbox)
        ctx = Ctx(b, ev, inbox)
        for c in cases:
            if c.kind == "frames":
                script = frames_script(c)
            else:
                script = c.script
            c.server = W.Server(script, name=c.name)
            opts = {"max_message_size": "%dB" % c.limit}
            opts.update(c.opts)
            b.ok({"op": "connect", "id": c.name, "url": c.server.url, "options": opts})
        t0 = time.monotonic()
        for c in cases:
            tc = time.monotonic()
            try:
                if c.kind == "frames":
                    check_frames(c, ctx)
                elif c.kind == "handshake":
                    check_handshake(c, ctx)
                else:
                    c.check(c, ctx)
                print("  ok   %-40s %.2fs" % (c.name, time.monotonic() - tc), flush=True)
            except Exception as e:
                c.failure = "%s: %s" % (type(e).__name__, e)
                failed.append(c)
                print("  FAIL %s: %s" % (c.name, str(c.failure)[:600]), flush=True)
                if b.proc.poll() is not None:
                    raise
        print("  %d cases checked in %.1fs" % (len(cases), time.monotonic() - t0), flush=True)
        P.alive(b)
        ev.close()
    finally:
        if inbox:
            inbox.stop()
        for c in cases:
            if c.server:
                c.server.stop()
        if b.proc and b.proc.poll() is None:
            P.finish(b)
        elif b.proc:
            P.finish(b)  # raises with the exit code and report
    assert not failed, "%d of %d cases failed: %s" % (
        len(failed), len(cases), ", ".join(c.name for c in failed))


# ---- the cases ------------------------------------------------------------------------

B4 = [msg("before-1"), msg(b"\x00before-2", True)]


def too_large_cases():
    big24 = ("x" * (24 * KiB)).encode()
    cs = [
        # single frames over the limit: below, at and far above the 4 KiB
        # receive piece, and above 16 MiB with the default limit
        Case("big_2k_limit_1k", before=B4, bad=W.text(b"a" * 2048) + W.text("after"),
             published=B4, end=SIZE, limit=1 * KiB),
        Case("big_4k_limit_3k", before=B4, bad=W.binary(b"b" * 4096) + W.text("after"),
             published=B4, end=SIZE, limit=3 * KiB),
        Case("big_4097_limit_4k", before=B4, bad=W.text(b"c" * 4097), published=B4, end=SIZE,
             limit=4 * KiB),
        Case("big_24k_limit_8k", before=B4, bad=W.text(big24) + W.text("after"), published=B4,
             end=SIZE, limit=8 * KiB),
        Case("big_100k_binary_limit_8k", before=B4, bad=W.binary(os.urandom(100 * 1000)),
             published=B4, end=SIZE, limit=8 * KiB),
        Case("big_17m_default_limit", before=B4, bad=W.binary(b"\x01" * (17 * MiB)),
             published=B4, end=SIZE, limit=16 * MiB, opts={}),
        # at the limit: accepted (the positive control)
        Case("at_limit_8k_then_close", before=B4,
             bad=W.text(b"d" * 8192) + W.close(1000, "bye"),
             published=B4 + [msg(b"d" * 8192)], end=("closed_by_peer", 1000), limit=8 * KiB),
        Case("at_limit_in_fragments", before=B4,
             bad=W.fragments(W.BINARY, b"e" * 8192, [4096]) + W.close(1000),
             published=B4 + [msg(b"e" * 8192, True)], end=("closed_by_peer", 1000),
             limit=8 * KiB),
        # over-limit fragment sequences
        Case("fragments_3x3000_limit_8k", before=B4,
             bad=W.fragments(W.TEXT, b"f" * 9000, [3000, 3000]), published=B4, end=SIZE),
        Case("fragments_100x100_limit_8k", before=B4,
             bad=W.fragments(W.BINARY, b"g" * 10000, [100] * 99), published=B4, end=SIZE),
        # declared lengths above the limit: the header alone must close
        Case("declared_16bit_60000", before=B4,
             bad=W.frame(W.TEXT, b"h" * 10, length=60000), published=B4, end=SIZE,
             header_only=True),
        Case("declared_64bit_2p63m1", before=B4,
             bad=W.frame(W.BINARY, b"i" * 10, length=(1 << 63) - 1), published=B4, end=SIZE,
             header_only=True),
        Case("declared_64bit_17m_default", before=B4,
             bad=W.frame(W.BINARY, b"j" * 10, length=17 * MiB), published=B4, end=SIZE,
             limit=16 * MiB, header_only=True),
        Case("declared_fragment_sum", before=B4,
             bad=W.frame(W.TEXT, b"k" * 6000, fin=False)
             + W.frame(W.CONT, b"k" * 10, length=3000),
             published=B4, end=SIZE, header_only=True),
    ]
    return cs


def top_bit_case():
    # A 64-bit length with the most significant bit set: RFC 6455 5.2 says
    # that bit MUST be 0 (a protocol error); it is also far above any limit.
    # Either close is right; it must come at the header.
    return Case("declared_64bit_top_bit", before=B4,
                bad=W.frame(W.BINARY, b"l" * 10, length=(1 << 63) | 5), published=B4,
                end=[PROTO, SIZE], header_only=True)


def protocol_cases():
    cs = [
        Case("masked_text", before=B4, bad=W.text("masked", mask=True) + W.text("after"),
             published=B4, end=PROTO),
        Case("masked_binary_5000", before=B4, bad=W.binary(b"m" * 5000, mask=True),
             published=B4, end=PROTO),
        Case("masked_ping", before=B4, bad=W.ping(b"pp", mask=True), published=B4, end=PROTO),
        Case("ping_126", before=B4, bad=W.ping(b"p" * 126) + W.text("after"), published=B4,
             end=PROTO),
        Case("pong_126", before=B4, bad=W.pong(b"p" * 126), published=B4, end=PROTO),
        Case("close_126", before=B4, bad=W.close(1000, b"r" * 124), published=B4, end=PROTO),
        Case("ping_fragmented", before=B4, bad=W.ping(b"p1", fin=False) + W.frame(W.CONT, b"p2"),
             published=B4, end=PROTO),
        Case("rsv1_text", before=B4, bad=W.text("rsv1", rsv=W.RSV1), published=B4, end=PROTO),
        Case("rsv2_binary", before=B4, bad=W.binary(b"rsv2", rsv=W.RSV2), published=B4,
             end=PROTO),
        Case("rsv3_ping", before=B4, bad=W.ping(b"rsv3", rsv=W.RSV3), published=B4, end=PROTO),
        Case("rsv_on_continuation", before=B4,
             bad=W.frame(W.TEXT, b"ab", fin=False) + W.frame(W.CONT, b"cd", rsv=W.RSV1),
             published=B4, end=PROTO),
        Case("opcode_3", before=B4, bad=W.frame(3, b"x") + W.text("after"), published=B4,
             end=PROTO),
        Case("opcode_7", before=B4, bad=W.frame(7), published=B4, end=PROTO),
        Case("opcode_11", before=B4, bad=W.frame(0xB, b"x"), published=B4, end=PROTO),
        Case("opcode_15", before=B4, bad=W.frame(0xF), published=B4, end=PROTO),
        Case("continuation_without_start", before=B4, bad=W.frame(W.CONT, b"orphan"),
             published=B4, end=PROTO),
        Case("continuation_nofin_without_start", before=B4,
             bad=W.frame(W.CONT, b"orphan", fin=False) + W.frame(W.CONT, b"x"),
             published=B4, end=PROTO),
        Case("new_message_inside_fragmented", before=B4,
             bad=W.frame(W.TEXT, b"part1", fin=False) + W.text("intruder"),
             published=B4, end=PROTO),
        Case("binary_inside_fragmented_binary", before=B4,
             bad=W.frame(W.BINARY, b"p1", fin=False) + W.frame(W.BINARY, b"p2", fin=False),
             published=B4, end=PROTO),
        Case("close_1_byte", before=B4, bad=W.frame(W.CLOSE, b"\x03"), published=B4,
             end=PROTO),
        Case("close_code_999", before=B4, bad=W.close(999), published=B4, end=PROTO),
        Case("close_code_1005", before=B4, bad=W.close(1005), published=B4, end=PROTO),
        Case("close_code_1006", before=B4, bad=W.close(1006, "x"), published=B4, end=PROTO),
        Case("close_code_1015", before=B4, bad=W.close(1015), published=B4, end=PROTO),
        Case("close_code_2999", before=B4, bad=W.close(2999), published=B4, end=PROTO),
        Case("close_code_5000", before=B4, bad=W.close(5000), published=B4, end=PROTO),
        Case("close_reason_not_utf8", before=B4, bad=W.close(1000, b"bad \xff\xfe reason"),
             published=B4, end=UTF8),
    ]
    return cs


def utf8_cases():
    lim = 64 * KiB
    a5 = b"a" * 5000
    cs = [
        Case("utf8_invalid_start_20k", before=B4, bad=W.text(b"\xff" + b"a" * 20000),
             published=B4, end=UTF8, limit=lim),
        Case("utf8_surrogate_middle_20k", before=B4,
             bad=W.text(b"a" * 10000 + b"\xed\xa0\x80" + b"a" * 10000), published=B4, end=UTF8,
             limit=lim),
        Case("utf8_truncated_end_20k", before=B4, bad=W.text(b"a" * 20000 + b"\xe2\x82"),
             published=B4, end=UTF8, limit=lim),
        Case("utf8_overlong_end_20k", before=B4, bad=W.text(b"a" * 20000 + b"\xc0\xaf"),
             published=B4, end=UTF8, limit=lim),
        Case("utf8_valid_split_across_fragments", before=B4,
             bad=W.frame(W.TEXT, a5 + b"\xe2", fin=False) + W.frame(W.CONT, b"\x82\xac" + a5)
             + W.close(1000),
             published=B4 + [msg(a5 + b"\xe2\x82\xac" + a5)], end=("closed_by_peer", 1000),
             limit=lim),
        Case("utf8_4byte_split_3_ways", before=B4,
             bad=W.frame(W.TEXT, a5 + b"\xf0", fin=False) + W.frame(W.CONT, b"\x9f", fin=False)
             + W.frame(W.CONT, b"\x98\x80" + a5) + W.close(1000),
             published=B4 + [msg(a5 + b"\xf0\x9f\x98\x80" + a5)],
             end=("closed_by_peer", 1000), limit=lim),
        Case("utf8_invalid_split_across_fragments", before=B4,
             bad=W.frame(W.TEXT, a5 + b"\xf4", fin=False) + W.frame(W.CONT, b"\x90\x80\x80" + a5),
             published=B4, end=UTF8, limit=lim),
        Case("utf8_invalid_in_second_fragment", before=B4,
             bad=W.frame(W.TEXT, a5, fin=False) + W.frame(W.CONT, a5 + b"\xc0\x80" + a5),
             published=B4, end=UTF8, limit=lim),
        Case("utf8_invalid_last_of_4_fragments", before=B4,
             bad=W.fragments(W.TEXT, a5 * 3 + b"ab\xff", [5000, 5000, 5000]),
             published=B4, end=UTF8, limit=lim),
        Case("utf8_truncated_at_message_end_fragmented", before=B4,
             bad=W.fragments(W.TEXT, a5 * 2 + b"\xf0\x9f\x98", [5000]),
             published=B4, end=UTF8, limit=lim),
    ]
    return cs


def flood_case():
    """Bursts of 2000 pings for 2 s, each burst followed by a message, then
    a clean close. The bridge answers (it may coalesce: RFC 6455 5.5.3 lets
    it answer only the latest of the pings it has not answered yet, so the
    pongs must come in order and the last ping must be answered), publishes
    every message, answers control ping quickly meanwhile, and closes when
    asked."""
    n = 2000

    def script(conn):
        if conn.index > 1:
            return W.idle(conn)
        conn.upgrade()
        t0 = time.monotonic()
        rounds = 0
        conn.last_ping = None
        while time.monotonic() - t0 < 2.0:
            pings = [("r%d-p%d" % (rounds, i)).encode() for i in range(n)]
            burst = b"".join(W.ping(p) for p in pings) + W.text("after-flood")
            if not conn.send(burst):
                return "send failed"
            conn.last_ping = pings[-1]
            rounds += 1
        conn.flood_rounds = rounds
        deadline = time.monotonic() + H.t(8)
        while time.monotonic() < deadline:
            if any(e[0] == "pong" and e[1] == conn.last_ping for e in list(conn.log)[-20:]):
                break
            time.sleep(0.05)
        conn.send(W.close(1000, "done"))
        conn.wait_end(H.t(10))
        return "flooded"

    def check(c, ctx):
        b, ev, inbox = ctx.b, ctx.ev, ctx.inbox
        e1 = ev.next(lambda e: e["id"] == c.name and e["kind"] == "connected", timeout=20)
        lat = []
        conn = c.server.wait_conn(1, H.t(10))
        assert conn is not None
        while not conn.done.is_set():
            t0 = time.monotonic()
            P.alive(b, timeout=10)
            lat.append(time.monotonic() - t0)
            time.sleep(0.05)
        d = ev.next(lambda e: e["id"] == c.name and e["kind"] == "disconnected", timeout=20)
        rounds = conn.flood_rounds
        pongs = [e[1] for e in conn.log if e[0] == "pong"]
        worst = max(lat) if lat else 0
        print("    ping flood: %d bursts of %d pings, %d pongs; control ping worst %.0f ms "
              "of %d" % (rounds, n, len(pongs), worst * 1000, len(lat)), flush=True)
        problems = []
        order = []
        for p in pongs:
            m = re.match(rb"^r(\d+)-p(\d+)$", p)
            if not m:
                problems.append("pong with payload %r that no ping had" % p[:20])
                break
            order.append((int(m.group(1)), int(m.group(2))))
        if order != sorted(set(order)):
            problems.append("pongs out of order or repeated")
        if not pongs or pongs[-1] != conn.last_ping:
            problems.append("the last ping was not answered (last pong %r)" %
                            (pongs[-1] if pongs else None,))
        got = inbox.settled(c.name, 1, rounds)
        if got != [msg("after-flood")] * rounds:
            problems.append("published %d messages, want %d 'after-flood'" % (len(got), rounds))
        if (d.get("reason"), d.get("code")) != ("closed_by_peer", 1000):
            problems.append("disconnected %s/%s" % (d.get("reason"), d.get("code")))
        if conn.client_close is None or conn.client_close[0] != 1000:
            problems.append("close echo %s" % (conn.client_close,))
        if conn.bad():
            problems.append("bad frames %s" % conn.bad()[:3])
        if worst > H.t(5.0):  # a loaded 2-core machine; a wedged bridge takes forever
            problems.append("control ping took %.2fs during the flood" % worst)
        e2 = ev.next(lambda e: e["id"] == c.name and e["kind"] == "connected", timeout=20)
        assert e1 is not e2
        assert not problems, "; ".join(problems)

    return Case("ping_flood", kind="custom", script=script, check=check)


def pong_case():
    rnd = random.Random(7)
    pongs = [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 126)))
             for _ in range(300)]
    data = b"".join(W.pong(p) for p in pongs) + W.text("after-pongs") + W.close(1000)
    return Case("unsolicited_pongs", before=B4, bad=data,
                published=B4 + [msg("after-pongs")], end=("closed_by_peer", 1000))


def random_after_valid_cases():
    """A valid frame, then random bytes: whatever they are, the bridge does
    what the oracle says a strict client may do (seeded, reproducible)."""
    cs = []
    for seed in (1, 2, 3, 4):
        rnd = random.Random(seed)
        junk = bytes(rnd.getrandbits(8) for _ in range(4096))
        c = Case("random_after_valid_seed%d" % seed, before=B4, bad=junk, oracle=False,
                 wait_close=3.0)
        c.kind = "custom"
        c.script = frames_script(c)
        c.check = check_by_oracle
        cs.append(c)
    return cs


def check_by_oracle(c, ctx):
    b, ev, inbox = ctx.b, ctx.ev, ctx.inbox
    pre, _ = before_frames(c)
    outs = W.outcomes(pre + c.bad, c.limit)
    ev.next(lambda e: e["id"] == c.name and e["kind"] == "connected", timeout=20)
    d = ev.next(lambda e: e["id"] == c.name and e["kind"] == "disconnected", timeout=30)
    P.alive(b)
    conn = _first_conn_done(c, H.t(15))
    n = max(len(o.messages) for o in outs.values())
    got = (tuple(inbox.settled(c.name, 1, n, timeout=1.0)), P.end_of(d))
    ok = False
    for o in outs.values():
        end = o.end
        if got[0] == o.messages and got[1][:2] == end[:2]:
            ok = True
    assert ok, "got %s, %s; the oracle allows %s" % (_short(got[0]), got[1], list(outs.values()))
    end = got[1]
    if end[0] in ("protocol_error", "too_large", "invalid_utf8"):
        assert conn.client_close and conn.client_close[0] == end[1], conn.client_close
    assert not conn.bad(), conn.bad()[:3]
    assert ev.next(lambda e: e["id"] == c.name and e["kind"] == "connected", timeout=20)


def handshake_cases():
    def answer(**kw):
        return lambda conn: conn.send(conn.response(**kw))

    def raw(data):
        return lambda conn: conn.send(data)

    redirect_target = W.Server(W.idle, name="redirect-target")

    def redirect(conn):
        conn.send(b"HTTP/1.1 302 Found\r\nLocation: " + redirect_target.url.encode() +
                  b"\r\nContent-Length: 0\r\n\r\n")

    def check_no_redirect(c, ctx):
        time.sleep(0.2)
        n = redirect_target.n()
        redirect_target.stop()
        assert n == 0, "the bridge followed the redirect (%d connections)" % n

    def never(conn):
        conn.wait_eof(H.t(20))

    def mid_close(conn):
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs")
        time.sleep(0.05)
        conn.close_tcp()

    rnd = random.Random(11)
    garbage = bytes(rnd.getrandbits(8) for _ in range(2048))
    big_header = b"X-Big: " + b"v" * (100 * 1000) + b"\r\n"
    many = b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(5000))
    cs = [
        Case("hs_200_not_101", kind="handshake", script=handshake_script(
            raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))),
        Case("hs_200_with_ws_headers", kind="handshake", script=handshake_script(
            answer(status=b"200 OK"))),
        Case("hs_101_no_accept", kind="handshake", script=handshake_script(answer(accept=None))),
        Case("hs_101_wrong_accept", kind="handshake", script=handshake_script(
            answer(accept=W.accept_key(b"dGhlIHNhbXBsZSBub25jZQ==")))),
        Case("hs_101_no_upgrade", kind="handshake", script=handshake_script(
            answer(upgrade=None))),
        Case("hs_101_upgrade_h2c", kind="handshake", script=handshake_script(
            answer(upgrade=b"h2c"))),
        Case("hs_101_no_connection", kind="handshake", script=handshake_script(
            answer(connection=None))),
        Case("hs_100kb_header", kind="handshake", script=handshake_script(
            answer(extra=big_header))),
        Case("hs_5000_headers", kind="handshake", script=handshake_script(answer(extra=many))),
        Case("hs_garbage", kind="handshake", script=handshake_script(raw(garbage))),
        Case("hs_redirect_302", kind="handshake", script=handshake_script(redirect),
             check=check_no_redirect),
        Case("hs_unrequested_subprotocol", kind="handshake", script=handshake_script(
            answer(protocol=b"chat"))),
        Case("hs_unrequested_extension", kind="handshake", script=handshake_script(
            answer(extensions=b"permessage-deflate"))),
        Case("hs_never_answers", kind="handshake", script=handshake_script(never),
             opts={"connect_timeout": "1s"}),
        Case("hs_closes_mid_handshake", kind="handshake", script=handshake_script(mid_close)),
        Case("hs_closes_at_once", kind="handshake", script=handshake_script(lambda c: c.close_tcp())),
    ]
    return cs


# ---- the groups (one bridge each) ---------------------------------------------------

def test_frames_too_large():
    run_cases(too_large_cases() + [top_bit_case()])


def test_frames_protocol():
    run_cases(protocol_cases())


def test_frames_utf8():
    run_cases(utf8_cases())


def test_floods_and_noise():
    run_cases([flood_case(), pong_case()] + random_after_valid_cases())


def test_handshake():
    run_cases(handshake_cases())


if __name__ == "__main__":
    H.run([test_frames_too_large, test_frames_protocol, test_frames_utf8, test_floods_and_noise,
           test_handshake])
