"""The pipeline schema's defaults for tests (``holstein.pipeline.defaults``), then overrides.

The package takes no defaults for the configured keys (the schema is their one place);
tests read them from the schema as the pipeline does.  ``DEFAULTS`` builds the NEGF
provider, the Langevin parameters, the checkerboard and the steady state of the default
physics; ``training_parameters`` the model's.
"""

from __future__ import annotations

from pathlib import Path

from holstein.ml.members import member_section
from holstein.ml.training.parameters import TrainingParameters
from holstein.pipeline.defaults import ConfigDefaults

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
DEFAULTS = ConfigDefaults.read(SCHEMA)


# The local (cutoff) network with bond heads on the frozen backbone
# (config/local_committee.yaml): what the tests of that network train.
LOCAL_MODEL = {"kind": "local", "bond_loss_weight": 0.0}


def model_defaults() -> dict:
    return dict(DEFAULTS.config["model"])


def local_model_defaults() -> dict:
    return {**model_defaults(), **LOCAL_MODEL}


def training_parameters(**overrides) -> TrainingParameters:
    """The schema's model defaults for member 0 of the committee (the training parameters,
    without the committee keys) with ``overrides`` (internal knobs allowed too)."""
    return TrainingParameters.from_mapping({**member_section(model_defaults(), 0),
                                            **overrides})


def local_training_parameters(**overrides) -> TrainingParameters:
    """``training_parameters`` of the local network (``LOCAL_MODEL``)."""
    return training_parameters(**{**LOCAL_MODEL, **overrides})
