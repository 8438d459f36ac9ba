"""Benchmark: what a committee of force fields adds to the cost of an ML Brownian step.

Measured (wall time, time.perf_counter, medians over --repeats; the variants at one size
alternate, so that drifts of the machine hit them alike): ``run_brownian`` from a CDW with
noise for --steps steps, recording every --stride-th frame (the pipeline's runs: stride 3
on the training lattice, 40 on the 256 x 256 one), driven by

* ``single``: one member alone (``MLForceProvider``; no committee, no deviation);
* ``first``: the committee with the 'first' predictor: member 0 drives, every member is
  evaluated on the recorded frames only, for the deviation;
* ``mean``: the committee with the 'mean' predictor: every member on every step.

For each committee size in --members and each lattice in --sizes (with its stride); the
added cost is committee / single - 1.  Random weights (the cost does not depend on their
values), 16 channels, cutoff 6, bond-current heads (as the pipeline trains them).

    python benchmarks/committee_cost.py                          # 16x14:3, 256x256:40
    python benchmarks/committee_cost.py --sizes 16x14:3 --members 2,3,4 --threads 1

A report goes to stdout, all numbers with machine information to --out (JSON, default
benchmarks/out/committee_cost.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import blas_threads  # noqa: E402, F401  (before numpy: BLAS threads from --threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from schema_defaults import DEFAULTS

from holstein.ml.committee import CommitteeProvider  # noqa: E402
from holstein.ml.model import Architecture, LocalForceField  # noqa: E402
from holstein.ml.provider import MLForceProvider  # noqa: E402
from holstein.physics.dynamics import run_brownian  # noqa: E402

PHYSICS = DEFAULTS.physics
BIAS, NOISE = 2.2, 0.05
VARIANTS = ("single", "first", "mean")


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    """'16x14:3,256x256:40' -> [(16, 14, 3), (256, 256, 40)] (lattice and stride)."""
    out = []
    for item in filter(None, text.split(",")):
        size, _, stride = item.partition(":")
        lx, ly = (int(v) for v in size.lower().split("x"))
        out.append((lx, ly, int(stride or 3)))
    return out


def members(n: int, channels: int, cutoff: int) -> list[LocalForceField]:
    arch = Architecture(cutoff=cutoff, channels=channels, head_channels=channels, expansion=0,
                        bond_heads=True, bond_head_channels=channels)
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        out.append(LocalForceField(arch))
    return out


def bench(n: int, lx: int, ly: int, stride: int, steps: int, repeats: int, channels: int,
          cutoff: int) -> dict:
    committee = members(n, channels, cutoff)
    providers = {"single": MLForceProvider(committee[0], PHYSICS),
                 "first": CommitteeProvider(committee, PHYSICS, predictor="first"),
                 "mean": CommitteeProvider(committee, PHYSICS, predictor="mean")}
    rng = np.random.default_rng(1)
    q0 = DEFAULTS.checkerboard(lx, ly) + NOISE * rng.standard_normal((lx, ly))
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for round_ in range(repeats + 1):  # round 0 warms up
        for name in VARIANTS:
            t0 = time.perf_counter()
            run_brownian(q0, providers[name], BIAS, DEFAULTS.brownian(), steps, seed=1,
                         stride=stride)
            if round_:
                times[name].append((time.perf_counter() - t0) / (steps + 1))
    medians = {v: statistics.median(times[v]) for v in VARIANTS}
    row = {"members": n, "Lx": lx, "Ly": ly, "stride": stride, "steps": steps,
           "repeats": repeats, "seconds_per_step": medians,
           "min_seconds_per_step": {v: min(times[v]) for v in VARIANTS},
           "added_fraction": {v: medians[v] / medians["single"] - 1 for v in ("first", "mean")}}
    print(f"  N={n} {lx}x{ly} stride {stride}: single {medians['single'] * 1e3:.3f} ms, "
          f"first {medians['first'] * 1e3:.3f} ms ({100 * row['added_fraction']['first']:+.0f} %),"
          f" mean {medians['mean'] * 1e3:.3f} ms ({100 * row['added_fraction']['mean']:+.0f} %)",
          flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="16x14:3,256x256:40",
                    help="lattices with the stride of their recorded frames, LxxLy:stride")
    ap.add_argument("--members", default="2,3,4")
    ap.add_argument("--steps", type=int, default=120,
                    help="steps per timed run (at 256 x 256 and above: a quarter)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--channels", type=int, default=DEFAULTS.config["model"]["channels"])
    ap.add_argument("--cutoff", type=int, default=DEFAULTS.config["model"]["cutoff"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/committee_cost.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average "
          f"{list(os.getloadavg())}", flush=True)
    rows = []
    for lx, ly, stride in parse_sizes(args.sizes):
        steps = args.steps if lx * ly <= 20000 else max(2 * stride, args.steps // 4)
        for n in (int(v) for v in args.members.split(",")):
            rows.append(bench(n, lx, ly, stride, steps, args.repeats, args.channels,
                              args.cutoff))
    out = {"rows": rows, "args": vars(args),
           "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                       "torch": str(torch.__version__), "cpu_count": os.cpu_count(),
                       "torch_threads": torch.get_num_threads(),
                       "load_average_after": list(os.getloadavg())}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
