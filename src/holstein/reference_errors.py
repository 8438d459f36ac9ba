"""The ML model's errors on the NEGF reference runs, the one place validation uses a model.

The NEGF validation runs (held-out seeds at every validation bias, biases between the
training biases among them) were never seen in training.  On their exact configurations
the trained model predicts:

* the electronic force: per bias, pooled over seeds, the RMSE against NEGF, the NEGF
  force standard deviation and their ratio (``reference_force_rmse``);
* for a model with bond-current heads, the device current once the metallic domain has
  formed (the frames from the NEGF run's switching time on, as ``holstein.analysis``
  summarised it): per bias, the NEGF mean current, the RMSE of the ML current and the
  error of its mean relative to the mean |current|, the same for the series read-out of
  the ML bond currents (``series_*``), and the mean Kirchhoff spread of the ML bond
  currents relative to the mean |current| (``reference_current``).  Runs that never
  switched have no metallic frames and are left out; a bias without a switched run is
  absent; None for a model without bond heads.

Before any of this the checkpoint's provenance is checked against the run's training
shards and model configuration (``holstein.ml.provenance``): a model copied in from
another run is refused, naming what differs, instead of being validated.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_text_atomic
from .io import read_trajectory
from .ml.metrics import evaluate_rmse, predict_all
from .ml.provenance import check_provenance
from .ml.provider import load
from .observables import kirchhoff_spread, series_current


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
    # File-name order, as holstein.dataset.load_shards assembles a data set: the same
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


def reference_errors(model_path, shard_paths, hyper, negf_runs, negf_summaries,
                     output) -> dict:
    """Check the checkpoint's provenance, then write the ML errors on the NEGF reference
    runs to ``output`` (JSON): ``reference_force_rmse``, ``reference_current``.

    ``shard_paths`` and ``hyper`` (the validated ``model`` config section) are this run's
    training shards and model configuration; a checkpoint trained on anything else raises
    ``holstein.ml.provenance.ProvenanceError`` and nothing is written.
    """
    check_provenance(model_path, shard_paths, hyper)
    runs = read_reference_runs(negf_runs, negf_summaries)
    if not runs:
        raise ValueError("no NEGF reference runs given")
    provider = load(model_path, expect=runs[0].meta["physics"])
    result = {
        "checkpoint": str(model_path),
        "reference_runs": [Path(r.path).name for r in runs],
        "reference_force_rmse": reference_force_rmse(provider, runs),
        "reference_current": reference_current(provider, runs),
    }
    write_text_atomic(output, json.dumps(result, indent=2, default=float))
    return result
