#!/usr/bin/env bash
# Start-up of real tuner-server processes (issue 13, rows 2 and 11): a second server on the same
# db exits non-zero naming the db and the first one's pid while the first keeps serving; a
# missing or 0-byte db is said to be new; an explicitly empty --token is refused unless
# --insecure-no-token; an empty TUNER_TOKEN (docker compose's default) still means "no token".
# usage: startup_test.sh TUNER_SERVER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" TUNECTL="$2"

# 1. One server per db.
start_server "$SERVER_BIN"
grep -q "db $WORK/tuner.db does not exist: creating a new, empty db" "$WORK/server.log" ||
  fail "no word that a new db was created"
cat > "$WORK/spec.yaml" <<'YAML'
name: startup
algorithm: {kind: random, max_trials: 2}
search_space:
  units: {type: choice, values: [128, 256]}
trainer: {kind: synthetic, epochs: 1}
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml")"
set +e
timeout 20 "$SERVER_BIN" --db "$WORK/tuner.db" --listen 127.0.0.1:0 > "$WORK/second.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "second server on the same db: exit status $rc"
grep -q "db $WORK/tuner.db is in use by another tuner-server (pid $SERVER_PID; lock file $WORK/tuner.db.lock)" \
  "$WORK/second.log" || fail "second server's message: $(cat "$WORK/second.log")"
"$TUNECTL" status "$STUDY" > /dev/null || fail "the first server stopped serving"
"$TUNECTL" studies | grep -q startup || fail "the first server lost its study"
echo "second server: exit $rc: $(cat "$WORK/second.log")"
# After the first is gone (kill -9 included) the db is free.
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
start_server "$SERVER_BIN"
"$TUNECTL" studies | grep -q startup || fail "restart after kill -9: study missing"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true

# 2. A 0-byte db is said to be empty.
: > "$WORK/empty.db"
"$SERVER_BIN" --db "$WORK/empty.db" --listen 127.0.0.1:0 --port-file "$WORK/empty.port" \
  > "$WORK/empty.log" 2>&1 &
PID=$!; PIDS+=("$PID")
for _ in $(seq 1 200); do [ -s "$WORK/empty.port" ] && break; sleep 0.05; done
[ -s "$WORK/empty.port" ] || fail "server on a 0-byte db did not start"
grep -q "db $WORK/empty.db is an empty file (0 bytes): starting a new, empty db in it" \
  "$WORK/empty.log" || fail "no word that the db file was empty"
kill "$PID"; wait "$PID" 2>/dev/null || true

# 3. --token "" is refused; --insecure-no-token allows it; an empty TUNER_TOKEN is no token.
set +e
timeout 20 "$SERVER_BIN" --db "$WORK/token.db" --listen 127.0.0.1:0 --token "" > "$WORK/token.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--token \"\": exit status $rc, expected 2"
grep -q -- "--token is empty" "$WORK/token.log" || fail "--token \"\": $(cat "$WORK/token.log")"
echo "--token \"\": exit $rc: $(cat "$WORK/token.log")"
set +e
timeout 20 "$SERVER_BIN" --db "$WORK/token.db" --listen 127.0.0.1:0 --token s3cret --insecure-no-token \
  > "$WORK/both.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--token with --insecure-no-token: exit status $rc, expected 2"
for how in flag env; do
  rm -f "$WORK/$how.port"
  if [ "$how" = flag ]; then
    "$SERVER_BIN" --db "$WORK/$how.db" --listen 127.0.0.1:0 --port-file "$WORK/$how.port" \
      --token "" --insecure-no-token > "$WORK/$how.log" 2>&1 &
  else
    TUNER_TOKEN="" "$SERVER_BIN" --db "$WORK/$how.db" --listen 127.0.0.1:0 \
      --port-file "$WORK/$how.port" > "$WORK/$how.log" 2>&1 &
  fi
  PID=$!; PIDS+=("$PID")
  for _ in $(seq 1 200); do [ -s "$WORK/$how.port" ] && break; sleep 0.05; done
  [ -s "$WORK/$how.port" ] || fail "$how: server did not start: $(cat "$WORK/$how.log")"
  grep -q "no auth token configured" "$WORK/$how.log" || fail "$how: no warning"
  TUNER_SERVER="127.0.0.1:$(cat "$WORK/$how.port")" "$TUNECTL" studies > /dev/null ||
    fail "$how: not serving without a token"
  kill "$PID"; wait "$PID" 2>/dev/null || true
done
echo "startup: one server per db, new and empty dbs announced, empty --token refused: ok"
