"""A pipeline job uses exactly its declared threads: BLAS pools, OpenMP env and torch,
whether torch was imported before the set-up or after it; the set-up itself never
imports torch (the analysis jobs do not need it)."""

import json
import subprocess
import sys

import pytest

PROBE = """
import json, os, sys
import numpy  # loads OpenBLAS with its default pool (all cores)
from threadpoolctl import threadpool_info
if sys.argv[3] == "before":
    import torch
from holstein.pipeline.jobs import setup_job
setup_job(sys.argv[2], int(sys.argv[1]))
loaded = "torch" in sys.modules
import torch
print(json.dumps({
    "torch_loaded_by_setup": loaded and sys.argv[3] == "after",
    "blas": [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"],
    "torch": torch.get_num_threads(),
    "env": [os.environ[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")],
}))
"""


@pytest.mark.parametrize("torch_import", ["before", "after"])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_job_limits_blas_and_torch_to_its_declared_threads(threads, torch_import, tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(threads), str(tmp_path / "job.log"),
                          torch_import],
                         capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["blas"] and all(n == threads for n in seen["blas"]), seen
    assert seen["torch"] == threads and seen["env"] == [str(threads)] * 2
    assert not seen["torch_loaded_by_setup"]
    assert (tmp_path / "job.log").exists()
