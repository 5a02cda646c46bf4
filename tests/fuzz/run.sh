#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan+UBSan) and runs each for a fixed number of
# executions on its seed corpus plus its regression cases. Exits non-zero on the first crash,
# leak, UB report or timeout; libFuzzer writes the input to $FUZZ_ARTIFACTS (keep it under
# tests/fuzz/regressions/<target>/ once the bug is fixed).
#
#   tests/fuzz/run.sh                      # every target, FUZZ_RUNS=20000 each
#   FUZZ_RUNS=1000000 tests/fuzz/run.sh fuzz_state_dict   # the weights reader (needs LibTorch)
#   FUZZ_RUNS=200000 tests/fuzz/run.sh fuzz_rpc_requests
#
# env: FUZZ_RUNS (executions per target), FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build
# jobs, default 2), FUZZ_ARTIFACTS (crash inputs, default $FUZZ_BUILD_DIR/artifacts),
# FUZZ_MAX_LEN (default 4096), FUZZ_TIMEOUT (seconds per input, default 10), FUZZ_FLAGS (more
# libFuzzer flags). The corpus in the repo is never written to: new inputs go to a copy.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUNS="${FUZZ_RUNS:-20000}"
BUILD="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
ARTIFACTS="${FUZZ_ARTIFACTS:-$BUILD/artifacts}"
TARGETS=("$@")

command -v clang++-14 >/dev/null || {
  echo "run.sh: needs clang-14 libfuzzer-14-dev libclang-rt-14-dev (apt-get install)" >&2; exit 2; }
if [ ! -f "$BUILD/CMakeCache.txt" ] || [ ! -f "$BUILD/fuzz_targets.txt" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$HERE" -B "$BUILD" -DTUNER_BUILD_FUZZERS=ON >/dev/null
fi
# Default: every target this build can make (fuzz_state_dict only where LibTorch is found).
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < "$BUILD/fuzz_targets.txt"
cmake --build "$BUILD" -j"${FUZZ_JOBS:-2}" --target "${TARGETS[@]}"

mkdir -p "$ARTIFACTS"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for target in "${TARGETS[@]}"; do
  work="$BUILD/corpus-work/$target"
  mkdir -p "$work"
  # Regression cases first (each must still pass), then fuzz from the seeds.
  regressions=("$HERE/regressions/$target"/*)
  regressions=("${regressions[@]/*README.md/}")
  for input in "${regressions[@]}"; do
    [ -f "$input" ] || continue
    "$BUILD/$target" "$input" >/dev/null 2>"$BUILD/$target.regression.log" || {
      echo "FAIL: $target crashes on regression case $input" >&2
      tail -n 40 "$BUILD/$target.regression.log" >&2; status=1; }
  done
  start=$SECONDS
  # shellcheck disable=SC2086
  if "$BUILD/$target" -runs="$RUNS" -max_len="${FUZZ_MAX_LEN:-4096}" \
      -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -seed=1 -print_final_stats=1 \
      -artifact_prefix="$ARTIFACTS/$target-" ${FUZZ_FLAGS:-} \
      "$work" "$HERE/corpus/$target" > "$BUILD/$target.log" 2>&1; then
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/$target.log" | grep -o '[0-9]*$' || echo '?')"
    cov="$(grep -o 'cov: [0-9]*' "$BUILD/$target.log" | tail -n1 || true)"
    echo "$target: OK, $execs executions in $((SECONDS - start))s ($cov; $(ls "$work" | wc -l) inputs in $work)"
  else
    echo "FAIL: $target crashed; inputs in $ARTIFACTS, log $BUILD/$target.log" >&2
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written|#[0-9]+ 0x' "$BUILD/$target.log" | head -n 30 >&2
    status=1
  fi
done
exit $status
