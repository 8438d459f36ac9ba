"""Stage: the ML model's errors on the NEGF reference runs, the one place validation uses
a model.

The NEGF validation runs (held-out seeds at every validation bias, biases between the
training biases among them) were never seen in training.  On their exact configurations
the committee, driven by its configured predictor, is judged as ``holstein.ml.reference``
describes (force, device current, committee deviation).  What the committee adds to the
cost of a Brownian step is a measurement of the machine, not of the model:
benchmarks/committee_cost.py measures it.

Before any of this every member checkpoint's provenance is checked against the run's
training shards and its member's model configuration
(``holstein.ml.training.provenance.checked_members``): a model copied in from another run
is refused, naming what differs, instead of being validated.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from holstein.data.atomic import write_text_atomic
from holstein.ml.calibration import calibrate, judge
from holstein.ml.committee import CommitteeProvider, load_committee
from holstein.ml.committee_file import read_committee_file
from holstein.ml.reference import (
    committee_errors,
    read_reference_runs,
    reference_current,
    reference_force_rmse,
)
from holstein.ml.training.provenance import checked_members


def reference_errors(model_paths, shard_paths, hyper, negf_runs, negf_summaries,
                     output, predictor: str, trust_statistic: str,
                     calibration_source=None) -> dict:
    """Check the members' provenance, then write the committee's errors on the NEGF
    reference runs to ``output`` (JSON): ``reference_force_rmse``, ``reference_current``
    (of the ``predictor``), and ``committee`` (``committee_errors``; None for a committee
    of one) with its ``calibration``: the ``trust_statistic`` as an expected force error
    (``holstein.ml.calibration``), fitted on these runs, or, with ``calibration_source``
    (the committee file calibrated on the training lattice, ``holstein.ml.committee_file``),
    that one judged on these runs.

    ``model_paths``: the member checkpoints, member k at index k.  ``shard_paths`` and
    ``hyper`` (the validated ``model`` config section) are this run's training shards and
    model configuration; a member trained on anything else raises
    ``holstein.ml.training.provenance.ProvenanceError`` and nothing is written.
    """
    model_paths = checked_members(model_paths, shard_paths, hyper)
    runs = read_reference_runs(negf_runs, negf_summaries)
    if not runs:
        raise ValueError("no NEGF reference runs given")
    provider = load_committee(model_paths, expect=runs[0].meta["physics"],
                              predictor=predictor)
    committee = None
    if isinstance(provider, CommitteeProvider):
        committee = committee_errors(provider, runs)
        if calibration_source is None:
            committee["calibration"] = calibrate(committee["frames"], trust_statistic)
        else:
            source = read_committee_file(calibration_source)
            if source["member_paths"] != [str(Path(p).resolve()) for p in model_paths]:
                raise ValueError(f"{calibration_source} calibrates the members "
                                 f"{source['member_paths']}, not these: re-run its "
                                 "calibration")
            fitted = source["calibration"]
            if fitted is None or fitted["statistic"] != trust_statistic:
                raise ValueError(f"{calibration_source}: no calibration of the "
                                 f"{trust_statistic} deviation; re-run its calibration")
            committee["calibration"] = judge(committee["frames"], fitted)
    result = {
        "checkpoints": [str(p) for p in model_paths],
        "reference_runs": [Path(r.path).name for r in runs],
        "reference_force_rmse": reference_force_rmse(provider, runs),
        "reference_current": reference_current(provider, runs),
        "committee": committee,
    }
    write_text_atomic(output, json.dumps(result, indent=2, default=_plain))
    return result


def _plain(value):
    """JSON for numpy arrays and scalars."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return float(value)
