# Two commands do all the set-up: `make test` and `make bench` create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test bench lint format matrix dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@touch $@

$(VENV)/.lint-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,lint]"
	@touch $@

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(VENV)/.lint-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cachefresh
	$(BIN)/lint-imports

# Every (Python, Django) pair in noxfile.py; one pair: make matrix NOX_ARGS='-s "tests(3.12-django6.0)"'
matrix: $(VENV)/.test-installed
	$(BIN)/python -m pip install --quiet "nox>=2024.4"
	$(BIN)/nox $(NOX_ARGS)

format: $(VENV)/.lint-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache bench-results
