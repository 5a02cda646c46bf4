#!/usr/bin/env bash
# File descriptors of a real tuner-server (issue 13, row 4): the server runs under a low
# RLIMIT_NOFILE (prlimit); more idle TCP connections than it has descriptors are opened to its
# gRPC port (no token, no bytes sent). While they are held the server must not spin; after they
# close a real RPC (tunectl) must succeed. Before the fix gRPC's listener stopped for good on
# the first EMFILE ("Failed accept4: Too many open files") and never accepted again.
# Then: a connection that never sends the HTTP/2 preface is closed by the server after
# --handshake-timeout-seconds.
# usage: fd_exhaustion_test.sh TUNER_SERVER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" TUNECTL="$2"
NOFILE=128        # the server's soft and hard RLIMIT_NOFILE
CONNECTIONS=400   # idle connections opened at once: well over NOFILE

command -v prlimit > /dev/null || { echo "SKIP: prlimit (util-linux) not installed"; exit 0; }
cat > "$WORK/limited-server" <<SH
#!/bin/sh
exec prlimit --nofile=$NOFILE:$NOFILE "$SERVER_BIN" "\$@"
SH
chmod +x "$WORK/limited-server"
start_server "$WORK/limited-server" --handshake-timeout-seconds 3
"$TUNECTL" studies > /dev/null || fail "no RPC before the attack"

# Holds CONNECTIONS idle connections for 3 s, measuring the server's CPU time over the last
# 2 s (utime + stime from /proc/PID/stat, in clock ticks), then closes them all.
python3 - "$SERVER_PORT" "$CONNECTIONS" "$SERVER_PID" > "$WORK/attack.out" <<'PY'
import os, socket, sys, time
port, count, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def cpu_ticks():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
held = []
for _ in range(count):
    s = socket.socket()
    s.connect(("127.0.0.1", port))  # the kernel completes it; the server may not accept it
    held.append(s)
time.sleep(1)
before, start = cpu_ticks(), time.monotonic()
time.sleep(2)
used = (cpu_ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - start)
print(f"held {len(held)} connections; server CPU while held: {used:.2f} cores")
print(f"cpu {used:.3f}")
for s in held:
    s.close()
PY
cat "$WORK/attack.out"
cpu="$(awk '/^cpu /{print $2}' "$WORK/attack.out")"
python3 -c "import sys; sys.exit(0 if float('$cpu') < 0.3 else 1)" ||
  fail "the server used $cpu cores while out of descriptors (spinning)"
grep -E "gRPC (connections|connection closed|port)" "$WORK/server.log" || true

# After the connections close the server must accept and answer again.
ok=0
deadline=$((SECONDS + 20))
while [ $SECONDS -lt $deadline ]; do
  if timeout 5 "$TUNECTL" studies > /dev/null 2>> "$WORK/tunectl.log"; then ok=1; break; fi
  sleep 0.5
done
[ "$ok" -eq 1 ] || fail "no RPC succeeds after the idle connections closed"
echo "an RPC succeeds after the connections closed"
kill -0 "$SERVER_PID" || fail "the server died"

# An idle connection that never sends the HTTP/2 preface is closed by the server.
python3 - "$SERVER_PORT" <<'PY' || fail "an idle connection was not closed by the server"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20)
start = time.monotonic()
try:
    data = s.recv(4096)
    while data:
        data = s.recv(4096)
except ConnectionResetError:
    pass
waited = time.monotonic() - start
print(f"an idle connection was closed by the server after {waited:.1f} s")
sys.exit(0 if 2 <= waited < 15 else 1)
PY
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
! grep -q "Failed accept4" "$WORK/server.log" || fail "gRPC's own accept loop failed"
echo "PASS"
