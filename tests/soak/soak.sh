#!/usr/bin/env bash
# Soak under faults: one random-search study of N synthetic trials (3 epochs each) run by W
# trial-workers on 127.0.0.1 while a driver kill -9s a random worker every ~2 s (a replacement
# with the same name starts at once) and kill -9s the server M times (restarted on the same db
# and port, --lease-seconds 2). At the end every trial must be COMPLETED exactly once:
#   db:   N trial rows, N distinct numbers, all COMPLETED, N*epochs intermediate values;
#   logs: no trial completion acknowledged to two workers (doubled), every acknowledged value
#         is the db's value.
# Prints `soak: trials=N completed=N kills(worker)=K kills(server)=M re-leases=R lost=0
# doubled=0` and exits 0, or prints the figures and the logs' tails and exits 1.
#
# usage: soak.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN [--trials N] [--workers W] [--seconds S]
#                [--server-kills M] [--epochs E] [--sleep SECONDS] [--worker-kill-every SECONDS]
# defaults: 1000 trials, 16 workers, 900 s hard timeout, 2 server kills, 3 epochs, sleep 0.05 s
# per epoch, a worker kill every 1-3 s.
# Needs python3 with the sqlite3 module and python3-grpcio + python3-protobuf + protoc (to
# create the study). Loopback only; every process it starts is killed on exit.
set -uo pipefail
SERVER_BIN="$(realpath "$1")" WORKER_BIN="$(realpath "$2")"; shift 2
TRIALS=1000 WORKERS=16 SECONDS_MAX=900 SERVER_KILLS=2 EPOCHS=3 SLEEP=0.05 KILL_EVERY=2
while [ $# -gt 0 ]; do
  case "$1" in
    --trials) TRIALS="$2" ;;
    --workers) WORKERS="$2" ;;
    --seconds) SECONDS_MAX="$2" ;;
    --server-kills) SERVER_KILLS="$2" ;;
    --epochs) EPOCHS="$2" ;;
    --sleep) SLEEP="$2" ;;
    --worker-kill-every) KILL_EVERY="$2" ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3   # Debian's python has python3-grpcio
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tuner-soak-XXXXXX")"
DB="$WORK/tuner.db"
SERVER_PID="" PORT=0
declare -a WORKER_PID
ok=0

cleanup() {
  for pid in "${WORKER_PID[@]}" $SERVER_PID; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  if [ "$ok" -ne 1 ]; then
    echo "---- logs ($WORK) ----"
    for f in "$WORK"/server.log "$WORK"/worker-1.log; do
      [ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }
    done
  fi
  [ -n "${SOAK_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "soak: FAIL: $*" >&2; exit 1; }

start_server() {  # on the same db and, after the first start, the same port
  local tries
  for tries in 1 2 3 4 5 6 7 8 9 10; do
    rm -f "$WORK/port"
    "$SERVER_BIN" --db "$DB" --listen "127.0.0.1:$PORT" --port-file "$WORK/port" \
      --lease-seconds 2 --log-level warn >> "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
      [ -s "$WORK/port" ] && break
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.05
    done
    if [ -s "$WORK/port" ]; then PORT="$(cat "$WORK/port")"; return 0; fi
    kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null
    sleep 0.5   # e.g. the port is not free yet
  done
  die "tuner-server did not start on port $PORT"
}

start_worker() {  # slot
  local i="$1"
  "$WORKER_BIN" --server "127.0.0.1:$PORT" --name "soak-w$i" --work-dir "$WORK/w$i" \
    >> "$WORK/worker-$i.log" 2>&1 &
  WORKER_PID[$i]=$!
}

db_count() {  # completed trials of the study (the db is read while the server writes: WAL)
  "$PY" - "$DB" <<'PY' 2>/dev/null || echo 0
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=5)
print(db.execute("SELECT COUNT(*) FROM trials WHERE state='COMPLETED'").fetchone()[0])
PY
}

start_server
cat > "$WORK/spec.yaml" <<YAML
name: soak
algorithm: {kind: random, max_trials: $TRIALS}
seed: 17
max_attempts: 100
search_space:
  units: {type: choice, values: [128, 256, 512]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
  layers: {type: int, min: 1, max: 4}
trainer: {kind: synthetic, epochs: $EPOCHS, sleep_seconds: $SLEEP}
YAML
"$PY" - "$ROOT" "127.0.0.1:$PORT" "$WORK/spec.yaml" "$WORK/py" > "$WORK/study_id" <<'PY' || die "cannot create the study"
import os, subprocess, sys
root, address, spec, out = sys.argv[1:5]
os.makedirs(out, exist_ok=True)
subprocess.run(["protoc", f"--proto_path={root}", f"--python_out={out}", f"--grpc_python_out={out}",
                "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                os.path.join(root, "proto", "tuner.proto")], check=True)
sys.path.insert(0, out)
import grpc
from proto import tuner_pb2 as pb, tuner_pb2_grpc as rpc
stub = rpc.StudyServiceStub(grpc.insecure_channel(address))
print(stub.CreateStudy(pb.CreateStudyRequest(spec_yaml=open(spec).read()), timeout=30).study_id)
PY
for i in $(seq 1 "$WORKERS"); do start_worker "$i"; done

start=$SECONDS
deadline=$((SECONDS + SECONDS_MAX))
worker_kills=0 server_kills=0
next_worker_kill=$((SECONDS + 1))   # the first one early: the short soak lasts seconds
completed=0
while :; do
  [ $SECONDS -lt $deadline ] || die "hard timeout after ${SECONDS_MAX}s with $completed/$TRIALS completed"
  sleep 0.5
  completed="$(db_count)"
  [ "$completed" -ge "$TRIALS" ] && break
  # Server kills at evenly spread points of progress: kill -9, restart on the same db and port.
  if [ "$server_kills" -lt "$SERVER_KILLS" ] &&
     [ "$completed" -ge $(( TRIALS * (server_kills + 1) / (SERVER_KILLS + 1) )) ]; then
    kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
    server_kills=$((server_kills + 1))
    echo "soak: $((SECONDS - start))s: kill -9 tuner-server #$server_kills at $completed/$TRIALS completed"
    sleep 1
    start_server
  fi
  if awk -v s=$SECONDS -v n="$next_worker_kill" 'BEGIN{exit !(s >= n)}'; then
    i=$(( (RANDOM % WORKERS) + 1 ))
    kill -9 "${WORKER_PID[$i]}" 2>/dev/null; wait "${WORKER_PID[$i]}" 2>/dev/null
    worker_kills=$((worker_kills + 1))
    start_worker "$i"
    next_worker_kill=$(awk -v s=$SECONDS -v k="$KILL_EVERY" -v r=$RANDOM \
      'BEGIN{print s + k * (0.5 + r / 32767)}')
  fi
done
elapsed=$((SECONDS - start))
for pid in "${WORKER_PID[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
kill -TERM "$SERVER_PID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null
WORKER_PID=() SERVER_PID=""

"$PY" - "$DB" "$WORK" "$TRIALS" "$EPOCHS" "$worker_kills" "$server_kills" "$elapsed" <<'PY'
import collections, glob, re, sqlite3, sys
db_path, work, n, epochs, wkills, skills, elapsed = sys.argv[1:8]
n, epochs = int(n), int(epochs)
db = sqlite3.connect(db_path)
rows, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT number) FROM trials").fetchone()
completed = db.execute("SELECT COUNT(*) FROM trials WHERE state='COMPLETED'").fetchone()[0]
states = dict(db.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall())
values = db.execute("SELECT COUNT(*) FROM intermediate_values").fetchone()[0]
releases = db.execute("SELECT COALESCE(SUM(attempt - 1), 0) FROM trials").fetchone()[0]
value_of = dict(db.execute("SELECT id, value FROM trials").fetchall())
# What the workers were told: one log line per acknowledged CompleteTrial.
done = re.compile(r"study \d+ trial (\d+): COMPLETED at epoch \d+ with value (\S+)")
acks = collections.defaultdict(list)
for path in glob.glob(f"{work}/worker-*.log"):
    for line in open(path, errors="replace"):
        m = done.search(line)
        if m:
            acks[int(m.group(1))].append(m.group(2))
doubled = sum(1 for v in acks.values() if len(v) > 1)
mismatched = [t for t, v in acks.items()
              if t not in value_of or value_of[t] is None or f"{value_of[t]:.6g}" != v[0]]
lost = n - completed
print(f"soak: trials={rows} completed={completed} kills(worker)={wkills} kills(server)={skills} "
      f"re-leases={releases} lost={lost} doubled={doubled}")
print(f"soak: {elapsed}s; states {states}; {values} intermediate values (expected {n * epochs}); "
      f"{sum(len(v) for v in acks.values())} completions acknowledged to workers "
      f"(the rest were committed while their worker or the server was being killed); "
      f"{len(mismatched)} acknowledged values differ from the db")
problems = []
if rows != n or distinct != n: problems.append(f"{rows} trial rows, {distinct} distinct numbers, expected {n}")
if lost: problems.append(f"{lost} trials not COMPLETED")
if values != n * epochs: problems.append(f"{values} intermediate values, expected {n * epochs}")
if doubled: problems.append(f"{doubled} trials acknowledged twice: {[t for t, v in acks.items() if len(v) > 1][:10]}")
if mismatched: problems.append(f"acknowledged values not in the db: trials {mismatched[:10]}")
if int(wkills) < 1 or int(skills) < 1: problems.append("the driver made no kills")
for p in problems: print("soak: FAIL:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
rc=$?
[ $rc -eq 0 ] && ok=1
exit $rc
