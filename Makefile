# The two commands a newcomer runs: `make demo` and `make test`. Both create .venv themselves.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/frontdesk demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy rules/ connectors/ daemon/

# two workers: most tests wait on servers and subprocesses, and CI machines have two cores
test: lint
	$(BIN)/pytest -n 2

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_sync.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
