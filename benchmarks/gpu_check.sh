#!/usr/bin/env bash
# Every GPU claim of the README, measured in one run on a machine with an NVIDIA GPU (at
# most 10 minutes).  Each step's outcome is recorded even when an earlier one failed:
#   1. the gpu-marked tests;
#   2. NEGF through holstein.physics.negf at 40 x 30 and 80 x 60 on the GPU, against the CPU;
#   3. the ML force under the precision policy (TF32 off) against float32 on the CPU;
#   4. the ML Brownian step of the local model from 256^2 to 2048^2, and of the transport
#      model trained by step 5;
#   5. the tiny pipeline end to end with device: cuda and --resources gpu=1, so its two
#      training jobs queue for the one GPU (a temporary copy of the checkout; needs
#      snakemake and jsonschema installed).
# Then benchmarks/gpu_summary.py writes ${OUT}/gpu_check.json, the one file the README's
# GPU figures come from.
#   bash benchmarks/gpu_check.sh            # results under ${OUT:-benchmarks/out}
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${OUT:-benchmarks/out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PYTHONPATH=$repo/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
step() { echo "== $1 ($(date +%T))"; }

step "GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"

step "gpu-marked tests"
timeout 180 python -m pytest -q -m gpu tests >"$out/gpu_tests.log" 2>&1
echo $? >"$out/gpu_tests.rc"
tail -3 "$out/gpu_tests.log"

step "NEGF 40x30, 80x60"
OPENBLAS_NUM_THREADS=16 timeout 150 python benchmarks/negf_device.py --sizes 40x30,80x60 \
    --repeats 3 --out "$out/negf_device.json"

step "ML precision"
timeout 60 python benchmarks/ml_precision.py --device cuda --out "$out/ml_precision.json"

step "ML step, local model"
timeout 120 python benchmarks/mlff_speed.py --device cuda --threads 16 \
    --sizes 256x256,1024x1024,2048x2048 --negf-sizes "" --bond-heads 0 --repeats 10 \
    --out "$out/mlff_speed_cuda.json"

step "tiny pipeline, device: cuda, --resources gpu=1"
tiny=$(mktemp -d)
cp -r Snakefile config.yaml workflow src config envs profiles "$tiny"/
mkdir -p "$tiny/tests" && cp -r tests/data "$tiny/tests/"
printf 'model: {kind: transport}\n' >"$tiny/transport.yaml"
(
    cd "$tiny" || exit 1
    timeout 240 python -m snakemake --cores 8 --resources gpu=1 \
        --configfile config.yaml tests/data/tiny.yaml --config device=cuda \
        >"$out/tiny_cuda.log" 2>&1
    echo $? >"$out/tiny_cuda.rc"
    mkdir -p "$out/tiny_logs" && cp -r logs/model "$out/tiny_logs/" 2>/dev/null
    # a transport committee on the same data, for its Brownian step below
    timeout 120 python -m snakemake --cores 8 --resources gpu=1 --configfile config.yaml \
        tests/data/tiny.yaml transport.yaml --config device=cuda \
        --until train_member >"$out/tiny_transport.log" 2>&1
    echo $? >"$out/tiny_transport.rc"
)
if [ -f "$tiny/results/model/member_0/mlff.pt" ] && [ "$(cat "$out/tiny_transport.rc")" = 0 ]; then
    step "ML step, transport model"
    timeout 120 python benchmarks/mlff_speed.py --device cuda --threads 16 \
        --sizes 256x256,1024x1024,2048x2048 --negf-sizes "" --bond-heads 0 --repeats 10 \
        --transport "$tiny/results/model/member_0/mlff.pt" \
        --out "$out/mlff_speed_transport_cuda.json"
fi

step "summary"
python benchmarks/gpu_summary.py "$out" | tee "$out/gpu_check.json"
