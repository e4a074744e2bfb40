#!/bin/bash
# The honeybee demo in one command:
#   1. installs what is missing (scripts/deps.sh, needs root for apt),
#   2. builds honeybee-bridge (cmake into build/demo),
#   3. starts a small WebSocket feed (examples/demo/feed.py) on a free port,
#   4. starts the bridge on free ports, its config without peers yet,
#   5. runs a Python subscriber; once its subscriptions have reached the
#      bridge, the feed is added to the config and the bridge reloads it
#      (SIGHUP), so the subscriber sees every event and message 1 on;
#      it prints each message (peer, conn, seq, payload) and each event,
#   6. shuts everything down cleanly (SIGTERM: the bridge drains and exits 0).
#
#   scripts/run-demo.sh            run for 10 seconds
#   scripts/run-demo.sh -f         run until Ctrl-C
#   scripts/run-demo.sh -t 30      run for 30 seconds
#   scripts/run-demo.sh --bridge PATH   use this honeybee-bridge (no deps, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=10
BRIDGE=
while [ $# -gt 0 ]; do
    case "$1" in
    -f | --forever) seconds=0 ;;
    -t | --time) seconds=$2; shift ;;
    --bridge) BRIDGE=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run-demo.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
PY=/usr/bin/python3

if [ -z "$BRIDGE" ]; then
    echo "== dependencies"
    scripts/deps.sh

    echo "== build (build/demo)"
    cmake -S "$root" -B "$root/build/demo" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DHONEYBEE_BUILD_TESTS=OFF -DHONEYBEE_BUILD_BENCH=OFF >/dev/null
    cmake --build "$root/build/demo" -j"$(nproc)" --target honeybee-bridge >/dev/null
    BRIDGE=$root/build/demo/honeybee-bridge
fi

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
# The bridge starts with no peers; honeybee.yaml gets the feed once the
# subscriber listens (below). A subscriber sees only what is published after
# its subscription reached the bridge (ZeroMQ's "slow joiner"): had the
# bridge dialled the feed first, the first messages shown would be seq=2 or
# later, and the added/connected events would be gone.
config() { # $1: the peers section
    cat >"$work/honeybee.yaml.new" <<YAML
bridge:
  inbox: $inbox
  events: $events
  send: $send
  control: $control
  http: $http
$1
log:
  level: info
YAML
    mv "$work/honeybee.yaml.new" "$work/honeybee.yaml"
}
config "peers: []"

echo "== bridge (no peers yet)"
setsid "$BRIDGE" -c "$work/honeybee.yaml" 2>"$work/bridge.log" &
bridge_pid=$!
pids=("$bridge_pid" "${pids[@]}")
for _ in $(seq 100); do
    curl -fs "http://$http/readyz" >/dev/null 2>&1 && break
    kill -0 "$bridge_pid" 2>/dev/null || { cat "$work/bridge.log"; exit 1; }
    sleep 0.1
done
echo "bridge ready: inbox $inbox, events $events, control $control, http://$http/metrics"

# Called by the subscriber once it listens: put the feed in the config and
# have the bridge reload it (SIGHUP: docs/operations.md, "Reload").
add_feed() {
    echo "== adding the feed: honeybee.yaml gets peer demo-feed, then SIGHUP (reload)"
    config "peers:
  - id: demo-feed
    url: $feed_url
    on_connect:
      - '{\"subscribe\":\"all\"}'"
    kill -HUP "$bridge_pid"
}

echo "== subscriber ($( [ "$seconds" = 0 ] && echo "until Ctrl-C" || echo "${seconds}s"))"
$PY - "$inbox" "$events" "$send" "$control" "$seconds" "$work/subscribed" <<'PYEOF' &
import json, os, signal, struct, sys, time
import zmq
from zmq.utils.monitor import recv_monitor_message
# Started from a script, SIGINT may arrive ignored: take it (and SIGTERM) back.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.default_int_handler)
inbox, events, send, control = sys.argv[1:5]
seconds, flag = float(sys.argv[5]), sys.argv[6]
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB); sub.setsockopt(zmq.SUBSCRIBE, b"")
mon = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
sub.connect(inbox)
ev = ctx.socket(zmq.SUB); ev.setsockopt(zmq.SUBSCRIBE, b""); ev.connect(events)
try:
    # Listening, before anything is published: the inbox SUB has shaken hands
    # with the bridge (its subscription goes out right after), and a probe
    # on the send socket came back as a send_failed event on the events SUB.
    if not mon.poll(10000):
        sys.exit("subscriber: no handshake with the inbox at %s" % inbox)
    recv_monitor_message(mon)
    push = ctx.socket(zmq.PUSH); push.connect(send)
    deadline = time.monotonic() + 10
    while True:
        push.send_multipart([b"demo-probe", b"are you there?"])
        if ev.poll(100):
            kind, pid, _ = ev.recv_multipart()
            if pid == b"demo-probe":
                break
        if time.monotonic() > deadline:
            sys.exit("subscriber: the events subscription did not reach the bridge")
    push.close(0)
    while ev.poll(100):  # the other probes' events
        ev.recv_multipart()
    req = ctx.socket(zmq.REQ); req.connect(control)
    req.send_json({"op": "list"})
    print("subscribed to the inbox and the events; the bridge has %d peer(s)"
          % len(req.recv_json()["peers"]), flush=True)
    open(flag, "w").close()
except KeyboardInterrupt:
    sys.exit(1)
poller = zmq.Poller(); poller.register(sub, zmq.POLLIN); poller.register(ev, zmq.POLLIN)
end = time.monotonic() + seconds if seconds > 0 else float("inf")
n = 0
try:
    while time.monotonic() < end:
        for s, _ in poller.poll(200):
            f = s.recv_multipart()
            if s is ev:
                if f[1] != b"demo-probe":
                    print("event %-12s %s" % (f[0].decode(), f[2].decode()), flush=True)
                continue
            _, flags, _, conn, seq, ns = struct.unpack(">BBHIQQ", f[2])
            n += 1
            print("message peer=%s conn=%d seq=%d %s" % (f[0].decode(), conn, seq,
                  f[1].decode() if not flags & 1 else f[1].hex()), flush=True)
except KeyboardInterrupt:
    pass
print("received %d messages" % n, flush=True)
PYEOF
sub_pid=$!
pids+=("$sub_pid")
for _ in $(seq 200); do
    [ -e "$work/subscribed" ] && break
    kill -0 "$sub_pid" 2>/dev/null || break
    sleep 0.05
done
if [ -e "$work/subscribed" ]; then add_feed; fi
# `wait` returns early when a trapped SIGINT arrives: wait again until the
# subscriber (which got the same Ctrl-C) has printed its total and exited.
sub_rc=0
while kill -0 "$sub_pid" 2>/dev/null; do wait "$sub_pid" || sub_rc=$?; done
subscribed=1
[ -e "$work/subscribed" ] || { subscribed=0; echo "the subscriber did not get going (exit $sub_rc)" >&2; }

echo "== shutdown"
kill -TERM "$bridge_pid"
rc=0
wait "$bridge_pid" || rc=$?
pids=("${pids[@]:1}")
echo "bridge exited with $rc"
tail -n 5 "$work/bridge.log"
[ "$subscribed" = 1 ] || exit 1
exit "$rc"
