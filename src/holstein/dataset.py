"""Assembly of NEGF Parquet shards into one training set (arrays + common metadata).

Each shard is one (bias, seed) trajectory; the ``trajectory`` array numbers them so
that training can hold out whole trajectories.  All shards must share the lattice
shape and the physical parameters; a mixed set is an error naming the file.
"""

from __future__ import annotations

import numpy as np

from .io import read_trajectory
from .records import FRAME_FIELDS


def load_shards(paths) -> dict:
    """Concatenate shards: q, bias, force, density, bond currents, current, trajectory, meta."""
    if not paths:
        raise ValueError("no training shards given")
    parts, reference = [], None
    for index, path in enumerate(sorted(map(str, paths))):
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
        n = len(arrays["step"])
        part = {k: arrays[k] for k in FRAME_FIELDS if k in arrays}
        part["bias"] = arrays["bias"]
        part["seed"] = arrays["seed"]
        part["trajectory"] = np.full(n, index)
        parts.append(part)
    keys = set.intersection(*(set(p) for p in parts))
    data = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    physics = {k: v for k, v in reference.items() if k not in ("Lx", "Ly")}
    data["meta"] = {"Lx": reference["Lx"], "Ly": reference["Ly"], "physics": physics}
    return data
