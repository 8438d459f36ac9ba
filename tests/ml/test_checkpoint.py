"""Checkpoints (``holstein.ml.checkpoint``, read back by ``holstein.ml.provider.load``).

Save/load round trip gives identical predictions and the recorded entries; a checkpoint
for other physics is rejected naming the key(s) and both values; truncated, garbage and
foreign files are rejected with a message that says to delete the file; a checkpoint
without bond heads loads and reports no currents.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic import PHYSICS, random_model

from holstein.ml.checkpoint import read_checkpoint, save_checkpoint
from holstein.ml.metrics import evaluate_rmse, predict
from holstein.ml.provider import MLForceProvider, load
from holstein.physics.lattice import PHYSICS_KEYS
from holstein.stages.train import held_out_force_rmse

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_checkpoint_round_trip(trained, tmp_path):
    data, m = trained["data"], trained["metrics"]
    provider = load(trained["path"])
    val = np.isin(data["trajectory"], m["val_trajectories"])
    val_data = {k: data[k][val] for k in ("q", "force", "bias")}
    assert evaluate_rmse(provider, val_data) == m["validation"]
    # random weights: save -> load -> identical predictions; checkpoint content
    model = random_model(cutoff=2, dtype=torch.float32, expansion=4)
    original = MLForceProvider(model, PHYSICS)
    q = np.random.default_rng(8).standard_normal((4, 9, 7))
    before = original.predict_batch(q, 1.3)["force"]
    save_checkpoint(tmp_path / "a.pt", model, PHYSICS, (9, 7), {"cutoff": 2})
    restored = load(tmp_path / "a.pt", expect={**PHYSICS, "Lx": 9, "Ly": 7}, strict_shape=True)
    np.testing.assert_array_equal(restored.predict_batch(q, 1.3)["force"], before)
    assert restored.cutoff == 2 and restored.lattice_shape == (9, 7)
    assert restored.model.architecture == model.architecture
    ckpt = torch.load(trained["path"], weights_only=True)
    for key in ("state_dict", "hyper", "normalisation", "lattice_shape", "physics", "cutoff",
                "version", "loss_curve"):
        assert key in ckpt
    assert set(PHYSICS_KEYS) <= set(ckpt["physics"]) and ckpt["lattice_shape"] == [8, 6]
    assert ckpt["hyper"] == trained["params"].as_dict()
    # predict() accepts a path or a provider alike
    np.testing.assert_array_equal(predict(trained["path"], val_data), predict(provider, val_data))
    # the pipeline's held-out force error: the trainer's numbers, keyed by bias label,
    # and the checkpoint reproduces them on its own validation trajectories
    held = held_out_force_rmse(m["validation"], 8 * 6)
    assert sorted(held) == ["0", "1", "2"]
    val_ids = torch.load(trained["path"], weights_only=True)["val_trajectories"]
    sel = np.isin(np.asarray(data["trajectory"]), val_ids)
    again = evaluate_rmse(trained["path"], {k: np.asarray(data[k])[sel]
                                            for k in ("q", "force", "bias")})
    for row, entry in zip(again["per_bias"], held.values(), strict=True):
        assert entry["relative_rmse"] == pytest.approx(row["relative_rmse"], rel=1e-12)
        assert entry["n_values"] == row["n_snapshots"] * 8 * 6


def test_wrong_physics_checkpoint_rejected(trained):
    path = trained["path"]
    load(path, expect=PHYSICS)  # matching physics is fine
    load(path, expect={"physics": PHYSICS, "Lx": 40, "Ly": 30})  # shape not strict by default
    with pytest.raises(ValueError, match=r"g: checkpoint 1\.5, expected 1\.2") as err:
        load(path, expect={**PHYSICS, "g": 1.2})
    assert "Retrain" in str(err.value)
    with pytest.raises(ValueError, match="bias_scheme.*kappa|kappa.*bias_scheme"):
        load(path, expect={"physics": {**PHYSICS, "bias_scheme": "symmetric", "kappa": 0.1}})
    with pytest.raises(ValueError, match=r"lattice shape: checkpoint \(8, 6\)"):
        load(path, expect={**PHYSICS, "Lx": 40, "Ly": 30}, strict_shape=True)


def test_truncated_or_foreign_checkpoint_rejected(trained, tmp_path):
    raw = trained["path"].read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="unreadable.*[Dd]elete it"):
        load(bad)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="unreadable"):
        load(bad)
    torch.save({"weights": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="format marker"):
        load(bad)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")
    # weights that do not fit the recorded architecture: named, with the fix
    ckpt = read_checkpoint(trained["path"])
    ckpt["architecture"] = {**ckpt["architecture"], "channels": 5}
    torch.save(ckpt, bad)
    with pytest.raises(ValueError, match="does not fit.*--forcerun train_member"):
        load(bad)


def test_checkpoint_without_bond_heads_reports_no_currents(trained):
    provider = load(trained["path"])
    r = provider.evaluate(np.zeros((6, 4)), 1.0)
    assert r.bond_current_x is None and r.bond_current_y is None and r.current is None
    assert "bond_current_x" not in provider.predict_batch(np.zeros((1, 6, 4)), 1.0)
