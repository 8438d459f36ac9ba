"""Stage: label selected frames with exact NEGF steady states (holstein.ml.active_learning)."""

from __future__ import annotations

import numpy as np

from holstein.data.io import read_trajectory, write_trajectory
from holstein.data.records import Trajectory, field_shape
from holstein.device import compute_device
from holstein.ml.active_learning import LABEL_SOURCE, LABELLED
from holstein.physics.forces import negf_provider
from holstein.physics.lattice import PHYSICS_KEYS


def label_frames(selected_path, shard: int, n_shards: int, physics: dict, method: str,
                 output, device: str = "cpu") -> int:
    """Label every ``n_shards``-th selected frame from ``shard`` on with one exact NEGF
    steady state each; write them as an NEGF training shard (q, force, density, bond
    currents, device current; each frame with its run's bias and seed) to ``output``, on
    ``device`` (the device the job was planned on; ``compute_device``).
    Returns the number of frames labelled (0 writes an empty shard)."""
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
