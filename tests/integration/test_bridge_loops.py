"""Several loop threads in one bridge (pool.loops; docs/operations.md,
"Threads and queues"), seen from the outside: 12 peers on a real WebSocket
server spread over 3 loops by the stable hash of their id (src/core/shard.h,
repeated here), each peer's messages in order with its own seq and conn,
list/stats/metrics summed over the loops, a reconnect and a remove + re-add
that keep the peer on its loop, and `auto`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

LOOPS = 3
N_PEERS = 12
N_MSGS = 150
FAST = {"initial_delay": "100ms", "max_delay": "200ms", "jitter": 0.0}
M64 = (1 << 64) - 1


def id_hash(pid):
    h = 0xcbf29ce484222325
    for c in pid.encode():
        h = ((h ^ c) * 0x100000001b3) & M64
    return h


def jump(key, n):
    b, j = -1, 0
    while j < n:
        b = j
        key = (key * 2862933555777941757 + 1) & M64
        j = int(float(b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def mix(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def loop_of(pid, k):
    return jump(mix(id_hash(pid)), k)


IDS = ["peer-%02d" % i for i in range(N_PEERS)]


def test_placement_covers_every_loop():
    # The test below means something only if the ids land on every loop.
    assert sorted({loop_of(p, LOOPS) for p in IDS}) == list(range(LOOPS))


def test_loops_end_to_end():
    srv = H.WSServer()
    peers = [{"id": p, "url": srv.url_of(p)} for p in IDS]
    try:
        with H.Bridge(peers=peers, pool={"loops": LOOPS, "reconnect": FAST}) as b:
            H.wait_for(lambda: all(srv.live(p) == 1 for p in IDS), 15, "every peer connected")
            for p in IDS:
                b.wait_state(p, "connected")
            assert "%d loop threads" % LOOPS in b.stderr(), b.stderr()[-2000:]

            # list: each peer on the loop its id hashes to.
            lst = b.list()
            assert sorted(lst) == IDS, lst
            for p in IDS:
                assert lst[p]["loop"] == loop_of(p, LOOPS), (p, lst[p])
            st = b.ok({"op": "stats"})
            assert st["loops"] == LOOPS, st
            assert st["peers"]["connected"] == N_PEERS, st
            one = b.ok({"op": "stats", "id": IDS[0]})
            assert one["loop"] == loop_of(IDS[0], LOOPS), one

            # Every peer sends at once: the loops publish concurrently on one
            # PUB; each peer's messages arrive in order, seq 1.., conn 1.
            sub = b.sub("inbox")
            H.wait_for(lambda: (srv.push(IDS[0], "probe"), H.recv_inbox(sub, 0.2))[1], 10,
                       "the inbox subscription")
            while H.recv_inbox(sub, 0.2):
                pass
            base = {p: b.list()[p]["seq"] for p in IDS}
            for i in range(N_MSGS):
                for p in IDS:
                    srv.push(p, "%s:%d" % (p, i))
            got = {p: [] for p in IDS}
            total = N_PEERS * N_MSGS
            n = 0
            while n < total:
                m = H.recv_inbox(sub, 10)
                assert m is not None, "inbox: %d of %d messages" % (n, total)
                pid, payload, meta = m
                pid = pid.decode() if isinstance(pid, bytes) else pid
                got[pid].append((payload, meta))
                n += 1
            for p in IDS:
                want = ["%s:%d" % (p, i) for i in range(N_MSGS)]
                pay = [x[0].decode() if isinstance(x[0], bytes) else x[0] for x in got[p]]
                assert pay == want, (p, pay[:5])
                seqs = [x[1]["seq"] for x in got[p]]
                assert seqs == list(range(base[p] + 1, base[p] + 1 + N_MSGS)), (p, seqs[:5])
                assert {x[1]["conn"] for x in got[p]} == {1}, p

            # Aggregation over the loops: stats and /metrics sum every peer.
            lst = b.list()
            st = b.ok({"op": "stats"})
            per_peer = {p: b.ok({"op": "stats", "id": p})["messages_received_total"] for p in IDS}
            assert st["messages_received_total"] == sum(per_peer.values()), (st, per_peer)
            assert st["messages_received_total"] >= total
            met = b.metrics()
            assert met["honeybee_messages_received_total"] == st["messages_received_total"]
            for p in IDS:
                assert met['honeybee_messages_received_total{peer="%s"}' % p] == per_peer[p]
            for i in range(LOOPS):
                want = sum(1 for p in IDS if loop_of(p, LOOPS) == i)
                assert met['honeybee_loop_peers{loop="%d"}' % i] == want, met
            assert 'honeybee_loop_peers{loop="%d"}' % LOOPS not in met

            # A reconnect keeps the peer on its loop: conn 2, seq goes on.
            ev = b.events()
            victim = IDS[5]
            last_seq = b.list()[victim]["seq"]
            srv.drop(victim, 4000, "go away")
            e = ev.expect("connected", victim, timeout=10)
            assert e["conn"] == 2, e
            assert b.list()[victim]["loop"] == loop_of(victim, LOOPS)
            H.wait_for(lambda: srv.live(victim) == 1, 10, "the victim's new connection")
            srv.push(victim, "after")
            m = H.recv_inbox(sub, 10)
            while m is not None and (m[1] != b"after" and m[1] != "after"):
                m = H.recv_inbox(sub, 10)
            assert m is not None, "no message after the reconnect"
            assert m[2]["conn"] == 2 and m[2]["seq"] == last_seq + 1, m
            assert b.ok({"op": "stats", "id": victim})["reconnects_total"] == 1
            assert b.ok({"op": "stats"})["reconnects_total"] == 1

            # Removed and added again over control: the same loop (the hash
            # of the id, not the order or the load, decides).
            gone = IDS[7]
            b.ok({"op": "remove", "id": gone})
            ev.expect("removed", gone, timeout=10)
            assert gone not in b.list()
            b.ok({"op": "connect", "id": gone, "url": srv.url_of(gone),
                  "options": {"reconnect": FAST}})
            ev.expect("connected", gone, timeout=10)
            assert b.list()[gone]["loop"] == loop_of(gone, LOOPS)
            met = b.metrics()
            assert sum(met['honeybee_loop_peers{loop="%d"}' % i]
                       for i in range(LOOPS)) == N_PEERS, met
            sub.close()
            ev.close()
    finally:
        srv.stop()


def test_loops_auto():
    # auto: the CPUs this process may run on minus one, at least 1 (the
    # daemon inherits this test's affinity).
    want = max(1, min(64, len(os.sched_getaffinity(0)) - 1))
    with H.Bridge() as b:
        assert b.ok({"op": "stats"})["loops"] == want
        met = b.metrics()
        assert sum(v for k, v in met.items() if k.startswith("honeybee_loop_peers{")) == 0
        assert 'honeybee_loop_peers{loop="%d"}' % (want - 1) in met, met


if __name__ == "__main__":
    H.run([test_placement_covers_every_loop, test_loops_end_to_end, test_loops_auto])
