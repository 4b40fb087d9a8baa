#!/usr/bin/env bash
# Runs the Helm chart checks (helm/tests/check_chart.py) in their own venv, .stack/helm-venv.
# The venv is (re)built only when it is missing, broken, or requirements.txt changed; arguments
# go to the script (e.g. --write-readme).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.stack/helm-venv"
REQUIREMENTS="$ROOT/helm/tests/requirements.txt"
STAMP="$VENV/.requirements.sha256"

log() { printf '[helm-check] %s\n' "$*" >&2; }

want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ] \
  || ! "$VENV/bin/python" -c 'import helm_python, kubernetes_validate' >/dev/null 2>&1; then
  log "setting up $VENV"
  mkdir -p "$ROOT/.stack"
  if ! python3 -m venv --clear "$VENV" >/dev/null 2>&1; then
    # Debian's python3 ships venv/ensurepip separately.
    log "installing python3-venv"
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv --clear "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  echo "$want" >"$STAMP"
fi
exec "$VENV/bin/python" "$ROOT/helm/tests/check_chart.py" "$@"
