#!/usr/bin/env python3
"""A honeybee consumer in Python (pyzmq): the whole protocol in one page.

It asks the bridge for the current peers (control `list`), then follows the
inbox and the events, decodes the metadata frame, reports seq gaps (ZeroMQ
dropped messages on the way here) and conn changes (the peer reconnected),
and can write one message to a peer through the send socket.

    python3 consumer.py                       # everything, until Ctrl-C
    python3 consumer.py --peer relay-a --count 10
    python3 consumer.py --send-to relay-a --message '["REQ","x",{}]'

Endpoints come from --inbox/--events/--send/--control, else from the
environment (HONEYBEE_INBOX, HONEYBEE_EVENTS, HONEYBEE_SEND,
HONEYBEE_CONTROL; a bind address such as tcp://*:5550 is read as
127.0.0.1), else the bridge's defaults. A bridge with bridge.curve set
needs --server-key (its public key, 40 characters of Z85, or its public
certificate file) and --cert (this client's certificate with the secret
key, `honeybee-cli keygen`), or HONEYBEE_SERVER_KEY and
HONEYBEE_CLIENT_CERT (docs/security.md). Output is one line per thing seen,
the same in every example language:

    peers n=1 relay-a=connected
    message peer=relay-a conn=1 seq=7 binary=0 data=hello
    gap peer=relay-a lost=3 seq=4->8
    reconnect peer=relay-a conn=1->2
    event kind=connected id=relay-a json={"kind":"connected",...}
    sent peer=relay-a
    done messages=10

Needs only pyzmq (Debian: python3-zmq).
"""
import argparse
import json
import os
import re
import struct
import sys
import time

import zmq
import zmq.auth

META = struct.Struct(">BBHIQQ")  # version, flags, reserved, conn, seq, received_ns


def endpoint(value, env, default):
    """--flag, else the environment variable, else the default; a bind
    address (tcp://*:5550, tcp://0.0.0.0:5550) becomes loopback."""
    ep = value if value is not None else os.environ.get(env) or default
    return re.sub(r"^(tcp://)(\*|0\.0\.0\.0):", r"\g<1>127.0.0.1:", ep)


def curve_keys(server_key, cert):
    """(server public, client public, client secret) for CURVE, or None.
    The certificates are czmq's format, which pyzmq reads."""
    server_key = server_key if server_key is not None else os.environ.get("HONEYBEE_SERVER_KEY")
    cert = cert if cert is not None else os.environ.get("HONEYBEE_CLIENT_CERT")
    if not server_key and not cert:
        return None
    if not server_key or not cert:
        sys.exit("CURVE needs both --server-key and --cert")
    if len(server_key) == 40 and not os.path.exists(server_key):
        server = server_key.encode()
    else:
        server, _ = zmq.auth.load_certificate(server_key)
    public, secret = zmq.auth.load_certificate(cert)
    if secret is None:
        sys.exit(f"--cert {cert}: no secret key in it (give the _secret file)")
    return server, public, secret


def secure(sock, keys):
    """Make sock a CURVE client of the bridge (before it connects)."""
    if keys:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = keys


def show(payload, binary):
    """Text as is (one line), binary as hex: the output stays one line each."""
    if binary:
        return payload.hex()
    return payload.decode("utf-8", "replace").replace("\n", "\\n")


class Tracker:
    """Last (conn, seq) per peer: a jump in seq is a drop, a new conn a reconnect."""

    def __init__(self):
        self.last = {}

    def check(self, peer, conn, seq):
        prev = self.last.get(peer)
        self.last[peer] = (conn, seq)
        if prev is None:
            return
        pconn, pseq = prev
        if seq > pseq + 1:
            print(f"gap peer={peer} lost={seq - pseq - 1} seq={pseq}->{seq}")
        elif seq <= pseq:
            print(f"restart peer={peer} seq={pseq}->{seq}")  # removed, then added again
        if conn != pconn:
            print(f"reconnect peer={peer} conn={pconn}->{conn}")


def list_peers(ctx, ep, timeout, keys):
    """One control request; REQ has no retry, so: send, poll, give up."""
    req = ctx.socket(zmq.REQ)
    secure(req, keys)
    req.linger = 0
    req.connect(ep)
    try:
        req.send_json({"op": "list"})
        if not req.poll(int(timeout * 1000)):
            print(f"list failed error=timeout endpoint={ep}")
            return
        reply = req.recv_json()
    finally:
        req.close()
    if not reply.get("ok"):
        print(f"list failed error={reply.get('error')}")
        return
    peers = reply.get("peers", [])
    states = " ".join(f"{p['id']}={p['state']}" for p in peers)
    print(f"peers n={len(peers)} {states}".rstrip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inbox")
    ap.add_argument("--events")
    ap.add_argument("--send")
    ap.add_argument("--control", help="control endpoint; '' skips the list request")
    ap.add_argument("--peer", help="only this peer (exact match on frame 0)")
    ap.add_argument("--count", type=int, default=0, help="exit after N inbox messages")
    ap.add_argument("--seconds", type=float, default=0, help="exit after T seconds")
    ap.add_argument("--send-to", help="peer id to write --message to ('*' = all)")
    ap.add_argument("--message", default="hello from python")
    ap.add_argument("--server-key", help="the bridge's CURVE public key (Z85) or certificate")
    ap.add_argument("--cert", help="this client's CURVE certificate (the _secret file)")
    a = ap.parse_args()

    inbox_ep = endpoint(a.inbox, "HONEYBEE_INBOX", "tcp://127.0.0.1:5550")
    events_ep = endpoint(a.events, "HONEYBEE_EVENTS", "tcp://127.0.0.1:5551")
    send_ep = endpoint(a.send, "HONEYBEE_SEND", "tcp://127.0.0.1:5552")
    control_ep = endpoint(a.control, "HONEYBEE_CONTROL", "tcp://127.0.0.1:5553")

    keys = curve_keys(a.server_key, a.cert)
    ctx = zmq.Context()
    inbox = ctx.socket(zmq.SUB)
    secure(inbox, keys)
    inbox.linger = 0
    # ZeroMQ filters by prefix: "relay1" also matches "relay10", so frame 0
    # is compared below as well.
    inbox.setsockopt_string(zmq.SUBSCRIBE, a.peer or "")
    inbox.connect(inbox_ep)
    events = ctx.socket(zmq.SUB)
    secure(events, keys)
    events.linger = 0
    events.setsockopt(zmq.SUBSCRIBE, b"")
    events.connect(events_ep)
    print(f"ready inbox={inbox_ep}", flush=True)

    # The current state first (events only tell what happens from now on).
    if control_ep:
        list_peers(ctx, control_ep, 5.0, keys)

    if a.send_to:
        push = ctx.socket(zmq.PUSH)
        secure(push, keys)
        push.linger = 5000  # let the message leave before close
        push.connect(send_ep)
        # Refusals (unknown peer, not connected, queue full) come back as
        # send_failed events, not as a reply: PULL is one-way.
        push.send_multipart([a.send_to.encode(), a.message.encode()])
        push.close()
        print(f"sent peer={a.send_to}", flush=True)

    poller = zmq.Poller()
    poller.register(inbox, zmq.POLLIN)
    poller.register(events, zmq.POLLIN)
    tracker = Tracker()
    deadline = time.monotonic() + a.seconds if a.seconds > 0 else None
    got = 0
    try:
        while not a.count or got < a.count:
            wait = 200 if deadline is None else max(0, min(200, (deadline - time.monotonic()) * 1000))
            if deadline is not None and wait <= 0:
                break
            ready = dict(poller.poll(wait))
            if events in ready:
                kind, peer, body = events.recv_multipart()
                ev = json.loads(body)
                print(f"event kind={kind.decode()} id={peer.decode()} json={json.dumps(ev)}",
                      flush=True)
            if inbox in ready:
                frames = inbox.recv_multipart()
                if len(frames) != 3 or len(frames[2]) != META.size:
                    print(f"skip frames={len(frames)}")
                    continue
                peer = frames[0].decode("utf-8", "replace")
                if a.peer is not None and peer != a.peer:
                    continue
                version, flags, _, conn, seq, _ns = META.unpack(frames[2])
                if version != 1:
                    print(f"skip version={version}")
                    continue
                tracker.check(peer, conn, seq)
                binary = flags & 1
                print(f"message peer={peer} conn={conn} seq={seq} binary={binary} "
                      f"data={show(frames[1], binary)}", flush=True)
                got += 1
    except KeyboardInterrupt:
        pass
    print(f"done messages={got}", flush=True)
    inbox.close()
    events.close()
    ctx.term()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The reader went away (`consumer.py | head`): stop quietly, like a
        # Unix filter. stdout now points at /dev/null so that the
        # interpreter's last flush at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
