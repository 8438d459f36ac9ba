"""Assembly of NEGF Parquet shards into one training set (arrays + common metadata).

Each shard is one (bias, seed) trajectory, or frames gathered from several runs (the
labels of active learning, one bias and seed per frame); the ``trajectory`` array numbers
the (shard, bias, seed) groups so that training can hold out whole trajectories.  All
shards must share the lattice shape and the physical parameters; a mixed set is an error
naming the file.
"""

from __future__ import annotations

import numpy as np

from holstein.data.io import read_trajectory
from holstein.data.records import FRAME_FIELDS


def load_shards(paths) -> dict:
    """Concatenate shards: q, bias, force, density, bond currents, current, trajectory, meta."""
    if not paths:
        raise ValueError("no training shards given")
    parts, reference, next_id = [], None, 0
    for path in sorted(map(str, paths)):
        arrays, meta = read_trajectory(path)
        signature = {"Lx": meta["Lx"], "Ly": meta["Ly"], **meta["physics"]}
        if reference is None:
            reference, ref_path = signature, path
        elif signature != reference:
            diff = {k: (reference.get(k), signature.get(k))
                    for k in set(reference) | set(signature)
                    if reference.get(k) != signature.get(k)}
            raise ValueError(
                f"{path} does not match {ref_path} (differs in {diff}): all training shards "
                "must share lattice and physics; delete the stale shards and re-run"
            )
        part = {k: arrays[k] for k in FRAME_FIELDS if k in arrays}
        part["bias"] = arrays["bias"]
        part["seed"] = arrays["seed"]
        groups = np.stack([part["bias"], part["seed"]], axis=1)
        _, first, ids = np.unique(groups, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))  # ids in order of appearance in the file
        part["trajectory"] = next_id + order[ids.ravel()]
        next_id += len(first)
        parts.append(part)
    keys = set.intersection(*(set(p) for p in parts))
    data = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    physics = {k: v for k, v in reference.items() if k not in ("Lx", "Ly")}
    data["meta"] = {"Lx": reference["Lx"], "Ly": reference["Ly"], "physics": physics}
    return data
