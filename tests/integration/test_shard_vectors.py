"""The shard hash as clients compute it (docs/protocol.md, "Sharding"): the
Python and Node example consumers' shard_of, the C example's --shard-of and
honeybee-cli's shard command (each its own copy of the hash, as any client
would write it) against tests/support/shard_vectors.json, which
tests/unit/test_config_shard.c generates from the bridge's C code and
checks. Every id, every N in 1..16 (a selection for the programs).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

VECTORS = os.path.join(H.SRC, "tests", "support", "shard_vectors.json")


def load_vectors():
    with open(VECTORS, encoding="utf-8") as f:
        v = json.load(f)
    ids = [x["id"] for x in v["vectors"]]
    # The cases a port gets wrong: empty, multi-byte UTF-8, long.
    assert "" in ids and any(len(i.encode()) > len(i) for i in ids), ids
    assert any(len(i.encode()) >= 128 for i in ids), ids
    assert all(len(x["shards"]) == v["n_max"] == 16 for x in v["vectors"])
    return v["vectors"]


def python_module():
    path = os.path.join(H.SRC, "examples", "python", "consumer.py")
    spec = importlib.util.spec_from_file_location("hb_example_consumer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_python():
    mod = python_module()
    for x in load_vectors():
        got = [mod.shard_of(x["id"], n) for n in range(1, 17)]
        assert got == x["shards"], "python shard_of(%r): %s, want %s" % (x["id"], got,
                                                                         x["shards"])


NODE_CHECK = r"""
const { shardOf } = require(process.argv[1]);
const v = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
let bad = 0;
for (const x of v.vectors) {
  const got = [];
  for (let n = 1; n <= 16; n++) got.push(shardOf(x.id, n));
  if (JSON.stringify(got) !== JSON.stringify(x.shards)) {
    console.log(`node shardOf(${JSON.stringify(x.id)}): ${got}, want ${x.shards}`);
    bad++;
  }
}
console.log(`checked ${v.vectors.length} ids, ${bad} wrong`);
process.exit(bad ? 1 : 0);
"""


def test_node():
    node = shutil.which("node")
    if not node:
        raise H.Skip("node is not installed (scripts/deps.sh installs it)")
    js = os.path.join(H.SRC, "examples", "node", "consumer.js")
    r = subprocess.run([node, "-e", NODE_CHECK, js, VECTORS], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 wrong" in r.stdout, r.stdout


def test_c_example():
    """The C example's --shard-of: which of N send endpoints owns the id."""
    exe = os.path.join(H.BIN, "example_zmq_consumer")
    for x in load_vectors():
        for n in (1, 2, 3, 7, 16):
            eps = ",".join("tcp://127.0.0.1:%d" % (10000 + i) for i in range(n))
            r = subprocess.run([exe, "--send", eps, "--shard-of", x["id"]], capture_output=True,
                               text=True, timeout=10)
            assert r.returncode == 0, r.stderr
            want = "shard peer=%s shard=%d/%d" % (x["id"], x["shards"][n - 1], n)
            assert r.stdout.strip() == want, (r.stdout, want)


def test_cli():
    """honeybee-cli shard ID N prints the owner: the C hash as users reach it."""
    for x in load_vectors():
        if not x["id"]:
            continue  # not a valid peer id; the hash of "" is pinned above
        for n in (1, 3, 16):
            r = subprocess.run([H.CLI, "shard", x["id"], str(n)], capture_output=True,
                               text=True, timeout=10)
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == "%d/%d" % (x["shards"][n - 1], n), (x["id"], n, r.stdout)


if __name__ == "__main__":
    H.run([test_python, test_node, test_c_example, test_cli])
