"""Checkpoint provenance (``holstein.ml.training.provenance``).

A model trained by the pipeline's entry point (``train_from_shards``) on four tiny NEGF-
format shards records each shard's name and sha256 and its training parameters; the
check passes for exactly those shards (in any order) and that configuration (a change
of a result-neutral key such as ``checkpoint_every_epochs`` included), and refuses,
naming the file or key and giving the command that fixes it: a shard whose bytes
changed, a shard missing or added, a changed model parameter, and a checkpoint that
records no shards (trained outside the pipeline or by an older holstein).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from schema_defaults import local_model_defaults
from synthetic import PHYSICS, synthetic_force

from holstein.data.io import write_trajectory
from holstein.data.records import Trajectory
from holstein.ml.checkpoint import read_checkpoint
from holstein.ml.members import member_section
from holstein.ml.training.parameters import TrainingParameters
from holstein.ml.training.provenance import ProvenanceError, check_provenance, shard_records
from holstein.stages.train import train_from_shards

pytestmark = pytest.mark.usefixtures("torch_one_thread")

HYPER = {**member_section(local_model_defaults(), 0), "cutoff": 1, "channels": 4, "epochs": 2,
         "batch_size": 8, "validation_fraction": 0.5, "bond_heads": False}


def write_shard(path, bias, seed, n=4, shape=(5, 4)):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, *shape))
    force = np.array([synthetic_force(qi, bias) for qi in q])
    traj = Trajectory(steps=np.arange(n), times=0.1 * np.arange(n), q=q, force=force,
                      density=0.5 - force / PHYSICS["g"])
    write_trajectory(path, traj, {"bias": bias, "seed": seed, "physics": PHYSICS})


@pytest.fixture(scope="module")
def pipeline_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("provenance")
    shards = []
    for bias in (1.0, 2.0):
        for seed in (1, 2):
            shards.append(tmp / "shards" / f"V{bias:g}_s{seed}.parquet")
            write_shard(shards[-1], bias, seed)
    model = tmp / "model" / "mlff.pt"
    train_from_shards(shards, HYPER, model, tmp / "model" / "metrics.json",
                      tmp / "model" / "parity.parquet")
    return {"shards": shards, "model": model}


@pytest.fixture()
def run_shards(pipeline_model, tmp_path):
    """A copy of the shards, free to change."""
    copies = []
    for path in pipeline_model["shards"]:
        copies.append(tmp_path / path.name)
        shutil.copy(path, copies[-1])
    return copies


def test_checkpoint_records_its_shards_and_parameters(pipeline_model, run_shards):
    model, shards = pipeline_model["model"], pipeline_model["shards"]
    ckpt = read_checkpoint(model)
    assert ckpt["training_shards"] == shard_records(shards)
    assert [r["name"] for r in ckpt["training_shards"]] == sorted(p.name for p in shards)
    assert ckpt["hyper"] == TrainingParameters.from_mapping(HYPER).as_dict()
    check_provenance(model, shards, HYPER)
    check_provenance(model, reversed(run_shards), {**HYPER, "checkpoint_every_epochs": 3})


def test_a_changed_missing_or_added_shard_is_refused_naming_it(pipeline_model, run_shards):
    model = pipeline_model["model"]
    write_shard(run_shards[1], 1.0, 7)  # same name, other content
    with pytest.raises(ProvenanceError, match=rf"{run_shards[1].name}: sha256 .*"
                       r"trained on a file of that name .*--forcerun train_member") as err:
        check_provenance(model, run_shards, HYPER)
    assert run_shards[0].name not in str(err.value)  # only the changed one is named
    with pytest.raises(ProvenanceError, match=rf"{run_shards[1].name}: used to train the "
                       "checkpoint, not a training shard of this run"):
        check_provenance(model, run_shards[:1] + run_shards[2:])
    extra = run_shards[0].with_name("V3_s1.parquet")
    write_shard(extra, 3.0, 1)
    with pytest.raises(ProvenanceError, match=r"V3_s1\.parquet: a training shard of this "
                       "run, not used to train"):
        check_provenance(model, pipeline_model["shards"] + [extra])


def test_a_changed_model_parameter_is_refused_naming_it(pipeline_model):
    with pytest.raises(ProvenanceError, match=r"model\.channels: checkpoint trained with 4, "
                       r"configured 6") as err:
        check_provenance(pipeline_model["model"], pipeline_model["shards"],
                         {**HYPER, "channels": 6})
    assert isinstance(err.value, ValueError) and "model.cutoff" not in str(err.value)


def test_a_checkpoint_without_shard_records_is_refused(trained):
    with pytest.raises(ProvenanceError, match="records no training shards.*--forcerun"):
        check_provenance(trained["path"], [])
