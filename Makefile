# Two commands do all the set-up: `make test` and `make bench` create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extras `make test` installs; CI adds the benchmark's (make test TEST_EXTRAS=test,bench) so
# that the harness tests needing the peers and matplotlib run instead of skipping.
TEST_EXTRAS ?= test

.PHONY: test bench lint format matrix dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras: a venv made with fewer extras is topped up, not trusted.
$(VENV)/.test-installed-$(TEST_EXTRAS): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	@touch $@

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@touch $@

$(VENV)/.lint-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,lint]"
	@touch $@

test: $(VENV)/.test-installed-$(TEST_EXTRAS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The default set of scenarios; one of them, or others: make bench BENCH_ARGS="-s near --tiny"
bench: $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(VENV)/.lint-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cachefresh
	$(BIN)/lint-imports

# Every (Python, Django) pair in noxfile.py; one pair: make matrix NOX_ARGS='-s "tests(3.12-django6.0)"'
matrix: $(VENV)/.test-installed-$(TEST_EXTRAS)
	$(BIN)/python -m pip install --quiet "nox>=2024.4"
	$(BIN)/nox $(NOX_ARGS)

format: $(VENV)/.lint-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache bench-results
