"""The ML-versus-NEGF agreement criterion used in metrics.json."""

import math

from holstein.comparison import agreement


def test_five_percent_or_the_seed_spread_whichever_is_larger():
    negf = {"mean": 1.0, "std": 0.01, "n": 3}
    assert agreement({"mean": 1.049, "std": 0, "n": 3}, negf)["agrees"] is True
    assert agreement({"mean": 1.051, "std": 0, "n": 3}, negf)["agrees"] is False
    wide = {"mean": 1.0, "std": 0.2, "n": 3}  # spread larger than 5 %
    result = agreement({"mean": 1.15, "std": 0, "n": 3}, wide)
    assert result["agrees"] is True and math.isclose(result["tolerance"], 0.2)
    assert math.isclose(result["relative_difference"], 0.15)


def test_missing_values_give_no_verdict():
    nan = {"mean": math.nan, "std": math.nan, "n": 0}
    assert agreement(nan, {"mean": 1.0, "std": 0.0, "n": 2})["agrees"] is None


def test_a_vanishing_quantity_is_judged_on_the_given_scale():
    # insulating currents: NEGF 1e-6, ML -1e-3, read against a switched current of 0.2
    negf, ml = {"mean": 1e-6, "std": 1e-7, "n": 2}, {"mean": -1e-3, "std": 0, "n": 2}
    assert agreement(ml, negf)["agrees"] is False  # against 1e-6 itself: hopeless
    result = agreement(ml, negf, scale=0.2)
    assert result["agrees"] is True and math.isclose(result["relative_difference"],
                                                     1.001e-3 / 0.2)
