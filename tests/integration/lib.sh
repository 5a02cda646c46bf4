# Shared helpers for the process-level tests: real tuner-server / trial-worker / tunectl
# binaries on 127.0.0.1 with an OS-chosen port and a temp db. Every process started here is
# killed on exit.
set -euo pipefail
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tuner-it-XXXXXX")"
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "---- logs ($WORK) ----"
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 40 "$f"; }; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# start_server SERVER_BIN [extra flags...]: starts (or restarts on the same db and port) and
# sets SERVER_PID and TUNER_SERVER.
start_server() {
  local bin="$1"; shift
  local listen="127.0.0.1:${SERVER_PORT:-0}"
  rm -f "$WORK/port"
  "$bin" --db "$WORK/tuner.db" --listen "$listen" --port-file "$WORK/port" "$@" \
    >> "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 200); do [ -s "$WORK/port" ] && break; sleep 0.05; done
  [ -s "$WORK/port" ] || fail "tuner-server did not start"
  SERVER_PORT="$(cat "$WORK/port")"
  export TUNER_SERVER="127.0.0.1:$SERVER_PORT"
}

# start_workers WORKER_BIN COUNT [extra flags...]
start_workers() {
  local bin="$1" count="$2"; shift 2
  for i in $(seq 1 "$count"); do
    "$bin" --server "$TUNER_SERVER" --name "w$i" --work-dir "$WORK/w$i" "$@" \
      >> "$WORK/worker-$i.log" 2>&1 &
    PIDS+=($!)
  done
}

# wait_study TUNECTL STUDY TIMEOUT_S: until the study is no longer running.
wait_study() {
  local tunectl="$1" study="$2" timeout="$3"
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    state="$("$tunectl" status "$study" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("state",""))' || true)"
    case "$state" in STUDY_COMPLETED|STUDY_STOPPED) return 0 ;; esac
    sleep 0.3
  done
  fail "study $study still running after ${timeout}s"
}

# make_tiny_cifar10 DIR: a tiny CIFAR-10 in the official binary format (5 x 24 training images,
# 40 test images) with learnable colour / stripe patterns per label.
make_tiny_cifar10() {
  mkdir -p "$1"
  python3 - "$1" <<'PY'
import random, sys
rng = random.Random(1)
def image(label):
    out = bytearray([label])
    for c in range(3):
        level = 40 + (label * (c + 3) * 37) % 180
        for y in range(32):
            for x in range(32):
                v = level + (30 if ((y // 4) % 2 == 0 if label % 2 == 0 else (x // 4) % 2 == 0) else 0)
                out.append(max(0, min(255, v + rng.randint(-20, 20))))
    return out
def write(name, n):
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        for _ in range(n):
            f.write(image(rng.randrange(10)))
for b in range(1, 6):
    write(f"data_batch_{b}.bin", 24)
write("test_batch.bin", 40)
PY
}
