"""Parquet trajectory files: round trip, metadata, atomic writes, corrupt files."""

import numpy as np
import pytest
from schema_defaults import DEFAULTS

from holstein import __version__
from holstein.data.atomic import atomic_path
from holstein.data.io import read_metadata, read_trajectory, write_trajectory
from holstein.physics.dynamics import run_brownian


@pytest.fixture(scope="module")
def trajectory():
    return run_brownian(DEFAULTS.checkerboard(5, 4), DEFAULTS.negf_provider(), 2.0,
                        DEFAULTS.brownian(), n_steps=4, seed=3, stride=2)


def test_round_trip_keeps_every_array_and_the_metadata(tmp_path, trajectory):
    path = tmp_path / "shard.parquet"
    write_trajectory(path, trajectory, {"bias": 2.0, "seed": 3, "physics": {"g": 1.5}})
    arrays, meta = read_trajectory(path)
    assert meta["Lx"] == 5 and meta["Ly"] == 4 and meta["bias"] == 2.0 and meta["seed"] == 3
    assert meta["physics"] == {"g": 1.5} and meta["version"] == __version__
    for name in ("q", "force", "density", "bond_current_x", "bond_current_y"):
        np.testing.assert_array_equal(arrays[name], getattr(trajectory, name))
    np.testing.assert_array_equal(arrays["current"], trajectory.current)
    np.testing.assert_array_equal(arrays["step"], [0, 2, 4])
    np.testing.assert_array_equal(arrays["bias"], [2.0] * 3)
    assert read_metadata(path)["seed"] == 3


def test_interrupted_writer_leaves_no_file_at_the_final_path(tmp_path):
    final = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_text("half of a result")
            raise RuntimeError("killed mid-way")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_shard_whose_metadata_disagrees_with_its_arrays_names_the_file(tmp_path, trajectory):
    import json

    import pyarrow.parquet as pq

    path = tmp_path / "V1.5_s1.parquet"
    write_trajectory(path, trajectory, {"bias": 2.0, "seed": 3})
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"holstein"])
    meta["Lx"] = 8  # the file says 8 columns; its arrays hold 5
    pq.write_table(table.replace_schema_metadata({b"holstein": json.dumps(meta)}), path)
    with pytest.raises(ValueError, match=r"V1\.5_s1\.parquet.*'q'.*8 x 4.*--forcerun"):
        read_trajectory(path)


def test_a_truncated_file_names_itself_and_the_command_that_recreates_it(tmp_path, trajectory):
    path = tmp_path / "V2_s3.parquet"
    write_trajectory(path, trajectory, {"bias": 2.0, "seed": 3})
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"V2_s3\.parquet.*snakemake .*--forcerun .*V2_s3"):
        read_trajectory(path)
