# syncbridge — the two commands a newcomer needs:
#   make demo   set up a virtualenv, install, run the whole pipeline against a local Greenhouse sandbox
#   make test   lint, type-check and run the whole test suite from scratch (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo demo-reset test lint bench install clean

$(BIN)/syncbridge: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("syncbridge needs Python >= 3.11 (Prefect 3)") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/syncbridge

demo: install
	$(BIN)/syncbridge demo

demo-reset: install
	$(BIN)/syncbridge demo --reset

lint: install
	$(BIN)/ruff check src connectors flows tests bench
	$(BIN)/ruff format --check src connectors flows tests bench
	$(BIN)/mypy src connectors flows

# three test processes on two cores: the operations tests (real Prefect servers and workers, kill -9
# sweeps) mostly wait, so they overlap well; every test uses its own ports, folders and databases
test: lint
	$(BIN)/python -m pytest -q -n 3 --durations=15

bench: install
	$(BIN)/python bench/bench_greenhouse_sync.py

clean:
	rm -rf $(VENV) .syncbridge .pytest_cache .mypy_cache .ruff_cache
