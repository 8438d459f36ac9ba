"""The parameters of the overdamped Langevin lattice dynamics, and their stability checks.

``BrownianParameters`` holds the elastic constants, the bath and the integrator
(holstein.physics.dynamics runs them); ``brownian_parameters`` reads them from the config
sections ``physics`` and ``dynamics``.  This module imports neither torch nor the
integrator, so the workflow checks a configuration without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INTEGRATORS = ("euler-maruyama", "leimkuhler-matthews")


@dataclass(frozen=True)
class BrownianParameters:
    """Lattice parameters of the Langevin dynamics (names as in config.yaml).

    K, kappa: elastic constants; temperature: bath kT; damping: the friction gamma
    of the overdamped Langevin equation; dt: time step; integrator: one of
    ``INTEGRATORS`` (the docstring of holstein.physics.dynamics describes both); noise_substeps:
    each step's normal is the normalised sum of this many draws of the stream, so that a
    run at dt with m substeps and a run at dt / m with 1 feel the same Brownian path (the
    coupling of a time-step check).
    """

    K: float
    kappa: float
    temperature: float
    damping: float
    dt: float
    integrator: str
    noise_substeps: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.noise_substeps, int) and self.noise_substeps >= 1):
            raise ValueError(f"noise_substeps={self.noise_substeps!r}: need an integer >= 1")
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"integrator={self.integrator!r}: choose one of {INTEGRATORS}")
        if not self.damping > 0:
            raise ValueError(f"damping={self.damping}: must be > 0")
        if not self.dt > 0:
            raise ValueError(f"dt={self.dt}: must be > 0")
        if not self.temperature >= 0:
            raise ValueError(f"temperature={self.temperature}: must be >= 0")
        # Elastic normal-mode stiffnesses lie in [K - 4|kappa|, K + 4|kappa|]
        # (the adjacency spectrum of the open/periodic square lattice is inside [-4, 4]).
        soft, stiff = self.K - 4 * abs(self.kappa), self.K + 4 * abs(self.kappa)
        if soft <= 0:
            raise ValueError(
                f"K - 4|kappa| = {soft:g} <= 0: the lattice is elastically unstable; "
                "increase K or decrease kappa"
            )
        if self.dt / self.damping * stiff >= 2.0:
            raise ValueError(
                f"dt/damping * (K + 4|kappa|) = {self.dt / self.damping * stiff:g} >= 2: "
                f"{self.integrator} is unstable for the elastic stiffness; decrease dt to below "
                f"{2.0 * self.damping / stiff:g}"
            )

    @property
    def noise_amplitude(self) -> float:
        """Standard deviation of the random displacement of one step (both schemes)."""
        return float(np.sqrt(2.0 * self.temperature * self.dt / self.damping))


def brownian_parameters(physics: dict, dynamics: dict) -> BrownianParameters:
    """The Langevin parameters of config sections ``physics`` and ``dynamics``."""
    return BrownianParameters(
        K=physics["K"],
        kappa=physics["kappa"],
        temperature=physics["temperature"],
        damping=dynamics["damping"],
        dt=dynamics["dt"],
        integrator=dynamics["integrator"],
        **({"noise_substeps": int(dynamics["noise_substeps"])}
           if "noise_substeps" in dynamics else {}),
    )
