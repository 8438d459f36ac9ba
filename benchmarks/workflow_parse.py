"""Benchmark: how long Snakemake takes to parse the workflow and plan the default run.

Every Snakemake invocation (a dry run, `--summary`, a re-run, the report) and every SLURM
job (which runs Snakemake again inside the job) pays this parse: the config checks, the
device choice and the code fingerprints of every rule.  Measured: wall time of
``python -m snakemake --dry-run --cores 1 -q`` on the checkout's default config, from a
scratch directory (no results), medians over --repeats.  With several checkouts (e.g. a
worktree of an older commit) the runs alternate, so that drifts of the machine hit them
alike, and each median is compared with the first checkout's.

    python benchmarks/workflow_parse.py                                  # this checkout
    git worktree add /tmp/old <commit>
    python benchmarks/workflow_parse.py --checkouts /tmp/old . --repeats 7

A report goes to stdout, all numbers with machine information to --out (JSON, default
benchmarks/out/workflow_parse.json).
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

ROOT = Path(__file__).resolve().parents[1]


def parse_seconds(checkout: Path, scratch: Path) -> float:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"),
           "--configfile", str(checkout / "config.yaml"), "--dry-run", "--cores", "1", "-q"]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"dry run of {checkout} failed:\n{out.stderr[-2000:]}")
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=Path, nargs="+", default=[ROOT],
                        help="repository roots to compare (default: this one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" /
                        "workflow_parse.json")
    args = parser.parse_args(argv)
    checkouts = [c.resolve() for c in args.checkouts]
    times: dict[str, list[float]] = {str(c): [] for c in checkouts}
    with tempfile.TemporaryDirectory() as scratch:
        for checkout in checkouts:  # a first, unmeasured run warms the file cache
            parse_seconds(checkout, Path(scratch))
        for repeat in range(args.repeats):
            for checkout in checkouts:
                times[str(checkout)].append(parse_seconds(checkout, Path(scratch)))
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
    medians = {c: statistics.median(t) for c, t in times.items()}
    first = medians[str(checkouts[0])]
    for checkout, median in medians.items():
        print(f"{checkout}: median {median:.2f} s over {args.repeats} dry runs "
              f"({median / first:.2f} x the first checkout's)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": "snakemake --dry-run --cores 1 -q (default config, no results)",
        "repeats": args.repeats,
        "seconds": times,
        "median_seconds": medians,
        "ratio_to_first": {c: m / first for c, m in medians.items()},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
