"""Stage: the locality floor of one NEGF trajectory (holstein.physics.locality), as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from holstein.data.atomic import write_text_atomic
from holstein.data.io import read_trajectory
from holstein.device import compute_device
from holstein.physics.forces import negf_provider
from holstein.physics.locality import late_slice, locality_floor


def trajectory_floor(path, radii: Sequence[int], n_samples: int, skip_fraction: float = 0.4,
                     min_separation: int = 30, seed: int = 0, method: str = "fast",
                     device: str = "cpu") -> dict:
    """The locality floor of one NEGF trajectory file, on its late frames (``late_slice``).

    Returns ``file``, ``bias``, ``seed``, ``lattice``, ``force_std`` (of the whole
    trajectory, the normalisation of the held-out metric), ``first_late_frame``,
    ``n_late_frames`` and ``floors``: ``locality_floor``'s rows with ``relative_floor``
    and ``relative_floor_error`` (divided by ``force_std``).  The exact force is the NEGF
    solver ``method`` with the trajectory's own physics, on ``device`` (the device the job
    was planned on, 'cpu' or 'cuda'; 'auto' resolves here; ``compute_device``).
    """
    arrays, meta = read_trajectory(path)
    if "force" not in arrays:
        raise ValueError(f"{path} has no stored force: pass an NEGF trajectory")
    q, force = arrays["q"], arrays["force"]
    bias = float(arrays["bias"][0])
    late = late_slice(len(q), skip_fraction)
    with compute_device(device) as device:
        negf = negf_provider(meta["physics"], method, device)
        std = float(np.std(force))
        # the stored forces are the same solver's on the same frames (bit for bit), so only
        # the spliced configurations need a solve
        floors = locality_floor(lambda qq: negf.electronic_force(qq, bias), q[late], radii,
                                n_samples, seed=seed, min_separation=min_separation,
                                forces=force[late])
        for row in floors:
            row["relative_floor"] = row["floor"] / std
            row["relative_floor_error"] = row["floor_error"] / std
        return {"file": str(path), "bias": bias, "seed": int(arrays["seed"][0]),
                "lattice": {"Lx": int(q.shape[1]), "Ly": int(q.shape[2])}, "force_std": std,
                "first_late_frame": late.start, "n_late_frames": len(q) - late.start,
                "floors": floors}


def write_trajectory_floor(path, output, radii: Sequence[int], n_samples: int,
                           **options) -> dict:
    """``trajectory_floor`` of ``path``, written to ``output`` (JSON); returns it."""
    row = trajectory_floor(path, radii, n_samples, **options)
    write_text_atomic(output, json.dumps(row, indent=2))
    return row
