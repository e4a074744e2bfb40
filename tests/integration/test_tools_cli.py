"""honeybee-cli against the real bridge: every subcommand, its output and its
exit code (0 ok, 1 refused, 2 usage, 3 unreachable)."""
import base64
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ship_support import (BIN, SLOW, Bridge, Lines, WsServer, check, fail, free_port,  # noqa: E402
                          report, run, wait_for)

CLI = os.path.join(BIN, "honeybee-cli")
passed = 0


def ok(name):
    global passed
    passed += 1
    print(f"ok {passed} - {name}", flush=True)


def cli(args, env, **kw):
    return run([CLI] + args, env=env, **kw)


def start(args, env):
    full = dict(os.environ)
    full.update(env)
    p = subprocess.Popen([CLI] + args, env=full, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    return p, Lines(p)


def main():
    if not os.access(CLI, os.X_OK):
        fail(f"{CLI} not built")
    ws = WsServer()
    bridge = Bridge(peers=[("feed", ws.url("feed")), ("feed10", ws.url("feed10"))])
    env = bridge.env()
    try:
        bridge.wait_connected("feed")
        bridge.wait_connected("feed10")

        # --- usage and help -------------------------------------------------
        r = cli(["--help"], env)
        check(r.returncode == 0 and "Exit codes" in r.stdout, f"--help: {r}")
        r = cli(["bogus"], env)
        check(r.returncode == 2 and "unknown command" in r.stderr, f"bogus command: {r}")
        r = cli(["remove"], env)
        check(r.returncode == 2, f"remove without id: {r}")
        r = cli(["version"], env)
        check(r.returncode == 0 and r.stdout.startswith("honeybee-cli "), f"version: {r}")
        ok("usage errors exit 2, --help and version exit 0")

        # --- control ----------------------------------------------------------
        r = cli(["ping"], env)
        check(r.returncode == 0 and r.stdout.strip() == "ok", f"ping: {r}")
        r = cli(["ping", "--json"], env)
        check(r.returncode == 0 and json.loads(r.stdout) == {"ok": True}, f"ping --json: {r}")
        ok("ping (endpoint from HONEYBEE_CONTROL)")

        dead = f"tcp://127.0.0.1:{free_port()}"
        r = cli(["ping", "-e", dead, "-T", "0.5"], env)
        check(r.returncode == 3 and "no connection" in r.stderr, f"ping unreachable: {r}")
        ok("unreachable control socket exits 3 within the timeout")

        r = cli(["list"], env)
        check(r.returncode == 0, f"list: {r}")
        rows = [ln.split() for ln in r.stdout.splitlines()]
        check(rows[0][:3] == ["ID", "STATE", "ATTEMPT"], f"list header: {r.stdout}")
        check(any(row[0] == "feed" and row[1] == "connected" and row[-1] == ws.url("feed")
                  for row in rows[1:]), f"list rows: {r.stdout}")
        r = cli(["list", "--json"], env)
        reply = json.loads(r.stdout)
        check(reply["ok"] and {p["id"] for p in reply["peers"]} == {"feed", "feed10"},
              f"list --json: {r.stdout}")
        ok("list, readable and --json")

        r = cli(["stats"], env)
        check(r.returncode == 0 and ":" in r.stdout and "ok:" not in r.stdout, f"stats: {r}")
        r = cli(["stats", "feed", "--json"], env)
        check(r.returncode == 0 and json.loads(r.stdout)["ok"] is True, f"stats feed: {r}")
        r = cli(["stats", "nope"], env)
        check(r.returncode == 1 and "unknown_peer" in r.stderr, f"stats nope: {r}")
        ok("stats, stats PEER, unknown peer exits 1 with the error code")

        # --- events + connect/remove ---------------------------------------------
        evp, evl = start(["events", "-p", "extra", "-t", str(120 * SLOW)], env)
        evj, evjl = start(["events", "-k", "connected", "--json", "-n", "1",
                           "-t", str(60 * SLOW)], env)
        # Slow joiner: a SUB sees only what is published after its
        # subscription reached the bridge. Run connect/remove cycles of
        # "extra" until both subscribers have seen one (the --json one exits
        # on its first `connected`); later lines are then complete.
        for _ in range(int(20 * SLOW)):
            check(cli(["connect", "extra", ws.url("extra")], env).returncode == 0,
                  "probe connect")
            bridge.wait_connected("extra")
            check(cli(["remove", "extra"], env).returncode == 0, "probe remove")
            wait_for(lambda: bridge.peer_state("extra") is None, 10, "probe removed")
            if evj.poll() is not None and _quiet_wait(evl, "removed"):
                # The removed event is out: the next connect is a new cycle.
                break
        else:
            fail("events subscribers never saw the probe cycles")
        peek(evl)
        mark = len(evl.all)
        evj.wait(10 * SLOW)
        ev = json.loads(evjl.drain()[-1])
        check(ev["kind"] == "connected" and ev["id"] == "extra" and "at" in ev,
              f"events --json: {ev}")
        ok("events --json -k connected prints the event object")

        r = cli(["connect", "extra", ws.url("extra"),
                 "--options", '{"reconnect": {"initial_delay": "100ms"}}'], env)
        check(r.returncode == 0 and r.stdout.strip() == "ok", f"connect: {r}")
        r = cli(["connect", "extra", ws.url("extra")], env)
        check(r.returncode == 1 and "peer_exists" in r.stderr, f"connect twice: {r}")
        r = cli(["connect", "bad", "http://example.invalid/"], env)
        check(r.returncode == 1 and "invalid_url" in r.stderr, f"connect bad url: {r}")
        r = cli(["connect", "x", ws.url("x"), "--options", "[1]"], env)
        check(r.returncode == 2, f"connect with non-object options: {r}")
        ok("connect: ok, peer_exists, invalid_url, bad --options")

        bridge.wait_connected("extra")
        r = cli(["remove", "extra"], env)
        check(r.returncode == 0, f"remove: {r}")
        # The probe cycle's last event may still arrive after `mark`, but
        # events reach a subscriber in order: this cycle starts at the last
        # `added` and is complete once a `removed` follows it.
        def cycle():
            peek(evl)
            kinds = [ln.split()[1] for ln in evl.all[mark:]]
            return "added" in kinds and kinds[-1] == "removed"
        wait_for(cycle, 15, "the events of extra's cycle")
        evp.send_signal(signal.SIGINT)
        evp.wait(10 * SLOW)
        check(evp.returncode == 0, f"events after SIGINT exited {evp.returncode}")
        rest = evl.drain()[mark:]
        lines = rest[max(i for i, ln in enumerate(rest) if ln.split()[1] == "added"):]
        kinds = [ln.split()[1] for ln in lines]
        check(kinds == ["added", "connected", "disconnected", "removed"],
              f"events -p extra: {lines}")
        check(all(ln.split()[2] == "extra" for ln in lines), f"events ids: {lines}")
        check(f"url={ws.url('extra')}" in lines[1] and "reason=removed" in lines[2],
              f"event fields: {lines}")
        ok("events -p PEER: added, connected, disconnected, removed in order, with fields")

        # --- sub ---------------------------------------------------------------
        sp, sl = start(["sub", "-p", "feed", "--json", "-n", "8", "-t", str(30 * SLOW)], env)
        mp, ml = start(["sub", "--meta", "-p", "feed", "-n", "2", "-t", str(30 * SLOW)], env)
        # Push (every 100 ms, so few are in flight) until both subscribers
        # have something; feed10's traffic must not appear under -p feed.
        pump(ws, ["feed10", "feed"], "tick",
             lambda: seen(sl) >= 1 and seen(ml) >= 1, "first messages on sub")
        ws.push("feed", b"\x00\xffbin")
        pump(ws, ["feed"], "more", lambda: sp.poll() is not None and mp.poll() is not None,
             "sub -n to exit")
        check(sp.returncode == 0 and mp.returncode == 0, "sub exit codes")
        js = [json.loads(ln) for ln in sl.drain()]
        check(len(js) == 8 and all(j["peer"] == "feed" for j in js), f"sub --json: {js}")
        seqs = [j["seq"] for j in js]
        check(seqs == list(range(seqs[0], seqs[0] + 8)), f"seq not consecutive: {seqs}")
        binj = [j for j in js if j["binary"]]
        check(binj and base64.b64decode(binj[0]["data_base64"]) == b"\x00\xffbin",
              f"binary payload: {js}")
        check(all("received_ns" in j and j["conn"] == 1 for j in js), f"metadata: {js}")
        meta = ml.drain()
        check(len(meta) == 2 and meta[0].startswith("feed conn=1 seq=") and " text " in meta[0],
              f"sub --meta: {meta}")
        stderr = sp.stderr.read().decode()
        check("gap" not in stderr and "reconnected" not in stderr, f"sub stderr: {stderr}")
        ok("sub -p PEER --json / --meta: exact peer filter, consecutive seq, binary as base64")

        # A reconnect shows up on stderr as a conn change; SIGINT ends sub with 0.
        rp, rl = start(["sub", "-p", "feed", "-t", str(60 * SLOW)], env)
        pump(ws, ["feed"], "before", lambda: seen(rl) >= 1, "sub before reconnect")
        before = ws.connect_count("feed")
        ws.drop("feed")
        wait_for(lambda: ws.connect_count("feed") > before and ws.live("feed"), 20,
                 "feed reconnect")
        pump(ws, ["feed"], "after", lambda: any(ln == "after" for ln in rl.all + peek(rl)),
             "sub after reconnect")
        rp.send_signal(signal.SIGINT)
        rp.wait(10 * SLOW)
        err = rp.stderr.read().decode()
        check(rp.returncode == 0, f"sub after SIGINT exited {rp.returncode}")
        check("feed: reconnected (conn 1 -> 2)" in err, f"reconnect report: {err!r}")
        ok("sub reports a conn change on stderr, exits 0 on SIGINT")

        # A reader that goes away ends sub (EPIPE), instead of a tail that
        # runs forever behind `| head -1`.
        full = dict(os.environ, **env)
        hp = subprocess.Popen(["sh", "-c", f"'{CLI}' sub -p feed | head -n 1"], env=full,
                              stdout=subprocess.PIPE)
        pump(ws, ["feed"], "pipe", lambda: hp.poll() is not None, "sub | head -1 to exit")
        check(hp.returncode == 0 and hp.stdout.read().decode().startswith("pipe"),
              "sub | head -1")
        ok("sub ends when its reader goes away")

        # --- send ----------------------------------------------------------------
        r = cli(["send", "feed", "hello via push"], env)
        check(r.returncode == 0, f"send: {r}")
        wait_for(lambda: "hello via push" in ws.got("feed"), 10, "pushed message at the peer")
        r = cli(["send", "--binary", "feed", "-"], env, input="from stdin")
        check(r.returncode == 0, f"send --binary -: {r}")
        wait_for(lambda: b"from stdin" in ws.got("feed"), 10, "binary message at the peer")
        r = cli(["send", "--via-control", "feed", "hello via control"], env)
        check(r.returncode == 0 and r.stdout.strip() == "ok", f"send --via-control: {r}")
        wait_for(lambda: "hello via control" in ws.got("feed"), 10, "control send at the peer")
        r = cli(["send", "--via-control", "--binary", "feed", "\u00e9t\u00e9"], env)
        check(r.returncode == 0, f"send --via-control --binary: {r}")
        wait_for(lambda: "\u00e9t\u00e9".encode() in ws.got("feed"), 10, "binary control send")
        r = cli(["send", "--via-control", "nope", "x"], env)
        check(r.returncode == 1 and "unknown_peer" in r.stderr, f"send to unknown: {r}")
        r = cli(["send", "-e", dead, "-T", "0.5", "feed", "x"], env)
        check(r.returncode == 3, f"send unreachable: {r}")
        ok("send: PUSH text, binary from stdin, via control, refusal 1, unreachable 3")

        # --- health --------------------------------------------------------------
        r = cli(["health"], env)
        check(r.returncode == 0 and " 200" in r.stdout, f"health: {r}")
        r = cli(["health", f"http://{bridge.http}/no-such-page"], env)
        check(r.returncode == 1, f"health 404: {r}")
        r = cli(["health", f"127.0.0.1:{free_port()}", "-T", "1"], env)
        check(r.returncode == 3, f"health unreachable: {r}")
        ok("health: 200 exits 0, other status 1, unreachable 3")
    finally:
        bridge.stop()
        ws.stop()
    return report(passed)


def seen(lines):
    return len(lines.all) + lines.q.qsize()


def peek(lines):
    """Move whatever has arrived into lines.all; returns the new lines."""
    new = []
    while True:
        try:
            ln = lines.q.get_nowait()
        except Exception:
            return new
        if ln is None:
            lines.q.put(None)
            return new
        lines.all.append(ln)
        new.append(ln)


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
    wait_for(step, timeout, what)


def _quiet_wait(lines, text):
    """True if a line containing text arrives within 0.5 s (no failure)."""
    deadline = time.monotonic() + 0.5 * SLOW
    while time.monotonic() < deadline:
        if any(text in ln for ln in lines.all):
            return True
        try:
            ln = lines.q.get(timeout=0.05)
        except Exception:
            continue
        if ln is None:
            lines.q.put(None)
            return any(text in x for x in lines.all)
        lines.all.append(ln)
    return any(text in ln for ln in lines.all)


if __name__ == "__main__":
    sys.exit(main())
