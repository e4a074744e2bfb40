#!/bin/bash
# The honeybee demo in one command:
#   1. installs what is missing (scripts/deps.sh, needs root for apt),
#   2. builds honeybee-bridge (cmake into build/demo),
#   3. starts a small WebSocket feed (examples/demo/feed.py) on a free port,
#   4. starts the bridge with a config pointing at it, on free ports,
#   5. runs a Python subscriber that prints each message (peer, conn, seq,
#      payload) and each lifecycle event, for ~10 s,
#   6. shuts everything down cleanly (SIGTERM: the bridge drains and exits 0).
#
#   scripts/run-demo.sh            run for 10 seconds
#   scripts/run-demo.sh -f         run until Ctrl-C
#   scripts/run-demo.sh -t 30      run for 30 seconds
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=10
while [ $# -gt 0 ]; do
    case "$1" in
    -f | --forever) seconds=0 ;;
    -t | --time) seconds=$2; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run-demo.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
PY=/usr/bin/python3

echo "== dependencies"
scripts/deps.sh

echo "== build (build/demo)"
cmake -S "$root" -B "$root/build/demo" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHONEYBEE_BUILD_TESTS=OFF -DHONEYBEE_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build/demo" -j"$(nproc)" --target honeybee-bridge >/dev/null
BRIDGE=$root/build/demo/honeybee-bridge

work=$(mktemp -d /tmp/honeybee-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
# Ctrl-C stops the subscriber (below), then the normal shutdown runs. The
# feed and the bridge run in their own sessions (setsid) so that Ctrl-C
# does not reach them directly: the script stops the bridge first (SIGTERM,
# graceful drain), then the feed.
trap 'interrupted=1' INT
trap 'exit 143' TERM
interrupted=0

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== feed"
setsid $PY examples/demo/feed.py --port 0 >"$work/feed.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    feed_url=$(sed -n 's/^feed: listening on //p' "$work/feed.log")
    [ -n "$feed_url" ] && break
    sleep 0.1
done
[ -n "$feed_url" ] || { cat "$work/feed.log"; echo "feed did not start" >&2; exit 1; }
echo "feed at $feed_url"

inbox=tcp://127.0.0.1:$(free_port)
events=tcp://127.0.0.1:$(free_port)
send=tcp://127.0.0.1:$(free_port)
control=tcp://127.0.0.1:$(free_port)
http=127.0.0.1:$(free_port)
cat >"$work/honeybee.yaml" <<YAML
bridge:
  inbox: $inbox
  events: $events
  send: $send
  control: $control
  http: $http
peers:
  - id: demo-feed
    url: $feed_url
    on_connect:
      - '{"subscribe":"all"}'
log:
  level: info
YAML

echo "== bridge"
setsid "$BRIDGE" -c "$work/honeybee.yaml" 2>"$work/bridge.log" &
bridge_pid=$!
pids=("$bridge_pid" "${pids[@]}")
for _ in $(seq 100); do
    curl -fs "http://$http/readyz" >/dev/null 2>&1 && break
    kill -0 "$bridge_pid" 2>/dev/null || { cat "$work/bridge.log"; exit 1; }
    sleep 0.1
done
echo "bridge ready: inbox $inbox, events $events, control $control, http://$http/metrics"

echo "== subscriber ($( [ "$seconds" = 0 ] && echo "until Ctrl-C" || echo "${seconds}s"))"
$PY - "$inbox" "$events" "$control" "$seconds" <<'PYEOF' || true
import json, signal, struct, sys, time
import zmq
# Started from a script, SIGINT may arrive ignored: take it (and SIGTERM) back.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.default_int_handler)
inbox, events, control, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
ctx = zmq.Context()
req = ctx.socket(zmq.REQ); req.connect(control)
req.send_json({"op": "list"})
for p in req.recv_json()["peers"]:
    print("peer %s %s (%s)" % (p["id"], p["state"], p["url"]))
sub = ctx.socket(zmq.SUB); sub.setsockopt(zmq.SUBSCRIBE, b""); sub.connect(inbox)
ev = ctx.socket(zmq.SUB); ev.setsockopt(zmq.SUBSCRIBE, b""); ev.connect(events)
poller = zmq.Poller(); poller.register(sub, zmq.POLLIN); poller.register(ev, zmq.POLLIN)
end = time.monotonic() + seconds if seconds > 0 else float("inf")
n = 0
try:
    while time.monotonic() < end:
        for s, _ in poller.poll(200):
            f = s.recv_multipart()
            if s is ev:
                print("event %-12s %s" % (f[0].decode(), f[2].decode()))
                continue
            _, flags, _, conn, seq, ns = struct.unpack(">BBHIQQ", f[2])
            n += 1
            print("message peer=%s conn=%d seq=%d %s" % (f[0].decode(), conn, seq,
                  f[1].decode() if not flags & 1 else f[1].hex()))
except KeyboardInterrupt:
    pass
print("received %d messages" % n)
PYEOF

echo "== shutdown"
kill -TERM "$bridge_pid"
rc=0
wait "$bridge_pid" || rc=$?
pids=("${pids[@]:1}")
echo "bridge exited with $rc"
tail -n 5 "$work/bridge.log"
exit "$rc"
