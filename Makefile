# ferroloop — see README.md. Every target installs what it needs and is safe to repeat.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

DATABASE_URL ?= mysql://ferroloop:ferroloop@127.0.0.1:3306/ferroloop
export FERROLOOP_TEST_MYSQL_URL ?= mysql://ferroloop:ferroloop@127.0.0.1:3306
export FERROLOOP_TEST_KAFKA ?= 127.0.0.1:9092

.PHONY: up down status run stop bench chaos test test-fast sqlx-prepare lint fmt build clean-test-dbs certs supply-chain sbom

# run and bench use optimised binaries; PROFILE=debug make run starts faster after `make test`.
PROFILE ?= release

## up: start MariaDB and the tansu broker on loopback (installing them if needed), create topics
up:
	@scripts/stack.sh up

## down: stop only what `make up` started
down:
	@scripts/stack.sh down

status:
	@scripts/stack.sh status
	@scripts/services.sh status

## run: the local stack and every service, a demo stream of transfers; leaves the hub running.
## TLS=on make run: the FSPIOP API over mTLS with the certificates of `make certs`.
TLS ?= off
export TLS
run: up $(if $(filter on,$(TLS)),certs)
	@scripts/services.sh start $(PROFILE)
	@scripts/demo.sh $(PROFILE)

## certs: a demo CA, the hub's server and client certificates and per-DFSP client certificates
## in .stack/certs (idempotent: kept while valid)
certs:
	@scripts/certs.sh init

## stop: stop the services, then what `make up` started
stop:
	@scripts/services.sh stop
	@scripts/stack.sh down

## bench: the standard load scenario (docs/performance.md) on a fresh benchmark broker of its own
## (BENCH_BROKER=mock, the default; tansu; tansu-sqlite), table printed
bench: up
	@scripts/bench.sh

## chaos: the fault campaign (docs/reliability.md): every service, the broker and MariaDB killed,
## paused or crashed at failpoints mid-stream, each scenario on its own broker, ports and MariaDB
## (:3307), table printed. CHAOS_SCENARIOS=kill-api-adapter,… runs a subset; CHAOS_SEED=n.
chaos: up
	cargo build --release --workspace --bins
	@scripts/bench-broker.sh install-tansu-sqlite
	@scripts/chaos.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	scripts/fn-length.py
	scripts/module-cycles.py
	cargo clippy --workspace --all-targets -- -D warnings

build:
	cargo build --workspace --all-targets

clean-test-dbs:
	@scripts/stack.sh drop-test-databases

## test: formatting, lints, supply chain, and the whole suite against the real stack (started when
## needed): the fast lane's tests and the tests that need MariaDB and the broker (nextest group
## `services`, .config/nextest.toml), and that the store's offline query data is current
test: toolchain up helm-check supply-chain
	cargo fmt --all -- --check
	scripts/fn-length.py
	scripts/module-cycles.py
	scripts/sqlx-prepare.sh --check
	cargo clippy --workspace --all-targets -- -D warnings
	@scripts/stack.sh drop-test-databases
	# The crash tests start the handler binaries themselves.
	cargo build --workspace --bins
	cargo nextest run --workspace --profile ci

## test-fast: formatting, lints and every test that needs neither MariaDB nor the broker
## (nextest profile `fast`: unit tests of every crate, test data checks). No service is started.
test-fast: toolchain
	cargo fmt --all -- --check
	scripts/fn-length.py
	scripts/module-cycles.py
	cargo clippy --workspace --all-targets -- -D warnings
	cargo nextest run --workspace --profile fast

## sqlx-prepare: regenerate shared/store/.sqlx, the data every build checks the store's
## `sqlx::query!` statements against (SQLX_OFFLINE=true in .cargo/config.toml), on a throwaway
## migrated database; commit the result
sqlx-prepare: up
	@scripts/sqlx-prepare.sh

## toolchain: what building needs (C compiler, make, perl for the vendored librdkafka, nextest)
.PHONY: toolchain
toolchain:
	@scripts/stack.sh tools

## supply-chain: cargo-deny licenses, bans, sources, and advisories when the RustSec database is reachable
supply-chain:
	@scripts/supply-chain.sh check

## sbom: CycloneDX SBOMs (one per binary) in target/sbom/
sbom:
	@scripts/supply-chain.sh sbom

## fuzz: every cargo-fuzz target (shared/fuzz/) for FUZZ_SECONDS each (default 60), table printed
## (docs/reliability.md#fuzzing-make-fuzz); installs cargo-fuzz, uses the machine's nightly toolchain
.PHONY: fuzz fuzz-api
FUZZ_SECONDS ?= 60
export FUZZ_SECONDS
fuzz:
	@scripts/fuzz.sh

## fuzz-api: schemathesis (in .stack/fuzz-api-venv) against the running hub of `make run`, from the
## FSPIOP and admin OpenAPI documents (docs/reliability.md#api-fuzzing-from-the-openapi-documents)
fuzz-api:
	@scripts/fuzz-api.sh

## helm-check: lint, render and validate the Helm chart (no helm binary; tools in .stack/helm-venv)
.PHONY: helm-check
helm-check:
	@helm/tests/run.sh
