"""The training parameters of an active-learning iteration's members
(``holstein.ml.members.iteration_section``), against the schema's defaults."""

from __future__ import annotations

import pytest
from schema_defaults import DEFAULTS, model_defaults

from holstein.ml.members import iteration_section, member_section
from holstein.ml.training.parameters import TrainingParameters


def retrain_defaults() -> dict:
    return dict(DEFAULTS.config["active_learning"]["retrain"])


def test_a_warm_started_iteration_trains_with_the_short_schedule_only():
    model, retrain = model_defaults(), retrain_defaults()
    assert retrain["start"] == "previous"
    warm = iteration_section(model, retrain, 1)
    assert warm["epochs"] == retrain["epochs"] < model["epochs"]
    assert warm["learning_rate"] == retrain["learning_rate"] < model["learning_rate"]
    changed = {k for k in model if warm[k] != model[k]}
    assert changed == {"epochs", "learning_rate"}
    TrainingParameters.from_mapping({k: v for k, v in warm.items()
                                     if k not in ("committee", "committee_predictor")})


def test_the_pipelines_committee_and_a_scratch_retraining_use_the_model_section():
    model, retrain = model_defaults(), retrain_defaults()
    assert iteration_section(model, retrain, 0) == model
    assert iteration_section(model, {**retrain, "start": "scratch"}, 3) == model


def test_an_unknown_start_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"retrain.start = 'warm'.*'previous', 'scratch'"):
        iteration_section(model_defaults(), {**retrain_defaults(), "start": "warm"}, 1)


def test_a_local_members_section_ignores_the_transport_only_keys():
    local = {**model_defaults(), "kind": "local", "bond_loss_weight": 0.0}
    assert member_section({**local, "conductance_cutoff": 1}, 0) == member_section(
        {**local, "conductance_cutoff": 3}, 0)
    assert member_section(local, 0)["conductance_cutoff"] is None
    transport = model_defaults()
    assert member_section({**transport, "conductance_cutoff": 1}, 0)["conductance_cutoff"] == 1
