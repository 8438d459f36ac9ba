"""The committee's force error next to the locality floor, on the same frames.

``holstein.stages.locality_floor.trajectory_floor`` estimates, per NEGF trajectory, the
force error no model of cutoff R can beat on the trajectory's late frames.  Here the
committee (its predictor and every member) predicts the force on exactly those frames,
and the ratio
model RMSE / floor says how much of the model's error is left to learn (near 1: the
cutoff limits it; far above 1: the model does).  On the training shards the members have
seen most of the frames (all but their held-out trajectories); on the transfer references
none, on a longer lattice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from holstein.data.atomic import write_text_atomic
from holstein.data.io import read_trajectory
from holstein.ml.committee import CommitteeProvider, load_committee
from holstein.ml.metrics import predict_all
from holstein.ml.training.provenance import checked_members


def _rmse(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - ref) ** 2)))


def trajectory_comparison(provider, floor: dict, radius: int) -> dict:
    """The floor of one trajectory at ``radius`` beside the model's RMSE on its late frames."""
    rows = [row for row in floor["floors"] if row["radius"] == radius]
    if not rows:
        raise ValueError(f"{floor['file']}: no floor at radius {radius} (has "
                         f"{[row['radius'] for row in floor['floors']]}); recompute it")
    row = rows[0]
    arrays, _ = read_trajectory(floor["file"])
    late = slice(floor["first_late_frame"], None)
    negf = arrays["force"][late]
    out = predict_all(provider, arrays["q"][late], arrays["bias"][late])
    rmse = _rmse(out["force"], negf)
    members = ([_rmse(out["member_force"][:, k], negf) for k in range(provider.n_members)]
               if isinstance(provider, CommitteeProvider) else [rmse])
    std = floor["force_std"]
    return {
        "file": Path(floor["file"]).name, "bias": floor["bias"], "seed": floor["seed"],
        "n_late_frames": floor["n_late_frames"], "force_std": std,
        "floor": row["floor"], "floor_error": row["floor_error"],
        "relative_floor": row["floor"] / std, "n_samples": row["n_samples"],
        "model_rmse": rmse, "relative_model_rmse": rmse / std,
        "model_over_floor": rmse / row["floor"],
        "member_rmse": members,
        "member_over_floor": [m / row["floor"] for m in members],
    }


def group_summary(rows: list[dict]) -> dict:
    """Floor and model RMSE pooled over a group's trajectories (root mean square, each
    trajectory weighted by its frames for the model and by its samples for the floor)."""
    frames = np.array([r["n_late_frames"] for r in rows], dtype=float)
    samples = np.array([r["n_samples"] for r in rows], dtype=float)
    floor = float(np.sqrt(np.average([r["floor"] ** 2 for r in rows], weights=samples)))
    rmse = float(np.sqrt(np.average([r["model_rmse"] ** 2 for r in rows], weights=frames)))
    members = np.array([r["member_rmse"] for r in rows]) ** 2
    member_rmse = np.sqrt(np.average(members, axis=0, weights=frames))
    return {"floor": floor, "model_rmse": rmse, "model_over_floor": rmse / floor,
            "member_rmse": member_rmse.tolist(),
            "member_over_floor": (member_rmse / floor).tolist(),
            "n_trajectories": len(rows)}


def locality_metrics(floor_groups: dict[str, list], model_paths, shard_paths, hyper,
                     output, predictor: str = "mean") -> dict:
    """Write the committee's force error beside the locality floor (JSON ``output``).

    ``floor_groups``: group name (``training``, ``transfer``) -> the floor JSON files of
    its trajectories (``trajectory_floor``).  The radius compared is ``hyper['cutoff']``
    (the model's); the members are checked as ``reference_errors`` checks them.  Per
    group: ``lattice`` (``Lx x Ly``: floors and errors depend on it), every trajectory's
    row (``trajectory_comparison``) and the pooled ``summary``.
    """
    model_paths = checked_members(model_paths, shard_paths, hyper)
    radius = int(hyper["cutoff"])
    provider = None
    groups = {}
    for name, paths in floor_groups.items():
        floors = [json.loads(Path(p).read_text()) for p in paths]
        if not floors:
            continue
        if provider is None:
            physics = read_trajectory(floors[0]["file"])[1]["physics"]
            provider = load_committee(model_paths, expect=physics, predictor=predictor)
        lattices = {(f["lattice"]["Lx"], f["lattice"]["Ly"]) for f in floors}
        if len(lattices) != 1:
            raise ValueError(f"group {name!r} mixes lattices {sorted(lattices)}: floors and "
                             "errors are compared on one lattice at a time")
        lx, ly = lattices.pop()
        rows = [trajectory_comparison(provider, f, radius) for f in floors]
        groups[name] = {"lattice": f"{lx} x {ly}", "trajectories": rows,
                        "summary": group_summary(rows)}
    result = {"radius": radius, "predictor": predictor,
              "checkpoints": [str(p) for p in model_paths], "groups": groups}
    write_text_atomic(output, json.dumps(result, indent=2))
    return result
