#!/usr/bin/env bash
# The local stack ferroloop needs, without Docker: MariaDB and the tansu Kafka-protocol broker,
# both on loopback. Idempotent: installs what is missing, starts what is stopped, and remembers
# (by pid, under .stack/) only what it started itself, so `down` never stops a service it did
# not start.
#
#   scripts/stack.sh tools     install the build tools (C compiler, make, perl, Rust, nextest)
#   scripts/stack.sh up        install + start MariaDB and tansu, create database, user, topics
#   scripts/stack.sh down      stop what `up` started
#   scripts/stack.sh status
#   scripts/stack.sh drop-test-databases   remove databases left by interrupted test runs
#   scripts/stack.sh restart-broker        a fresh, empty tansu (its memory storage never
#                                          deletes, and a fetch costs time linear in what a
#                                          partition holds; benchmarks start from empty)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.stack"
mkdir -p "$STATE"

DB_HOST=127.0.0.1
DB_PORT="${DB_PORT:-3306}"
DB_USER="${DB_USER:-ferroloop}"
DB_PASSWORD="${DB_PASSWORD:-ferroloop}"
DB_NAME="${DB_NAME:-ferroloop}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
TOPIC_PARTITIONS="${TOPIC_PARTITIONS:-4}"
TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[stack] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port seconds what
  local deadline=$((SECONDS + $2))
  until port_open "$1"; do
    if ((SECONDS > deadline)); then log "$3 did not open port $1 within $2 s"; return 1; fi
    sleep 0.2
  done
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# ------------------------------------------------------------------------------------ tools
install_tools() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v cc >/dev/null 2>&1 || missing+=(build-essential)
  command -v perl >/dev/null 2>&1 || missing+=(perl) # librdkafka's vendored build
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_rust() {
  command -v cargo >/dev/null 2>&1 && return 0
  log "installing the Rust toolchain (rustup, stable)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
    --component clippy,rustfmt
}

install_nextest() {
  command -v cargo-nextest >/dev/null 2>&1 && return 0
  log "installing cargo-nextest (cargo install; a few minutes once)"
  cargo install cargo-nextest --locked
}

# ---------------------------------------------------------------------------------- MariaDB
mariadb_installed() { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; }

install_mariadb() {
  mariadb_installed && return 0
  log "installing mariadb-server (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client >/dev/null
  # The package may start its own server through an init system; that one is not ours.
}

root_sql() { as_root mysql --protocol=socket -uroot -e "$1"; }

start_mariadb() {
  if port_open "$DB_PORT"; then
    log "MariaDB already listening on $DB_PORT"
    return 0
  fi
  log "starting MariaDB"
  as_root mkdir -p /run/mysqld
  as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then
    as_root mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for_port "$DB_PORT" 60 MariaDB
  local pid
  for _ in $(seq 50); do
    pid="$(cat /run/mysqld/mysqld.pid 2>/dev/null || pidof mariadbd || true)"
    [ -n "$pid" ] && break
    sleep 0.1
  done
  echo "$pid" >"$STATE/mariadb.pid"
}

provision_database() {
  # root may be socket-auth only: the services use their own TCP user.
  root_sql "CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
            CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
            GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1';
            GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
            CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
}

# ------------------------------------------------------------------------------------ tansu
install_tansu() {
  if command -v tansu >/dev/null 2>&1; then return 0; fi
  log "installing tansu $TANSU_VERSION (cargo install; takes ~10+ minutes once)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore
}

start_tansu() {
  if port_open "$KAFKA_PORT"; then
    log "a broker already listens on $KAFKA_PORT"
    return 0
  fi
  log "starting tansu on 127.0.0.1:$KAFKA_PORT"
  # memory:// keeps the broker's data in its own process: the local stack is for development
  # and tests; production uses Apache Kafka.
  nohup tansu broker \
    --kafka-cluster-id ferroloop \
    --kafka-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --kafka-advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine "memory://tansu/" \
    >"$STATE/tansu.log" 2>&1 &
  echo $! >"$STATE/tansu.pid"
  wait_for_port "$KAFKA_PORT" 30 tansu
}

create_topics() {
  local topic
  for topic in topic-transfer-prepare topic-transfer-position topic-transfer-fulfil \
    topic-transfer-get topic-notification-event topic-admin-transfer topic-notification-retry \
    topic-dead-letter; do
    tansu topic create "$topic" --partitions "$TOPIC_PARTITIONS" \
      --broker "tcp://127.0.0.1:$KAFKA_PORT" >>"$STATE/topics.log" 2>&1 || true
  done
}

# ------------------------------------------------------------------------------------- verbs
stop_pidfile() { # file name
  local file="$STATE/$1.pid"
  [ -f "$file" ] || return 0
  local pid
  pid="$(cat "$file")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping $1 (pid $pid)"
    as_root kill "$pid" || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

case "${1:-}" in
tools)
  install_tools
  install_rust
  install_nextest
  ;;
up)
  install_tools
  install_mariadb
  start_mariadb
  provision_database
  install_tansu
  start_tansu
  create_topics
  log "up: mysql://$DB_USER:***@$DB_HOST:$DB_PORT/$DB_NAME, kafka 127.0.0.1:$KAFKA_PORT"
  ;;
down)
  stop_pidfile tansu
  stop_pidfile mariadb
  ;;
status)
  port_open "$DB_PORT" && echo "MariaDB: listening on $DB_PORT" || echo "MariaDB: down"
  port_open "$KAFKA_PORT" && echo "broker: listening on $KAFKA_PORT" || echo "broker: down"
  ;;
restart-broker)
  if [ -f "$STATE/tansu.pid" ]; then
    stop_pidfile tansu
  elif port_open "$KAFKA_PORT"; then
    log "the broker on $KAFKA_PORT was not started by this script; not restarting it"
    exit 1
  fi
  install_tansu
  start_tansu
  create_topics
  ;;
drop-test-databases)
  # Test databases are named ft_<UUIDv7>, whose first 12 hex digits are the creation time in ms:
  # only those older than 30 minutes are dropped, so a test running right now (another checkout,
  # another engineer's suite on the same server) keeps its database.
  for db in $(root_sql "SELECT schema_name FROM information_schema.schemata
                        WHERE schema_name LIKE 'ft\\_%'
                          AND CONV(SUBSTRING(schema_name, 4, 12), 16, 10)
                              < (UNIX_TIMESTAMP() - 1800) * 1000" | tail -n +2); do
    root_sql "DROP DATABASE \`$db\`"
  done
  ;;
*)
  echo "usage: $0 tools|up|down|status|restart-broker|drop-test-databases" >&2
  exit 2
  ;;
esac
