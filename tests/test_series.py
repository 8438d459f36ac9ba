"""The layout of an analysed time series (``holstein.data.series``)."""

import numpy as np
import pandas as pd
import pytest

from holstein.data.series import profile, profile_columns


def test_profile_columns_name_every_x():
    assert profile_columns(3) == ["phi_0", "phi_1", "phi_2"]


def test_profile_is_ordered_by_x_whatever_the_column_order():
    values = np.arange(24.0).reshape(2, 12)
    frame = pd.DataFrame(values, columns=profile_columns(12))
    shuffled = frame[sorted(frame.columns, reverse=True)].assign(time=[0.0, 1.0])
    np.testing.assert_array_equal(profile(shuffled), values)


def test_a_table_with_a_gap_or_no_profile_is_refused():
    frame = pd.DataFrame({"phi_0": [1.0], "phi_2": [0.5], "time": [0.0]})
    with pytest.raises(ValueError, match=r"x = \[0, 2\]"):
        profile(frame)
    with pytest.raises(ValueError, match="profile columns"):
        profile(pd.DataFrame({"time": [0.0]}))
