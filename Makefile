PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint check venv venv-dev clean

$(BIN)/steward: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e .
	touch $(BIN)/steward

$(VENV)/.dev: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(VENV)/.dev

venv: $(BIN)/steward
venv-dev: $(VENV)/.dev

demo: $(BIN)/steward
	$(BIN)/steward demo

check: $(BIN)/steward
	$(BIN)/steward check

lint: $(VENV)/.dev
	$(BIN)/ruff check bot tests bench

test: $(VENV)/.dev
	$(BIN)/ruff check bot tests bench
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
