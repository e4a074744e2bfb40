#!/usr/bin/python3
"""The client under test echoes: every inbox message goes back to its peer
through the send socket, text as text and binary as binary (the third
frame), byte for byte. Used by the conformance suite, which runs it as its
own process, the way a consumer of the bridge would be:

    echo_subscriber.py --inbox tcp://127.0.0.1:5550 --send tcp://127.0.0.1:5552

It prints one line per 1000 messages forwarded and exits on SIGTERM or when
its parent goes away (--parent PID).
"""

import argparse
import os
import signal
import struct
import sys

import zmq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inbox", required=True)
    ap.add_argument("--send", required=True)
    ap.add_argument("--parent", type=int, default=0)
    a = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(a.inbox)
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 2000)
    push.setsockopt(zmq.SNDHWM, 0)
    push.connect(a.send)
    n = 0
    while not stop:
        if a.parent and os.getppid() != a.parent:
            break
        if not sub.poll(200):
            continue
        frames = sub.recv_multipart(copy=False)
        if len(frames) != 3 or len(frames[2].bytes) != 24:
            print("echo: malformed inbox message (%d frames)" % len(frames), file=sys.stderr)
            continue
        flags = struct.unpack_from(">B", frames[2].bytes, 1)[0]
        push.send_multipart([frames[0], frames[1], b"binary" if flags & 1 else b"text"],
                            copy=False)
        n += 1
        if n % 1000 == 0:
            print("echo: %d forwarded" % n, flush=True)
    sub.close()
    push.close()
    ctx.term()


if __name__ == "__main__":
    main()
