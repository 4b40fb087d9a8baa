#!/usr/bin/env bash
# The offline data of the store's compile-checked statements (`sqlx::query!` and friends in
# shared/store): one shared/store/.sqlx/query-<hash>.json per statement, which every build reads
# (SQLX_OFFLINE=true in .cargo/config.toml), so no build needs a database.
#
#   scripts/sqlx-prepare.sh           regenerate shared/store/.sqlx; commit the result
#   scripts/sqlx-prepare.sh --check   fail if shared/store/.sqlx is not what the code and
#                                     migrations/ give now (`make test` runs this)
#
# Both create a throwaway database (ferroloop_sqlx_prepare) on the local MariaDB (`make up`),
# apply migrations/ to it, build ferroloop-store once online against it (SQLX_OFFLINE=false; the
# macros write the data of every statement they check into SQLX_OFFLINE_DIR), and drop it again.
# Run it after changing a checked statement or the schema: a checked statement without data does
# not compile, and a changed statement text is a different file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/shared/store/.sqlx"
DB_HOST="${DB_HOST:-127.0.0.1}"
DB_PORT="${DB_PORT:-3306}"
DB_USER="${DB_USER:-ferroloop}"
DB_PASSWORD="${DB_PASSWORD:-ferroloop}"
# A fixed name: the data names each column's table as database.table, so the check compares
# equal only against data made with the same name. Runs on one server take turns (the lock).
DB=ferroloop_sqlx_prepare
export PATH="$HOME/.cargo/bin:$PATH"

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

sql() {
  mysql -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -p"$DB_PASSWORD" "$@"
}

exec 9>"${TMPDIR:-/tmp}/ferroloop-sqlx-prepare.lock"
flock 9
out="$(mktemp -d)"
cleanup() {
  sql -e "DROP DATABASE IF EXISTS \`$DB\`" || true
  rm -rf "$out"
}
trap cleanup EXIT

sql -e "DROP DATABASE IF EXISTS \`$DB\`; CREATE DATABASE \`$DB\`"
for migration in "$ROOT"/migrations/*.sql; do
  sql "$DB" <"$migration"
done

# The macros run when the crate compiles, so make it compile: a build that is already fresh
# would check nothing and write nothing.
touch "$ROOT/shared/store/src/lib.rs"
(
  cd "$ROOT"
  SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$out" \
    DATABASE_URL="mysql://$DB_USER:$DB_PASSWORD@$DB_HOST:$DB_PORT/$DB" \
    cargo build --quiet -p ferroloop-store --lib
)

if [[ $mode == check ]]; then
  if ! diff -r "$DATA" "$out" >/dev/null 2>&1; then
    diff -r "$DATA" "$out" | head -n 40 >&2 || true
    echo "shared/store/.sqlx is out of date: run scripts/sqlx-prepare.sh and commit the result" >&2
    exit 1
  fi
  echo "shared/store/.sqlx is current ($(ls "$out" | wc -l) statements)"
else
  rm -rf "$DATA"
  mkdir -p "$DATA"
  cp "$out"/query-*.json "$DATA"/
  echo "shared/store/.sqlx: $(ls "$DATA" | wc -l) statements"
fi
