# One entry point for people and CI. `make test` is what .ci/run calls.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test test-setup lint unit example simulate docs-images bench compare venv

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

## Render the bundled example's figures to docs/img (rsvg-convert, headless Chromium).
docs-images:
	$(CARGO) build --release --locked
	bash scripts/docs-images.sh

# The comparison's Python side lives in a gitignored virtual environment.
VENV ?= .venv
# NAB series (real production data, ../shared/data/README.md) for the comparison.
NAB ?= ../shared/data/nab
COMPARE_SERIES ?= $(NAB)/nyc_taxi.csv $(NAB)/ec2_cpu_utilization_53ea38.csv \
	$(NAB)/ec2_cpu_utilization_5f5533.csv $(NAB)/rds_cpu_utilization_cc0c53.csv

## Python environment with statsmodels for `make compare` (pins: compare/requirements.txt).
venv: $(VENV)/.installed

$(VENV)/.installed: compare/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r compare/requirements.txt
	touch $@

## planscale's forecaster vs statsmodels' Holt-Winters on the NAB series, one table.
compare: venv
	$(CARGO) run --release --locked --example compare_holt_winters -- \
		--python $(VENV)/bin/python --json target/compare.json $(COMPARE_SERIES)

# The criterion benchmarks in benches/ (docs/PERFORMANCE.md says what each measures).
BENCHES ?= forecaster planner controller simulate parsers

## Every criterion benchmark, then the comparison. Slow (tens of minutes): not in `make test`.
bench:
	$(CARGO) bench --locked $(addprefix --bench ,$(BENCHES))
	$(MAKE) compare
