"""Overdamped Langevin (Brownian) lattice dynamics, Euler-Maruyama, with any force provider.

    Q(t+dt) = Q(t) + (dt/damping) F + sqrt(2 kT dt / damping) xi,   xi ~ N(0, 1)
    F_i     = F_el,i(Q; V) - K Q_i - kappa sum_{j nn i} Q_j

The electronic force comes from a provider (NEGF now, ML later) through
``provider.evaluate(q, bias)``; every other line is shared.  The random stream is a
numpy PCG64 generator seeded once, so a seed fixes the trajectory exactly; the
integrator's whole state (q, step, generator state) is exposed for checkpoints.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from .forces import ElectronicResponse, ForceProvider, elastic_force
from .lattice import Lattice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrownianParameters:
    """Lattice parameters of the Langevin dynamics (names as in config.yaml).

    K, kappa: elastic constants; temperature: bath kT; damping: the friction gamma
    of the overdamped Langevin equation; dt: time step.
    """

    K: float = 1.0
    kappa: float = 0.18
    temperature: float = 0.1
    damping: float = 0.2
    dt: float = 0.1

    def __post_init__(self) -> None:
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
                "Euler-Maruyama is unstable for the elastic stiffness; decrease dt to below "
                f"{2.0 * self.damping / stiff:g}"
            )

    @property
    def noise_amplitude(self) -> float:
        return float(np.sqrt(2.0 * self.temperature * self.dt / self.damping))


@dataclass
class Trajectory:
    """Snapshots recorded every ``stride`` steps (frame k is step ``steps[k]``).

    Fields that the provider does not supply (e.g. density of a force-only model)
    are None.  ``force`` is the electronic force (what a force field learns).
    """

    steps: np.ndarray
    times: np.ndarray
    q: np.ndarray
    force: np.ndarray
    density: np.ndarray | None = None
    bond_current_x: np.ndarray | None = None
    bond_current_y: np.ndarray | None = None
    current: np.ndarray | None = None
    seconds_per_step: float = float("nan")
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.steps)


class BrownianIntegrator:
    """Euler-Maruyama stepper holding (q, step, rng); seeded and reproducible."""

    def __init__(
        self,
        q0: np.ndarray,
        provider: ForceProvider,
        bias: float,
        params: BrownianParameters,
        seed: int,
    ) -> None:
        self.q = np.array(q0, dtype=float)
        Lattice.of(self.q)  # validates the shape
        self.provider = provider
        self.bias = float(bias)
        self.params = params
        self.step = 0
        self.rng = np.random.Generator(np.random.PCG64(seed))

    @property
    def time(self) -> float:
        return self.step * self.params.dt

    def electronic(self) -> ElectronicResponse:
        return self.provider.evaluate(self.q, self.bias)

    def advance(self, response: ElectronicResponse) -> None:
        """One Euler-Maruyama step from the current q with its electronic response."""
        p = self.params
        total = response.force + elastic_force(self.q, p.K, p.kappa)
        noise = self.rng.standard_normal(self.q.shape)
        self.q = self.q + (p.dt / p.damping) * total + p.noise_amplitude * noise
        self.step += 1

    def get_state(self) -> dict:
        return {"q": self.q.copy(), "step": self.step, "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.q = np.array(state["q"], dtype=float)
        self.step = int(state["step"])
        self.rng.bit_generator.state = state["rng"]


def run_brownian(
    q0: np.ndarray,
    provider: ForceProvider,
    bias: float,
    params: BrownianParameters,
    n_steps: int,
    seed: int,
    stride: int = 1,
    progress_every: float = 30.0,
) -> Trajectory:
    """Integrate n_steps from q0, recording frames at steps 0, stride, 2 stride, ... <= n_steps.

    Each frame holds q and the electronic response at that q (the one that moves
    it to the next step).  Progress is logged every ``progress_every`` seconds.
    """
    if n_steps < 0 or stride < 1:
        raise ValueError(f"n_steps={n_steps}, stride={stride}: need n_steps >= 0, stride >= 1")
    integ = BrownianIntegrator(q0, provider, bias, params, seed)
    frames: dict[str, list] = {k: [] for k in ("steps", "q", "force", "density", "bx", "by", "I")}
    t0 = last = time.perf_counter()
    for k in range(n_steps + 1):
        response = integ.electronic()
        if k % stride == 0:
            frames["steps"].append(k)
            frames["q"].append(integ.q.copy())
            frames["force"].append(response.force)
            frames["density"].append(response.density)
            frames["bx"].append(response.bond_current_x)
            frames["by"].append(response.bond_current_y)
            frames["I"].append(response.current)
        if k < n_steps:
            integ.advance(response)
        now = time.perf_counter()
        if now - last > progress_every:
            last = now
            log.info("step %d/%d (%.1f s elapsed, %.3f s/step)", k, n_steps, now - t0,
                     (now - t0) / (k + 1))
    elapsed = time.perf_counter() - t0

    def stack(values):
        return None if values[0] is None else np.stack(values)

    steps = np.array(frames["steps"])
    return Trajectory(
        steps=steps,
        times=steps * params.dt,
        q=np.stack(frames["q"]),
        force=np.stack(frames["force"]),
        density=stack(frames["density"]),
        bond_current_x=stack(frames["bx"]),
        bond_current_y=stack(frames["by"]),
        current=None if frames["I"][0] is None else np.array(frames["I"], dtype=float),
        seconds_per_step=elapsed / (n_steps + 1),
        meta={"bias": float(bias), "seed": int(seed), "stride": int(stride)},
    )
