#!/usr/bin/env bash
# `make bench`: the standard load scenario against the local stack, release build, with MariaDB
# fully durable (innodb_flush_log_at_trx_commit=1: every commit reaches the disk). Prints the
# load-test tool's table; the JSON and HTML reports land in load-tests/reports/.
#
# Override any of: BENCH_RATE (transfers/s, open loop), BENCH_DURATION (s), BENCH_DFSPS,
# BENCH_PAIRS (static|random|skewed), BENCH_WARMUP (s), BENCH_ARGS (extra tool flags).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_RATE="${BENCH_RATE:-2000}"
BENCH_DURATION="${BENCH_DURATION:-180}"
BENCH_DFSPS="${BENCH_DFSPS:-8}"
BENCH_PAIRS="${BENCH_PAIRS:-random}"
BENCH_WARMUP="${BENCH_WARMUP:-5}"
DATABASE_URL="${DATABASE_URL:-mysql://ferroloop:ferroloop@127.0.0.1:3306/ferroloop}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_root mysql --protocol=socket -uroot -e "SET GLOBAL innodb_flush_log_at_trx_commit = 1"
echo "[bench] MariaDB innodb_flush_log_at_trx_commit = $(as_root mysql --protocol=socket -uroot -N -e 'SELECT @@innodb_flush_log_at_trx_commit')"

"$ROOT/scripts/services.sh" start release
PROFILE=release
# shellcheck source=scripts/admin-tokens.sh
source "$ROOT/scripts/admin-tokens.sh"
echo "[bench] open loop at $BENCH_RATE transfers/s for $BENCH_DURATION s, $BENCH_DFSPS DFSPs, $BENCH_PAIRS pairs"
# shellcheck disable=SC2086
"$ROOT/target/release/ferroloop-load" \
  --database-url "$DATABASE_URL" \
  --mode open --rate "$BENCH_RATE" --duration-seconds "$BENCH_DURATION" \
  --warmup-seconds "$BENCH_WARMUP" --dfsps "$BENCH_DFSPS" --pairs "$BENCH_PAIRS" \
  --report-dir "$ROOT/load-tests/reports" "${TOOL_AUTH[@]}" ${BENCH_ARGS:-}
