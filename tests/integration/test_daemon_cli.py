"""test_daemon_cli: black-box test of honeybee-bridge's command line
(src/daemon/cli.c; SPEC.md section 2, docs/config.md): --version, --help,
--print-config, --check on valid and invalid files (exit 0 / 2, stderr
naming FILE:LINE: KEY), the environment overrides, and bad arguments
(exit 2). Nothing here starts the bridge for real: every case exits on its
own, within a deadline.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

HB_ENV = ("HONEYBEE_INBOX", "HONEYBEE_EVENTS", "HONEYBEE_SEND", "HONEYBEE_CONTROL",
          "HONEYBEE_HTTP", "HONEYBEE_LOG_LEVEL", "HONEYBEE_LOG_FORMAT")


def run(*args, env=None):
    """Runs the bridge with args; returns (exit code, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if k not in HB_ENV}
    e.update(env or {})
    p = subprocess.run([H.BRIDGE, *args], capture_output=True, text=True, env=e,
                       timeout=H.t(20), stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


class Dir:
    """A temporary directory for a test's files."""

    def __enter__(self):
        self.name = tempfile.mkdtemp(prefix="hb-cli-")
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.name, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path


def test_version():
    rc, out, err = run("--version")
    assert rc == 0, err
    assert re.fullmatch(r"honeybee-bridge \d+\.\d+\.\d+\n", out), out
    assert run("-V")[0] == 0


def test_help():
    rc, out, err = run("--help")
    assert rc == 0, err
    assert "usage: honeybee-bridge [-c FILE] [--check]" in out, out
    for word in ("--config", "--check", "--version", "--print-config", "HONEYBEE_LOG_FORMAT"):
        assert word in out, word
    assert run("-h")[0] == 0


def test_print_config_is_the_example():
    rc, out, err = run("--print-config")
    assert rc == 0, err
    with open(os.path.join(H.SRC, "examples", "honeybee.yaml"), encoding="utf-8") as f:
        assert out == f.read()
    # and it checks clean
    with Dir() as d:
        path = d.write("printed.yaml", out)
        rc, out, err = run("--check", "-c", path)
        assert rc == 0, err


def test_check_valid():
    with Dir() as d:
        path = d.write("ok.yaml", """\
bridge:
  inbox: tcp://127.0.0.1:15550
pool:
  reconnect: {initial_delay: 250ms}
peers:
  - id: relay-a
    url: wss://relay.example.com/
    reconnect: {initial_delay: 5s}
  - id: relay-b
    url: ws://127.0.0.1:9/
log: {level: debug, format: json}
""")
        for args in (("--check", "-c", path), ("-c", path, "--check"),
                     ("--config", path, "--check"), ("--config=" + path, "--check"),
                     ("-c" + path, "--check")):
            rc, out, err = run(*args)
            assert rc == 0, (args, err)
            assert "configuration OK (2 peers)" in out, out
            assert err == "", err


def test_check_defaults():
    rc, out, err = run("--check")
    assert rc == 0, err
    assert "built-in defaults: configuration OK (0 peers)" in out, out


def test_check_invalid():
    with Dir() as d:
        path = d.write("bad.yaml", """\
bridge:
  inbx: tcp://127.0.0.1:1
pool:
  reconnect:
    jitter: 1.5
  max_message_size: 16MB
  send_queue: "10"
peers:
  - id: relay-a
    url: wss://a.example/
  - id: relay-a
    url: http://b.example/
log:
  level: loud
""")
        rc, out, err = run("--check", "-c", path)
    assert rc == 2, err
    assert out == "", out
    want = [
        f"{path}:2: bridge.inbx: unknown key",
        f"{path}:5: pool.reconnect.jitter: must be between 0 and 1",
        f"{path}:6: pool.max_message_size: invalid size \"16MB\"",
        f"{path}:7: pool.send_queue: expected an integer, got a quoted string",
        f"{path}:11: peers[1].id: duplicate peer id (first used by peers[0] at line 9)",
        f"{path}:12: peers[1].url: must be a ws:// or wss:// URL",
        f"{path}:14: log.level: must be one of error, warn, info, debug, got \"loud\"",
    ]
    lines = err.splitlines()
    for w in want:
        assert any(line.startswith(w) for line in lines), (w, err)
    # Every error, sorted by line, and a closing verdict.
    assert len([ln for ln in lines if ln.startswith(path + ":")]) == len(want), err
    assert "configuration is not valid" in lines[-1], err


def test_check_syntax_error():
    with Dir() as d:
        path = d.write("syntax.yaml", "bridge:\n  inbox: a\n  events: [unclosed\npool:\n")
        rc, out, err = run("--check", "-c", path)
    assert rc == 2, err
    # Named where the flow sequence was opened, and where libyaml gave up.
    assert (path + ":3: (syntax): while parsing a flow sequence (opened here): did not find "
            "expected ',' or ']' at line 4\n") in err, err


def test_check_missing_file():
    with Dir() as d:
        path = os.path.join(d.name, "nope.yaml")
        rc, out, err = run("--check", "-c", path)
        assert rc == 2
        assert f"{path}: (file): cannot read: No such file or directory" in err, err
        # Also without --check: the daemon refuses to start, exit 2.
        rc, out, err = run("-c", path)
        assert rc == 2
        assert "cannot read" in err, err


def test_invalid_config_does_not_start():
    with Dir() as d:
        path = d.write("bad.yaml", "pool:\n  send_queue: 0\n")
        rc, out, err = run("-c", path)
    assert rc == 2
    assert f"{path}:2: pool.send_queue: must be at least 1" in err, err


def test_env_overrides():
    with Dir() as d:
        path = d.write("ok.yaml", "log: {level: info}\n")
        rc, out, err = run("--check", "-c", path, env={"HONEYBEE_LOG_LEVEL": "loud"})
    assert rc == 2
    assert ("HONEYBEE_LOG_LEVEL: log.level: must be one of error, warn, info, debug, "
            "got \"loud\"") in err, err
    rc, out, err = run("--check", env={"HONEYBEE_HTTP": "", "HONEYBEE_LOG_FORMAT": "json",
                                       "HONEYBEE_INBOX": "ipc:///tmp/hb-cli-test"})
    assert rc == 0, err
    rc, out, err = run("--check", env={"HONEYBEE_CONTROL": "not an endpoint"})
    assert rc == 2
    assert "HONEYBEE_CONTROL: bridge.control: must be a ZeroMQ endpoint" in err, err


def test_bad_arguments():
    for args, words in ((("--frobnicate",), "unknown option --frobnicate"),
                        (("-x",), "unknown option -x"),
                        (("stray",), "unexpected argument stray"),
                        (("-c",), "-c needs a FILE"),
                        (("--config",), "--config needs a FILE"),
                        (("--config=",), "empty configuration file name")):
        rc, out, err = run(*args)
        assert rc == 2, (args, out, err)
        assert words in err, (args, err)
        assert "usage: honeybee-bridge" in err, (args, err)
        assert out == "", (args, out)


if __name__ == "__main__":
    H.run([test_version, test_help, test_print_config_is_the_example, test_check_valid,
           test_check_defaults, test_check_invalid, test_check_syntax_error,
           test_check_missing_file, test_invalid_config_does_not_start, test_env_overrides,
           test_bad_arguments])
