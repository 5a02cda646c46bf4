#!/usr/bin/env bash
# Several nodes on one machine: network namespaces joined by veth pairs through a bridge.
#
#   node A (server)  10.77.0.1  tuner-server --lease-seconds 3, the bridge, tunectl
#   node B (workers) 10.77.0.2  two trial-workers
#   node C (workers) 10.77.0.3  two trial-workers   <- its link is cut mid-study, then restored
#
# A synthetic study of 24 trials runs across both worker nodes. While node C's workers hold
# trials its link goes down (`ip link set eth0 down` inside node C) for longer than the lease:
# the server must re-queue those trials and node B must finish them (attempt 2). Then the link
# comes back, node C's workers reconnect, and the study completes with exactly 24 trials, each
# number once, all COMPLETED, every trial with exactly its 6 epochs stored once.
#
# Needs root and `ip netns` (iproute2); otherwise prints a line starting with "SKIP:" and exits 0.
# Every address lives inside namespaces this script creates (nothing touches the host's
# interfaces or routes) and every namespace, veth and process is removed on exit.
# usage: multinode_netns_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
set -euo pipefail
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
TRIALS=24
LEASE_SECONDS=3

skip() { echo "SKIP: $*"; exit 0; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "multinode netns test needs root (network namespaces); run it as root"
command -v ip > /dev/null || skip "multinode netns test needs iproute2 ('ip' not found)"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # the system one: starts fastest, has sqlite3
for bin in "$SERVER_BIN" "$WORKER_BIN" "$TUNECTL"; do [ -x "$bin" ] || fail "$bin is not executable"; done

# Names unique per run, so parallel runs never collide. Interface names stay within the
# kernel's 15 characters and exist only inside the namespaces.
TAG="tn$$"
NS_A="${TAG}-a" NS_B="${TAG}-b" NS_C="${TAG}-c"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tuner-netns-XXXXXX")"
PIDS=()
NAMESPACES=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Anything else still inside our namespaces was started by this script.
  for ns in "${NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true   # removes its veths and the bridge with it
  done
  if [ "$rc" -ne 0 ]; then
    echo "---- logs ($WORK) ----"
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the three nodes
if ! ip netns add "$NS_A" 2> "$WORK/netns.err"; then
  skip "multinode netns test needs 'ip netns' (network namespaces): $(cat "$WORK/netns.err")"
fi
NAMESPACES+=("$NS_A")
for ns in "$NS_B" "$NS_C"; do ip netns add "$ns"; NAMESPACES+=("$ns"); done
for ns in "${NAMESPACES[@]}"; do ip -n "$ns" link set lo up; done

ip -n "$NS_A" link add br0 type bridge
ip -n "$NS_A" addr add 10.77.0.1/24 dev br0
ip -n "$NS_A" link set br0 up
host=2
for ns in "$NS_B" "$NS_C"; do
  # One veth pair per worker node: "pN" on the bridge in node A, "eth0" inside the node.
  ip -n "$NS_A" link add "p$host" type veth peer name eth0 netns "$ns"
  ip -n "$NS_A" link set "p$host" master br0
  ip -n "$NS_A" link set "p$host" up
  ip -n "$ns" addr add "10.77.0.$host/24" dev eth0
  ip -n "$ns" link set eth0 up
  host=$((host + 1))
done
for ns in "$NS_B" "$NS_C"; do
  ok=""
  for _ in $(seq 1 50); do
    ip netns exec "$ns" ping -c1 -W1 10.77.0.1 > /dev/null 2>&1 && { ok=1; break; }
    sleep 0.1
  done
  # ping may be missing; the server start below is the real test of the link.
  [ -n "$ok" ] || command -v ping > /dev/null || break
  [ -n "$ok" ] || fail "node $ns cannot reach 10.77.0.1 over its veth"
done
echo "nodes: A=$NS_A 10.77.0.1 (server), B=$NS_B 10.77.0.2, C=$NS_C 10.77.0.3 (2 workers each)"

# ---------------------------------------------------------------- server, workers, study
ip netns exec "$NS_A" "$SERVER_BIN" --db "$WORK/tuner.db" --listen 10.77.0.1:0 \
  --port-file "$WORK/port" --lease-seconds "$LEASE_SECONDS" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/port" ] && break; sleep 0.05; done
[ -s "$WORK/port" ] || fail "tuner-server did not start in node A"
ADDR="10.77.0.1:$(cat "$WORK/port")"

for node in B C; do
  ns_var="NS_$node"
  for i in 1 2; do
    name="node$node-w$i"
    ip netns exec "${!ns_var}" "$WORKER_BIN" --server "$ADDR" --name "$name" --device cpu \
      --threads 1 --work-dir "$WORK/$name" > "$WORK/$name.log" 2>&1 &
    PIDS+=($!)
  done
done

cat > "$WORK/spec.yaml" <<YAML
name: multinode-netns
algorithm: {kind: random, max_trials: $TRIALS}
max_attempts: 3
seed: 7
search_space:
  units: {type: choice, values: [128, 256, 512]}
  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 6, sleep_seconds: 0.2}
YAML
tunectl() { ip netns exec "$NS_A" "$TUNECTL" --server "$ADDR" "$@"; }
STUDY="$(tunectl start-study "$WORK/spec.yaml")" || fail "tunectl start-study failed"
[[ "$STUDY" =~ ^[0-9]+$ ]] || fail "start-study printed '$STUDY', not a study id"
T0=$SECONDS
echo "study $STUDY: $TRIALS trials x 6 epochs x 0.2 s on 4 workers, lease ${LEASE_SECONDS}s, server $ADDR"

# Read-only queries of the server's db (WAL: readers never block the server).
db() {
  "$PY" - "$WORK/tuner.db" "$STUDY" "$@" <<'PY'
import sqlite3, sys
db, study, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
q = lambda sql, *a: con.execute(sql, a).fetchall()
if what == "held-by-c":       # trials node C's workers hold now: "id:number:attempt ..."
    rows = q("SELECT t.id, t.number, t.attempt FROM trials t JOIN workers w ON w.id = t.worker_id "
             "WHERE t.study_id = ? AND t.state = 'RUNNING' AND w.name LIKE 'nodeC-%'", study)
    print(" ".join(f"{i}:{n}:{a}" for i, n, a in rows))
elif what == "completed":
    print(q("SELECT COUNT(*) FROM trials WHERE study_id = ? AND state = 'COMPLETED'", study)[0][0])
elif what == "attempt":       # attempt and state of one trial id
    print(*q("SELECT attempt, state FROM trials WHERE id = ?", int(sys.argv[4]))[0])
elif what == "state":
    print(q("SELECT state FROM studies WHERE id = ?", study)[0][0].replace("STUDY_", ""))
PY
}

# Cut node C while both its workers hold a trial, after some trials have completed.
deadline=$((SECONDS + 30))
while :; do
  completed="$(db completed 2>/dev/null || echo 0)"
  held="$(db held-by-c 2>/dev/null || true)"
  [ "$completed" -ge 2 ] && [ "$(wc -w <<< "$held")" -ge 2 ] && break
  [ $SECONDS -lt $deadline ] || fail "node C's workers never held two trials at once (see nodeC-*.log)"
  sleep 0.1
done
ip -n "$NS_C" link set eth0 down
CUT_AT=$SECONDS CUT_WALL="$(date +%s.%N)"
# What node C holds now that it is cut off (a completion already on its way before the cut may
# still land: let it, then look).
sleep 0.5
held="$(db held-by-c)"
[ -n "$held" ] || fail "node C held no trial once cut (it held $completed before)"
echo "t=$((CUT_AT - T0))s: $completed trials completed; node C link DOWN while it holds trials" \
     "(id:number:attempt) $held"

# The server must re-queue each of them once its lease expires, and node B re-lease them.
for entry in $held; do
  IFS=: read -r id number attempt <<< "$entry"
  until [ "$(db attempt "$id" | cut -d' ' -f1)" -gt "$attempt" ]; do
    [ $((SECONDS - CUT_AT)) -lt $((LEASE_SECONDS + 15)) ] || fail "trial $id was not re-leased after node C was cut"
    sleep 0.1
  done
done
echo "t=$((SECONDS - T0))s: every cut trial re-leased (attempt > 1) while node C is still cut"
# Keep the link down past the lease, so the cut workers' own leases are surely gone.
while [ $((SECONDS - CUT_AT)) -le $((LEASE_SECONDS + 1)) ]; do sleep 0.1; done
ip -n "$NS_C" link set eth0 up
HEAL_AT=$SECONDS HEAL_WALL="$(date +%s.%N)"
echo "t=$((HEAL_AT - T0))s: node C link UP again after $((HEAL_AT - CUT_AT))s down"

deadline=$((SECONDS + 60))
until [ "$(db state)" = "COMPLETED" ]; do
  [ $SECONDS -lt $deadline ] || fail "study $STUDY still $(db state) 60s after node C came back"
  sleep 0.2
done
echo "t=$((SECONDS - T0))s: study $STUDY COMPLETED"

# ---------------------------------------------------------------- what the user sees, and the db
tunectl trials "$STUDY" --json > "$WORK/trials.json" || fail "tunectl trials $STUDY --json failed"
# The db says what was stored; the workers' logs say who had each completion acknowledged
# (the server clears a trial's worker when it completes).
"$PY" - "$WORK" "$STUDY" "$TRIALS" "$held" "$CUT_WALL" "$HEAL_WALL" <<'PY'
import datetime, glob, json, os, re, sqlite3, sys
work, study, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cut = {int(e.split(":")[0]) for e in sys.argv[4].split()}
cut_wall, heal_wall = float(sys.argv[5]), float(sys.argv[6])
con = sqlite3.connect(f"file:{work}/tuner.db?mode=ro", uri=True)
rows = con.execute("SELECT id, number, state, value, attempt, epochs_done FROM trials "
                   "WHERE study_id = ? ORDER BY number", (study,)).fetchall()
epochs = dict(con.execute(
    "SELECT trial_id, COUNT(*) FROM intermediate_values GROUP BY trial_id").fetchall())
last = dict(con.execute(
    "SELECT trial_id, value FROM intermediate_values WHERE epoch = 6 AND execution = 0").fetchall())

# "[2026-01-01 10:00:00.123] [info] worker NAME study S trial T: COMPLETED at epoch 6 ..."
done_re = re.compile(r"^\[([\d-]+ [\d:.]+)\] \[\w+\] worker (\S+) study (\d+) trial (\d+): COMPLETED")
completions = []   # (time, worker, trial id)
dropped = {}
for log in sorted(glob.glob(os.path.join(work, "node*-w*.log"))):
    worker = os.path.basename(log)[:-4]
    for line in open(log, errors="replace"):
        m = done_re.match(line)
        if m and int(m.group(3)) == study:
            at = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            completions.append((at, m.group(2), int(m.group(4))))
        if "dropped (lease lost" in line:
            dropped[worker] = dropped.get(worker, 0) + 1
by_trial = {}
for at, worker, tid in completions:
    by_trial.setdefault(tid, []).append((at, worker))

errors = []
numbers = [r[1] for r in rows]
if len(rows) != n:
    errors.append(f"{len(rows)} trials in the db, expected exactly {n}")
if len(set(numbers)) != len(numbers):
    errors.append(f"trial numbers repeat: {sorted(numbers)}")
bad = [(r[0], r[2]) for r in rows if r[2] != "COMPLETED" or r[3] is None]
if bad:
    errors.append(f"trials not COMPLETED with a value: {bad}")
wrong_epochs = [(r[0], epochs.get(r[0])) for r in rows if epochs.get(r[0]) != 6 or r[5] != 6]
if wrong_epochs:
    errors.append(f"trials without exactly 6 stored epochs: {wrong_epochs}")
mismatch = [r[0] for r in rows if r[3] is not None and abs(r[3] - last.get(r[0], -1)) > 1e-9]
if mismatch:
    errors.append(f"trial value differs from its epoch-6 report: {mismatch}")
twice = {tid: v for tid, v in by_trial.items() if len(v) != 1}
if len(completions) != n or twice:
    errors.append(f"{len(completions)} acknowledged completions in the worker logs, expected {n} "
                  f"(one per trial); trials completed other than once: {twice}")
by_id = {r[0]: r for r in rows}
for tid in sorted(cut):
    if tid not in by_id or by_id[tid][4] < 2:
        errors.append(f"cut trial {tid} was not re-leased (attempt {by_id.get(tid, [0] * 5)[4]})")
relet = [r for r in rows if r[4] > 1]
node_c = [(at, w, tid) for at, w, tid in completions if w.startswith("nodeC-")]
# (0.5 s of grace: an acknowledgement already received at the cut may be logged just after.)
during_cut = [tid for at, w, tid in node_c if cut_wall + 0.5 < at < heal_wall]
if during_cut:
    errors.append(f"node C completed trials while its link was down: {during_cut}")
after_heal = [(w, tid) for at, w, tid in node_c if at > heal_wall]
if not after_heal:
    errors.append("node C's workers completed no trial after the link came back")

# The user's view (tunectl trials --json) must agree with the db.
view = json.load(open(os.path.join(work, "trials.json")))["trials"]
if len(view) != n or any(t.get("state") != "COMPLETED" for t in view):
    errors.append(f"tunectl trials --json shows {len(view)} trials, states "
                  f"{sorted({str(t.get('state')) for t in view})}")
if view and "attempt" in view[0]:
    view_relet = {int(t["trial_id"]) for t in view if int(t.get("attempt") or 0) > 1}
    if view_relet != {r[0] for r in relet}:
        errors.append(f"tunectl shows re-leased trials {sorted(view_relet)}, "
                      f"the db {[r[0] for r in relet]}")

per_worker = {}
for _, w, _ in completions:
    per_worker[w] = per_worker.get(w, 0) + 1
number_of = {r[0]: r[1] for r in rows}
print(f"figures: {len(rows)} trials, {sum(r[2] == 'COMPLETED' for r in rows)} COMPLETED, numbers "
      f"{min(numbers, default=-1)}..{max(numbers, default=-1)} each once, "
      f"{sum(epochs.get(r[0], 0) for r in rows)} epoch values stored (= {n} x 6), "
      f"{len(completions)} completions acknowledged")
print("figures: cut trials (held by node C) " + ", ".join(
    f"id {tid} #{number_of.get(tid)} -> attempt {by_id[tid][4]}, completed by "
    f"{'/'.join(w for _, w in by_trial.get(tid, []))}" for tid in sorted(cut) if tid in by_id))
print(f"figures: trials with attempt > 1: {len(relet)} ({', '.join(f'#{r[1]}' for r in relet)}); "
      f"stale leases dropped by node C's workers after healing: {sum(dropped.values())}")
print(f"figures: node C after healing completed {len(after_heal)} trial(s): "
      + ", ".join(f"#{number_of.get(tid)} by {w}" for w, tid in after_heal))
print("figures: completions per worker: "
      + ", ".join(f"{k}={v}" for k, v in sorted(per_worker.items())))
if errors:
    print("FAIL: " + "; ".join(errors), file=sys.stderr)
    sys.exit(1)
PY
echo "multinode netns: ok in $((SECONDS - T0))s"
