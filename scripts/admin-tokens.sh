# Sourced by demo.sh and bench.sh: tokens for the load tool from the local demo issuer whose key
# scripts/services.sh made (.stack/admin-issuer/), matching the issuer and audience it started
# the admin API with. Sets TOOL_AUTH (load-tool flags) and, with auth on, OPERATOR_TOKEN,
# CHECKER_TOKEN and AUDITOR_TOKEN. Needs ROOT and PROFILE.
ADMIN_AUTH="${ADMIN_AUTH:-on}"
ISSUER_KEY="$ROOT/.stack/admin-issuer/issuer.key"
admin_token() { # subject roles
  "$ROOT/target/$PROFILE/admin-api" token --signing-key "$ISSUER_KEY" --key-id issuer \
    --issuer "${ADMIN_AUTH_ISSUER:-ferroloop-local-demo}" --audience "${ADMIN_AUTH_AUDIENCE:-ferroloop-admin}" \
    --subject "$1" --roles "$2" --ttl-seconds 43200
}
TOOL_AUTH=()
if [ "$ADMIN_AUTH" = on ]; then
  OPERATOR_TOKEN="$(admin_token demo-operator operator,finance-maker)"
  CHECKER_TOKEN="$(admin_token demo-checker finance-checker)"
  AUDITOR_TOKEN="$(admin_token demo-auditor auditor)"
  TOOL_AUTH=(--admin-token "$OPERATOR_TOKEN" --admin-checker-token "$CHECKER_TOKEN")
fi
