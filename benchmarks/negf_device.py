"""Benchmark: one NEGF steady state on the CPU (numpy) and on a GPU (torch), per lattice.

For each size in --sizes (a CDW configuration with noise, bias 2.2, default physics):

* ``scipy.linalg.eig`` of the same H_eff alone: the method's floor on the CPU;
* ``DEFAULTS.steady_state(method='fast')`` on the CPU, and its ratio to the eig, timed back to back
  in the same run (target: <= 1.25 at 40 x 30 with 2 BLAS threads);
* with a CUDA GPU: ``DEFAULTS.steady_state(device='cuda')`` (eig, inverse and products in torch on
  the GPU, the N digammas on the host) and its largest deviation from the CPU result
  (targets: <= 0.4 s at 40 x 30, <= 4 s at 80 x 60, agreement to 1e-8).

Medians over --repeats (after one warm-up call).  Run on a quiet machine:

    OPENBLAS_NUM_THREADS=2 python benchmarks/negf_device.py --sizes 40x30
    python benchmarks/negf_device.py --sizes 40x30,80x60 --repeats 3   # on a GPU machine

Writes all numbers and the machine to --out (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from schema_defaults import DEFAULTS

from holstein.physics.negf import effective_hamiltonian

BIAS = 2.2


def timed(fn, repeats: int, warmup: bool = True) -> tuple[float, object]:
    result = fn() if warmup else None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def max_deviation(a, b) -> float:
    fields = ("density", "bond_current_x", "bond_current_y")
    return float(max(max(np.abs(getattr(a, f) - getattr(b, f)).max() for f in fields),
                     abs(a.current - b.current)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="40x30")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu-max-sites", type=int, default=2000,
                    help="above this, the CPU steady state and eig are timed once")
    ap.add_argument("--out", default="benchmarks/out/negf_device.json")
    args = ap.parse_args(argv)
    rows = []
    for size in args.sizes.split(","):
        lx, ly = (int(v) for v in size.split("x"))
        q = DEFAULTS.checkerboard(lx, ly) + 0.2 * np.random.default_rng(0).standard_normal((lx, ly))
        heff = effective_hamiltonian(q, 1.0, 1.5, 1.0)
        # Above --cpu-max-sites the CPU result is computed once (minutes at 80 x 60), as the
        # reference of the GPU's, and its single time is reported.
        big = lx * ly > args.cpu_max_sites
        cpu_repeats = 1 if big else args.repeats
        eig_s, _ = timed(lambda h=heff: scipy.linalg.eig(h, check_finite=False), cpu_repeats,
                         warmup=not big)
        cpu_s, cpu = timed(lambda q=q: DEFAULTS.steady_state(q, BIAS), cpu_repeats, warmup=not big)
        row = {"Lx": lx, "Ly": ly, "eig_s": eig_s, "cpu_steady_state_s": cpu_s,
               "ratio_to_eig": cpu_s / eig_s, "cpu_repeats": cpu_repeats}
        line = (f"{lx}x{ly}: eig {eig_s:.3f} s, steady state {cpu_s:.3f} s "
                f"({row['ratio_to_eig']:.2f}x the eig)")
        if torch.cuda.is_available():
            gpu_s, gpu = timed(lambda q=q: DEFAULTS.steady_state(q, BIAS, device="cuda"),
                               args.repeats)
            row.update(gpu_steady_state_s=gpu_s, gpu_max_deviation=max_deviation(gpu, cpu),
                       gpu_name=torch.cuda.get_device_name())
            line += f"; GPU {gpu_s:.3f} s, max deviation {row['gpu_max_deviation']:.2g}"
        print(line, flush=True)
        rows.append(row)
    machine = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
               "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
               "torch": torch.__version__, "load_average": list(os.getloadavg())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
