#!/usr/bin/env bash
# A client generated from proto/tuner.proto in another language (Python) drives a whole study.
# usage: python_client_test.sh TUNER_SERVER_BIN
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import grpc, google.protobuf" 2>/dev/null \
  || fail "python3-grpcio / python3-protobuf missing: run deploy/setup-debian.sh"
start_server "$1"
/usr/bin/python3 "$(dirname "$0")/../../examples/python_client.py" "$TUNER_SERVER"
