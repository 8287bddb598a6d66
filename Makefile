# make run  : set up .venv and run the nightly job once on bundled + generated sample data
# make test : set up .venv with the test tools, lint, then run the whole test suite
# make lint : ruff (lint + format check) and mypy
# make test-spark: the rule pack on Apache Spark local[2] against DuckDB; installs Java 17 (Debian) and pyspark
#                  (requirements-spark.lock) only where missing
# make bench: scale runs (ingest, generation, detection, chain), figures in benchmarks/out/;
#             `make bench chain` (or any bench names after `bench`) runs only those
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOME_DIR ?= var

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_LOGGING_LEVEL ?= WARNING

.PHONY: run test test-spark spark-deps lint bench console schedule clean

# uv installs the locked packages in seconds where pip takes over a minute (most of a fresh `make test`'s set-up).
# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (this kind of machine, CI) no process writes .pyc files,
# so without it every `fundflow` process compiles each module it imports, every time (Prefect's server: ~15 s CPU).
UV_VERSION := 0.13.9
UV := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
# The project's own modules, compiled once before the suite starts its ~100 processes (see --compile-bytecode)
COMPILE_PROJECT := $(BIN)/python -m compileall -q -j 0 -x node_modules pipelines detectors reports console data_samples tests

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "需要 Python 3.11 ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV) -r requirements.lock
	$(UV) --no-deps -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.lock
	$(UV) -r requirements-dev.lock
	touch $@

run: $(VENV)/.installed
	$(COMPILE_PROJECT)
	$(BIN)/fundflow --home $(HOME_DIR) demo

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The suite's scratch files (tmp_path, the throw-away PostgreSQL) in memory where /dev/shm is there: this kind of
# disk syncs every SQLite commit (~4 ms; 0.03 ms in memory) and discards every deleted block. Measured on three test
# files: 216 s -> 128 s. A run holds ~0.7 GB there; pytest keeps only failed tests' folders (pyproject).
TEST_TMPDIR := $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo /tmp)

# The system packages the tests need (apt-get: chromium, fonts, postgresql; npm ci) are installed while the
# environment is built and linted: on a new machine both wait mostly on downloads (apt ~30 s, venv + lint ~65 s).
# Their output goes to a log shown once lint is done, so the two do not interleave; either failing fails the target.
TEST_SETUP_LOG := test-output/system-setup.log

# FUNDFLOW_TEST_POSTGRES=1: the case-store tests run on PostgreSQL too, and fail if it cannot start
test:
	@mkdir -p $(dir $(TEST_SETUP_LOG))
	@{ bash console/setup_browser.sh && bash scripts/setup_postgres.sh; } >$(TEST_SETUP_LOG) 2>&1 & setup=$$!; \
	$(MAKE) --no-print-directory lint; linted=$$?; \
	wait $$setup; set_up=$$?; \
	echo "--- 测试所需系统组件 / system packages for the tests ($(TEST_SETUP_LOG)):"; cat $(TEST_SETUP_LOG); \
	[ $$set_up = 0 ] || echo "系统组件安装失败 / installing the system packages failed" >&2; \
	[ $$linted = 0 ] && [ $$set_up = 0 ]
	# One test worker per core (pytest-xdist); a test file stays on one worker, so its fixtures are built once.
	$(COMPILE_PROJECT)
	TMPDIR=$(TEST_TMPDIR) FUNDFLOW_TEST_POSTGRES=1 $(BIN)/python -m pytest -n auto --dist loadfile

# Java and pyspark only for the Spark suite and bench, never for `make test`: apt-get only when there is no `java`,
# pyspark only when it does not import (the first install builds a 450 MB package: minutes).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
spark-deps: $(VENV)/.dev-installed requirements-spark.lock
	@command -v java >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends openjdk-17-jre-headless; }
	@$(BIN)/python -c "import pyspark" 2>/dev/null || $(UV) -r requirements-spark.lock

test-spark: spark-deps
	$(BIN)/python -m pytest -m spark

BENCH_NAMES := $(filter-out bench,$(MAKECMDGOALS))

# `make bench` (all) and `make bench spark` need Java and pyspark for the Spark bench
bench: $(VENV)/.installed $(if $(or $(filter spark,$(BENCH_NAMES)),$(if $(BENCH_NAMES),,all)),spark-deps)
	$(BIN)/python -m benchmarks.run $(BENCH_NAMES)

# With `make bench NAME…`, the names are benchmarks, not targets of their own.
ifneq ($(filter bench,$(MAKECMDGOALS)),)
$(BENCH_NAMES):
	@:
endif

console: $(VENV)/.installed
	bash console/setup_browser.sh
	$(BIN)/fundflow --home $(HOME_DIR) console

schedule: $(VENV)/.installed
	$(BIN)/fundflow --home $(HOME_DIR) schedule

clean:
	rm -rf $(VENV) $(HOME_DIR) test-output benchmarks/out
