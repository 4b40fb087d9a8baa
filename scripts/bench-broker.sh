#!/usr/bin/env bash
# The Kafka-protocol broker of `make bench` (scripts/bench.sh): started fresh for each run, on a
# loopback port of its own, beside — never instead of — the stack's tansu on :9092 that `make up`,
# `make run` and the tests use. Stopped by its pid.
#
#   scripts/bench-broker.sh start mock|tansu|tansu-sqlite   start one; its address goes to
#                                                           .stack/bench-broker/kafka.bootstrap
#   scripts/bench-broker.sh stop                            stop it
#   scripts/bench-broker.sh install-tansu-sqlite            build the sqlite tansu (once, ~12 min)
#
# The brokers (docs/performance.md compares them):
#   mock          target/release/ferroloop-mock-broker (load-tests/mock-broker): librdkafka's mock
#                 cluster in a process of its own. For benchmarks only: not durable, and each
#                 partition keeps only ~5 MiB or 100,000 batches, so bench.sh runs its lag guard.
#   tansu         tansu 0.6.0, memory engine: the stack's own binary (`make up` installs it).
#   tansu-sqlite  tansu 0.6.0 built with `--features libsql`, its durable sqlite engine, installed
#                 into .stack/tansu-sqlite/ so it does not replace the stack's binary; the
#                 database lives in .stack/bench-broker/ and is deleted at every start.
#
# BENCH_PARTITIONS (default 8) partitions per topic.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.stack"
# BROKER_ROLE=run: the same broker for `make run` (scripts/services.sh), in files of its own, so
# a bench and the run stack never stop each other's broker by mistake.
ROLE="${BROKER_ROLE:-bench}"
DIR="$STATE/$ROLE-broker"
PID_FILE="$STATE/$ROLE-broker.pid"
BOOTSTRAP_FILE="$DIR/kafka.bootstrap"
PARTITIONS="${BENCH_PARTITIONS:-8}"
TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
TANSU_SQLITE_ROOT="$STATE/tansu-sqlite"
MOCK_BROKER="$ROOT/target/${BROKER_PROFILE:-release}/ferroloop-mock-broker"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[bench-broker] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

install_tansu_sqlite() {
  [ -x "$TANSU_SQLITE_ROOT/bin/tansu" ] && return 0
  log "installing tansu $TANSU_VERSION with the sqlite engine into $TANSU_SQLITE_ROOT (cargo install; ~12 minutes once)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features libsql --root "$TANSU_SQLITE_ROOT"
}

# tansu on a free port, in $DIR (where a sqlite:// database is created), with the topics.
start_tansu() { # binary storage-engine
  local port
  port="$(free_port)"
  (cd "$DIR" && exec nohup "$1" broker \
    --kafka-cluster-id ferroloop-bench \
    --kafka-listener-url "tcp://127.0.0.1:$port" \
    --kafka-advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "$2" >"$DIR/broker.log" 2>&1) &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + 30))
  until port_open "$port"; do
    running || { log "tansu exited:"; tail -n 20 "$DIR/broker.log" >&2; return 1; }
    ((SECONDS < deadline)) || { log "tansu did not open port $port within 30 s"; return 1; }
    sleep 0.2
  done
  "$MOCK_BROKER" create-topics --bootstrap "127.0.0.1:$port" --partitions "$PARTITIONS" >>"$DIR/broker.log"
  echo "127.0.0.1:$port" >"$BOOTSTRAP_FILE"
}

start_mock() {
  nohup "$MOCK_BROKER" serve --partitions "$PARTITIONS" --bootstrap-file "$BOOTSTRAP_FILE" \
    >"$DIR/broker.log" 2>&1 &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + 30))
  until [ -s "$BOOTSTRAP_FILE" ]; do
    running || { log "the mock broker exited:"; tail -n 20 "$DIR/broker.log" >&2; return 1; }
    ((SECONDS < deadline)) || { log "the mock broker wrote no bootstrap file within 30 s"; return 1; }
    sleep 0.1
  done
}

stop() {
  [ -f "$PID_FILE" ] || return 0
  local pid
  pid="$(cat "$PID_FILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    log "stopped the $ROLE broker (pid $pid)"
  fi
  rm -f "$PID_FILE" "$BOOTSTRAP_FILE"
}

start() { # kind
  [ -x "$MOCK_BROKER" ] || { log "build first: cargo build --release -p ferroloop-mock-broker"; return 1; }
  stop
  mkdir -p "$DIR"
  rm -f "$BOOTSTRAP_FILE"
  case "$1" in
  mock) start_mock ;;
  tansu)
    command -v tansu >/dev/null 2>&1 || "$ROOT/scripts/stack.sh" up
    start_tansu "$(command -v tansu)" "memory://tansu/"
    ;;
  tansu-sqlite)
    install_tansu_sqlite
    rm -f "$DIR"/tansu.db*
    start_tansu "$TANSU_SQLITE_ROOT/bin/tansu" "sqlite://tansu.db"
    ;;
  *) log "unknown broker '$1' (mock, tansu or tansu-sqlite)"; return 2 ;;
  esac
  log "$1 on $(cat "$BOOTSTRAP_FILE") (pid $(cat "$PID_FILE")), $PARTITIONS partitions per topic; log $DIR/broker.log"
  cat "$BOOTSTRAP_FILE"
}

case "${1:-}" in
start) start "${2:-mock}" ;;
stop) stop ;;
install-tansu-sqlite) install_tansu_sqlite ;;
*) echo "usage: $0 start mock|tansu|tansu-sqlite | stop | install-tansu-sqlite" >&2; exit 2 ;;
esac
