"""test_cli: black-box test of honeybee-bridge's command line (SPEC.md
section 2, docs/config.md): --version, --help, --print-config, --check on
valid and invalid files (exit 0 / 2, stderr naming FILE:LINE: KEY), the
environment overrides, and bad arguments (exit 2). Nothing here starts the
bridge for real: every case exits on its own, within a deadline.

Run by ctest with HB_BRIDGE (the binary) and HB_SOURCE_DIR set.
"""

import os
import subprocess
import sys
import tempfile
import unittest

BRIDGE = os.environ.get("HB_BRIDGE", "")
SOURCE = os.environ.get("HB_SOURCE_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SLOW = 3.0 if os.environ.get("HB_SANITIZER") else 1.0
HB_ENV = ("HONEYBEE_INBOX", "HONEYBEE_EVENTS", "HONEYBEE_SEND", "HONEYBEE_CONTROL",
          "HONEYBEE_HTTP", "HONEYBEE_LOG_LEVEL", "HONEYBEE_LOG_FORMAT")


def run(*args, env=None):
    """Runs the bridge with args; returns (exit code, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if k not in HB_ENV}
    e.update(env or {})
    p = subprocess.run([BRIDGE, *args], capture_output=True, text=True, env=e,
                       timeout=20 * SLOW, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="hb-cli-")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_version(self):
        rc, out, err = run("--version")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^honeybee-bridge \d+\.\d+\.\d+\n$")
        self.assertEqual(run("-V")[0], 0)

    def test_help(self):
        rc, out, err = run("--help")
        self.assertEqual(rc, 0, err)
        self.assertIn("usage: honeybee-bridge [-c FILE] [--check]", out)
        for word in ("--config", "--check", "--version", "--print-config", "HONEYBEE_LOG_FORMAT"):
            self.assertIn(word, out)
        self.assertEqual(run("-h")[0], 0)

    def test_print_config_is_the_example(self):
        rc, out, err = run("--print-config")
        self.assertEqual(rc, 0, err)
        with open(os.path.join(SOURCE, "examples", "honeybee.yaml"), encoding="utf-8") as f:
            self.assertEqual(out, f.read())
        # and it checks clean
        path = self.write("printed.yaml", out)
        rc, out, err = run("--check", "-c", path)
        self.assertEqual(rc, 0, err)

    def test_check_valid(self):
        path = self.write("ok.yaml", """\
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
            self.assertEqual(rc, 0, (args, err))
            self.assertIn("configuration OK (2 peers)", out)
            self.assertEqual(err, "")

    def test_check_defaults(self):
        rc, out, err = run("--check")
        self.assertEqual(rc, 0, err)
        self.assertIn("built-in defaults: configuration OK (0 peers)", out)

    def test_check_invalid(self):
        path = self.write("bad.yaml", """\
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
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
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
            self.assertTrue(any(line.startswith(w) for line in lines), (w, err))
        # Every error, sorted by line, and a closing verdict.
        self.assertEqual(len([l for l in lines if l.startswith(path + ":")]), len(want), err)
        self.assertIn("configuration is not valid", lines[-1])

    def test_check_syntax_error(self):
        path = self.write("syntax.yaml", "bridge:\n  inbox: a\n  events: [unclosed\npool:\n")
        rc, out, err = run("--check", "-c", path)
        self.assertEqual(rc, 2)
        self.assertRegex(err, r"(?m)^" + path.replace(".", r"\.") + r":4: \(syntax\): ")

    def test_check_missing_file(self):
        path = os.path.join(self.dir.name, "nope.yaml")
        rc, out, err = run("--check", "-c", path)
        self.assertEqual(rc, 2)
        self.assertIn(f"{path}: (file): cannot read: No such file or directory", err)
        # Also without --check: the daemon refuses to start, exit 2.
        rc, out, err = run("-c", path)
        self.assertEqual(rc, 2)
        self.assertIn("cannot read", err)

    def test_invalid_config_does_not_start(self):
        path = self.write("bad.yaml", "pool:\n  send_queue: 0\n")
        rc, out, err = run("-c", path)
        self.assertEqual(rc, 2)
        self.assertIn(f"{path}:2: pool.send_queue: must be at least 1", err)

    def test_env_overrides(self):
        path = self.write("ok.yaml", "log: {level: info}\n")
        rc, out, err = run("--check", "-c", path, env={"HONEYBEE_LOG_LEVEL": "loud"})
        self.assertEqual(rc, 2)
        self.assertIn("HONEYBEE_LOG_LEVEL: log.level: must be one of error, warn, info, debug, "
                      "got \"loud\"", err)
        rc, out, err = run("--check", env={"HONEYBEE_HTTP": "", "HONEYBEE_LOG_FORMAT": "json",
                                           "HONEYBEE_INBOX": "ipc:///tmp/hb-cli-test"})
        self.assertEqual(rc, 0, err)
        rc, out, err = run("--check", env={"HONEYBEE_CONTROL": "not an endpoint"})
        self.assertEqual(rc, 2)
        self.assertIn("HONEYBEE_CONTROL: bridge.control: must be a ZeroMQ endpoint", err)

    def test_bad_arguments(self):
        for args, words in ((("--frobnicate",), "unknown option --frobnicate"),
                            (("-x",), "unknown option -x"),
                            (("stray",), "unexpected argument stray"),
                            (("-c",), "-c needs a FILE"),
                            (("--config",), "--config needs a FILE"),
                            (("--config=",), "empty configuration file name")):
            rc, out, err = run(*args)
            self.assertEqual(rc, 2, (args, out, err))
            self.assertIn(words, err)
            self.assertIn("usage: honeybee-bridge", err)
            self.assertEqual(out, "")


if __name__ == "__main__":
    if not BRIDGE or not os.access(BRIDGE, os.X_OK):
        print("HB_BRIDGE is not set to an executable", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
