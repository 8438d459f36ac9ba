"""Stage: the ML model's errors on the NEGF reference runs, the one place validation uses
a model.

The NEGF validation runs (held-out seeds at every validation bias, biases between the
training biases among them) were never seen in training.  On their exact configurations
the committee, driven by its configured predictor, is judged as ``holstein.ml.reference``
describes (force, device current, committee deviation); and what the committee adds to
the cost of a Brownian step is measured (``committee_step_cost``).

Before any of this every member checkpoint's provenance is checked against the run's
training shards and its member's model configuration
(``holstein.ml.training.provenance.checked_members``): a model copied in from another run
is refused, naming what differs, instead of being validated.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np

from holstein.data.atomic import write_text_atomic
from holstein.ml.committee import CommitteeProvider, load_committee
from holstein.ml.provider import MLForceProvider
from holstein.ml.reference import (
    ReferenceRun,
    committee_errors,
    read_reference_runs,
    reference_current,
    reference_force_rmse,
)
from holstein.ml.training.provenance import checked_members
from holstein.physics.dynamics import run_brownian
from holstein.physics.langevin import brownian_parameters


def committee_step_cost(provider: CommitteeProvider, run: ReferenceRun, n_steps: int = 300,
                        repeats: int = 5) -> dict:
    """Seconds per Brownian step (the integration loop) of member 0 alone and of the
    committee with each predictor, from the start of ``run`` with its dynamics and its
    stride (the deviation on the recorded frames only); the three alternate, ``repeats``
    times, and the medians are compared: ``added_fraction`` = committee / member 0 - 1.

    Wall-clock timings in the job: on shared cores they carry the machine's noise
    (benchmarks/committee_cost.py measures the same on a quiet machine).
    """
    meta = run.meta
    params = brownian_parameters(meta["physics"], meta["dynamics"])
    stride = int(meta["stride"])
    q0, bias = np.array(run.arrays["q"][0]), float(meta["bias"])
    single = MLForceProvider(provider.members[0], provider.physics)
    candidates = {"single": single,
                  **{p: CommitteeProvider(provider.members, provider.physics, predictor=p)
                     for p in ("mean", "first")}}
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats + 1):  # the first round warms up
        for name, candidate in candidates.items():
            t0 = time.perf_counter()
            run_brownian(q0, candidate, bias, params, n_steps, seed=0, stride=stride)
            times[name].append((time.perf_counter() - t0) / (n_steps + 1))
    medians = {name: statistics.median(values[1:]) for name, values in times.items()}
    return {
        "seconds_per_step": medians,
        "added_fraction": {p: medians[p] / medians["single"] - 1 for p in ("mean", "first")},
        "configured_predictor": provider.predictor,
        "lattice": list(q0.shape),
        "stride": stride,
        "n_steps": n_steps,
        "repeats": repeats,
    }


def reference_errors(model_paths, shard_paths, hyper, negf_runs, negf_summaries,
                     output, predictor: str = "mean") -> dict:
    """Check the members' provenance, then write the committee's errors on the NEGF
    reference runs to ``output`` (JSON): ``reference_force_rmse``, ``reference_current``
    (of the ``predictor``), and ``committee`` (``committee_errors`` and, under
    ``cost``, ``committee_step_cost``; None for a committee of one).

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
        committee = {**committee_errors(provider, runs),
                     "cost": committee_step_cost(provider, sorted(runs, key=lambda r: r.path)[0])}
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
