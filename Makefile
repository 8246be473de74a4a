# One entry point for people and CI. `make test` is what .ci/run calls.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test test-setup lint unit example simulate bench

## Set up what the tests need (idempotent), check lints, run every test.
test: test-setup lint
	$(CARGO) test --locked

## Install/build what the integration tests need; cached outside the repository.
test-setup:
	bash scripts/test-setup.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

## Fast tests of the pure core only.
unit:
	$(CARGO) test --lib

## Regenerate the bundled example (seeded; the committed files must not change).
example:
	$(CARGO) run --release -- example --department clinic --seed 42 --out examples/clinic

## Run the bundled simulation.
simulate:
	$(CARGO) run --release -- simulate
