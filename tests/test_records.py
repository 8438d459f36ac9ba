"""The registry of recorded fields agrees with every place that holds them."""

import dataclasses

from holstein.data.records import (
    FRAME_FIELDS,
    LATTICE_FIELDS,
    OPTIONAL_FIELDS,
    Trajectory,
    field_shape,
)
from holstein.physics.forces import ElectronicResponse


def test_every_frame_field_is_a_trajectory_attribute():
    names = {f.name for f in dataclasses.fields(Trajectory)}
    assert set(FRAME_FIELDS) <= names


def test_a_provider_response_carries_exactly_the_optional_fields():
    assert {f.name for f in dataclasses.fields(ElectronicResponse)} == set(OPTIONAL_FIELDS)


def test_shapes_on_a_lattice():
    assert field_shape("q", 7, 6) == (7, 6)
    assert field_shape("bond_current_x", 7, 6) == (6, 6)
    assert field_shape("current", 7, 6) == ()
    assert "current" not in LATTICE_FIELDS and "q" in LATTICE_FIELDS
