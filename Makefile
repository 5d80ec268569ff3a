# Entente — every target sets up what it needs; a fresh machine needs only python3 >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint unit bench bench-store bench-projections bench-feed bench-audit bench-http bench-replica bench-exports bench-replay bench-store-cpu clean-data swagger-ui

## The versions CI last passed with are pinned in constraints.txt (see docs/OPERATIONS.md).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve the API (embedded PostgreSQL under .data/ unless DATABASE_URL is set), with demo data.
run: install
	$(BIN)/entente run

## Lint, type-check and run the whole suite against a real PostgreSQL.
test: install lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

unit: install
	$(BIN)/pytest tests/unit -q

bench-store: install
	$(BIN)/python -m benchmarks.bench_store

## BENCH_EVENTS=1000000 for the target figures (default 200000); BENCH_BATCH events per read.
bench-projections: install
	$(BIN)/python -m benchmarks.bench_projections

bench-feed: install
	$(BIN)/python -m benchmarks.bench_feed

## The transparency log on a 1,000,000-event log (BENCH_AUDIT_EVENTS to change it).
bench-audit: install
	$(BIN)/python -m benchmarks.bench_audit

## Reads on a streaming replica: its lag under writes, its read throughput beside the
## primary's (BENCH_REPLICA_SECONDS, _WRITERS, _READERS, _STREAMS to change the sizes).
bench-replica: install
	$(BIN)/python -m benchmarks.bench_replica

## GET /dialogues/{id} on one long stream, head and as_of the middle (BENCH_REPLAY_EVENTS).
bench-replay: install
	$(BIN)/python -m benchmarks.bench_replay

bench: bench-store bench-projections bench-feed bench-audit bench-http bench-replica bench-replay bench-exports

clean-data:
	rm -rf .data

## Commands over HTTP beside in-process (BENCH_HTTP_COMMANDS, _CLIENTS, _WORKERS, _STACKS).
bench-http: install
	$(BIN)/python -m benchmarks.bench_http

## Re-fetch the Swagger UI files /docs serves (api/static/swagger-ui) with npm;
## SWAGGER_UI_VERSION=5.x.y to change the version recorded in its README.
swagger-ui:
	scripts/fetch_swagger_ui.sh $(SWAGGER_UI_VERSION)

## The commitments export at 50k, 200k and 1M events (BENCH_EXPORT_SIZES to change them).
bench-exports: install
	$(BIN)/python -m benchmarks.bench_exports

## Client instructions per append under valgrind's callgrind (load-independent; BENCH_CPU_APPENDS).
bench-store-cpu: install
	$(BIN)/python -m benchmarks.bench_store_cpu
