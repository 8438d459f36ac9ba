"""Does the paired validation catch a wrong force field that the old rule let pass?

Re-runs the ML validation runs of a finished pipeline run with the committee's force
scaled by ``--factor`` (0.95: a force field a few per cent too weak), on the same seeds,
start and dynamics as the pipeline's runs (so each run feels the same Brownian noise as
its NEGF reference), analyses them as the pipeline does, and judges them against the
run's NEGF references in two ways:

* the paired verdict of ``holstein.stages.validate`` (90 % Student-t interval of the
  per-seed differences against ``validation.margin``);
* the old rule it replaced: agreement when the ML seed mean lies within max(5 %, NEGF seed
  standard deviation / NEGF mean) of the NEGF mean.

``--factor 1`` re-runs the pipeline's own ML runs: their summaries must equal the
pipeline's (a check that the re-runs are the pipeline's runs).

    python benchmarks/wrong_model_verdicts.py --results results --factor 0.95

Cost: one ML run per validation bias and seed (about 3 s each at 16 x 14 on one core).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from schema_defaults import configured  # noqa: E402

from holstein.ml.committee import load_committee  # noqa: E402
from holstein.physics.lattice import PHYSICS_KEYS  # noqa: E402
from holstein.pipeline.config import bias_label  # noqa: E402
from holstein.pipeline.runs import simulate  # noqa: E402
from holstein.stages.analyse import analyse_run  # noqa: E402
from holstein.stages.validate import PAIRED_PANELS, paired_quantity  # noqa: E402


class ScaledForce:
    """A force provider whose electronic force is ``factor`` times another's (the
    observables are the other's)."""

    def __init__(self, inner, factor: float) -> None:
        self.inner, self.factor = inner, factor
        self.integration_device = getattr(inner, "integration_device", "cpu")
        if hasattr(inner, "force_tensor"):
            self.force_tensor = lambda q, bias: self.factor * inner.force_tensor(q, bias)

    def evaluate(self, q, bias, observables=True):
        response = self.inner.evaluate(q, bias, observables)
        return dataclasses.replace(response, force=self.factor * response.force)

    def electronic_force(self, q, bias):
        return self.evaluate(q, bias).force


def old_rule(ml: list[float], negf: list[float]) -> str:
    ml = [v for v in ml if v is not None and math.isfinite(v)]
    negf = [v for v in negf if v is not None and math.isfinite(v)]
    if not ml or len(negf) < 2:
        return "no data"
    mean = float(np.mean(negf))
    tolerance = max(0.05, float(np.std(negf, ddof=1)) / abs(mean))
    return "agrees" if abs(np.mean(ml) - mean) / abs(mean) <= tolerance else "disagrees"


def same(a, b) -> bool:
    """Equal, counting two missing or nan values as equal."""
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    return all(missing) or (not any(missing) and a == b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=ROOT / "results",
                    help="results/ of a finished pipeline run")
    ap.add_argument("--configfile", type=Path, default=None,
                    help="the config the run used beyond the defaults (none: the defaults)")
    ap.add_argument("--factor", type=float, default=0.95)
    ap.add_argument("--out", type=Path, default=None, help="JSON with every verdict")
    args = ap.parse_args()
    config = configured([args.configfile] if args.configfile else [])
    lattice, physics, dynamics = config["lattice"], config["physics"], config["dynamics"]
    valid = config["validation"]
    margin = valid["margin"]
    members = sorted((args.results / "model").glob("member_*/mlff.pt"))
    if not members:
        sys.exit(f"{args.results}/model holds no member checkpoints: run the pipeline first")
    committee = load_committee(members, expect={k: physics[k] for k in PHYSICS_KEYS},
                               predictor=config["model"]["committee_predictor"])
    provider = ScaledForce(committee, args.factor)
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for bias in valid["biases"]:
            label = bias_label(bias)
            negf, ml, pipeline_ml = {}, {}, {}
            for seed in valid["seeds"]:
                stem = Path(scratch) / f"V{label}_s{seed}"
                simulate(f"{stem}.parquet", provider, "ml", lattice, physics, dynamics, bias,
                         seed, valid["n_steps"], valid["stride"])
                analyse_run(f"{stem}.parquet", f"{stem}.csv", f"{stem}.json")
                ml[seed] = json.loads(Path(f"{stem}.json").read_text())
                analysis = args.results / "analysis"
                negf[seed] = json.loads((analysis / "negf" / f"V{label}_s{seed}.json").read_text())
                pipeline_ml[seed] = json.loads(
                    (analysis / "ml" / f"V{label}_s{seed}.json").read_text())
            for quantity in PAIRED_PANELS:
                paired = paired_quantity(ml, negf, quantity, margin)
                row = {"bias": bias, "quantity": quantity, "factor": args.factor,
                       "paired": paired,
                       "old_rule": old_rule([r.get(quantity) for r in ml.values()],
                                            [r.get(quantity) for r in negf.values()])}
                if args.factor == 1.0:
                    row["equals_the_pipeline_run"] = all(
                        same(ml[s].get(quantity), pipeline_ml[s].get(quantity)) for s in ml)
                rows.append(row)
                low, high = paired.get("interval") or (math.nan, math.nan)
                interval = (f"[{100 * low:+.1f}, {100 * high:+.1f}] %"
                            if math.isfinite(low) else "-")
                print(f"V = {bias:g} {quantity:16s} paired {100 * paired['mean']:+6.1f} % "
                      f"{interval:20s} {paired['verdict']:12s} old rule: {row['old_rule']}",
                      flush=True)
    print(f"{len(valid['biases']) * len(valid['seeds'])} ML runs in "
          f"{time.perf_counter() - started:.0f} s; load {os.getloadavg()[0]:.1f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
