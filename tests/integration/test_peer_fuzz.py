"""Peer-side fuzzer (issue 9 item 5): real servers stream mutated frame
sequences into the real bridge for a bounded time.

Each connection of each fuzz peer gets one stream: a valid sequence of
frames (text and binary messages of many sizes, fragmented or not, with
pings and pongs between fragments, sometimes a close at the end), then
0 to 4 mutations: flipped bits, truncated and stretched lengths (16- and
64-bit, the top bit), random opcodes and RSV bits, FIN toggled, masked
frames, spliced fragments of another stream, inserted control frames
(some over 125 bytes), invalid UTF-8 put into text, frames duplicated,
dropped or swapped, the stream cut short or followed by random bytes. It
is written in random pieces (sometimes the first piece rides with the 101
response), so the bridge sees every read boundary.

After each connection the checker (main thread) asserts: the bridge is
alive (control ping); what it published for that connection and how the
connection ended is one of the outcomes wsraw's oracle allows for those
bytes and that peer's max_message_size (the messages exactly, byte for
byte; the disconnected reason and code; the close code it sent); every
pong answers a ping of the stream, in order; the bridge's own frames are
well formed (masked, no RSV bits). At the end the bridge must exit 0: under
valgrind (ctest -L valgrind) an error is exit 99, and the report is shown.

Every stream is derived from one seed; the seeds of all streams go to
<out>/streams.jsonl and the bytes of a failing one to
<out>/fail-<seed>.bin, so a failure replays with
`test_peer_fuzz.py --replay SEED --limit N`.

Options (or environment): --seconds (HB_PEER_FUZZ_SECONDS, default 20; 60
in the valgrind entry), --seed (HB_PEER_FUZZ_SEED, default: time), --peers
(HB_PEER_FUZZ_PEERS, default 6), --out (HB_PEER_FUZZ_OUT).
"""

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402
import hbpeers as P  # noqa: E402
import wsraw as W  # noqa: E402

LIMITS = [1000, 4096, 65536, 300000]
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
               4000, 4999]
BAD_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]


# ---- streams ---------------------------------------------------------------------------

class F:
    """A frame before serialisation (every field can be mutated)."""
    __slots__ = ("fin", "rsv", "op", "mask", "payload", "length", "len_bits")

    def __init__(self, op, payload=b"", fin=True):
        self.fin, self.rsv, self.op, self.mask = fin, 0, op, None
        self.payload, self.length, self.len_bits = payload, None, None

    def bytes(self):
        return W.frame(self.op, self.payload, fin=self.fin, rsv=self.rsv, mask=self.mask,
                       length=self.length, len_bits=self.len_bits)


CHARS = ["a", "z", " ", "\u00e9", "\u00df", "\u20ac", "\u3042", "\U0001F600", "\u0000",
         "\U0010FFFF", "\uFFFD", "\u07FF", "\u0800", "\uD7FF", "\uE000"]


def rand_text(rnd, n):
    if rnd.random() < 0.5:
        return (rnd.choice("abcdefgh") * n).encode()
    out, size = [], 0
    while size < n:
        c = rnd.choice(CHARS).encode()
        out.append(c)
        size += len(c)
    return b"".join(out)


def rand_size(rnd, limit):
    r = rnd.random()
    if r < 0.25:
        return rnd.choice([0, 1, 125, 126, 127, 128, 65535, 65536])
    if r < 0.6:
        return rnd.randrange(0, 200)
    if r < 0.8:
        return rnd.randrange(200, 5000)
    if r < 0.95:
        return max(0, limit + rnd.randrange(-3, 4))  # at the limit, just under, just over
    return rnd.randrange(5000, max(5001, min(400000, 2 * limit + 2)))


def control(rnd, op=None):
    op = op or rnd.choice([W.PING, W.PING, W.PONG])
    return F(op, bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 126))))


def message(rnd, limit):
    binary = rnd.random() < 0.4
    n = rand_size(rnd, limit)
    if binary:
        chunk = bytes(rnd.getrandbits(8) for _ in range(min(n, 64)))
        payload = (chunk * (n // 64 + 1))[:n]
    else:
        payload = rand_text(rnd, n)[:n]
        # cut on a character boundary so the message stays valid UTF-8
        while payload and not W.utf8_valid(payload):
            payload = payload[:-1]
    op = W.BINARY if binary else W.TEXT
    if rnd.random() < 0.6 or not payload:
        return [F(op, payload)]
    k = rnd.randrange(2, 8)
    cuts = sorted(rnd.randrange(0, len(payload) + 1) for _ in range(k - 1))
    parts, prev = [], 0
    for c in cuts + [len(payload)]:
        parts.append(payload[prev:c])
        prev = c
    frames = []
    for i, p in enumerate(parts):
        frames.append(F(op if i == 0 else W.CONT, p, fin=i == len(parts) - 1))
        if i < len(parts) - 1 and rnd.random() < 0.3:
            frames.append(control(rnd))
    return frames


def valid_frames(rnd, limit):
    frames = []
    for _ in range(rnd.randrange(1, 8)):
        r = rnd.random()
        if r < 0.75:
            frames += message(rnd, limit)
        else:
            frames.append(control(rnd))
    if rnd.random() < 0.3:
        code = rnd.choice(VALID_CODES + [None])
        reason = b"" if code is None or rnd.random() < 0.5 else rand_text(rnd, rnd.randrange(0, 60))
        while reason and not W.utf8_valid(reason):
            reason = reason[:-1]
        frames.append(F(W.CLOSE, W.close_payload(code, reason)))
    return frames


def mutate_frames(rnd, frames, limit):
    if not frames:
        return frames
    i = rnd.randrange(len(frames))
    f = frames[i]
    m = rnd.randrange(16)
    if m == 0:
        f.op = rnd.randrange(16)
    elif m == 1:
        f.rsv = rnd.randrange(1, 8)
    elif m == 2:
        f.fin = not f.fin
    elif m == 3:
        f.mask = True
    elif m == 4:  # truncated length: the header says less than follows
        f.length = rnd.randrange(0, len(f.payload) + 1)
    elif m == 5:  # stretched length, small or huge
        f.length = rnd.choice([len(f.payload) + rnd.randrange(1, 300), limit + 1, 65535,
                               65536, 1 << 32, (1 << 63) - 1, (1 << 63) | rnd.randrange(100),
                               (1 << 64) - 1])
    elif m == 6:  # a non-minimal length encoding
        f.len_bits = rnd.choice([16, 64])
    elif m == 7:  # splice: fragments of another stream in the middle
        other = valid_frames(rnd, limit)
        frames[i:i] = other[rnd.randrange(len(other)):]
    elif m == 8:  # a control frame inserted, maybe oversize or fragmented
        c = control(rnd, rnd.choice([W.PING, W.PONG, W.CLOSE]))
        if rnd.random() < 0.3:
            c.payload = bytes(rnd.randrange(126, 300))
        if rnd.random() < 0.2:
            c.fin = False
        if c.op == W.CLOSE and rnd.random() < 0.7:
            code = rnd.choice(VALID_CODES + BAD_CODES)
            c.payload = W.close_payload(code, rnd.choice([b"", b"r", b"\xff\xfe", b"ok \xc3"]))
        frames.insert(i, c)
    elif m == 9:  # invalid UTF-8 into a text payload
        bad = rnd.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82",
                          b"\x80", b"\xf8\x88\x80\x80\x80"])
        pos = rnd.randrange(len(f.payload) + 1)
        f.payload = f.payload[:pos] + bad + f.payload[pos:]
    elif m == 10:
        frames.insert(i, F(f.op, f.payload, f.fin))  # duplicated
    elif m == 11:
        del frames[i]
    elif m == 12:
        j = rnd.randrange(len(frames))
        frames[i], frames[j] = frames[j], frames[i]
    elif m == 13:  # a continuation where a start is due, or a start inside
        f.op = rnd.choice([W.CONT, W.TEXT, W.BINARY])
    elif m == 14:  # the payload cut (the header keeps its length: stream misaligned)
        f.length = len(f.payload)
        f.payload = f.payload[:rnd.randrange(len(f.payload) + 1)]
    else:
        f.payload = f.payload + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 20)))
    return frames


def gen_stream(seed, limit):
    """seed -> (stream bytes, how it is written: [(delay, piece)...], the
    bytes written with the 101). Deterministic."""
    rnd = random.Random(seed)
    frames = valid_frames(rnd, limit)
    for _ in range(rnd.choice([0, 1, 1, 1, 2, 2, 3, 4])):
        frames = mutate_frames(rnd, frames, limit)
    data = bytearray(b"".join(f.bytes() for f in frames))
    r = rnd.random()
    if data and r < 0.25:  # flipped bits
        for _ in range(rnd.randrange(1, 5)):
            pos = rnd.randrange(min(len(data), 64)) if rnd.random() < 0.5 \
                else rnd.randrange(len(data))
            data[pos] ^= 1 << rnd.randrange(8)
    elif data and r < 0.35:
        del data[rnd.randrange(len(data)):]  # cut short
    elif r < 0.42:
        data += bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 64)))
    data = bytes(data)
    with_101 = rnd.randrange(0, min(len(data), 64) + 1) if rnd.random() < 0.3 else 0
    pieces, pos = [], with_101
    while pos < len(data):
        n = rnd.choice([1, 2, 3, 7, 64, 1000, 4096, 65536, 1 << 20])
        pieces.append((0.001 if rnd.random() < 0.05 else 0.0, data[pos:pos + n]))
        pos += n
    return data, pieces, data[:with_101]


# ---- the servers -------------------------------------------------------------------

class Record:
    __slots__ = ("peer", "index", "seed", "limit", "data", "outs", "conn", "checked", "t_end")

    def __init__(self, peer, index, seed, limit, data, outs, conn):
        self.peer, self.index, self.seed, self.limit = peer, index, seed, limit
        self.data, self.outs, self.conn = data, outs, conn
        self.checked = False
        self.t_end = None


class FuzzPeer:
    def __init__(self, name, limit, master, records, lock, log):
        self.name, self.limit, self.master = name, limit, master
        self.records, self.lock, self.log = records, lock, log
        self.errors = []
        self.stopping = False
        self.server = W.Server(self.script, name=name)

    def seed_for(self, index):
        h = hashlib.sha256(("%s/%s/%d" % (self.master, self.name, index)).encode()).digest()
        return int.from_bytes(h[:8], "big") >> 1

    def script(self, conn):
        if self.stopping:  # the run is over: hold the connection until removed
            return W.idle(conn)
        seed = self.seed_for(conn.index)
        try:
            data, pieces, first = gen_stream(seed, self.limit)
            outs = W.outcomes(data, self.limit)
        except Exception as e:
            self.errors.append("generating stream %d of %s (seed %d): %r" % (
                conn.index, self.name, seed, e))
            raise
        rec = Record(self.name, conn.index, seed, self.limit, data, outs, conn)
        with self.lock:
            self.records.append(rec)
            self.log.write(json.dumps({"peer": self.name, "conn": conn.index, "seed": seed,
                                       "limit": self.limit, "len": len(data),
                                       "sha1": hashlib.sha1(data).hexdigest()}) + "\n")
        play(conn, data, pieces, first, outs)
        rec.t_end = time.monotonic()
        return "played"


def play(conn, data, pieces, first, outs):
    if conn.server.stopping:
        return
    conn.upgrade(first=first)
    for delay, piece in pieces:
        if not conn.send(piece, timeout=H.t(10)):
            break
        if delay:
            time.sleep(delay)
    maybe_waits = any(o.end[0] == "incomplete" for o in outs.values())
    if conn.wait_end(0.3 if maybe_waits else H.t(5)) is None:
        conn.close_tcp()
    conn.wait_eof(H.t(5))
    conn.close_tcp()


# ---- checks ------------------------------------------------------------------------

def check_safety(rec, disc, inbox):
    """The minimum (--check safety): nothing published over the limit or
    as text that is not UTF-8."""
    problems = []
    for binary, payload in inbox.get(rec.peer, rec.index):
        if len(payload) > rec.limit:
            problems.append("published %d bytes over the limit %d" % (len(payload), rec.limit))
        if not binary and not W.utf8_valid(payload):
            problems.append("published text that is not UTF-8: %r" % payload[:40])
    return "; ".join(problems)


def check_record(rec, disc, inbox):
    """'' if the bridge did what the oracle allows, else what went wrong."""
    got_end = P.end_of(disc)
    problems = []

    def find(msgs):
        for o in rec.outs.values():
            if o.messages == msgs and o.end[:2] == got_end[:2]:
                return o
        return None
    # The checker runs 0.3 s after the disconnected event: the inbox (which
    # the bridge wrote first) is normally complete; if it does not match,
    # give the collector thread a while longer before calling it a failure.
    got_msgs = tuple(inbox.get(rec.peer, rec.index))
    match = find(got_msgs)
    if match is None:
        time.sleep(H.t(0.5))
        got_msgs = tuple(inbox.get(rec.peer, rec.index))
        match = find(got_msgs)
    if match is None:
        allowed = sorted(set((len(o.messages), o.end[:2]) for o in rec.outs.values()))
        problems.append("published %d messages and ended %s; the oracle allows (messages, end) "
                        "in %s" % (len(got_msgs), got_end[:2], allowed))
        if not any(o.messages == got_msgs for o in rec.outs.values()):
            want = list(rec.outs.values())[0].messages
            for i, (a, b) in enumerate(zip(got_msgs, want)):
                if a != b:
                    problems.append("message %d differs: got %r want %r" % (
                        i + 1, a[1][:40], b[1][:40]))
                    break
    conn = rec.conn
    sent = conn.client_close
    if got_end[0] in ("protocol_error", "too_large", "invalid_utf8"):
        if sent is None or sent[0] != got_end[1]:
            problems.append("close frame sent %s, want %s" % (sent, got_end[1]))
    elif got_end[0] == "closed_by_peer":
        want = got_end[1] if got_end[1] != 1005 else None
        if sent is None or not (sent[0] == want or (want is None and sent[0] in (None, 1000))):
            problems.append("close echo %s, want %s" % (sent, want))
    if conn.bad():
        problems.append("bad frames from the bridge: %s" % conn.bad()[:3])
    # Pongs answer pings of the stream, in order (coalescing allowed).
    pongs = [e[1] for e in conn.log if e[0] == "pong"]
    allp = list(max((o.pings for o in rec.outs.values()), key=len)) if rec.outs else []
    j = 0
    for p in pongs:
        while j < len(allp) and allp[j] != p:
            j += 1
        if j == len(allp):
            problems.append("pong %r answers no ping of the stream (in order)" % p[:20])
            break
        j += 1
    return "; ".join(problems)


def run(seconds, master, n_peers, out, replay=None, limit=None, mode="strict"):
    os.makedirs(out, exist_ok=True)
    log = open(os.path.join(out, "streams.jsonl"), "a")
    pool = {"connect_timeout": "5s",
            "reconnect": {"initial_delay": "10ms", "max_delay": "10ms", "multiplier": 1.0,
                          "jitter": 0, "stable_after": "1h"},
            "keepalive": {"ping_interval": 0, "timeout": 0}}
    b = P.start(H.Bridge(pool=pool, log={"level": "warn"}))
    records, lock = [], threading.Lock()
    peers = []
    failures = []
    checked = 0
    t_start = time.monotonic()
    inbox = None
    try:
        inbox = P.InboxCollector(b)
        ev = P.live_subscriptions(b, inbox)
        t_live = time.monotonic()
        if replay is not None:
            p = FuzzPeer("replay", limit, master, records, lock, log)
            p.seed_for = lambda index, s=replay: s if index == 1 else None
            orig = p.script

            def once(conn):
                if conn.index > 1:
                    conn.wait_eof(H.t(30))
                    return "done"
                return orig(conn)
            p.server.script = once
            peers.append(p)
        else:
            for k in range(n_peers):
                peers.append(FuzzPeer("fz%d" % k, LIMITS[k % len(LIMITS)], master, records,
                                      lock, log))
        for p in peers:
            b.ok({"op": "connect", "id": p.name, "url": p.server.url,
                  "options": {"max_message_size": "%dB" % p.limit}})
        disc = {p.name: [] for p in peers}
        deadline = t_start + seconds
        last_ping = 0.0
        stopping = False
        stop_deadline = None
        unchecked, n_seen = [], 0
        while True:
            now = time.monotonic()
            if now - last_ping > 0.5:
                P.alive(b, timeout=10)
                last_ping = now
            e = ev.recv(0.02)
            while e is not None:
                if e["kind"] == "disconnected" and e["id"] in disc:
                    disc[e["id"]].append((time.monotonic(), e))
                if e["kind"] in ("removed", "dial_failed") and e["id"] in disc:
                    failures.append("unexpected event %s" % e)
                e = ev.recv(0)
            with lock:
                unchecked += records[n_seen:]
                n_seen = len(records)
            unchecked = [r for r in unchecked if not r.checked]
            for rec in unchecked:
                d = disc[rec.peer]
                if len(d) < rec.index or not rec.conn.done.is_set():
                    continue
                t_disc, de = d[rec.index - 1]
                if time.monotonic() - t_disc < 0.3:  # let the inbox catch up
                    continue
                rec.checked = True
                checked += 1
                why = (check_record if mode == "strict" else check_safety)(rec, de, inbox)
                if why:
                    path = os.path.join(out, "fail-%d.bin" % rec.seed)
                    with open(path, "wb") as f:
                        f.write(rec.data)
                    failures.append("%s conn %d seed %d limit %d (%s): %s\n    replay: %s "
                                    "--replay %d --limit %d" % (
                                        rec.peer, rec.index, rec.seed, rec.limit, path, why,
                                        os.path.basename(__file__), rec.seed, rec.limit))
                    print("FAIL " + failures[-1], flush=True)
                if rec.conn.error is not None:
                    failures.append("server script error %r (seed %d)" % (rec.conn.error,
                                                                          rec.seed))
            for p in peers:
                while p.errors:
                    failures.append(p.errors.pop())
            if len(failures) >= 20:
                break
            if replay is not None and checked >= 1:
                break
            if not stopping and (time.monotonic() > deadline):
                # No new streams; check every stream played so far.
                stopping = True
                stop_deadline = time.monotonic() + H.t(30)
                for p in peers:
                    p.stopping = True
            if stopping:
                with lock:
                    left = [r for r in unchecked + records[n_seen:] if not r.checked]
                if not left:
                    break
                if time.monotonic() > stop_deadline:
                    failures.append("%d streams never ended: %s" % (len(left), [
                        (r.peer, r.index, r.seed) for r in left[:5]]))
                    break
        t_drained = time.monotonic()
        for p in peers:
            b.ok({"op": "remove", "id": p.name})
        for p in peers:
            ev.expect("removed", p.name, timeout=30)
        P.alive(b)
        elapsed = time.monotonic() - t_start
        print("peer fuzz: subscriptions live after %.1fs, streams until %.1fs, the last checked "
              "%.1fs later, peers removed %.1fs later" % (
                  t_live - t_start, seconds, t_drained - t_start - seconds,
                  time.monotonic() - t_drained), flush=True)
        total = len(records)
        print("peer fuzz: %d streams checked (%d played) in %.1fs by %d peers: %.0f streams/min"
              "%s; master seed %s; log %s" % (
                  checked, total, elapsed, len(peers), checked * 60.0 / elapsed,
                  " under valgrind" if P.VALGRIND else "", master, out), flush=True)
        ends = {}
        for r in records:
            if r.checked:
                for o in list(r.outs.values())[:1]:
                    ends[o.end[0]] = ends.get(o.end[0], 0) + 1
        print("peer fuzz: oracle ends of the checked streams: %s" % ends, flush=True)
        ev.close()
    finally:
        if inbox:
            inbox.stop()
        for p in peers:
            p.server.stop()
        log.close()
        if b.proc:
            try:
                P.finish(b)
            except AssertionError as e:
                failures.append(str(e))
    assert not failures, "%d failures:\n%s" % (len(failures), "\n".join(failures[:20]))
    return checked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("HB_PEER_FUZZ_SECONDS", "20")))
    ap.add_argument("--seed", default=os.environ.get("HB_PEER_FUZZ_SEED", ""))
    ap.add_argument("--peers", type=int, default=int(os.environ.get("HB_PEER_FUZZ_PEERS", "6")))
    ap.add_argument("--out", default=os.environ.get("HB_PEER_FUZZ_OUT", ""))
    ap.add_argument("--check", choices=("strict", "safety"),
                    default=os.environ.get("HB_PEER_FUZZ_CHECK", "strict"),
                    help="strict: the oracle's outcomes (SPEC.md section 9); safety: only "
                         "crashes, memory errors, liveness and what may never be published")
    ap.add_argument("--replay", type=int, default=None, help="one stream's seed")
    ap.add_argument("--limit", type=int, default=4096, help="max_message_size for --replay")
    a = ap.parse_args()
    master = a.seed or str(int(time.time()))
    out = a.out or tempfile.mkdtemp(prefix="hb-peer-fuzz-")
    t0 = time.monotonic()
    try:
        run(a.seconds, master, a.peers, out, replay=a.replay, limit=a.limit, mode=a.check)
    except Exception:
        import traceback
        traceback.print_exc()
        print("FAIL peer fuzz (master seed %s) %.1fs" % (master, time.monotonic() - t0))
        sys.exit(1)
    print("ok   peer fuzz %.1fs" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
