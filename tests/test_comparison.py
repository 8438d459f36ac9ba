"""The paired ML-versus-NEGF verdict of metrics.json (``holstein.report.comparison``).

* The interval is Student's t over the seed pairs, checked against scipy's own
  ``t.interval`` and against a hand computation; it shrinks as 1/sqrt(n) with more seeds
  of the same spread, and it does not widen with the NEGF seed spread (the pairing
  removes the noise both runs share).
* Verdicts: equivalent inside the margin, differs wholly outside, unresolved across an
  edge, with the seeds that would resolve it; one pair gives no interval.
* The pairing is by seed, not by order: shuffling the ML runs' seeds changes the interval.
* A wrong model is caught where the old rule (within 5 % or within the NEGF seed spread)
  passed it: 10 % off with a 30 % seed spread.
"""

import math

import numpy as np
import pytest
from scipy import stats

from holstein.report.comparison import paired_difference, seeds_needed, verdict

MARGIN = 0.05


def test_the_interval_is_students_t_over_the_pairs():
    negf = {1: 1.0, 2: 2.0, 3: 1.5, 4: 1.2}
    ml = {1: 1.05, 2: 2.02, 3: 1.56, 4: 1.19}
    result = paired_difference(ml, negf, MARGIN)
    d = np.array([ml[s] - negf[s] for s in sorted(negf)]) / np.mean(list(negf.values()))
    low, high = stats.t.interval(0.9, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert result["differences"] == pytest.approx(list(d), abs=1e-15)
    assert result["interval"] == pytest.approx([low, high], abs=1e-14)
    assert result["standard_error"] == pytest.approx(stats.sem(d))
    assert result["n"] == 4 and result["scale"] == pytest.approx(1.425)


def test_the_interval_shrinks_with_the_seeds_not_with_the_thermal_spread():
    """ML - NEGF alternates 1 % and 3 % of the NEGF mean, whatever the NEGF spread."""
    rng = np.random.default_rng(0)
    widths = {}
    for spread in (0.05, 0.4):
        for n in (4, 16, 64):
            values = 1 + spread * rng.standard_normal(n)
            negf = dict(enumerate(values))
            ml = {s: v + values.mean() * (0.02 + 0.01 * (-1) ** s) for s, v in negf.items()}
            low, high = paired_difference(ml, negf, MARGIN)["interval"]
            widths[spread, n] = high - low
            expected = 2 * stats.t.ppf(0.95, n - 1) * np.std([0.03, 0.01] * (n // 2),
                                                             ddof=1) / math.sqrt(n)
            assert widths[spread, n] == pytest.approx(expected, rel=1e-9)
    assert widths[0.4, 16] < widths[0.4, 4] / 2 and widths[0.4, 64] < widths[0.4, 16] / 2
    assert widths[0.4, 64] == pytest.approx(widths[0.05, 64], rel=1e-9)


@pytest.mark.parametrize(("low", "high", "expected"), [
    (-0.03, 0.04, "equivalent"), (0.06, 0.2, "differs"), (-0.3, -0.051, "differs"),
    (0.01, 0.07, "unresolved"), (-0.08, 0.08, "unresolved"), (-0.05, 0.0, "unresolved"),
])
def test_verdicts_against_the_margin(low, high, expected):
    assert verdict(low, high, MARGIN) == expected


def test_an_unresolved_quantity_says_how_many_seeds_would_resolve_it():
    negf = {s: 1.0 + 0.1 * s for s in range(3)}
    ml = {s: v * (1.02 + 0.03 * (-1) ** s) for s, v in negf.items()}
    result = paired_difference(ml, negf, MARGIN)
    assert result["verdict"] == "unresolved"
    n = result["seeds_needed"]
    assert n is not None and n > 3
    # at the observed mean and spread, n seeds clear the margin and n - 1 do not
    width = stats.t.ppf(0.95, n - 1) * result["sd"] / math.sqrt(n)
    narrower = stats.t.ppf(0.95, n - 2) * result["sd"] / math.sqrt(n - 1)
    distance = abs(abs(result["mean"]) - MARGIN)
    assert width < distance <= narrower
    assert seeds_needed(0.05, 0.01, MARGIN) is None  # the mean on the margin: never


def test_one_seed_pair_gives_no_interval():
    result = paired_difference({7: 1.5}, {7: 1.0}, MARGIN)
    assert result["verdict"] == "unresolved" and result["seeds_needed"] is None
    assert result["mean"] == pytest.approx(0.5) and math.isnan(result["interval"][1])


def test_only_seeds_both_providers_ran_are_paired():
    result = paired_difference({1: 1.0, 2: 1.1, 3: None, 5: 2.0},
                               {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}, MARGIN)
    assert result["seeds"] == [1, 2] and result["n"] == 2


def test_the_pairing_is_by_seed_not_by_order():
    rng = np.random.default_rng(1)
    negf = {s: 1 + 0.3 * rng.standard_normal() for s in range(6)}
    ml = {s: v * 1.01 for s, v in negf.items()}
    paired = paired_difference(ml, negf, MARGIN)
    seeds = list(ml)
    shuffled = dict(zip(seeds, [ml[s] for s in np.roll(seeds, 1)], strict=True))
    mixed = paired_difference(shuffled, negf, MARGIN)
    assert paired["verdict"] == "equivalent"
    width = paired["interval"][1] - paired["interval"][0]
    assert mixed["interval"][1] - mixed["interval"][0] > 10 * width
    assert mixed["verdict"] != "equivalent"


def test_a_wrong_model_that_the_old_rule_passed_differs():
    """ML 10 % too fast on every seed, NEGF seeds spread by 30 %: 'within the NEGF seed
    spread' accepted it; the paired interval puts it wholly outside 5 %."""
    rng = np.random.default_rng(2)
    negf = {s: 0.05 * (1 + 0.3 * rng.standard_normal()) for s in range(6)}
    ml = {s: 1.10 * v for s, v in negf.items()}
    values = np.array(list(negf.values()))
    old_rule_passes = abs(np.mean(list(ml.values())) - values.mean()) <= max(
        0.05 * values.mean(), values.std(ddof=1))
    assert old_rule_passes
    assert paired_difference(ml, negf, MARGIN)["verdict"] == "differs"


def test_a_vanishing_quantity_is_judged_on_the_given_scale():
    # insulating currents: NEGF 1e-6, ML -1e-3, read against a switched current of 0.2
    negf, ml = {1: 1e-6, 2: 1.2e-6}, {1: -1e-3, 2: -1.1e-3}
    assert paired_difference(ml, negf, MARGIN)["verdict"] == "differs"
    on_scale = paired_difference(ml, negf, MARGIN, scale=0.2)
    assert on_scale["mean"] == pytest.approx((-1.05e-3 - 1.1e-6) / 0.2)
