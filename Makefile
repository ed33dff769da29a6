# NetWorkSpaces: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
PORT ?= 8765
WEB_PORT ?= 8766
export CARGO_TERM_COLOR ?= never

.PHONY: help setup setup-bench build run test test-rust test-python test-r conformance test-web test-legacy install bench bench-python bench-sleigh lint fmt clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install what the tests need and is missing (Rust components, apt packages)
	@scripts/setup.sh test

setup-bench: ## Install what the benchmarks need and is missing (Redis from apt)
	@scripts/setup.sh bench

build: ## Build the server, the Rust client and the examples (release)
	$(CARGO) build --release --workspace --all-targets

run: ## Start the server on 127.0.0.1:$(PORT), the web UI on :$(WEB_PORT) and the babelfish translators (Ctrl-C stops all)
	PORT=$(PORT) WEB_PORT=$(WEB_PORT) scripts/run.sh

test: setup test-rust test-python test-r conformance test-legacy test-web ## Install what is missing, then run every test suite

test-rust: ## Rust: server unit, property and integration tests; client tests; doc examples
	$(CARGO) test --release --workspace

test-python: ## Python: build the wheel (maturin), install it in .venv and python3, run pytest
	scripts/python.sh test

test-r: ## R: install R from Debian if missing, build and install the package, run its tests
	scripts/r.sh test

conformance: ## Cross-language conformance suite (Rust, Python, R and every pair), then spec anchor coverage
	$(CARGO) build --release -p nws-server -p nws-conformance
	scripts/python.sh install
	scripts/r.sh install
	conformance-tests/run
	conformance-tests/run --coverage

test-web: ## Web UI in headless Chromium: Python dict and R data frame shown, delete with confirmation, live update
	scripts/browser-test.sh

test-legacy: ## Original 2007 NWS wire protocol: our raw-socket legacy client (tests/legacy) against the release server
	$(CARGO) build --release -p nws-server
	scripts/python.sh install
	.venv/bin/python -m pytest -q tests/legacy

install: ## Build the Python wheel and install it into .venv and the machine's python3
	scripts/python.sh install

bench: setup-bench ## Side-by-side benchmarks against Redis and redis-py (writes bench/out/, see bench/RESULTS.md)
	bench/run.sh
	scripts/python.sh bench --json bench/out/python.json
	scripts/python.sh sleigh-bench --json bench/out/sleigh.json

bench-python: setup-bench ## Python client vs redis-py only
	scripts/python.sh bench --json bench/out/python.json

bench-sleigh: setup-bench ## Sleigh vs multiprocessing, ProcessPoolExecutor, Dask and R parallel
	scripts/python.sh sleigh-bench --json bench/out/sleigh.json

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt: ## Format the Rust code
	$(CARGO) fmt --all

clean: ## Remove build outputs
	$(CARGO) clean
	rm -rf bench/out
