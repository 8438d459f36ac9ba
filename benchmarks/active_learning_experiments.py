"""Does active learning save NEGF solves?  The numbers of finished pipeline runs side by
side, one run per protocol ("arm"):

* per iteration of each arm: the NEGF solves behind the committee's training set (the
  seed set's trajectories, every step a solve, plus one per label), the labels, and the
  committee's (mean predictor) force RMSE / force std on held-out NEGF test shards per
  bias (``--test``: NEGF trajectories that no arm trained on);
* per arm: the validation's paired verdicts (``results/validation/metrics.json``) per
  bias and quantity, and whether each is no worse than the baseline arm's (the first
  ``--arm``; order: equivalent > unresolved > differs).

    python benchmarks/active_learning_experiments.py \\
        --arm full=/tmp/alA/results deviation=/tmp/alS/results random=/tmp/alR/results \\
        --test /tmp/alA/results/negf_training/V2.4_s2.parquet \\
               /tmp/alA/results/negf_training/V3_s2.parquet \\
        --out docs/active_learning.json

Reads checkpoints and Parquet files; seconds per committee.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from holstein.data.io import read_trajectory
from holstein.ml.committee import load_committee
from holstein.ml.reference import ReferenceRun, reference_force_rmse

RANK = {"equivalent": 2, "unresolved": 1, "differs": 0}


def committee(results: Path, iteration: int) -> list[Path]:
    folder = results / "model" if iteration == 0 else (
        results / "active_learning" / f"iter_{iteration}" / "model")
    return sorted(folder.glob("member_*/mlff.pt"))


def verdicts(results: Path) -> dict | None:
    path = results / "validation" / "metrics.json"
    if not path.is_file():
        return None
    per_bias = json.loads(path.read_text())["per_bias"]
    return {bias: {q: {k: v["paired"][k] for k in ("verdict", "mean", "interval")}
                   for q, v in entry.items() if isinstance(v, dict) and v.get("paired")}
            for bias, entry in per_bias.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arm", nargs="+", required=True, help="NAME=RESULTS_DIR, baseline first")
    ap.add_argument("--test", type=Path, nargs="+", required=True)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    test = [ReferenceRun(str(p), *read_trajectory(p), {}) for p in args.test]
    arms = {}
    for spec in args.arm:
        name, _, folder = spec.partition("=")
        results = Path(folder)
        rows, iteration = [], 0
        while members := committee(results, iteration):
            provider = load_committee(members, expect=test[0].meta["physics"])
            metrics = results / "active_learning" / f"iter_{iteration}" / "metrics.json"
            counts = json.loads(metrics.read_text()) if metrics.is_file() else {}
            rows.append({
                "iteration": iteration,
                "negf_solves_for_training": counts.get("negf_solves_for_training"),
                "labels": counts.get("labels"),
                "test_force_rmse": {b: r["relative_rmse"] for b, r in
                                    reference_force_rmse(provider, test).items()},
            })
            print(name, rows[-1], flush=True)
            iteration += 1
        arms[name] = {"results": str(results), "iterations": rows,
                      "verdicts": verdicts(results)}
    base_name = next(iter(arms))
    base = arms[base_name]["verdicts"]
    for name, arm in arms.items():
        if arm["verdicts"] is None or base is None:
            continue
        worse = [f"{b} {q}: {v['verdict']} (baseline {base[b][q]['verdict']})"
                 for b, qs in arm["verdicts"].items() for q, v in qs.items()
                 if RANK[v["verdict"]] < RANK[base[b][q]["verdict"]]]
        better = [f"{b} {q}: {v['verdict']} (baseline {base[b][q]['verdict']})"
                  for b, qs in arm["verdicts"].items() for q, v in qs.items()
                  if RANK[v["verdict"]] > RANK[base[b][q]["verdict"]]]
        arm["worse_than_baseline"], arm["better_than_baseline"] = worse, better
        print(f"{name} against {base_name}: {len(worse)} verdicts worse, {len(better)} "
              f"better", *worse, sep="\n  ")
    if args.out:
        args.out.write_text(json.dumps({"test_shards": [str(p) for p in args.test],
                                        "baseline": base_name, "arms": arms},
                                       indent=2, default=float))


if __name__ == "__main__":
    main()
