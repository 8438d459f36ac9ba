"""Which per-frame summary of the committee's force deviation ranks the frames' true
force errors best?

The committee of a finished run (``results/model``, or an active-learning iteration's)
predicts every frame of the NEGF reference runs (``results/runs/negf`` and, where the
transfer stage ran, ``results/transfer/runs/negf``); per frame it gives the per-site
deviation sigma_i (the members' standard deviation) and the predictor's force RMSE
against NEGF.  Candidate trust statistics, per frame:

* ``mean``: mean_i sigma_i (today's default), ``max``: max_i sigma_i;
* ``rms``: sqrt(mean_i sigma_i^2), the same quadratic mean as the RMSE;
* ``top_decile``: the mean of the largest 10 % of sigma_i (the wall, the electrodes);
* ``force_weighted``: sum_i |F_i| sigma_i / sum_i |F_i| (the deviation where the force
  is large);
* ``median`` and ``geometric_mean`` of sigma_i (less weight on the largest sites).

For each: the Spearman rank correlation with the frame RMSE on each lattice, and the
share of frames within a factor 2 of ``scale x statistic``, the scale fitted on the
training lattice's even runs and judged on its odd runs and on the transfer lattice.

    python benchmarks/deviation_statistics.py --results results --out docs/deviation_statistics.json

Minutes on 2 cores (one committee evaluation of every reference frame).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from holstein.data.io import read_trajectory
from holstein.ml.calibration import fit_scale, within_factor
from holstein.ml.committee import load_committee
from holstein.ml.metrics import predict_all

STATISTICS = ("mean", "max", "rms", "top_decile", "force_weighted", "median", "geometric_mean")


def statistics(sigma: np.ndarray, force: np.ndarray) -> dict[str, np.ndarray]:
    """The candidate statistics of (B, Lx, Ly) per-site deviations and predicted forces."""
    flat = sigma.reshape(len(sigma), -1)
    weight = np.abs(force.reshape(len(force), -1))
    top = np.sort(flat, axis=1)[:, -max(1, flat.shape[1] // 10):]
    return {"mean": flat.mean(axis=1), "max": flat.max(axis=1),
            "rms": np.sqrt((flat**2).mean(axis=1)), "top_decile": top.mean(axis=1),
            "force_weighted": (weight * flat).sum(axis=1) / weight.sum(axis=1),
            "median": np.median(flat, axis=1),
            "geometric_mean": np.exp(np.log(np.maximum(flat, 1e-300)).mean(axis=1))}


def frames(provider, paths: list[Path]) -> dict[str, np.ndarray]:
    q, bias, negf, run = [], [], [], []
    for k, path in enumerate(sorted(paths)):
        arrays, _ = read_trajectory(path)
        q.append(arrays["q"])
        bias.append(arrays["bias"])
        negf.append(arrays["force"])
        run.append(np.full(len(arrays["bias"]), k))
    q, bias, negf, run = map(np.concatenate, (q, bias, negf, run))
    out = predict_all(provider, q, bias)
    sigma = out["force_deviation"]  # the pipeline's per-site deviation
    rmse = np.sqrt(np.mean((out["force"] - negf) ** 2, axis=(1, 2)))
    return {"rmse": rmse, "run": run, "bias": bias, **statistics(sigma, out["force"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--model", type=Path, default=None,
                    help="folder of member_*/mlff.pt (default: RESULTS/model)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    members = sorted((args.model or args.results / "model").glob("member_*/mlff.pt"))
    if len(members) < 2:
        raise SystemExit("a committee of two or more members is needed")
    provider = load_committee(members)
    lattices = {"training": sorted((args.results / "runs" / "negf").glob("*.parquet")),
                "transfer": sorted((args.results / "transfer" / "runs" / "negf")
                                   .glob("*.parquet"))}
    tables = {name: frames(provider, paths) for name, paths in lattices.items() if paths}
    result = {"members": [str(m) for m in members], "statistics": {}}
    train = tables["training"]
    fit, held = train["run"] % 2 == 0, train["run"] % 2 == 1
    print(f"{'statistic':>15} " + " ".join(f"{'rho ' + n:>14}" for n in tables)
          + f" {'x2 held-out':>12}" + (f" {'x2 transfer':>12}" if "transfer" in tables else ""))
    for s in STATISTICS:
        scale = fit_scale(train["rmse"][fit], train[s][fit])
        row = {"spearman": {n: float(spearmanr(t[s], t["rmse"]).statistic)
                            for n, t in tables.items()},
               "scale": scale,
               "within_factor_2": {"training_held_out": within_factor(
                   train["rmse"][held], scale * train[s][held])}}
        if "transfer" in tables:
            t = tables["transfer"]
            row["within_factor_2"]["transfer"] = within_factor(t["rmse"], scale * t[s])
        result["statistics"][s] = row
        print(f"{s:>15} " + " ".join(f"{row['spearman'][n]:>14.3f}" for n in tables)
              + "".join(f" {v:>12.3f}" for v in row["within_factor_2"].values()))
    result["n_frames"] = {n: int(len(t["rmse"])) for n, t in tables.items()}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
