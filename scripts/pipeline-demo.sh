#!/usr/bin/env bash
# One transfer through the handler binaries over the local stack, end to end on Kafka:
#   scripts/pipeline-demo.sh
# Starts MariaDB + tansu (make up), builds and starts prepare, position, fulfil and timeout
# handlers against the `ferroloop` database, drives a prepare and the payee's fulfilment through
# the topics, prints the notifications and the final state, and stops the handlers again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/stack.sh up
cargo build -q -p ferroloop-db-migrate -p ferroloop-prepare-handler -p ferroloop-position-handler \
  -p ferroloop-fulfil-handler -p ferroloop-timeout-handler --bins
cargo build -q -p ferroloop-tests --example pipeline_demo
export DATABASE_URL="${DATABASE_URL:-mysql://ferroloop:ferroloop@127.0.0.1:3306/ferroloop}" LOG_LEVEL=warn
# Migrate once, before the handlers start.
target/debug/db-migrate
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for handler in prepare-handler position-handler fulfil-handler timeout-handler; do
  target/debug/$handler >".stack/$handler.log" 2>&1 &
  pids+=($!)
done
target/debug/examples/pipeline_demo
