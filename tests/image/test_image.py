"""The container image, built and run for real: scripts/test.sh's image step.

scripts/image.sh builds docker/Dockerfile as written with Debian's buildah
(chroot isolation, no daemon, base images made by debootstrap); then:

1. the image's config: numeric non-root USER, exec-form ENTRYPOINT and CMD,
   HEALTHCHECK, EXPOSE, no HONEYBEE_* variable;
2. inside it: the user is 10001, every library the binaries link resolves,
   ENTRYPOINT + CMD + --check accepts the shipped config;
3. the bridge runs inside it (ENTRYPOINT, the shipped config, the host's
   network, its endpoints moved to free loopback ports by HONEYBEE_*
   variables, as `docker run -e` would): it dials a WebSocket feed outside
   (Python, 127.0.0.1), a subscriber outside receives the feed's message,
   /healthz answers 200, the HEALTHCHECK command passes inside, and SIGTERM
   ends it with 0;
4. a config that moves bridge.http (mounted over the shipped one, no
   variables) keeps the HEALTHCHECK passing; the old command that looked
   only at $HONEYBEE_HTTP fails there; the file changed in place and
   `sh -c 'kill -HUP PID'` run inside the image reloads its peers;
5. the layers the Dockerfile adds to debian:12-slim, and their sizes, are
   reported; together they stay under a bound.

Skipped (exit 77, with the reason) where buildah cannot build: not root, no
buildah or debootstrap. Registered only with -DHONEYBEE_TEST_IMAGE=ON (the
suite's release build); tests/CMakeLists.txt.
"""
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import hbtest as H  # noqa: E402

# One tag per checkout: suites of two worktrees on one machine do not run
# each other's image (scripts/image.sh serialises the builds).
IMAGE = os.environ.get("HB_IMAGE_TAG") or \
    "localhost/honeybee:test-" + hashlib.sha1(H.SRC.encode()).hexdigest()[:10]
CONFIG = "/etc/honeybee/honeybee.yaml"
# The runtime stage's own layers together (the binaries, the config and the
# shared libraries they link): a bound that catches an image that grew by a
# compiler or a second copy of something.
MAX_ADDED_MB = 40


def buildah(*args, timeout=120, check=True):
    r = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"buildah {' '.join(args)}: {r.returncode}\n{r.stderr}"
    return r


class Fx:
    def __init__(self):
        self.skip = None
        self.ctr = None
        self.config = None
        self.tmp = tempfile.mkdtemp(prefix="hb-image-")
        self.times = {}

    def need(self):
        if self.skip:
            raise H.Skip(self.skip)

    def run(self, *cmd, env=None, mounts=(), timeout=60):
        """buildah run in the working container: the image's user, the
        host's network, `env` as `docker run -e`, `mounts` as `-v`."""
        args = ["run", "--isolation", "chroot", "--network", "host"]
        for k, v in (env or {}).items():
            args += ["--env", f"{k}={v}"]
        for m in mounts:
            args += ["--volume", m]
        return buildah(*args, self.ctr, "--", *cmd, timeout=timeout, check=False)

    def wrapper(self, mounts=()):
        """A program that runs the image's ENTRYPOINT inside the working
        container with its arguments, passing on the HONEYBEE_* variables of
        its environment: what hbtest.Bridge starts as the "daemon"."""
        path = os.path.join(self.tmp, f"bridge-in-image-{len(os.listdir(self.tmp))}")
        vols = " ".join(f"--volume '{m}'" for m in mounts)
        entry = " ".join(f"'{a}'" for a in self.config["Entrypoint"])
        with open(path, "w") as f:
            f.write("#!/bin/bash\nargs=()\n"
                    "for v in $(env | grep -o '^HONEYBEE_[A-Z_]*'); do args+=(--env \"$v=${!v}\");"
                    " done\n"
                    f"exec buildah run --isolation chroot --network host \"${{args[@]}}\" {vols} "
                    f"'{self.ctr}' -- {entry} \"$@\"\n")
        os.chmod(path, 0o755)
        return path


@contextlib.contextmanager
def fixture():
    fx = Fx()
    log = os.path.join(H.BIN, "image-build.log")
    t0 = time.monotonic()
    with open(log, "w") as f:
        r = subprocess.run([os.path.join(H.SRC, "scripts", "image.sh"), "--tag", IMAGE],
                           stdout=f, stderr=subprocess.STDOUT, timeout=3000)
    fx.times["build"] = time.monotonic() - t0
    text = open(log).read()
    for line in text.splitlines():
        if line.startswith("image.sh: ") and ("ready in" in line or "built in" in line
                                               or "debootstrap" in line or "importing" in line):
            print("#", line)
    if r.returncode == 77:
        fx.skip = re.search(r"SKIP: (.*)", text).group(1)
        yield fx
        return
    assert r.returncode == 0, f"scripts/image.sh failed ({r.returncode}); {log}:\n{text[-6000:]}"
    print(f"# image built in {fx.times['build']:.0f}s (scripts/image.sh; log: {log})")
    fx.config = json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)["Docker"]["config"]
    fx.ctr = buildah("from", "--pull-never", "--name", f"hbtest-image-{os.getpid()}",
                     IMAGE).stdout.strip()
    try:
        yield fx
    finally:
        buildah("rm", fx.ctr, check=False)
        subprocess.run(["rm", "-rf", fx.tmp])


def test_image_config(fx):
    """USER 10001:10001, ENTRYPOINT, CMD, HEALTHCHECK on the same config,
    EXPOSE, JSON logs: as the image's config has them."""
    fx.need()
    c = fx.config
    assert c["User"] == "10001:10001", f"User {c['User']}"
    assert c["Entrypoint"] == ["honeybee-bridge"], f"Entrypoint {c['Entrypoint']}"
    assert c["Cmd"] == ["-c", CONFIG], f"Cmd {c['Cmd']}"
    hc = c.get("Healthcheck") or {}
    assert hc.get("Test", [None])[0] == "CMD" and hc["Test"][1:3] == ["honeybee-cli", "health"] \
        and hc["Test"][hc["Test"].index("-c") + 1] == CONFIG, f"Healthcheck {hc}"
    assert set(c["ExposedPorts"]) == {f"{p}/tcp" for p in (5550, 5551, 5552, 5553, 8080)}, \
        f"ExposedPorts {c['ExposedPorts']}"
    assert not [e for e in c["Env"] if e.startswith("HONEYBEE_")], \
        f"Env {c['Env']}: a HONEYBEE_* variable overrides every mounted config"


def test_user_libraries_check(fx):
    """Inside: uid/gid 10001, every linked library resolves, ENTRYPOINT +
    CMD + --check accepts the shipped config, --version answers."""
    fx.need()
    r = fx.run("id")
    assert r.returncode == 0 and re.match(r"uid=10001\b.* gid=10001\b", r.stdout), f"id: {r}"
    for exe in ("honeybee-bridge", "honeybee-cli"):
        r = fx.run("ldd", f"/opt/honeybee/bin/{exe}")
        assert r.returncode == 0 and "not found" not in r.stdout, f"ldd {exe}:\n{r.stdout}"
    r = fx.run(*fx.config["Entrypoint"], *fx.config["Cmd"], "--check")
    assert r.returncode == 0 and "configuration OK" in r.stdout + r.stderr, \
        f"ENTRYPOINT CMD --check: {r}"
    r = fx.run(*fx.config["Entrypoint"], "--version")
    assert r.returncode == 0 and r.stdout.startswith("honeybee-bridge "), f"--version: {r}"


def inner_pid(pid, name="honeybee-bridge"):
    """The process called `name` below pid (buildah run's child's child)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                kids.setdefault(int(fields[1]), []).append(int(d))
            except OSError:
                pass
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == name:
                    return p
        except OSError:
            pass
        todo += kids.get(p, [])
    return None


class ImageBridge(H.Bridge):
    """hbtest's Bridge, run as the image's ENTRYPOINT inside the working
    container. buildah run does not pass SIGTERM on to the process it runs,
    so the signal goes to the bridge's own pid (as docker stop's does to
    PID 1); buildah run then exits with the bridge's status."""

    def __init__(self, fx, mounts=(), ports=None, **kw):
        super().__init__(exe=fx.wrapper(mounts), config=CONFIG, **kw)
        self.ports = ports  # the mounted file's own endpoints: no variables
        if ports:
            self.endpoints = {k: v for k, v in ports.items() if k != "http"}
            self.http_addr = ports["http"]
            self.http_port = int(ports["http"].rsplit(":", 1)[1])

    def endpoint_env(self):
        return {} if self.ports else super().endpoint_env()

    def signal(self, sig):
        pid = H.wait_for(lambda: inner_pid(self.proc.pid), 10, "the bridge's pid")
        os.kill(pid, sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            self.wait_exit()
        return super().stop()


def test_bridge_in_image(fx):
    """The bridge as ENTRYPOINT, on the host's network: a feed outside
    reaches a subscriber outside through it, /healthz answers from outside,
    the HEALTHCHECK passes inside, JSON logs, SIGTERM exits 0."""
    fx.need()
    ws = H.WSServer()
    try:
        with ImageBridge(fx) as bridge:
            env = bridge.endpoint_env()
            st, body = bridge.http("/healthz")
            assert st == 200, f"/healthz from outside: {st} {body}"
            hc = fx.config["Healthcheck"]["Test"][1:]
            r = fx.run(*hc, env=env)
            assert r.returncode == 0 and " 200" in r.stdout, f"HEALTHCHECK {hc}: {r}"
            bridge.ok({"op": "connect", "id": "feed", "url": ws.url_of("feed")})
            bridge.wait_state("feed", "connected")
            sub = bridge.sub("inbox")
            got = H.wait_for(lambda: ws.push("feed", "through the image") and
                             H.recv_inbox(sub, 0.2), 20, "a message through the image")
            assert got[0] == "feed" and got[1] == b"through the image", got
            sub.close(0)
            first = [ln for ln in bridge.stderr().splitlines() if ln.strip()][0]
            assert json.loads(first), f"not JSON logs: {first!r}"
        # (__exit__ asserted exit status 0 after SIGTERM.)
        print("# bridge in the image: message delivered, /healthz 200, HEALTHCHECK ok, exit 0")
    finally:
        ws.stop()


def test_healthcheck_follows_config(fx):
    """A config that moves bridge.http, mounted over the shipped one with no
    HONEYBEE_* variables: the image's HEALTHCHECK passes; the old command,
    which knew only $HONEYBEE_HTTP and 127.0.0.1:8080, fails there."""
    fx.need()
    ports = {k: f"tcp://127.0.0.1:{H.free_port()}" for k in ("inbox", "events", "send", "control")}
    ports["http"] = f"127.0.0.1:{H.free_port()}"
    moved = os.path.join(fx.tmp, "moved.yaml")
    with open(moved, "w") as f:
        f.write("bridge:\n" + "".join(f"  {k}: {v}\n" for k, v in ports.items()) +
                "  drain_timeout: 2s\npeers: []\nlog:\n  level: info\n  format: json\n")
    os.chmod(moved, 0o644)
    mount = f"{moved}:{CONFIG}:ro"
    with ImageBridge(fx, mounts=[mount], ports=ports) as bridge:
        assert bridge.http("/healthz")[0] == 200, "the bridge serves the moved bridge.http"
        hc = fx.config["Healthcheck"]["Test"][1:]
        r = fx.run(*hc, mounts=[mount])
        assert r.returncode == 0 and " 200" in r.stdout, f"HEALTHCHECK with a moved http: {r}"
        r = fx.run("honeybee-cli", "health", "--timeout", "3", mounts=[mount])
        assert r.returncode != 0, f"the old HEALTHCHECK passes on a moved http?: {r}"

        # deploy/README.md's reload without a restart: the file changes in
        # place (as a ConfigMap volume does), and the image's own shell, as
        # its user, signals the bridge (`kubectl exec ... sh -c 'kill -HUP 1'`).
        ws = H.WSServer()
        try:
            with open(moved, "a") as f:  # same inode: the bind mount sees it
                f.write(f"# reload\n")
            text = open(moved).read().replace(
                "peers: []", f"peers:\n  - id: added-by-reload\n    url: {ws.url_of('r')}")
            with open(moved, "r+") as f:
                f.write(text)
                f.truncate()
            pid = inner_pid(bridge.proc.pid)
            r = fx.run("sh", "-c", f"kill -HUP {pid}")
            assert r.returncode == 0, f"kill -HUP from inside the image: {r}"
            bridge.wait_state("added-by-reload", "connected")
        finally:
            ws.stop()


def test_layers(fx):
    """Report each layer the Dockerfile adds to debian:12-slim and its size;
    together under MAX_ADDED_MB."""
    fx.need()
    img = json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)
    base = json.loads(buildah("inspect", "--type", "image",
                              "docker.io/library/debian:12-slim").stdout)
    layers = json.loads(img["Manifest"])["layers"]
    n_base = len(json.loads(base["Manifest"])["layers"])
    steps = [h for h in img["Docker"]["history"] if not h.get("empty_layer")]
    assert len(steps) == len(layers), f"{len(steps)} history steps, {len(layers)} layers"
    added = list(zip(steps[n_base:], layers[n_base:]))
    total = sum(layer["size"] for _, layer in added)
    base_size = sum(layer["size"] for layer in json.loads(base["Manifest"])["layers"])
    print(f"# debian:12-slim (made by debootstrap): {base_size / 2**20:.1f} MiB")
    for step, layer in added:
        what = re.sub(r"\s+", " ", step.get("created_by", "?"))
        what = re.sub(r"^/bin/sh -c (#\(nop\) )?", "", what)
        print(f"# {layer['size'] / 2**20:8.2f} MiB  {what[:110]}")
    print(f"# {total / 2**20:8.2f} MiB  added by docker/Dockerfile's runtime stage "
          f"({len(added)} layers); image {(total + base_size) / 2**20:.1f} MiB")
    assert total < MAX_ADDED_MB * 2**20, f"the Dockerfile adds {total / 2**20:.1f} MiB"


if __name__ == "__main__":
    H.run([test_image_config, test_user_libraries_check, test_bridge_in_image,
           test_healthcheck_follows_config, test_layers], fixture=fixture)
