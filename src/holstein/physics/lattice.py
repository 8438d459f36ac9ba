"""Lattice geometry and model parameters of the Holstein sample between two electrodes.

Site (x, y), x in [0, Lx) runs from the left electrode (column x = 0) to the right
electrode (column x = Lx - 1) with open ends; y in [0, Ly) is periodic.  Sites are
flattened as ``i = x * Ly + y`` everywhere (C order of an ``(Lx, Ly)`` array).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BIAS_SCHEMES = ("gated", "symmetric")
# The physical parameters that fix the electronic force (config.yaml section physics).
PHYSICS_KEYS = ("t", "g", "K", "kappa", "gamma", "temperature", "bias_scheme")


@dataclass(frozen=True)
class Lattice:
    """An Lx x Ly lattice, open along x (between the electrodes), periodic along y."""

    Lx: int
    Ly: int

    def __post_init__(self) -> None:
        if int(self.Lx) != self.Lx or self.Lx < 2:
            raise ValueError(f"Lx={self.Lx}: need an integer Lx >= 2 (one column per electrode)")
        # Ly = 2 would make y+1 and y-1 the same site and double every y bond.
        if int(self.Ly) != self.Ly or self.Ly < 1 or self.Ly == 2:
            raise ValueError(f"Ly={self.Ly}: need Ly = 1 (a chain) or Ly >= 3 (periodic ring)")

    @classmethod
    def of(cls, q: np.ndarray) -> Lattice:
        if q.ndim != 2:
            raise ValueError(f"lattice configuration must be a 2-d (Lx, Ly) array, got {q.shape}")
        return cls(*q.shape)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.Lx, self.Ly)

    @property
    def n_sites(self) -> int:
        return self.Lx * self.Ly

    def bonds_x(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat site indices (i, j) of the x bonds, j = (x+1, y); order of an (Lx-1, Ly) array."""
        x, y = np.meshgrid(np.arange(self.Lx - 1), np.arange(self.Ly), indexing="ij")
        return (x * self.Ly + y).ravel(), ((x + 1) * self.Ly + y).ravel()

    def bonds_y(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat site indices (i, j) of the y bonds, j = (x, y+1 mod Ly); order of (Lx, Ly).

        Empty for Ly = 1 (a chain has no y bonds).
        """
        if self.Ly == 1:
            empty = np.zeros(0, dtype=int)
            return empty, empty
        x, y = np.meshgrid(np.arange(self.Lx), np.arange(self.Ly), indexing="ij")
        return (x * self.Ly + y).ravel(), (x * self.Ly + (y + 1) % self.Ly).ravel()

    def adjacency(self) -> np.ndarray:
        """Dense symmetric nearest-neighbour adjacency matrix (n_sites x n_sites)."""
        a = np.zeros((self.n_sites, self.n_sites))
        for i, j in (self.bonds_x(), self.bonds_y()):
            a[i, j] = 1.0
            a[j, i] = 1.0
        return a

    def neighbour_sum(self, q):
        """Sum of q over the nearest neighbours that exist (open in x, periodic in y).

        ``q``: an (Lx, Ly) numpy array or torch tensor (the dynamics on a GPU uses the
        same lines); the result is of the same kind.
        """
        s = q * 0
        s[1:] += q[:-1]
        s[:-1] += q[1:]
        if self.Ly > 1:
            if isinstance(q, np.ndarray):
                s += np.roll(q, 1, axis=1) + np.roll(q, -1, axis=1)
            else:
                s += q.roll(1, 1) + q.roll(-1, 1)
        return s

    def staggered_sign(self) -> np.ndarray:
        """(-1)^(x+y) as an (Lx, Ly) float array."""
        x, y = np.meshgrid(np.arange(self.Lx), np.arange(self.Ly), indexing="ij")
        return np.where((x + y) % 2 == 0, 1.0, -1.0)

    def lead_sites(self, side: str) -> np.ndarray:
        """Flat indices of the column coupled to the left ('L', x = 0) or right ('R') lead."""
        x = {"L": 0, "R": self.Lx - 1}[side]
        return x * self.Ly + np.arange(self.Ly)


def check_bias_scheme(bias_scheme: str) -> None:
    if bias_scheme not in BIAS_SCHEMES:
        raise ValueError(f"bias_scheme={bias_scheme!r}: choose one of {BIAS_SCHEMES}")


def chemical_potentials(bias: float, bias_scheme: str = "gated") -> tuple[float, float]:
    """(mu_L, mu_R) for a bias V: gated mu_L = V, mu_R = 0; symmetric +-V/2."""
    check_bias_scheme(bias_scheme)
    if bias_scheme == "gated":
        return float(bias), 0.0
    return 0.5 * float(bias), -0.5 * float(bias)


def cdw_amplitude(g: float, K: float, kappa: float) -> float:
    stiffness = K - 4.0 * kappa  # stiffness of the staggered (pi, pi) mode
    if stiffness <= 0:
        raise ValueError(f"K - 4 kappa = {stiffness} <= 0: the lattice is elastically unstable")
    return g / (2.0 * stiffness)


def checkerboard(Lx: int, Ly: int, g: float, K: float, kappa: float):
    """Perfect CDW start Q = +-g / (2 (K - 4 kappa)) with sign (-1)^(x+y)."""
    return cdw_amplitude(g, K, kappa) * Lattice(Lx, Ly).staggered_sign()


def hamiltonian(q: np.ndarray, t: float, g: float) -> np.ndarray:
    """Single-particle Hamiltonian h = -t A + g diag(Q) (the -gQ/2 constant is dropped)."""
    lat = Lattice.of(q)
    return -t * lat.adjacency() + np.diag(g * q.ravel())
