"""Stage: classify an iteration's explored frames and choose the ones to label
(holstein.ml.active_learning)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from holstein.data.atomic import write_text_atomic
from holstein.data.io import read_trajectory, write_trajectory
from holstein.data.records import Trajectory
from holstein.ml.active_learning import (
    CLASSES,
    SELECTIONS,
    TRUST_STATISTICS,
    classify,
    trust_values,
)


def _read_explorations(paths) -> tuple[dict, dict]:
    """The recorded frames of every exploration run, concatenated in path order."""
    parts, meta = [], None
    for path in sorted(map(str, paths)):
        arrays, run_meta = read_trajectory(path)
        missing = [c for c in TRUST_STATISTICS.values() if c not in arrays]
        if missing:
            raise ValueError(f"{path}: an exploration run without the committee deviation "
                             f"({', '.join(missing)}); it was driven by a single model")
        meta = meta or run_meta
        if (run_meta["Lx"], run_meta["Ly"]) != (meta["Lx"], meta["Ly"]):
            raise ValueError(f"{path}: lattice {run_meta['Lx']} x {run_meta['Ly']}, other "
                             f"exploration runs {meta['Lx']} x {meta['Ly']}: labels train one "
                             "lattice shape")
        parts.append({k: arrays[k] for k in ("q", "step", "time", "bias", "seed",
                                             *TRUST_STATISTICS.values())})
    if not parts:
        raise ValueError("no exploration runs given")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, meta


def select_frames(explorations, trust_statistic: str, trust_lo: float, trust_hi: float,
                  frames: int, seed: int, selection: str, selected_path, stats_path) -> dict:
    """Classify the explored frames by their ``trust_statistic`` and choose the ones to
    label (holstein.ml.active_learning).

    Writes the chosen frames (q, step, time, the committee's maximum and mean deviation;
    each with its run's bias and seed) to ``selected_path`` and the counts to
    ``stats_path`` (JSON): per class and overall, and per bias.  Returns the counts.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection={selection!r}: choose one of {SELECTIONS}")
    data, meta = _read_explorations(explorations)
    values = trust_values(data, trust_statistic)
    classes = classify(values, trust_lo, trust_hi)
    candidates = np.flatnonzero(classes == 1)
    if selection == "largest":  # the candidates the committee is least sure of
        order = candidates[np.argsort(-values[candidates], kind="stable")]
        chosen = np.sort(order[:frames])
    else:
        pool = candidates if selection == "deviation" else np.arange(len(classes))
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(pool, size=min(frames, len(pool)), replace=False))

    def counts(mask) -> dict:
        n = int(mask.sum())
        found = {name: int(np.sum(classes[mask] == k)) for k, name in enumerate(CLASSES)}
        return {"frames": n, **found,
                **{f"{name}_fraction": found[name] / n if n else math.nan
                   for name in CLASSES}}

    stats = {
        "selection": selection, "trust_statistic": trust_statistic,
        "trust_lo": trust_lo, "trust_hi": trust_hi,
        **counts(np.ones(len(classes), dtype=bool)),
        "selected": int(len(chosen)),
        "per_bias": {f"{b:g}": {**counts(data["bias"] == b),
                                "selected": int(np.sum(data["bias"][chosen] == b))}
                     for b in np.unique(data["bias"])},
        "explorations": [Path(p).name for p in sorted(map(str, explorations))],
    }
    traj = Trajectory(steps=data["step"][chosen], times=data["time"][chosen],
                      q=data["q"][chosen].reshape(-1, meta["Lx"], meta["Ly"]), force=None,
                      force_deviation_max=data["force_deviation_max"][chosen],
                      force_deviation_mean=data["force_deviation_mean"][chosen])
    write_trajectory(selected_path, traj,
                     {"bias": None, "seed": None, "provider": "ml", "physics": meta["physics"],
                      "source": "frames selected for labelling"},
                     frame_bias=data["bias"][chosen], frame_seed=data["seed"][chosen])
    write_text_atomic(stats_path, json.dumps(stats, indent=2))
    return stats
