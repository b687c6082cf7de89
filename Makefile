# Switchboard: `make run` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck imports unit bench clean messages triage-model

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
	$(BIN)/ruff format --check .

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
	$(BIN)/python bench/startup.py

## triage-model: train the triage wording model on tests/data/triage/{dev,train}/ (never the
## evaluation set) and write queues/triage/model/wording.bin; prints the cross-validation figures
triage-model: $(BIN)/switchboard
	$(BIN)/pip install --quiet -e '.[train]'
	$(BIN)/python tools/train_triage.py

## messages: extract the texts (babel.cfg) and update every catalog in queues/locale.
## Translate the new entries, then commit the .po files (nothing to compile: queues.i18n).
## A new language: $(BIN)/pybabel init -i build/switchboard.pot -d queues/locale -D switchboard -l xx
## The -k keywords are also in tests/unit/queues/test_i18n.py (EXTRA_KEYWORDS).
messages: $(BIN)/switchboard
	mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -o build/switchboard.pot --project Switchboard \
		--add-comments "Translators:" -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2 \
		.
	$(BIN)/pybabel update -i build/switchboard.pot -d queues/locale -D switchboard --previous

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
