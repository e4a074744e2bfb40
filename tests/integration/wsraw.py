"""wsraw: a raw WebSocket *server* toolkit for hostile-peer and conformance
tests of the bridge (the bridge is the client).

Three parts, no dependency beyond the standard library:

- frame builders: any opcode, FIN, RSV bits, masked or not, the length in
  7, 16 or 64 bits and a declared length that lies about the payload;
  fragment sequences and close payloads;
- Server / Conn: a TCP listener on 127.0.0.1:0 whose every connection runs
  a script (a function of the Conn) on its own thread: read the client's
  request, answer the handshake correctly or in a scripted broken way, write
  raw bytes, and read the client's frames (unmasked, checked) through a
  reader thread that answers the client's close and pings;
- an oracle (expect_stream / outcomes): what a strict RFC 6455 client with a
  given max_message_size must do with a byte stream from a server: the
  messages it must publish, the pings it must answer and how the connection
  must end. `outcomes` enumerates the behaviours the RFC leaves open (how
  early UTF-8 is checked, which of two errors of one frame header wins,
  whether a non-minimal length is refused), so a checker can accept any of
  them and nothing else.

Every blocking call has a deadline. Scripts run on threads: use the Conn's
methods, not the socket, from the script.
"""

import base64
import hashlib
import itertools
import queue as _queue
import random
import re
import select
import socket
import struct
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 4, 2, 1


# ---- frames --------------------------------------------------------------------

def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (bytes)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def mask_bytes(payload, key):
    if not payload:
        return b""
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(op, payload=b"", fin=True, rsv=0, mask=None, length=None, len_bits=None):
    """One frame as a server would write it (unmasked unless `mask`).

    rsv: 3-bit value (RSV1=4, RSV2=2, RSV3=1). mask: None, True (random key)
    or a 4-byte key. length: the declared payload length (default: the real
    one; may lie). len_bits: force the length encoding (7, 16 or 64); the
    default is the minimal one for `length`.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (op & 0xF)
    if len_bits is None:
        len_bits = 7 if n < 126 else 16 if n < 65536 else 64
    m = 0x80 if mask is not None else 0
    if len_bits == 7:
        head = bytes([b0, m | (n & 0x7F)])
    elif len_bits == 16:
        head = bytes([b0, m | 126]) + struct.pack(">H", n & 0xFFFF)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n & 0xFFFFFFFFFFFFFFFF)
    if mask is not None:
        key = random.getrandbits(32).to_bytes(4, "big") if mask is True else mask
        return head + key + mask_bytes(payload, key)
    return head + payload


def text(s, **kw):
    return frame(TEXT, s.encode() if isinstance(s, str) else s, **kw)


def binary(b, **kw):
    return frame(BINARY, b, **kw)


def ping(p=b"", **kw):
    return frame(PING, p, **kw)


def pong(p=b"", **kw):
    return frame(PONG, p, **kw)


def close_payload(code=None, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return b"" if code is None else struct.pack(">H", code) + reason


def close(code=None, reason=b"", **kw):
    return frame(CLOSE, close_payload(code, reason), **kw)


def fragments(op, payload, sizes, rsv=0, interleave=None):
    """One data message as fragments of the given sizes (the last fragment
    takes the rest). interleave: a frame written after every fragment but
    the last (e.g. a ping)."""
    if isinstance(payload, str):
        payload = payload.encode()
    parts, pos = [], 0
    for s in sizes:
        parts.append(payload[pos:pos + s])
        pos += s
    if pos < len(payload) or not parts:
        parts.append(payload[pos:])
    out = []
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        out.append(frame(op if i == 0 else CONT, p, fin=last, rsv=rsv if i == 0 else 0))
        if interleave is not None and not last:
            out.append(interleave)
    return b"".join(out)


def split_every(payload, size):
    return [size] * ((len(payload) + size - 1) // size) if payload else [0]


# ---- the client's frames --------------------------------------------------------

class ClientFrame:
    __slots__ = ("fin", "rsv", "op", "masked", "payload")

    def __init__(self, fin, rsv, op, masked, payload):
        self.fin, self.rsv, self.op, self.masked, self.payload = fin, rsv, op, masked, payload

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return "Frame(op=%d fin=%d rsv=%d masked=%d %r len=%d)" % (
            self.op, self.fin, self.rsv, self.masked, p, len(self.payload))


def parse_frames(buf):
    """Complete frames at the start of buf -> (frames, bytes used)."""
    out, pos, n = [], 0, len(buf)
    while n - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        ln, hl = b1 & 0x7F, 2
        if ln == 126:
            if n - pos < 4:
                break
            ln, hl = struct.unpack_from(">H", buf, pos + 2)[0], 4
        elif ln == 127:
            if n - pos < 10:
                break
            ln, hl = struct.unpack_from(">Q", buf, pos + 2)[0], 10
        masked = bool(b1 & 0x80)
        if masked:
            hl += 4
        if n - pos < hl + ln:
            break
        payload = bytes(buf[pos + hl:pos + hl + ln])
        if masked:
            payload = mask_bytes(payload, bytes(buf[pos + hl - 4:pos + hl]))
        out.append(ClientFrame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload))
        pos += hl + ln
    return out, pos


def decode_close(payload):
    """A close frame's payload -> (code or None, reason bytes)."""
    if len(payload) >= 2:
        return struct.unpack(">H", payload[:2])[0], payload[2:]
    return None, payload


# ---- the server -----------------------------------------------------------------

class Conn:
    """One accepted connection, driven by its script on its own thread.

    After upgrade() a reader thread collects the client's frames into
    `events` (a queue of tuples):
      ("msg", binary, payload)   a complete data message (fragments joined)
      ("ping", payload) ("pong", payload)
      ("close", code, reason)    the client's close frame (code None: empty)
      ("bad", what)              a frame a client must not send
      ("eof",)                   the TCP stream ended (always last)
    With auto_close (default) the reader echoes the client's close frame and
    closes the socket; with auto_pong it answers the client's pings.
    """

    def __init__(self, server, sock, index):
        self.server = server
        self.sock = sock
        self.index = index
        self.request = b""
        self.path = None
        self.headers = {}
        self.key = None
        self.events = _queue.Queue()
        self.log = []             # every event, in order (also after they are taken)
        self.client_close = None  # (code, reason) of the client's close frame
        self.eof = threading.Event()
        self.upgraded = False
        self.auto_close = True
        self.auto_pong = True
        self.result = None        # what the script returned
        self.error = None         # what the script raised
        self.done = threading.Event()
        self._wlock = threading.Lock()
        self._reader = None
        self.send_error = None
        self.closed_by_us = False

    # -- the handshake --

    def read_request(self, timeout=10.0, limit=65536):
        """Read the client's request head; False if it did not come."""
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\r\n\r\n" not in buf:
            if time.monotonic() > deadline or len(buf) > limit:
                return False
            try:
                d = self._recv(0.2)
            except OSError:
                return False
            if d is None:
                continue
            if not d:
                return False
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        self.request = head
        self._early = rest  # a client writes nothing before the 101; kept anyway
        lines = head.split(b"\r\n")
        m = re.match(rb"GET (\S+) HTTP/1\.1$", lines[0])
        self.path = m.group(1).decode("latin-1") if m else None
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            self.headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        k = self.headers.get("sec-websocket-key")
        self.key = k.encode() if k else None
        return True

    def response(self, status=b"101 Switching Protocols", accept=True, upgrade=b"websocket",
                 connection=b"Upgrade", extra=b"", protocol=None, extensions=None):
        """A handshake answer: accept True (the right key), None (no
        header) or bytes (that value); upgrade/connection None omit them."""
        h = [b"HTTP/1.1 " + status]
        if upgrade is not None:
            h.append(b"Upgrade: " + upgrade)
        if connection is not None:
            h.append(b"Connection: " + connection)
        if accept is True:
            h.append(b"Sec-WebSocket-Accept: " + accept_key(self.key or b""))
        elif accept is not None:
            h.append(b"Sec-WebSocket-Accept: " + accept)
        if protocol is not None:
            h.append(b"Sec-WebSocket-Protocol: " + protocol)
        if extensions is not None:
            h.append(b"Sec-WebSocket-Extensions: " + extensions)
        return b"\r\n".join(h) + b"\r\n" + extra + b"\r\n"

    def upgrade(self, first=b"", **kw):
        """Answer 101 (first: frame bytes written in the same write), then
        start reading the client's frames."""
        self.upgraded = True
        self._start_reader()
        return self.send(self.response(**kw) + first)

    # -- writing --

    def _ready(self, events, timeout):
        # poll, not select: a long run has descriptors above FD_SETSIZE
        p = select.poll()
        p.register(self.sock, events)
        return bool(p.poll(max(0, int(timeout * 1000))))

    def _recv(self, timeout):
        """Bytes, b"" at the end of the stream, None if nothing came in time."""
        if not self._ready(select.POLLIN, timeout):
            return None
        try:
            return self.sock.recv(1 << 20)
        except BlockingIOError:
            return None

    def send(self, data, timeout=60.0):
        """Write all of data within timeout; False (and send_error) if the
        peer went away or stopped reading for that long."""
        with self._wlock:
            return self._send_locked(data, timeout)

    def _send_locked(self, data, timeout):
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the client stopped reading")
                if not self._ready(select.POLLOUT, min(left, 0.5)):
                    continue
                try:
                    k = self.sock.send(view[:1 << 20])
                except BlockingIOError:
                    continue
                view = view[k:]
            return True
        except (OSError, ValueError) as e:
            self.send_error = e
            return False

    def send_chunks(self, data, sizes, delay=0.0):
        """Write data in pieces (sizes: an int or a list, cycled)."""
        sizes = [sizes] if isinstance(sizes, int) else list(sizes)
        pos, i = 0, 0
        while pos < len(data):
            s = max(1, sizes[i % len(sizes)])
            if not self.send(data[pos:pos + s]):
                return False
            pos += s
            i += 1
            if delay:
                time.sleep(delay)
        return True

    def close_tcp(self):
        self.closed_by_us = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- reading the client --

    def _start_reader(self):
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _put(self, ev):
        self.log.append(ev)
        self.events.put(ev)

    def _read_loop(self):
        buf = bytearray(getattr(self, "_early", b""))
        msg_op, msg = None, bytearray()
        try:
            while not self.server.stopping:
                frames, used = parse_frames(buf)
                del buf[:used]
                for f in frames:
                    if not f.masked:
                        self._put(("bad", "unmasked client frame %r" % f))
                    if f.rsv:
                        self._put(("bad", "RSV bits %d on a client frame" % f.rsv))
                    if f.op in (TEXT, BINARY):
                        if msg_op is not None:
                            self._put(("bad", "new message inside a fragmented one"))
                        msg_op, msg = f.op, bytearray(f.payload)
                    elif f.op == CONT:
                        if msg_op is None:
                            self._put(("bad", "continuation without a start"))
                            continue
                        msg += f.payload
                    elif f.op == PING:
                        self._put(("ping", f.payload))
                        if self.auto_pong:
                            self.send(frame(PONG, f.payload))
                        continue
                    elif f.op == PONG:
                        self._put(("pong", f.payload))
                        continue
                    elif f.op == CLOSE:
                        code, reason = decode_close(f.payload)
                        self.client_close = (code, reason)
                        self._put(("close", code, reason))
                        if self.auto_close:
                            # Echo the close, unless the script is in the
                            # middle of a write (a client that closed stops
                            # reading: that write would hold the lock until
                            # its timeout, and a close frame cannot go in
                            # the middle of another frame): then just hang up.
                            if self._wlock.acquire(blocking=False):
                                try:
                                    self._send_locked(frame(CLOSE, f.payload[:2]), 5.0)
                                finally:
                                    self._wlock.release()
                            self.close_tcp()
                        continue
                    else:
                        self._put(("bad", "reserved opcode %d" % f.op))
                        continue
                    if f.fin and msg_op is not None:
                        self._put(("msg", msg_op == BINARY, bytes(msg)))
                        msg_op, msg = None, bytearray()
                d = self._recv(0.2)
                if d is None:
                    continue
                if not d:
                    break
                buf += d
        except OSError:
            pass
        finally:
            self.eof.set()
            self._put(("eof",))

    def next_event(self, timeout=5.0, skip=("ping", "pong")):
        """The next event not of a kind in `skip`, or None at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ev = self.events.get(timeout=left)
            except _queue.Empty:
                return None
            if ev[0] == "eof":
                self.events.put(ev)  # stays last
                return ev
            if ev[0] not in skip:
                return ev

    def wait_end(self, timeout=10.0):
        """Wait for the client's close frame or the end of the stream;
        return client_close (None if the stream ended without one)."""
        deadline = time.monotonic() + timeout
        while self.client_close is None and not self.eof.is_set():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        return self.client_close

    def wait_eof(self, timeout=5.0):
        """Wait for the TCP stream to end (before the reader runs: by reading)."""
        if self._reader is not None:
            return self.eof.wait(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._recv(0.1) == b"":
                    return True
            except OSError:
                return True
        return False

    def bad(self):
        return [e[1] for e in self.log if e[0] == "bad"]


class Server:
    """A TCP listener; every accepted connection runs script(conn) on its
    own thread after its request was read (if read_request). Conns are kept
    in accept order in `conns`."""

    def __init__(self, script, read_request=True, name=""):
        self.script = script
        self.name = name
        self.read_req = read_request
        self.stopping = False
        self.conns = []
        self.lock = threading.Lock()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "ws://127.0.0.1:%d/" % self.port

    def _accept(self):
        self.lsock.settimeout(0.1)
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            with self.lock:
                c = Conn(self, s, len(self.conns) + 1)
                self.conns.append(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            if self.read_req and not c.read_request():
                c.result = "no request"
                return
            c.result = self.script(c)
        except Exception as e:  # recorded; the test reports it
            c.error = e
        finally:
            c.done.set()
            # Give the descriptor back once the reader is done with it (a
            # fuzz run makes thousands of connections).
            if c._reader is not None:
                c._reader.join(10)
            if c._reader is None or not c._reader.is_alive():
                try:
                    c.sock.close()
                except OSError:
                    pass

    def conn(self, index):
        with self.lock:
            return self.conns[index - 1] if len(self.conns) >= index else None

    def n(self):
        with self.lock:
            return len(self.conns)

    def wait_conn(self, index, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.conn(index)
            if c is not None:
                return c
            time.sleep(0.01)
        return None

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.sock.close()
            except OSError:
                pass


def idle(conn, until=None):
    """A script: complete the handshake, then stay open (answering the
    client's pings and close) until the server stops or `until` is set."""
    conn.upgrade()
    while not conn.server.stopping and not conn.eof.is_set():
        if until is not None and until.is_set():
            break
        time.sleep(0.05)
    return "idle"


# ---- UTF-8 -------------------------------------------------------------------------

def _valid_prefix(tail):
    """Can `tail` (at most 3 bytes) be the start of a valid UTF-8 sequence?"""
    if not tail:
        return True
    b0 = tail[0]
    if 0xC2 <= b0 <= 0xDF:
        need, lo, hi = 1, 0x80, 0xBF
    elif b0 == 0xE0:
        need, lo, hi = 2, 0xA0, 0xBF
    elif 0xE1 <= b0 <= 0xEC or 0xEE <= b0 <= 0xEF:
        need, lo, hi = 2, 0x80, 0xBF
    elif b0 == 0xED:
        need, lo, hi = 2, 0x80, 0x9F
    elif b0 == 0xF0:
        need, lo, hi = 3, 0x90, 0xBF
    elif 0xF1 <= b0 <= 0xF3:
        need, lo, hi = 3, 0x80, 0xBF
    elif b0 == 0xF4:
        need, lo, hi = 3, 0x80, 0x8F
    else:
        return False
    if len(tail) > need:
        return False
    if len(tail) >= 2 and not lo <= tail[1] <= hi:
        return False
    return all(0x80 <= b <= 0xBF for b in tail[2:])


def utf8_check(carry, data, final):
    """Incremental UTF-8 check, eager: -> (ok, new carry). Invalid as soon
    as the bytes seen cannot start a valid text; an incomplete sequence at
    the end is carried unless final."""
    buf = carry + data
    try:
        buf.decode("utf-8")
        return True, b""
    except UnicodeDecodeError as e:
        rest = buf[e.start:]
        if not final and len(rest) <= 3 and _valid_prefix(rest):
            return True, rest
        return False, b""


def utf8_valid(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---- the oracle -------------------------------------------------------------------

VALID_CLOSE = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))


class Outcome:
    """What the client must do with a stream: messages [(binary, payload)],
    pings [payload] it must answer (each or, coalesced, the latest), and
    the end: ("protocol_error", 1002) ("too_large", 1009)
    ("invalid_utf8", 1007) ("closed_by_peer", code, reason) or
    ("incomplete",) (it waits for more; the server then hangs up)."""

    def __init__(self, messages, pings, end):
        self.messages = tuple(messages)
        self.pings = tuple(pings)
        self.end = end

    def key(self):
        return (self.messages, self.end)

    def __repr__(self):
        return "Outcome(%d messages, %d pings, end=%r)" % (
            len(self.messages), len(self.pings), self.end[:2])


def expect_stream(data, max_size, utf8="eager", early=True, prefer="protocol",
                  minimal_len=False, bad_reason="utf8"):
    """The one outcome of `data` for one choice of the open behaviours:

    utf8: "eager" (fail at the first byte that cannot be UTF-8), "frame"
      (checked at the end of each frame), "message" (at the end only);
    early: checks of the first two header bytes apply before the rest of
      the header arrived;
    prefer: which error wins when one header has both a protocol error and
      a length above the limit ("protocol" or "size");
    minimal_len: a length not in its shortest form is a protocol error;
    bad_reason: a close reason that is not UTF-8 is "utf8" (1007) or
      "protocol" (1002).
    """
    msgs, pings = [], []
    pos, n = 0, len(data)
    in_msg = False
    msg_bin = False
    msg_len = 0
    parts = []
    carry = b""
    PROTO, SIZE, UTF8 = ("protocol_error", 1002), ("too_large", 1009), ("invalid_utf8", 1007)

    def out(end):
        return Outcome(msgs, pings, end)

    while True:
        if n - pos < 1:
            return out(("incomplete",))
        b0 = data[pos]
        fin, rsv, op = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF
        control = op >= 8
        proto = (rsv != 0 or op not in (CONT, TEXT, BINARY, CLOSE, PING, PONG)
                 or (control and not fin)
                 or (op == CONT and not in_msg) or (op in (TEXT, BINARY) and in_msg))
        if n - pos < 2:  # the first byte alone may already decide
            return out(PROTO if proto and early else ("incomplete",))
        b1 = data[pos + 1]
        masked, ln7 = bool(b1 & 0x80), b1 & 0x7F
        proto = proto or masked or (control and ln7 > 125)
        if proto and early:
            return out(PROTO)
        hl = 2 + (2 if ln7 == 126 else 8 if ln7 == 127 else 0)
        if n - pos < hl:
            return out(("incomplete",))
        if ln7 == 126:
            ln = struct.unpack_from(">H", data, pos + 2)[0]
            if minimal_len and ln < 126:
                proto = True
        elif ln7 == 127:
            ln = struct.unpack_from(">Q", data, pos + 2)[0]
            if ln >> 63 or (minimal_len and ln < 65536):
                proto = True
        else:
            ln = ln7
        size = (not control) and (msg_len if op == CONT else 0) + ln > max_size
        if masked:
            hl += 4  # the key comes before the payload, and is part of the header
            if n - pos < hl:
                return out(("incomplete",))
        if proto and size:
            return out(PROTO if prefer == "protocol" else SIZE)
        if proto:
            return out(PROTO)
        if size:
            return out(SIZE)
        avail = min(ln, n - pos - hl)
        payload = bytes(data[pos + hl:pos + hl + avail])
        complete = avail == ln
        if not control:
            text_msg = (not msg_bin) if op == CONT else op == TEXT
            if text_msg and utf8 == "eager":
                ok, c2 = utf8_check(carry, payload, fin and complete)
                if not ok:
                    return out(UTF8)
                if complete:
                    carry = c2
            if not complete:
                return out(("incomplete",))
            if text_msg and utf8 == "frame":
                ok, carry = utf8_check(carry, payload, fin)
                if not ok:
                    return out(UTF8)
            if op != CONT:
                in_msg, msg_bin, msg_len, parts, carry = True, op == BINARY, 0, [], carry
            parts.append(payload)
            msg_len += ln
            if fin:
                whole = b"".join(parts)
                if not msg_bin and utf8 == "message" and not utf8_valid(whole):
                    return out(UTF8)
                msgs.append((msg_bin, whole))
                in_msg, msg_len, parts, carry = False, 0, [], b""
        else:
            if not complete:
                return out(("incomplete",))
            if op == PING:
                pings.append(payload)
            elif op == CLOSE:
                if len(payload) == 1:
                    return out(PROTO)
                code, reason = decode_close(payload)
                if code is not None and code not in VALID_CLOSE:
                    return out(PROTO)
                if not utf8_valid(reason):
                    return out(UTF8 if bad_reason == "utf8" else PROTO)
                return out(("closed_by_peer", 1005 if code is None else code, reason))
        pos += hl + ln


def outcomes(data, max_size):
    """Every outcome a strict client may have (see expect_stream), as a dict
    key() -> Outcome."""
    res = {}
    for utf8, early, prefer, minimal, bad in itertools.product(
            ("eager", "frame", "message"), (True, False), ("protocol", "size"),
            (False, True), ("utf8", "protocol")):
        o = expect_stream(data, max_size, utf8=utf8, early=early, prefer=prefer,
                          minimal_len=minimal, bad_reason=bad)
        res.setdefault(o.key(), o)
    return res
