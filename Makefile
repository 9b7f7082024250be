# wsvseg: `make demo` runs the whole pipeline on the built-in world; `make test` runs every test.
# Each target sets itself up: a virtual environment in .venv, torch first (pinned, so that a
# CPU build on disk is used and no CUDA wheels are pulled), then the package with its extras.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
RUN    ?= runs/demo
WORKERS ?= 2
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.wsvseg-installed

.PHONY: setup demo results test test-slow export clean-nbs bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# the whole pipeline on the built-in world: wsvseg-run on the shipped configuration (wsvseg/configs/demo.toml)
demo: setup
	$(BIN)/wsvseg-run wsvseg/configs/demo.toml --run $(RUN)

# copy a demo run's results.json to data/results-demo.json and render the README's and notebooks' result tables from it
results: setup
	$(BIN)/python tools/results.py --from $(RUN)

# export check (generated package == committed package), every notebook, pytest; closes with "N passed, N failed"
test: setup
	$(BIN)/python tools/check_export.py
	$(BIN)/python -m pytest -n $(WORKERS) tests

test-slow: setup
	$(BIN)/python -m pytest -n $(WORKERS) --run-slow tests

export: setup
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

bench: setup
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done
