"""Steady-state nonequilibrium Green's functions of the sample between wide-band leads.

For a frozen lattice configuration Q the retarded Green's function is
``G^r(e) = [e - H_eff]^-1`` with the energy-independent non-Hermitian
``H_eff = h(Q) - (i/2)(Gamma_L + Gamma_R)`` (wide-band limit).  Because the
self-energy does not depend on energy, every energy integral has a closed form
in the eigen-decomposition ``H_eff = V diag(lam) W`` (``W = V^-1``):

    rho = sum_a int de/2pi f_a(e) G^r Gamma_a G^a = V K V^+,
    K_mn = sum_a (W Gamma_a W^+)_mn  I^a_mn / (2 pi (lam_m - conj lam_n)),
    I^a_mn = p^a_m - conj(p^a_n) - i pi,
    p^a_m = digamma(1/2 + i beta (lam_m - mu_a) / 2 pi)       (kT > 0)
          = log(i (lam_m - mu_a))                               (kT = 0).

(derivation: partial fractions of 1/((e - lam_m)(e - conj lam_n)) and the Binet
integral for the Fermi function; the denominators never vanish because every
Im lam_m < 0, so degenerate eigenvalues need no special care in K.)

rho_ij = <c_j^+ c_i>; density n_i = rho_ii; particle current on the bond i -> j is
J_ij = -2 h_ij Im rho_ji = 2 t Im <c_i^+ c_j>; the device current is Landauer's
formula in the same closed form.

Why no energy grid at all: in a CDW with a metallic layer at the gated electrode
the resonances inside the bias window are extremely narrow (40 x 30, bias 4,
gamma = 1: hundreds in the window, widths down to 1e-6 .. 1e-8 depending on the
configuration; benchmarks/negf_speed.py prints them); any quadrature along the
real axis misses or mis-weights them, while the closed form integrates each one
exactly.

Two methods share this closed form and differ only in how the left eigenvectors
W are obtained:

* ``exact``: ``W = inv(V)`` (LU of the eigenvector matrix).
* ``fast`` (default): H_eff is complex *symmetric* (h real symmetric, Gamma
  diagonal), so left eigenvectors are transposed right eigenvectors,
  ``W = D^-1 V^T`` with ``D = V^T V`` block diagonal.  Eigenvectors of distinct
  eigenvalues are complex-orthogonal; inside a cluster of (nearly) degenerate
  eigenvalues (Q = 0 has many) ``D`` has off-diagonal blocks that are inverted
  cluster by cluster.  This replaces an O(N^3) inverse by O(N^2) work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.special import digamma

from .lattice import Lattice, chemical_potentials, hamiltonian

METHODS = ("fast", "exact")


@dataclass(frozen=True)
class SteadyState:
    """Steady-state electronic observables of one lattice configuration (e = hbar = 1)."""

    density: np.ndarray  # (Lx, Ly) occupation n_i
    current: float  # particle current from the left electrode into the sample (Landauer)
    bond_current_x: np.ndarray  # (Lx-1, Ly): (x, y) -> (x+1, y), positive towards +x
    bond_current_y: np.ndarray  # (Lx, Ly): (x, y) -> (x, y+1 mod Ly)

    def electronic_force(self, g: float) -> np.ndarray:
        """-g (n_i - 1/2): the nonequilibrium electronic force on Q_i."""
        return -g * (self.density - 0.5)


def effective_hamiltonian(q: np.ndarray, t: float, g: float, gamma: float) -> np.ndarray:
    """H_eff = h(Q) - (i/2)(Gamma_L + Gamma_R), wide-band leads on the end columns."""
    lat = Lattice.of(q)
    heff = hamiltonian(q, t, g).astype(complex)
    for side in ("L", "R"):
        s = lat.lead_sites(side)
        heff[s, s] -= 0.5j * gamma
    return heff


def fermi_integral_weights(lam: np.ndarray, mu: float, temperature: float) -> np.ndarray:
    """I_mn = int de f(e) [1/(e - lam_m) - 1/(e - conj lam_n)] for Im lam < 0.

    Closed form p_m - conj(p_n) - i pi (see module docstring); exact at kT = 0 too.
    """
    if temperature > 0:
        p = digamma(0.5 + 1j * (lam - mu) / (2.0 * np.pi * temperature))
    else:
        p = np.log(1j * (lam - mu))
    return p[:, None] - np.conj(p)[None, :] - 1j * np.pi


def _degenerate_clusters(lam: np.ndarray, tol: float) -> list[np.ndarray]:
    """Groups of indices whose eigenvalues lie within tol of each other (transitively)."""
    order = np.lexsort((lam.imag, lam.real))
    clusters = []
    # Sort by real part, then sweep: a cluster grows while the next eigenvalue is
    # within tol of any member; exact enough because members are within tol in Re.
    start = 0
    for k in range(1, len(order) + 1):
        if k < len(order):
            prev = lam[order[start:k]]
            if np.min(np.abs(prev - lam[order[k]])) < tol:
                continue
        if k - start > 1:
            clusters.append(order[start:k])
        start = k
    return clusters


def spectral_decomposition(heff: np.ndarray, method: str = "fast"):
    """Eigenvalues lam, right eigenvectors V (columns) and W = V^-1 of H_eff."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose one of {METHODS}")
    lam, v = scipy.linalg.eig(heff, check_finite=False, overwrite_a=False)
    if method == "exact":
        return lam, v, scipy.linalg.inv(v, check_finite=False)
    # Complex-symmetric H_eff: V^T V is diagonal except inside degenerate clusters.
    scale = max(1.0, float(np.max(np.abs(lam))))
    vt = v.T.copy()
    norms = np.einsum("im,im->m", v, v)  # v_m^T v_m (no conjugation)
    w = vt / norms[:, None]
    for c in _degenerate_clusters(lam, 1e-6 * scale):
        block = vt[c] @ v[:, c]  # D restricted to the cluster
        w[c] = np.linalg.solve(block, vt[c])
    return lam, v, w


def steady_state(
    q: np.ndarray,
    bias: float = 0.0,
    t: float = 1.0,
    g: float = 1.5,
    gamma: float = 1.0,
    temperature: float = 0.1,
    bias_scheme: str = "gated",
    method: str = "fast",
) -> SteadyState:
    """Exact steady state of the electrons for the frozen lattice configuration q.

    q: (Lx, Ly) lattice coordinates; bias: V; t, g: hopping and coupling; gamma:
    wide-band lead coupling of the end columns; temperature: electron kT (0
    allowed); bias_scheme: 'gated' (mu_L = V, mu_R = 0) or 'symmetric' (+-V/2);
    method: 'fast' (default) or 'exact' (see module docstring).
    """
    q = np.asarray(q, dtype=float)
    if q.ndim != 2:
        raise ValueError(f"q must be a 2-d (Lx, Ly) array of lattice coordinates, got {q.shape}")
    lat = Lattice.of(q)
    for name, value in (("bias", bias), ("t", t), ("g", g), ("gamma", gamma),
                        ("temperature", temperature)):
        if not np.isfinite(value):
            raise ValueError(f"{name}={value}: must be a finite number")
    if not gamma > 0:
        raise ValueError(f"gamma={gamma}: the lead coupling must be > 0")
    if not temperature >= 0:
        raise ValueError(f"temperature={temperature}: must be >= 0")
    if not np.all(np.isfinite(q)):
        raise ValueError("q contains NaN or inf")
    mus = dict(zip("LR", chemical_potentials(bias, bias_scheme), strict=True))

    lam, v, w = spectral_decomposition(effective_hamiltonian(q, t, g, gamma), method)
    denom = 2.0 * np.pi * (lam[:, None] - np.conj(lam)[None, :])

    kernel = np.zeros((lat.n_sites, lat.n_sites), dtype=complex)
    lead_weights = {}
    fermi = {}
    for a in "LR":
        wa = w[:, lat.lead_sites(a)]
        lead_weights[a] = gamma * (wa @ wa.conj().T)  # W Gamma_a W^+
        fermi[a] = fermi_integral_weights(lam, mus[a], temperature)
        kernel += lead_weights[a] * fermi[a]
    kernel /= denom
    vk = v @ kernel  # rho = (V K) V^+; only the elements we need are formed

    density = np.einsum("in,in->i", vk, v.conj()).real

    def bond_currents(bonds):
        i, j = bonds
        rho_ji = np.einsum("bn,bn->b", vk[j], v[i].conj())  # <c_i^+ c_j>
        return 2.0 * t * rho_ji.imag

    # Landauer: I = int de/2pi Tr[Gamma_L G^r Gamma_R G^a] (f_L - f_R)
    vl = v[lat.lead_sites("L")]
    left_overlap = gamma * (vl.conj().T @ vl)  # (V^+ Gamma_L V)_nm
    current = np.sum(lead_weights["R"] * left_overlap.T * (fermi["L"] - fermi["R"]) / denom).real

    return SteadyState(
        density=density.reshape(lat.shape),
        current=float(current),
        bond_current_x=bond_currents(lat.bonds_x()).reshape(lat.Lx - 1, lat.Ly),
        bond_current_y=bond_currents(lat.bonds_y()).reshape(lat.Lx, lat.Ly)
        if lat.Ly > 1
        else np.zeros(lat.shape),
    )
