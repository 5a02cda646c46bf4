#!/usr/bin/env bash
# Prints the Debian/Ubuntu packages that own the shared libraries the given binaries load
# (ldd, then dpkg -S), one per line. The Dockerfiles' build stage writes this list and the
# runtime stage installs exactly it, so the runtime image holds the runtime libraries only and
# never drifts from what the build linked. Libraries no package owns (an unpacked LibTorch in
# /opt/libtorch) are skipped: the caller copies those itself.
# usage: runtime-packages.sh BINARY...
set -euo pipefail
for bin in "$@"; do
  ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u | while read -r lib; do
  # Merged /usr: dpkg may have recorded /lib/... or /usr/lib/...; try the path, its target
  # and both spellings.
  real="$(readlink -f "$lib")"
  for candidate in "$lib" "$real" "/usr${lib#/usr}" "${lib#/usr}" "/usr${real#/usr}" "${real#/usr}"; do
    owner="$(dpkg -S "$candidate" 2>/dev/null | grep -v '^diversion' | head -n1 | cut -d: -f1)" || true
    if [ -n "$owner" ]; then echo "$owner"; break; fi
  done
done | sort -u
