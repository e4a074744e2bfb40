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
127.0.0.1), else the bridge's defaults. Sharded bridges (bridge.shard
"I/N"): give each option a comma-separated list in shard order, shard 0
first; the consumer subscribes to every inbox and events endpoint, asks
every control endpoint for its peers (one `peers shard=I/N ...` line each)
and writes --send-to to the owner's send socket, found with shard_of()
below (docs/protocol.md, "Sharding"). A bridge with bridge.curve set
needs --server-key (its public key, 40 characters of Z85, or its public
certificate file) and --cert (this client's certificate with the secret
key, `honeybee-cli keygen`), or HONEYBEE_SERVER_KEY and
HONEYBEE_CLIENT_CERT (docs/security.md). Output is one line per thing seen,
the same in every example language:

    peers n=1 relay-a=connected
    peers shard=1/3 n=1 relay-a=connected      (several control endpoints)
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


def endpoints(value, env, default):
    """--flag, else the environment variable, else the default, as a list
    (comma-separated: one endpoint per shard, in shard order); a bind
    address (tcp://*:5550, tcp://0.0.0.0:5550) becomes loopback."""
    eps = value if value is not None else os.environ.get(env) or default
    return [re.sub(r"^(tcp://)(\*|0\.0\.0\.0):", r"\g<1>127.0.0.1:", ep.strip())
            for ep in eps.split(",") if ep.strip()]


MASK64 = (1 << 64) - 1


def shard_of(peer_id, n):
    """The shard (0..n-1) that owns a peer id: FNV-1a 64 of the id's UTF-8
    bytes, then the jump consistent hash (Lamping and Veach) into n buckets.
    The bridge, honeybee-cli and the Node example compute the same;
    tests/support/shard_vectors.json pins it. The float division is part of
    the definition: Python floats are the same IEEE doubles as C's."""
    h = 0xcbf29ce484222325
    for byte in peer_id.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001b3) & MASK64
    b, j = -1, 0
    while j < n:
        b = j
        h = (h * 2862933555777941757 + 1) & MASK64
        j = int((b + 1) * (float(1 << 31) / float((h >> 33) + 1)))
    return b


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


def list_peers(ctx, ep, timeout, keys, sharded=False):
    """One control request; REQ has no retry, so: send, poll, give up.
    sharded: say which shard answered (the reply's "shard" of "shards")."""
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
    shard = (f"shard={reply.get('shard', '?')}/{reply.get('shards', '?')} "
             if sharded else "")
    print(f"peers {shard}n={len(peers)} {states}".rstrip(), flush=True)


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

    inbox_eps = endpoints(a.inbox, "HONEYBEE_INBOX", "tcp://127.0.0.1:5550")
    events_eps = endpoints(a.events, "HONEYBEE_EVENTS", "tcp://127.0.0.1:5551")
    send_eps = endpoints(a.send, "HONEYBEE_SEND", "tcp://127.0.0.1:5552")
    control_eps = endpoints(a.control, "HONEYBEE_CONTROL", "tcp://127.0.0.1:5553")

    keys = curve_keys(a.server_key, a.cert)
    ctx = zmq.Context()
    inbox = ctx.socket(zmq.SUB)
    secure(inbox, keys)
    inbox.linger = 0
    # ZeroMQ filters by prefix: "relay1" also matches "relay10", so frame 0
    # is compared below as well.
    inbox.setsockopt_string(zmq.SUBSCRIBE, a.peer or "")
    # One SUB connected to every shard: ZeroMQ fair-queues their messages.
    # Each peer lives on exactly one shard, so its seq and conn stay one
    # sequence however many shards there are.
    for ep in inbox_eps:
        inbox.connect(ep)
    events = ctx.socket(zmq.SUB)
    secure(events, keys)
    events.linger = 0
    events.setsockopt(zmq.SUBSCRIBE, b"")
    for ep in events_eps:
        events.connect(ep)
    print(f"ready inbox={','.join(inbox_eps)}", flush=True)

    # The current state first (events only tell what happens from now on).
    for ep in control_eps:
        list_peers(ctx, ep, 5.0, keys, sharded=len(control_eps) > 1)

    if a.send_to:
        # A peer's messages go to its owner's send socket; "*" to every shard.
        targets = (send_eps if a.send_to == "*"
                   else [send_eps[shard_of(a.send_to, len(send_eps))]])
        for ep in targets:
            push = ctx.socket(zmq.PUSH)
            secure(push, keys)
            push.linger = 5000  # let the message leave before close
            push.connect(ep)
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
