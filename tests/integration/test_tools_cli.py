"""honeybee-cli (src/tools) against the real bridge: every subcommand, its
output and its exit code (0 ok, 1 refused, 2 usage, 3 unreachable).

One bridge with two peers (feed, feed10) on one WebSocket server serves
every test of the file; each test leaves the bridge as it found it.
"""
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

FAST_RECONNECT = {"reconnect": {"initial_delay": "50ms", "max_delay": "300ms",
                                "stable_after": "100ms"}}


class Fx:
    def __init__(self, ws, bridge):
        self.ws = ws
        self.bridge = bridge
        self.env = bridge.endpoint_env()


@contextlib.contextmanager
def fixture():
    assert os.access(H.CLI, os.X_OK), f"{H.CLI} not built"
    ws = H.WSServer()
    try:
        peers = [{"id": "feed", "url": ws.url_of("feed")},
                 {"id": "feed10", "url": ws.url_of("feed10")}]
        with H.Bridge(peers=peers, pool=FAST_RECONNECT) as b:
            b.wait_state("feed", "connected")
            b.wait_state("feed10", "connected")
            yield Fx(ws, b)
    finally:
        ws.stop()


def cli(args, env, **kw):
    return H.run_cmd([H.CLI] + args, env=env, **kw)


def start(args, env):
    p = subprocess.Popen([H.CLI] + args, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    return p, H.Lines(p)


def seen(lines):
    lines.peek()
    return len(lines.all)


def pump(ws, paths, text, until, what, timeout=20):
    """Push numbered messages to paths every 100 ms until `until()`."""
    i = [0]

    def step():
        if until():
            return True
        i[0] += 1
        for p in paths:
            ws.push(p, f"{text}{i[0]}" if text not in ("before", "after") else text)
        time.sleep(0.1)
        return until()
    H.wait_for(step, timeout, what)


COMMANDS = ("sub", "events", "send", "list", "stats", "connect", "remove", "ping", "health",
            "version")


def test_usage(fx):
    env = fx.env
    r = cli(["--help"], env)
    assert r.returncode == 0 and "Exit codes" in r.stdout, f"--help: {r}"
    for c in COMMANDS:
        assert f"\n  {c}" in r.stdout, f"--help does not list {c}: {r.stdout}"
    # Each command's --help is that command's: its synopsis first.
    for c in COMMANDS:
        for args in ([c, "--help"], [c, "-h"], ["help", c]):
            r = cli(args, env)
            assert r.returncode == 0 and r.stdout.startswith(f"usage: honeybee-cli {c}"), \
                f"{args}: {r}"
            others = [o for o in COMMANDS if o != c and f"usage: honeybee-cli {o}" in r.stdout]
            assert not others, f"{args} prints the help of {others}"
    r = cli(["sub", "--bogus"], env)
    assert r.returncode == 2 and "sub --help" in r.stderr, f"bad option: {r}"
    r = cli(["bogus"], env)
    assert r.returncode == 2 and "unknown command" in r.stderr, f"bogus command: {r}"
    r = cli(["remove"], env)
    assert r.returncode == 2, f"remove without id: {r}"
    r = cli(["version"], env)
    assert r.returncode == 0 and r.stdout.startswith("honeybee-cli "), f"version: {r}"


def test_ping(fx):
    env = fx.env
    r = cli(["ping"], env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", f"ping: {r}"
    r = cli(["ping", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout) == {"ok": True}, f"ping --json: {r}"
    # An unreachable control socket exits 3 within the timeout.
    dead = f"tcp://127.0.0.1:{H.free_port()}"
    r = cli(["ping", "-e", dead, "-T", "0.5"], env)
    assert r.returncode == 3 and "no connection" in r.stderr, f"ping unreachable: {r}"


def test_endpoint_hint(fx):
    """An endpoint without tcp:// is a usage error that says what was meant,
    from -e, from the environment and from a config file."""
    env = fx.env
    port = fx.env["HONEYBEE_CONTROL"].rsplit(":", 1)[1]
    for cmd in (["ping"], ["sub", "-n", "1"], ["events", "-n", "1"], ["send", "feed", "x"]):
        r = cli(cmd + ["-e", f"127.0.0.1:{port}"], env)
        assert r.returncode == 2 and f"did you mean tcp://127.0.0.1:{port}?" in r.stderr, \
            f"{cmd} -e without tcp://: {r}"
        assert "Invalid argument" not in r.stderr, r.stderr
    r = cli(["ping"], dict(env, HONEYBEE_CONTROL=f"127.0.0.1:{port}"))
    assert r.returncode == 2 and "$HONEYBEE_CONTROL" in r.stderr and "tcp://" in r.stderr, \
        f"HONEYBEE_CONTROL without tcp://: {r}"
    r = cli(["ping", "-e", "tcp://no-port-here"], env)
    assert r.returncode == 2 and "tcp://HOST:PORT" in r.stderr, f"malformed endpoint: {r}"


def test_tail_unreachable(fx):
    """sub and events exit 3 ("bridge unreachable") when nothing answers
    within -T, also when -t ends first; something that answers but is not
    a PUB socket (the HTTP port, the control REP) is named as such."""
    env = fx.env
    dead = f"tcp://127.0.0.1:{H.free_port()}"
    for cmd in ("sub", "events"):
        t0 = time.monotonic()
        r = cli([cmd, "-e", dead, "-T", "0.5"], env)
        took = time.monotonic() - t0
        assert r.returncode == 3 and "bridge unreachable" in r.stderr, f"{cmd} unreachable: {r}"
        assert took < H.t(5), f"{cmd} took {took:.1f}s to give up"
        r = cli([cmd, "-e", dead, "-t", "0.3"], env)
        assert r.returncode == 3 and "bridge unreachable" in r.stderr, f"{cmd} -t 0.3: {r}"
    r = cli(["sub", "-e", f"tcp://{fx.bridge.http_addr}", "-T", "1"], env)
    assert (r.returncode == 3 and "does not speak ZeroMQ" in r.stderr
            and "ignoring" not in r.stderr), f"sub at the HTTP port: {r}"
    r = cli(["sub", "-e", fx.env["HONEYBEE_CONTROL"], "-T", "1"], env)
    assert r.returncode == 3 and "bridge unreachable" in r.stderr, f"sub at the control REP: {r}"
    # A reachable bridge with nothing to say: -t ends it with 0.
    for cmd in ("sub", "events"):
        r = cli([cmd, "-p", "nobody", "-t", "0.5"], env)
        assert r.returncode == 0 and not r.stderr, f"{cmd} on a quiet bridge: {r}"


def test_config_file(fx):
    """-c FILE: the endpoints and bridge.http of the bridge's own config,
    with the HONEYBEE_* variables over it as the bridge applies them;
    health follows bridge.http, and pings the control socket when HTTP is
    off ("")."""
    path = fx.bridge.path
    r = cli(["ping", "-c", path], {})
    assert r.returncode == 0 and r.stdout.strip() == "ok", f"ping -c: {r}"
    r = cli(["list", "-c", path], {})
    assert r.returncode == 0 and "feed10" in r.stdout, f"list -c: {r}"
    r = cli(["health", "-c", path], {})
    assert r.returncode == 0 and " 200" in r.stdout, f"health -c: {r}"
    dead = f"127.0.0.1:{H.free_port()}"
    r = cli(["health", "-c", path, "-T", "1"], {"HONEYBEE_HTTP": dead})
    assert r.returncode == 3 and dead in r.stderr, f"health -c with HONEYBEE_HTTP over it: {r}"
    r = cli(["sub", "-c", path, "-p", "nobody", "-t", "0.3"], {})
    assert r.returncode == 0, f"sub -c: {r}"
    tmp = os.path.join(fx.bridge.tmp, "http-off.yaml")
    with open(tmp, "w") as f:
        f.write(open(path).read().replace(f'"{fx.bridge.http_addr}"', '""')
                .replace(f"http: {fx.bridge.http_addr}", 'http: ""'))
    assert 'http: ""' in open(tmp).read(), open(tmp).read()
    r = cli(["health", "-c", tmp], {})
    assert r.returncode == 0 and "pinging the control socket" in r.stderr, f"health, http off: {r}"
    bad = os.path.join(fx.bridge.tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("bridge:\n  bogus: 1\n")
    r = cli(["ping", "-c", bad], {})
    assert r.returncode == 2 and "bogus" in r.stderr, f"-c of an invalid file: {r}"


def test_list_and_stats(fx):
    env, ws = fx.env, fx.ws
    r = cli(["list"], env)
    assert r.returncode == 0, f"list: {r}"
    rows = [ln.split() for ln in r.stdout.splitlines()]
    assert rows[0][:3] == ["ID", "STATE", "ATTEMPT"], f"list header: {r.stdout}"
    assert any(row[0] == "feed" and row[1] == "connected" and row[-1] == ws.url_of("feed")
               for row in rows[1:]), f"list rows: {r.stdout}"
    r = cli(["list", "--json"], env)
    reply = json.loads(r.stdout)
    assert reply["ok"] and {p["id"] for p in reply["peers"]} == {"feed", "feed10"}, \
        f"list --json: {r.stdout}"

    r = cli(["stats"], env)
    assert r.returncode == 0 and ":" in r.stdout and "ok:" not in r.stdout, f"stats: {r}"
    r = cli(["stats", "feed", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True, f"stats feed: {r}"
    r = cli(["stats", "nope"], env)
    assert r.returncode == 1 and "unknown_peer" in r.stderr, f"stats nope: {r}"


def test_events_connect_remove(fx):
    """events --json -k, events -p PEER in order with fields; connect's
    refusals; remove."""
    env, ws, bridge = fx.env, fx.ws, fx.bridge
    evp, evl = start(["events", "-p", "extra", "-t", str(H.t(120))], env)
    evj, evjl = start(["events", "-k", "connected", "--json", "-n", "1",
                       "-t", str(H.t(60))], env)
    # Slow joiner: a SUB sees only what is published after its
    # subscription reached the bridge. Run connect/remove cycles of
    # "extra" until both subscribers have seen one (the --json one exits
    # on its first `connected`); later lines are then complete.
    for _ in range(int(H.t(20))):
        assert cli(["connect", "extra", ws.url_of("extra")], env).returncode == 0, \
            "probe connect"
        bridge.wait_state("extra", "connected")
        assert cli(["remove", "extra"], env).returncode == 0, "probe remove"
        H.wait_for(lambda: bridge.peer_state("extra") is None, 10, "probe removed")
        if evj.poll() is not None and evl.wait(lambda ln: "removed" in ln, 0.5,
                                               required=False):
            # The removed event is out: the next connect is a new cycle.
            break
    else:
        raise AssertionError("events subscribers never saw the probe cycles")
    evl.peek()
    mark = len(evl.all)
    evj.wait(H.t(10))
    ev = json.loads(evjl.drain()[-1])
    assert ev["kind"] == "connected" and ev["id"] == "extra" and "at" in ev, \
        f"events --json: {ev}"

    r = cli(["connect", "extra", ws.url_of("extra"),
             "--options", '{"reconnect": {"initial_delay": "100ms"}}'], env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", f"connect: {r}"
    r = cli(["connect", "extra", ws.url_of("extra")], env)
    assert r.returncode == 1 and "peer_exists" in r.stderr, f"connect twice: {r}"
    r = cli(["connect", "bad", "http://example.invalid/"], env)
    assert r.returncode == 1 and "invalid_url" in r.stderr, f"connect bad url: {r}"
    r = cli(["connect", "x", ws.url_of("x"), "--options", "[1]"], env)
    assert r.returncode == 2, f"connect with non-object options: {r}"

    bridge.wait_state("extra", "connected")
    r = cli(["remove", "extra"], env)
    assert r.returncode == 0, f"remove: {r}"
    # The probe cycle's last event may still arrive after `mark`, but
    # events reach a subscriber in order: this cycle starts at the last
    # `added` and is complete once a `removed` follows it.
    def cycle():
        evl.peek()
        kinds = [ln.split()[1] for ln in evl.all[mark:]]
        return "added" in kinds and kinds[-1] == "removed"
    H.wait_for(cycle, 15, "the events of extra's cycle")
    evp.send_signal(signal.SIGINT)
    evp.wait(H.t(10))
    assert evp.returncode == 0, f"events after SIGINT exited {evp.returncode}"
    rest = evl.drain()[mark:]
    lines = rest[max(i for i, ln in enumerate(rest) if ln.split()[1] == "added"):]
    kinds = [ln.split()[1] for ln in lines]
    assert kinds == ["added", "connected", "disconnected", "removed"], \
        f"events -p extra: {lines}"
    assert all(ln.split()[2] == "extra" for ln in lines), f"events ids: {lines}"
    assert f"url={ws.url_of('extra')}" in lines[1] and "reason=removed" in lines[2], \
        f"event fields: {lines}"


def test_sub(fx):
    """sub -p PEER --json / --meta: exact peer filter, consecutive seq,
    binary as base64."""
    env, ws = fx.env, fx.ws
    sp, sl = start(["sub", "-p", "feed", "--json", "-n", "8", "-t", str(H.t(30))], env)
    mp, ml = start(["sub", "--meta", "-p", "feed", "-n", "2", "-t", str(H.t(30))], env)
    # Push (every 100 ms, so few are in flight) until both subscribers
    # have something; feed10's traffic must not appear under -p feed.
    pump(ws, ["feed10", "feed"], "tick",
         lambda: seen(sl) >= 1 and seen(ml) >= 1, "first messages on sub")
    ws.push("feed", b"\x00\xffbin")
    pump(ws, ["feed"], "more", lambda: sp.poll() is not None and mp.poll() is not None,
         "sub -n to exit")
    assert sp.returncode == 0 and mp.returncode == 0, "sub exit codes"
    js = [json.loads(ln) for ln in sl.drain()]
    assert len(js) == 8 and all(j["peer"] == "feed" for j in js), f"sub --json: {js}"
    seqs = [j["seq"] for j in js]
    assert seqs == list(range(seqs[0], seqs[0] + 8)), f"seq not consecutive: {seqs}"
    binj = [j for j in js if j["binary"]]
    assert binj and base64.b64decode(binj[0]["data_base64"]) == b"\x00\xffbin", \
        f"binary payload: {js}"
    assert all("received_ns" in j and j["conn"] == 1 for j in js), f"metadata: {js}"
    meta = ml.drain()
    assert len(meta) == 2 and meta[0].startswith("feed conn=1 seq=") and " text " in meta[0], \
        f"sub --meta: {meta}"
    stderr = sp.stderr.read().decode()
    assert "gap" not in stderr and "reconnected" not in stderr, f"sub stderr: {stderr}"


def test_sub_reconnect(fx):
    """A reconnect shows up on stderr as a conn change; SIGINT ends sub with 0."""
    env, ws = fx.env, fx.ws
    conn = fx.bridge.list()["feed"]["conn"]
    rp, rl = start(["sub", "-p", "feed", "-t", str(H.t(60))], env)
    pump(ws, ["feed"], "before", lambda: seen(rl) >= 1, "sub before reconnect")
    before = ws.connect_count("feed")
    ws.drop("feed")
    H.wait_for(lambda: ws.connect_count("feed") > before and ws.live("feed"), 20,
               "feed reconnect")
    pump(ws, ["feed"], "after", lambda: "after" in rl.all + rl.peek(), "sub after reconnect")
    rp.send_signal(signal.SIGINT)
    rp.wait(H.t(10))
    err = rp.stderr.read().decode()
    assert rp.returncode == 0, f"sub after SIGINT exited {rp.returncode}"
    assert f"feed: reconnected (conn {conn} -> {conn + 1})" in err, f"reconnect report: {err!r}"


def test_sub_reader_gone(fx):
    """A reader that goes away ends sub (EPIPE), instead of a tail that runs
    forever behind `| head -1`."""
    hp = subprocess.Popen(["sh", "-c", f"'{H.CLI}' sub -p feed | head -n 1"],
                          env=dict(os.environ, **fx.env), stdout=subprocess.PIPE)
    pump(fx.ws, ["feed"], "pipe", lambda: hp.poll() is not None, "sub | head -1 to exit")
    assert hp.returncode == 0 and hp.stdout.read().decode().startswith("pipe"), \
        "sub | head -1"


def test_send(fx):
    """send: PUSH text, binary from stdin, via control, refusal 1, unreachable 3."""
    env, ws = fx.env, fx.ws
    r = cli(["send", "feed", "hello via push"], env)
    assert r.returncode == 0, f"send: {r}"
    H.wait_for(lambda: "hello via push" in ws.got("feed"), 10, "pushed message at the peer")
    r = cli(["send", "--binary", "feed", "-"], env, input="from stdin")
    assert r.returncode == 0, f"send --binary -: {r}"
    H.wait_for(lambda: b"from stdin" in ws.got("feed"), 10, "binary message at the peer")
    r = cli(["send", "--via-control", "feed", "hello via control"], env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", f"send --via-control: {r}"
    H.wait_for(lambda: "hello via control" in ws.got("feed"), 10, "control send at the peer")
    r = cli(["send", "--via-control", "--binary", "feed", "\u00e9t\u00e9"], env)
    assert r.returncode == 0, f"send --via-control --binary: {r}"
    H.wait_for(lambda: "\u00e9t\u00e9".encode() in ws.got("feed"), 10, "binary control send")
    r = cli(["send", "--via-control", "nope", "x"], env)
    assert r.returncode == 1 and "unknown_peer" in r.stderr, f"send to unknown: {r}"
    dead = f"tcp://127.0.0.1:{H.free_port()}"
    r = cli(["send", "-e", dead, "-T", "0.5", "feed", "x"], env)
    assert r.returncode == 3, f"send unreachable: {r}"


def test_health(fx):
    """health: 200 exits 0, other status 1, unreachable 3."""
    env = fx.env
    r = cli(["health"], env)
    assert r.returncode == 0 and " 200" in r.stdout, f"health: {r}"
    r = cli(["health", f"http://{fx.bridge.http_addr}/no-such-page"], env)
    assert r.returncode == 1, f"health 404: {r}"
    r = cli(["health", f"127.0.0.1:{H.free_port()}", "-T", "1"], env)
    assert r.returncode == 3, f"health unreachable: {r}"


if __name__ == "__main__":
    H.run([test_usage, test_endpoint_hint, test_tail_unreachable, test_config_file, test_ping,
           test_list_and_stats, test_events_connect_remove, test_sub,
           test_sub_reconnect, test_sub_reader_gone, test_send, test_health], fixture=fixture)
