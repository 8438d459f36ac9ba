"""Stage: the trained committee and its calibration written as one file
(``holstein.ml.committee_file``), from the calibration that ``reference_errors`` fitted on
the training lattice's NEGF reference runs."""

from __future__ import annotations

import json
from pathlib import Path

from holstein.ml.committee_file import write_committee_file


def calibrate_committee(model_paths, reference_errors_path, output, predictor: str,
                        trust_statistic: str) -> dict:
    """Write the calibrated committee of ``model_paths`` (member k at index k) to
    ``output``.  ``reference_errors_path``: the training lattice's reference_errors.json,
    which must have judged these very members with this ``trust_statistic``."""
    errors = json.loads(Path(reference_errors_path).read_text())
    judged = [Path(p).resolve() for p in errors["checkpoints"]]
    if judged != [Path(p).resolve() for p in model_paths]:
        raise ValueError(f"{reference_errors_path} judged the members {errors['checkpoints']}"
                         f", not {list(map(str, model_paths))}; re-run its reference_errors")
    committee = errors["committee"]
    calibration = committee["calibration"] if committee else None
    if calibration is not None and calibration["statistic"] != trust_statistic:
        raise ValueError(f"{reference_errors_path} calibrated the {calibration['statistic']} "
                         f"deviation, not the {trust_statistic}; re-run its reference_errors")
    return write_committee_file(output, model_paths, predictor, calibration,
                                errors["reference_runs"])
