#!/usr/bin/env bash
# The tuner Python client (clients/python) against a real tuner-server and trial-worker: its
# unit tests, then tests/test_study.py (Study helpers, and a program using tuner.report()
# through the command trainer). Its stubs are generated from proto/tuner.proto on first use.
# usage: python_tuner_client_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN
source "$(dirname "$0")/lib.sh"
CLIENT="$(cd "$(dirname "$0")/../../clients/python" && pwd)"
/usr/bin/python3 -c "import grpc, google.protobuf" 2>/dev/null \
  || fail "python3-grpcio / python3-protobuf missing: run deploy/setup-debian.sh"
export XDG_CACHE_HOME="$WORK/cache"  # stubs generated here, not in the user's cache
export PYTHONDONTWRITEBYTECODE=1      # no __pycache__ in the source tree
(cd "$WORK" && /usr/bin/python3 -m unittest discover -s "$CLIENT/tests" -p 'test_trial.py')
start_server "$1"
start_workers "$2" 2
TUNER_TEST_WORK="$WORK" /usr/bin/python3 -m unittest discover -v -s "$CLIENT/tests" -p 'test_study.py' 2>&1 \
  | tee "$WORK/study.log"
grep -q "^OK" "$WORK/study.log" || fail "test_study.py failed"
grep -q "skipped" "$WORK/study.log" && fail "test_study.py was skipped"
echo "python tuner client: ok"
