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
	$(BIN)/pip install --quiet -c constraints.txt setuptools wheel
	# sam2's build imports torch: torch goes first, then sam2 builds without isolation.
	$(BIN)/pip install --quiet -c constraints.txt torch torchvision
	SAM2_BUILD_CUDA=0 $(BIN)/pip install --quiet --no-build-isolation -c constraints.txt \
		-e '.[embedded,dev,gpu]'
	touch $(STAMP)

run: install
	$(BIN)/python -m roto.devstack

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src gpu tests scripts bench
	$(BIN)/ruff format --check src gpu tests scripts bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src gpu tests scripts bench
	$(BIN)/ruff check --fix src gpu tests scripts bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Static checks of infra/ and the Dockerfile (cfn-lint, checkov, hadolint), in .venv-infra.
.PHONY: infra-check
infra-check:
	bash scripts/check_infra.sh
