"""``TrainingParameters``: the schema's model section is its one source of defaults.

The dataclass's required fields are exactly the schema's model keys (a key added to one
and not the other fails here), the schema defaults make a valid parameter set, and an
unknown, missing or non-finite value is refused naming the key.
"""

from __future__ import annotations

import dataclasses

import pytest
from schema_defaults import local_training_parameters, model_defaults, training_parameters

from holstein.ml.members import COMMITTEE_KEYS, member_section
from holstein.ml.training.parameters import TrainingParameters


def test_required_fields_are_the_schema_keys():
    required = {f.name for f in dataclasses.fields(TrainingParameters)
                if f.default is dataclasses.MISSING}
    trained = member_section(model_defaults(), 0)  # the section less the committee keys
    assert required == set(trained) == set(model_defaults()) - set(COMMITTEE_KEYS)
    params = training_parameters()
    assert {k: getattr(params, k) for k in trained} == trained


def test_unknown_missing_and_bad_values_are_refused():
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['chanels'\]"):
        training_parameters(chanels=8)
    section = member_section(model_defaults(), 0)
    del section["bond_heads"]
    with pytest.raises(ValueError, match=r"lacks \['bond_heads'\].*schema"):
        TrainingParameters.from_mapping(section)
    with pytest.raises(ValueError, match="learning_rate = inf"):
        training_parameters(learning_rate=float("inf"))
    with pytest.raises(ValueError, match="cutoff = 2.5: give an integer"):
        training_parameters(cutoff=2.5)
    with pytest.raises(ValueError, match="bond_heads = 1: give true or false"):
        training_parameters(bond_heads=1)
    with pytest.raises(ValueError, match="cutoff = 1: the transport model needs a cutoff of 2"):
        training_parameters(kind="transport", bond_loss_weight=0.3, cutoff=1)
    with pytest.raises(ValueError, match="conductance_cutoff = None with cutoff = 2"):
        training_parameters(kind="transport", bond_loss_weight=0.3, cutoff=2,
                            conductance_cutoff=None)  # null: cutoff - 2 = 0 layers
    for layers in (0, 6):
        with pytest.raises(ValueError, match=f"conductance_cutoff = {layers} with cutoff = 6:"
                           r" give 1 .. 5"):
            training_parameters(kind="transport", bond_loss_weight=0.3, cutoff=6,
                                conductance_cutoff=layers)


def test_the_transport_models_stages_split_the_cutoff_as_configured():
    section = {"kind": "transport", "bond_loss_weight": 0.3, "cutoff": 6}
    assert training_parameters(**section, conductance_cutoff=None).architecture(
        True).conductance_cutoff == 4  # null: cutoff - 2
    assert training_parameters(**section, conductance_cutoff=3).architecture(
        True).conductance_cutoff == 3
    # a local model has no conductance stage: the key does not constrain it
    assert training_parameters(kind="local", cutoff=2, conductance_cutoff=2).cutoff == 2


def test_internal_knobs_resolve_against_the_configured_ones():
    params = local_training_parameters(channels=8, patience=9)
    arch = params.architecture(bond_heads=True)
    assert arch.head_channels == arch.bond_head_channels == 8
    assert params.lr_plateau_patience == 2 and params.max_bond_epochs == params.epochs
    wide = params.replace(head_channels=12, bond_epochs=5).architecture(bond_heads=False)
    assert wide.head_channels == wide.bond_head_channels == 12 and not wide.bond_heads
