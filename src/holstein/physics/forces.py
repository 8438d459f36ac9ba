"""Force providers: the one contract between electrons (NEGF or ML) and the lattice dynamics.

A force provider has ``electronic_force(q, bias) -> (Lx, Ly)`` and ``evaluate(q, bias,
observables=True) -> ElectronicResponse``; the latter also carries whatever electronic
observables the provider knows (density, bond currents, device current), so that one
solve per step serves both the force and the recorded snapshot.  ``observables=False``
says that only the force is needed (a step whose frame is not recorded): a provider may
then skip work (the ML bond heads); NEGF computes everything in one solve anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from holstein.device import negf_device
from holstein.physics.lattice import Lattice, check_bias_scheme
from holstein.physics.negf import METHODS, steady_state


@dataclass(frozen=True)
class ElectronicResponse:
    """Electronic force on every site plus the observables a provider can supply."""

    force: np.ndarray  # (Lx, Ly): -g (n_i - 1/2)
    density: np.ndarray | None = None  # (Lx, Ly)
    bond_current_x: np.ndarray | None = None  # (Lx-1, Ly)
    bond_current_y: np.ndarray | None = None  # (Lx, Ly)
    current: float | None = None  # device current, left electrode -> sample
    # a committee of force fields only: per-site standard deviation of the members' forces,
    # its maximum and mean over the sites
    force_deviation: np.ndarray | None = None  # (Lx, Ly)
    force_deviation_max: float | None = None
    force_deviation_mean: float | None = None


class ForceProvider(Protocol):
    def evaluate(self, q: np.ndarray, bias: float,
                 observables: bool = True) -> ElectronicResponse: ...

    def electronic_force(self, q: np.ndarray, bias: float) -> np.ndarray: ...


def elastic_force(q, K: float, kappa: float):
    """-K Q_i - kappa * sum over the nearest neighbours that exist (open x, periodic y).

    ``q``: an (Lx, Ly) numpy array or torch tensor; the result is of the same kind.
    """
    return -K * q - kappa * Lattice(*q.shape).neighbour_sum(q)


@dataclass(frozen=True)
class NEGFForceProvider:
    """Exact steady-state NEGF electronic forces (see holstein.physics.negf.steady_state)."""

    t: float
    g: float
    gamma: float
    temperature: float
    bias_scheme: str
    method: str
    # The resolved pipeline device ('cpu' or 'cuda'): a GPU solves the lattices where it
    # pays (holstein.device.negf_device), the CPU the others.
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_bias_scheme(self.bias_scheme)
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}: choose one of {METHODS}")

    def evaluate(self, q: np.ndarray, bias: float, observables: bool = True
                 ) -> ElectronicResponse:
        ss = steady_state(
            q,
            bias=bias,
            t=self.t,
            g=self.g,
            gamma=self.gamma,
            temperature=self.temperature,
            bias_scheme=self.bias_scheme,
            method=self.method,
            device=negf_device(self.device, q.size),
        )
        return ElectronicResponse(
            force=ss.electronic_force(self.g),
            density=ss.density,
            bond_current_x=ss.bond_current_x,
            bond_current_y=ss.bond_current_y,
            current=ss.current,
        )

    def electronic_force(self, q: np.ndarray, bias: float) -> np.ndarray:
        return self.evaluate(q, bias).force


def negf_provider(physics: dict, method: str, device: str = "cpu") -> NEGFForceProvider:
    """The exact NEGF provider of a ``physics`` section (``PHYSICS_KEYS``), solved with
    ``method`` on the resolved ``device``."""
    return NEGFForceProvider(
        t=physics["t"],
        g=physics["g"],
        gamma=physics["gamma"],
        temperature=physics["temperature"],
        bias_scheme=physics["bias_scheme"],
        method=method,
        device=device,
    )
