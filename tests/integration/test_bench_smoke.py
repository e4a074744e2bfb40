#!/usr/bin/python3
"""Smoke test of the benchmark harness (bench/run.py --smoke).

Runs a tiny version of the streaming, latency, idle-memory and soak
scenarios through the real bridge and through the two limits (lws direct,
raw ZeroMQ), and fails if any message is lost, duplicated, malformed or
missing, if a CPU/RSS sample could not be taken, or if the bridge does not
exit 0. It checks the harness's correctness, not speed. Takes about ten
seconds (the bridge is started eight times); the machine's other tests may
run beside it, so every wait in run.py is a generous deadline.

Needs HB_BRIDGE and HB_BINARY_DIR (set by ctest); the bench tools are built
when HONEYBEE_BUILD_BENCH=ON (the default). Without them the test says so
and passes, because the build chose not to have a harness.
"""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def main():
    src = os.environ.get("HB_SOURCE_DIR",
                         os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    bridge = os.environ.get("HB_BRIDGE")
    bindir = os.environ.get("HB_BINARY_DIR")
    if not bridge or not bindir:
        print("HB_BRIDGE and HB_BINARY_DIR must be set (run through ctest)")
        return 1
    tools = os.path.join(bindir, "bench")
    if not os.path.exists(os.path.join(tools, "hb-feed")):
        print("SKIP: bench tools not built (HONEYBEE_BUILD_BENCH=OFF)")
        return 0
    py = os.environ.get("HB_PYTHON", sys.executable)
    # Sanitizer builds are several times slower; the smoke run only checks
    # correctness, so it keeps the same sizes and relies on generous waits.
    svg = os.path.join(tempfile.mkdtemp(prefix="hb-smoke-"), "cost.svg")
    cmd = [py, os.path.join(src, "bench", "run.py"), "--smoke", "--bridge", bridge,
           "--bin-dir", tools, "--plot", svg]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)
    out = r.stdout.decode("utf-8", "replace")
    print(out)
    if r.returncode != 0:
        print("bench smoke failed (rc %d)" % r.returncode)
        return 1
    # The table must have every row the harness promises, with numbers.
    for needle in ("bridge: 1 peer x 200 B (smoke)", "direct limit", "raw limit",
                   "ws peers idle", "wss peers idle", "after spawn", "soak"):
        if needle not in out:
            print("missing row: %r" % needle)
            return 1
    # The plot: well-formed SVG with a line for the bridge and each limit.
    root = ET.parse(svg).getroot()
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    if not root.tag.endswith("svg") or len(lines) < 3:
        print("bad plot: %s, %d lines" % (root.tag, len(lines)))
        return 1
    os.unlink(svg)
    os.rmdir(os.path.dirname(svg))
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
