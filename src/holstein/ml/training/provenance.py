"""What a checkpoint was trained on, and the check that it is this run's model.

A checkpoint written by ``holstein.stages.train.train_from_shards`` records, besides the
physics, the training parameters (``hyper``) and every training shard by file name and
the sha256 of its data (``training_shards``; ``holstein.data.io.trajectory_digest``).
``check_provenance`` compares those records with the shards and the ``model``
configuration of the run that is about to use the checkpoint: a checkpoint copied in from
another run, or left over from other data or parameters, is refused with the file or key
that differs and the command that fixes it, instead of being used (and its training
history reported) silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from holstein.data.io import trajectory_digest
from holstein.ml.checkpoint import RETRAIN, read_checkpoint
from holstein.ml.members import TRANSPORT_ONLY, committee_size, member_section
from holstein.ml.training.parameters import INTERNAL_DEFAULTS, RESULT_NEUTRAL, TrainingParameters

SHARDS_ENTRY = "training_shards"


class ProvenanceError(ValueError):
    """A checkpoint that was not trained on this run's data and parameters."""


def shard_records(paths: Iterable) -> list[dict[str, str]]:
    """``[{"name": file name, "sha256": digest of its data}, ...]`` sorted by name: what a
    checkpoint records of its training shards.  Names must be unique."""
    records = sorted(({"name": Path(p).name, "sha256": trajectory_digest(p)} for p in paths),
                     key=lambda r: r["name"])
    names = [r["name"] for r in records]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"training shards share the file names {duplicates}: a checkpoint "
                         "records shards by name; give each a distinct name")
    return records


def check_provenance(checkpoint_path, shard_paths: Iterable,
                     hyper: Mapping[str, Any] | None = None) -> None:
    """Raise ProvenanceError unless the checkpoint was trained on exactly ``shard_paths``
    (same file names, same sha256) and, if given, with the ``model`` configuration
    ``hyper`` (the validated section, as ``TrainingParameters.from_mapping`` takes it;
    keys that do not change the trained model, ``RESULT_NEUTRAL``, and for a local model
    the transport-only ``TRANSPORT_ONLY``, are not compared; a transport model's
    ``conductance_cutoff`` is compared as the layers it means, null as cutoff - 2).

    The message names every shard or key that differs, both values, and the fix.
    """
    path = Path(checkpoint_path)
    shard_paths = list(shard_paths)
    ckpt = read_checkpoint(path)
    recorded = ckpt.get(SHARDS_ENTRY)
    if not recorded:
        raise ProvenanceError(
            f"{path}: the checkpoint records no training shards (written by an older "
            f"holstein, copied in from elsewhere or trained outside the pipeline), so it "
            f"cannot be tied to this run's data. Retrain the model: {RETRAIN}.")
    have = {r["name"]: r["sha256"] for r in recorded}
    want = {r["name"]: r["sha256"] for r in shard_records(shard_paths)}
    full = {Path(p).name: str(p) for p in shard_paths}
    problems = []
    for name in sorted(set(have) | set(want)):
        if name not in have:
            problems.append(f"{full[name]}: a training shard of this run, not used to "
                            "train the checkpoint")
        elif name not in want:
            problems.append(f"{name}: used to train the checkpoint, not a training shard "
                            "of this run")
        elif have[name] != want[name]:
            problems.append(f"{full[name]}: sha256 {want[name][:12]}..., the checkpoint was "
                            f"trained on a file of that name with sha256 {have[name][:12]}...")
    if hyper is not None:
        params = TrainingParameters.from_mapping(hyper)
        now = params.as_dict()
        then = dict(ckpt.get("hyper") or {})
        if now["kind"] == "transport":  # null and cutoff - 2 are the same network
            now["conductance_cutoff"] = params.conductance_layers
            if then.get("kind") == "transport" and then.get("conductance_cutoff") is None:
                then["conductance_cutoff"] = then["cutoff"] - 2
        for key, value in now.items():
            if key in RESULT_NEUTRAL or (key in TRANSPORT_ONLY and now["kind"] == "local"):
                continue
            if key not in then and key in INTERNAL_DEFAULTS and value == INTERNAL_DEFAULTS[key]:
                continue  # a knob added later, at the value older checkpoints were trained with
            if key not in then:
                problems.append(f"model.{key}: not recorded in the checkpoint, configured "
                                f"{value!r}")
            elif then[key] != value:
                problems.append(f"model.{key}: checkpoint trained with {then[key]!r}, "
                                f"configured {value!r}")
    if problems:
        raise ProvenanceError(
            f"{path}: the checkpoint was not trained on this run's data and model "
            "configuration: " + "; ".join(problems) + f". Retrain the model: {RETRAIN}.")


def checked_members(model_paths, shard_paths, hyper) -> list:
    """The member checkpoints as a list, each checked against this run's training shards
    and its member's model configuration (``check_provenance``)."""
    model_paths = [model_paths] if isinstance(model_paths, str | Path) else list(model_paths)
    if len(model_paths) != committee_size(hyper):
        raise ValueError(f"{len(model_paths)} member checkpoints given, but model.committee "
                         f"= {committee_size(hyper)}: pass every member of the committee")
    for member, path in enumerate(model_paths):
        check_provenance(path, shard_paths, member_section(hyper, member))
    return model_paths
