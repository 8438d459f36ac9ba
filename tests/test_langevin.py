"""The Langevin parameters: their stability checks, the config mapping, and no torch."""

import subprocess
import sys

import pytest
from schema_defaults import DEFAULTS

from holstein.physics.langevin import INTEGRATORS, brownian_parameters


def test_unstable_time_step_is_rejected_before_running():
    for integrator in INTEGRATORS:
        with pytest.raises(ValueError, match=f"{integrator} is unstable.*decrease dt"):
            DEFAULTS.brownian(K=1.0, kappa=0.18, damping=0.2, dt=0.3, integrator=integrator)
    with pytest.raises(ValueError, match="leimkuhler-matthews"):
        DEFAULTS.brownian(integrator="leimkuhler_matthews")
    with pytest.raises(ValueError, match="damping"):
        DEFAULTS.brownian(damping=0.0)
    with pytest.raises(ValueError, match="elastically unstable"):
        DEFAULTS.brownian(K=0.5, kappa=0.2)


def test_the_stability_bound_is_dt_over_damping_times_the_stiffest_mode_below_2():
    stiff = 1.0 + 4 * 0.18
    bound = 2.0 * 0.2 / stiff
    DEFAULTS.brownian(K=1.0, kappa=0.18, damping=0.2, dt=bound * (1 - 1e-9))
    with pytest.raises(ValueError, match="unstable"):
        DEFAULTS.brownian(K=1.0, kappa=0.18, damping=0.2, dt=bound * (1 + 1e-9))


def test_config_sections_map_onto_the_parameters():
    physics = {"t": 1.0, "g": 1.5, "K": 1.2, "kappa": -0.1, "gamma": 1.0,
               "temperature": 0.05, "bias_scheme": "gated"}
    dynamics = {"damping": 0.3, "dt": 0.05, "integrator": "euler-maruyama", "q_bound": 20.0}
    params = brownian_parameters(physics, dynamics)
    assert params == DEFAULTS.brownian(K=1.2, kappa=-0.1, temperature=0.05, damping=0.3,
                                        dt=0.05, integrator="euler-maruyama")
    assert params.noise_amplitude == pytest.approx((2 * 0.05 * 0.05 / 0.3) ** 0.5, rel=1e-15)


def test_checking_parameters_loads_no_torch():
    code = ("import sys; from holstein.physics.langevin import BrownianParameters; "
            "BrownianParameters(1.0, 0.18, 0.1, 0.2, 0.1, 'euler-maruyama'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "False"
