"""A committee's errors on NEGF reference runs: force, device current and its deviation.

On the exact configurations of NEGF runs the model never saw, the trained committee
predicts:

* the electronic force: per bias, pooled over seeds, the RMSE against NEGF, the NEGF
  force standard deviation and their ratio (``reference_force_rmse``);
* for a model with bond-current heads, the device current once the metallic domain has
  formed (the frames from the NEGF run's switching time on, as ``holstein.stages.analyse``
  summarised it): per bias, the NEGF mean current, the RMSE of the ML current and the
  error of its mean relative to the mean |current|, the same for the series read-out of
  the ML bond currents (``series_*``), and the mean Kirchhoff spread of the ML bond
  currents relative to the mean |current| (``reference_current``).  Runs that never
  switched have no metallic frames and are left out; a bias without a switched run is
  absent; None for a model without bond heads;
* with two or more members (``committee_errors``): on every reference frame the committee
  deviation of the force (max and mean over the sites) and the predictor's force RMSE
  against NEGF, their Spearman rank correlation over the frames of all biases and per bias
  (does the deviation rank frames by their true error?), every member's force error beside
  the predictor's, and the per-frame values for a figure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from holstein.data.io import read_trajectory
from holstein.ml.committee import CommitteeProvider
from holstein.ml.metrics import evaluate_rmse, predict_all
from holstein.physics.observables import kirchhoff_spread, series_current


@dataclass(frozen=True)
class ReferenceRun:
    """One NEGF reference trajectory with its analysis summary (switch and switching time)."""

    path: str
    arrays: dict
    meta: dict
    summary: dict


def read_reference_runs(negf_runs, negf_summaries) -> list[ReferenceRun]:
    """Each NEGF trajectory (read once) paired with its analysis summary by (bias, seed)."""
    summaries = {}
    for path in negf_summaries:
        summary = json.loads(Path(path).read_text())
        summaries[(float(summary["bias"]), int(summary["seed"]))] = summary
    runs = []
    for path in negf_runs:
        arrays, meta = read_trajectory(path)
        key = (float(meta["bias"]), int(meta["seed"]))
        if key not in summaries:
            raise ValueError(f"{path}: no analysis summary for bias {key[0]:g}, seed {key[1]} "
                             "among the given NEGF summaries; pass the analyses of these runs")
        runs.append(ReferenceRun(str(path), arrays, meta, summaries[key]))
    return runs


def reference_force_rmse(provider, runs: list[ReferenceRun]) -> dict:
    """ML force error on the reference trajectories per bias, pooled over seeds: RMSE, the
    NEGF force standard deviation, their ratio and the number of snapshots."""
    # File-name order, as holstein.data.shards.load_shards assembles a data set: the same
    # snapshots in the same prediction batches give the same numbers to the last bit.
    ordered = sorted(runs, key=lambda r: r.path)
    data = {k: np.concatenate([r.arrays[k] for r in ordered]) for k in ("q", "force", "bias")}
    rows = evaluate_rmse(provider, data)["per_bias"]
    return {f"{row['bias']:g}": {k: row[k] for k in ("rmse", "force_std", "relative_rmse",
                                                      "n_snapshots")} for row in rows}


def _current_errors(pred, negf, scale, prefix="") -> dict:
    """ML mean current, RMSE against NEGF, and both errors relative to ``scale``."""
    rmse = float(np.sqrt(np.mean((pred - negf) ** 2)))
    return {f"{prefix}ml_mean_current": float(np.mean(pred)),
            f"{prefix}rmse": rmse,
            f"{prefix}relative_rmse": rmse / scale,
            f"{prefix}relative_error_of_mean": float(abs(np.mean(pred) - np.mean(negf)) / scale)}


def reference_current(provider, runs: list[ReferenceRun]) -> dict | None:
    """ML device current on the reference trajectories after the switch, per bias (see the
    module docstring); None for a model without bond-current heads."""
    if not provider.model.bond_heads:
        return None
    pooled = defaultdict(lambda: {"negf": [], "ml": [], "series": [], "spread": [], "runs": 0})
    for run in runs:
        if not run.summary["switched"]:
            continue  # an insulating run has no metallic frames to compare
        times, current = run.arrays["time"], run.arrays["current"]
        sel = times >= run.summary["switching_time"]
        out = predict_all(provider, run.arrays["q"][sel], run.arrays["bias"][sel])
        entry = pooled[run.meta["bias"]]
        entry["ml"].append(out["current"])
        entry["series"].append(series_current(out["bond_current_x"]))
        entry["spread"].append(kirchhoff_spread(out["bond_current_x"]))
        entry["negf"].append(current[sel])
        entry["runs"] += 1
    result = {}
    for bias in sorted(pooled):
        negf, ml, series, spread = (np.concatenate(pooled[bias][k])
                                    for k in ("negf", "ml", "series", "spread"))
        scale = float(np.mean(np.abs(negf)))
        result[f"{bias:g}"] = {
            "negf_mean_current": float(np.mean(negf)),
            **_current_errors(ml, negf, scale),
            **_current_errors(series, negf, scale, "series_"),
            "ml_relative_kirchhoff_spread": float(np.mean(spread)) / scale,
            "n_snapshots": int(len(negf)),
            "n_runs": pooled[bias]["runs"],
        }
    return result


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties: mean ranks); NaN for fewer than 3 values or a
    constant one."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def committee_errors(provider: CommitteeProvider, runs: list[ReferenceRun]) -> dict:
    """The committee deviation against the predictor's true error on the reference frames.

    Per frame (runs in file order; ``run``: its run's index in that order):
    ``max_deviation``, ``mean_deviation`` (the committee
    deviation of the force, max and mean over the sites) and ``force_rmse`` (the
    predictor's force RMSE against NEGF over the sites), with its ``bias``.  Summaries:
    ``spearman_max_deviation`` and ``spearman_mean_deviation`` (rank correlation with
    ``force_rmse``) over all frames and per bias, and the relative force RMSE of the
    predictor and of every member per bias.
    """
    ordered = sorted(runs, key=lambda r: r.path)
    q = np.concatenate([r.arrays["q"] for r in ordered])
    bias = np.concatenate([r.arrays["bias"] for r in ordered])
    run = np.concatenate([np.full(len(r.arrays["bias"]), k) for k, r in enumerate(ordered)])
    negf = np.concatenate([r.arrays["force"] for r in ordered])
    out = predict_all(provider, q, bias)
    sites = tuple(range(1, negf.ndim))
    frame_rmse = np.sqrt(np.mean((out["force"] - negf) ** 2, axis=sites))
    # the largest deviation over the sites pairs with the largest error: both are set by
    # the worst sites (the wall, the electrodes), which the frame RMSE averages away
    frame_max_error = np.max(np.abs(out["force"] - negf), axis=sites)
    member_error = out["member_force"] - negf[:, None]
    per_bias = {}
    for b in np.unique(bias):
        sel = bias == b
        std = float(np.std(negf[sel]))
        per_bias[f"{b:g}"] = {
            "spearman_max_deviation": _spearman(out["force_deviation_max"][sel],
                                                frame_rmse[sel]),
            "spearman_mean_deviation": _spearman(out["force_deviation_mean"][sel],
                                                 frame_rmse[sel]),
            "spearman_max_deviation_max_error": _spearman(out["force_deviation_max"][sel],
                                                          frame_max_error[sel]),
            "predictor_relative_rmse": float(np.sqrt(np.mean(frame_rmse[sel] ** 2))) / std,
            "member_relative_rmse": [
                float(np.sqrt(np.mean(member_error[sel, k] ** 2))) / std
                for k in range(member_error.shape[1])],
            "median_max_deviation": float(np.median(out["force_deviation_max"][sel])),
            "n_frames": int(sel.sum()),
        }
    return {
        "members": provider.n_members,
        "predictor": provider.predictor,
        "spearman_max_deviation": _spearman(out["force_deviation_max"], frame_rmse),
        "spearman_mean_deviation": _spearman(out["force_deviation_mean"], frame_rmse),
        "spearman_max_deviation_max_error": _spearman(out["force_deviation_max"],
                                                      frame_max_error),
        "n_frames": int(len(bias)),
        "per_bias": per_bias,
        "frames": {"bias": bias, "run": run, "max_deviation": out["force_deviation_max"],
                   "mean_deviation": out["force_deviation_mean"], "force_rmse": frame_rmse,
                   "max_error": frame_max_error},
    }
