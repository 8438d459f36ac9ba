"""Stage: one Brownian run driven by the trained committee of force fields."""

from __future__ import annotations

from pathlib import Path

from holstein.data.atomic import file_sha256
from holstein.data.records import OPTIONAL_FIELDS
from holstein.device import compute_device
from holstein.ml.committee import load_committee
from holstein.physics.lattice import PHYSICS_KEYS
from holstein.pipeline.runs import run_job


def model_paths(model_path) -> list[str]:
    """The member checkpoints of an ML run: one path, or a sequence of them (a committee)."""
    if model_path is None:
        return []
    if isinstance(model_path, str | Path):
        return [str(model_path)]
    return [str(p) for p in model_path]


def ml_run(out_path, model_path, lattice, physics, dynamics, bias, seed, n_steps, stride,
           predictor="mean", record=OPTIONAL_FIELDS, relaxed_path=None, cost_path=None,
           device="cpu") -> None:
    """The ML run of ``pipeline.runs.run_job``: the committee of the member checkpoints
    ``model_path`` (checked against ``physics``), driven by its ``predictor``
    (``holstein.ml.committee``), on the device the job was planned on."""
    paths = model_paths(model_path)
    if not paths:
        raise ValueError("an ML run needs the trained model checkpoint")
    with compute_device(device) as device:
        provider = load_committee(paths, expect={k: physics[k] for k in PHYSICS_KEYS},
                                  predictor=predictor, device=device)
        run_job(out_path, provider, "ml", lattice, physics, dynamics, bias, seed, n_steps,
                stride, device, record, relaxed_path,
                identity={"model_sha256": [file_sha256(p) for p in paths],
                          "predictor": predictor},
                cost_path=cost_path)
