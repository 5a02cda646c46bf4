#!/usr/bin/env bash
# Sets up, builds (clean build dir by default) and runs every test with ctest. This is the
# README's test command and what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/setup-debian.sh --tests
BUILD_DIR="${BUILD_DIR:-build-tests}"
JOBS="${JOBS:-$(nproc)}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTUNER_BUILD_TESTS=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 900
