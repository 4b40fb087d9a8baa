#!/usr/bin/env bash
# Starts and stops every ferroloop service on loopback against the local stack (make up).
#
#   scripts/services.sh start [debug|release]   migrate, start all services, wait until ready
#   scripts/services.sh stop                    stop the services this script started (by pid)
#   scripts/services.sh status
#
# Ports follow Mojaloop's: FSPIOP API 3000, admin API 3001 (FSPIOP_API_PORT / ADMIN_API_PORT).
# Each service's operations endpoints (/health/*, /metrics) are on 9100 + n. Logs: .stack/<name>.log
#
# The admin API runs with auth on (ADMIN_AUTH=on, as in production) against a local demo issuer
# whose P-256 key pair is made once under .stack/admin-issuer/ (admin-api issuer-keygen);
# scripts/demo.sh mints tokens with it. ADMIN_AUTH=off scripts/services.sh start gives
# central-ledger's unauthenticated admin API instead (e.g. for Mojaloop's testing toolkit).
#
# Hub-originated callbacks are signed (JWS_SIGN=true, the default here): a key pair is made once
# under .stack/hub-jws/ (admin-api hub-jws-keygen: signing-key.pem, the notification handler's
# key, and <HUB_NAME>.pem, the public key DFSPs verify with, also served by the admin API at
# GET /hub/jwsKey). JWS_SIGN=false scripts/services.sh start leaves callbacks unsigned.
#
# TLS=on: the FSPIOP API speaks mTLS with the demo PKI of scripts/certs.sh (make certs) — client
# certificates from its CA, CN = FSP id = FSPIOP-Source — and https callbacks present the hub's
# client certificate.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.stack"
mkdir -p "$STATE"
export PATH="$HOME/.cargo/bin:$PATH"

PROFILE="${2:-${PROFILE:-debug}}"
# FERROLOOP_BIN_DIR: run binaries from another folder, unbuilt (A/B benches of an old build).
BIN="${FERROLOOP_BIN_DIR:-$ROOT/target/$PROFILE}"
FSPIOP_API_PORT="${FSPIOP_API_PORT:-3000}"
ADMIN_API_PORT="${ADMIN_API_PORT:-3001}"
OPS_PORT_BASE="${OPS_PORT_BASE:-9100}"

export DATABASE_URL="${DATABASE_URL:-mysql://ferroloop:ferroloop@127.0.0.1:3306/ferroloop}"
# The broker (RUN_BROKER), unless KAFKA_BROKERS names one (scripts/bench.sh does):
#   mock (default)  ferroloop-mock-broker (load-tests/mock-broker), started here in .stack/run-broker:
#                   its cost per message stays flat however long the stack runs, and it holds at most
#                   ~5 MiB per partition in memory (docs/performance.md#the-local-stack). Like tansu's
#                   memory engine it keeps nothing across a restart. A lag guard logs to
#                   .stack/run-lag.log and `status` says if a consumer fell ~3 MB behind.
#   stack           the tansu on :9092 that `make up` starts for the tests (its fetches slow down
#                   with everything it stored: fine for minutes, not for hours).
RUN_BROKER="${RUN_BROKER:-mock}"
RUN_PARTITIONS="${RUN_PARTITIONS:-4}"
RUN_BROKER_BOOTSTRAP="$STATE/run-broker/kafka.bootstrap"
KAFKA_BROKERS_GIVEN="${KAFKA_BROKERS:-}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
export HUB_NAME="${HUB_NAME:-Hub}"
export LOG_LEVEL="${LOG_LEVEL:-info}"
export LOG_FORMAT="${LOG_FORMAT:-json}"
export ADMIN_AUTH="${ADMIN_AUTH:-on}"
ADMIN_ISSUER_DIR="$STATE/admin-issuer"
export ADMIN_AUTH_ISSUER="${ADMIN_AUTH_ISSUER:-ferroloop-local-demo}"
export ADMIN_AUTH_AUDIENCE="${ADMIN_AUTH_AUDIENCE:-ferroloop-admin}"
export ADMIN_AUTH_KEY_FILES="${ADMIN_AUTH_KEY_FILES:-$ADMIN_ISSUER_DIR/issuer.pub}"

export JWS_SIGN="${JWS_SIGN:-true}"
# Tokio worker threads per service (tokio reads TOKIO_WORKER_THREADS; its default is one per
# core). One each here, where eight services, MariaDB, the broker and the load tool share the
# machine's cores: a second worker per service only adds cross-thread wake-ups
# (docs/performance.md#the-allocator-and-the-runtimes-threads).
SERVICE_WORKER_THREADS="${SERVICE_WORKER_THREADS:-1}"
HUB_JWS_DIR="$STATE/hub-jws"

CERTS="${CERTS_DIR:-$STATE/certs}"
API_TLS=""
CALLBACK_TLS=""
if [ "${TLS:-off}" = on ]; then
  API_TLS="FSPIOP_TLS_CERT_PATH=$CERTS/hub-server.crt FSPIOP_TLS_KEY_PATH=$CERTS/hub-server.key FSPIOP_TLS_CLIENT_CA_PATH=$CERTS/ca.crt"
  CALLBACK_TLS="CALLBACK_TLS_CERT_PATH=$CERTS/hub-client.crt CALLBACK_TLS_KEY_PATH=$CERTS/hub-client.key CALLBACK_TLS_CA_PATH=$CERTS/ca.crt"
fi

# name, then extra environment
SERVICES=(
  "admin-api ADMIN_API_ADDR=127.0.0.1:$ADMIN_API_PORT"
  "api-adapter FSPIOP_API_ADDR=127.0.0.1:$FSPIOP_API_PORT $API_TLS"
  "prepare-handler"
  "position-handler"
  "fulfil-handler"
  "timeout-handler"
  "notification-handler $CALLBACK_TLS"
  "get-handler"
)

log() { printf '[services] %s\n' "$*" >&2; }

ops_port() { echo $((OPS_PORT_BASE + $1)); }

wait_ready() { # name port
  local deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$2/health/ready" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; then
      log "$1 exited; last log lines:"; tail -n 20 "$STATE/$1.log" >&2; return 1
    fi
    if ((SECONDS > deadline)); then log "$1 not ready after 60 s (see $STATE/$1.log)"; return 1; fi
    sleep 0.2
  done
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The run stack's broker: reused while it runs; when it has to be (re)started, services still
# connected to an earlier one are stopped first so that they start again against the new one.
run_broker() {
  [ -z "$KAFKA_BROKERS_GIVEN" ] || return 0
  case "$RUN_BROKER" in
  stack) return 0 ;;
  mock) ;;
  *) log "RUN_BROKER must be mock or stack (got '$RUN_BROKER')"; return 2 ;;
  esac
  if ! alive "$STATE/run-broker.pid" || [ ! -s "$RUN_BROKER_BOOTSTRAP" ]; then
    stop_services
    BROKER_ROLE=run BROKER_PROFILE="$PROFILE" BENCH_PARTITIONS="$RUN_PARTITIONS" \
      "$ROOT/scripts/bench-broker.sh" start mock >/dev/null
  fi
  KAFKA_BROKERS="$(cat "$RUN_BROKER_BOOTSTRAP")"
  log "broker: ferroloop-mock-broker on $KAFKA_BROKERS ($RUN_PARTITIONS partitions per topic)"
}

# The mock drops a partition's oldest batches past ~5 MiB, read or not: say so before it can.
start_lag_guard() {
  [ -z "$KAFKA_BROKERS_GIVEN" ] && [ "$RUN_BROKER" = mock ] || return 0
  alive "$STATE/run-lag.pid" && return 0
  nohup "$BIN/ferroloop-mock-broker" watch-lag --bootstrap "$KAFKA_BROKERS" \
    --max-lag-bytes "${RUN_MAX_LAG_BYTES:-3000000}" >"$STATE/run-lag.log" 2>&1 &
  echo $! >"$STATE/run-lag.pid"
}

# The hub's callback signing key (idempotent: made once, kept across runs).
hub_jws_key() {
  if [ "$JWS_SIGN" != true ]; then
    unset JWS_SIGNING_KEY_PATH HUB_JWS_PUBLIC_KEY_PATH
    log "hub callbacks unsigned (JWS_SIGN=$JWS_SIGN)"
    return 0
  fi
  "$BIN/admin-api" hub-jws-keygen --dir "$HUB_JWS_DIR" --hub-name "$HUB_NAME" >/dev/null
  export JWS_SIGNING_KEY_PATH="$HUB_JWS_DIR/signing-key.pem"
  export HUB_JWS_PUBLIC_KEY_PATH="$HUB_JWS_DIR/$HUB_NAME.pem"
  log "hub callbacks signed (RS256): public key $HUB_JWS_PUBLIC_KEY_PATH, also GET http://127.0.0.1:$ADMIN_API_PORT/hub/jwsKey"
}

start() {
  local build_flag=()
  [ "$PROFILE" = release ] && build_flag=(--release)
  if [ "${TLS:-off}" = on ] && [ ! -s "$CERTS/ca.crt" ]; then
    "$ROOT/scripts/certs.sh" init
  fi
  if [ -n "${FERROLOOP_BIN_DIR:-}" ]; then
    log "binaries from $FERROLOOP_BIN_DIR (not built)"
  else
    log "building ($PROFILE)"
    (cd "$ROOT" && cargo build -q "${build_flag[@]}" --workspace --bins)
  fi
  if [ "$ADMIN_AUTH" = on ]; then
    "$BIN/admin-api" issuer-keygen --dir "$ADMIN_ISSUER_DIR" >/dev/null
    log "admin API auth on: issuer $ADMIN_AUTH_ISSUER, key $ADMIN_AUTH_KEY_FILES"
  else
    log "admin API auth OFF (ADMIN_AUTH=$ADMIN_AUTH): unauthenticated, no maker/checker"
  fi
  hub_jws_key
  run_broker
  log "migrating $DATABASE_URL"
  "$BIN/db-migrate"
  local index=0 entry name extra port
  for entry in "${SERVICES[@]}"; do
    name="${entry%% *}"
    extra="${entry#"$name"}"
    port="$(ops_port "$index")"
    index=$((index + 1))
    if [ -f "$STATE/$name.pid" ] && kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
      log "$name already running (pid $(cat "$STATE/$name.pid"))"
      continue
    fi
    # shellcheck disable=SC2086
    env OPS_ADDR="127.0.0.1:$port" TOKIO_WORKER_THREADS="$SERVICE_WORKER_THREADS" $extra nohup "$BIN/$name" >"$STATE/$name.log" 2>&1 &
    echo $! >"$STATE/$name.pid"
  done
  index=0
  for entry in "${SERVICES[@]}"; do
    name="${entry%% *}"
    wait_ready "$name" "$(ops_port "$index")"
    index=$((index + 1))
  done
  start_lag_guard
  log "all services ready"
}

stop_pid() { # file name
  alive "$1" || { rm -f "$1"; return 0; }
  local pid
  pid="$(cat "$1")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$1"
  log "stopped $2"
}

# Everything `start` started: the services, then the run stack's broker and its lag guard.
stop() {
  stop_services
  stop_pid "$STATE/run-lag.pid" "the lag guard"
  BROKER_ROLE=run "$ROOT/scripts/bench-broker.sh" stop
}

stop_services() {
  local entry name
  for entry in "${SERVICES[@]}"; do
    name="${entry%% *}"
    stop_pid "$STATE/$name.pid" "$name"
  done
}

status() {
  local index=0 entry name
  for entry in "${SERVICES[@]}"; do
    name="${entry%% *}"
    if curl -fsS "http://127.0.0.1:$(ops_port "$index")/health/ready" >/dev/null 2>&1; then
      echo "$name: ready (ops 127.0.0.1:$(ops_port "$index"))"
    else
      echo "$name: not running"
    fi
    index=$((index + 1))
  done
  if alive "$STATE/run-broker.pid"; then
    echo "broker: ferroloop-mock-broker on $(cat "$RUN_BROKER_BOOTSTRAP")"
  fi
  if [ -f "$STATE/run-lag.pid" ] && ! alive "$STATE/run-lag.pid"; then
    echo "lag guard: TRIPPED — $(grep -v '^t=' "$STATE/run-lag.log" | tail -n 1)"
  fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start [debug|release] | stop | status" >&2; exit 2 ;;
esac
