#!/usr/bin/env bash
# `make chaos`: the fault campaign of docs/reliability.md. For each scenario: a fresh database on
# the campaign's own MariaDB, a fresh broker, the eight services on ports of their own, a stream
# of CHAOS_TRANSFERS transfers from ferroloop-load (embedded DFSP simulators, a tight net debit
# cap so reservations are refused as well as granted, GET recovery for missed callbacks) and one
# fault injected at a seeded moment; then the load tool's gate and fault counts (report.json)
# become one row of the table printed at the end and kept in .stack/chaos/results.md.
#
# Everything runs on loopback beside — never instead of — the shared stack: MariaDB on
# CHAOS_DB_PORT (3307, datadir .stack/chaos/mariadb, made with mariadb-install-db) so it can be
# killed and paused; brokers on random ports; FSPIOP/admin API on 3400/3401; ops on 9400+n.
# Every process started is recorded in .stack/chaos/pids/ and stopped by its pid on exit.
#
# Scenarios (CHAOS_SCENARIOS, comma-separated; default all):
#   kill-<service>          SIGKILL of one of the eight services at a seeded moment, restarted 1 s later
#   fp-<handler>-commit     prepare/position/fulfil abort at a seeded batch after its DB commit,
#   fp-<handler>-produce    … or after its produce and before its offsets are stored
#   kill-notification-failing   SIGKILL of the notification handler while one DFSP answers 503
#   rebalance               two members each of prepare/position/fulfil/notification; one of each
#                           removed and added back every CHAOS_REBALANCE_PERIOD seconds
#   pause-broker, pause-db  SIGSTOP for CHAOS_PAUSE_SECONDS (30), then SIGCONT
#   kill-broker             tansu with its durable sqlite engine, SIGKILL and restart
#   kill-db                 the campaign's MariaDB, SIGKILL and restart
# CHAOS_SEED (default 19) seeds the fault moments and the load tool; CHAOS_PROFILE (release).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.stack/chaos"
PIDS="$STATE/pids"
PROFILE="${CHAOS_PROFILE:-release}"
BIN="$ROOT/target/$PROFILE"
SEED="${CHAOS_SEED:-19}"
TRANSFERS="${CHAOS_TRANSFERS:-5000}"
RATE="${CHAOS_RATE:-250}"
# Each payer's net debit cap admits this many transfers of 1: random pairs walk positions into
# the cap, so some prepares are refused (4001) and most are granted.
NDC_TRANSFERS="${CHAOS_NDC_TRANSFERS:-30}"
DFSPS="${CHAOS_DFSPS:-4}"
EXPIRY="${CHAOS_EXPIRY_SECONDS:-20}"
PAUSE_SECONDS="${CHAOS_PAUSE_SECONDS:-30}"
REBALANCE_PERIOD="${CHAOS_REBALANCE_PERIOD:-15}"
# The bound on duplicate callbacks per fault: 1 % of the transfers to payers plus 1 % to payees.
DUPLICATES_MAX="${CHAOS_DUPLICATES_MAX:-$((TRANSFERS * 2 / 100))}"
# No scenario runs longer than this; the campaign stops a stuck one and records it.
SCENARIO_DEADLINE="${CHAOS_SCENARIO_DEADLINE:-150}"
PARTITIONS="${CHAOS_PARTITIONS:-4}"
DB_PORT="${CHAOS_DB_PORT:-3307}"
API_PORT="${CHAOS_API_PORT:-3400}"
ADMIN_PORT="${CHAOS_ADMIN_PORT:-3401}"
OPS_BASE="${CHAOS_OPS_PORT_BASE:-9400}"
TANSU_SQLITE="$ROOT/.stack/tansu-sqlite/bin/tansu"
DB_DIR="$STATE/mariadb"
DB_SOCKET="$STATE/mariadb.sock"
RESULTS="$STATE/results.tsv"

SERVICES=(admin-api api-adapter prepare-handler position-handler fulfil-handler timeout-handler
  notification-handler get-handler)
ALL_SCENARIOS="kill-api-adapter,kill-prepare-handler,kill-position-handler,kill-fulfil-handler,\
kill-timeout-handler,kill-notification-handler,kill-get-handler,kill-admin-api,\
fp-prepare-commit,fp-prepare-produce,fp-position-commit,fp-position-produce,fp-fulfil-commit,\
fp-fulfil-produce,kill-notification-failing,rebalance,pause-broker,pause-db,kill-db,kill-broker"
SCENARIOS="${CHAOS_SCENARIOS:-$ALL_SCENARIOS}"

log() { printf '[chaos %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now_ms() { date +%s%3N; }

# A number in [lo, hi] from the campaign seed and a label, so every scenario's moment is fixed
# by CHAOS_SEED and independent of which other scenarios run.
seeded() { # label lo hi
  local h
  h="$(printf '%s:%s' "$SEED" "$1" | cksum | cut -d' ' -f1)"
  echo $(($2 + h % ($3 - $2 + 1)))
}

# ---- processes, all by pid -------------------------------------------------------------------

remember() { echo "$2" >"$PIDS/$1.pid"; }
pid_of() { cat "$PIDS/$1.pid" 2>/dev/null || true; }
alive() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

stop_one() { # name [signal]
  local pid
  pid="$(pid_of "$1")"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -CONT "$pid" 2>/dev/null || true
    kill "-${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$1.pid"
}

# SIGTERM to several at once (one rebalance, not four), then each stopped by its pid.
stop_together() { # key…
  local key
  for key in "$@"; do kill -TERM "$(pid_of "$key")" 2>/dev/null || true; done
  for key in "$@"; do stop_one "$key"; done
}

# Every process of the scenario, the database last (it outlives scenarios).
stop_scenario() {
  local f name
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    name="$(basename "$f" .pid)"
    [ "$name" = mariadbd ] || stop_one "$name"
  done
}

cleanup() {
  stop_scenario
  stop_one mariadbd
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the campaign's MariaDB ------------------------------------------------------------------

db_sql() { mariadb --no-defaults --socket="$DB_SOCKET" -uroot -N -e "$1"; }

start_db() {
  if [ ! -d "$DB_DIR/mysql" ]; then
    log "creating the campaign's MariaDB datadir $DB_DIR"
    mkdir -p "$DB_DIR"
    mariadb-install-db --no-defaults --datadir="$DB_DIR" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$STATE/mariadb-install.log" 2>&1
  fi
  # Fully durable, as production: a SIGKILL must not lose a committed transaction.
  nohup mariadbd --no-defaults --datadir="$DB_DIR" --port="$DB_PORT" --bind-address=127.0.0.1 \
    --socket="$DB_SOCKET" --pid-file="$STATE/mariadbd.pidfile" --user="$(id -un)" \
    --innodb-flush-log-at-trx-commit=1 --innodb-buffer-pool-size=256M --max-connections=1000 \
    --skip-log-bin --log-error="$STATE/mariadb.err" >/dev/null 2>&1 &
  remember mariadbd $!
  local deadline=$((SECONDS + 60))
  until db_sql "SELECT 1" >/dev/null 2>&1; do
    alive mariadbd || { log "mariadbd exited:"; tail -n 20 "$STATE/mariadb.err" >&2; return 1; }
    ((SECONDS < deadline)) || { log "mariadbd not up within 60 s"; return 1; }
    sleep 0.2
  done
}

ensure_db() {
  alive mariadbd && return 0
  start_db
  db_sql "CREATE USER IF NOT EXISTS 'ferroloop'@'127.0.0.1' IDENTIFIED BY 'ferroloop';
          CREATE USER IF NOT EXISTS 'ferroloop'@'localhost' IDENTIFIED BY 'ferroloop';
          GRANT ALL ON *.* TO 'ferroloop'@'127.0.0.1'; GRANT ALL ON *.* TO 'ferroloop'@'localhost';"
}

fresh_database() { # name
  db_sql "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1"
  export DATABASE_URL="mysql://ferroloop:ferroloop@127.0.0.1:$DB_PORT/$1"
  "$BIN/db-migrate" >"$RUN_DIR/db-migrate.log" 2>&1
}

# ---- brokers ---------------------------------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_mock_broker() {
  local file="$RUN_DIR/kafka.bootstrap"
  nohup "$BIN/ferroloop-mock-broker" serve --partitions "$PARTITIONS" --bootstrap-file "$file" \
    >"$RUN_DIR/broker.log" 2>&1 &
  remember broker $!
  local deadline=$((SECONDS + 30))
  until [ -s "$file" ]; do
    alive broker || { log "the mock broker exited"; return 1; }
    ((SECONDS < deadline)) || { log "no mock broker within 30 s"; return 1; }
    sleep 0.1
  done
  export KAFKA_BROKERS="$(cat "$file")"
  BROKER_WORDS="ferroloop-mock-broker (not durable), $PARTITIONS partitions per topic"
}

# tansu with the durable sqlite engine, on TANSU_PORT, its database in the scenario directory:
# started again on the same port and file after a kill.
start_tansu_sqlite() {
  (cd "$RUN_DIR" && exec nohup "$TANSU_SQLITE" broker --kafka-cluster-id ferroloop-chaos \
    --kafka-listener-url "tcp://127.0.0.1:$TANSU_PORT" \
    --kafka-advertised-listener-url "tcp://127.0.0.1:$TANSU_PORT" \
    --storage-engine "sqlite://tansu.db" >>"$RUN_DIR/broker.log" 2>&1) &
  remember broker $!
  local deadline=$((SECONDS + 30))
  until port_open "$TANSU_PORT"; do
    alive broker || { log "tansu exited"; tail -n 20 "$RUN_DIR/broker.log" >&2; return 1; }
    ((SECONDS < deadline)) || { log "tansu not listening within 30 s"; return 1; }
    sleep 0.1
  done
}

start_durable_broker() {
  # `make chaos` installs it first (~12 min once); a scenario never waits for a build.
  [ -x "$TANSU_SQLITE" ] || { log "no $TANSU_SQLITE: scripts/bench-broker.sh install-tansu-sqlite"; return 1; }
  TANSU_PORT="$(free_port)"
  start_tansu_sqlite
  export KAFKA_BROKERS="127.0.0.1:$TANSU_PORT"
  "$BIN/ferroloop-mock-broker" create-topics --bootstrap "$KAFKA_BROKERS" \
    --partitions "$PARTITIONS" >>"$RUN_DIR/broker.log" 2>&1
  BROKER_WORDS="tansu 0.6.0, sqlite engine (durable), $PARTITIONS partitions per topic"
}

# ---- services --------------------------------------------------------------------------------

ops_port() { # service [instance]
  local i
  for i in "${!SERVICES[@]}"; do
    [ "${SERVICES[$i]}" = "$1" ] && { echo $((OPS_BASE + i + ${2:-0} * 10)); return; }
  done
}

# Starts one instance (0 or 1) of a service; extra environment in CHAOS_EXTRA_ENV.
start_service() { # service [instance]
  local name="$1" instance="${2:-0}" key="$1" env=()
  [ "$instance" = 0 ] || key="$1.$instance"
  case "$name" in
  admin-api) env+=(ADMIN_API_ADDR="127.0.0.1:$ADMIN_PORT") ;;
  api-adapter) env+=(FSPIOP_API_ADDR="127.0.0.1:$API_PORT") ;;
  # Each instance resumes only its own (and its predecessor's) retry records: a stable retry
  # group per instance, as a StatefulSet ordinal gives (docs/callbacks.md#delivery-and-retries).
  notification-handler) env+=(NOTIFICATION_RETRY_CONSUMER_GROUP="ml-group-notification-retry-$instance") ;;
  esac
  # shellcheck disable=SC2206
  env+=(${CHAOS_EXTRA_ENV:-})
  env OPS_ADDR="127.0.0.1:$(ops_port "$name" "$instance")" "${env[@]}" \
    nohup "$BIN/$name" >>"$RUN_DIR/$key.log" 2>&1 &
  remember "$key" $!
}

ready() { curl -fsS -m 1 "http://127.0.0.1:$(ops_port "$1" "${2:-0}")/health/ready" >/dev/null 2>&1; }

# Milliseconds until the service instance is ready (after a restart), or fails after 60 s.
wait_ready() { # service [instance]
  local start key="$1"
  [ "${2:-0}" = 0 ] || key="$1.$2"
  start="$(now_ms)"
  local deadline=$((SECONDS + 60))
  until ready "$1" "${2:-0}"; do
    alive "$key" || { log "$key exited; see $RUN_DIR/$key.log"; tail -n 5 "$RUN_DIR/$key.log" >&2; return 1; }
    ((SECONDS < deadline)) || { log "$key not ready within 60 s"; return 1; }
    sleep 0.1
  done
  echo $(($(now_ms) - start))
}

start_hub() {
  export ADMIN_AUTH=off JWS_SIGN=false HUB_NAME=Hub LOG_LEVEL="${LOG_LEVEL:-warn}"
  export DATABASE_MAX_CONNECTIONS="${DATABASE_MAX_CONNECTIONS:-8}"
  local s
  for s in "${SERVICES[@]}"; do start_service "$s"; done
  for s in "${SERVICES[@]}"; do wait_ready "$s" >/dev/null; done
}

# ---- the stream ------------------------------------------------------------------------------

start_load() { # extra flags…
  local words="$BROKER_WORDS"
  nohup "$BIN/ferroloop-load" --api-url "http://127.0.0.1:$API_PORT" \
    --admin-url "http://127.0.0.1:$ADMIN_PORT" --database-url "$DATABASE_URL" \
    --broker "$words" --count "$TRANSFERS" --rate "${SCENARIO_RATE:-$RATE}" --dfsps "$DFSPS" --pairs random \
    --limits binding --binding-transfers "$NDC_TRANSFERS" --seed "$SEED" \
    --expiry-seconds "${SCENARIO_EXPIRY:-$EXPIRY}" --drain-grace-seconds 15 --under-faults \
    --allowed-duplicate-callbacks "$DUPLICATES_MAX" --payee-answer-attempts 6 \
    --recover-with-get --recover-wait-seconds 15 --no-progress \
    --report-dir "$RUN_DIR/reports" --name-prefix chaos "$@" >"$RUN_DIR/load.out" 2>"$RUN_DIR/load.err" &
  remember load $!
  local deadline=$((SECONDS + 60))
  until grep -q "sending transfers" "$RUN_DIR/load.err" 2>/dev/null; do
    alive load || { log "the load tool exited before sending:"; tail -n 5 "$RUN_DIR/load.err" >&2; return 1; }
    ((SECONDS < deadline)) || { log "the load tool did not start sending within 60 s"; return 1; }
    sleep 0.1
  done
  LOAD_STARTED=$SECONDS
}

# A few transfers end to end before the stream, so that it starts on consumers that joined their
# groups (readiness comes before the first assignment) rather than on a backlog.
warm_up() {
  if ! "$BIN/ferroloop-load" --api-url "http://127.0.0.1:$API_PORT" \
    --admin-url "http://127.0.0.1:$ADMIN_PORT" --count 20 --rate 20 --dfsps 2 \
    --expiry-seconds 30 --drain-grace-seconds 5 --no-files --no-progress --name-prefix warm \
    >"$RUN_DIR/warm-up.log" 2>&1; then
    log "warm-up transfers did not all go through (see $RUN_DIR/warm-up.log); going on"
  fi
}

# Sleeps until `seconds` after the stream started.
at_second() { local wait=$(($1 - (SECONDS - LOAD_STARTED))); ((wait <= 0)) || sleep "$wait"; }

# Waits for the load tool within the scenario's deadline; its exit code.
finish_load() {
  local pid rc=0
  pid="$(pid_of load)"
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - LOAD_STARTED > SCENARIO_DEADLINE)); then
      log "scenario deadline (${SCENARIO_DEADLINE} s) passed: stopping the load tool"
      stop_one load INT
      return 124
    fi
    sleep 0.5
  done
  wait "$pid" 2>/dev/null || rc=$?
  rm -f "$PIDS/load.pid"
  return "$rc"
}

# ---- faults ----------------------------------------------------------------------------------

# SIGKILL of `key` (service[.instance]) now, restart after 1 s; sets RECOVERY_MS to the time
# from the restart to the service's readiness.
kill_and_restart() { # service [instance]
  local key="$1"
  [ "${2:-0}" = 0 ] || key="$1.$2"
  kill -KILL "$(pid_of "$key")"
  log "killed $key (-9) at t=$((SECONDS - LOAD_STARTED)) s"
  sleep 1
  CHAOS_EXTRA_ENV="" start_service "$1" "${2:-0}"
  RECOVERY_MS="$(wait_ready "$1" "${2:-0}")"
  log "$key ready ${RECOVERY_MS} ms after its restart"
}

fault_kill_service() { # service
  local t
  t="$(seeded "kill-$1" 3 $((TRANSFERS / RATE - 3)))"
  FAULT_AT="t=${t}s"
  at_second "$t"
  kill_and_restart "$1"
}

# The handler was started with its failpoint armed: wait for it to abort, then restart it.
fault_failpoint() { # service point nth
  FAULT_AT="$2:$3"
  local pid
  pid="$(pid_of "$1")"
  while kill -0 "$pid" 2>/dev/null; do
    if ! alive load; then
      log "the stream ended before $1 reached $2:$3"
      FAULT_AT="$2:$3 (not reached)"
      return 0
    fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || true
  log "$1 aborted at its failpoint $2:$3 (t=$((SECONDS - LOAD_STARTED)) s)"
  sleep 1
  CHAOS_EXTRA_ENV="" start_service "$1"
  RECOVERY_MS="$(wait_ready "$1")"
}

# Samples, every second while `seconds` pass: the services' readiness answers and their memory.
observe() { # seconds
  local end=$((SECONDS + $1)) s rss max_rss=0 body
  : >"$RUN_DIR/observed.log"
  while ((SECONDS < end)); do
    rss=0
    for s in "${SERVICES[@]}"; do
      rss=$((rss + $(awk '/VmRSS/ {print $2}' "/proc/$(pid_of "$s")/status" 2>/dev/null || echo 0)))
      body="$(curl -sS -m 1 "http://127.0.0.1:$(ops_port "$s")/health/ready" 2>&1 || true)"
      printf '%s %s %s\n' "$((SECONDS - LOAD_STARTED))" "$s" "${body//$'\n'/ }" >>"$RUN_DIR/observed.log"
    done
    ((rss > max_rss)) && max_rss=$rss
    sleep 1
  done
  MAX_RSS_MIB=$((max_rss / 1024))
}

# Milliseconds until every service is ready again.
all_ready_ms() {
  local start s
  start="$(now_ms)"
  local deadline=$((SECONDS + 120))
  for s in "${SERVICES[@]}"; do
    until ready "$s"; do
      ((SECONDS < deadline)) || { log "$s not ready 120 s after the fault"; echo -1; return; }
      sleep 0.2
    done
  done
  echo $(($(now_ms) - start))
}

fault_pause() { # process-name
  local t
  t="$(seeded "pause-$1" 3 6)"
  FAULT_AT="t=${t}s, ${PAUSE_SECONDS}s"
  at_second "$t"
  kill -STOP "$(pid_of "$1")"
  log "paused $1 (SIGSTOP) for $PAUSE_SECONDS s"
  observe "$PAUSE_SECONDS"
  snapshot_metrics
  kill -CONT "$(pid_of "$1")"
  NOT_READY="$(not_ready_summary)"
  log "resumed $1; services' RSS peaked at ${MAX_RSS_MIB} MiB; readiness: ${NOT_READY:-always ready}"
  echo "${NOT_READY:-always ready}" >"$RUN_DIR/not-ready.txt"
  RECOVERY_MS="$(all_ready_ms)"
}

# What the services' /metrics said at the end of the pause: failures, refusals, lag.
snapshot_metrics() {
  local s
  for s in "${SERVICES[@]}"; do
    curl -sS -m 2 "http://127.0.0.1:$(ops_port "$s")/metrics" 2>/dev/null |
      grep -E '^ferroloop_[a-z_]*(failures|refusals|dead_letters)_total|^ferroloop_consumer_lag' |
      grep -v ' 0$' | sed "s/^/$s /" || true
  done >"$RUN_DIR/metrics-during-pause.txt"
}

# Which services said not-ready during the pause, and why (their /health/ready bodies), with
# the seconds each said so.
not_ready_summary() {
  grep 'NOT READY' "$RUN_DIR/observed.log" | cut -d' ' -f2- | sort | uniq -c |
    awk '{n=$1; $1=""; printf "%s%s (%s s)", sep, substr($0, 2), n; sep="; "}'
}

fault_kill_broker() {
  local t
  t="$(seeded kill-broker 3 $((TRANSFERS / RATE - 3)))"
  FAULT_AT="t=${t}s"
  at_second "$t"
  kill -KILL "$(pid_of broker)"
  wait "$(pid_of broker)" 2>/dev/null || true
  log "killed the broker (-9) at t=$((SECONDS - LOAD_STARTED)) s"
  sleep 1
  start_tansu_sqlite
  RECOVERY_MS="$(all_ready_ms)"
}

fault_kill_db() {
  local t
  t="$(seeded kill-db 3 $((TRANSFERS / RATE - 3)))"
  FAULT_AT="t=${t}s"
  at_second "$t"
  kill -KILL "$(pid_of mariadbd)"
  wait "$(pid_of mariadbd)" 2>/dev/null || true
  log "killed MariaDB (-9) at t=$((SECONDS - LOAD_STARTED)) s"
  sleep 1
  start_db
  RECOVERY_MS="$(all_ready_ms)"
}

# Two members of each scaled handler; one of each leaves (SIGTERM) and comes back every period.
fault_rebalance() {
  local scaled=(prepare-handler position-handler fulfil-handler notification-handler) s changes=0
  for s in "${scaled[@]}"; do start_service "$s" 1; done
  for s in "${scaled[@]}"; do wait_ready "$s" 1 >/dev/null; done
  FAULT_AT="every ${REBALANCE_PERIOD}s"
  local t=$REBALANCE_PERIOD
  while alive load && ((t < TRANSFERS / RATE + REBALANCE_PERIOD)); do
    at_second "$t"
    alive load || break
    if ((changes % 2 == 0)); then
      stop_together "${scaled[@]/%/.1}"
      log "removed a member of each group at t=$((SECONDS - LOAD_STARTED)) s"
    else
      for s in "${scaled[@]}"; do start_service "$s" 1; done
      log "added a member to each group at t=$((SECONDS - LOAD_STARTED)) s"
    fi
    changes=$((changes + 1))
    t=$((t + REBALANCE_PERIOD))
  done
  FAULT_AT="$changes changes, every ${REBALANCE_PERIOD}s"
}

# ---- scenarios -------------------------------------------------------------------------------

run_scenario() { # name
  local name="$1" rc=0 load_flags=()
  RUN_DIR="$STATE/runs/$name"
  rm -rf "$RUN_DIR"
  mkdir -p "$RUN_DIR"
  RECOVERY_MS="" FAULT_AT="" MAX_RSS_MIB="" SCENARIO_EXPIRY="" SCENARIO_RATE=""
  local started=$SECONDS
  log "── $name"
  ensure_db
  fresh_database "chaos_${name//-/_}"
  export KAFKA_FETCH_WAIT_MAX_MS=5 KAFKA_BATCH_MAX_WAIT_MS=5
  case "$name" in
  kill-broker)
    start_durable_broker
    # tansu's sqlite engine runs SQL on every fetch: poll less (docs/performance.md).
    export KAFKA_FETCH_WAIT_MAX_MS=50 KAFKA_BATCH_MAX_WAIT_MS=10
    ;;
  *) start_mock_broker ;;
  esac
  local failpoint="" fp_service="" nth=""
  if [[ "$name" == fp-* ]]; then
    local handler="${name#fp-}"
    fp_service="${handler%-*}-handler"
    nth="$(seeded "$name" 5 40)"
    failpoint="after_${handler##*-}:$nth"
  fi
  start_hub
  if [ -n "$failpoint" ]; then
    stop_one "$fp_service"
    CHAOS_EXTRA_ENV="FERROLOOP_FAILPOINT=$failpoint" start_service "$fp_service"
    wait_ready "$fp_service" >/dev/null
  fi
  case "$name" in
  kill-notification-failing) load_flags=(--failing-dfsp-from-seconds 3 --failing-dfsp-for-seconds 15) ;;
  # Transfers outlive the pause; a POST waits for the adapter's produce through it.
  pause-*) SCENARIO_EXPIRY=$((PAUSE_SECONDS * 2)) load_flags=(--http-timeout-ms $((PAUSE_SECONDS * 2000))) ;;
  rebalance) SCENARIO_RATE=$((RATE / 2)) ;;
  esac
  warm_up
  start_load "${load_flags[@]}"
  case "$name" in
  kill-notification-failing)
    at_second "$(seeded "$name" 6 12)"
    FAULT_AT="t=$((SECONDS - LOAD_STARTED))s, DFSP 0 failing t=3–18s"
    kill_and_restart notification-handler
    ;;
  kill-broker) fault_kill_broker ;;
  kill-db) fault_kill_db ;;
  kill-*) fault_kill_service "${name#kill-}" ;;
  fp-*) fault_failpoint "$fp_service" "${failpoint%%:*}" "$nth" ;;
  pause-broker) fault_pause broker ;;
  pause-db) fault_pause mariadbd ;;
  rebalance) fault_rebalance ;;
  *) log "unknown scenario $name"; return 2 ;;
  esac
  finish_load || rc=$?
  record "$name" "$rc" $((SECONDS - started))
  stop_scenario
}

# One row of results.tsv from the scenario's report.json. Besides the load tool's gate, a 3100
# callback fails the row: a payee's valid answer refused as "not RESERVED" (a replay applied out
# of order) is never legitimate here.
record() { # name load-exit-code seconds
  local report
  report="$(ls -1 "$RUN_DIR"/reports/*/report.json 2>/dev/null | tail -n 1)"
  if [ -z "$report" ]; then
    printf '%s\t%s\t%s\tno report (load tool exit %s)\n' "$1" "$SEED" "$FAULT_AT" "$2" >>"$RESULTS"
    log "$1: no report (exit $2); see $RUN_DIR/load.err"
    return
  fi
  jq -r --arg name "$1" --arg seed "$SEED" --arg at "$FAULT_AT" --arg rc "$2" \
    --arg recovery "${RECOVERY_MS:--}" --arg rss "${MAX_RSS_MIB:--}" --arg secs "$3" '
    [$name, $seed, $at, .totals.sent, .faults.accepted, .faults.committed, .faults.limit_refusals,
     .faults.expired, (.faults.lost // "?"), (.faults.applied_twice // "?"),
     (.faults.invariant_violations // "?"),
     (.faults.duplicate_payer_callbacks + .faults.duplicate_payee_callbacks),
     .faults.payer_untold, .faults.told_after_get, .faults.payee_untold,
     .faults.validation_errors, .faults.max_stall_ms, $recovery, $rss,
     (if .gate.passed and .faults.validation_errors == 0 then "pass" else "FAIL" end), $secs]
    | @tsv' "$report" >>"$RESULTS"
  log "$1: $(tail -n 1 "$RESULTS")"
}

# The results as a Markdown table (docs/reliability.md).
table() {
  echo "| fault | seed | moment | sent | accepted | committed | refused by NDC | expired | lost | applied twice | invariant violations | duplicate callbacks | payers untold | told after GET | payees untold | 3100 callbacks | longest stall (ms) | recovery (ms) | peak RSS (MiB) | gate | seconds |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' '{row="|"; for (i = 1; i <= NF; i++) row = row " " $i " |"; print row}' "$RESULTS"
}

main() {
  for b in ferroloop-load ferroloop-mock-broker db-migrate "${SERVICES[@]}"; do
    [ -x "$BIN/$b" ] || { log "missing $BIN/$b: cargo build --release --workspace --bins"; exit 2; }
  done
  command -v mariadbd >/dev/null || { log "mariadbd missing (make up installs mariadb-server)"; exit 2; }
  mkdir -p "$PIDS"
  : >"$RESULTS"
  local campaign_started=$SECONDS name
  log "seed $SEED, $TRANSFERS transfers at $RATE/s per scenario, NDC = $NDC_TRANSFERS transfers, duplicates allowed $DUPLICATES_MAX"
  IFS=',' read -r -a list <<<"$SCENARIOS"
  for name in "${list[@]}"; do
    # A subshell with `set -e` in force (it would be off inside `f || …`); the pid files let
    # this shell stop whatever the scenario left behind.
    set +e
    (
      set -e
      run_scenario "$name"
    )
    local rc=$?
    set -e
    if ((rc != 0)); then
      log "$name: the scenario itself failed (exit $rc)"
      grep -q "^$name"$'\t' "$RESULTS" || printf '%s\t%s\tscenario failed (exit %s)\n' "$name" "$SEED" "$rc" >>"$RESULTS"
    fi
    stop_scenario
  done
  table >"$STATE/results.md"
  echo
  cat "$STATE/results.md"
  echo
  log "campaign: ${#list[@]} scenarios in $((SECONDS - campaign_started)) s; table in $STATE/results.md, runs in $STATE/runs/"
  if grep -q $'\tFAIL\t\|no report' "$RESULTS"; then return 1; fi
}

main "$@"
