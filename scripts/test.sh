#!/usr/bin/env bash
# Install the project (CPU torch 2.13.0 first, so nothing pulls a CUDA build) and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install --quiet torch==2.13.0
pip install --quiet -e ".[test,workflow,dev]"
# Small dense matrices: one BLAS thread each is fastest and avoids oversubscription.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
ruff check .
set +e
python -m pytest -q "$@"
rc=$?
set -e
# pytest exit code 5 means "no tests collected": a broken test tree, not a pass.
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
