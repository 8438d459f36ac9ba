"""How well does the committee deviation rank and predict the force error of a frame?

Reads the reference-frame tables of a finished pipeline run
(``results/validation/reference_errors.json`` and, where the transfer stage ran,
``results/transfer/validation/reference_errors.json``: per NEGF reference frame the
committee's mean and maximum force deviation over the sites and the predictor's force
RMSE against NEGF) and, for each deviation statistic:

* its Spearman rank correlation with the frame RMSE on each lattice;
* a calibration: the expected error is ``scale x deviation``, the scale the geometric
  median of RMSE / deviation over the frames of every other training-lattice reference
  run (in file order: seeds 101 and 103 of each bias by default); the fraction of frames
  whose true RMSE lies within a factor 2 of the expected error, on the frames of the
  other (held-out) runs and on the transfer lattice;
* the quantiles of RMSE / deviation on each lattice.

    python benchmarks/deviation_calibration.py --results results

It reads JSON only (seconds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from holstein.ml.calibration import fit_scale, within_factor

STATISTICS = ("mean_deviation", "max_deviation")


def frames(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    errors = json.loads(path.read_text())
    committee = errors["committee"]
    if committee is None:
        raise SystemExit(f"{path}: a committee of one has no deviation")
    table = {k: np.asarray(v, dtype=float) for k, v in committee["frames"].items()}
    n_runs = len(errors["reference_runs"])
    if len(table["force_rmse"]) % n_runs:
        raise SystemExit(f"{path}: runs of unequal length; cannot tell the frames' runs")
    table["run"] = np.arange(len(table["force_rmse"])) // (len(table["force_rmse"]) // n_runs)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--out", type=Path, default=None, help="JSON with every number")
    args = ap.parse_args()
    training = frames(args.results / "validation" / "reference_errors.json")
    if training is None:
        raise SystemExit(f"{args.results}/validation/reference_errors.json: run the pipeline")
    transfer = frames(args.results / "transfer" / "validation" / "reference_errors.json")
    fit = training["run"] % 2 == 0
    out = {}
    for stat in STATISTICS:
        ratio = training["force_rmse"] / training[stat]
        scale = fit_scale(training["force_rmse"][fit], training[stat][fit])
        row = {
            "scale": scale,
            "training": {
                "n_frames": int(len(ratio)),
                "spearman": float(spearmanr(training[stat], training["force_rmse"]).statistic),
                "within_factor_two_held_out": within_factor(
                    training["force_rmse"][~fit], scale * training[stat][~fit]),
                "ratio_quantiles_10_50_90": np.quantile(ratio, [0.1, 0.5, 0.9]).tolist(),
            },
        }
        if transfer is not None:
            ratio_t = transfer["force_rmse"] / transfer[stat]
            row["transfer"] = {
                "n_frames": int(len(ratio_t)),
                "spearman": float(spearmanr(transfer[stat], transfer["force_rmse"]).statistic),
                "within_factor_two": within_factor(transfer["force_rmse"],
                                                       scale * transfer[stat]),
                "ratio_quantiles_10_50_90": np.quantile(ratio_t, [0.1, 0.5, 0.9]).tolist(),
            }
        out[stat] = row
        line = (f"{stat:15s} scale {scale:6.3f} | training: Spearman "
                f"{row['training']['spearman']:.2f}, within x2 (held out) "
                f"{100 * row['training']['within_factor_two_held_out']:.0f} %")
        if transfer is not None:
            line += (f" | transfer: Spearman {row['transfer']['spearman']:.2f}, within x2 "
                     f"{100 * row['transfer']['within_factor_two']:.0f} %, RMSE / deviation "
                     f"median {row['transfer']['ratio_quantiles_10_50_90'][1]:.1f} against "
                     f"{row['training']['ratio_quantiles_10_50_90'][1]:.1f}")
        print(line)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
