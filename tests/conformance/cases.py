"""The cases of the conformance suite, in the image of Autobahn|Testsuite's
fuzzing server (its categories and, where they exist, its case numbers;
the wording and grading are ours).

A case is a function of a CaseRun (test_conformance.py) that writes frames
to the bridge (the client under test) and states what must come back:

  t.send(bytes) / t.send_chunks(bytes, size, delay)
  t.echo(msgs)        these data messages must come back, in order, byte
                      for byte, each as text or binary as sent (the echo
                      subscriber sends them back through the bridge); they
                      must also be on the inbox, published exactly so
  t.pongs(payloads)   pongs with these payloads, in order (all = strict)
  t.quiet(seconds)    nothing but what was already expected arrives
  t.close(code, reason) the server closes; the bridge must echo the code
  t.fail(code, word, published=[...])  the bridge must fail the connection:
                      a close frame with `code` (1002, 1007, 1009) and a
                      `disconnected` event with reason `word`, after having
                      published exactly `published`
  t.non_strict(why)   passes, but not in the strict way (as Autobahn's
                      NON-STRICT: e.g. a coalesced pong)
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wsraw as W  # noqa: E402

KiB, MiB = 1024, 1024 * 1024
LIMIT = 16 * MiB  # the bridge's default max_message_size, used by the suite

CASES = []


def case(cid, desc):
    def reg(fn):
        CASES.append((cid, desc, fn))
        return fn
    return reg


def T(s):
    return (False, s.encode() if isinstance(s, str) else s)


def B(b):
    return (True, b)


def pattern(n, text=True):
    unit = b"*" if text else bytes(range(256))
    return (unit * (n // len(unit) + 1))[:n]


# ---- 1 framing ---------------------------------------------------------------------

def _framing(major, binary):
    sizes = [0, 125, 126, 127, 128, 65535, 65536]
    for i, n in enumerate(sizes, 1):
        def fn(t, n=n):
            p = pattern(n, not binary)
            t.send(W.binary(p) if binary else W.text(p))
            t.echo([(binary, p)])
            t.close()
        case("1.%d.%d" % (major, i), "%s message, payload %d" % (
            "binary" if binary else "text", n))(fn)

    def chopped(t):
        p = pattern(65536, not binary)
        t.send_chunks(W.binary(p) if binary else W.text(p), 997)
        t.echo([(binary, p)])
        t.close()
    case("1.%d.8" % major, "%s message, payload 65536, written in chops of 997 bytes" % (
        "binary" if binary else "text"))(chopped)


_framing(1, False)
_framing(2, True)


@case("1.3.1", "text message of 16 MiB (the limit, exactly)")
def _(t):
    p = pattern(LIMIT)
    t.send(W.text(p))
    t.echo([T(p)], timeout=60)
    t.close()


@case("1.3.2", "binary message of 16 MiB - 1")
def _(t):
    p = pattern(LIMIT - 1, False)
    t.send(W.binary(p))
    t.echo([B(p)], timeout=60)
    t.close()


# ---- 2 pings and pongs --------------------------------------------------------------

@case("2.1", "ping without payload")
def _(t):
    t.send(W.ping())
    t.pongs([b""])
    t.close()


@case("2.2", "ping with a small text payload")
def _(t):
    t.send(W.ping(b"Hello, world!"))
    t.pongs([b"Hello, world!"])
    t.close()


@case("2.3", "ping with a small binary payload")
def _(t):
    p = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    t.send(W.ping(p))
    t.pongs([p])
    t.close()


@case("2.4", "ping with a 125-byte payload")
def _(t):
    p = b"\xfe" * 125
    t.send(W.ping(p))
    t.pongs([p])
    t.close()


@case("2.5", "ping with a 126-byte payload: fail")
def _(t):
    t.send(W.ping(b"\xfe" * 126))
    t.fail(1002, "protocol_error")


@case("2.6", "ping with a 125-byte payload, written a byte at a time")
def _(t):
    p = b"\xfe" * 125
    t.send_chunks(W.ping(p), 1, 0.001)
    t.pongs([p])
    t.close()


@case("2.7", "unsolicited pong without payload: nothing")
def _(t):
    t.send(W.pong())
    t.quiet(0.3)
    t.close()


@case("2.8", "unsolicited pong with payload: nothing")
def _(t):
    t.send(W.pong(b"unsolicited pong payload"))
    t.quiet(0.3)
    t.close()


@case("2.9", "unsolicited pong, then a ping: one pong, for the ping")
def _(t):
    t.send(W.pong(b"unsolicited pong payload") + W.ping(b"ping payload"))
    t.pongs([b"ping payload"])
    t.close()


@case("2.10", "10 pings in a row")
def _(t):
    ps = [b"payload-%d" % i for i in range(10)]
    t.send(b"".join(W.ping(p) for p in ps))
    t.pongs(ps, coalesce=True)
    t.close()


@case("2.11", "10 pings, written a byte at a time, 10 ms apart")
def _(t):
    ps = [b"payload-%d" % i for i in range(10)]
    for p in ps:
        t.send_chunks(W.ping(p), 1)
        t.sleep(0.01)
    t.pongs(ps, coalesce=True)
    t.close()


# ---- 3 reserved bits ----------------------------------------------------------------

@case("3.1", "text with RSV = 1")
def _(t):
    t.send(W.text("Hello, world!", rsv=1))
    t.fail(1002, "protocol_error")


@case("3.2", "valid text, then text with RSV = 2, then ping")
def _(t):
    t.send(W.text("Hello, world!") + W.text("Hello, world!", rsv=2) + W.ping(b"Hello, world!"))
    t.fail(1002, "protocol_error", published=[T("Hello, world!")], no_pong=True)


@case("3.3", "valid text, then text with RSV = 3, frame by frame")
def _(t):
    t.send(W.text("Hello, world!"))
    t.echo([T("Hello, world!")])
    t.send(W.text("Hello, world!", rsv=3))
    t.send(W.ping(b"Hello, world!"))
    t.fail(1002, "protocol_error", no_pong=True)


@case("3.4", "valid text, then text with RSV = 4 written a byte at a time, then ping")
def _(t):
    t.send(W.text("Hello, world!"))
    t.send_chunks(W.text("Hello, world!", rsv=4) + W.ping(b"Hello, world!"), 1)
    t.fail(1002, "protocol_error", published=[T("Hello, world!")], no_pong=True)


@case("3.5", "binary with RSV = 5")
def _(t):
    t.send(W.binary(b"\xff" * 8, rsv=5))
    t.fail(1002, "protocol_error")


@case("3.6", "ping with RSV = 6")
def _(t):
    t.send(W.ping(b"Hello, world!", rsv=6))
    t.fail(1002, "protocol_error", no_pong=True)


@case("3.7", "close with RSV = 7")
def _(t):
    t.send(W.close(1000, rsv=7))
    t.fail(1002, "protocol_error")


# ---- 4 opcodes ------------------------------------------------------------------------

def _opcodes(major, ops):
    for i, op in enumerate(ops, 1):
        def fn(t, op=op, i=i):
            if i == 1:
                t.send(W.frame(op))
                t.fail(1002, "protocol_error")
            elif i == 2:
                t.send(W.frame(op, b"reserved opcode payload"))
                t.fail(1002, "protocol_error")
            else:
                bad = W.frame(op, b"" if i == 3 else b"reserved opcode payload")
                data = W.text("Hello, world!") + bad + W.ping(b"Hello, world!")
                if i == 5:
                    t.send_chunks(data, 1)
                else:
                    t.send(data)
                t.fail(1002, "protocol_error", published=[T("Hello, world!")], no_pong=True)
        case("4.%d.%d" % (major, i), "reserved %s opcode %d" % (
            "non-control" if major == 1 else "control", op))(fn)


_opcodes(1, [3, 4, 5, 6, 7])
_opcodes(2, [11, 12, 13, 14, 15])


# ---- 5 fragmentation -------------------------------------------------------------------

@case("5.1", "ping in 2 fragments")
def _(t):
    t.send(W.ping(b"fragment1", fin=False) + W.frame(W.CONT, b"fragment2"))
    t.fail(1002, "protocol_error", no_pong=True)


@case("5.2", "pong in 2 fragments")
def _(t):
    t.send(W.pong(b"fragment1", fin=False) + W.frame(W.CONT, b"fragment2"))
    t.fail(1002, "protocol_error")


def _two(chop=None, delay=0.0, ping=False):
    def fn(t):
        data = W.frame(W.TEXT, b"fragment1", fin=False)
        if ping:
            data += W.ping(b"ping payload")
        data += W.frame(W.CONT, b"fragment2")
        if chop:
            t.send_chunks(data, chop, delay)
        elif delay:
            for f in (W.frame(W.TEXT, b"fragment1", fin=False),) + \
                    ((W.ping(b"ping payload"),) if ping else ()) + \
                    (W.frame(W.CONT, b"fragment2"),):
                t.send(f)
                t.sleep(delay)
        else:
            t.send(data)
        if ping:
            t.pongs([b"ping payload"])
        t.echo([T("fragment1fragment2")])
        t.close()
    return fn


case("5.3", "text in 2 fragments")(_two())
case("5.4", "text in 2 fragments, written a byte at a time")(_two(chop=1))
case("5.5", "text in 2 fragments, 50 ms apart")(_two(delay=0.05))
case("5.6", "text in 2 fragments, a ping between")(_two(ping=True))
case("5.7", "text in 2 fragments, a ping between, a byte at a time")(_two(chop=1, ping=True))
case("5.8", "text in 2 fragments, a ping between, 50 ms apart")(_two(delay=0.05, ping=True))


def _bad_cont(fin_first, chop=None, delay=0.0):
    def fn(t):
        frames = [W.frame(W.CONT, b"non-continuation payload", fin=fin_first),
                  W.text("Hello, world!")]
        if chop:
            t.send_chunks(b"".join(frames), chop)
        elif delay:
            for f in frames:
                t.send(f)
                t.sleep(delay)
        else:
            t.send(b"".join(frames))
        t.fail(1002, "protocol_error")
    return fn


case("5.9", "continuation (FIN) without a start")(_bad_cont(True))
case("5.10", "continuation (FIN) without a start, a byte at a time")(_bad_cont(True, chop=1))
case("5.11", "continuation (FIN) without a start, 50 ms apart")(_bad_cont(True, delay=0.05))
case("5.12", "continuation (no FIN) without a start")(_bad_cont(False))
case("5.13", "continuation (no FIN) without a start, a byte at a time")(_bad_cont(False, chop=1))
case("5.14", "continuation (no FIN) without a start, 50 ms apart")(_bad_cont(False, delay=0.05))


@case("5.15", "text in 2 fragments, then a continuation after the end")
def _(t):
    t.send(W.frame(W.TEXT, b"fragment1", fin=False) + W.frame(W.CONT, b"fragment2")
           + W.frame(W.CONT, b"fragment3", fin=False) + W.frame(W.CONT, b"fragment4"))
    t.fail(1002, "protocol_error", published=[T("fragment1fragment2")])


@case("5.16", "continuation, then a text start, then a continuation")
def _(t):
    t.send(W.frame(W.CONT, b"fragment1", fin=False) + W.frame(W.TEXT, b"fragment2", fin=False)
           + W.frame(W.CONT, b"fragment3"))
    t.fail(1002, "protocol_error")


@case("5.17", "continuation (FIN), then a text start, then a continuation")
def _(t):
    t.send(W.frame(W.CONT, b"fragment1") + W.frame(W.TEXT, b"fragment2", fin=False)
           + W.frame(W.CONT, b"fragment3"))
    t.fail(1002, "protocol_error")


@case("5.18", "text start, then a text frame instead of the continuation")
def _(t):
    t.send(W.frame(W.TEXT, b"fragment1", fin=False) + W.frame(W.TEXT, b"fragment2"))
    t.fail(1002, "protocol_error")


def _five(chop):
    def fn(t):
        fr = [W.frame(W.TEXT, b"fragment1", fin=False), W.frame(W.CONT, b"fragment2", fin=False),
              W.ping(b"pongme 1!"), W.frame(W.CONT, b"fragment3", fin=False),
              W.frame(W.CONT, b"fragment4", fin=False), W.ping(b"pongme 2!"),
              W.frame(W.CONT, b"fragment5")]
        for f in fr:
            if chop:
                t.send_chunks(f, 1)
            else:
                t.send(f)
            t.sleep(0.05)
        t.pongs([b"pongme 1!", b"pongme 2!"])
        t.echo([T("fragment1fragment2fragment3fragment4fragment5")])
        t.close()
    return fn


case("5.19", "text in 5 fragments, 2 pings between, 50 ms apart")(_five(False))
case("5.20", "text in 5 fragments, 2 pings between, a byte at a time, 50 ms apart")(_five(True))


# ---- 6 UTF-8 handling -----------------------------------------------------------------

@case("6.1.1", "empty text message")
def _(t):
    t.send(W.text(b""))
    t.echo([T(b"")])
    t.close()


@case("6.1.2", "empty text message in 3 empty fragments")
def _(t):
    t.send(W.frame(W.TEXT, b"", fin=False) + W.frame(W.CONT, b"", fin=False)
           + W.frame(W.CONT, b""))
    t.echo([T(b"")])
    t.close()


@case("6.1.3", "text: empty fragment, a middle, an empty fragment")
def _(t):
    t.send(W.frame(W.TEXT, b"", fin=False) + W.frame(W.CONT, b"middle frame payload", fin=False)
           + W.frame(W.CONT, b""))
    t.echo([T("middle frame payload")])
    t.close()


HELLO = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode()
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"


@case("6.2.1", "valid UTF-8 in one frame")
def _(t):
    t.send(W.text(HELLO))
    t.echo([T(HELLO)])
    t.close()


@case("6.2.2", "valid UTF-8 in fragments of 1 byte (split inside every character)")
def _(t):
    t.send(W.fragments(W.TEXT, HELLO, [1] * (len(HELLO) - 1)))
    t.echo([T(HELLO)])
    t.close()


@case("6.2.3", "valid UTF-8 in one frame, written a byte at a time")
def _(t):
    t.send_chunks(W.text(HELLO), 1)
    t.echo([T(HELLO)])
    t.close()


@case("6.2.4", "valid UTF-8 in 1-byte fragments, written a byte at a time")
def _(t):
    t.send_chunks(W.fragments(W.TEXT, KOSME, [1] * (len(KOSME) - 1)), 1)
    t.echo([T(KOSME)])
    t.close()


BAD_KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"


@case("6.3.1", "invalid UTF-8 (a surrogate) in one frame")
def _(t):
    t.send(W.text(BAD_KOSME))
    t.fail(1007, "invalid_utf8")


@case("6.3.2", "invalid UTF-8 in 1-byte fragments")
def _(t):
    t.send(W.fragments(W.TEXT, BAD_KOSME, [1] * (len(BAD_KOSME) - 1)))
    t.fail(1007, "invalid_utf8")


def _fail_fast(parts, chop=False):
    """Autobahn 6.4: the invalid fragment comes, then a pause: a client that
    checks UTF-8 as it goes fails the connection in the pause (strict);
    one that waits for the end of the message fails after it (NON-STRICT)."""
    def fn(t):
        a, b, c = parts
        f1 = W.frame(W.TEXT, a, fin=False)
        f2 = W.frame(W.CONT, b, fin=False)
        if chop:
            t.send_chunks(f1 + f2, 1)
        else:
            t.send(f1)
            t.send(f2)
        early = t.wait_close(1.0)
        t.send(W.frame(W.CONT, c))
        t.fail(1007, "invalid_utf8")
        if not early:
            t.non_strict("failed only at the end of the message, not at the invalid fragment")
    return fn


case("6.4.1", "fail fast: valid, invalid (U+110000), valid fragments")(
    _fail_fast((KOSME, b"\xf4\x90\x80\x80", b"\x65\x64\x69\x74\x65\x64")))
case("6.4.2", "fail fast: the invalid code point split across fragments")(
    _fail_fast((KOSME + b"\xf4", b"\x90\x80\x80", b"\x65\x64\x69\x74\x65\x64")))
case("6.4.3", "fail fast, written a byte at a time")(
    _fail_fast((KOSME, b"\xf4\x90\x80\x80", b"\x65\x64\x69\x74\x65\x64"), chop=True))
case("6.4.4", "fail fast, split and written a byte at a time")(
    _fail_fast((KOSME + b"\xf4", b"\x90\x80\x80", b"\x65\x64\x69\x74\x65\x64"), chop=True))


@case("6.5.1", "valid UTF-8: the Greek word kosme")
def _(t):
    t.send(W.text(KOSME))
    t.echo([T(KOSME)])
    t.close()


for i in range(1, len(KOSME)):
    def _split(t, i=i):
        t.send(W.frame(W.TEXT, KOSME[:i], fin=False) + W.frame(W.CONT, KOSME[i:]))
        t.echo([T(KOSME)])
        t.close()
    case("6.6.%d" % i, "kosme split in 2 fragments after byte %d" % i)(_split)

# Markus Kuhn's UTF-8 decoder capability test, as Autobahn uses it:
# (name, bytes); valid or not is what RFC 3629 says (Python's strict codec).
UTF8_VECTORS = [
    ("first 1-byte sequence U+0000", b"\x00"),
    ("first 2-byte sequence U+0080", b"\xc2\x80"),
    ("first 3-byte sequence U+0800", b"\xe0\xa0\x80"),
    ("first 4-byte sequence U+10000", b"\xf0\x90\x80\x80"),
    ("first 5-byte sequence", b"\xf8\x88\x80\x80\x80"),
    ("first 6-byte sequence", b"\xfc\x84\x80\x80\x80\x80"),
    ("last 1-byte sequence U+007F", b"\x7f"),
    ("last 2-byte sequence U+07FF", b"\xdf\xbf"),
    ("last 3-byte sequence U+FFFF", b"\xef\xbf\xbf"),
    ("last 4-byte sequence U+1FFFFF", b"\xf7\xbf\xbf\xbf"),
    ("U+D7FF", b"\xed\x9f\xbf"),
    ("U+E000", b"\xee\x80\x80"),
    ("U+FFFD", b"\xef\xbf\xbd"),
    ("U+10FFFF", b"\xf4\x8f\xbf\xbf"),
    ("U+110000", b"\xf4\x90\x80\x80"),
    ("first continuation byte", b"\x80"),
    ("last continuation byte", b"\xbf"),
    ("2 continuation bytes", b"\x80\xbf"),
    ("7 continuation bytes", b"\x80\xbf\x80\xbf\x80\xbf\x80"),
    ("all 64 continuation bytes", bytes(range(0x80, 0xc0))),
    ("lonely 2-byte starts each followed by a space", b"".join(bytes([c, 0x20])
                                                                for c in range(0xc0, 0xe0))),
    ("lonely 3-byte starts each followed by a space", b"".join(bytes([c, 0x20])
                                                                for c in range(0xe0, 0xf0))),
    ("lonely 4-byte starts each followed by a space", b"".join(bytes([c, 0x20])
                                                                for c in range(0xf0, 0xf8))),
    ("2-byte sequence missing its last byte", b"\xc0"),
    ("3-byte sequence missing its last byte", b"\xe0\x80"),
    ("4-byte sequence missing its last byte", b"\xf0\x80\x80"),
    ("last 2-byte sequence missing its last byte", b"\xdf"),
    ("last 3-byte sequence missing its last byte", b"\xef\xbf"),
    ("last 4-byte sequence missing its last byte", b"\xf7\xbf\xbf"),
    ("incomplete sequences concatenated", b"\xc0\xe0\x80\xf0\x80\x80\xf8\x88\x80\x80\xfc\x80"
                                          b"\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf"),
    ("impossible byte FE", b"\xfe"),
    ("impossible byte FF", b"\xff"),
    ("impossible bytes FE FE FF FF", b"\xfe\xfe\xff\xff"),
    ("overlong slash, 2 bytes", b"\xc0\xaf"),
    ("overlong slash, 3 bytes", b"\xe0\x80\xaf"),
    ("overlong slash, 4 bytes", b"\xf0\x80\x80\xaf"),
    ("maximum overlong, 2 bytes", b"\xc1\xbf"),
    ("maximum overlong, 3 bytes", b"\xe0\x9f\xbf"),
    ("maximum overlong, 4 bytes", b"\xf0\x8f\xbf\xbf"),
    ("overlong NUL, 2 bytes", b"\xc0\x80"),
    ("overlong NUL, 3 bytes", b"\xe0\x80\x80"),
    ("single surrogate U+D800", b"\xed\xa0\x80"),
    ("single surrogate U+DB7F", b"\xed\xad\xbf"),
    ("single surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("paired surrogates U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("paired surrogates U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf"),
    ("noncharacter U+FFFE", b"\xef\xbf\xbe"),
    ("noncharacter U+FFFF", b"\xef\xbf\xbf"),
    ("noncharacter U+FDD0", b"\xef\xb7\x90"),
    ("noncharacter U+10FFFE", b"\xf4\x8f\xbf\xbe"),
]

for i, (name, vec) in enumerate(UTF8_VECTORS, 1):
    payload = b"a" + vec + b"z"
    valid = W.utf8_valid(payload)

    def _one(t, payload=payload, valid=valid):
        t.send(W.text(payload))
        if valid:
            t.echo([T(payload)])
            t.close()
        else:
            t.fail(1007, "invalid_utf8")

    def _bytes(t, payload=payload, valid=valid):
        t.send(W.fragments(W.TEXT, payload, [1] * (len(payload) - 1)))
        if valid:
            t.echo([T(payload)])
            t.close()
        else:
            t.fail(1007, "invalid_utf8")
    kind = "valid" if valid else "invalid"
    case("6.7.%d" % i, "%s: %s, one frame" % (kind, name))(_one)
    case("6.8.%d" % i, "%s: %s, 1-byte fragments (every split)" % (kind, name))(_bytes)


# ---- 7 close handling ------------------------------------------------------------------

@case("7.1.1", "echo a text message, then close")
def _(t):
    t.send(W.text("Hello World!"))
    t.echo([T("Hello World!")])
    t.close()


@case("7.1.2", "close twice: one close back")
def _(t):
    t.send(W.close(1000) + W.close(1000))
    t.expect_close(1000, "closed_by_peer", code_in_event=1000, reply=False)


@case("7.1.3", "close, then a ping: no pong")
def _(t):
    t.send(W.close(1000) + W.ping(b"Hello World!"))
    t.expect_close(1000, "closed_by_peer", code_in_event=1000, reply=False, no_pong=True)


@case("7.1.4", "close, then a text message: not published")
def _(t):
    t.send(W.close(1000) + W.text("Hello World!"))
    t.expect_close(1000, "closed_by_peer", code_in_event=1000, reply=False)


@case("7.1.5", "text fragment, close, continuation: nothing published")
def _(t):
    t.send(W.frame(W.TEXT, b"fragment1", fin=False) + W.close(1000) + W.frame(W.CONT,
                                                                              b"fragment2"))
    t.expect_close(1000, "closed_by_peer", code_in_event=1000, reply=False)


@case("7.1.6", "256 KiB text, then close: the message is published first")
def _(t):
    p = pattern(256 * KiB)
    t.send(W.text(p) + W.close(1000))
    t.expect_close(1000, "closed_by_peer", code_in_event=1000, reply=False, published=[T(p)])


@case("7.3.1", "close without payload")
def _(t):
    t.send(W.close())
    t.expect_close(None, "closed_by_peer", code_in_event=1005, reply=False)


@case("7.3.2", "close with a 1-byte payload")
def _(t):
    t.send(W.frame(W.CLOSE, b"\x03"))
    t.fail(1002, "protocol_error")


@case("7.3.3", "close 1000, no reason")
def _(t):
    t.send(W.close(1000))
    t.expect_close(1000, "closed_by_peer", code_in_event=1000, reply=False)


@case("7.3.4", "close 1000 with a reason")
def _(t):
    t.send(W.close(1000, "Hello World!"))
    t.expect_close(1000, "closed_by_peer", code_in_event=1000, reply=False,
                   error="Hello World!")


@case("7.3.5", "close 1000 with a 123-byte reason")
def _(t):
    t.send(W.close(1000, "*" * 123))
    t.expect_close(1000, "closed_by_peer", code_in_event=1000, reply=False, error="*" * 123)


@case("7.3.6", "close 1000 with a 124-byte reason (126-byte payload)")
def _(t):
    t.send(W.close(1000, "*" * 124))
    t.fail(1002, "protocol_error")


@case("7.5.1", "close 1000 with a reason that is not UTF-8")
def _(t):
    t.send(W.close(1000, BAD_KOSME))
    t.fail(1007, "invalid_utf8")


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
               1012, 1013, 1014]
for i, code in enumerate(VALID_CODES, 1):
    def _valid(t, code=code):
        t.send(W.close(code))
        t.expect_close(code, "closed_by_peer", code_in_event=code, reply=False)
    case("7.7.%d" % i, "close with valid code %d: echoed" % code)(_valid)

INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999]
for i, code in enumerate(INVALID_CODES, 1):
    def _invalid(t, code=code):
        t.send(W.close(code))
        t.fail(1002, "protocol_error")
    case("7.9.%d" % i, "close with invalid code %d" % code)(_invalid)

for i, code in enumerate([5000, 65535], 1):
    def _big(t, code=code):
        t.send(W.close(code))
        t.fail(1002, "protocol_error")
    case("7.13.%d" % i, "close with code %d (above 4999)" % code)(_big)


@case("7.13.3", "the bridge's own close (remove) is 1000, then the server's echo")
def _(t):
    t.send(W.text("before remove"))
    t.echo([T("before remove")])
    t.remove_peer()
    t.expect_close(1000, "removed", code_in_event=1000, reply=True)


# ---- 9 limits and large messages -------------------------------------------------------

for i, n in enumerate([64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, LIMIT], 1):
    def _tx(t, n=n):
        p = pattern(n)
        t.send(W.text(p))
        t.echo([T(p)], timeout=60)
        t.close()

    def _bx(t, n=n):
        p = pattern(n, False)
        t.send(W.binary(p))
        t.echo([B(p)], timeout=60)
        t.close()
    case("9.1.%d" % i, "text message of %d bytes" % n)(_tx)
    case("9.2.%d" % i, "binary message of %d bytes" % n)(_bx)

for i, fs in enumerate([64, 4 * KiB, 64 * KiB, 1 * MiB], 1):
    def _frag(t, fs=fs, binary=False):
        p = pattern(4 * MiB, not binary)
        t.send(W.fragments(W.BINARY if binary else W.TEXT, p, W.split_every(p, fs)[:-1]))
        t.echo([(binary, p)], timeout=60)
        t.close()
    case("9.3.%d" % i, "4 MiB text in fragments of %d bytes" % fs)(_frag)
    case("9.4.%d" % i, "4 MiB binary in fragments of %d bytes" % fs)(
        lambda t, fs=fs, f=_frag: f(t, fs, True))

for i, chop in enumerate([64, 4096], 1):
    def _chop(t, chop=chop):
        p = pattern(1 * MiB)
        t.send_chunks(W.text(p), chop)
        t.echo([T(p)], timeout=60)
        t.close()
    case("9.5.%d" % i, "1 MiB text written in chops of %d bytes" % chop)(_chop)


@case("9.6.1", "text of 16 MiB + 1 (over the limit): 1009")
def _(t):
    t.send(W.text(pattern(LIMIT + 1)))
    t.fail(1009, "too_large")


@case("9.6.2", "a header declaring 16 MiB + 1, no payload: 1009 at the header")
def _(t):
    t.send(W.frame(W.BINARY, b"", length=LIMIT + 1))
    t.fail(1009, "too_large")


@case("9.6.3", "fragments summing to 16 MiB + 1: 1009")
def _(t):
    p = pattern(LIMIT + 1)
    t.send(W.fragments(W.TEXT, p, [LIMIT // 2, LIMIT // 2]))
    t.fail(1009, "too_large")


for i, (n, binary) in enumerate([(16, False), (256, False), (4 * KiB, False), (4 * KiB, True)],
                                1):
    def _many(t, n=n, binary=binary):
        msgs = [(binary, (b"%06d" % k + pattern(n, not binary))[:n]) for k in range(1000)]
        t.send(b"".join(W.binary(p) if b else W.text(p) for b, p in msgs))
        t.echo(msgs, timeout=60)
        t.close()
    case("9.7.%d" % i, "1000 %s messages of %d bytes in one write" % (
        "binary" if binary else "text", n))(_many)


# ---- 10 miscellaneous ------------------------------------------------------------------

@case("10.1.1", "65536-byte text in frames of 1300 bytes")
def _(t):
    p = pattern(65536)
    t.send(W.fragments(W.TEXT, p, W.split_every(p, 1300)[:-1]))
    t.echo([T(p)])
    t.close()


@case("10.2.1", "messages with pings and unsolicited pongs between them")
def _(t):
    t.send(W.text("hello") + W.ping(b"p1") + W.pong(b"x") + W.binary(b"\x00\x01")
           + W.ping(b"p2") + W.text("world"))
    t.pongs([b"p1", b"p2"], coalesce=True)
    t.echo([T("hello"), B(b"\x00\x01"), T("world")])
    t.close()


@case("10.3.1", "frames in the same write as the 101 response")
def _(t):
    t.first = W.text("with the 101") + W.ping(b"early")
    t.pongs([b"early"])
    t.echo([T("with the 101")])
    t.close()


@case("10.4.1", "the bridge's frames are masked, FIN set and RSV clear (checked in every case)")
def _(t):
    t.send(W.binary(bytes(range(256)) * 64))
    t.echo([B(bytes(range(256)) * 64)])
    t.close()
