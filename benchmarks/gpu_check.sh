#!/usr/bin/env bash
# The GPU checks in one short script, for a machine with an NVIDIA GPU (about 10 minutes):
# the gpu-marked tests, NEGF on the GPU against the CPU (40 x 30, 80 x 60), and the full
# ML Brownian step on the GPU from 256^2 to 2048^2 (fp32).  Results under ${OUT:-benchmarks/out}.
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/out}
mkdir -p "$out"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python -m pytest -q -m gpu tests 2>&1 | tee "$out/gpu_tests.log"
OPENBLAS_NUM_THREADS=16 python benchmarks/negf_device.py --sizes 40x30,80x60 --repeats 3 \
    --out "$out/negf_device.json"
python benchmarks/mlff_speed.py --device cuda --threads 16 --sizes 256x256,1024x1024,2048x2048 \
    --negf-sizes 40x30 --bond-heads 0 --repeats 20 --out "$out/mlff_speed_cuda.json"
