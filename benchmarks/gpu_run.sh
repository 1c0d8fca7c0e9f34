#!/usr/bin/env bash
# The device call's script (see gpu_prepare.sh): installs the carried wheels, runs the CUDA tests and
# benchmarks/gpu.py (or, with WORKERS=1, benchmarks/workers.py --gpu), and leaves the JSON and logs in $OUT.
# Usage on the GPU machine: bash benchmarks/gpu_run.sh
set -uo pipefail
OUT="${OUT:-/tmp/vmatte-gpu}"
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
# The tree runs uninstalled: vmatte.registry is setuptools' name for models/, so link it in place.
[ -e vmatte/registry ] || ln -s ../models vmatte/registry
export VMATTE_HOME=.gpu-cache PYTHONPATH=.:/tmp/site
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; lscpu | grep -E "Model name|^CPU\(s\)"; } \
  | tee "$OUT/machine.txt"
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_planar.py tests/test_colour.py \
  -k "cuda or round_trip or nvdec or gpu or planar or levels" 2>&1 \
  | tail -15 | tee "$OUT/pytest-cuda.log"
if [ -n "${WORKERS:-}" ]; then  # scale-out instead: --workers 1/2/4/6 against the encode ceiling
  python3 benchmarks/workers.py --gpu --out "$OUT" 2>&1 | tee "$OUT/workers.log"
  exit
fi
python3 benchmarks/gpu.py --out "$OUT" --budget "${BUDGET:-330}" ${ONLY:+--only "$ONLY"} ${TAG:+--tag "$TAG"} 2>&1 | tee "$OUT/gpu.log"
