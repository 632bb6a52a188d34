# The two commands of the README: `make run` (the embedded stack) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[embedded,dev]'
	touch $(STAMP)

run: install
	$(BIN)/python -m roto.devstack

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src gpu tests
	$(BIN)/ruff format --check src gpu tests
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src gpu tests
	$(BIN)/ruff check --fix src gpu tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
