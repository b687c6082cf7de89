# Switchboard: `make run` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck imports unit bench clean

$(BIN)/switchboard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(BIN)/switchboard
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## run: install, initialize the embedded SQLite installation in ./var, and start it
run: $(BIN)/switchboard
	$(BIN)/switchboard init
	$(BIN)/switchboard ingest --no-progress examples/
	$(BIN)/switchboard serve

## test: install with test extras, then lint, type-check, check import rules, run the suite
test: $(VENV)/.test-installed lint typecheck imports
	$(BIN)/pytest -q

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

imports: $(VENV)/.test-installed
	$(BIN)/lint-imports

bench: $(VENV)/.test-installed
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/smtp.py
	$(BIN)/python bench/outbox.py
	$(BIN)/python bench/latency.py --clients 1,4 --backends sqlite,postgresql
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
