"""How far below the NEGF force can a cutoff-R model get?  Splice estimate per trajectory.

For each NEGF trajectory file (training shards or reference runs) this takes the frames
after ``--skip-fraction`` of the run (the state after the wall has swept, or the
collapsed metal), splices Q inside a Chebyshev radius R around a random site with Q
from another frame at least ``--min-separation`` frames away, and recomputes the exact
NEGF force there (holstein.physics.locality).  It prints, per trajectory and radius, the
estimated RMSE floor of any model with cutoff R, relative to the force standard
deviation of the whole trajectory (the normalisation of the held-out metric), and,
with ``--model``, the trained model's RMSE on the same late frames.

    python scripts/locality_floor.py results/negf_training/*.parquet \
        --model results/model/member_0/mlff.pt --radii 4 6 --samples 200

Cost: two NEGF solves per sample (about 0.06 s each at 16 x 14).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from holstein.data.atomic import write_text_atomic  # noqa: E402
from holstein.data.io import read_trajectory  # noqa: E402
from holstein.pipeline.defaults import ConfigDefaults  # noqa: E402
from holstein.stages.locality_floor import trajectory_floor  # noqa: E402

DEFAULTS = ConfigDefaults.read(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trajectories", type=Path, nargs="+", help="NEGF Parquet files")
    parser.add_argument("--radii", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--samples", type=int, default=200)
    locality = DEFAULTS.config["locality"]
    parser.add_argument("--skip-fraction", type=float, default=locality["skip_fraction"])
    parser.add_argument("--min-separation", type=int, default=locality["min_separation"],
                        help="frames")
    parser.add_argument("--method", default=DEFAULTS.negf_method)
    parser.add_argument("--model", type=Path, default=None, help="checkpoint to compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON with every row")
    args = parser.parse_args()
    if not 0 <= args.skip_fraction < 1:
        parser.error(f"--skip-fraction {args.skip_fraction}: need 0 <= value < 1")

    model = None
    if args.model is not None:
        from holstein.ml.checkpoint import check_expectation
        from holstein.ml.metrics import error_row, predict_all
        from holstein.ml.provider import load

        model = load(args.model)
    rows = []
    for path in args.trajectories:
        arrays, meta = read_trajectory(path)
        if model is not None:  # before the NEGF solves: a wrong model fails at once
            check_expectation({"physics": model.physics}, meta["physics"], args.model)
        row = trajectory_floor(path, args.radii, args.samples, args.skip_fraction,
                               args.min_separation, seed=args.seed, method=args.method)
        if model is not None:
            late = slice(row["first_late_frame"], None)
            pred = predict_all(model, arrays["q"][late], arrays["bias"][late],
                               observables=False)["force"]
            row["model_relative_rmse_late"] = (error_row(pred, arrays["force"][late])["rmse"]
                                               / row["force_std"])
        floors = "  ".join(f"R={f['radius']}: {f['relative_floor']:.4f} +- "
                           f"{f['relative_floor_error']:.4f}" for f in row["floors"])
        trained = (f"  trained model: {row['model_relative_rmse_late']:.4f}"
                   if model is not None else "")
        print(f"V = {row['bias']:g} seed {row['seed']}: floor / std  {floors}{trained}", flush=True)
        rows.append(row)
        if args.out is not None:  # after every trajectory: a long run killed keeps its rows
            args.out.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(args.out, json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
