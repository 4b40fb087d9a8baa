#!/usr/bin/env bash
# A demo PKI for the local stack (never for production): one CA that is the "hub CA", the hub's
# FSPIOP server certificate, the hub's client certificate for callbacks, and one client
# certificate per DFSP whose subject CN (and SAN DNS name) is its FSP id — the identity the
# api-adapter binds to FSPIOP-Source.
#
#   scripts/certs.sh init                      CA + hub certificates + DFSPS (default:
#                                              "payerfsp payeefsp"); kept while valid
#   scripts/certs.sh dfsp NAME [NAME...]       a client certificate for one DFSP, or for a tool
#                                              that speaks for several (every NAME a SAN DNS
#                                              name, the first also the CN); prints its path
#
# Files: .stack/certs/{ca,hub-server,hub-client}.{crt,key}, .stack/certs/dfsp/<NAME>.{crt,key}.
# Uses openssl (installed with apt when missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${CERTS_DIR:-$ROOT/.stack/certs}"
DFSPS="${DFSPS:-payerfsp payeefsp}"
# Leaf certificates last a year, the CA ten; `init` renews anything expiring within a week.
LEAF_DAYS=365
CA_DAYS=3650
RENEW_SECONDS=$((7 * 24 * 3600))

log() { printf '[certs] %s\n' "$*" >&2; }

ensure_openssl() {
  command -v openssl >/dev/null 2>&1 && return 0
  log "installing openssl (apt)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq openssl >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq openssl >/dev/null
  fi
}

valid() { # cert file: exists and does not expire soon
  [ -s "$1" ] && openssl x509 -in "$1" -noout -checkend "$RENEW_SECONDS" >/dev/null 2>&1
}

ca() {
  mkdir -p "$DIR/dfsp"
  chmod 700 "$DIR"
  if valid "$DIR/ca.crt" && [ -s "$DIR/ca.key" ]; then return 0; fi
  log "new demo hub CA"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$CA_DAYS" \
    -keyout "$DIR/ca.key" -out "$DIR/ca.crt" -subj "/O=ferroloop demo/CN=ferroloop demo hub CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  # Everything signed by an older CA is stale now.
  rm -f "$DIR"/hub-*.crt "$DIR"/dfsp/*.crt
}

leaf() { # out-prefix usage cn san...
  local out="$1" usage="$2" cn="$3"
  shift 3
  if valid "$out.crt" && [ -s "$out.key" ] &&
    openssl verify -CAfile "$DIR/ca.crt" "$out.crt" >/dev/null 2>&1; then
    return 0
  fi
  local san="" name
  for name in "$@"; do san="${san:+$san,}$name"; done
  local ext
  ext="$(mktemp)"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$ext"
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$out.key" -out "$out.csr" \
    -subj "/O=ferroloop demo/CN=$cn" 2>/dev/null
  openssl x509 -req -in "$out.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days "$LEAF_DAYS" -sha256 -extfile "$ext" -out "$out.crt" 2>/dev/null
  rm -f "$out.csr" "$ext"
  chmod 600 "$out.key"
  log "issued ${out#"$DIR/"}.crt (CN=$cn)"
}

dfsp() { # names...
  [ $# -ge 1 ] || { echo "usage: $0 dfsp NAME [NAME...]" >&2; exit 2; }
  local sans=() name
  for name in "$@"; do sans+=("DNS:$name"); done
  leaf "$DIR/dfsp/$1" clientAuth "$1" "${sans[@]}"
  echo "$DIR/dfsp/$1"
}

init() {
  ensure_openssl
  ca
  leaf "$DIR/hub-server" serverAuth localhost "DNS:localhost" "IP:127.0.0.1"
  # The hub's identity towards DFSPs on callbacks (HUB_NAME).
  leaf "$DIR/hub-client" clientAuth "${HUB_NAME:-Hub}" "DNS:${HUB_NAME:-Hub}"
  local name
  for name in $DFSPS; do dfsp "$name" >/dev/null; done
  log "demo PKI in ${DIR#"$ROOT/"}: ca.crt, hub-server.*, hub-client.*, dfsp/{$(echo "$DFSPS" | tr ' ' ',')}.*"
}

case "${1:-}" in
init) init ;;
dfsp) shift; ensure_openssl; ca; dfsp "$@" ;;
*) echo "usage: $0 init | dfsp NAME [NAME...]" >&2; exit 2 ;;
esac
