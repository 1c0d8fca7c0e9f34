#!/usr/bin/env bash
# Prepares what benchmarks/gpu.py needs on the lent GPU machine, which reaches no package registry:
# the PyAV wheel (.whl/) and the converted weights and demo photo (.gpu-cache/). Run from the
# repository root after `make setup`; then in the device call, carry .whl and .gpu-cache and run:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \
#   VMATTE_HOME=.gpu-cache PYTHONPATH=.:/tmp/site python3 benchmarks/gpu.py --out $OUT
# and the CUDA tests: VMATTE_HOME=.gpu-cache PYTHONPATH=.:/tmp/site python3 -m pytest -q tests/test_engine.py
set -euo pipefail
cd "$(dirname "$0")/.."
home="${VMATTE_HOME:-$HOME/.cache/vmatte}"
.venv/bin/vmatte models pull >/dev/null
.venv/bin/python -c "import sys; sys.path.insert(0, '.'); from samples.make_sample import portrait_photo; portrait_photo()"
mkdir -p .gpu-cache/weights .gpu-cache/samples
cp "$home/weights/rvm-mobilenetv3.safetensors" "$home/weights/rvm-mobilenetv3.sha256" .gpu-cache/weights/
cp "$home/samples/astronaut.png" .gpu-cache/samples/
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl av==18.1.0  # the version the project is tested with
# pytest, to run the CUDA tests there too
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .whl pytest pluggy iniconfig packaging
du -sh .whl .gpu-cache
