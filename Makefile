# Entente — every target sets up what it needs; a fresh machine needs only python3 >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint unit bench bench-store bench-store-cpu bench-projections bench-feed bench-audit clean-data

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

bench-projections: install
	$(BIN)/python -m benchmarks.bench_projections

bench-feed: install
	$(BIN)/python -m benchmarks.bench_feed

## The transparency log on a 1,000,000-event log (BENCH_AUDIT_EVENTS to change it).
bench-audit: install
	$(BIN)/python -m benchmarks.bench_audit

bench: bench-store bench-projections bench-feed bench-audit

clean-data:
	rm -rf .data

## Client instructions per append under valgrind's callgrind (load-independent; BENCH_CPU_APPENDS).
bench-store-cpu: install
	$(BIN)/python -m benchmarks.bench_store_cpu
