#!/usr/bin/env bash
# Validates deploy/ offline, without a Docker engine, a cluster or the binaries installed:
#   - systemd units: `systemd-analyze verify` (any warning fails) and an offline security score;
#   - env files: KEY=value lines naming variables the programs read;
#   - docker-compose.yml and every Kubernetes manifest: YAML parse plus the keys that matter
#     (kinds, apiVersion, images, commands, the GPU request, volumeClaimTemplates, ...);
#   - Dockerfiles: stages, COPY --from targets, package lists against deploy/setup-debian.sh;
#   - `docker compose config` and `kubectl kustomize` only where those tools exist (else SKIP);
#   - `bash -n` on the deploy scripts.
# Installs systemd and python3-yaml (Debian packages) when missing. Prints every check; exits
# non-zero when any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
FAILED=0
TMP="$(mktemp -d "${TMPDIR:-/tmp}/tuner-validate-XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

ok()   { echo "ok    $*"; }
bad()  { echo "FAIL  $*"; FAILED=1; }
skip() { echo "SKIP  $*"; }

need_package() {  # need_package COMMAND-TEST PACKAGE
  if ! eval "$1" > /dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get > /dev/null; then
      echo "validate: installing $2"
      apt-get update -q > /dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" > /dev/null
    fi
  fi
  eval "$1" > /dev/null 2>&1
}

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
need_package "$PY -c 'import yaml'" python3-yaml || { bad "python3-yaml missing and not installable"; exit 1; }

# ---------------------------------------------------------------- systemd
# The units name /usr/local/bin/* and verify insists those are executables. Rather than touch
# the real /usr/local/bin, verify runs against a temporary root (--root): a copy of the
# system's own units (for the targets ours depend on), our units in etc/systemd/system and
# stub executables at the paths ExecStart names. --man=no: no man pages to look up.
echo "== systemd units (deploy/systemd)"
if need_package "command -v systemd-analyze" systemd; then
  SROOT="$TMP/root"
  mkdir -p "$SROOT/usr/lib/systemd" "$SROOT/etc/systemd/system" "$SROOT/usr/local/bin"
  cp -a /usr/lib/systemd/system "$SROOT/usr/lib/systemd/"
  cp deploy/systemd/*.service "$SROOT/etc/systemd/system/"
  for exe in $(sed -n 's/^ExecStart=-\{0,1\}\([^ ]*\).*/\1/p' deploy/systemd/*.service | sort -u); do
    mkdir -p "$SROOT$(dirname "$exe")"
    printf '#!/bin/sh\nexit 0\n' > "$SROOT$exe"
    chmod 0755 "$SROOT$exe"
  done
  units=()
  for f in deploy/systemd/*.service; do
    u="$(basename "$f")"
    case "$u" in *@.service) u="${u%@.service}@0.service" ;; esac   # an instance: GPU 0
    units+=("$u")
  done
  for u in "${units[@]}"; do
    # verify exits 0 on unknown keys and bad values (it only warns): any output fails.
    if out="$(systemd-analyze verify --man=no --root="$SROOT" "$u" 2>&1)" && [ -z "$out" ]; then
      ok "systemd-analyze verify $u"
    else
      bad "systemd-analyze verify $u: $out"
    fi
    if score="$(systemd-analyze security --offline=yes --root="$SROOT" "$u" 2>/dev/null | tail -n1)"; then
      echo "      ${score#→ }"
    fi
  done
else
  bad "systemd-analyze missing and not installable"
fi
for f in deploy/systemd/*.service; do
  for key in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes Restart=on-failure \
             KillSignal=SIGTERM EnvironmentFile=-/etc/tuner/; do
    grep -q "^$key" "$f" || bad "$f lacks $key"
  done
done
grep -q '^StateDirectory=tuner$' deploy/systemd/tuner-server.service || bad "tuner-server.service: StateDirectory=tuner"
grep -q -- '--device cuda:%i' deploy/systemd/trial-worker@.service || bad "trial-worker@.service: --device cuda:%i"
grep -q '^CacheDirectory=tuner$' deploy/systemd/trial-worker@.service || bad "trial-worker@.service: CacheDirectory=tuner"

# ---------------------------------------------------------------- YAML, env files, Dockerfiles
echo "== compose, Kubernetes, env files, Dockerfiles"
"$PY" - "$ROOT" <<'PY' || FAILED=1
import glob, os, re, sys
import yaml

root = sys.argv[1]
os.chdir(root)
failed = False
def ok(msg): print(f"ok    {msg}")
def bad(msg):
    global failed
    failed = True
    print(f"FAIL  {msg}")

# Every TUNER_* variable the programs read (CLI11 envname) or the docs promise.
known = set()
for src in glob.glob("tuner-server/*.cc") + glob.glob("trial-worker/**/*.cc", recursive=True) \
        + glob.glob("tunectl/**/*.cc", recursive=True) + glob.glob("common/*.cc"):
    known |= set(re.findall(r'envname\("(TUNER_[A-Z0-9_]+)"\)', open(src).read()))
for name in ["TUNER_SERVER", "TUNER_DB", "TUNER_LISTEN", "TUNER_DEVICE", "TUNER_CACHE_DIR"]:
    if name not in known:
        bad(f"no program reads {name} (envname in the sources)")
def check_env_names(where, names):
    unknown = sorted(n for n in names if n.startswith("TUNER_") and n not in known)
    if unknown:
        bad(f"{where}: variables no program reads: {unknown}")
    return not unknown

# -- env files
for path in sorted(glob.glob("deploy/systemd/*.env.example")) + ["deploy/compose/.env.example"]:
    names, good = [], True
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(\S*)", line)
        if not m:
            bad(f"{path}:{n}: not KEY=value: {line!r}"); good = False
        else:
            names.append(m.group(1))
    if path.startswith("deploy/systemd"):
        commented = re.findall(r"^#?(TUNER_[A-Z0-9_]+)=", open(path).read(), re.M)
        good &= check_env_names(path, commented)
    if good:
        ok(f"{path}: {len(names)} settings")
units = "".join(open(p).read() for p in glob.glob("deploy/systemd/*.service"))
check_env_names("deploy/systemd units", re.findall(r"Environment=(TUNER_[A-Z0-9_]+)=", units))

def load_all(path):
    try:
        return [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as e:
        bad(f"{path}: YAML: {e}")
        return []

def command_of(spec):
    cmd = spec.get("command")
    if isinstance(cmd, str):
        cmd = cmd.split()
    return cmd or []

ROLES = {"tuner-server", "trial-worker", "tunectl"}

# -- docker compose
path = "deploy/compose/docker-compose.yml"
docs = load_all(path)
if len(docs) == 1 and isinstance(docs[0], dict):
    c = docs[0]
    services = c.get("services", {})
    volumes = set((c.get("volumes") or {}).keys())
    errs = []
    for role in ["tuner-server", "trial-worker"]:
        if role not in services:
            errs.append(f"no {role} service")
    roles = {}
    for name, s in services.items():
        if not s.get("image"):
            errs.append(f"{name}: no image")
        cmd = command_of(s)
        ep = s.get("entrypoint") or []
        role = next((w for w in list(ep) + cmd if w in ROLES), None)
        if role is None:
            errs.append(f"{name}: command names none of {sorted(ROLES)}")
        roles[name] = role
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        check_env_names(f"{path} {name}", env.keys())
        if role == "trial-worker" and "TUNER_SERVER" not in env:
            errs.append(f"{name}: no TUNER_SERVER")
        for v in s.get("volumes") or []:
            src = v.split(":")[0] if isinstance(v, str) else v.get("source")
            if not src.startswith((".", "/")) and src not in volumes:
                errs.append(f"{name}: volume {src} not declared")
    server = services.get("tuner-server", {})
    if not any(str(v).endswith(":/var/lib/tuner") and not str(v).startswith((".", "/"))
               for v in server.get("volumes") or []):
        errs.append("tuner-server: the db dir /var/lib/tuner is not on a named volume")
    if "TUNER_DB" not in (server.get("environment") or {}):
        errs.append("tuner-server: no TUNER_DB")
    if "replicas" not in (services.get("trial-worker", {}).get("deploy") or {}):
        errs.append("trial-worker: no deploy.replicas")
    gpu = [n for n, s in services.items() if "gpu" in (s.get("profiles") or [])]
    if not gpu:
        errs.append("no service in the gpu profile")
    for n in gpu:
        devs = (((services[n].get("deploy") or {}).get("resources") or {})
                .get("reservations") or {}).get("devices") or []
        if not any(d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or [])
                   for d in devs):
            errs.append(f"{n}: no deploy.resources.reservations.devices nvidia/gpu")
        if roles.get(n) != "trial-worker":
            errs.append(f"{n}: a gpu service that is not a trial-worker")
    ids = [tuple(d.get("device_ids") or []) for n in gpu for d in
           services[n]["deploy"]["resources"]["reservations"]["devices"]]
    if len(ids) != len(set(ids)):
        errs.append(f"gpu services share device_ids {ids}")
    for e in errs:
        bad(f"{path}: {e}")
    if not errs:
        ok(f"{path}: services {', '.join(f'{n}({roles[n]})' for n in services)}; "
           f"gpu profile {gpu}; volumes {sorted(volumes)}")
elif docs:
    bad(f"{path}: expected one mapping")

# -- Kubernetes
K8S = "deploy/k8s"
API = {"Namespace": "v1", "ConfigMap": "v1", "Service": "v1", "PersistentVolumeClaim": "v1",
       "StatefulSet": "apps/v1", "Deployment": "apps/v1", "DaemonSet": "apps/v1",
       "Kustomization": "kustomize.config.k8s.io/v1beta1"}
objects = {}
for path in sorted(glob.glob(f"{K8S}/*.yaml")):
    for d in load_all(path):
        kind, api = d.get("kind"), d.get("apiVersion")
        name = (d.get("metadata") or {}).get("name", "")
        if kind not in API:
            bad(f"{path}: unexpected kind {kind!r}"); continue
        if api != API[kind]:
            bad(f"{path}: {kind} apiVersion {api!r}, expected {API[kind]!r}"); continue
        if kind != "Kustomization" and not name:
            bad(f"{path}: {kind} without metadata.name"); continue
        objects.setdefault(kind, []).append((path, name, d))
        ok(f"{path}: {api} {kind} {name}".rstrip())

def one(kind, name=None):
    found = [o for o in objects.get(kind, []) if name is None or o[1] == name]
    if not found:
        bad(f"{K8S}: no {kind}{' ' + name if name else ''}")
    return found[0] if found else (None, None, {})

def containers(workload):
    spec = workload.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers") or [], spec

cfg_keys = set()
for path, name, d in objects.get("ConfigMap", []):
    cfg_keys |= set((d.get("data") or {}).keys())
    check_env_names(f"{path} data", d.get("data", {}).keys())
    for k, v in (d.get("data") or {}).items():
        if not isinstance(v, str):
            bad(f"{path}: ConfigMap value of {k} must be a string, got {type(v).__name__}")

def check_container(path, c, role):
    errs = []
    if not c.get("image"):
        errs.append(f"container {c.get('name')}: no image")
    if role not in command_of(c) + list(c.get("args") or []):
        errs.append(f"container {c.get('name')}: command does not run {role}")
    env = {e["name"] for e in c.get("env") or []}
    check_env_names(f"{path} {c.get('name')}", env)
    return errs, env

path, _, sts = one("StatefulSet", "tuner-server")
if sts:
    errs = []
    spec = sts["spec"]
    if spec.get("replicas") != 1:
        errs.append(f"replicas {spec.get('replicas')}, must be 1 (one SQLite writer)")
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = spec["template"]["metadata"].get("labels") or {}
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        errs.append("selector does not match the template labels")
    vct = spec.get("volumeClaimTemplates") or []
    if not vct or not vct[0].get("spec", {}).get("resources", {}).get("requests", {}).get("storage"):
        errs.append("no volumeClaimTemplates with a storage request")
    cs, pod = containers(sts)
    if len(cs) != 1:
        errs.append(f"{len(cs)} containers, expected 1")
    else:
        e, env = check_container(path, cs[0], "tuner-server")
        errs += e
        mounts = {m["name"]: m["mountPath"] for m in cs[0].get("volumeMounts") or []}
        db = next((x.get("value") for x in cs[0].get("env") or [] if x["name"] == "TUNER_DB"), "")
        claim = vct[0]["metadata"]["name"] if vct else None
        if claim not in mounts or not db.startswith(mounts.get(claim, "?") + "/"):
            errs.append(f"TUNER_DB {db!r} is not on the claim {claim!r} (mounts {mounts})")
        if not any(p.get("containerPort") == 50051 for p in cs[0].get("ports") or []):
            errs.append("no containerPort 50051")
        if not cs[0].get("readinessProbe"):
            errs.append("no readinessProbe")
    svc_name = spec.get("serviceName")
    svc = [o for o in objects.get("Service", []) if o[1] == svc_name]
    if not svc:
        errs.append(f"serviceName {svc_name!r} names no Service")
    for e in errs:
        bad(f"{path}: StatefulSet: {e}")
    if not errs:
        ok(f"{path}: StatefulSet tuner-server: 1 replica, claim {vct[0]['metadata']['name']} "
           f"{vct[0]['spec']['resources']['requests']['storage']}, db {db}")

path, _, svc = one("Service", "tuner-server")
if svc:
    s = svc["spec"]
    errs = []
    if s.get("type", "ClusterIP") != "ClusterIP":
        errs.append(f"type {s.get('type')}, expected ClusterIP")
    if not any(p.get("port") == 50051 for p in s.get("ports") or []):
        errs.append("no port 50051")
    tpl = sts["spec"]["template"]["metadata"].get("labels", {}) if sts else {}
    if any(tpl.get(k) != v for k, v in (s.get("selector") or {"": None}).items()):
        errs.append("selector does not select the server's pods")
    for e in errs:
        bad(f"{path}: Service: {e}")
    if not errs:
        ok(f"{path}: Service tuner-server ClusterIP :50051 selects the StatefulSet's pods")

workers = [o for k in ("Deployment", "DaemonSet") for o in objects.get(k, [])]
if not workers:
    bad(f"{K8S}: no worker Deployment or DaemonSet")
for path, name, w in workers:
    errs = []
    cs, pod = containers(w)
    worker_cs = [c for c in cs if "trial-worker" in command_of(c)]
    if not worker_cs:
        errs.append("no container runs trial-worker")
    for c in worker_cs:
        e, env = check_container(path, c, "trial-worker")
        errs += e
        res = c.get("resources") or {}
        gpu_limit = str((res.get("limits") or {}).get("nvidia.com/gpu", ""))
        gpu_req = str((res.get("requests") or {}).get("nvidia.com/gpu", gpu_limit))
        if gpu_limit != "1" or gpu_req != "1":
            errs.append(f"{c['name']}: nvidia.com/gpu limits {gpu_limit!r} requests {gpu_req!r}, expected 1")
        from_cfg = any("configMapRef" in ef for ef in c.get("envFrom") or [])
        if "TUNER_SERVER" not in env and not (from_cfg and "TUNER_SERVER" in cfg_keys):
            errs.append(f"{c['name']}: TUNER_SERVER neither in env nor in a ConfigMap it reads")
    for e in errs:
        bad(f"{path}: {w['kind']} {name}: {e}")
    if not errs:
        ok(f"{path}: {w['kind']} {name}: trial-worker with nvidia.com/gpu: 1, TUNER_SERVER from "
           f"the ConfigMap")
server_addr = next((d["data"].get("TUNER_SERVER") for _, _, d in objects.get("ConfigMap", [])
                    if "TUNER_SERVER" in (d.get("data") or {})), "")
if server_addr and svc and not server_addr.startswith(svc["metadata"]["name"]):
    bad(f"{K8S}: TUNER_SERVER {server_addr!r} does not name the Service {svc['metadata']['name']}")

path, _, kust = one("Kustomization")
if kust:
    listed = set(kust.get("resources") or [])
    files = {os.path.basename(p) for p in glob.glob(f"{K8S}/*.yaml")} - {"kustomization.yaml"}
    missing = [f for f in listed if not os.path.exists(os.path.join(K8S, f))]
    unlisted = sorted(files - listed)
    if missing or unlisted:
        bad(f"{path}: resources missing on disk {missing}, files not listed {unlisted}")
    else:
        ok(f"{path}: lists all {len(listed)} manifests")

# -- Dockerfiles
setup = open("deploy/setup-debian.sh").read()
setup_pkgs = set(re.search(r"PACKAGES=\((.*?)\)", setup, re.S).group(1).split())
for path in sorted(glob.glob("deploy/docker/Dockerfile.*")):
    if path.endswith(".dockerignore"):
        continue
    text = re.sub(r"\\\n", " ", open(path).read())
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    errs = []
    stages = []
    for l in lines:
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", l, re.I)
        if m:
            stages.append(m.group(2))
        m = re.match(r"COPY\s+--from=(\S+)", l, re.I)
        if m and m.group(1) not in stages:
            errs.append(f"COPY --from={m.group(1)} names no earlier stage")
    if len(stages) < 2:
        errs.append("not multi-stage")
    for b in ["tuner-server", "trial-worker", "tunectl"]:
        if not re.search(rf"--target [^\n]*\b{b}\b", text):
            errs.append(f"does not build {b}")
    if "runtime-packages.sh" in text and not os.access("deploy/docker/runtime-packages.sh", os.X_OK):
        errs.append("deploy/docker/runtime-packages.sh missing or not executable")
    if not os.path.exists(path + ".dockerignore"):
        errs.append(f"no {path}.dockerignore")
    if "cuda" in path:
        if "CMAKE_PREFIX_PATH=/opt/libtorch" not in text or "ARG LIBTORCH_ARCHIVE" not in text:
            errs.append("does not build against a LibTorch in /opt/libtorch from LIBTORCH_ARCHIVE")
    else:
        if not re.search(r"^FROM\s+\$\{DEBIAN_IMAGE\}", text, re.M) or "ARG DEBIAN_IMAGE=debian:12" not in text:
            errs.append("not on debian:12")
        first_install = re.search(r"apt-get install[^&]*?--no-install-recommends(.*?)&&", text, re.S)
        pkgs = set(first_install.group(1).split()) if first_install else set()
        pkgs |= {"libtorch-dev", "libopenblas0-pthread"} & set(text.split())
        extra = sorted(pkgs - setup_pkgs)
        if not pkgs or extra:
            errs.append(f"build packages not in deploy/setup-debian.sh: {extra}")
    env_names = re.findall(r"\b(TUNER_[A-Z0-9_]+)=", " ".join(l for l in lines if l.startswith("ENV")))
    check_env_names(path, env_names)
    for e in errs:
        bad(f"{path}: {e}")
    if not errs:
        ok(f"{path}: stages {stages}, builds the three binaries")
sys.exit(1 if failed else 0)
PY

# ---------------------------------------------------------------- tools that may be absent
echo "== optional tools"
if docker compose version > /dev/null 2>&1; then
  if out="$(docker compose -f deploy/compose/docker-compose.yml --profile gpu --profile cli config -q 2>&1)"; then
    ok "docker compose config (all profiles)"
  else
    bad "docker compose config: $out"
  fi
elif command -v docker-compose > /dev/null 2>&1; then
  if out="$(docker-compose -f deploy/compose/docker-compose.yml --profile gpu config -q 2>&1)"; then
    ok "docker-compose config"
  else
    bad "docker-compose config: $out"
  fi
else
  skip "docker compose config: no docker compose plugin here (the YAML checks above stand in)"
fi
if command -v kubectl > /dev/null 2>&1; then
  if out="$(kubectl kustomize deploy/k8s 2>&1 > /dev/null)"; then ok "kubectl kustomize deploy/k8s"
  else bad "kubectl kustomize deploy/k8s: $out"; fi
else
  skip "kubectl kustomize: kubectl not installed (the YAML checks above stand in)"
fi

echo "== scripts"
for f in deploy/*.sh deploy/docker/*.sh; do
  if bash -n "$f" 2> "$TMP/err"; then ok "bash -n $f"; else bad "bash -n $f: $(cat "$TMP/err")"; fi
done

if [ "$FAILED" -ne 0 ]; then
  echo "validate: FAILED"
  exit 1
fi
echo "validate: all deploy checks passed"
