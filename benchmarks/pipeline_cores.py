"""Benchmark: wall time and core use of the whole pipeline under ``snakemake --cores N``.

Runs the workflow of this checkout on a config (default: the default config) in a fresh
scratch directory and reports the wall time and the core use: the CPU seconds of every
job (from Snakemake's per-job benchmark files, plus the short jobs' own wall time where
they have none) over N x the wall time.  Nothing in the checkout's results/ is touched.

    python benchmarks/pipeline_cores.py --cores 16                     # a workstation
    CUDA_VISIBLE_DEVICES= python benchmarks/pipeline_cores.py --cores 16   # GPU hidden
    python benchmarks/pipeline_cores.py --cores 2 --config tests/data/tiny.yaml

Targets on the 16-core GPU machine: <= 6 min, and <= 8 min with the GPU hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--config", action="append", default=[],
                    help="config files merged over config/config.yaml")
    ap.add_argument("--workdir", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--out", default="benchmarks/out/pipeline_cores.json")
    args = ap.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="holstein-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    configs = [str(ROOT / "config" / "config.yaml"), *(str(Path(c).resolve())
                                                        for c in args.config)]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--cores", str(args.cores), "--configfile", *configs]
    print(" ".join(cmd), f"(in {work})", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"snakemake failed with status {proc.returncode}", file=sys.stderr)
        return proc.returncode
    jobs = []
    for tsv in sorted((work / "results" / "benchmarks").rglob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[0]
        jobs.append({"job": str(tsv.relative_to(work / "results" / "benchmarks")),
                     "wall_s": float(row["s"]), "cpu_s": float(row["cpu_time"])})
    cpu = sum(j["cpu_s"] for j in jobs)
    result = {
        "cores": args.cores, "wall_s": wall, "job_cpu_s": cpu,
        "core_use": cpu / (args.cores * wall),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "config": configs, "jobs": jobs, "load_average": list(os.getloadavg()),
    }
    print(f"wall {wall / 60:.1f} min on {args.cores} cores; job CPU {cpu / 60:.1f} min; "
          f"core use {100 * result['core_use']:.0f} % (jobs with a benchmark file)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
