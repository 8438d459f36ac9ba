"""The training set's layout and the split by trajectory (``holstein.ml.training_set``)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import PHYSICS

from holstein.ml.training_set import physics_from_meta, split_trajectories


def test_split_by_trajectory_is_seeded_and_spreads_over_biases():
    traj = np.repeat(np.arange(8), 5)
    bias = np.repeat([1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0], 5)
    tr, va = split_trajectories(traj, bias, 0.5, seed=1)
    assert len(va) == 4 and not set(tr) & set(va) and set(tr) | set(va) == set(range(8))
    assert sorted({bias[traj == i][0] for i in va}) == [1.0, 2.0, 3.0, 4.0]
    assert sorted({bias[traj == i][0] for i in tr}) == [1.0, 2.0, 3.0, 4.0]
    tr2, va2 = split_trajectories(traj, bias, 0.5, seed=1)
    np.testing.assert_array_equal(va, va2)
    _, va3 = split_trajectories(traj, bias, 0.25, seed=1)
    assert len({bias[traj == i][0] for i in va3}) == 2  # 2 trajectories, 2 biases
    # one trajectory per bias: a whole bias is held out
    tr4, va4 = split_trajectories(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]), 0.25, seed=0)
    assert len(va4) == 1 and len(tr4) == 3
    with pytest.raises(ValueError, match="at least 2"):
        split_trajectories(np.zeros(5, int), np.ones(5), 0.5, seed=0)


def test_physics_from_flat_or_nested_metadata():
    nested = {"Lx": 8, "Ly": 6, "physics": {**PHYSICS, "damping": 0.2}}
    assert physics_from_meta(nested) == physics_from_meta(PHYSICS) == {
        k: v if isinstance(v, str) else float(v) for k, v in PHYSICS.items()}
    with pytest.raises(ValueError, match=r"lacks the physical parameters \['kappa'\]"):
        physics_from_meta({k: v for k, v in PHYSICS.items() if k != "kappa"})
