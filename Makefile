# One entry point for people and CI. `make test` is what .ci/run calls.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test test-setup lint unit example simulate docs-images bench compare compare-statsforecast venv

## Set up what the tests need (idempotent), check lints, run every test.
test: test-setup lint
	$(CARGO) test --locked --workspace

## Install/build what the integration tests need; cached outside the repository.
test-setup:
	bash scripts/test-setup.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## Fast tests of the pure core only.
unit:
	$(CARGO) test -p planscale-core --lib

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

## Python environment with statsmodels and statsforecast for `make compare` and
## `make compare-statsforecast` (pins: compare/requirements.txt).
venv: $(VENV)/.installed

$(VENV)/.installed: compare/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r compare/requirements.txt
	touch $@

## planscale's forecaster vs statsmodels' Holt-Winters on the NAB series, one table.
compare: venv
	$(CARGO) run --release --locked --example compare_holt_winters -- \
		--python $(VENV)/bin/python --json target/compare.json $(COMPARE_SERIES)

# M4 Hourly (../shared/data/README.md) and the statsforecast comparison's settings:
# AutoARIMA is killed after SF_TIMEOUT seconds per window and tried on every
# SF_ARIMA_EVERY-th M4 series only (it takes 20-100 s per M4 series here).
M4 ?= ../shared/data/m4-hourly
SF_TIMEOUT ?= 10
SF_ARIMA_EVERY ?= 10
SF_OUT ?= target/compare
SF_PEER = --timeout $(SF_TIMEOUT) --repeats 1

## planscale vs statsforecast (AutoETS, AutoTheta, MSTL, AutoARIMA, seasonal naive) and
## statsmodels' Holt-Winters at a 1-hour step: M4 Hourly, the NAB series of three weeks or
## more, both departments (blind, and with the appointment counts). One table,
## $(SF_OUT)/table.md; docs/PERFORMANCE.md has it. Slow (about an hour on 2 cores).
compare-statsforecast: venv
	mkdir -p $(SF_OUT)
	$(CARGO) run --release --locked --example m4_hourly -- $(M4) --peer $(VENV)/bin/python \
		$(SF_PEER) --arima-every $(SF_ARIMA_EVERY) --json $(SF_OUT)/m4.json
	$(CARGO) run --release --locked --example compare_holt_winters -- --statsforecast \
		--python $(VENV)/bin/python $(SF_PEER) --origins 12 --json $(SF_OUT)/nab.json $(NAB)/*.csv
	$(CARGO) run --release --locked --example clinic_backtest -- --department bundled --seed 42 \
		--max-lag-hours 2 --compare $(VENV)/bin/python $(SF_PEER) --every-days 4 \
		--json $(SF_OUT)/bundled.json
	$(CARGO) run --release --locked --example clinic_backtest -- --department second --seed 42 \
		--max-lag-hours 4 --compare $(VENV)/bin/python $(SF_PEER) --every-days 4 \
		--json $(SF_OUT)/second.json
	$(VENV)/bin/python compare/table.py $(SF_OUT)/m4.json $(SF_OUT)/nab.json \
		$(SF_OUT)/bundled.json $(SF_OUT)/second.json | tee $(SF_OUT)/table.md

# The benchmarks in benches/ (docs/PERFORMANCE.md says what each measures):
# criterion ones, then the allocation count and the scaling table (printed tables).
BENCHES ?= forecaster planner controller simulate parsers allocations scaling

## Every criterion benchmark, then the comparison. Slow (tens of minutes): not in `make test`.
bench:
	$(CARGO) bench --locked $(addprefix --bench ,$(BENCHES))
	$(MAKE) compare
