"""The calibrated committee file (``holstein.ml.committee_file``): members by relative path
and digest, the calibration beside them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from holstein.data.atomic import file_sha256
from holstein.ml.committee_file import (
    check_run_members,
    expected_force_rmse,
    read_committee_file,
    write_committee_file,
)

CALIBRATION = {"statistic": "mean", "scale": 2.5, "within_factor_2": 0.9, "n_frames": 12,
               "n_runs": 2, "judged_on": "the other half of the reference runs"}


@pytest.fixture
def members(tmp_path):
    paths = []
    for k in range(2):
        path = tmp_path / "model" / f"member_{k}" / "mlff.pt"
        path.parent.mkdir(parents=True)
        path.write_bytes(bytes([k]) * 64)
        paths.append(path)
    return paths


def test_a_committee_file_names_its_members_relative_to_itself_and_moves_with_them(
        members, tmp_path):
    out = tmp_path / "model" / "committee.json"
    write_committee_file(out, members, "mean", CALIBRATION, ["V2_s101.parquet"])
    written = json.loads(out.read_text())
    assert [m["path"] for m in written["members"]] == ["member_0/mlff.pt", "member_1/mlff.pt"]
    assert written["calibration"]["scale"] == 2.5
    assert written["calibration"]["fitted_on"] == ["V2_s101.parquet"]
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "model", moved)
    read = read_committee_file(moved / "committee.json")
    assert read["member_paths"] == [str((moved / f"member_{k}" / "mlff.pt").resolve())
                                    for k in range(2)]
    assert read["predictor"] == "mean" and read["calibration"]["statistic"] == "mean"


def test_a_member_changed_or_missing_after_the_calibration_is_refused(members, tmp_path):
    out = tmp_path / "model" / "committee.json"
    write_committee_file(out, members, "mean", CALIBRATION)
    members[1].write_bytes(b"retrained")
    with pytest.raises(ValueError, match=r"member_1/mlff.pt changed since the committee was "
                       r"calibrated.*re-run the calibration"):
        read_committee_file(out)
    assert read_committee_file(out, check_members=False)["calibration"] == {
        **CALIBRATION, "fitted_on": []}
    members[0].unlink()
    with pytest.raises(ValueError, match="member_0/mlff.pt is missing"):
        read_committee_file(out)


def test_what_is_not_a_committee_file_is_refused(members, tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"checkpoints": []}))
    with pytest.raises(ValueError, match="not a holstein calibrated committee file"):
        read_committee_file(other)
    other.write_text("{")
    with pytest.raises(ValueError, match="not a readable committee file"):
        read_committee_file(other)
    out = tmp_path / "committee.json"
    write_committee_file(out, members, "mean", CALIBRATION)
    entry = json.loads(out.read_text())
    out.write_text(json.dumps({**entry, "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        read_committee_file(out)
    with pytest.raises(ValueError, match="a committee of one has no deviation"):
        write_committee_file(out, members[:1], "mean", CALIBRATION)
    with pytest.raises(ValueError, match="at least one member"):
        write_committee_file(out, [], "mean", None)


def test_a_committee_of_one_has_no_calibration(members, tmp_path):
    out = tmp_path / "committee.json"
    write_committee_file(out, members[:1], "mean", None)
    assert read_committee_file(out)["calibration"] is None


def test_the_expected_force_rmse_is_the_scale_times_the_statistic():
    frames = {"force_deviation_mean": [0.0, 0.01, 0.2], "force_deviation_max": [1.0, 1.0, 1.0]}
    np.testing.assert_allclose(expected_force_rmse(CALIBRATION, frames),
                               [0.0, 0.025, 0.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(expected_force_rmse({**CALIBRATION, "statistic": "max"},
                                                   frames), [2.5] * 3, rtol=0, atol=1e-15)
    assert expected_force_rmse(None, frames) is None
    assert expected_force_rmse(CALIBRATION, {"time": [0.0]}) is None  # a single model's run


def test_a_run_is_judged_only_with_the_calibration_of_the_members_that_drove_it(
        members, tmp_path):
    out = tmp_path / "model" / "committee.json"
    write_committee_file(out, members, "mean", CALIBRATION)
    entry = read_committee_file(out)
    drove = {"provider_identity": {"model_sha256": [file_sha256(p) for p in members],
                                   "predictor": "mean"}}
    check_run_members(entry, drove, "run.parquet")
    swapped = {"provider_identity": {"model_sha256": drove["provider_identity"][
        "model_sha256"][::-1]}}
    with pytest.raises(ValueError, match=r"run.parquet: driven by members.*calibrate the "
                       r"one that drove it"):
        check_run_members(entry, swapped, "run.parquet")
    with pytest.raises(ValueError, match="does not record the member checkpoints.*re-run it"):
        check_run_members(entry, {"provider": "ml"}, "run.parquet")
