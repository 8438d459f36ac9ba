"""Training parameters for tests: the pipeline schema's ``model`` defaults, then overrides.

The package takes no defaults for the configured keys (the schema is their one place);
tests read them from the schema as the pipeline does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from holstein.ml.members import member_section
from holstein.ml.training.parameters import TrainingParameters

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@cache
def model_defaults() -> dict:
    schema = yaml.safe_load(SCHEMA.read_text())
    return {k: v["default"] for k, v in schema["properties"]["model"]["properties"].items()}


def training_parameters(**overrides) -> TrainingParameters:
    """The schema's model defaults for member 0 of the committee (the training parameters,
    without the committee keys) with ``overrides`` (internal knobs allowed too)."""
    return TrainingParameters.from_mapping({**member_section(model_defaults(), 0),
                                            **overrides})
