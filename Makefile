# Customer health scoring: `make demo` runs the whole job on the bundled sample data,
# `make test` runs every check. Both create the virtual environment when it is missing.
# TARGET=duckdb (default) | postgres | spark picks the engine (targets in profiles.yml);
# PostgreSQL is reached through the PG* variables, Spark runs a local session in target/spark.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HEALTH_DB_PATH ?= $(CURDIR)/customer_health.duckdb
export HEALTH_SPARK_DIR ?= $(CURDIR)/target/spark
TARGET ?= duckdb
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False

.PHONY: demo load backfill backtest calibrate calibrate-generated adopt-proposal report refresh rollback build benchmark engagement-example test test-engines test-orchestration lint dbt-test pytest browser clean

# The pinned dependencies, then the project's own package (editable: the `health` command).
$(BIN)/health: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# History range the demo backfills (the sample data covers 2023-2024).
BACKFILL_START ?= 2024-01-01
BACKFILL_END ?= 2024-12-31

## demo: set up; load the raw data (PostgreSQL, Spark); backfill a year of monthly history,
## refresh the current scores (dbt build -> quality gate -> publish) and print the summary, then
## backtest the history and print its verdict: can the score rank outreach?
demo: load backfill refresh backtest

## load: put the raw files into schema raw of TARGET (nothing to do on DuckDB, which reads them)
load: $(BIN)/health
	$(BIN)/health load --target $(TARGET)

## backfill: score every month end from BACKFILL_START to BACKFILL_END into the history
backfill: $(BIN)/health
	$(BIN)/health backfill --target $(TARGET) --from $(BACKFILL_START) --to $(BACKFILL_END)

## backtest: does the score predict churn? (reports/backtest/backtest.md)
backtest: $(BIN)/health
	$(BIN)/health backtest --target $(TARGET) --out reports/backtest

## calibrate: propose scoring bands and segment weights fitted to churn, compared on held-out
## dates with the active ones and a reference model (seeds/proposed/ or the deployment's
## proposed/; reports/calibration/calibration.md); FORCE=1 replaces an existing proposal
calibrate: $(BIN)/health
	$(BIN)/health calibrate --target $(TARGET) --out reports/calibration $(if $(FORCE),--force)

## calibrate-generated: the calibration's targets on generated data with planted drivers: 10,000
## accounts, their 2024 month ends backfilled into a database of their own, calibrated with
## July to September held out (proposal and report in reports/calibration_generated/; minutes)
CALIBRATION_EXAMPLE := $(CURDIR)/target/calibration_generated
calibrate-generated: $(BIN)/health
	$(BIN)/health generate --accounts 10000 --out $(CALIBRATION_EXAMPLE)/data --quiet
	$(BIN)/health backfill --db-path $(CALIBRATION_EXAMPLE)/customer_health.duckdb \
		--raw-data-dir $(CALIBRATION_EXAMPLE)/data --target-path $(CALIBRATION_EXAMPLE)/target \
		--from 2024-01-01 --to 2024-12-31 --quiet
	$(BIN)/health calibrate --db-path $(CALIBRATION_EXAMPLE)/customer_health.duckdb \
		--holdout-from 2024-07-01 --force --out reports/calibration_generated \
		--proposal reports/calibration_generated/proposed/segment_weights.csv

## adopt-proposal: copy the reviewed proposal into the active seeds and print what changed
## (DRY_RUN=1: only print)
adopt-proposal: $(BIN)/health
	$(BIN)/health adopt-proposal $(if $(DRY_RUN),--dry-run)

## report: one self-contained HTML page of the published scores, with the backtest's churn by
## grade when `make backtest` has run (reports/health/report.html; opens offline)
report: $(BIN)/health
	$(BIN)/health report --target $(TARGET) --out reports/health

## refresh: dbt build -> quality gate -> publish -> summary (AS_OF_DATE=YYYY-MM-DD optional)
refresh: $(BIN)/health
	$(BIN)/health refresh --target $(TARGET) $(if $(AS_OF_DATE),--as-of-date $(AS_OF_DATE))

## rollback: put the publish before the current one back (TO=RUN_ID: any kept publish)
rollback: $(BIN)/health
	$(BIN)/health rollback --target $(TARGET) $(if $(TO),--to $(TO))

## build: plain dbt build (seeds, models, tests); publishes nothing
build: $(BIN)/health
	$(BIN)/dbt build --profiles-dir . --target $(TARGET)

## benchmark: the gated refresh (dbt build, gate, publish) at 10k, 100k and 1M accounts: a full
## refresh into a new database, the hand-written floor, then a daily refresh once the last day's
## files land (about 15 minutes and 13 GB of disk; BENCHMARK_ACCOUNTS="10000 100000" for less;
## BENCHMARK_TARGETS="duckdb postgres spark" adds the other engines)
BENCHMARK_ACCOUNTS ?= 10000 100000 1000000
BENCHMARK_TARGETS ?= duckdb
benchmark: $(BIN)/health
	$(BIN)/health benchmark $(foreach n,$(BENCHMARK_ACCOUNTS),--accounts $(n)) \
		$(foreach engine,$(BENCHMARK_TARGETS),--target $(engine))

## engagement-example: generate the engagement example's data (2,000 accounts with engagement
## events and NPS), backfill its 2024 month ends and backtest it, with what each family adds
## (reports/engagement_example/backtest.md; its own database under deployments/)
ENGAGEMENT_EXAMPLE := deployments/engagement_example
ENGAGEMENT_HEALTH := $(BIN)/health --deployment $(ENGAGEMENT_EXAMPLE)
ENGAGEMENT_DB := --db-path $(CURDIR)/$(ENGAGEMENT_EXAMPLE)/customer_health.duckdb
engagement-example: $(BIN)/health
	$(BIN)/health generate --engagement --accounts 2000 --out $(ENGAGEMENT_EXAMPLE)/data
	$(ENGAGEMENT_HEALTH) backfill $(ENGAGEMENT_DB) --from 2024-01-01 --to 2024-12-31
	$(ENGAGEMENT_HEALTH) backtest $(ENGAGEMENT_DB) --out reports/engagement_example

## test: lint, dbt build with every data and unit test, pytest; always on the bundled sample's
## configuration, whatever deployment HEALTH_DEPLOYMENT names (lint and dbt build side by side
## on the two cores, then pytest)
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target lint dbt-test
	$(MAKE) --no-print-directory pytest
SAMPLE := env -u HEALTH_DEPLOYMENT -u HEALTH_RAW_DATA_FORMAT HEALTH_RAW_DATA_DIR=$(CURDIR)/data/ravenstack

# The models of the optional raw tables the sample lacks, linted with every raw table present.
OPTIONAL_TABLE_MODELS := models/staging/engagement models/staging/survey \
	models/intermediate/metrics/int_account_engagement_metrics.sql \
	models/intermediate/metrics/int_account_nps_metrics.sql \
	models/intermediate/metrics/int_account_nps_responses_in_window.sql models/marts/outreach
# sqlfluff lints files in two processes (their semaphore warning at exit is harmless)
SQLFLUFF_PROCESSES := --processes 2
lint: export HEALTH_DB_PATH = $(CURDIR)/target/lint.duckdb
lint: export PYTHONWARNINGS = ignore::UserWarning:multiprocessing.resource_tracker
lint: $(BIN)/health
	$(BIN)/ruff check customer_health scripts tests/python orchestration
	$(SAMPLE) $(BIN)/health check-config --quiet
	$(SAMPLE) $(BIN)/dbt parse --profiles-dir . --quiet
	$(SAMPLE) $(BIN)/sqlfluff lint $(SQLFLUFF_PROCESSES) models tests/dbt
	$(BIN)/health generate --engagement --accounts 50 --out target/lint_data --quiet
	HEALTH_RAW_DATA_DIR=$(CURDIR)/target/lint_data $(BIN)/sqlfluff lint $(SQLFLUFF_PROCESSES) \
		--config lint/every_raw_table.sqlfluff $(OPTIONAL_TABLE_MODELS)

dbt-test: $(BIN)/health
	$(SAMPLE) HEALTH_DB_PATH=$(CURDIR)/target/test.duckdb DBT_TARGET_PATH=$(CURDIR)/target/dbt_test \
		$(BIN)/dbt build --profiles-dir .

## browser: the headless Chromium the report's browser tests open it in (Debian's chromium
## package, about 100 MB to download and 400 MB installed; installed when missing and running as
## root, else those tests are skipped)
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get install -y --no-install-recommends chromium \
		|| { apt-get update && apt-get install -y --no-install-recommends chromium; }; \
	else echo "chromium is not installed and this is not root: the browser tests will be skipped"; fi

# Two pytest-xdist workers, a module per unit of work, handed out in collection order (the engines
# module first: tests/python/conftest.py); PYTEST_WORKERS=0 runs the tests one after the other.
PYTEST_WORKERS ?= 2
pytest: $(BIN)/health browser
	$(SAMPLE) $(BIN)/python -m pytest tests/python -q --durations=25 \
		-n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder

## test-engines: generated data with every raw table through the gated refresh on DuckDB, PostgreSQL (a scratch cluster
## the tests start and stop) and local Spark; published scores must be identical (also in pytest)
test-engines: $(BIN)/health
	$(SAMPLE) $(BIN)/python -m pytest tests/python -q -m engines

## test-orchestration: the Dagster example (asset graph, a gated refresh job, a run the gate
## blocks) and the Airflow DAG, in a venv of their own (.venv-orchestration, about 1 GB, from the
## pinned orchestration/requirements.txt); `make test` skips them when dagster or airflow is missing
ORCHESTRATION_VENV := .venv-orchestration
test-orchestration: $(ORCHESTRATION_VENV)/bin/dagster
	DAGSTER_DISABLE_TELEMETRY=1 $(ORCHESTRATION_VENV)/bin/python -m pytest tests/python/orchestration -q

$(ORCHESTRATION_VENV)/bin/dagster: orchestration/requirements.txt pyproject.toml
	test -x $(ORCHESTRATION_VENV)/bin/python || $(PYTHON) -m venv $(ORCHESTRATION_VENV)
	$(ORCHESTRATION_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ORCHESTRATION_VENV)/bin/python -m pip install --quiet -r orchestration/requirements.txt
	$(ORCHESTRATION_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

clean:
	rm -rf target logs reports customer_health.duckdb customer_health.duckdb.wal customer_health_working.duckdb customer_health_working.duckdb.wal .customer_health.duckdb.versions
