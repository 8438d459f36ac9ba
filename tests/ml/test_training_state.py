"""Kill-and-resume of ML training (``holstein.ml.training.trainer.train``,
``holstein.ml.training.resume``).

A training run killed with SIGKILL after its first training-state file and re-run ends
with the same final weights as an uninterrupted run with the same seed: bit for bit
(``torch.equal``) on one torch thread, the same machine and torch build; the loss
curves and the learning-rate schedule agree exactly too.  A state file of another run
(other fingerprint) is ignored and overwritten.  Synthetic local target as in
tests/ml/synthetic.py, kept tiny (60 snapshots of 8 x 6, cutoff 2, 4 channels).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from schema_defaults import local_training_parameters

from holstein.ml.checkpoint import read_checkpoint
from holstein.ml.training.resume import training_state_path
from holstein.ml.training.trainer import train

PHYSICS = dict(t=1.0, g=1.5, K=1.0, kappa=0.18, gamma=1.0, temperature=0.1,
               bias_scheme="gated")
# A high learning rate and small batches make the validation loss go up now and then:
# the kill lands after epoch 14, a bad epoch (early-stopping counter and the LR scheduler's
# bad-epoch count are 1); epoch 15 is bad too, so the learning rate is halved after it
# (patience 100) or training stops early there (patience 2).  A resume that lost the
# scheduler or early-stopping state would end with other weights.
HYPER = dict(cutoff=2, channels=4, epochs=30, batch_size=4, learning_rate=5e-2,
             patience=100, lr_decay_patience=1, validation_fraction=0.5, seed=3, threads=1,
             bond_heads=False)
KILL_AFTER = 14
CURVES = ("train_loss", "val_loss", "lr")  # epoch_seconds is wall time


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def synthetic_data(n=10, shape=(8, 6)) -> dict:
    """Local target tanh(Q_x-1 + Q_x+1 - Q + 0.3 V) (zero beyond the open x ends)."""
    q, f, v, traj = [], [], [], []
    for k, bias in enumerate((0.0, 0.0, 1.0, 1.0, 2.0, 2.0)):
        rng = np.random.default_rng(100 + k)
        for _ in range(n):
            qi = rng.standard_normal(shape)
            p = np.pad(qi, ((1, 1), (0, 0)))
            q.append(qi)
            f.append(np.tanh(p[:-2] + p[2:] - qi + 0.3 * bias))
            v.append(bias)
            traj.append(k)
    meta = {"Lx": shape[0], "Ly": shape[1], "physics": PHYSICS}
    return {"q": np.array(q), "force": np.array(f), "bias": np.array(v),
            "trajectory": np.array(traj), "meta": meta}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def with_bond_currents(data: dict) -> dict:
    """Local bond currents: x bonds tanh(Q_x+1 - Q_x), y bonds tanh(Q_y+1 - Q_y) (odd)."""
    q = data["q"]
    return {**data, "bond_current_x": np.tanh(q[:, 1:] - q[:, :-1]),
            "bond_current_y": np.tanh(np.roll(q, -1, axis=2) - q)}


@pytest.mark.parametrize("patience, bonds", [(100, False), (2, False), (100, True)])
def test_killed_training_resumes_and_ends_with_the_same_weights(tmp_path, patience, bonds):
    # bonds: the bond heads are trained after the (killed and resumed) force stage, on the
    # frozen backbone; they must end the same too.
    data = with_bond_currents(synthetic_data()) if bonds else synthetic_data()
    reference = tmp_path / "reference" / "mlff.pt"
    hyper = {**HYPER, "patience": patience, "checkpoint_every_epochs": 0}
    if bonds:
        hyper.update(bond_heads=True, bond_epochs=10)
    ref = train(data, local_training_parameters(**hyper), reference, log=lambda s: None)
    epochs = HYPER["epochs"] if patience == 100 else KILL_AFTER + 1  # early stop
    assert ref["epochs_run"] == epochs

    resumed = tmp_path / "resumed" / "mlff.pt"
    state = training_state_path(resumed)
    hyper["checkpoint_every_epochs"] = 1
    # The subprocess's log callback blocks in the progress line of epoch KILL_AFTER + 1
    # (after that epoch's optimiser steps, before its state is saved) and leaves a marker
    # file: the last state file it wrote is then that of epoch KILL_AFTER.
    marker = tmp_path / "blocked"
    block = (f"lambda s: (open({str(marker)!r}, 'w').close(), time.sleep(600)) "
             f"if s.startswith('epoch {KILL_AFTER + 1}/') else None")
    arrays = ("q", "force", "bias", "trajectory") + (
        ("bond_current_x", "bond_current_y") if bonds else ())
    code = (
        "import time, numpy as np\n"
        "from holstein.ml.training.parameters import TrainingParameters\n"
        "from holstein.ml.training.trainer import train\n"
        f"data = {{k: np.load({str(tmp_path)!r} + '/' + k + '.npy') for k in {arrays!r}}}\n"
        f"data['meta'] = {data['meta']!r}\n"
        f"params = TrainingParameters(**{local_training_parameters(**hyper).as_dict()!r})\n"
        f"train(data, params, {str(resumed)!r}, log={block})\n"
    )
    for key in arrays:
        np.save(tmp_path / f"{key}.npy", data[key])
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists() and state.exists(), "the training stopped before its state files"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not resumed.exists(), "a killed training must not leave a checkpoint"
    saved = torch.load(state, weights_only=True)
    killed_at = saved["epoch"]
    assert killed_at == KILL_AFTER
    assert saved["wait"] == 1 and saved["scheduler"]["num_bad_epochs"] == 1
    if patience == 100:
        assert ref["history"]["lr"][KILL_AFTER + 1] < ref["history"]["lr"][KILL_AFTER]

    lines: list[str] = []
    out = train(data, local_training_parameters(**hyper), resumed, log=lines.append)
    assert any(f"resuming from {state} after epoch {killed_at}" in s for s in lines), lines
    assert sum(s.startswith("epoch ") for s in lines) == epochs - killed_at
    assert not state.exists(), "the state file is removed after the checkpoint is written"
    a, b = read_checkpoint(reference), read_checkpoint(resumed)
    assert_same_weights(a["state_dict"], b["state_dict"])
    for key in CURVES:
        assert ref["history"][key] == out["history"][key], key
    assert (ref["best_epoch"], ref["best_val_loss"]) == (out["best_epoch"], out["best_val_loss"])
    assert ref["validation"] == out["validation"]
    if bonds:
        assert any(k.startswith("heads.bond.") for k in b["state_dict"])
        assert ref["validation_bond"] == out["validation_bond"]
        assert ref["bond_history"]["val_loss"] == out["bond_history"]["val_loss"]


def test_state_of_another_run_is_ignored_and_a_finished_state_skips_training(tmp_path):
    data = synthetic_data(n=4)
    hyper = {**HYPER, "epochs": 6, "checkpoint_every_epochs": 2}
    path = tmp_path / "mlff.pt"
    state = training_state_path(path)
    # Leaves the finished state of a seed-3 run at ``state``.
    train(data, local_training_parameters(**hyper), path, log=lambda s: None,
          keep_training_state=True)
    assert torch.load(state, weights_only=True)["finished"]
    seed4 = local_training_parameters(**{**hyper, "seed": 4})
    fresh = train(data, seed4, tmp_path / "fresh.pt", log=lambda s: None)

    lines: list[str] = []
    other = train(data, seed4, path, log=lines.append, keep_training_state=True)
    assert any("belongs to another run" in s for s in lines), lines
    assert sum(s.startswith("epoch ") for s in lines) == hyper["epochs"]
    assert_same_weights(read_checkpoint(tmp_path / "fresh.pt")["state_dict"],
                        read_checkpoint(path)["state_dict"])
    assert other["history"]["val_loss"] == fresh["history"]["val_loss"]

    # The state now belongs to the seed-4 run, and it is finished: no epoch is re-run,
    # and a change of the checkpoint interval alone is the same run.
    lines.clear()
    again = train(data, seed4.replace(checkpoint_every_epochs=5), path, log=lines.append)
    assert any("training loop already finished" in s for s in lines), lines
    assert not any(s.startswith("epoch ") for s in lines)
    assert again["history"]["val_loss"] == fresh["history"]["val_loss"]
    assert_same_weights(read_checkpoint(tmp_path / "fresh.pt")["state_dict"],
                        read_checkpoint(path)["state_dict"])
    assert not state.exists()


def test_checkpoint_interval_must_be_a_non_negative_integer(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_every_epochs"):
        train(synthetic_data(n=2),
              local_training_parameters(**{**HYPER, "checkpoint_every_epochs": -1}),
              tmp_path / "m.pt")
    with pytest.raises(ValueError, match="checkpoint_every_epochs"):
        local_training_parameters(**{**HYPER, "checkpoint_every_epochs": True})
