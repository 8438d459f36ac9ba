"""BLAS threads for a benchmark, from its --threads argument, before numpy loads OpenBLAS.

Import this module before numpy (``import blas_threads  # noqa: F401``): it sets
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS (unless already set) to the
script's ``--threads`` value (default 2).  Oversubscribed OpenBLAS threads (two on two
cores with another job running) slow the NEGF down up to ~20x.
"""

import os
import sys


def threads_from_argv(argv: list[str], default: str = "2") -> str:
    for k, a in enumerate(argv):
        if a == "--threads" and k + 1 < len(argv):
            return argv[k + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return default


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, threads_from_argv(sys.argv[1:]))
