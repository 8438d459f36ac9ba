"""Active learning with the committee of force fields (DP-GEN's loop, one stage per job).

Iteration i = 1, 2, ... (the pipeline's rules in workflow/rules/active_learning.smk):

1. exploration: ML Brownian runs driven by the committee of iteration i - 1 (for i = 1
   the pipeline's committee, trained on the NEGF training shards) at the configured
   biases, seeds and lattices, recording q and the committee deviation on every
   stride-th step (``holstein.simulation``);
2. selection (``select_frames``): every recorded frame is *accurate* (its maximum force
   deviation over the sites is below ``trust_lo``: the model knows it), a *candidate*
   (between ``trust_lo`` and ``trust_hi``) or *failed* (from ``trust_hi`` on: taken as an
   unphysical configuration the model ran into, not worth a label); up to
   ``frames_per_iteration`` candidates are chosen at random (seeded by the iteration), or,
   with ``selection: random``, as many frames at random among all (the baseline that the
   deviation must beat);
3. labelling (``label_frames``): one exact NEGF steady state per chosen frame, in jobs of
   ``frames_per_label_job`` frames, written as NEGF training shards whose frames carry
   their own bias and seed (``holstein.dataset`` groups them into trajectories by both);
4. training: every member retrained from scratch on the training shards and every label
   of iterations 1 .. i.

``iteration_metrics`` (one per iteration, i = 0 included): the labels, the NEGF solves
used for training so far, the accurate / candidate / failed fractions of the iteration's
exploration (DP-GEN's convergence measure) and the force RMSE of the iteration's
committee on the held-out NEGF reference runs; ``active_learning_report`` draws them
against the iteration.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import plotting as pl
from .atomic import write_text_atomic
from .device import compute_device
from .io import read_metadata, read_trajectory, write_trajectory
from .lattice import PHYSICS_KEYS
from .records import Trajectory, field_shape
from .report_tables import number

log = logging.getLogger(__name__)

SELECTIONS = ("deviation", "random")
CLASSES = ("accurate", "candidate", "failed")
# The metadata "source" of a label shard: one NEGF solve per frame.
LABEL_SOURCE = "active-learning labels"
LABELLED = ("force", "density", "bond_current_x", "bond_current_y", "current")


def classify(max_deviation: np.ndarray, trust_lo: float, trust_hi: float) -> np.ndarray:
    """Class index per frame (0 accurate, 1 candidate, 2 failed; ``CLASSES``) from its
    maximum committee deviation: below ``trust_lo``, in [trust_lo, trust_hi), above."""
    if not trust_lo < trust_hi:
        raise ValueError(f"trust_lo = {trust_lo} must be below trust_hi = {trust_hi}")
    d = np.asarray(max_deviation, dtype=float)
    if not np.isfinite(d).all():
        raise ValueError("a frame without a finite committee deviation: explore with a "
                         "committee of two or more members")
    return (d >= trust_lo).astype(int) + (d >= trust_hi).astype(int)


def _read_explorations(paths) -> tuple[dict, dict]:
    """The recorded frames of every exploration run, concatenated in path order."""
    parts, meta = [], None
    for path in sorted(map(str, paths)):
        arrays, run_meta = read_trajectory(path)
        if "force_deviation_max" not in arrays:
            raise ValueError(f"{path}: an exploration run without the committee deviation "
                             "(force_deviation_max); it was driven by a single model")
        meta = meta or run_meta
        if (run_meta["Lx"], run_meta["Ly"]) != (meta["Lx"], meta["Ly"]):
            raise ValueError(f"{path}: lattice {run_meta['Lx']} x {run_meta['Ly']}, other "
                             f"exploration runs {meta['Lx']} x {meta['Ly']}: labels train one "
                             "lattice shape")
        parts.append({k: arrays[k] for k in ("q", "step", "time", "bias", "seed",
                                             "force_deviation_max")})
    if not parts:
        raise ValueError("no exploration runs given")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, meta


def select_frames(explorations, trust_lo: float, trust_hi: float, frames: int, seed: int,
                  selection: str, selected_path, stats_path) -> dict:
    """Classify the explored frames and choose the ones to label (module docstring).

    Writes the chosen frames (q, step, time, the committee's maximum deviation; each
    with its run's bias and seed) to ``selected_path`` and the counts to ``stats_path``
    (JSON): per class and overall, and per bias.  Returns the counts.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection={selection!r}: choose one of {SELECTIONS}")
    data, meta = _read_explorations(explorations)
    classes = classify(data["force_deviation_max"], trust_lo, trust_hi)
    pool = np.flatnonzero(classes == 1) if selection == "deviation" else np.arange(len(classes))
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(pool, size=min(frames, len(pool)), replace=False))

    def counts(mask) -> dict:
        n = int(mask.sum())
        found = {name: int(np.sum(classes[mask] == k)) for k, name in enumerate(CLASSES)}
        return {"frames": n, **found,
                **{f"{name}_fraction": found[name] / n if n else math.nan
                   for name in CLASSES}}

    stats = {
        "selection": selection, "trust_lo": trust_lo, "trust_hi": trust_hi,
        **counts(np.ones(len(classes), dtype=bool)),
        "selected": int(len(chosen)),
        "per_bias": {f"{b:g}": {**counts(data["bias"] == b),
                                "selected": int(np.sum(data["bias"][chosen] == b))}
                     for b in np.unique(data["bias"])},
        "explorations": [Path(p).name for p in sorted(map(str, explorations))],
    }
    traj = Trajectory(steps=data["step"][chosen], times=data["time"][chosen],
                      q=data["q"][chosen].reshape(-1, meta["Lx"], meta["Ly"]), force=None,
                      force_deviation_max=data["force_deviation_max"][chosen])
    write_trajectory(selected_path, traj,
                     {"bias": None, "seed": None, "provider": "ml", "physics": meta["physics"],
                      "source": "frames selected for labelling"},
                     frame_bias=data["bias"][chosen], frame_seed=data["seed"][chosen])
    write_text_atomic(stats_path, json.dumps(stats, indent=2))
    return stats


def label_frames(selected_path, shard: int, n_shards: int, physics: dict, method: str,
                 output, device: str = "cpu") -> int:
    """Label every ``n_shards``-th selected frame from ``shard`` on with one exact NEGF
    steady state each; write them as an NEGF training shard (q, force, density, bond
    currents, device current; each frame with its run's bias and seed) to ``output``, on
    ``device`` (the device the job was planned on; ``compute_device``).
    Returns the number of frames labelled (0 writes an empty shard)."""
    from .simulation import negf_provider  # NEGF only: no model

    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} of {n_shards}: need 0 <= shard < n_shards")
    arrays, meta = read_trajectory(selected_path)
    physics = {k: physics[k] for k in PHYSICS_KEYS}
    if {k: meta["physics"][k] for k in PHYSICS_KEYS} != physics:
        raise ValueError(f"{selected_path}: frames explored with physics {meta['physics']}, "
                         f"labelling asked for {physics}; re-run the iteration's exploration")
    rows = np.arange(shard, len(arrays["step"]), n_shards)
    lx, ly = meta["Lx"], meta["Ly"]
    with compute_device(device) as device:
        provider = negf_provider(physics, method, device)
        responses = [provider.evaluate(np.array(arrays["q"][k]), float(arrays["bias"][k]))
                     for k in rows]
    fields = {}
    for name in LABELLED:
        shape = field_shape(name, lx, ly)
        values = [getattr(r, name) for r in responses]
        fields[name] = (np.array(values, dtype=float) if values
                        else np.zeros((0, *shape)))
    traj = Trajectory(steps=arrays["step"][rows], times=arrays["time"][rows],
                      q=arrays["q"][rows].reshape(-1, lx, ly), **fields)
    write_trajectory(output, traj,
                     {"bias": None, "seed": None, "provider": "negf", "physics": physics,
                      "source": LABEL_SOURCE},
                     frame_bias=arrays["bias"][rows], frame_seed=arrays["seed"][rows])
    return len(rows)


def negf_solves(shard_paths) -> dict:
    """NEGF solves behind a set of training shards: a trajectory shard took n_steps + 1
    (every step, recorded or not), a label shard one per frame (its n_steps: the number
    of frames); and the number of frames they hold."""
    solves = frames = 0
    for path in shard_paths:
        meta = read_metadata(path)
        table_rows = len(read_trajectory(path)[0]["step"])
        frames += table_rows
        solves += table_rows if meta.get("source") == LABEL_SOURCE else int(meta["n_steps"]) + 1
    return {"negf_solves": solves, "frames": frames}


def iteration_metrics(iteration: int, model_paths, predictor: str, training_shards,
                      label_shards, new_labels, selection_stats, negf_runs, output) -> dict:
    """The numbers of one iteration (module docstring), written to ``output`` (JSON).

    ``label_shards``: every label shard the iteration's committee was trained on;
    ``new_labels``: those labelled in this iteration; ``selection_stats``: the JSON of
    the iteration's selection (None for iteration 0); ``negf_runs``: the NEGF reference
    runs (held out from everything the loop labels).
    """
    from .ml.committee import CommitteeProvider, load_committee
    from .reference_errors import ReferenceRun, committee_errors, reference_force_rmse

    runs = []
    for path in negf_runs:
        arrays, meta = read_trajectory(path)
        runs.append(ReferenceRun(str(path), arrays, meta, {}))
    provider = load_committee(list(model_paths), expect=runs[0].meta["physics"],
                              predictor=predictor)
    deviation = None
    if isinstance(provider, CommitteeProvider):
        errors = committee_errors(provider, runs)
        deviation = {"spearman_max_deviation": errors["spearman_max_deviation"],
                     "median_max_deviation": float(np.median(
                         errors["frames"]["max_deviation"]))}
    seed_set = negf_solves(training_shards)
    labels = negf_solves(label_shards) if label_shards else {"negf_solves": 0, "frames": 0}
    result = {
        "iteration": int(iteration),
        "members": len(list(model_paths)),
        "new_labels": negf_solves(new_labels)["frames"] if new_labels else 0,
        "labels": labels["frames"],
        "seed_set": seed_set,
        "negf_solves_for_training": seed_set["negf_solves"] + labels["negf_solves"],
        "training_frames": seed_set["frames"] + labels["frames"],
        "exploration": (None if selection_stats is None
                        else json.loads(Path(selection_stats).read_text())),
        "reference_force_rmse": reference_force_rmse(provider, runs),
        "reference_deviation": deviation,
    }
    write_text_atomic(output, json.dumps(result, indent=2, default=float))
    return result


def plot_iterations(rows: list[dict], path) -> None:
    """Labels and NEGF solves, the exploration's class fractions, and the reference force
    error per bias, against the iteration."""
    plt = pl.pyplot()
    it = np.array([r["iteration"] for r in rows])
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), layout="constrained")
    ax = axes[0]
    ax.bar(it, [r["seed_set"]["negf_solves"] for r in rows], color="0.7",
           label="NEGF training shards (every step solved)")
    ax.bar(it, [r["labels"] for r in rows], bottom=[r["seed_set"]["negf_solves"] for r in rows],
           color="C2", label="labels (one solve each)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("NEGF solves used for training")
    ax.set_title("Cost of the training data", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    explored = [(i, r["exploration"]) for i, r in zip(it, rows, strict=True) if r["exploration"]]
    colors = {"accurate": "C2", "candidate": "C1", "failed": "C3"}
    for name in CLASSES:
        ax.plot([i for i, _ in explored], [100 * e[f"{name}_fraction"] for _, e in explored],
                marker="o", color=colors[name], label=name)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("iteration (exploring with the previous iteration's committee)")
    ax.set_ylabel("explored frames (%)")
    ax.set_title("Accurate / candidate / failed frames of the exploration", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2]
    biases = sorted({b for r in rows for b in r["reference_force_rmse"]}, key=float)
    for k, b in enumerate(biases):
        ax.plot(it, [r["reference_force_rmse"].get(b, {}).get("relative_rmse", np.nan)
                     for r in rows], marker="s", color=f"C{k + 4}", label=f"V = {b} t/e")
    ax.set_xlabel("iteration")
    ax.set_ylabel("force RMSE / NEGF force std")
    ax.set_title("Committee on the held-out NEGF reference runs", fontsize=9)
    ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xticks(it)
    pl.suptitle(fig, "Active learning: labels, exploration and error per iteration")
    pl.finish(fig, path)


def active_learning_report(metrics_paths, summary_path, figure_path) -> dict:
    """Every iteration's metrics, in order, as ``summary.json`` and the figure."""
    rows = sorted((json.loads(Path(p).read_text()) for p in metrics_paths),
                  key=lambda r: r["iteration"])
    table = pd.DataFrame([{
        "iteration": r["iteration"], "labels": r["labels"],
        "negf_solves_for_training": r["negf_solves_for_training"],
        **({f"{c}_fraction": r["exploration"][f"{c}_fraction"] for c in CLASSES}
           if r["exploration"] else {}),
        **{f"relative_rmse_V{b}": v["relative_rmse"]
           for b, v in r["reference_force_rmse"].items()}} for r in rows])
    summary = {"iterations": rows, "table": json.loads(table.to_json(orient="records"))}
    plot_iterations(rows, figure_path)
    write_text_atomic(summary_path, json.dumps(summary, indent=2, default=float))
    for r in rows:  # one line per iteration in the job's log
        log.info("iteration %d: %d labels, %d NEGF solves; reference RMSE / std %s",
                 r["iteration"], r["labels"], r["negf_solves_for_training"],
                 ", ".join(f"V={b}: {number(v['relative_rmse'])}"
                           for b, v in r["reference_force_rmse"].items()))
    return summary

