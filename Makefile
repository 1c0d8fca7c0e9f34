# The README's two commands: `make demo` and `make test`. Both set up .venv/ first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU build of torch; users with an NVIDIA GPU install their own CUDA build into .venv first.
TORCH  ?= torch==2.13.0
OUT    ?= out

.PHONY: setup dev demo test lint bench bench-deps quality workers mutants figures docs clean

setup: $(VENV)/.setup

$(VENV)/.setup: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e .
	$(BIN)/vmatte models pull
	touch $@

dev: $(VENV)/.dev

$(VENV)/.dev: $(VENV)/.setup
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $@

demo: setup
	mkdir -p $(OUT)
	$(BIN)/python samples/make_sample.py $(OUT)/sample.mov
	$(BIN)/vmatte convert $(OUT)/sample.mov --rgba $(OUT)/sample_rgba.mov --composite $(OUT)/sample_blur.mp4 --background blur:20
	@echo "ProRes 4444 with alpha: $(OUT)/sample_rgba.mov   composite: $(OUT)/sample_blur.mp4"

test: dev
	$(BIN)/ruff check vmatte tests benchmarks samples tools
	$(BIN)/python -m pytest -q

lint: dev
	$(BIN)/ruff check vmatte tests benchmarks samples tools

bench: dev
	$(BIN)/python benchmarks/model_cpu.py
	$(BIN)/python benchmarks/pipeline.py

# Benchmark-only dependencies: scikit-image's backgrounds, matplotlib, and MediaPipe 0.10.14 (whose model
# ships in its wheel) without its pinned dependencies; see the bench extra in pyproject.toml.
bench-deps: dev
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[bench]"
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps mediapipe==0.10.14

# Matte quality against exact ground truth and MediaPipe (about 12 minutes on 2 cores; needs ../shared).
quality: bench-deps
	$(BIN)/python benchmarks/quality_gt.py

# Scale-out: one process against --workers 2 and --ray, whole processes.
workers: dev
	$(BIN)/python benchmarks/workers.py

# Mutation spot-checks (not part of CI): small bugs put into a copy, one at a time; each must be caught.
mutants: dev
	$(BIN)/python benchmarks/mutants.py

# The docs' figure tables, remade from benchmarks/results/*.json; the CLI reference, from the options model.
figures: dev
	$(BIN)/python benchmarks/readme_tables.py
	$(BIN)/python tools/cli_reference.py

# The docs as a site in build/site (a broken link or anchor fails; the suite runs the same build).
docs: dev
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(OUT) .pytest_cache
