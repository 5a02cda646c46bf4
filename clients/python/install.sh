#!/bin/sh
# Installs the tuner Python client for /usr/bin/python3: copies clients/python/tuner into the
# user's site-packages (or DIR) and generates its gRPC stubs there from proto/tuner.proto.
# Needs Debian's python3-grpcio, python3-protobuf, protobuf-compiler and protobuf-compiler-grpc
# (deploy/setup-debian.sh installs them); downloads nothing.
#
#   clients/python/install.sh                # ~/.local/lib/python3.X/site-packages
#   clients/python/install.sh --target DIR   # DIR/tuner (put DIR on PYTHONPATH)
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-/usr/bin/python3}"
TARGET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) [ $# -ge 2 ] || { echo "install.sh: --target needs a directory" >&2; exit 2; }
              TARGET="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (allowed: --target DIR)" >&2; exit 2 ;;
  esac
done
[ -n "$TARGET" ] || TARGET="$("$PY" -m site --user-site)"
mkdir -p "$TARGET"
rm -rf "$TARGET/tuner"
cp -r "$HERE/tuner" "$TARGET/tuner"
find "$TARGET/tuner" -name __pycache__ -prune -exec rm -rf {} +
"$PY" - "$HERE/../../proto/tuner.proto" "$TARGET/tuner/_proto" "$HERE" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
from tuner import _stubs
_stubs.generate(sys.argv[1], sys.argv[2])
PY
"$PY" -c "import sys; sys.path.insert(0, '$TARGET'); import tuner.study" \
  || { echo "install.sh: installed, but 'import tuner.study' fails (python3-grpcio missing?)" >&2; exit 1; }
echo "tuner client installed in $TARGET/tuner"
