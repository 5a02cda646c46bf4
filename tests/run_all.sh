#!/usr/bin/env bash
# Sets up, builds and runs every test with ctest. This is the README's test command and what
# .ci/run runs:
#   1. Release build (with LibTorch): every test.
#   2. ASan + UBSan build (no LibTorch; CMakePresets.json `asan`): every test again, sanitizers
#      aborting on the first report.
#   3. TSan build of the storage tests (`tsan` preset; see docs/reliability.md for why only those).
#   4. clang -Wthread-safety -Werror build of the tuner_server library (`tsa` preset: clang-14,
#      no LibTorch, no tests; compiles only tuner_server and the libraries it links).
# SANITIZERS=0 skips stages 2 and 3 (a quick local run); TSA=0 skips stage 4.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/setup-debian.sh --tests
BUILD_DIR="${BUILD_DIR:-build-tests}"
JOBS="${JOBS:-$(nproc)}"
SANITIZERS="${SANITIZERS:-1}"
TSA="${TSA:-1}"

echo "== run_all: Release build and tests ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTUNER_BUILD_TESTS=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 900

if [ "$SANITIZERS" != "0" ]; then
  echo "== run_all: ASan + UBSan build and tests (build-asan)"
  cmake --preset asan
  cmake --build --preset asan -j "$JOBS"
  ctest --preset asan -j "$JOBS"
  echo "== run_all: TSan storage tests (build-tsan)"
  cmake --preset tsan
  cmake --build --preset tsan -j "$JOBS" --target storage_tests
  ctest --preset tsan
fi
if [ "$TSA" != "0" ]; then
  echo "== run_all: clang thread-safety analysis of tuner_server (build-tsa)"
  cmake --preset tsa
  cmake --build --preset tsa -j "$JOBS"
fi
echo "== run_all: all tests passed"
