#!/usr/bin/python3
"""A scriptable WebSocket server for the pool's integration tests.

Runs on Debian's python3 with websockets 10.4 (asyncio). Listens on
127.0.0.1 (port 0 unless --port), prints `PORT <n>` when ready, then
reports what it sees on stdout, one line each:

    OPEN <n> <json: {"path":..., "headers": {...}, "subprotocol": ...}>
                                 (with "tls_resumed": true|false on wss://)
    RECV <n> text <json string>
    RECV <n> binary <hex>
    CLOSED <n> <code> <json reason>
    PING <n>                     (a ping from the client, when --report-pings)

and takes commands on stdin, one per line. A command applies to every open
connection, or to connection <n> only when prefixed with `@<n> `:

    send text <text>             send a text message
    send binary <hex>            send a binary message
    fragments <a> <b> ...        one text message sent as several frames
    big <n>                      a binary message of n bytes
    invalid_utf8                 a text frame that is not UTF-8
    close <code> [reason]        close handshake with code and reason
    raw <hex>                    write these bytes to the socket as they are
                                 (e.g. c1 00: a text frame with RSV1 set;
                                 83 00: reserved opcode 3; 88 02 03 f4: a
                                 close frame with code 1012)
    ping [text]                  send a ping; prints `PONG <n>` when its pong comes
    drop                         abort the TCP connection (no close frame)
    silent                       stop reading (no pongs, no close replies)
    onopen close <code>          close every new connection at once
    onopen silent                go silent on every new connection at once
    onopen none                  back to normal
    count                        prints `COUNT <open connections>`
    recvlen on|off               report RECV <n> len <bytes> instead of the
                                 payload (for bulk transfers)
    slowread <ms>                new connections read their socket only in
                                 short windows every <ms> (slow but steady)
    quit                         exit

--tls CERT KEY serves wss://; --client-ca FILE also demands a client
certificate from that CA. --subprotocols a,b offers subprotocols.
"""
import argparse
import asyncio
import json
import os
import sys

import websockets
from websockets.frames import Opcode


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Server:
    def __init__(self):
        self.conns = {}
        self.next = 1
        self.onopen = None
        self.recvlen = False
        self.slowread = 0.0

    async def handler(self, ws, path):
        n = self.next
        self.next += 1
        self.conns[n] = ws
        hdrs = {k: v for k, v in ws.request_headers.raw_items()}
        info = {"path": path, "headers": hdrs, "subprotocol": ws.subprotocol}
        tls = ws.transport.get_extra_info("ssl_object")
        if tls is not None:
            info["tls_resumed"] = bool(tls.session_reused)
        out("OPEN %d %s" % (n, json.dumps(info)))
        throttle = asyncio.ensure_future(self.throttle(ws)) if self.slowread else None
        try:
            if self.onopen and self.onopen[0] == "close":
                await ws.close(code=int(self.onopen[1]), reason="onopen")
            elif self.onopen and self.onopen[0] == "silent":
                ws.transport.pause_reading()
            async for msg in ws:
                if self.recvlen:
                    out("RECV %d len %d" % (n, len(msg)))
                elif isinstance(msg, str):
                    out("RECV %d text %s" % (n, json.dumps(msg)))
                else:
                    out("RECV %d binary %s" % (n, msg.hex()))
        except websockets.ConnectionClosed:
            pass
        finally:
            if throttle:
                throttle.cancel()
            self.conns.pop(n, None)
            code = ws.close_code if ws.close_code is not None else 1006
            out("CLOSED %d %d %s" % (n, code, json.dumps(ws.close_reason or "")))

    async def throttle(self, ws):
        # slowread: the socket is read in short windows (about one 256 KiB
        # read each) every `slowread` seconds: a slow but steady reader.
        # Pausing per message would not do: with max_queue=None websockets
        # reads everything it can into its queue at once.
        while True:
            ws.transport.pause_reading()
            await asyncio.sleep(self.slowread)
            ws.transport.resume_reading()
            await asyncio.sleep(0.001)

    async def apply(self, ws, cmd, args):
        if cmd == "send" and args and args[0] == "text":
            await ws.send(" ".join(args[1:]))
        elif cmd == "send" and args and args[0] == "binary":
            await ws.send(bytes.fromhex(args[1] if len(args) > 1 else ""))
        elif cmd == "fragments":
            await ws.send(iter(args))
        elif cmd == "big":
            await ws.send(b"x" * int(args[0]))
        elif cmd == "invalid_utf8":
            await ws.write_frame(True, Opcode.TEXT, b"ok\xff\xfe")
        elif cmd == "close":
            await ws.close(code=int(args[0]), reason=" ".join(args[1:]))
        elif cmd == "raw":
            ws.transport.write(bytes.fromhex("".join(args)))
        elif cmd == "ping":
            waiter = await ws.ping(" ".join(args))
            n = next(k for k, w in self.conns.items() if w is ws)

            async def pong():
                await waiter
                out("PONG %d" % n)
            asyncio.ensure_future(pong())
        elif cmd == "drop":
            ws.transport.abort()
        elif cmd == "silent":
            ws.transport.pause_reading()

    async def command(self, line):
        parts = line.split(" ")
        target = None
        if parts and parts[0].startswith("@"):
            target = int(parts[0][1:])
            parts = parts[1:]
        if not parts or not parts[0]:
            return
        cmd, args = parts[0], parts[1:]
        if cmd == "quit":
            os._exit(0)
        if cmd == "onopen":
            self.onopen = None if args[0] == "none" else args
            out("OK onopen")
            return
        if cmd == "recvlen":
            self.recvlen = args[0] == "on"
            out("OK recvlen")
            return
        if cmd == "slowread":
            self.slowread = float(args[0]) / 1000.0
            out("OK slowread")
            return
        if cmd == "count":
            out("COUNT %d" % len(self.conns))
            return
        conns = [(n, w) for n, w in list(self.conns.items()) if target in (None, n)]
        for n, ws in conns:
            try:
                await self.apply(ws, cmd, args)
            except Exception as e:  # a closing connection: report, keep going
                out("ERROR %d %s" % (n, e))
        out("OK %s" % cmd)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--subprotocols", default="")
    ap.add_argument("--client-ca", default="", help="require client certificates from this CA")
    a = ap.parse_args()
    ssl_ctx = None
    if a.tls:
        import ssl
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(a.tls[0], a.tls[1])
        if a.client_ca:
            ssl_ctx.verify_mode = ssl.CERT_REQUIRED
            ssl_ctx.load_verify_locations(a.client_ca)
    srv = Server()
    subs = [s for s in a.subprotocols.split(",") if s] or None
    server = await websockets.serve(srv.handler, "127.0.0.1", a.port, ssl=ssl_ctx,
                                    max_size=None, ping_interval=None, compression=None,
                                    subprotocols=subs, max_queue=None)
    port = server.sockets[0].getsockname()[1]
    out("PORT %d" % port)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            os._exit(0)
        await srv.command(line.decode().rstrip("\n"))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
