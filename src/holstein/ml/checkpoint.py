"""The model checkpoint file: a plain dict that ``torch.load(weights_only=True)`` reads.

Entries: ``format``, ``format_version``, ``architecture`` (``Architecture.as_dict``),
``state_dict`` (normalisation buffers included), ``normalisation``, ``hyper`` (the training
parameters), ``lattice_shape`` (the training lattice), ``physics`` (``PHYSICS_KEYS``),
``cutoff``, ``version`` (holstein), ``torch_version``, plus what the trainer adds
(``loss_curve``, ``best_epoch``, the split, ``training_shards``: see
``holstein.ml.training.provenance``).  Written atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from holstein import __version__
from holstein.data.atomic import atomic_path
from holstein.ml.model import LocalForceField
from holstein.ml.training_set import flat_meta
from holstein.physics.lattice import PHYSICS_KEYS

CHECKPOINT_FORMAT = "holstein-mlff"
CHECKPOINT_FORMAT_VERSION = 1
REQUIRED_ENTRIES = ("state_dict", "architecture", "physics", "normalisation")
# The fix for every checkpoint that cannot be used, in the pipeline's terms.  Deleting the
# checkpoint alone is not enough there: Snakemake does not rebuild a missing intermediate
# file whose downstream outputs exist.
RETRAIN = ("in the pipeline, `snakemake --forcerun train_member` (with the usual options) "
           "retrains the committee's members and re-runs everything that used them")


def plain(obj: Any) -> Any:
    """JSON-like plain Python (numpy scalars -> float/int), safe for weights_only loading."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def save_checkpoint(
    path, model: LocalForceField, physics: Mapping[str, Any],
    lattice_shape: tuple[int, int] | None, hyper: Mapping[str, Any] | None = None, **extra,
) -> None:
    """Write the checkpoint of ``model`` atomically (entries: see the module docstring)."""
    missing = [k for k in PHYSICS_KEYS if k not in physics]
    if missing:
        raise ValueError(f"physics lacks {missing}: a checkpoint records {list(PHYSICS_KEYS)}")
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "architecture": model.architecture.as_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "normalisation": model.normalisation(),
        "hyper": plain(dict(hyper or {})),
        "lattice_shape": None if lattice_shape is None else [int(v) for v in lattice_shape],
        "physics": plain(dict(physics)),
        "cutoff": model.cutoff,
        "version": __version__,
        "torch_version": str(torch.__version__),
        **plain(extra),
    }
    # Serialised in memory: torch names the archive's records after the file it writes,
    # and the atomic write's temporary name would make every copy's bytes differ.
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _unreadable(path, why: str) -> ValueError:
    return ValueError(
        f"{path}: ML force-field checkpoint is unreadable ({why}); it is truncated, corrupt "
        f"or not a holstein.ml checkpoint. Delete it and retrain: {RETRAIN}."
    )


def read_checkpoint(path) -> dict:
    """The checkpoint dict (``torch.load(weights_only=True)``), validated."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ML force-field checkpoint; train one first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise _unreadable(path, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}") \
            from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise _unreadable(path, "no holstein-mlff format marker")
    missing = [k for k in REQUIRED_ENTRIES if k not in ckpt]
    if missing:
        raise _unreadable(path, f"missing entries {missing}")
    if ckpt.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {ckpt.get('format_version')}, this holstein "
            f"({__version__}) reads {CHECKPOINT_FORMAT_VERSION}; retrain the model: {RETRAIN}"
        )
    return ckpt


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def check_expectation(ckpt: Mapping[str, Any], expect: Mapping[str, Any], path="checkpoint",
                      strict_shape: bool = False) -> None:
    """Raise ValueError if the checkpoint's physics (or shape) differs from ``expect``."""
    want = flat_meta(expect)
    have = dict(ckpt["physics"])
    problems = []
    for key in PHYSICS_KEYS:
        if key not in want:
            continue
        if key not in have:
            problems.append(f"{key}: not recorded in the checkpoint, expected {want[key]!r}")
        elif not _same(have[key], want[key]):
            problems.append(f"{key}: checkpoint {have[key]!r}, expected {want[key]!r}")
    if strict_shape and want["_shape"] is not None:
        shape = tuple(ckpt.get("lattice_shape") or ())
        if shape != want["_shape"]:
            problems.append(f"lattice shape: checkpoint {shape}, expected {want['_shape']}")
    if problems:
        raise ValueError(
            f"{path}: ML force field was trained for different physics: "
            + "; ".join(problems)
            + f". Retrain the model for this configuration ({RETRAIN}) or load the "
            "checkpoint that matches."
        )
