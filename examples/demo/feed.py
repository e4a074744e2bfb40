#!/usr/bin/python3
"""A small demo WebSocket feed: streams a few JSON ticks per second to every
client (Debian's python3-websockets 10.4). Used by scripts/run-demo.sh.

    feed.py [--port N] [--rate R]      (port 0 picks a free one; prints it)
"""

import argparse
import asyncio
import json
import random
import signal
import sys
import time

import websockets

SYMBOLS = ["HONEY", "WAX", "POLLEN", "NECTAR"]


async def ticks(ws, rate):
    price = {s: 100.0 for s in SYMBOLS}
    n = 0
    while True:
        n += 1
        s = random.choice(SYMBOLS)
        price[s] = round(price[s] * (1 + random.uniform(-0.01, 0.01)), 2)
        await ws.send(json.dumps({"n": n, "symbol": s, "price": price[s],
                                  "ts": time.time()}))
        await asyncio.sleep(1.0 / rate)


async def handler(ws, path=None, rate=4.0):
    sender = asyncio.ensure_future(ticks(ws, rate))
    try:
        async for msg in ws:  # whatever the bridge sends us is echoed to stdout
            print("feed: received %r" % (msg,), flush=True)
    except websockets.ConnectionClosed:
        pass
    finally:
        sender.cancel()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rate", type=float, default=4.0, help="ticks per second per client")
    args = ap.parse_args()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with websockets.serve(lambda ws, path=None: handler(ws, path, args.rate),
                                "127.0.0.1", args.port) as srv:
        port = srv.sockets[0].getsockname()[1]
        print("feed: listening on ws://127.0.0.1:%d/" % port, flush=True)
        await stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
