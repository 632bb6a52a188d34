# The two commands of the README: `make run` (the embedded stack) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format clean weights

install: $(STAMP)

$(STAMP): pyproject.toml gpu/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt setuptools wheel
	# sam2's build imports torch: torch goes first, then sam2 builds without isolation. The GPU
	# daemon (gpu/, its own distribution) is installed beside the service for development.
	$(BIN)/pip install --quiet -c constraints.txt torch torchvision
	SAM2_BUILD_CUDA=0 $(BIN)/pip install --quiet --no-build-isolation -c constraints.txt \
		-e '.[embedded,dev,loadtest]' -e ./gpu
	touch $(STAMP)

# `make weights [MODEL=small|base_plus|large]`: the official SAM2.1 checkpoint (tiny by default)
# into .roto/models/, resumable, its SHA-256 recorded; `make run [MODEL=...]` then serves it.
MODEL ?= tiny
weights:
	$(PYTHON) scripts/fetch_weights.py --size $(MODEL)

run: install web
	ROTO_MODEL_SIZE=$${ROTO_MODEL_SIZE:-$(MODEL)} $(BIN)/python -m roto.devstack

# Python tests (API, workers, SAM2, infra, the browser end to end), then the web app's units.
# Two pytest-xdist workers: one at a time the suite keeps a 2-core machine about a third busy
# (it mostly waits on servers and worker processes), so two take ~19 minutes instead of ~29.
# worksteal hands out single tests and lets an idle worker take half of the other's queue, so
# the long stack tests do not all end up at the tail. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: install web e2e-browser
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal
	cd web && npx vitest run

lint: install
	$(BIN)/ruff check src gpu tests scripts bench loadtest web/scripts
	$(BIN)/ruff format --check src gpu tests scripts bench loadtest web/scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_import_cycles.py

format: install
	$(BIN)/ruff format src gpu tests scripts bench loadtest web/scripts
	$(BIN)/ruff check --fix src gpu tests scripts bench loadtest web/scripts

# Headless load test of a running deployment (default: `make run`'s API); docs/performance.md.
URL ?= http://127.0.0.1:8000
USERS ?= 6
SPAWN_RATE ?= 1
DURATION ?= 2m
.PHONY: loadtest
loadtest: install
	$(BIN)/python scripts/loadtest.py --host $(URL) --users $(USERS) \
		--spawn-rate $(SPAWN_RATE) --duration $(DURATION)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Static checks of infra/, the Dockerfile and the workflows (cfn-lint, checkov, hadolint,
# actionlint), in .venv-infra.
.PHONY: infra-check
infra-check:
	bash scripts/check_infra.sh

# Ship one environment (infra/README.md, "Deploying"): images by digest, packaged templates,
# migrations before the roll, the stack, health. deploy-plan prints all that, needing no account.
.PHONY: deploy deploy-plan
deploy:
	$(if $(filter $(ENV),dev prod),,$(error ENV=dev or ENV=prod))
	python3 scripts/deploy.py --env $(ENV)

deploy-plan:
	$(if $(filter $(ENV),dev prod),,$(error ENV=dev or ENV=prod))
	python3 scripts/deploy.py --env $(ENV) --dry-run

# The web app (web/): installed from package-lock.json, rebuilt when a source is newer than the
# stamp; the API serves web/dist at / in `make run`.
.PHONY: web web-test web-schema e2e-deps
WEB_MODULES := web/node_modules/.installed
WEB_STAMP := web/dist/.built
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts \
	web/tsconfig.json web/openapi.json

web: $(WEB_STAMP)

$(WEB_MODULES): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_STAMP): $(WEB_MODULES) $(WEB_SOURCES)
	cd web && npm run build
	touch $@

web-test: $(WEB_MODULES)
	cd web && npx vitest run

# After an API change: web/openapi.json from the app, then the client's types from it.
web-schema: install $(WEB_MODULES)
	$(BIN)/python web/scripts/dump_openapi.py
	cd web && npm run gen:api

# Debian's Chromium for the end-to-end test (tests/web/test_e2e.py); never a browser download.
e2e-deps:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# What `make test` does about the browser: install Chromium where it can (root and apt-get);
# elsewhere it says why not, and tests/web/test_e2e.py skips with that reason.
.PHONY: e2e-browser
e2e-browser:
	@if test -x /usr/bin/chromium; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive $(MAKE) e2e-deps; \
	else echo "make test: no /usr/bin/chromium and no root with apt-get to install it:" \
		"the browser end-to-end test will be skipped"; fi
