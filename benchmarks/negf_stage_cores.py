"""Benchmark: wall time of the pipeline's NEGF training-data stage with --cores 1 and --cores N.

What is measured: ``snakemake --cores C --until negf_training_shard`` on a fresh working
directory (so every shard runs), for C in --cores (default 1,2), --repeats times each,
alternating the core counts so that slow drifts of the machine hit both alike.  Each NEGF
job declares 1 thread and limits its BLAS pool to it (holstein.pipeline.jobs.setup_job), so C cores
run C shards side by side.  The config is the default config.yaml with the run length
overridden by --n-steps (the stage's work scales with it; the default 900 steps take about
2 x 7 minutes per repeat on 2 cores).  Reported: median wall seconds per core count and the
speed-up median(C=1) / median(C).

Run on a quiet machine (another process on the same cores takes them from the jobs):

    python benchmarks/negf_stage_cores.py                      # 1 vs 2 cores, 300 steps, 3 repeats
    python benchmarks/negf_stage_cores.py --cores 1,2,4,8,16   # a workstation

Writes a JSON report to --out (default benchmarks/out/negf_stage_cores.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_stage(cores: int, override: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="negf_stage_") as workdir:
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--workflow-profile", str(ROOT / "profiles" / "default"),
               "--configfile", str(ROOT / "config.yaml"), str(override),
               "--cores", str(cores), "--until", "negf_training_shard", "--quiet", "all"]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if out.returncode != 0:
            raise SystemExit(f"snakemake failed with --cores {cores}:\n{out.stderr[-3000:]}")
        shards = list(Path(workdir, "results", "negf_training").glob("*.parquet"))
    return seconds, len(shards)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cores", default="1,2", help="comma-separated core counts")
    parser.add_argument("--n-steps", type=int, default=300, help="Brownian steps per shard")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" /
                        "negf_stage_cores.json")
    args = parser.parse_args()
    cores = [int(c) for c in args.cores.split(",")]
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    n_shards = len(config["training_data"]["biases"]) * len(config["training_data"]["seeds"])
    print(f"NEGF stage: {n_shards} shards of {args.n_steps} steps on "
          f"{config['lattice']['Lx']}x{config['lattice']['Ly']}, cores {cores}, "
          f"{args.repeats} repeats; load average {os.getloadavg()[0]:.2f}", flush=True)
    times: dict[int, list[float]] = {c: [] for c in cores}
    with tempfile.TemporaryDirectory() as tmp:
        override = Path(tmp) / "steps.yaml"
        override.write_text(yaml.safe_dump({"training_data": {"n_steps": args.n_steps}}))
        for repeat in range(args.repeats):
            for c in cores:
                seconds, made = run_stage(c, override)
                if made != n_shards:
                    raise SystemExit(f"--cores {c}: {made} shards written, expected {n_shards}")
                times[c].append(seconds)
                print(f"  repeat {repeat + 1}: --cores {c:2d}  {seconds:7.1f} s", flush=True)
    base = statistics.median(times[cores[0]])
    report = {"n_shards": n_shards, "n_steps": args.n_steps, "repeats": args.repeats,
              "cpu_count": os.cpu_count(), "seconds": times, "median_seconds": {},
              "speedup_over_first": {}}
    for c in cores:
        median = statistics.median(times[c])
        report["median_seconds"][c] = median
        report["speedup_over_first"][c] = base / median
        print(f"--cores {c:2d}: median {median:7.1f} s   speed-up over --cores {cores[0]}: "
              f"{base / median:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"report: {args.out}")


if __name__ == "__main__":
    main()
