"""Stage: the numbers of one active-learning iteration (holstein.ml.active_learning)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from holstein.data.atomic import write_text_atomic
from holstein.data.io import read_trajectory
from holstein.ml.active_learning import negf_solves
from holstein.ml.calibration import calibrate
from holstein.ml.committee import CommitteeProvider, load_committee
from holstein.ml.reference import ReferenceRun, committee_errors, reference_force_rmse


def iteration_metrics(iteration: int, model_paths, predictor: str, trust_statistic: str,
                      training_shards, label_shards, new_labels, selection_stats, negf_runs,
                      output) -> dict:
    """The numbers of one iteration (holstein.ml.active_learning), written to ``output`` (JSON).

    ``label_shards``: every label shard the iteration's committee was trained on;
    ``new_labels``: those labelled in this iteration; ``selection_stats``: the JSON of
    the iteration's selection (None for iteration 0); ``negf_runs``: the NEGF reference
    runs (held out from everything the loop labels).  ``reference_deviation``: how the
    iteration's ``trust_statistic`` ranks the frames' true force errors on those runs
    (Spearman) and its calibration into an expected force error
    (``holstein.ml.calibration.calibrate``): a scale that drifts from iteration to
    iteration says that fixed trust levels mean another expected error in each.
    """
    runs = []
    for path in negf_runs:
        arrays, meta = read_trajectory(path)
        runs.append(ReferenceRun(str(path), arrays, meta, {}))
    provider = load_committee(list(model_paths), expect=runs[0].meta["physics"],
                              predictor=predictor)
    deviation = None
    if isinstance(provider, CommitteeProvider):
        errors = committee_errors(provider, runs)
        column = f"{trust_statistic}_deviation"
        deviation = {"trust_statistic": trust_statistic,
                     "spearman": errors[f"spearman_{column}"],
                     f"median_{column}": float(np.median(errors["frames"][column])),
                     "calibration": calibrate(errors["frames"], trust_statistic)}
    seed_set = negf_solves(training_shards)
    labels = negf_solves(label_shards) if label_shards else {"negf_solves": 0, "frames": 0}
    result = {
        "iteration": int(iteration),
        "members": len(list(model_paths)),
        "new_labels": negf_solves(new_labels)["frames"] if new_labels else 0,
        "labels": labels["frames"],
        "seed_set": seed_set,
        "negf_solves_for_training": seed_set["negf_solves"] + labels["negf_solves"],
        "training_frames": seed_set["frames"] + labels["frames"],
        "exploration": (None if selection_stats is None
                        else json.loads(Path(selection_stats).read_text())),
        "reference_force_rmse": reference_force_rmse(provider, runs),
        "reference_deviation": deviation,
    }
    write_text_atomic(output, json.dumps(result, indent=2, default=float))
    return result
