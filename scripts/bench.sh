#!/usr/bin/env bash
# `make bench`: the standard load scenario of docs/performance.md against the local stack,
# release build, MariaDB fully durable (innodb_flush_log_at_trx_commit=1: every commit reaches
# the disk). Prints the load-test tool's table, then the CPU time each process spent per
# transfer (from /proc). The JSON and HTML reports land in load-tests/reports/bench-<time>/.
#
# The broker (BENCH_BROKER) is started fresh for the run on a port of its own by
# scripts/bench-broker.sh, the services are restarted against it (KAFKA_BROKERS from its
# bootstrap file) with the bench's Kafka settings, and after the run the services and that
# broker are stopped (`make run` starts the services again on the stack's broker). The stack's
# tansu on :9092 is left alone.
#   mock (default)  ferroloop-mock-broker, librdkafka's mock cluster: a benchmark-only broker whose
#                   cost per message does not grow with what it stored (tansu 0.6.0 memory's does).
#                   Not durable, and each partition keeps only ~5 MiB or 100,000 batches: a lag
#                   guard (`ferroloop-mock-broker watch-lag`) samples every handler group's lag
#                   per partition and aborts the run past BENCH_MAX_LAG_BYTES (3 MB) on one.
#   tansu           tansu 0.6.0, memory engine (the stack's broker, a fresh instance).
#   tansu-sqlite    tansu 0.6.0, durable sqlite engine (installed once into .stack/tansu-sqlite,
#                   ~12 minutes); its idle fetch polling is costly, so the fetch wait is 50 ms.
#
# Override any of: BENCH_BROKER, BENCH_MODE (open, the default, or closed), BENCH_RATE
# (transfers/s, open loop), BENCH_CONCURRENCY (transfers in flight, closed loop: 20 is the
# side-by-side with Mojaloop's own closed-loop figures), BENCH_DURATION (s),
# BENCH_DFSPS, BENCH_PAIRS (static|random|skewed), BENCH_WARMUP (s), BENCH_PARTITIONS (per
# topic), BENCH_MAX_LAG_BYTES, BENCH_ARGS (extra tool flags), BENCH_FRESH_BROKER=0 (keep the
# running broker and services: no restart, no lag guard), and the Kafka settings
# KAFKA_LINGER_MS, KAFKA_FETCH_WAIT_MAX_MS, KAFKA_BATCH_MAX_WAIT_MS.
# The first performance bar of issue 5 is BENCH_RATE=2000 BENCH_DURATION=180.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.stack"
# 500/s for 30 s: the standard scenario (docs/performance.md).
BENCH_RATE="${BENCH_RATE:-500}"
BENCH_MODE="${BENCH_MODE:-open}"
BENCH_CONCURRENCY="${BENCH_CONCURRENCY:-20}"
case "$BENCH_MODE" in
open) LOOP_ARGS=(--mode open --rate "$BENCH_RATE") ;;
closed) LOOP_ARGS=(--mode closed --concurrency "$BENCH_CONCURRENCY") ;;
*) echo "BENCH_MODE must be open or closed (got '$BENCH_MODE')" >&2; exit 2 ;;
esac
BENCH_DURATION="${BENCH_DURATION:-30}"
BENCH_DFSPS="${BENCH_DFSPS:-8}"
BENCH_PAIRS="${BENCH_PAIRS:-random}"
BENCH_WARMUP="${BENCH_WARMUP:-5}"
BENCH_BROKER="${BENCH_BROKER:-mock}"
export BENCH_PARTITIONS="${BENCH_PARTITIONS:-8}"
BENCH_FRESH_BROKER="${BENCH_FRESH_BROKER:-1}"
# The lag guard's stop line per partition, below the mock's 5 MiB retention.
BENCH_MAX_LAG_BYTES="${BENCH_MAX_LAG_BYTES:-3000000}"
# Kafka settings per broker (docs/performance.md). The mock answers a fetch as soon as it holds
# data, so the services' own defaults apply; tansu answers after the whole fetch wait, and fewer,
# larger batches keep its memory engine's fetch listing short; its sqlite engine runs SQL on
# every fetch of every partition, so idle polling at 5 ms would burn a core.
case "$BENCH_BROKER" in
mock) defaults=(1 5 5) ;;
tansu) defaults=(5 20 10) ;;
tansu-sqlite) defaults=(5 50 10) ;;
*) echo "BENCH_BROKER must be mock, tansu or tansu-sqlite (got '$BENCH_BROKER')" >&2; exit 2 ;;
esac
export KAFKA_LINGER_MS="${KAFKA_LINGER_MS:-${defaults[0]}}"
export KAFKA_FETCH_WAIT_MAX_MS="${KAFKA_FETCH_WAIT_MAX_MS:-${defaults[1]}}"
export KAFKA_BATCH_MAX_WAIT_MS="${KAFKA_BATCH_MAX_WAIT_MS:-${defaults[2]}}"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
# The figures in docs/performance.md are without hub callback signatures (make run signs by
# default): JWS_SIGN=true scripts/bench.sh measures with them.
export JWS_SIGN="${JWS_SIGN:-false}"
DATABASE_URL="${DATABASE_URL:-mysql://ferroloop:ferroloop@127.0.0.1:3306/ferroloop}"
# MariaDB's default 128 MiB buffer pool is smaller than a few minutes of transfers and their
# journals; a production hub sizes it to its working set.
BUFFER_POOL_BYTES="${BENCH_INNODB_BUFFER_POOL_BYTES:-1073741824}"

log() { printf '[bench] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
root_sql() { as_root mysql --protocol=socket -uroot -N -e "$1"; }

root_sql "SET GLOBAL innodb_flush_log_at_trx_commit = 1"
root_sql "SET GLOBAL innodb_buffer_pool_size = $BUFFER_POOL_BYTES"
log "MariaDB innodb_flush_log_at_trx_commit = $(root_sql 'SELECT @@innodb_flush_log_at_trx_commit'), buffer pool $(root_sql 'SELECT @@innodb_buffer_pool_size') bytes"

# FERROLOOP_BIN_DIR=<folder>: bench the binaries in that folder, unbuilt (the services too), so an
# old build and a new one can be measured in one session: old and new alternate on a noisy box.
if [ -n "${FERROLOOP_BIN_DIR:-}" ]; then
  BIN="$FERROLOOP_BIN_DIR"
  log "binaries from $BIN (not built)"
else
  log "building (release)"
  (cd "$ROOT" && cargo build -q --release --workspace --bins)
  BIN="$ROOT/target/release"
fi
WATCH_PID=""
cleanup() {
  if [ -n "$WATCH_PID" ] && kill -0 "$WATCH_PID" 2>/dev/null; then kill -TERM "$WATCH_PID" 2>/dev/null || true; fi
  if [ "$BENCH_FRESH_BROKER" = 1 ]; then
    "$ROOT/scripts/services.sh" stop
    "$ROOT/scripts/bench-broker.sh" stop
    log "services and the bench broker stopped (make run starts the services on the stack's broker)"
  fi
}
if [ "$BENCH_FRESH_BROKER" = 1 ]; then
  trap cleanup EXIT
  log "restarting the services against a fresh $BENCH_BROKER broker ($BENCH_PARTITIONS partitions per topic)"
  "$ROOT/scripts/services.sh" stop
  "$ROOT/scripts/bench-broker.sh" start "$BENCH_BROKER" >/dev/null
  KAFKA_BROKERS="$(cat "$STATE/bench-broker/kafka.bootstrap")"
  export KAFKA_BROKERS
  case "$BENCH_BROKER" in
  mock) BROKER_LABEL="mock: ferroloop-mock-broker (librdkafka's mock cluster, benchmark only: not durable, ~5 MiB or 100k batches per partition)" ;;
  tansu) BROKER_LABEL="tansu $("$(command -v tansu)" --version 2>/dev/null | awk '{print $2}'), memory engine" ;;
  tansu-sqlite) BROKER_LABEL="tansu $("$STATE/tansu-sqlite/bin/tansu" --version 2>/dev/null | awk '{print $2}'), sqlite engine (durable)" ;;
  esac
  BROKER_LABEL="$BROKER_LABEL, $BENCH_PARTITIONS partitions per topic"
else
  if [ -z "${KAFKA_BROKERS:-}" ] && [ -s "$STATE/run-broker/kafka.bootstrap" ]; then
    KAFKA_BROKERS="$(cat "$STATE/run-broker/kafka.bootstrap")"
  fi
  BROKER_LABEL="${BENCH_BROKER_LABEL:-the running broker, ${KAFKA_BROKERS:-127.0.0.1:9092}}"
fi
BROKER_LABEL="$BROKER_LABEL; linger $KAFKA_LINGER_MS ms, fetch wait $KAFKA_FETCH_WAIT_MAX_MS ms, batch wait $KAFKA_BATCH_MAX_WAIT_MS ms"
log "broker: $BROKER_LABEL"
"$ROOT/scripts/services.sh" start release
PROFILE=release
# shellcheck source=scripts/admin-tokens.sh
source "$ROOT/scripts/admin-tokens.sh"

# CPU ticks (user + system) of every process of the hub, by name: what services.sh and
# bench-broker.sh started (their pid files), and MariaDB whoever started it. The stack's own
# broker (tansu.pid) carries no bench traffic.
mapfile -t PROCESSES < <(cd "$STATE" && ls -- *.pid | sed 's/\.pid$//' | grep -vx -e mariadb -e tansu)
pid_of() { # name
  if [ "$1" = mariadbd ]; then pgrep -o -x mariadbd || pgrep -o -x mysqld || true
  elif [ -f "$STATE/$1.pid" ]; then cat "$STATE/$1.pid"
  fi
}
ticks_of() { # pid
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
  # Fields 14 and 15 (utime, stime) after the parenthesised command name.
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
declare -A BEFORE
for name in "${PROCESSES[@]}" mariadbd; do BEFORE[$name]="$(ticks_of "$(pid_of "$name")")"; done
# The tool is this shell's child: bash's `times` (second line: waited-for children) counts it.
# Called in this shell, not in $(…): a subshell does not see this shell's children.
children_cpu_us() { # variable to set
  times >"$STATE/bench.times"
  printf -v "$1" '%s' "$(tail -n 1 "$STATE/bench.times" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] } printf "%d", t * 1000000 }')"
}
children_cpu_us TOOL_BEFORE_US
# The report plots the same processes' CPU second by second.
WATCH_ARGS=()
for name in "${PROCESSES[@]}" mariadbd; do
  pid="$(pid_of "$name")"
  [ -z "$pid" ] || WATCH_ARGS+=(--watch-pid "$name=$pid")
done

log "${LOOP_ARGS[*]} for $BENCH_DURATION s, $BENCH_DFSPS DFSPs, $BENCH_PAIRS pairs"
status=0
# A directory of this run's own, so the report read below is this run's and no other's.
RUN_REPORTS="$ROOT/load-tests/reports/bench-$(date -u +%Y%m%dT%H%M%SZ)"
# `wait` for the first of the given children to end: FINISHED is its pid, FINISHED_STATUS its
# exit status. A trapped signal interrupts `wait` without a child having ended; wait again.
wait_first() {
  local rc
  while true; do
    rc=0
    unset FINISHED
    wait -n -p FINISHED "$@" || rc=$?
    if [ -n "${FINISHED:-}" ]; then FINISHED_STATUS=$rc; return 0; fi
  done
}
# Ctrl-C reaches the tool too, which stops sending and drains; the bench ends after it.
trap 'log "interrupted: the load tool stops sending and drains first"' INT
# shellcheck disable=SC2086
"$BIN/ferroloop-load" \
  --database-url "$DATABASE_URL" --broker "$BROKER_LABEL" \
  "${LOOP_ARGS[@]}" --duration-seconds "$BENCH_DURATION" \
  --warmup-seconds "$BENCH_WARMUP" --dfsps "$BENCH_DFSPS" --pairs "$BENCH_PAIRS" \
  --report-dir "$RUN_REPORTS" "${TOOL_AUTH[@]}" "${WATCH_ARGS[@]}" ${BENCH_ARGS:-} &
TOOL_PID=$!
WATCH_US=0
if [ "$BENCH_FRESH_BROKER" = 1 ] && [ "$BENCH_BROKER" = mock ]; then
  # The retention guard: the mock drops a partition's oldest batches past ~5 MiB, read or not.
  "$BIN/ferroloop-mock-broker" watch-lag --bootstrap "$KAFKA_BROKERS" \
    --max-lag-bytes "$BENCH_MAX_LAG_BYTES" >"$STATE/bench-lag.log" 2>&1 &
  WATCH_PID=$!
  log "lag guard: stop past $BENCH_MAX_LAG_BYTES bytes of lag on a partition (log $STATE/bench-lag.log)"
  wait_first "$TOOL_PID" "$WATCH_PID"
  if [ "$FINISHED" = "$WATCH_PID" ]; then
    WATCH_PID=""
    log "ABORTED by the lag guard (exit $FINISHED_STATUS):"
    grep -v '^t=' "$STATE/bench-lag.log" | tail -n 3 >&2
    log "stopping the load tool (it drains and runs its gate)"
    kill -INT "$TOOL_PID" 2>/dev/null || true
    wait_first "$TOOL_PID"
    status=3
  else
    status=$FINISHED_STATUS
    # The guard is this shell's child too: its CPU is not the tool's.
    WATCH_US=$(( $(ticks_of "$WATCH_PID") * 1000000 / $(getconf CLK_TCK) ))
    kill -TERM "$WATCH_PID" 2>/dev/null || true
    wait_first "$WATCH_PID"
    WATCH_PID=""
    log "lag guard: $(tail -n 1 "$STATE/bench-lag.log")"
  fi
else
  wait_first "$TOOL_PID"
  status=$FINISHED_STATUS
fi
trap - INT

children_cpu_us TOOL_AFTER_US
TOOL_US=$((TOOL_AFTER_US - TOOL_BEFORE_US - WATCH_US))
report="$(ls "$RUN_REPORTS"/*/report.json 2>/dev/null | head -n 1 || true)"
sent="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["sent"])' "$report" 2>/dev/null || echo 0)"
if [ "$sent" -gt 0 ]; then
  hz="$(getconf CLK_TCK)"
  echo
  echo "CPU per transfer ($sent transfers, onboarding and warm-up included):"
  total=0
  for name in "${PROCESSES[@]}" mariadbd; do
    after="$(ticks_of "$(pid_of "$name")")"
    us=$(( (after - ${BEFORE[$name]}) * 1000000 / hz / sent ))
    total=$((total + us))
    label="$name"
    [ "$name" != bench-broker ] || label="broker ($BENCH_BROKER)"
    printf '  %-22s %6d µs\n' "$label" "$us"
  done
  if [ "$BENCH_MODE" = open ]; then
    printf '  %-22s %6d µs   (%d transfers/s would need %d%% of one core)\n' "total (the hub)" "$total" "$BENCH_RATE" $((total * BENCH_RATE / 10000))
  else
    printf '  %-22s %6d µs\n' "total (the hub)" "$total"
  fi
  printf '  %-22s %6d µs\n' "ferroloop-load (tool)" $((TOOL_US / sent))
  if [ "$WATCH_US" -gt 0 ]; then printf '  %-22s %6d µs\n' "lag guard" $((WATCH_US / sent)); fi
fi
if [ -n "$report" ]; then
  # The same per process over the steady seconds only: after the warm-up, while sending, so
  # onboarding, the drain and the gate's queries are out. This is the figure to compare runs by.
  python3 - "$report" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
warm, dur = d["scenario"]["warmup_seconds"], d["scenario"]["duration_seconds"]
steady = lambda s: warm <= s["second"] < dur
committed = sum(t["committed"] for t in d["timeline"] if steady(t))
samples = [c for c in d["cpu"] if steady(c)]
if committed and samples:
    print(f"\nCPU per committed transfer, steady state (seconds {warm}-{dur}: {committed} committed):")
    total = 0
    for name in sorted(samples[0]["percent_of_core"]):
        us = sum(c["percent_of_core"].get(name, 0) for c in samples) * 10000 // committed
        if name != "ferroloop-load":
            total += us
        print(f"  {name:<22} {us:6d} µs")
    print(f"  {'total (the hub)':<22} {total:6d} µs")
PY
  echo
  echo "report (rate, latency and CPU per process over time): ${report%.json}.html"
fi
exit "$status"
