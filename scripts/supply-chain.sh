#!/usr/bin/env bash
# Supply-chain checks and the SBOM.
#
#   scripts/supply-chain.sh check   cargo-deny: licenses, bans, sources; advisories when the
#                                   RustSec database can be fetched (or a fetched copy exists)
#   scripts/supply-chain.sh sbom    CycloneDX 1.5 JSON, one SBOM per binary, in target/sbom/
#
# Both install their cargo tool once (`cargo install --locked`). Network trouble never fails
# `make test`: without the registry the tool cannot be installed, without GitHub the advisory
# database cannot be fetched — each is reported loudly and the rest still runs. Set
# SUPPLY_CHAIN_STRICT=1 (e.g. in a CI job with network) to make either an error.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
STRICT="${SUPPLY_CHAIN_STRICT:-0}"
# How long fetching the advisory database may take before it counts as unreachable.
FETCH_TIMEOUT_SECONDS="${ADVISORY_FETCH_TIMEOUT_SECONDS:-60}"

log() { printf '[supply-chain] %s\n' "$*" >&2; }

skip() { # reason
  if [ "$STRICT" = 1 ]; then log "ERROR: $1"; exit 1; fi
  log "WARNING: $1"
}

ensure_tool() { # cargo subcommand, crate
  if cargo "$1" --version >/dev/null 2>&1; then return 0; fi
  log "installing $2 (once; a few minutes)"
  nice cargo install --locked "$2" >&2 || return 1
}

check() {
  cd "$ROOT"
  if ! ensure_tool deny cargo-deny; then
    skip "cargo-deny could not be installed (crates.io unreachable?): supply-chain checks NOT run"
    return 0
  fi
  # Licenses, bans and sources need only the lock file and the registry cache, but the cache
  # must hold every locked package, also those only other platforms use (cargo metadata reads
  # them all): fetch them first while crates.io is reachable.
  cargo fetch >/dev/null 2>&1 || log "cargo fetch failed; checking with the registry cache as it is"
  cargo deny --offline check licenses bans sources
  if timeout "$FETCH_TIMEOUT_SECONDS" cargo deny fetch db >/dev/null 2>&1; then
    cargo deny check --disable-fetch advisories
  elif compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/*/crates" >/dev/null; then
    log "advisory database unreachable; checking against the copy fetched earlier"
    cargo deny check --disable-fetch advisories
  else
    skip "the RustSec advisory database cannot be fetched (no route to github.com) and no copy exists: advisories NOT checked (licenses, bans and sources were)"
  fi
}

sbom() {
  cd "$ROOT"
  if ! ensure_tool cyclonedx cargo-cyclonedx; then
    skip "cargo-cyclonedx could not be installed (crates.io unreachable?): no SBOM written"
    return 0
  fi
  local out="$ROOT/target/sbom"
  mkdir -p "$out"
  # cargo-cyclonedx writes each SBOM beside its crate's Cargo.toml; collect them.
  cargo cyclonedx --format json --spec-version 1.5 --describe binaries --all -q
  local file n=0
  while IFS= read -r -d '' file; do
    mv -f "$file" "$out/$(basename "$file")"
    n=$((n + 1))
  done < <(find "$ROOT/services" "$ROOT/load-tests" -name '*.cdx.json' -print0)
  log "$n CycloneDX SBOMs (one per binary) in ${out#"$ROOT/"}/"
}

case "${1:-}" in
check) check ;;
sbom) sbom ;;
*) echo "usage: $0 check | sbom" >&2; exit 2 ;;
esac
