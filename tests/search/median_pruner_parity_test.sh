#!/usr/bin/env bash
# Our median pruner against Optuna's, same reports, same run: python writes Optuna's decisions,
# the C++ test replays them. Fails (never skips) when python3-optuna is missing.
#   median_pruner_parity_test.sh PARITY_TEST_BINARY
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/median_pruner_parity.py" "$work/parity.json"
TUNER_PRUNER_PARITY_FILE="$work/parity.json" "$1"
