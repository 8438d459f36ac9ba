"""What a warm-started active-learning retraining costs against a full one, and what it
gives: one member trained on the same data (the training shards and the labels of
iterations 1 .. i of a finished run) twice in one process, on the same threads:

* scratch: random weights, the ``model`` section's full schedule (today's pipeline
  committee; what ``active_learning.retrain.start: scratch`` does in every iteration);
* warm: from the same member of iteration i - 1, ``retrain.epochs`` epochs from
  ``retrain.learning_rate`` (``start: previous``, the default).

Both are judged on the NEGF reference runs the loop never labels (the validation's
``results/runs/negf/*.parquet``): force RMSE / force std per bias, and on the held-out
test shards given with ``--test`` (e.g. training shards that a reduced seed set left
out).  The model section and the retrain settings are the schema's defaults, overridden
by ``--config`` files in order, as the pipeline reads them.

    python benchmarks/al_retrain_cost.py --results results --iteration 1 --member 0 \\
        --config config/config.yaml --out docs/al_retrain_cost.json

Run it on a finished run with ``active_learning.iterations`` >= i (its labels and the
iteration i - 1 committee are read).  Minutes: one full training and one short one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from finished_run import reference_runs, rmse_table, runs, training_shards
from schema_defaults import configured

from holstein.data.shards import load_shards
from holstein.ml.checkpoint import read_checkpoint
from holstein.ml.members import iteration_section, member_section
from holstein.ml.training.parameters import TrainingParameters
from holstein.ml.training.trainer import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--iteration", type=int, default=1)
    ap.add_argument("--member", type=int, default=0)
    ap.add_argument("--config", type=Path, nargs="*", default=[])
    ap.add_argument("--test", type=Path, nargs="*", default=[], help="held-out NEGF shards")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    config = configured(args.config)
    i, results = args.iteration, args.results
    if i < 1:
        raise SystemExit("--iteration: give 1 or more (iteration 0 is the pipeline's committee)")
    shards = training_shards(results, config)
    labels = sorted(p for k in range(1, i + 1) for p in
                    (results / "active_learning" / f"iter_{k}" / "labels").glob("*.parquet"))
    if not labels:
        raise SystemExit(f"{results}/active_learning/iter_1..{i}/labels: no label shards")
    previous = (results / "model" if i == 1 else results / "active_learning" / f"iter_{i - 1}"
                / "model") / f"member_{args.member}" / "mlff.pt"
    reference = reference_runs(results)
    test = runs(args.test)
    data = load_shards([*shards, *labels])
    torch.set_num_threads(args.threads)
    print(f"{len(shards)} training shards + {len(labels)} label shards "
          f"({len(data['q'])} frames); warm start from {previous}", flush=True)

    rows = {}
    retrain = {**config["active_learning"]["retrain"], "start": "previous"}
    sections = {"scratch": config["model"],
                "warm": iteration_section(config["model"], retrain, i)}
    for name, section in sections.items():
        params = TrainingParameters.from_mapping(
            {**member_section(section, args.member), "threads": args.threads,
             "checkpoint_every_epochs": 0})
        init = read_checkpoint(previous) if name == "warm" else None
        out = Path(f"/tmp/al_retrain_cost_{os.getpid()}_{name}.pt")
        t0 = time.perf_counter()
        metrics = train(data, params, out, log=lambda s: None, init_model=init)
        seconds = time.perf_counter() - t0
        ckpt = read_checkpoint(out)
        rows[name] = {"seconds": seconds, "epochs_run": metrics["epochs_run"],
                      "best_epoch": metrics["best_epoch"], "max_epochs": params.epochs,
                      "learning_rate": params.learning_rate,
                      **rmse_table(ckpt, reference, test)}
        out.unlink()
        print(f"{name}: {seconds:.0f} s, {metrics['epochs_run']} epochs (best "
              f"{metrics['best_epoch']})", flush=True)
        for where, table in rows[name].items():
            if isinstance(table, dict):
                print("   ", where, {b: round(r["relative_rmse"], 4) for b, r in table.items()})
    result = {"results": str(results), "iteration": i, "member": args.member,
              "threads": args.threads, "machine": platform.node(),
              "load_average": os.getloadavg(), "cpu_count": os.cpu_count(),
              "time_ratio_scratch_over_warm": rows["scratch"]["seconds"] / rows["warm"]["seconds"],
              **rows}
    print(f"scratch / warm wall time: {result['time_ratio_scratch_over_warm']:.2f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
