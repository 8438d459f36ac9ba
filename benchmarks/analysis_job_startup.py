"""Benchmark: wall time of one analysis job with and without torch loaded at job set-up.

The default run has about 40 torch-free jobs (per-run analyses, validation, the large
lattice's report); their job set-up used to import torch to set its thread count.  Here
one analysis job runs as its adapter runs it (``setup_job``, then the stage
``holstein.stages.analyse``) in a fresh Python process, on a trajectory of the default
validation run's size (16 x 14, 900 steps recorded every 3rd: 301 frames with every
field), in two variants that alternate --repeats times:

* ``now``: the job as it is (torch never imported);
* ``with torch``: the same job with ``import torch; torch.set_num_threads(1)`` before the
  set-up, which is what the set-up did before.

Reported: the median wall time of each, and their difference, from the same run.

    python benchmarks/analysis_job_startup.py --repeats 9

A report goes to stdout, the numbers with machine information to --out (JSON, default
benchmarks/out/analysis_job_startup.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from holstein.data.io import write_trajectory  # noqa: E402
from holstein.data.records import Trajectory  # noqa: E402

JOB = """
{torch}
from holstein.pipeline.jobs import setup_job
setup_job({log!r}, 1)
from holstein.stages.analyse import analyse_run
analyse_run({trajectory!r}, {series!r}, {summary!r})
"""
TORCH = "import torch; torch.set_num_threads(1)"


def synthetic_run(path: Path, lx: int, ly: int, frames: int, stride: int) -> None:
    """A run of the right size: a wall sweeping a checkerboard, with noise."""
    rng = np.random.default_rng(0)
    x = np.arange(lx)[:, None]
    sign = (-1.0) ** (x + np.arange(ly)[None, :])
    q = np.stack([sign * (2.68 * (x >= k * lx / frames)) + 0.1 * rng.normal(size=(lx, ly))
                  for k in range(frames)])
    traj = Trajectory(steps=np.arange(frames) * stride, times=np.arange(frames) * 0.1 * stride,
                      q=q, force=rng.normal(size=q.shape), density=rng.uniform(size=q.shape),
                      bond_current_x=rng.normal(size=(frames, lx - 1, ly)),
                      bond_current_y=rng.normal(size=(frames, lx, ly)),
                      current=rng.normal(size=frames))
    physics = {"t": 1.0, "g": 1.5, "K": 1.0, "kappa": 0.18, "gamma": 1.0,
               "temperature": 0.1, "bias_scheme": "gated"}
    write_trajectory(path, traj, {"bias": 2.2, "seed": 101, "provider": "negf",
                                  "physics": physics, "dynamics": {"damping": 0.2, "dt": 0.1},
                                  "n_steps": (frames - 1) * stride, "stride": stride})


def job_seconds(code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--lattice", default="16x14")
    parser.add_argument("--frames", type=int, default=301)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "out" / "analysis_job_startup.json")
    args = parser.parse_args()
    lx, ly = map(int, args.lattice.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        trajectory = scratch / "V2.2_s101.parquet"
        synthetic_run(trajectory, lx, ly, args.frames, 3)
        codes = {name: JOB.format(torch=prefix, log=str(scratch / "job.log"),
                                  trajectory=str(trajectory), series=str(scratch / "s.csv"),
                                  summary=str(scratch / "s.json"))
                 for name, prefix in (("now", ""), ("with torch", TORCH))}
        times: dict[str, list[float]] = {name: [] for name in codes}
        job_seconds(codes["with torch"])  # warm the file cache once
        for _ in range(args.repeats):
            for name, code in codes.items():
                times[name].append(job_seconds(code))
    medians = {name: statistics.median(v) for name, v in times.items()}
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "lattice": [lx, ly], "frames": args.frames, "repeats": args.repeats,
        "seconds": times, "median_seconds": medians,
        "saved_seconds_per_job": medians["with torch"] - medians["now"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"analysis job on {lx} x {ly}, {args.frames} frames, median of {args.repeats}: "
          f"{medians['now']:.2f} s now, {medians['with torch']:.2f} s with torch at set-up "
          f"({result['saved_seconds_per_job']:.2f} s saved per job); load "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
