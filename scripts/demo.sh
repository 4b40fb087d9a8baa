#!/usr/bin/env bash
# The demo `make run` ends with: onboards two DFSPs through the admin API and drives a short
# stream of real transfers through the FSPIOP API, with the load-test tool's simulated DFSPs
# answering as payees. Some transfers commit, some are refused by the payer's net debit cap
# (4200) and some expire because their payee stays silent (3303), so every outcome shows.
#
#   scripts/demo.sh [debug|release]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE="${1:-${PROFILE:-release}}"
FSPIOP_API_PORT="${FSPIOP_API_PORT:-3000}"
ADMIN_API_PORT="${ADMIN_API_PORT:-3001}"
DATABASE_URL="${DATABASE_URL:-mysql://ferroloop:ferroloop@127.0.0.1:3306/ferroloop}"
# shellcheck source=scripts/admin-tokens.sh
source "$ROOT/scripts/admin-tokens.sh"
if [ "$ADMIN_AUTH" = on ]; then
  echo "[demo] admin API auth ON: the load tool onboards as demo-operator (maker) and approves its requests as demo-checker"
else
  echo "[demo] admin API auth OFF: unauthenticated, funds execute without a checker"
fi

API_URL="http://127.0.0.1:$FSPIOP_API_PORT"
TLS_ARGS=()
if [ "${TLS:-off}" = on ]; then
  # The tool plays both DFSPs through one client: its certificate names both (CN and SAN), so
  # the hub's identity check (certificate name = FSPIOP-Source) passes for each.
  TAG="$(printf '%06x' $((RANDOM * 32768 + RANDOM)) | tail -c 6)"
  CERT="$("$ROOT/scripts/certs.sh" dfsp "demo${TAG}p00" "demo${TAG}p01")"
  CERTS="${CERTS_DIR:-$ROOT/.stack/certs}"
  API_URL="https://127.0.0.1:$FSPIOP_API_PORT"
  TLS_ARGS=(--run-tag "$TAG" --tls-ca-path "$CERTS/ca.crt" --tls-cert-path "$CERT.crt" --tls-key-path "$CERT.key")
  echo "[demo] mTLS: FSPIOP API at $API_URL, client certificate $CERT.crt"
fi

echo "[demo] 20 transfers from demo…p00 to demo…p01: its net debit cap admits 14, 10 % of payees stay silent"
"$ROOT/target/$PROFILE/ferroloop-load" "${TLS_ARGS[@]}" \
  --api-url "$API_URL" \
  --admin-url "http://127.0.0.1:$ADMIN_API_PORT" \
  --database-url "$DATABASE_URL" \
  --name-prefix demo --dfsps 2 --pairs static --count 20 --rate 10 \
  --limits binding --binding-transfers 14 --silent-percent 10 --expiry-seconds 5 \
  --report-dir "$ROOT/load-tests/reports" --no-progress "${TOOL_AUTH[@]}"

echo "[demo] settlement: 20 more transfers over 4 s while the tool closes the open settlement window every second and settles it to SETTLED, resetting the positions (docs/settlement.md)"
SETTLE_TLS_ARGS=()
if [ "${TLS:-off}" = on ]; then
  TAG2="$(printf '%06x' $((RANDOM * 32768 + RANDOM)) | tail -c 6)"
  CERT2="$("$ROOT/scripts/certs.sh" dfsp "demo${TAG2}p00" "demo${TAG2}p01")"
  SETTLE_TLS_ARGS=(--run-tag "$TAG2" --tls-ca-path "$CERTS/ca.crt" --tls-cert-path "$CERT2.crt" --tls-key-path "$CERT2.key")
fi
"$ROOT/target/$PROFILE/ferroloop-load" "${SETTLE_TLS_ARGS[@]}" \
  --api-url "$API_URL" \
  --admin-url "http://127.0.0.1:$ADMIN_API_PORT" \
  --database-url "$DATABASE_URL" \
  --name-prefix demo --dfsps 2 --count 20 --rate 5 --expiry-seconds 5 --settle-every-seconds 1 \
  --report-dir "$ROOT/load-tests/reports" --no-progress "${TOOL_AUTH[@]}" ||
  echo "[demo] the settlement demo failed (above); the hub keeps running"

if [ -s "$ROOT/.stack/run-broker/kafka.bootstrap" ] && [ -f "$ROOT/.stack/run-broker.pid" ]; then
  KAFKA_TEXT="$(cat "$ROOT/.stack/run-broker/kafka.bootstrap") (ferroloop-mock-broker: flat for hours, ~5 MiB per partition, nothing kept across a restart; RUN_BROKER=stack for tansu)"
else
  KAFKA_TEXT="127.0.0.1:9092 (tansu)"
fi
cat <<EOT

The hub keeps running:
  FSPIOP API   $API_URL   (POST/PUT/GET /transfers, GET /health)
  admin API    http://127.0.0.1:$ADMIN_API_PORT   (GET /participants, /participants/{name}/positions, /settlementWindows?state=OPEN, …)
  MariaDB      $DATABASE_URL
  Kafka        $KAFKA_TEXT
  logs         $ROOT/.stack/<service>.log; operations endpoints: scripts/services.sh status
More load:     target/$PROFILE/ferroloop-load --help   (or make bench)
Stop it all:   make stop
EOT

if [ "$ADMIN_AUTH" = on ]; then
  cat <<EOT

Admin API auth: ON (bearer tokens from the local demo issuer, valid 12 h; maker/checker for changes to money, limits and trust).
Operator token (roles operator, finance-maker; subject demo-operator):
  export ADMIN_TOKEN=$OPERATOR_TOKEN
  curl -H "Authorization: Bearer \$ADMIN_TOKEN" http://127.0.0.1:$ADMIN_API_PORT/participants
Checker token (finance-checker; demo-checker), to approve a maker's request:
  export CHECKER_TOKEN=$CHECKER_TOKEN
  curl -X POST -H "Authorization: Bearer \$CHECKER_TOKEN" http://127.0.0.1:$ADMIN_API_PORT/approvals/<approvalId>/approve
Auditor token (auditor): GET /audit, GET /audit/verify
  export AUDITOR_TOKEN=$AUDITOR_TOKEN
More tokens:   target/$PROFILE/admin-api token --signing-key $ISSUER_KEY --key-id issuer --issuer ferroloop-local-demo --audience ferroloop-admin --subject <who> --roles <roles>
Audit chain:   target/$PROFILE/admin-api verify-audit --database-url $DATABASE_URL
EOT
else
  echo
  echo "Admin API auth: OFF (ADMIN_AUTH=off): unauthenticated, central-ledger compatible."
fi
