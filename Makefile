# oam-preview: `make serve` runs the demo, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
MINUTES ?= 60

.PHONY: install services serve test test-fast lint format bench soak clean

# The virtualenv is rebuilt when the package metadata changes. Serving needs the package
# alone (its own marker); the tests and lint add the test extras (browser, linters, TiTiler).
$(VENV)/.installed-serve: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-serve
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Servers the tests start on loopback from npm (Azurite, for az:// sources): exactly the lock file's.
SERVICES := tests/services
$(SERVICES)/node_modules/.installed: $(SERVICES)/package.json $(SERVICES)/package-lock.json
	cd $(SERVICES) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

services: $(SERVICES)/node_modules/.installed

serve: $(VENV)/.installed-serve
	$(BIN)/oam-preview serve --host $(HOST) --port $(PORT)

test: install services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Skips the slow load/fault/scale tests (CI runs them all through `make test`).
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy oam_preview
	$(BIN)/lint-imports  # the layers of setup.cfg's [importlinter]

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.tiles
	$(BIN)/python -m benchmarks.oam_cogs
	$(BIN)/python -m benchmarks.mosaic
	$(BIN)/python -m benchmarks.rendering
	$(BIN)/python -m benchmarks.footprint_tiles

# The fleet (2 instances, nginx, Redis) under mixed traffic and chaos for MINUTES (not in `make test`).
soak: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.soak --minutes $(MINUTES) $(SOAK_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache tests/artifacts $(SERVICES)/node_modules
