"""deploy/: the kustomize base and the example overlay render with
`kubectl kustomize` (offline), every object validates against the Kubernetes
schemas (npm kubernetes-models, which must also reject a broken object), and
the manifests keep the promises deploy/README.md makes: probes, limits,
non-root read-only container, grace period above drain_timeout, Prometheus
annotations, a Service port per socket, one replica, a PodDisruptionBudget
that lets a drain evict it, a config that passes `honeybee-bridge --check`
and binds every interface, no HONEYBEE_* variable that silently overrides
the ConfigMap, and a config that either rolls the pod (hashed name, base)
or updates in place for a reload (the example overlay). The sharded
overlay: a StatefulSet whose replicas and HONEYBEE_SHARD=auto/N agree, a
headless Service naming each pod, every pod's ordinal a valid shard of its
config (--check with its HOSTNAME), a consumer that lists every shard's
endpoints in shard order, the base's pod promises.

Debian does not package a kubectl that can render these trees (its
kubernetes-client is 1.20, whose kustomize predates `labels` and the
`patches` field): without kubectl, or with one whose kustomize is older than
KUSTOMIZE_MIN, the render tests are skipped with the reason (exit 77, shown
as Skipped in ctest's summary), not failed.
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

DEPLOY = os.path.join(H.SRC, "deploy")
TOOLS = os.path.join(H.SRC, "tools", "node", "node_modules")

VALIDATE_JS = r"""
// Each object through its kubernetes-models class: validate() throws on a
// schema violation. Prints one line per object: "ok KIND NAME" or "bad ...".
const classes = {
  "v1/ConfigMap": () => require("kubernetes-models/v1").ConfigMap,
  "v1/Service": () => require("kubernetes-models/v1").Service,
  "v1/Namespace": () => require("kubernetes-models/v1").Namespace,
  "apps/v1/Deployment": () => require("kubernetes-models/apps/v1").Deployment,
  "apps/v1/StatefulSet": () => require("kubernetes-models/apps/v1").StatefulSet,
  "networking.k8s.io/v1/NetworkPolicy": () =>
    require("kubernetes-models/networking.k8s.io/v1").NetworkPolicy,
  "policy/v1/PodDisruptionBudget": () => require("kubernetes-models/policy/v1").PodDisruptionBudget,
};
let text = "";
process.stdin.on("data", (d) => (text += d));
process.stdin.on("end", () => {
  for (const obj of JSON.parse(text)) {
    const key = `${obj.apiVersion}/${obj.kind}`;
    const name = obj.metadata && obj.metadata.name;
    if (!classes[key]) { console.log(`bad ${key} ${name}: no schema class`); continue; }
    try {
      const Cls = classes[key]();
      new Cls(obj).validate();
      console.log(`ok ${key} ${name}`);
    } catch (e) {
      console.log(`bad ${key} ${name}: ${String(e.message || e).replace(/\n/g, " ")}`);
    }
  }
});
"""


# The oldest kustomize known to render deploy/ (kubectl 1.27 embeds 5.0;
# tested with 5.5.0 of kubectl 1.32). Debian 12's kubectl 1.20 has 2.0.3.
KUSTOMIZE_MIN = (5, 0)
WHERE = ("kubectl >= 1.27 from https://kubernetes.io/docs/tasks/tools/ "
         "(Debian 12 packages only 1.20, too old)")


def kubectl_problem(exe):
    """Why `exe` cannot render deploy/, or None. `kubectl version --client`
    names its kustomize from 1.24 on; older ones (Debian's 1.20) do not."""
    r = H.run_cmd([exe, "version", "--client"], timeout=30)
    text = r.stdout + r.stderr
    client = re.search(r"(?:Client Version: |GitVersion:\")v?(\d+\.\d+[.\d]*)", text)
    kust = re.search(r"Kustomize Version: v?(\d+)\.(\d+)", text)
    if r.returncode != 0 and not client:
        return f"`{exe} version --client` failed: {text.strip()[:200]}"
    if not kust or (int(kust.group(1)), int(kust.group(2))) < KUSTOMIZE_MIN:
        return (f"{exe} is kubectl {client.group(1) if client else '?'} with kustomize "
                f"{kust.group(1) + '.' + kust.group(2) if kust else 'older than 4 (not named)'}"
                f"; deploy/ needs kustomize >= {KUSTOMIZE_MIN[0]}.{KUSTOMIZE_MIN[1]}: "
                f"install {WHERE}")
    return None


def kubectl():
    exe = shutil.which("kubectl")
    if not exe:
        raise H.Skip(f"kubectl not found: it renders deploy/ offline (`kubectl kustomize`); "
                     f"install {WHERE}")
    problem = kubectl_problem(exe)
    if problem:
        raise H.Skip(problem)
    return exe


def render(path):
    r = H.run_cmd([kubectl(), "kustomize", path], timeout=60)
    assert r.returncode == 0, f"kubectl kustomize {path}: {r.stderr}"
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def validate(objs):
    env = dict(os.environ, NODE_PATH=TOOLS)
    r = subprocess.run(["node", "-e", VALIDATE_JS], input=json.dumps(objs), text=True,
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, f"validator: {r.stderr}"
    return r.stdout.splitlines()


def duration_s(text):
    m = re.fullmatch(r"([\d.]+)(ms|s|m|h)?", str(text))
    assert m, f"bad duration {text}"
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def by_kind(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def check_config(cm, where):
    """The ConfigMap's honeybee.yaml passes --check; returns drain_timeout (s)."""
    text = cm["data"]["honeybee.yaml"]
    tmp = tempfile.mkdtemp(prefix="hb-deploy-")
    try:
        path = os.path.join(tmp, "honeybee.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = H.run_cmd([H.BRIDGE, "--check", "-c", path])
        assert r.returncode == 0, f"{where}: config fails --check: {r.stdout}{r.stderr}"
    finally:
        shutil.rmtree(tmp)
    cfg = yaml.safe_load(text)
    b = cfg["bridge"]
    for k, port in (("inbox", 5550), ("events", 5551), ("send", 5552), ("control", 5553)):
        assert b[k] == f"tcp://*:{port}", f"{where}: {k} must bind tcp://*:{port}, is {b[k]}"
    assert b["http"] == "0.0.0.0:8080", f"{where}: http must bind 0.0.0.0:8080"
    return duration_s(b.get("drain_timeout", "5s"))


# The environment variables the bridge reads over its file (docs/config.md).
OVERRIDES = {"HONEYBEE_INBOX": ("bridge", "inbox"), "HONEYBEE_EVENTS": ("bridge", "events"),
             "HONEYBEE_SEND": ("bridge", "send"), "HONEYBEE_CONTROL": ("bridge", "control"),
             "HONEYBEE_HTTP": ("bridge", "http"), "HONEYBEE_LOG_LEVEL": ("log", "level"),
             "HONEYBEE_LOG_FORMAT": ("log", "format")}


def check_pod(pod, c, drain, where):
    """The pod promises every bridge workload keeps (Deployment or
    StatefulSet): a grace period above the drain, a non-root user, a locked
    container, the probes and resources."""
    assert pod["terminationGracePeriodSeconds"] > drain + 5, \
        f"{where}: grace {pod['terminationGracePeriodSeconds']}s not above drain {drain}s"
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 10001, f"{where}: pod user {psc}"
    csc = c["securityContext"]
    assert (csc["readOnlyRootFilesystem"] is True and csc["allowPrivilegeEscalation"] is False
            and csc["capabilities"]["drop"] == ["ALL"]), f"{where}: container security {csc}"
    assert (c["livenessProbe"]["httpGet"]["path"] == "/healthz" and
            c["readinessProbe"]["httpGet"]["path"] == "/readyz"), f"{where}: probes"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{where}: resources.{kind}"


def check_manifests(objs, where):
    lines = validate(objs)
    bad = [ln for ln in lines if not ln.startswith("ok ")]
    assert not bad and len(lines) == len(objs), f"{where}: schema validation: {bad or lines}"

    dep = by_kind(objs, "Deployment", "honeybee")
    svc = by_kind(objs, "Service")
    cm = by_kind(objs, "ConfigMap")
    drain = check_config(cm, where)
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 1, f"{where}: one replica per set of PUB sockets"
    assert spec["strategy"]["type"] == "Recreate", f"{where}: Recreate (no two bridges at once)"
    (c,) = pod["containers"]
    check_pod(pod, c, drain, where)
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert (ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "8080"
           and ann.get("prometheus.io/path") == "/metrics"), f"{where}: scrape annotations {ann}"
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    cfg = yaml.safe_load(cm["data"]["honeybee.yaml"])
    assert cfg["log"]["format"] == "json", f"{where}: JSON logs"
    # A HONEYBEE_* variable overrides the file: with one on the container,
    # an edit of its key in the ConfigMap would silently do nothing.
    for var, value in env.items():
        if var in OVERRIDES:
            section, key = OVERRIDES[var]
            raise AssertionError(f"{where}: {var}={value} overrides {section}.{key} of its "
                                 f"own ConfigMap")
    # CURVE keys come from optional Secrets, read-only, readable by the
    # pod's group.
    secrets = {v["secret"]["secretName"]: v for v in pod["volumes"] if "secret" in v}
    assert set(secrets) == {"honeybee-server-key", "honeybee-readers", "honeybee-writers"}, \
        f"{where}: key secrets {sorted(secrets)}"
    for v in secrets.values():
        assert v["secret"]["optional"] is True, v
        m = next(m for m in c["volumeMounts"] if m["name"] == v["name"])
        assert m["readOnly"] is True and m["mountPath"].startswith("/etc/honeybee-keys/"), m
    assert pod["securityContext"].get("fsGroup") == pod["securityContext"]["runAsGroup"]
    # The config volume is the generated ConfigMap, read-only, mounted as a
    # directory (a subPath mount would never see an update).
    vol = next(v for v in pod["volumes"] if "configMap" in v)
    assert vol["configMap"]["name"] == cm["metadata"]["name"], f"{where}: configMap ref"
    mount = next(m for m in c["volumeMounts"] if m["name"] == vol["name"])
    assert mount["mountPath"] == "/etc/honeybee" and mount.get("readOnly") is True \
        and "subPath" not in mount, f"{where}: config mount {mount}"
    assert cm.get("immutable") is not True, f"{where}: an immutable ConfigMap"
    # Voluntary disruptions: a budget that selects the bridge and lets a
    # drain evict it (one at a time) rather than block forever.
    pdb = by_kind(objs, "PodDisruptionBudget")
    psel = pdb["spec"]["selector"]["matchLabels"]
    labels = spec["template"]["metadata"]["labels"]
    assert psel and all(labels.get(k) == v for k, v in psel.items()), \
        f"{where}: PodDisruptionBudget selector {psel}"
    assert pdb["spec"].get("maxUnavailable") == 1 and "minAvailable" not in pdb["spec"], \
        f"{where}: PodDisruptionBudget {pdb['spec']}"
    assert c["args"] == ["-c", "/etc/honeybee/honeybee.yaml"], f"{where}: args {c['args']}"
    # The Service reaches the five container ports by name, and selects the pod.
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    want = {"inbox": 5550, "events": 5551, "send": 5552, "control": 5553, "http": 8080}
    assert cports == want, \
        f"{where}: container ports {cports}"
    sports = {p["port"]: p["targetPort"] for p in svc["spec"]["ports"]}
    assert {sports[p]: p for p in sports} == {k: v for k, v in cports.items()}, \
        f"{where}: service ports {sports}"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    sel = svc["spec"]["selector"]
    assert sel and all(labels.get(k) == v for k, v in sel.items()), f"{where}: selector {sel}"
    assert dep["spec"]["selector"]["matchLabels"] == sel, f"{where}: deployment selector"
    return dep


def test_validator_can_fail():
    """The schema validator rejects a broken Deployment."""
    assert os.path.isdir(os.path.join(TOOLS, "kubernetes-models")), \
        f"{TOOLS}/kubernetes-models missing: run scripts/node-deps.sh"
    broken = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
               "spec": {"replicas": "one", "selector": {}, "template": {
                   "spec": {"containers": [{"name": "c", "ports": [{"containerPort": "x"}]}]}}}}]
    lines = validate(broken)
    assert lines and lines[0].startswith("bad "), f"validator accepted a broken object: {lines}"


def test_base():
    """The base: schemas, probes, limits, security, grace > drain, scrape,
    ports, config."""
    objs = render(os.path.join(DEPLOY, "base"))
    check_manifests(objs, "base")
    # The base rolls the pod on a config change: the name carries a hash.
    name = by_kind(objs, "ConfigMap")["metadata"]["name"]
    assert re.fullmatch(r"honeybee-config-[a-z0-9]{10}", name), f"base ConfigMap name {name}"


def test_overlay():
    """overlays/example: the base's promises, namespace, image, patch,
    config with peers, NetworkPolicy; the consumer reaches the Service by
    name and passes the NetworkPolicy; the image's USER is the pod's."""
    overlay = render(os.path.join(DEPLOY, "overlays", "example"))
    dep = check_manifests(overlay, "overlays/example")
    ns = by_kind(overlay, "Namespace")["metadata"]["name"]
    assert all(o["metadata"].get("namespace") == ns
               for o in overlay if o["kind"] != "Namespace"), \
        "overlay: every object in its namespace"
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "registry.example.com/honeybee:0.1.0", f"overlay image {c['image']}"
    assert c["resources"]["limits"]["memory"] == "1Gi", "overlay memory patch"
    cm = by_kind(overlay, "ConfigMap")
    peers = yaml.safe_load(cm["data"]["honeybee.yaml"]).get("peers") or []
    assert len(peers) >= 1, "overlay config has peers"
    # The example updates its config in place for a reload: no hash.
    assert cm["metadata"]["name"] == "honeybee-config", \
        f"overlay ConfigMap {cm['metadata']['name']}: hashed, so every change restarts"
    np_ = by_kind(overlay, "NetworkPolicy")
    zmq_ports = {p["port"] for p in np_["spec"]["ingress"][0]["ports"]}
    assert zmq_ports == {5550, 5551, 5552, 5553}, f"networkpolicy ports {zmq_ports}"

    # The example consumer reaches the bridge by the Service's name and
    # ports, passes the NetworkPolicy, and is not itself behind the Service.
    svc = by_kind(overlay, "Service")
    cons = by_kind(overlay, "Deployment", "honeybee-consumer")
    pod = cons["spec"]["template"]
    (cc,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in cc.get("env", [])}
    ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    for var, port in (("HONEYBEE_INBOX", "zmq-inbox"), ("HONEYBEE_EVENTS", "zmq-events"),
                      ("HONEYBEE_SEND", "zmq-send"), ("HONEYBEE_CONTROL", "zmq-control")):
        want = f"tcp://{svc['metadata']['name']}:{ports[port]}"
        assert env.get(var) == want, f"consumer {var}={env.get(var)}, expected {want}"
    # Clients by pod and namespace: a pod label alone in any namespace
    # (namespaceSelector {}) is not enough; and an egress policy that keeps
    # the bridge off private ranges and cloud metadata.
    for src in np_["spec"]["ingress"][0]["from"]:
        assert src.get("namespaceSelector") != {}, f"any namespace admitted: {src}"
    assert "Egress" in np_["spec"]["policyTypes"], "no egress policy"
    blocks = [t["ipBlock"] for e in np_["spec"]["egress"] for t in e.get("to", [])
              if "ipBlock" in t]
    assert blocks and all("169.254.0.0/16" in b.get("except", []) for b in blocks), blocks
    allowed = np_["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    labels = pod["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in allowed.items()), f"consumer labels {labels}"
    sel = svc["spec"]["selector"]
    assert not all(labels.get(k) == v for k, v in sel.items()), "the Service selects the consumer"
    script = cc["command"][-1]
    assert os.path.isfile(os.path.join(H.SRC, script)), f"consumer runs {script}: missing"
    assert (cc["securityContext"]["readOnlyRootFilesystem"] is True and
           pod["spec"]["securityContext"]["runAsNonRoot"] is True), "consumer security"

    # The image and the manifests agree on the user.
    dockerfile = open(os.path.join(H.SRC, "docker", "Dockerfile")).read()
    user = re.findall(r"^USER\s+(\d+):(\d+)", dockerfile, re.M)[-1]
    psc = dep["spec"]["template"]["spec"]["securityContext"]
    assert int(user[0]) == psc["runAsUser"] and int(user[1]) == psc["runAsGroup"], \
        f"Dockerfile USER {user} vs runAsUser/runAsGroup {psc}"


def test_sharded_overlay():
    """overlays/sharded: a StatefulSet of N shards behind a headless
    Service, HONEYBEE_SHARD=auto/N from the pod name, the base's pod
    promises and PodDisruptionBudget, the example's NetworkPolicy, and a
    consumer subscribed to every shard in shard order."""
    where = "overlays/sharded"
    objs = render(os.path.join(DEPLOY, "overlays", "sharded"))
    lines = validate(objs)
    bad = [ln for ln in lines if not ln.startswith("ok ")]
    assert not bad and len(lines) == len(objs), f"{where}: schema validation: {bad or lines}"
    assert not [o for o in objs if o["kind"] == "Deployment"
                and o["metadata"]["name"] == "honeybee"], f"{where}: the base Deployment stays"
    sts = by_kind(objs, "StatefulSet", "honeybee")
    svc = by_kind(objs, "Service", "honeybee")
    cm = by_kind(objs, "ConfigMap")
    ns = by_kind(objs, "Namespace")["metadata"]["name"]
    assert all(o["metadata"].get("namespace") == ns for o in objs if o["kind"] != "Namespace")
    spec = sts["spec"]
    n = spec["replicas"]
    assert n >= 2, f"{where}: {n} replica(s)"
    # Headless, and the StatefulSet's governing Service: DNS per pod.
    assert svc["spec"]["clusterIP"] == "None", f"{where}: Service is not headless"
    assert spec["serviceName"] == svc["metadata"]["name"], f"{where}: serviceName"
    assert svc["spec"].get("publishNotReadyAddresses") is True
    assert spec["updateStrategy"]["type"] == "RollingUpdate", f"{where}: one shard at a time"
    assert spec["updateStrategy"].get("rollingUpdate", {}).get("maxUnavailable", 1) == 1
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    assert env.get("HONEYBEE_SHARD") == f"auto/{n}", \
        f"{where}: HONEYBEE_SHARD={env.get('HONEYBEE_SHARD')} with {n} replicas"
    for var in env:
        assert var == "HONEYBEE_SHARD" or var not in OVERRIDES, f"{where}: {var} overrides"
    cfg = yaml.safe_load(cm["data"]["honeybee.yaml"])
    assert "shard" not in cfg["bridge"], f"{where}: bridge.shard in the file is hidden by the env"
    assert len(cfg.get("peers") or []) >= n, f"{where}: fewer peers than shards"
    drain = check_config(cm, where)
    # Every pod's ordinal is a shard of this config; one past the end is not.
    text = cm["data"]["honeybee.yaml"]
    tmp = tempfile.mkdtemp(prefix="hb-deploy-")
    try:
        path = os.path.join(tmp, "honeybee.yaml")
        with open(path, "w") as f:
            f.write(text)
        owned = 0
        for i in range(n + 1):
            e = dict(os.environ, HONEYBEE_SHARD=env["HONEYBEE_SHARD"],
                     HOSTNAME=f"{sts['metadata']['name']}-{i}")
            r = subprocess.run([H.BRIDGE, "--check", "-c", path], env=e, capture_output=True,
                               text=True, timeout=30)
            if i < n:
                assert r.returncode == 0, f"{where}: pod {i}: {r.stderr}"
                m = re.search(r"shard %d/%d owns (\d+) of them" % (i, n), r.stdout)
                assert m, f"{where}: pod {i}: {r.stdout}"
                owned += int(m.group(1))
            else:
                assert r.returncode == 2 and "replicas and N differ" in r.stderr, r.stderr
        assert owned == len(cfg["peers"]), f"{where}: the shards own {owned} peers"
    finally:
        shutil.rmtree(tmp)
    # The base's pod promises.
    check_pod(pod, c, drain, where)
    psc = pod["securityContext"]
    assert psc.get("fsGroup") == psc["runAsGroup"]
    assert c["args"] == ["-c", "/etc/honeybee/honeybee.yaml"]
    vol = next(v for v in pod["volumes"] if "configMap" in v)
    assert vol["configMap"]["name"] == cm["metadata"]["name"], f"{where}: configMap ref"
    assert re.fullmatch(r"honeybee-config-[a-z0-9]{10}", cm["metadata"]["name"]), \
        f"{where}: a config change should roll the shards"
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"honeybee-server-key", "honeybee-readers", "honeybee-writers"}
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert cports == {"inbox": 5550, "events": 5551, "send": 5552, "control": 5553,
                      "http": 8080}, f"{where}: container ports {cports}"
    sports = {p["targetPort"]: p["port"] for p in svc["spec"]["ports"]}
    assert sports == cports, f"{where}: service ports {sports}"
    labels = spec["template"]["metadata"]["labels"]
    for sel in (svc["spec"]["selector"], spec["selector"]["matchLabels"],
                by_kind(objs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert sel and all(labels.get(k) == v for k, v in sel.items()), f"{where}: {sel}"
    assert by_kind(objs, "PodDisruptionBudget")["spec"].get("maxUnavailable") == 1
    np_ = by_kind(objs, "NetworkPolicy")
    npsel = np_["spec"]["podSelector"]["matchLabels"]
    assert all(labels.get(k) == v for k, v in npsel.items()), f"{where}: policy selector"
    assert {p["port"] for p in np_["spec"]["ingress"][0]["ports"]} == {5550, 5551, 5552, 5553}
    assert "Egress" in np_["spec"]["policyTypes"]
    # The consumer: every shard, in shard order, by the per-pod names.
    cons = by_kind(objs, "Deployment", "honeybee-consumer")
    cpod = cons["spec"]["template"]
    (cc,) = cpod["spec"]["containers"]
    cenv = {e["name"]: e.get("value") for e in cc.get("env", [])}
    ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    host = "%s-{i}.%s" % (sts["metadata"]["name"], svc["metadata"]["name"])
    for var, port in (("HONEYBEE_INBOX", "zmq-inbox"), ("HONEYBEE_EVENTS", "zmq-events"),
                      ("HONEYBEE_SEND", "zmq-send"), ("HONEYBEE_CONTROL", "zmq-control")):
        want = ",".join(f"tcp://{host.format(i=i)}:{ports[port]}" for i in range(n))
        assert cenv.get(var) == want, f"consumer {var}={cenv.get(var)}, expected {want}"
    allowed = np_["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert all(cpod["metadata"]["labels"].get(k) == v for k, v in allowed.items())
    assert os.path.isfile(os.path.join(H.SRC, cc["command"][-1]))


def test_old_kubectl_is_named():
    """A kubectl whose kustomize is too old (Debian's 1.20 names none) is
    reported as such, so its tests skip with the reason; a recent one is not."""
    tmp = tempfile.mkdtemp(prefix="hb-kubectl-")
    try:
        fake = os.path.join(tmp, "kubectl")
        for text, bad in (('Client Version: version.Info{Major:"1", Minor:"20", '
                           'GitVersion:"v1.20.2"}', "1.20.2"),
                          ("Client Version: v1.26.1\nKustomize Version: v4.5.7", "4.5"),
                          ("Client Version: v1.32.4\nKustomize Version: v5.5.0", None)):
            with open(fake, "w") as f:
                f.write(f"#!{H.PYTHON}\nprint({text!r})\n")
            os.chmod(fake, 0o755)
            problem = kubectl_problem(fake)
            if bad:
                assert problem and bad in problem and "kustomize >= 5.0" in problem, \
                    f"{text!r}: {problem}"
            else:
                assert problem is None, f"{text!r}: {problem}"
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    H.run([test_validator_can_fail, test_old_kubectl_is_named, test_base, test_overlay,
           test_sharded_overlay])
