"""The training set's layout: array checks, its physics metadata, the split by trajectory.

A data set is a dict of arrays with one row per snapshot: ``q`` (n, Lx, Ly), ``bias``
(n,), ``force`` (n, Lx, Ly), ``trajectory`` (n,) (an id per (bias, seed) run), optionally
``density``, ``bond_current_x`` (n, Lx - 1, Ly) and ``bond_current_y`` (n, Lx, Ly), and
``meta`` with the physical parameters (flat or under ``meta["physics"]``) and optionally
the lattice shape; ``holstein.data.shards.load_shards`` builds one from NEGF shards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from holstein.physics.lattice import PHYSICS_KEYS


def flat_meta(meta: Mapping[str, Any]) -> dict:
    """Physics keys and lattice shape (``"_shape"``, or None) from a flat or
    ``{"physics": {...}}`` metadata dict."""
    flat = dict(meta)
    if isinstance(meta.get("physics"), Mapping):
        flat.update(meta["physics"])
    shape = None
    if "shape" in meta or "lattice_shape" in meta:
        shape = tuple(int(v) for v in meta.get("shape", meta.get("lattice_shape")))
    elif "Lx" in meta and "Ly" in meta:
        shape = (int(meta["Lx"]), int(meta["Ly"]))
    flat["_shape"] = shape
    return flat


def physics_from_meta(meta: Mapping[str, Any]) -> dict:
    """The ``PHYSICS_KEYS`` of the metadata (numbers as float): what a checkpoint records."""
    flat = flat_meta(meta)
    missing = [k for k in PHYSICS_KEYS if k not in flat]
    if missing:
        raise ValueError(
            f"data['meta'] lacks the physical parameters {missing}; the checkpoint must "
            f"record {list(PHYSICS_KEYS)}"
        )
    return {k: flat[k] if isinstance(flat[k], str) else float(flat[k]) for k in PHYSICS_KEYS}


def check_data(data: Mapping[str, Any], need: tuple[str, ...]) -> int:
    """Raise ValueError unless ``data`` has the keys ``need`` with consistent row counts
    (and ``force``/``density`` the shape of ``q``); return the number of snapshots."""
    missing = [k for k in need if k not in data]
    if missing:
        raise ValueError(f"data lacks {missing} (have {sorted(data)})")
    q = np.asarray(data["q"])
    if q.ndim != 3:
        raise ValueError(f"data['q'] must be (n, Lx, Ly), got {q.shape}")
    n = q.shape[0]
    for k in need:
        if k == "meta":
            continue
        v = np.asarray(data[k])
        if v.shape[0] != n:
            raise ValueError(f"data[{k!r}] has {v.shape[0]} rows, data['q'] has {n}")
        if k in ("force", "density") and v.shape != q.shape:
            raise ValueError(f"data[{k!r}] has shape {v.shape}, data['q'] {q.shape}")
    return n


def split_trajectories(
    trajectory: np.ndarray, bias: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of whole trajectories into (train ids, validation ids).

    ``max(1, round(fraction * n_trajectories))`` trajectories are held out, spread
    over as many distinct biases as possible (round robin over the biases in a seeded
    order); a bias loses its last training trajectory only if no other choice is
    left.  Snapshots of one trajectory are never split.
    """
    trajectory = np.asarray(trajectory)
    bias = np.asarray(bias, dtype=float)
    ids = np.unique(trajectory)
    if len(ids) < 2:
        raise ValueError(
            f"{len(ids)} trajectory: a split by trajectory needs at least 2 (one to train on, "
            "one to validate); add seeds or biases"
        )
    traj_bias = {}
    for i in ids:
        b = np.unique(bias[trajectory == i])
        if len(b) != 1:
            raise ValueError(f"trajectory {i} has several biases {b}; ids must be per (bias, seed)")
        traj_bias[i] = float(b[0])
    rng = np.random.default_rng(seed)
    groups: dict[float, list] = {}
    for i in ids:
        groups.setdefault(traj_bias[i], []).append(i)
    biases = sorted(groups)
    order = [biases[k] for k in rng.permutation(len(biases))]
    pools = {b: [groups[b][k] for k in rng.permutation(len(groups[b]))] for b in biases}
    n_val = min(max(1, int(round(fraction * len(ids)))), len(ids) - 1)
    val: list = []
    # First rounds: only biases that keep at least one training trajectory.
    while len(val) < n_val:
        took = False
        for b in order:
            if len(val) < n_val and len(pools[b]) > 1:
                val.append(pools[b].pop())
                took = True
        if not took:
            break
    # Then, if needed, whole biases (held-out bias: interpolation check).
    for b in order:
        if len(val) < n_val and pools[b]:
            val.append(pools[b].pop())
    val_ids = np.array(sorted(val), dtype=ids.dtype)
    train_ids = np.array(sorted(set(ids.tolist()) - set(val_ids.tolist())), dtype=ids.dtype)
    return train_ids, val_ids
