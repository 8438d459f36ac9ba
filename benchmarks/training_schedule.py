"""What a training schedule costs and what it gives: one committee member trained on a
finished run's NEGF training shards once per variant of the ``model`` section, one after
the other in one process on the same threads, each judged by its force RMSE / std on the
run's NEGF reference runs (``results/runs/negf``, never trained on) per bias.

The model section is the schema's defaults, overridden by ``--config`` files in order as
the pipeline reads them; each ``--variant`` overrides it further (``key=value,...``;
``default`` = no override).  Ratios are to the first variant.

    python benchmarks/training_schedule.py --results results \\
        --config config/config.yaml config/transport_committee.yaml \\
        --variant default patience=15 batch_size=64,learning_rate=0.004 \\
        --out docs/training_schedule_transport.json

Minutes per variant (a full training each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
import yaml
from finished_run import reference_runs, rmse_table, training_shards
from schema_defaults import configured

from holstein.data.shards import load_shards
from holstein.ml.checkpoint import read_checkpoint
from holstein.ml.members import member_section
from holstein.ml.training.parameters import TrainingParameters
from holstein.ml.training.trainer import train


def overrides(spec: str) -> dict:
    if spec == "default":
        return {}
    out = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        out[key] = yaml.safe_load(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--config", type=Path, nargs="*", default=[])
    ap.add_argument("--variant", nargs="+", default=["default"])
    ap.add_argument("--member", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    config = configured(args.config)
    reference = reference_runs(args.results)
    data = load_shards(training_shards(args.results, config))
    torch.set_num_threads(args.threads)
    rows = {}
    for spec in args.variant:
        section = {**member_section(config["model"], args.member), **overrides(spec),
                   "threads": args.threads, "checkpoint_every_epochs": 0}
        params = TrainingParameters.from_mapping(section)
        out = Path(f"/tmp/training_schedule_{os.getpid()}.pt")
        t0 = time.perf_counter()
        metrics = train(data, params, out, log=lambda s: None)
        seconds = time.perf_counter() - t0
        ckpt = read_checkpoint(out)
        rows[spec] = {"seconds": seconds, "epochs_run": metrics["epochs_run"],
                      "best_epoch": metrics["best_epoch"],
                      **rmse_table(ckpt, reference)}
        out.unlink()
        first = rows[args.variant[0]]
        change = {b: r["relative_rmse"] / first["reference_runs"][b]["relative_rmse"] - 1
                  for b, r in rows[spec]["reference_runs"].items()}
        rows[spec]["time_ratio"] = seconds / first["seconds"]
        rows[spec]["relative_rmse_change"] = change
        print(f"{spec}: {seconds:.0f} s ({rows[spec]['time_ratio']:.2f} x), "
              f"{metrics['epochs_run']} epochs; RMSE / std "
              + ", ".join(f"V={b} {r['relative_rmse']:.4f} ({100 * change[b]:+.1f} %)"
                          for b, r in rows[spec]["reference_runs"].items()), flush=True)
    result = {"results": str(args.results), "model": config["model"], "member": args.member,
              "threads": args.threads, "machine": platform.node(),
              "load_average": os.getloadavg(), "variants": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
