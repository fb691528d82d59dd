#!/usr/bin/env bash
# On a bare NVIDIA GPU machine: join the carried parts, install the wheels, run the proof. Usage: gpu_proof.sh DIR OUT
set -euo pipefail
dir=${1:-/tmp/gpu_proof}; out=${2:-${OUT:-gpu_proof_out}}
cd "$(dirname "$0")/.."
python3 benchmarks/gpu_proof.py join --dir "$dir"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/gpu_site "$dir"/*.whl
export PYTHONPATH="/tmp/gpu_site:$PWD" PYTHONUNBUFFERED=1 SLM_AGENTS_CACHE=/tmp/gpu_cache
mkdir -p "$out"
for backend in peft unsloth; do          # a process each: Unsloth patches transformers' classes when it loads a model
  python3 benchmarks/gpu_proof.py run --backend $backend --dir "$dir" --out "$out" 2>&1 | tee "$out/gpu_proof_$backend.log"
done
python3 benchmarks/gpu_proof.py compare --out "$out"
