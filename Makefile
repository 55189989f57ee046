# The two commands: `make run` (whole system, embedded default) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ROLE   ?= agent

.PHONY: install run test test-kafka test-fast lint fmt token migrate topics bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install  ## install, migrate, start broker + services + gateway on http://127.0.0.1:8000
	$(BIN)/python -m shared.runner

test: install  ## unit, integration and end-to-end tests (real broker, SQLite, PostgreSQL), then Apache Kafka
	$(BIN)/python -m pytest -q --ignore=tests/kafka
	$(MAKE) test-kafka

test-kafka: install  ## the system on a 3-broker Apache Kafka cluster (jars from Maven Central; needs java, mvn)
	$(BIN)/python -m pytest -q -s tests/kafka

test-fast: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check shared services tests
	$(BIN)/ruff format --check shared services tests
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix shared services tests
	$(BIN)/ruff format shared services tests

token: install  ## make token ROLE=agent [DEPT=...] [SUB=...]
	@$(BIN)/python -m shared.cli token --role $(ROLE) $(if $(DEPT),--dept $(DEPT)) $(if $(SUB),--sub $(SUB))

migrate: install  ## migrate every service's database (uses <SERVICE>_DATABASE_URL if set)
	$(BIN)/python -m shared.cli migrate

topics: install  ## create topics and dead-letter topics on KAFKA_BOOTSTRAP_SERVERS
	$(BIN)/python -m shared.cli topics

bench: install  ## throughput and latency, next to a baseline measured in the same run
	$(BIN)/python -m tests.bench

bench-quick: install  ## the same sections and summary table with small counts (under 3 minutes)
	$(BIN)/python -m tests.bench --quick

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
