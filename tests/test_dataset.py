"""Assembly of training shards: concatenation, trajectory ids, mismatched shards rejected."""

import numpy as np
import pytest

from holstein.data.io import write_trajectory
from holstein.data.records import Trajectory
from holstein.data.shards import load_shards

PHYSICS = {"t": 1.0, "g": 1.5, "K": 1.0, "kappa": 0.18, "gamma": 1.0, "temperature": 0.1,
           "bias_scheme": "gated"}


def shard(path, bias, seed, n=3, shape=(4, 5), physics=PHYSICS):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, *shape))
    traj = Trajectory(steps=np.arange(n), times=0.1 * np.arange(n), q=q, force=-q,
                      density=0.5 + q / 1.5, current=rng.normal(size=n))
    write_trajectory(path, traj, {"bias": bias, "seed": seed, "physics": physics})
    return traj


def test_shards_are_concatenated_with_one_id_per_trajectory(tmp_path):
    a = shard(tmp_path / "a.parquet", 2.0, 1)
    b = shard(tmp_path / "b.parquet", 3.0, 2, n=4)
    data = load_shards([tmp_path / "b.parquet", tmp_path / "a.parquet"])
    np.testing.assert_array_equal(data["q"], np.concatenate([a.q, b.q]))  # sorted by path
    np.testing.assert_array_equal(data["trajectory"], [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(data["bias"], [2.0] * 3 + [3.0] * 4)
    assert data["meta"] == {"Lx": 4, "Ly": 5, "physics": PHYSICS}
    assert "bond_current_x" not in data  # absent from these shards


def test_mismatched_physics_or_lattice_is_rejected_naming_the_file(tmp_path):
    shard(tmp_path / "a.parquet", 2.0, 1)
    shard(tmp_path / "b.parquet", 2.0, 2, physics={**PHYSICS, "gamma": 0.5})
    with pytest.raises(ValueError, match=r"b\.parquet.*gamma"):
        load_shards([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    shard(tmp_path / "c.parquet", 2.0, 3, shape=(6, 5))
    with pytest.raises(ValueError, match=r"c\.parquet.*Lx"):
        load_shards([tmp_path / "a.parquet", tmp_path / "c.parquet"])


def test_frames_gathered_from_several_runs_get_one_id_per_bias_and_seed(tmp_path):
    a = shard(tmp_path / "a.parquet", 2.0, 1)
    rng = np.random.default_rng(5)
    q = rng.normal(size=(5, 4, 5))
    labels = Trajectory(steps=np.arange(5), times=np.zeros(5), q=q, force=-q)
    write_trajectory(tmp_path / "labels.parquet", labels,
                     {"bias": None, "seed": None, "physics": PHYSICS},
                     frame_bias=[3.0, 2.0, 3.0, 3.0, 2.0], frame_seed=[7, 7, 7, 8, 7])
    data = load_shards([tmp_path / "a.parquet", tmp_path / "labels.parquet"])
    np.testing.assert_array_equal(data["q"], np.concatenate([a.q, q]))
    # a.parquet: 0; labels: (3, 7) -> 1, (2, 7) -> 2, (3, 8) -> 3, by first appearance
    np.testing.assert_array_equal(data["trajectory"], [0, 0, 0, 1, 2, 1, 3, 2])
    np.testing.assert_array_equal(data["bias"][3:], [3.0, 2.0, 3.0, 3.0, 2.0])
    np.testing.assert_array_equal(data["seed"][3:], [7, 7, 7, 8, 7])
    with pytest.raises(ValueError, match="one value per frame"):
        write_trajectory(tmp_path / "bad.parquet", labels, {"bias": None, "seed": None},
                         frame_bias=[1.0, 2.0], frame_seed=[1] * 5)
