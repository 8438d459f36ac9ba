"""Errors against a reference (``holstein.ml.metrics``) and the Kirchhoff spread they use.

* ``evaluate_rmse`` of the NEGF provider against its own forces is exactly 0, per bias.
* ``kirchhoff_spread`` of exact NEGF bond currents is ~0 (1e-10 relative) and positive
  once one bond is perturbed.
"""

from __future__ import annotations

import numpy as np
import pytest
from schema_defaults import DEFAULTS
from synthetic import PHYSICS

from holstein.ml.metrics import evaluate_rmse
from holstein.physics.observables import device_current, kirchhoff_spread


def test_evaluate_rmse_is_zero_for_the_reference_itself():
    negf = DEFAULTS.negf_provider(**{k: PHYSICS[k] for k in ("t", "g", "gamma", "temperature",
                                                        "bias_scheme")})
    rng = np.random.default_rng(9)
    q = rng.standard_normal((3, 4, 3))
    bias = np.array([0.5, 0.5, 2.0])
    force = np.stack([negf.electronic_force(qi, b) for qi, b in zip(q, bias, strict=True)])
    result = evaluate_rmse(negf, {"q": q, "bias": bias, "force": force})
    assert [r["bias"] for r in result["per_bias"]] == [0.5, 2.0]
    assert result["max_relative_rmse"] == 0.0
    assert result["per_bias"][0]["force_std"] == pytest.approx(np.std(force[:2]))


def test_kirchhoff_spread_of_negf_bond_currents():
    q = 0.8 * np.random.default_rng(12).standard_normal((6, 4))
    ss = DEFAULTS.steady_state(q, 1.5, method="exact")
    assert abs(ss.current) > 1e-2
    assert kirchhoff_spread(ss.bond_current_x) < 1e-10 * abs(ss.current)
    assert device_current(ss.bond_current_x) == pytest.approx(ss.current, rel=1e-10)
    perturbed = ss.bond_current_x.copy()
    perturbed[2, 1] += 0.01 * abs(ss.current)
    assert kirchhoff_spread(perturbed) == pytest.approx(0.01 * abs(ss.current), rel=1e-6)
