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

Bound states.  A site deep in the CDW whose |Q| the thermal noise has lowered binds an
in-gap state whose lead couplings fall off exponentially with the distance to the
leads (1e-18 .. 1e-20 at 20 columns).  eig returns Im lam to an absolute accuracy of
about eps ||H|| ~ 1e-16, so for such a state the computed Im lam is rounding noise of
either sign, while its partial widths Gamma_a,m = (W Gamma_a W^+)_mm, from the
eigenvector's own components, are accurate to their size.  The imaginary parts are
therefore taken from the left eigenvectors' Rayleigh quotient,
Im lam_m = -(W Gamma W^+)_mm / (2 (W W^+)_mm), exact for exact eigenvectors
(``rayleigh_widths``).  Numerator and denominator of the diagonal kernel then come from
the same widths: a narrow state is occupied by sum_a Gamma_a,m f_a(E_m) / Gamma_m, a
convex combination of the leads' Fermi functions, and the density stays in [0, 1]
(docs/physics.md states the rule).  The lead components themselves carry eig's
absolute rounding (about 1e-16), which is a large relative error on a tail of 1e-10:
the eigenvectors of such narrow modes are refined by inverse iteration with the banded
LU of H_eff, whose rounding is local and so resolves an exponential tail to a few eps
of itself (``refine_narrow_modes``).

rho_ij = <c_j^+ c_i>; density n_i = rho_ii; particle current on the bond i -> j is
J_ij = -2 h_ij Im rho_ji = 2 t Im <c_i^+ c_j>; the device current is Landauer's
formula in the same closed form.

Why no energy grid at all: in a CDW with a metallic layer at the gated electrode
the resonances inside the bias window are extremely narrow (40 x 30, bias 4,
gamma = 1: hundreds in the window, widths down to 1e-6 .. 1e-8 depending on the
configuration; benchmarks/negf_speed.py prints them); any quadrature along the
real axis misses or mis-weights them, while the closed form integrates each one
exactly.

Three methods give the same steady state:

* ``exact``: the closed form with ``W = inv(V)`` (LU of the eigenvector matrix).
* ``fast`` (default): the closed form with left eigenvectors from the right ones.
  H_eff is complex *symmetric* (h real symmetric, Gamma diagonal), so ``W = D^-1 V^T``
  with ``D = V^T V`` block diagonal: eigenvectors of distinct eigenvalues are
  complex-orthogonal, and inside a cluster of (nearly) degenerate eigenvalues (Q = 0
  and symmetric configurations have many) ``D`` is inverted cluster by cluster.  This
  replaces an O(N^3) inverse by O(N^2) work.  Clusters are the connected components
  of |lam_i - lam_j| < tol over all pairs, and the result is checked (W V x = x for a
  random x, O(N^2)); where the check fails the LU inverse is used, so ``fast`` equals
  ``exact`` to rounding on every spectrum.
* ``quadrature``: no eigenvectors at all; ``G^r(e)`` integrated over the real axis
  with adaptive Gauss-Kronrod, breakpoints at every resonance.  Slow (thousands of
  dense solves), but valid where the eigenvectors are not: at an exceptional point of
  H_eff two eigenvectors coalesce, the eigenvalue condition number diverges and the
  closed form loses about (condition number)^2 x machine epsilon.  Both eigenvector
  methods measure that condition number on every call and fall back to ``quadrature``
  above ``EIGENVALUE_CONDITION_LIMIT`` on small lattices (a logged warning), or stop
  with ``IllConditionedSpectrumError`` on large ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph
from scipy.integrate import quad_vec
from scipy.special import digamma

from holstein.physics.lattice import Lattice, chemical_potentials, hamiltonian

log = logging.getLogger(__name__)

METHODS = ("fast", "exact", "quadrature")
# Eigenvalues closer than this (relative to the spectral radius) are one degenerate cluster.
CLUSTER_TOLERANCE = 1e-6
# W V x = x must hold to this (relative) for the fast left eigenvectors to be used: the
# accuracy both methods promise.  The fast W's own rounding grows with N (residual 3e-12
# at 16 x 14, 2e-11 at 30 x 30); a missed degeneracy gives O(1).
INVERSE_RESIDUAL_LIMIT = 1e-9
# The closed form loses about 6e-17 x (eigenvalue condition)^2: above 1e3 it could miss
# 1e-10, so the steady state is integrated on the real axis instead.  Lattices up to
# 60 x 40 at every tested configuration stay below 25.
EIGENVALUE_CONDITION_LIMIT = 1e3
# Above this many sites the quadrature fallback would take too long: stop instead.
QUADRATURE_MAX_SITES = 600
QUADRATURE_TOLERANCE = 1e-11
# Modes whose half-width lies below this (x gamma) have lead components under 1e-4 of
# their peak, where eig's absolute rounding (1e-16) costs more than 1e-12 of the partial
# widths: their eigenvectors are refined by banded inverse iteration.
NARROW_HALF_WIDTH = 1e-8


class IllConditionedSpectrumError(FloatingPointError):
    """H_eff is (nearly) defective: its eigenvectors cannot carry the closed form."""


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


def fermi_poles(lam: np.ndarray, mu: float, temperature: float) -> np.ndarray:
    """p_m of the closed form: digamma(1/2 + i (lam_m - mu) / (2 pi kT)), log at kT = 0.

    With these, I_mn = int de f(e) [1/(e - lam_m) - 1/(e - conj lam_n)]
    = p_m - conj(p_n) - i pi for Im lam < 0 (module docstring).
    """
    if temperature > 0:
        return digamma(0.5 + 1j * (lam - mu) / (2.0 * np.pi * temperature))
    return np.log(1j * (lam - mu))


def degenerate_clusters(lam: np.ndarray, tol: float) -> list[np.ndarray]:
    """Groups of two or more indices whose eigenvalues are linked by |lam_i - lam_j| < tol.

    The connected components of that graph over *all* pairs, not a sweep in one sort
    order: eigenvalues that share a real part but differ in imaginary part interleave
    in any ordering by real part, so neighbours in that order miss degenerate pairs.
    Candidate pairs are those within tol in real part (a window in the sorted order).
    """
    n = len(lam)
    order = np.argsort(lam.real, kind="stable")
    re = lam.real[order]
    window_end = np.searchsorted(re, re + tol, side="left")
    counts = window_end - np.arange(n) - 1
    first = np.repeat(np.arange(n), counts)
    second = first + 1 + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    linked = np.abs(lam[order[first]] - lam[order[second]]) < tol
    graph = scipy.sparse.coo_matrix(
        (np.ones(int(linked.sum())), (first[linked], second[linked])), shape=(n, n)
    )
    n_components, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
    sizes = np.bincount(label, minlength=n_components)
    return [np.sort(order[label == c]) for c in np.flatnonzero(sizes > 1)]


def eigenvalue_condition(w) -> float:
    """Largest eigenvalue condition number max_m |w_m| |v_m| / |w_m v_m| (unit v_m, w = V^-1).

    It diverges at an exceptional point of H_eff, where two eigenvectors coalesce; the
    closed form then loses about (condition number)^2 x machine epsilon.  ``w``: a numpy
    array or a torch tensor.
    """
    return float((abs(w) ** 2).sum(1).max() ** 0.5)


def _inverse_residual(v: np.ndarray, w: np.ndarray) -> float:
    """max |W V x - x| for a fixed random x: O(N^2) evidence that W is V^-1."""
    x = np.random.default_rng(0).standard_normal(v.shape[0])
    return float(np.max(np.abs(w @ (v @ x) - x)) / np.max(np.abs(x)))


def spectral_decomposition(heff: np.ndarray, method: str = "fast"):
    """Eigenvalues lam, right eigenvectors V (unit columns) and W = V^-1 of H_eff.

    ``fast`` builds W from the transposed right eigenvectors and checks W V = 1 on a
    random vector; where the check fails (a degeneracy the clustering cannot resolve)
    it falls back to the LU inverse of ``exact``, so both methods return the same W to
    rounding whatever the spectrum.
    """
    if method not in ("fast", "exact"):
        raise ValueError(f"method={method!r}: eigen-decomposition methods are 'fast' and 'exact'")
    lam, v = scipy.linalg.eig(heff, check_finite=False, overwrite_a=False)
    if method == "fast":
        # Complex-symmetric H_eff: V^T V is diagonal except inside degenerate clusters.
        scale = max(1.0, float(np.max(np.abs(lam))))
        vt = v.T.copy()
        norms = np.einsum("im,im->m", v, v)  # v_m^T v_m (no conjugation)
        w = vt / norms[:, None]
        for c in degenerate_clusters(lam, CLUSTER_TOLERANCE * scale):
            w[c] = np.linalg.solve(vt[c] @ v[:, c], vt[c])  # D restricted to the cluster
        if np.all(np.isfinite(w)) and _inverse_residual(v, w) < INVERSE_RESIDUAL_LIMIT:
            return lam, v, w
        log.debug("fast left eigenvectors failed the W V = 1 check; using the LU inverse")
    return lam, v, scipy.linalg.inv(v, check_finite=False)


def spectral_decomposition_torch(heff: np.ndarray, device):
    """lam, V, W = V^-1 of H_eff computed by torch on ``device`` (complex128 throughout).

    The left eigenvectors come from the LU inverse (``exact``): on a GPU the inverse is
    cheap next to the eigendecomposition, and it needs no clustering.
    """
    torch = _torch()
    h = torch.as_tensor(heff, dtype=torch.complex128, device=device)
    lam, v = torch.linalg.eig(h)
    return lam, v, torch.linalg.inv(v)


def is_host(device) -> bool:
    """True for the numpy path: device 'cpu' (the default) or None."""
    return device is None or (isinstance(device, str) and device == "cpu")


def steady_state(
    q: np.ndarray,
    bias: float,
    *,
    t: float,
    g: float,
    gamma: float,
    temperature: float,
    bias_scheme: str,
    method: str,
    device="cpu",
) -> SteadyState:
    """Exact steady state of the electrons for the frozen lattice configuration q.

    q: (Lx, Ly) lattice coordinates; bias: V; t, g: hopping and coupling; gamma:
    wide-band lead coupling of the end columns; temperature: electron kT (0
    allowed); bias_scheme: 'gated' (mu_L = V, mu_R = 0) or 'symmetric' (+-V/2);
    method: 'fast', 'exact' or 'quadrature' (see module docstring);
    device: 'cpu' (numpy and scipy), or a torch device ('cuda', 'cuda:1', or
    ``torch.device('cpu')`` for torch on the CPU): the same closed form evaluated by
    torch, with W from the LU inverse whatever the method.

    Near an exceptional point of H_eff (eigenvalue condition number above
    ``EIGENVALUE_CONDITION_LIMIT``) the eigen-decomposition methods fall back to
    'quadrature' on lattices of up to ``QUADRATURE_MAX_SITES`` sites and raise
    ``IllConditionedSpectrumError`` on larger ones.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose one of {METHODS}")
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
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(q))[0])
        raise ValueError(f"q contains NaN or inf ({q[bad]} at site (x, y) = {bad}): lattice "
                         "coordinates must be finite")
    mus = dict(zip("LR", chemical_potentials(bias, bias_scheme), strict=True))
    heff = effective_hamiltonian(q, t, g, gamma)
    if method != "quadrature":
        if is_host(device):
            lam, v, w = spectral_decomposition(heff, method)
        else:
            lam, v, w = spectral_decomposition_torch(heff, device)
        condition = eigenvalue_condition(w)
        if condition <= EIGENVALUE_CONDITION_LIMIT:
            v, w = refine_narrow_modes(heff, lat, lam, v, w, gamma)
            return _closed_form(lat, lam, v, w, mus, t, gamma, temperature)
        if lat.n_sites > QUADRATURE_MAX_SITES:
            raise IllConditionedSpectrumError(
                f"H_eff of this {lat.Lx} x {lat.Ly} configuration is nearly defective "
                f"(eigenvalue condition number {condition:.3g} > {EIGENVALUE_CONDITION_LIMIT:g}"
                f"): the eigenvector closed form would lose accuracy, and the real-axis "
                f"quadrature is too slow above {QUADRATURE_MAX_SITES} sites. Move off the "
                "exceptional point (change gamma or t slightly, or add noise to q), or call "
                "with method='quadrature' and wait"
            )
        log.warning("eigenvalue condition number %.3g > %g (near an exceptional point of "
                    "H_eff): integrating on the real axis instead", condition,
                    EIGENVALUE_CONDITION_LIMIT)
    return _quadrature(lat, heff, mus, t, gamma, temperature)


def _closed_form(lat, lam, v, w, mus, t, gamma, temperature) -> SteadyState:
    """Density, bond and Landauer currents from the eigen-decomposition (module docstring).

    ``lam``, ``v``, ``w`` are numpy arrays, or torch tensors on any device: the algebra
    is the same text for both (the GPU path is the CPU path, run by torch).  Only the N
    digammas are evaluated by scipy on the host.
    """
    on_host = isinstance(lam, np.ndarray)
    xp = np if on_host else _torch()

    def index(sites):
        return sites if on_host else xp.as_tensor(sites, device=lam.device)

    def like_lam(values):
        return values if on_host else xp.as_tensor(values, device=lam.device)

    lead_weights = {}
    for a in "LR":
        wa = w[:, index(lat.lead_sites(a))]
        lead_weights[a] = gamma * (wa @ wa.conj().T)  # W Gamma_a W^+
    half_widths = rayleigh_widths(w, _lead_columns(lat, w), gamma)
    if not bool((half_widths < 0).all()):
        raise IllConditionedSpectrumError(
            f"a state of this {lat.Lx} x {lat.Ly} configuration has no coupling to either "
            "lead at double precision (its lead components underflow): its steady-state "
            "occupation, the ratio of its partial widths, is undefined. The lattice is too "
            "long for its CDW gap; shorten it or raise gamma"
        )
    lam = lam.real + 1j * half_widths
    lam_host = lam if on_host else lam.cpu().numpy()
    denom = 2.0 * np.pi * (lam[:, None] - lam.conj()[None, :])
    fermi = {}
    kernel = 0.0
    for a in "LR":
        p = like_lam(fermi_poles(lam_host, mus[a], temperature))
        fermi[a] = p[:, None] - p.conj()[None, :] - 1j * np.pi  # I^a_mn
        kernel = kernel + lead_weights[a] * fermi[a]
    kernel = kernel / denom
    vk = v @ kernel  # rho = (V K) V^+; only the elements we need are formed

    density = xp.einsum("in,in->i", vk, v.conj()).real

    def bond_currents(bonds):
        i, j = (index(b) for b in bonds)
        rho_ji = xp.einsum("bn,bn->b", vk[j], v[i].conj())  # <c_i^+ c_j>
        return 2.0 * t * rho_ji.imag

    # Landauer: I = int de/2pi Tr[Gamma_L G^r Gamma_R G^a] (f_L - f_R)
    vl = v[index(lat.lead_sites("L"))]
    left_overlap = gamma * (vl.conj().T @ vl)  # (V^+ Gamma_L V)_nm
    current = (lead_weights["R"] * left_overlap.T * (fermi["L"] - fermi["R"]) / denom).sum().real
    host = (lambda x: x) if on_host else (lambda x: x.cpu().numpy())
    return _steady_state_of(lat, host(density), host(bond_currents(lat.bonds_x())),
                            host(bond_currents(lat.bonds_y())), float(current))


def refine_narrow_modes(heff, lat, lam, v, w, gamma):
    """Eigenvectors of the states the leads barely reach, with their tails resolved.

    eig returns every eigenvector to an absolute accuracy of about eps ||H||: the lead
    components of a state bound deep in the CDW (1e-10 and below) then carry a relative
    error of eps / |component|, and with them its partial widths and its occupation in
    the bias window.  Inverse iteration with the banded LU of H_eff - sigma (bandwidth
    Ly in the column-major site order) has a backward error local to each band of
    rows, so it returns the exponential tail of a bound state to a relative accuracy of
    a few eps, however small the tail.  Modes whose Rayleigh half-width lies below
    ``NARROW_HALF_WIDTH`` x gamma are refined with their (near-)degenerate partners as
    one block: the block's span from two inverse iterations, the combination that
    matches eig's eigenvectors on the block's own sites (where eig is accurate), and the
    left eigenvectors D^-1 V^T of the complex-symmetric H_eff (D = V^T V on the block).
    O(N Ly^2) per mode; ``v`` and ``w`` are returned unchanged where no mode is narrow.
    ``v``, ``w``: numpy arrays or torch tensors (refined on the host, put back in place).
    """
    on_host = isinstance(v, np.ndarray)
    half = -rayleigh_widths(w, _lead_columns(lat, w), gamma)
    half = half if on_host else half.cpu().numpy()
    narrow = np.flatnonzero(half < NARROW_HALF_WIDTH * gamma)
    if narrow.size == 0:
        return v, w
    lam_host = lam if on_host else lam.cpu().numpy()
    scale = max(1.0, float(np.max(np.abs(lam_host))))
    blocks = {int(m): np.array([m]) for m in narrow}
    for c in degenerate_clusters(lam_host, CLUSTER_TOLERANCE * scale):
        for m in np.intersect1d(c, narrow):
            blocks[int(m)] = c
    bandwidth = lat.Ly
    banded = _banded(heff, bandwidth)
    v = v.copy() if on_host else v.clone()
    w = w.copy() if on_host else w.clone()
    for c in {tuple(b) for b in blocks.values()}:
        c = np.array(c)
        vc = v[:, c] if on_host else v[:, _torch().as_tensor(c, device=v.device)].cpu().numpy()
        refined = _inverse_iteration(banded, bandwidth, lam_host[c].mean(), vc)
        if refined is None:
            continue
        try:
            left = np.linalg.solve(refined.T @ refined, refined.T)
        except np.linalg.LinAlgError:
            continue  # the block collapsed onto fewer directions: keep eig's vectors
        if not (np.all(np.isfinite(left))
                and np.abs(left @ refined - np.eye(len(c))).max() < INVERSE_RESIDUAL_LIMIT):
            continue
        if on_host:
            v[:, c], w[c] = refined, left
        else:
            index = _torch().as_tensor(c, device=v.device)
            v[:, index] = _torch().as_tensor(refined, device=v.device)
            w[index] = _torch().as_tensor(left, device=w.device)
    return v, w


def _banded(heff: np.ndarray, bandwidth: int) -> np.ndarray:
    """H_eff in LAPACK band storage: ab[bandwidth + i - j, j] = H[i, j]."""
    n = heff.shape[0]
    ab = np.zeros((2 * bandwidth + 1, n), dtype=complex)
    for k in range(-bandwidth, bandwidth + 1):
        diagonal = np.diagonal(heff, -k)
        if k >= 0:
            ab[bandwidth + k, : n - k] = diagonal
        else:
            ab[bandwidth + k, -k:] = diagonal
    return ab


def _inverse_iteration(banded, bandwidth, sigma, vc, steps=2):
    """The span of vc refined by inverse iteration with H_eff - sigma, recombined so that
    it matches vc on the sites where vc is large; None if the shifted matrix is singular."""
    ab = banded.copy()
    ab[bandwidth] -= sigma
    x = vc
    try:
        for _ in range(steps):
            x = scipy.linalg.solve_banded((bandwidth, bandwidth), ab, x, check_finite=False)
            x = x / np.linalg.norm(x, axis=0)
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not np.all(np.isfinite(x)):
        return None
    weight = (np.abs(vc) ** 2).sum(1)
    bulk = weight > 1e-6 * weight.max()
    combination = np.linalg.lstsq(x[bulk], vc[bulk], rcond=None)[0]
    return x @ combination


def _lead_columns(lat, w):
    """The indices of both leads' sites, as an index of ``w`` (numpy or torch)."""
    leads = np.concatenate([lat.lead_sites("L"), lat.lead_sites("R")])
    return leads if isinstance(w, np.ndarray) else _torch().as_tensor(leads, device=w.device)


def rayleigh_widths(w, lead_columns, gamma):
    """Im lam_m = -(W Gamma W^+)_mm / (2 (W W^+)_mm): the left eigenvectors' Rayleigh quotient.

    For an exact left eigenvector w_m of H_eff = h - (i/2) Gamma, w_m H_eff w_m^+ =
    lam_m w_m w_m^+ with w_m h w_m^+ real, so this holds exactly.  It is computed from the
    partial widths themselves, so it is accurate to its own size even where the width lies
    far below the eigen-solver's absolute resolution (eps ||H||, about 1e-16): a state
    bound deep in the CDW, whose computed Im lam is rounding noise of either sign.  With
    it the diagonal of the kernel is sum_a (Gamma_a,m / Gamma_m) f_a(E_m) (W W^+)_mm, a
    convex combination of the leads' Fermi functions, and the sum rule rho = 1 for
    f_L = f_R = 1 holds mode by mode.  (W Gamma W^+)_mm = gamma sum over the lead sites of
    |W_mi|^2 (``lead_columns``, ``_lead_columns``).  ``w``: a numpy array or a torch tensor.
    """
    return -gamma * (abs(w[:, lead_columns]) ** 2).sum(1) / (2.0 * (abs(w) ** 2).sum(1))


def _torch():
    import torch

    return torch


def _steady_state_of(lat, density, jx, jy, current) -> SteadyState:
    return SteadyState(
        density=np.asarray(density).reshape(lat.shape),
        current=float(current),
        bond_current_x=np.asarray(jx).reshape(lat.Lx - 1, lat.Ly),
        bond_current_y=np.asarray(jy).reshape(lat.Lx, lat.Ly)
        if lat.Ly > 1
        else np.zeros(lat.shape),
    )


def fermi_function(e: float, mu: float, temperature: float) -> float:
    if temperature == 0:
        return float(np.heaviside(mu - e, 0.5))
    return 0.5 * (1.0 - np.tanh((e - mu) / (2.0 * temperature)))


def _quadrature(lat, heff, mus, t, gamma, temperature) -> SteadyState:
    """The same observables from G^r(e) = (e - H_eff)^-1 integrated over the real axis.

    Needs no eigenvectors, so it holds at an exceptional point of H_eff.  Only the lead
    columns of G^r enter: rho = sum_a f_a gamma G^r[:, a] G^r[:, a]^+.  The axis is
    mapped to (-pi/2, pi/2) by e = tan(theta), with breakpoints at every resonance
    (Re lam) and chemical potential so that adaptive Gauss-Kronrod resolves each peak.
    """
    n = lat.n_sites
    leads = {a: lat.lead_sites(a) for a in "LR"}
    (bxi, bxj), (byi, byj) = lat.bonds_x(), lat.bonds_y()
    bond_i, bond_j = np.concatenate([bxi, byi]), np.concatenate([bxj, byj])
    resolvent_rhs = np.zeros((n, 2 * lat.Ly))
    resolvent_rhs[leads["L"], np.arange(lat.Ly)] = 1.0
    resolvent_rhs[leads["R"], lat.Ly + np.arange(lat.Ly)] = 1.0
    identity = np.eye(n)

    def integrand(theta):
        e = np.tan(theta)
        cols = scipy.linalg.solve(e * identity - heff, resolvent_rhs, check_finite=False)
        weighted = []
        for k, a in enumerate("LR"):
            block = cols[:, k * lat.Ly:(k + 1) * lat.Ly]
            weighted.append((fermi_function(e, mus[a], temperature) * gamma, block))
        density = sum(f * np.sum(np.abs(b) ** 2, axis=1) for f, b in weighted)
        rho_ji = sum(f * np.sum(b[bond_j] * b[bond_i].conj(), axis=1) for f, b in weighted)
        left_to_right = np.sum(np.abs(cols[leads["R"], :lat.Ly]) ** 2)  # |G^r_{rl}|^2
        landauer = gamma**2 * left_to_right * (
            fermi_function(e, mus["L"], temperature) - fermi_function(e, mus["R"], temperature))
        out = np.concatenate([density, 2.0 * t * rho_ji.imag, [landauer]])
        return out / (2.0 * np.pi * np.cos(theta) ** 2)  # de = dtheta / cos^2

    lam = scipy.linalg.eigvals(heff, check_finite=False)
    points = np.unique(np.arctan(np.concatenate([lam.real, list(mus.values())])))
    result, error = quad_vec(integrand, -np.pi / 2, np.pi / 2, epsabs=QUADRATURE_TOLERANCE,
                             epsrel=QUADRATURE_TOLERANCE, norm="max", limit=100_000,
                             points=points)
    if not error < 10 * QUADRATURE_TOLERANCE:
        raise IllConditionedSpectrumError(
            f"real-axis quadrature of the steady state did not converge (error estimate "
            f"{error:.2g}); move off the exceptional point (change gamma or t slightly)"
        )
    nx = len(bxi)
    return _steady_state_of(lat, result[:n], result[n:n + nx], result[n + nx:-1], result[-1])
