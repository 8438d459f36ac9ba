"""The calibrated committee: one file that names the member checkpoints and holds the
calibration of their deviation as an expected force error.

Members are trained one job each (``holstein.ml.members``), so no member checkpoint can
hold what only the whole committee has: the scale that turns its deviation into an
expected force RMSE, fitted on NEGF frames none of them was trained on
(``holstein.ml.calibration``).  This file records it beside the members it belongs to:

* ``members``: each member checkpoint by its path relative to this file and its sha256,
  so the committee moves with the results folder that holds both (with active learning
  the members are the last iteration's, under ``active_learning/``) and a member retrained
  or copied in afterwards is refused instead of being judged with another committee's
  scale;
* ``predictor``: what drives a run (``model.committee_predictor``);
* ``calibration``: ``statistic`` (the trust statistic), ``scale`` (t per unit of it),
  the cross-fitted share of frames within a factor 2, and the reference runs it was
  fitted on; None for a committee of one, which has no deviation.

A frame's expected force RMSE is ``scale x`` its trust statistic (``expected_force_rmse``,
for the recorded frames of a run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from holstein.data.atomic import file_sha256, write_text_atomic
from holstein.data.records import TRUST_STATISTICS

FORMAT = "holstein calibrated committee"
VERSION = 1


def write_committee_file(path, member_paths: Sequence, predictor: str,
                         calibration: Mapping[str, Any] | None,
                         fitted_on: Sequence[str] = ()) -> dict:
    """Write the committee of ``member_paths`` (member k at index k) to ``path`` (JSON)
    and return what was written.  ``calibration``: ``holstein.ml.calibration.calibrate``'s
    result (None for a committee of one); ``fitted_on``: the names of the NEGF runs it was
    fitted on."""
    path = Path(path)
    if not member_paths:
        raise ValueError("a committee needs at least one member checkpoint")
    if calibration is not None and len(member_paths) < 2:
        raise ValueError("a committee of one has no deviation to calibrate")
    entry = {
        "format": FORMAT,
        "version": VERSION,
        "members": [{"path": os.path.relpath(Path(p).resolve(), path.resolve().parent),
                     "sha256": file_sha256(p)} for p in member_paths],
        "predictor": predictor,
        "calibration": None if calibration is None else {
            **calibration, "fitted_on": list(fitted_on)},
    }
    write_text_atomic(path, json.dumps(entry, indent=2, default=float))
    return entry


def read_committee_file(path, check_members: bool = True) -> dict:
    """The committee file ``path`` with ``member_paths`` (absolute) added.  With
    ``check_members`` every member checkpoint must exist and be the one calibrated (its
    sha256); a missing or changed member is an error that names it and the fix."""
    path = Path(path)
    try:
        entry = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable committee file ({error})") from error
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file (format "
                         f"{entry.get('format') if isinstance(entry, dict) else None!r})")
    if entry.get("version") != VERSION:
        raise ValueError(f"{path}: committee file version {entry.get('version')!r}; this "
                         f"holstein reads version {VERSION}: re-run the committee's "
                         "calibration")
    members = [(path.parent / m["path"]).resolve() for m in entry["members"]]
    if check_members:
        for member, recorded in zip(members, entry["members"], strict=True):
            if not member.exists():
                raise ValueError(f"{path}: member checkpoint {member} is missing; a "
                                 "committee file belongs beside its members (move them "
                                 "together)")
            if file_sha256(member) != recorded["sha256"]:
                raise ValueError(
                    f"{path}: member checkpoint {member} changed since the committee was "
                    "calibrated (its sha256 differs): the calibration belongs to other "
                    f"weights; re-run the calibration (snakemake {path})")
    return {**entry, "member_paths": [str(m) for m in members]}


def check_run_members(entry: Mapping[str, Any], run_meta: Mapping[str, Any],
                      run_path) -> None:
    """Raise unless the committee file ``entry`` (``read_committee_file``) names the member
    checkpoints that drove the run whose trajectory metadata is ``run_meta`` (its
    ``provider_identity``, ``holstein.pipeline.runs.simulate``): the calibration of one
    committee says nothing about another's deviation."""
    recorded = (run_meta.get("provider_identity") or {}).get("model_sha256")
    if recorded is None:
        raise ValueError(f"{run_path}: the run does not record the member checkpoints that "
                         "drove it (written by an older holstein, or not an ML run); re-run "
                         "it")
    calibrated = [m["sha256"] for m in entry["members"]]
    if list(recorded) != calibrated:
        raise ValueError(f"{run_path}: driven by members with sha256 {list(recorded)}, but "
                         f"the committee file calibrates {calibrated}: re-run the run with "
                         "the calibrated committee, or calibrate the one that drove it")


def expected_force_rmse(calibration: Mapping[str, Any] | None, frames) -> np.ndarray | None:
    """Expected force RMSE (t) of every recorded frame: the scale times the frame's trust
    statistic.  ``frames``: the run's recorded columns (a trajectory's arrays or its
    analysed series).  None without a calibration or without the statistic's column (a
    run of a single model)."""
    if calibration is None:
        return None
    column = TRUST_STATISTICS[calibration["statistic"]]
    if column not in frames:
        return None
    return float(calibration["scale"]) * np.asarray(frames[column], dtype=float)
