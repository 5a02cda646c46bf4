#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a finished study: installs the packages,
# builds (Release), starts tuner-server on a local SQLite file and local trial-workers (CPU),
# runs a study with live progress, prints the best hyperparameters, writes an HTML report of the
# study (tunectl report) and stops every process it started on exit or Ctrl-C.
#
#   ./deploy/quickstart.sh                       # Fashion-MNIST study (torch trainer, CPU)
#   ./deploy/quickstart.sh examples/synthetic-random.yaml   # any spec
#   WORKERS=2 THREADS=1 ./deploy/quickstart.sh   # worker layout (default: 1 worker, all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SPEC="${1:-examples/fashion-mnist-quickstart.yaml}"
STATE_DIR="${STATE_DIR:-$ROOT/.quickstart}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
WORKERS="${WORKERS:-1}"
THREADS="${THREADS:-$(nproc)}"

[ -f "$SPEC" ] || { echo "quickstart: spec file $SPEC not found" >&2; exit 2; }

./deploy/setup-debian.sh
mkdir -p "$STATE_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTUNER_BUILD_TESTS=OFF > "$STATE_DIR/cmake.log" 2>&1 \
  || { cat "$STATE_DIR/cmake.log" >&2; exit 1; }
echo "quickstart: building (Release) in $BUILD_DIR ..."
cmake --build "$BUILD_DIR" -j "$(nproc)" --target tuner-server trial-worker tunectl > "$STATE_DIR/build.log" 2>&1 \
  || { tail -50 "$STATE_DIR/build.log" >&2; exit 1; }

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo; echo "quickstart: interrupted, stopping"; exit 130' INT TERM

rm -f "$STATE_DIR/port"
"$BUILD_DIR/tuner-server/tuner-server" --db "$STATE_DIR/tuner.db" --listen 127.0.0.1:0 \
  --port-file "$STATE_DIR/port" > "$STATE_DIR/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$STATE_DIR/port" ] && break; sleep 0.1; done
[ -s "$STATE_DIR/port" ] || { echo "quickstart: tuner-server did not start:" >&2; cat "$STATE_DIR/server.log" >&2; exit 1; }
export TUNER_SERVER="127.0.0.1:$(cat "$STATE_DIR/port")"
echo "quickstart: tuner-server on $TUNER_SERVER, db $STATE_DIR/tuner.db"

for i in $(seq 1 "$WORKERS"); do
  "$BUILD_DIR/trial-worker/trial-worker" --name "local-$i" --device auto --threads "$THREADS" \
    --cache-dir "$STATE_DIR/cache" > "$STATE_DIR/worker-$i.log" 2>&1 &
  PIDS+=($!)
done
echo "quickstart: $WORKERS trial-worker(s) with $THREADS thread(s) each; logs in $STATE_DIR"

TUNECTL="$BUILD_DIR/tunectl/tunectl"
STUDY=$("$TUNECTL" start-study "$SPEC")
"$TUNECTL" watch "$STUDY"
echo
"$TUNECTL" status "$STUDY"
"$TUNECTL" report "$STUDY" --html "$STATE_DIR/report.html" > /dev/null
echo
echo "Best hyperparameters:"
"$TUNECTL" best "$STUDY"
"$TUNECTL" best "$STUDY" --json > "$STATE_DIR/best.json"
echo
echo "quickstart: db $STATE_DIR/tuner.db; best as JSON in $STATE_DIR/best.json"
echo "quickstart: report (plots, all trials; open it in a browser) in $STATE_DIR/report.html"
