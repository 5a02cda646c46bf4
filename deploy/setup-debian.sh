#!/usr/bin/env bash
# Installs the Debian 12 packages tuner needs to build, test and run. Idempotent; downloads
# nothing but Debian packages. Run as root or with sudo available.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsqlite3-dev sqlite3 libboost-dev libspdlog-dev libyaml-cpp-dev libcli11-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev zlib1g-dev
  libtorch-dev libopenblas0-pthread
  dataset-fashion-mnist iproute2 openssl
  python3-torchvision python3-optuna python3-grpcio python3-protobuf
)

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
