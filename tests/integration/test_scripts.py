"""The scripts a newcomer runs first (scripts/).

scripts/run-demo.sh, as README.md describes it: it runs on free ports
(with the bridge under test: --bridge), its subscriber is listening before
the bridge dials the feed, so the first message shown is seq=1 and the
added and connected events are shown, and the bridge exits 0.

scripts/format.sh --check fails (exit 2) when it cannot list the files: no
git, or not a git checkout.
"""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

SCRIPTS = os.path.join(H.SRC, "scripts")


def test_demo():
    r = H.run_cmd([os.path.join(SCRIPTS, "run-demo.sh"), "--bridge", H.BRIDGE, "-t", "5"],
                  timeout=60)
    out = r.stdout.splitlines()
    assert r.returncode == 0, f"run-demo.sh exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    msgs = [ln for ln in out if ln.startswith("message ")]
    assert msgs, f"no messages:\n{r.stdout}"
    assert re.match(r"message peer=demo-feed conn=1 seq=1 \{", msgs[0]), \
        f"first message is not seq=1 (a late subscriber):\n{r.stdout}"
    seqs = [int(re.search(r" seq=(\d+) ", m).group(1)) for m in msgs]
    assert seqs == list(range(1, len(seqs) + 1)), f"seq not 1, 2, 3...: {seqs}"
    events = [ln.split()[1] for ln in out if ln.startswith("event ")]
    assert events[:2] == ["added", "connected"], f"events shown: {events}\n{r.stdout}"
    assert f"received {len(msgs)} messages" in out, r.stdout
    assert "bridge exited with 0" in out, r.stdout


def test_format_check_needs_a_file_list():
    fmt = os.path.join(SCRIPTS, "format.sh")
    # Without git on PATH (a directory with only what the script needs).
    bindir = tempfile.mkdtemp(prefix="hb-nogit-")
    try:
        for tool in ("sh", "dirname", "cmp", "grep", "xargs", "clang-format"):
            path = shutil.which(tool)
            if path:
                os.symlink(path, os.path.join(bindir, tool))
        r = H.run_cmd([fmt, "--check"], env={"PATH": bindir})
        assert r.returncode == 2 and "git not found" in r.stderr, f"format.sh without git: {r}"
    finally:
        shutil.rmtree(bindir)
    # A copy of the tree outside any git checkout.
    tmp = tempfile.mkdtemp(prefix="hb-nocheckout-")
    try:
        os.makedirs(os.path.join(tmp, "scripts"))
        shutil.copy2(fmt, os.path.join(tmp, "scripts", "format.sh"))
        shutil.copytree(os.path.join(H.SRC, "src", "core"), os.path.join(tmp, "src", "core"))
        r = H.run_cmd([os.path.join(tmp, "scripts", "format.sh"), "--check"],
                      env={"GIT_CEILING_DIRECTORIES": os.path.dirname(tmp)})
        assert r.returncode == 2 and "not a git checkout" in r.stderr, \
            f"format.sh outside a checkout: {r}"
    finally:
        shutil.rmtree(tmp)
    # (In this checkout scripts/test.sh runs the check itself.)


if __name__ == "__main__":
    H.run([test_demo, test_format_check_needs_a_file_list])
