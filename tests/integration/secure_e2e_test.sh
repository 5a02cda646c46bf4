#!/usr/bin/env bash
# Token + mutual TLS end to end with the real binaries: tuner-server serving TLS with a client
# CA and a token file; tunectl and two trial-workers connecting with their own certificates
# and the token. Calls without the token, without TLS or without a client certificate are
# refused; with them a study runs to completion.
# usage: secure_e2e_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 0; }

# A throwaway CA, a server certificate for 127.0.0.1/localhost, and client certificates.
(
  cd "$WORK"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.cnf
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tuner-e2e-ca \
    -keyout ca.key -out ca.pem 2>/dev/null
  for who in server worker tunectl; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout "$who.key" -out "$who.csr" 2>/dev/null
    openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile san.cnf -out "$who.pem" 2>/dev/null
  done
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > token
  chmod 600 token ./*.key
)

start_server "$SERVER_BIN" --token-file "$WORK/token" --tls-cert "$WORK/server.pem" \
  --tls-key "$WORK/server.key" --tls-client-ca "$WORK/ca.pem"
export TUNER_SERVER="localhost:$SERVER_PORT"
TLS=(--tls-ca "$WORK/ca.pem" --tls-cert "$WORK/tunectl.pem" --tls-key "$WORK/tunectl.key")

expect_refused() {  # expect_refused WHAT PATTERN COMMAND...
  local what="$1" pattern="$2"; shift 2
  if "$@" > "$WORK/refused.out" 2>&1; then fail "$what: was accepted"; fi
  grep -qiE "$pattern" "$WORK/refused.out" || { cat "$WORK/refused.out"; fail "$what: no '$pattern'"; }
  echo "refused as expected: $what: $(head -c 160 "$WORK/refused.out" | tr '\n' ' ')"
}
expect_refused "TLS and client cert, no token" "UNAUTHENTICATED|token" \
  "$TUNECTL" studies "${TLS[@]}"
expect_refused "TLS, client cert, wrong token" "UNAUTHENTICATED|token" \
  "$TUNECTL" studies "${TLS[@]}" --token wrong
expect_refused "token, TLS, no client cert" "UNAVAILABLE|handshake|certificate|connect" \
  "$TUNECTL" studies --tls-ca "$WORK/ca.pem" --token-file "$WORK/token"
expect_refused "token, plaintext" "UNAVAILABLE|connect|handshake" \
  "$TUNECTL" studies --token-file "$WORK/token"
"$TUNECTL" studies "${TLS[@]}" --token-file "$WORK/token" > /dev/null \
  || fail "tunectl with TLS, client cert and token was refused"

cat > "$WORK/spec.yaml" <<'YAML'
name: secure-e2e
algorithm: {kind: random, max_trials: 6}
seed: 3
search_space:
  units: {type: choice, values: [128, 256, 512]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 3, sleep_seconds: 0.02}
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml" "${TLS[@]}" --token-file "$WORK/token")"
[[ "$STUDY" =~ ^[0-9]+$ ]] || fail "start-study printed '$STUDY'"
start_workers "$WORKER_BIN" 2 --tls-ca "$WORK/ca.pem" --tls-cert "$WORK/worker.pem" \
  --tls-key "$WORK/worker.key" --token-file "$WORK/token"

deadline=$((SECONDS + 60))
while :; do
  state="$("$TUNECTL" status "$STUDY" --json "${TLS[@]}" --token-file "$WORK/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
  [ "$state" = STUDY_COMPLETED ] && break
  [ $SECONDS -lt $deadline ] || fail "study $STUDY still $state after 60 s"
  sleep 0.3
done
"$TUNECTL" trials "$STUDY" --json "${TLS[@]}" --token-file "$WORK/token" | python3 -c '
import json, sys
trials = json.load(sys.stdin)["trials"]
assert len(trials) == 6 and all(t["state"] == "COMPLETED" for t in trials), trials
print("secure e2e: 6 trials completed over mutual TLS with a bearer token")'
"$TUNECTL" best "$STUDY" "${TLS[@]}" --token-file "$WORK/token"
