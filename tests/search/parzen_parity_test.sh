#!/usr/bin/env bash
# Our Parzen estimator against Optuna's, same observations, same run. Fails (never skips) when
# python3-optuna is missing.
#   parzen_parity_test.sh PARITY_TEST_BINARY
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/parzen_parity.py" "$work/parity.json"
TUNER_PARZEN_PARITY_FILE="$work/parity.json" "$1"
