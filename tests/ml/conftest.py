"""The trained model shared by the holstein.ml tests (trained once per session).

A small training run on the synthetic local force (tests/ml/synthetic.py), 6 trajectories
of 30 random 8 x 6 snapshots at V = 0, 1, 2 (2 "seeds" each), cutoff 2, 8 channels, 80
epochs, one thread, force head only.
"""

from __future__ import annotations

import pytest
from schema_defaults import local_training_parameters
from synthetic import synthetic_data

from holstein.ml.training.trainer import train


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlff")
    data = synthetic_data()
    params = local_training_parameters(
        cutoff=2, channels=8, epochs=80, batch_size=16, learning_rate=5e-3, weight_decay=0.0,
        patience=20, validation_fraction=0.5, seed=0, threads=1, bond_heads=False)
    lines = []
    metrics = train(data, params, tmp / "model" / "mlff.pt", log=lines.append)
    return {"metrics": metrics, "path": tmp / "model" / "mlff.pt", "data": data,
            "lines": lines, "tmp": tmp, "params": params}
