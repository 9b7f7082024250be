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

.PHONY: setup photos demo demo-photo results results-photo test test-slow export clean-nbs bench bench-pipeline docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# the photo world's photographs: Debian's tuxpaint-stamps-default and tuxpaint-data, fetched with apt-get download and
# unpacked with dpkg-deb -x into the cache ($$WSVSEG_CACHE or ~/.cache/wsvseg), once
photos: setup
	$(BIN)/python -c "from wsvseg.photos import tuxpaint_root; print(tuxpaint_root())"

# the whole pipeline on the built-in world: wsvseg-run on the shipped configuration (wsvseg/configs/demo.toml)
demo: setup
	$(BIN)/wsvseg-run wsvseg/configs/demo.toml --run $(RUN)

# the whole method on real photographs with an ImageNet-pretrained encoder (wsvseg/configs/photo.toml)
demo-photo: photos
	$(BIN)/wsvseg-run wsvseg/configs/photo.toml --run runs/photo

# copy a demo run's results.json to data/results-demo.json and render the README's and notebooks' result tables from it
results: setup
	$(BIN)/python tools/results.py --from $(RUN)

# the same for the photo run: runs/photo/results.json to data/results-photo.json, then render
results-photo: setup
	$(BIN)/python tools/results.py --from runs/photo --as photo

# export check (generated package == committed package), every notebook, pytest; closes with "N passed, N failed"
test: photos
	$(BIN)/python tools/check_export.py
	$(BIN)/python -m pytest -n $(WORKERS) tests

test-slow: photos
	$(BIN)/python -m pytest -n $(WORKERS) --run-slow tests

export: setup
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

bench: setup
	for b in bench/bench_*.py; do [ $$b = bench/bench_pipeline.py ] || $(BIN)/python $$b || exit 1; done

# wall time of every stage of the demo and labelling's frames/s, on the device present (a GPU when there is one)
bench-pipeline: setup
	$(BIN)/python bench/bench_pipeline.py

# the documentation site: one page per notebook (stored outputs, nothing re-run) and the API, built by Sphinx + myst-nb into _docs/
docs: setup
	$(BIN)/python tools/docs.py --out _docs
