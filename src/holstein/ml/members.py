"""The members of a committee of force fields: how many, and how each is trained.

The ``model`` section of the configuration describes the committee: ``committee`` members
(``model.committee``), each trained as its own job with the section's training parameters
except the seed, and the predictor that drives a run (``model.committee_predictor``, see
``holstein.ml.committee``).  Member k is trained with seed ``model.seed + k``: the seed
fixes its initial weights, its split of the training trajectories into fitted and
held-out ones (``holstein.ml.training_set.split_trajectories``) and its batch order, so members
differ in all three.  Member 0 is the single model a committee of one would train.

Only the member count and the predictor are committee settings; every other key of the
section is a training parameter (``TrainingParameters``).  This module imports no torch,
so that the workflow can use it when it parses the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Keys of the model section that describe the committee, not the training of a member.
COMMITTEE_KEYS = ("committee", "committee_predictor")
PREDICTORS = ("mean", "first")


def committee_size(section: Mapping[str, Any]) -> int:
    """The number of members of the validated ``model`` section (the schema's default
    lives in the schema only: an unvalidated section without it is refused)."""
    if "committee" not in section:
        raise KeyError("model.committee is missing: pass the model section validated "
                       "against workflow/schemas/config.schema.yaml (it fills the default)")
    size = int(section["committee"])
    if size < 1:
        raise ValueError(f"model.committee = {size}: a committee needs at least one member")
    return size


def member_seed(section: Mapping[str, Any], member: int) -> int:
    """The seed of member ``member`` (initial weights, split and batch order)."""
    return int(section["seed"]) + int(member)


# Keys only the transport network reads: a local model is the same whatever they say.
TRANSPORT_ONLY = ("conductance_cutoff",)


def member_section(section: Mapping[str, Any], member: int) -> dict[str, Any]:
    """The training parameters of one member: the ``model`` section without the committee
    keys, with the member's seed (what ``TrainingParameters.from_mapping`` takes); for a
    local model the transport-only keys are null, so that changing them retrains nothing.

    Raises ValueError for a member outside ``0 .. committee - 1``.
    """
    size = committee_size(section)
    if not 0 <= int(member) < size:
        raise ValueError(f"member {member}: the committee has members 0 .. {size - 1} "
                         "(model.committee)")
    params = {k: v for k, v in section.items() if k not in COMMITTEE_KEYS}
    params["seed"] = member_seed(section, member)
    if section.get("kind") == "local":
        params.update(dict.fromkeys(TRANSPORT_ONLY))
    return params


# How an active-learning iteration retrains its members (``active_learning.retrain``).
RETRAIN_STARTS = ("previous", "scratch")


def iteration_section(section: Mapping[str, Any], retrain: Mapping[str, Any],
                      iteration: int) -> dict[str, Any]:
    """The ``model`` section the members of an active-learning iteration are trained with.

    Iteration 0 (the pipeline's committee) and ``retrain.start: scratch`` train with
    ``section`` itself.  ``previous`` starts each member from the weights of the same
    member of iteration - 1 (DP-GEN's ``init model``) and trains it with the short
    schedule: at most ``retrain.epochs`` epochs from ``retrain.learning_rate``.
    """
    start = retrain["start"]
    if start not in RETRAIN_STARTS:
        raise ValueError(f"active_learning.retrain.start = {start!r}: give one of "
                         f"{list(RETRAIN_STARTS)}")
    if int(iteration) == 0 or start == "scratch":
        return dict(section)
    return {**section, "epochs": int(retrain["epochs"]),
            "learning_rate": float(retrain["learning_rate"])}
