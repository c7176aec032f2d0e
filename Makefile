# Tonghua: two commands on a fresh Debian 12 machine.
#   make run   install what is missing, build (release), serve the demo on http://127.0.0.1:8080
#   make test  install what the tests need, then fmt, clippy and the whole test suite

SHELL := /bin/bash
CARGO ?= cargo
DATA_DIR ?= ./data
HTTP ?= 127.0.0.1:8080

.PHONY: run test build deps deps-test check clean help

help:
	@echo "make run   - install what is missing, build in release mode, serve the demo on http://$(HTTP)"
	@echo "make test  - install what the tests need, then run fmt, clippy and all tests"

deps:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

build: deps
	$(CARGO) build --release --locked -p tonghua

run: build
	./target/release/tonghua serve --data-dir $(DATA_DIR) --http $(HTTP)

test: deps-test
	@scripts/test.sh

# Quick local loop: formatting and lints only.
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
