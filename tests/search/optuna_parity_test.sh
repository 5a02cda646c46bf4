#!/usr/bin/env bash
# Ours against Optuna's own code, same inputs, same run: the python script writes what Optuna
# decided or built, the C++ test binary replays the inputs and compares. Fails (never skips)
# when python3-optuna is missing.
#   optuna_parity_test.sh SCRIPT.py ENV_VARIABLE TEST_BINARY
set -euo pipefail
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$1" "$work/parity.json"
env "$2=$work/parity.json" "$3"
