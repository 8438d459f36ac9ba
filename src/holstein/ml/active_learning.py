"""Active learning with the committee of force fields (DP-GEN's loop, one stage per job).

Iteration i = 1, 2, ... (the pipeline's rules in workflow/rules/active_learning.smk):

1. exploration: ML Brownian runs driven by the committee of iteration i - 1 (for i = 1
   the pipeline's committee, trained on the NEGF training shards) at the configured
   biases, seeds and lattices, recording q and the committee deviation on every
   stride-th step (stage ``simulate_ml``);
2. selection (stage ``al_select``): every recorded frame is *accurate* (its trust
   statistic, the mean or the maximum over the sites of the committee's force deviation,
   ``trust_statistic``, is below ``trust_lo``: the model knows it), a *candidate*
   (between ``trust_lo`` and ``trust_hi``) or *failed* (from ``trust_hi`` on: taken as an
   unphysical configuration the model ran into, not worth a label); up to
   ``frames_per_iteration`` candidates are chosen at random (seeded by the iteration);
   with ``selection: largest`` the candidates of the largest statistic; with
   ``selection: random`` as many frames at random among all (the baseline that the
   deviation must beat);
3. labelling (stage ``al_label``): one exact NEGF steady state per chosen frame, in jobs of
   ``frames_per_label_job`` frames, written as NEGF training shards whose frames carry
   their own bias and seed (``holstein.data.shards`` groups them into trajectories by both);
4. training: every member retrained on the training shards and every label of iterations
   1 .. i, from its predecessor's weights with a short schedule or from scratch
   (``retrain.start``).

Stage ``al_metrics`` (one per iteration, i = 0 included): the labels, the NEGF solves
used for training so far, the accurate / candidate / failed fractions of the iteration's
exploration (DP-GEN's convergence measure) and the force RMSE of the iteration's
committee on the held-out NEGF reference runs; stage ``al_report`` draws them
against the iteration.

This module holds what the stages share: the trust statistic of a frame
(``trust_values``), the frame classes (``classify``), the label shards' source, and the
NEGF solves behind a set of training shards (``negf_solves``).

The mean deviation over the sites is the default statistic because it ranks frames by
their true force error better than the maximum (Spearman 0.76 and 0.65 against 0.30 and
0.45 on the training and transfer lattices of the default run's transport committee;
docs/results.md).
"""

from __future__ import annotations

import numpy as np

from holstein.data.io import read_metadata, read_trajectory
from holstein.data.records import TRUST_STATISTICS

SELECTIONS = ("deviation", "largest", "random")
CLASSES = ("accurate", "candidate", "failed")
# The metadata "source" of a label shard: one NEGF solve per frame.
LABEL_SOURCE = "active-learning labels"
LABELLED = ("force", "density", "bond_current_x", "bond_current_y", "current")


def trust_values(arrays: dict, statistic: str) -> np.ndarray:
    """Each recorded frame's trust statistic (``TRUST_STATISTICS``): the mean or the
    maximum over the sites of the committee's force deviation."""
    if statistic not in TRUST_STATISTICS:
        raise ValueError(f"trust_statistic={statistic!r}: choose one of "
                         f"{tuple(TRUST_STATISTICS)}")
    column = TRUST_STATISTICS[statistic]
    if column not in arrays:
        raise ValueError(f"a run without {column}: it was driven by a single model; "
                         "set model.committee to 2 or more")
    return np.asarray(arrays[column], dtype=float)


def classify(deviation: np.ndarray, trust_lo: float, trust_hi: float) -> np.ndarray:
    """Class index per frame (0 accurate, 1 candidate, 2 failed; ``CLASSES``) from its
    trust statistic: below ``trust_lo``, in [trust_lo, trust_hi), above."""
    if not trust_lo < trust_hi:
        raise ValueError(f"trust_lo = {trust_lo} must be below trust_hi = {trust_hi}")
    d = np.asarray(deviation, dtype=float)
    if not np.isfinite(d).all():
        raise ValueError("a frame without a finite committee deviation: explore with a "
                         "committee of two or more members")
    return (d >= trust_lo).astype(int) + (d >= trust_hi).astype(int)


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
