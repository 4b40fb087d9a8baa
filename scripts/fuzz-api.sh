#!/usr/bin/env bash
# make fuzz-api: schemathesis against the running hub (`make run`), from the repository's OpenAPI
# documents (docs/reliability.md#api-fuzzing-from-the-openapi-documents):
#   - the FSPIOP transfers API (services/api-adapter/testdata/ml-api-adapter-transfers.yaml, the
#     /transfers operations and /health; the document's fxTransfers, /metrics and /endpointcache
#     are ml-api-adapter's, not the hub's) with the headers of an onboarded DFSP (fuzz/api/hooks.py);
#   - the admin API (services/admin-api/testdata/central-ledger-admin.json) with an operator token
#     when ADMIN_AUTH=on, and the check that a refused request changes nothing.
# Exit status 1 on any failed check (a 5xx, a response outside the document, a state change by
# a refused request). Reports: .stack/fuzz-api/.
#
#   FUZZ_API_SECONDS   time budget per API (default 120)
#   FUZZ_API_ONLY      fspiop or admin: fuzz that API only
#   FUZZ_API_FSP       the DFSP to send as (default: the first active participant that is not
#                      the hub, from the admin API)
#   FSPIOP_API_PORT, ADMIN_API_PORT, ADMIN_AUTH, PROFILE   as for `make run`
#
# schemathesis is installed (once, pinned) into .stack/fuzz-api-venv from PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE="${PROFILE:-release}"
VENV="$ROOT/.stack/fuzz-api-venv"
SCHEMATHESIS_VERSION=4.32.5
REPORTS="$ROOT/.stack/fuzz-api"
SECONDS_PER_API="${FUZZ_API_SECONDS:-120}"
FSPIOP_URL="http://127.0.0.1:${FSPIOP_API_PORT:-3000}"
ADMIN_URL="http://127.0.0.1:${ADMIN_API_PORT:-3001}"

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
  echo "[fuzz-api] installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

# shellcheck source=scripts/admin-tokens.sh
source "$ROOT/scripts/admin-tokens.sh"
AUTH=()
if [ "$ADMIN_AUTH" = on ]; then
  AUTH=(-H "Authorization: Bearer $OPERATOR_TOKEN")
  export FUZZ_API_ADMIN_TOKEN="$OPERATOR_TOKEN"
fi
if ! curl -sf -m 5 "$ADMIN_URL/health" >/dev/null || ! curl -sf -m 5 "$FSPIOP_URL/health" >/dev/null; then
  echo "[fuzz-api] the hub does not answer at $FSPIOP_URL and $ADMIN_URL: start it with make run" >&2
  exit 2
fi
if [ -z "${FUZZ_API_FSP:-}" ]; then
  FUZZ_API_FSP="$(curl -sf -m 5 "${AUTH[@]}" "$ADMIN_URL/participants" | python3 -c '
import json, sys
hub = sys.argv[1].lower()
names = [p["name"] for p in json.load(sys.stdin) if p.get("isActive") and p["name"].lower() != hub]
print(names[0] if names else "")' "${HUB_NAME:-Hub}")"
fi
if [ -z "$FUZZ_API_FSP" ]; then
  echo "[fuzz-api] no onboarded DFSP: run make run (its demo onboards two)" >&2
  exit 2
fi
# The adapter's operations port in `make run` (scripts/services.sh: OPS_PORT_BASE + its index).
export FUZZ_API_ADAPTER_METRICS_URL="${FUZZ_API_ADAPTER_METRICS_URL:-http://127.0.0.1:$((${OPS_PORT_BASE:-9100} + 1))/metrics}"
export FUZZ_API_FSP FUZZ_API_ADMIN_URL="$ADMIN_URL"
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/fuzz/api${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$REPORTS"

# Checks: every response-side check, plus refused_requests_change_nothing (hooks.py). Not run:
# the stateful checks (use_after_free, ensure_resource_availability: the documents have no links)
# and positive_data_acceptance: the hub refuses schema-valid data the business rules forbid
# (unknown payee, expired expiration, a name already taken), answered 4xx as documented.
# FSPIOP only: unsupported_method, since the header rules run before routing
# (docs/fspiop-api.md#order-of-checks: a TRACE with a bad Accept is 400, not 405), and no PATCH,
# which only the hub sends (501 / 2002 by design, step 9 of the same table).
NOT_RUN=use_after_free,ensure_resource_availability,positive_data_acceptance
COMMON=(--workers 1 --max-time "$SECONDS_PER_API" --phases examples,coverage,fuzzing --checks all
  --suppress-health-check all --request-timeout 10 --generation-database none --no-color)

status=0
ONLY="${FUZZ_API_ONLY:-}" # fspiop or admin: one API only
if [ "$ONLY" != admin ]; then
echo "[fuzz-api] FSPIOP API at $FSPIOP_URL as $FUZZ_API_FSP for ${SECONDS_PER_API}s"
"$VENV/bin/st" run "$ROOT/services/api-adapter/testdata/ml-api-adapter-transfers.yaml" \
  --url "$FSPIOP_URL" --include-path-regex '^/(transfers|health)' --exclude-method PATCH \
  "${COMMON[@]}" --exclude-checks "$NOT_RUN,unsupported_method" \
  --report junit --report-dir "$REPORTS/fspiop" || status=1
fi
if [ "$ONLY" != fspiop ]; then
echo "[fuzz-api] admin API at $ADMIN_URL for ${SECONDS_PER_API}s"
"$VENV/bin/st" run "$ROOT/services/admin-api/testdata/central-ledger-admin.json" \
  --url "$ADMIN_URL" "${AUTH[@]}" "${COMMON[@]}" --exclude-checks "$NOT_RUN" \
  --report junit --report-dir "$REPORTS/admin" || status=1
fi
exit "$status"
