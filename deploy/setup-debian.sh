#!/usr/bin/env bash
# Installs the Debian 12 packages tuner needs to build, test and run. Idempotent; downloads
# nothing but Debian packages. Run as root or with sudo available.
#
#   ./deploy/setup-debian.sh           # what building and running need
#   ./deploy/setup-debian.sh --tests   # plus what only the tests use (chromium, for the
#                                      # headless check of `tunectl report`)
set -euo pipefail

WITH_TESTS=0
for arg in "$@"; do
  case "$arg" in
    --tests) WITH_TESTS=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "setup: unknown argument $arg (allowed: --tests)" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake pkg-config clang-14
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler prometheus-cpp-dev
  libsqlite3-dev sqlite3 libboost-dev libspdlog-dev libyaml-cpp-dev libcli11-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev zlib1g-dev libeigen3-dev liblbfgs-dev
  libtorch-dev libopenblas0-pthread libopenblas0-openmp
  dataset-fashion-mnist iproute2 openssl
  python3-torchvision python3-optuna python3-grpcio python3-protobuf
)
TEST_PACKAGES=(chromium)
if [ "$WITH_TESTS" -eq 1 ]; then PACKAGES+=("${TEST_PACKAGES[@]}"); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi
