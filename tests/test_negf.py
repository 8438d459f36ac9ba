"""Tests of the closed-form steady-state NEGF solver ``holstein.physics.negf.steady_state``.

What is tested, and why:

* ``method="exact"`` against an independent brute force: the dense retarded Green's
  function ``G^r(e) = inv(e - H_eff)`` integrated over the whole real axis with adaptive
  quadrature (``e = tan(theta)``), at finite and zero temperature, both bias schemes,
  positive, negative and zero bias.  Density and bond currents come from the lesser
  density matrix, the device current independently from Landauer's trace formula.
  The brute force shares only ``effective_hamiltonian`` (and the lattice geometry) with
  the code under test, so it checks the digamma / logarithm closed form, the left
  eigenvectors, the current formulas and their signs.
* ``method="fast"`` (complex-symmetric left eigenvectors, degenerate clusters) against
  ``exact`` where it is most fragile: exactly degenerate spectra (Q = 0), spectra
  split just around the cluster tolerance, and a CDW with a metallic layer at the gated
  electrode whose in-window resonances are very narrow (the reason the closed form
  exists at all; a real-axis grid cannot be used as a reference there).
* Exact physical constraints that need no reference: particle-hole symmetry
  (n = 1/2 at Q = 0, V = 0), no current in equilibrium, Kirchhoff's law at every site
  with every cross-section carrying the Landauer current, y-translation and y-mirror
  covariance, x-mirror with lead exchange, particle-hole conjugation, and the exact
  equivalence of the two bias schemes after a uniform shift of the on-site energies.
* Input validation: bad parameters raise ValueError naming the culprit.

Sizes are small (at most 16 x 8) so the module runs in a few seconds on two cores;
every comparison states its tolerance.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest
import scipy.linalg
from schema_defaults import DEFAULTS
from scipy.integrate import quad_vec

from holstein.physics import negf
from holstein.physics.lattice import Lattice, checkerboard, chemical_potentials
from holstein.physics.negf import (
    IllConditionedSpectrumError,
    SteadyState,
    degenerate_clusters,
    effective_hamiltonian,
    eigenvalue_condition,
)

T_HOP, G_COUPLING, K_STIFF, KAPPA = 1.0, 1.5, 1.0, 0.18
METHODS = ("exact", "fast")
FIELDS = ("density", "bond_current_x", "bond_current_y")


def random_q(shape: tuple[int, int], seed: int, scale: float = 0.8) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def solve(q, bias=0.0, gamma=1.0, temperature=0.1, scheme="gated", method="exact"):
    return DEFAULTS.steady_state(
        q,
        bias,
        t=T_HOP,
        g=G_COUPLING,
        gamma=gamma,
        temperature=temperature,
        bias_scheme=scheme,
        method=method,
    )


def max_diff(a: SteadyState, b: SteadyState) -> float:
    """Largest absolute difference over density, current and both bond-current arrays."""
    diffs = [np.max(np.abs(getattr(a, f) - getattr(b, f))) for f in FIELDS]
    return float(max(*diffs, abs(a.current - b.current)))


# --------------------------------------------------------------------------------------
# Brute-force reference: dense G^r on an adaptive quadrature over the whole real axis.
# --------------------------------------------------------------------------------------


@functools.cache
def brute_force(shape, seed, bias, gamma, temperature, scheme):
    """``brute_force_of`` the random configuration ``random_q(shape, seed)``; cached."""
    return brute_force_of(random_q(shape, seed), bias, gamma, temperature, scheme)


def brute_force_of(q, bias, gamma, temperature, scheme="gated"):
    """Reference steady state from n = sum_a int de/2pi f_a G^r Gamma_a G^a (dense inverse).

    Returns (density (Lx, Ly), bond_current_x, bond_current_y, landauer_current).  Bond
    currents are J_ij = 2 t Im rho_ji with rho_ij = <c_j^+ c_i>; the Landauer current is
    int de/2pi Tr[Gamma_L G^r Gamma_R G^a] (f_L - f_R).
    """
    lat = Lattice(*q.shape)
    n = lat.n_sites
    heff = effective_hamiltonian(q, T_HOP, G_COUPLING, gamma)
    gam_l = np.zeros(n)
    gam_l[lat.lead_sites("L")] = gamma
    gam_r = np.zeros(n)
    gam_r[lat.lead_sites("R")] = gamma
    mu_l, mu_r = chemical_potentials(bias, scheme)
    (bxi, bxj), (byi, byj) = lat.bonds_x(), lat.bonds_y()

    def fermi(e, mu):
        if temperature == 0:
            return float(np.heaviside(mu - e, 0.5))
        return 0.5 * (1.0 - np.tanh((e - mu) / (2.0 * temperature)))

    def integrand(theta):
        e = np.tan(theta)
        gr = np.linalg.inv(e * np.eye(n) - heff)
        ga = gr.conj().T
        f_l, f_r = fermi(e, mu_l), fermi(e, mu_r)
        rho = f_l * (gr * gam_l) @ ga + f_r * (gr * gam_r) @ ga  # G^r Gamma_a G^a
        landauer = np.trace((gam_l[:, None] * gr) @ (gam_r[:, None] * ga)).real * (f_l - f_r)
        out = np.concatenate(
            [
                np.diag(rho).real,
                2.0 * T_HOP * rho[bxj, bxi].imag,
                2.0 * T_HOP * rho[byj, byi].imag,
                [landauer],
            ]
        )
        return out / (2.0 * np.pi * np.cos(theta) ** 2)  # de = dtheta / cos^2

    # At T = 0 the Fermi functions jump at mu_L, mu_R: make those breakpoints.
    points = sorted({np.arctan(mu_l), np.arctan(mu_r)}) if temperature == 0 else None
    res, err = quad_vec(
        integrand,
        -np.pi / 2,
        np.pi / 2,
        epsabs=1e-12,
        epsrel=1e-12,
        norm="max",
        limit=20000,
        points=points,
    )
    assert err < 1e-11, f"brute-force quadrature did not converge: error estimate {err}"
    nx = (lat.Lx - 1) * lat.Ly
    ny = len(byi)
    density = res[:n].reshape(lat.shape)
    jx = res[n : n + nx].reshape(lat.Lx - 1, lat.Ly)
    jy = res[n + nx : n + nx + ny].reshape(lat.shape) if ny else np.zeros(lat.shape)
    return density, jx, jy, float(res[-1])


# (shape, seed, bias, gamma, temperature, scheme): random Q, both schemes, V < 0, = 0, > 0.
BRUTE_CASES = [
    ((4, 3), 1, 0.8, 1.0, 0.1, "gated"),
    ((4, 3), 1, -1.2, 1.0, 0.1, "gated"),
    ((4, 3), 2, 0.0, 0.5, 0.1, "gated"),
    ((4, 3), 3, 2.5, 1.0, 0.3, "symmetric"),
    ((4, 3), 3, -0.6, 0.2, 0.1, "symmetric"),
    ((5, 4), 4, 1.5, 1.0, 0.1, "gated"),
    ((5, 4), 5, -2.0, 0.7, 0.1, "symmetric"),
    ((5, 1), 6, 1.0, 1.0, 0.1, "gated"),
    # zero temperature: step-function Fermi distributions
    ((4, 3), 7, 1.5, 1.0, 0.0, "gated"),
    ((4, 3), 7, -1.0, 0.5, 0.0, "symmetric"),
    ((5, 4), 8, 0.0, 1.0, 0.0, "gated"),
]


def _case_id(case):
    (lx, ly), seed, bias, gamma, temp, scheme = case
    return f"{lx}x{ly}-s{seed}-V{bias}-gam{gamma}-T{temp}-{scheme}"


@pytest.mark.parametrize("case", BRUTE_CASES, ids=_case_id)
def test_exact_matches_brute_force_quadrature(case):
    """Density, bond currents and cross-section current of 'exact' vs dense G^r quadrature."""
    shape, seed, bias, gamma, temp, scheme = case
    n_ref, jx_ref, jy_ref, _ = brute_force(*case)
    ss = solve(random_q(shape, seed), bias, gamma, temp, scheme, method="exact")
    tol = 1e-9  # absolute; the quadrature itself is good to ~1e-13
    np.testing.assert_allclose(ss.density, n_ref, rtol=0, atol=tol)
    np.testing.assert_allclose(ss.bond_current_x, jx_ref, rtol=0, atol=tol)
    np.testing.assert_allclose(ss.bond_current_y, jy_ref, rtol=0, atol=tol)
    # the device current must equal the brute-force current through the first bonds
    assert abs(ss.current - jx_ref[0].sum()) < tol
    # non-trivial: the cases carry real charge redistribution (and current where V != 0)
    assert np.ptp(n_ref) > 1e-2
    if bias != 0:
        assert abs(jx_ref[0].sum()) > 1e-3


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", BRUTE_CASES, ids=_case_id)
def test_current_matches_landauer_trace(case, method):
    """ss.current vs int de/2pi Tr[Gamma_L G^r Gamma_R G^a](f_L - f_R) by quadrature."""
    shape, seed, bias, gamma, temp, scheme = case
    *_, i_ref = brute_force(*case)
    ss = solve(random_q(shape, seed), bias, gamma, temp, scheme, method=method)
    assert abs(ss.current - i_ref) < 1e-9  # absolute tolerance
    if bias == 0:
        assert abs(i_ref) < 1e-12


@pytest.mark.parametrize("case", BRUTE_CASES[:4], ids=_case_id)
def test_brute_force_reference_is_sensitive(case):
    """Guard against a vacuous reference: a 1% change of gamma moves the answer >> 1e-9."""
    shape, seed, bias, gamma, temp, scheme = case
    n_ref, *_ = brute_force(*case)
    ss = solve(random_q(shape, seed), bias, 1.01 * gamma, temp, scheme)
    assert np.max(np.abs(ss.density - n_ref)) > 1e-5


# --------------------------------------------------------------------------------------
# fast vs exact
# --------------------------------------------------------------------------------------


def cdw_with_metal(lx: int, ly: int) -> np.ndarray:
    """Checkerboard CDW, a metallic layer at the gated (left) electrode and a metallic site.

    The first three columns' CDW amplitude is ramped from 0 (metal at the lead) to the
    bulk value.  On its own this layer gives no narrow resonance at these sizes (all
    in-window widths >~ 1e-2).  A single Q = 0 site in the middle of the CDW, far from
    both leads, binds an in-gap state whose width is ~1e-6 (12 x 6) to ~1e-9 (16 x 8);
    on the sublattice with Q > 0 (x + y even) that state lies at Re e ~ 0.67, inside
    the gated bias window [0, V] for V >= 1.
    """
    q = checkerboard(lx, ly, G_COUPLING, K_STIFF, KAPPA)
    q[:3] *= np.linspace(0.0, 1.0, 3)[:, None]
    q[lx // 2 - (lx // 2) % 2, 0] = 0.0  # x + y even
    return q


def min_resonance_width(q, gamma, bias, scheme="gated") -> float:
    """Smallest |Im lam| among eigenvalues of H_eff with Re lam inside the bias window."""
    lam = np.linalg.eigvals(effective_hamiltonian(q, T_HOP, G_COUPLING, gamma))
    lo, hi = sorted(chemical_potentials(bias, scheme))
    inside = (lam.real >= lo) & (lam.real <= hi)
    assert inside.any()
    return float(np.min(np.abs(lam.imag[inside])))


FAST_CASES = {
    # random Q: generic, non-degenerate spectrum
    "random-6x4": (lambda: random_q((6, 4), 11), 1.3, 1.0, "gated"),
    "random-9x5-sym": (lambda: random_q((9, 5), 12), -2.0, 0.3, "symmetric"),
    # Q = 0: many exactly degenerate eigenvalues (y-momenta +-k), inverted cluster-wise
    "zero-6x4": (lambda: np.zeros((6, 4)), 0.7, 1.0, "gated"),
    "zero-8x6": (lambda: np.zeros((8, 6)), 2.0, 1.0, "symmetric"),
    "zero-8x6-V0": (lambda: np.zeros((8, 6)), 0.0, 0.2, "gated"),
    # tiny Q: degeneracies split by ~1e-5, just around the fast method's cluster tolerance
    "tiny-10x8": (lambda: random_q((10, 8), 13, scale=1e-5), 1.0, 1.0, "gated"),
}


@pytest.mark.parametrize("name", list(FAST_CASES))
def test_fast_matches_exact(name):
    make_q, bias, gamma, scheme = FAST_CASES[name]
    q = make_q()
    a = solve(q, bias, gamma, 0.1, scheme, method="exact")
    b = solve(q, bias, gamma, 0.1, scheme, method="fast")
    assert max_diff(a, b) < 1e-7  # absolute, on density, current and bond currents


@pytest.mark.parametrize("bias", [1.0, 3.0, 5.0])  # deep in the gap, near the edge, above
@pytest.mark.parametrize("gamma", [1.0, 0.2])
@pytest.mark.parametrize("shape", [(12, 6), (16, 8)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_fast_matches_exact_cdw_with_narrow_resonances(shape, gamma, bias):
    q = cdw_with_metal(*shape)
    # what this test covers: resonances in the bias window far narrower than any grid step
    assert min_resonance_width(q, gamma, bias) < 1e-4
    a = solve(q, bias, gamma, 0.1, "gated", method="exact")
    b = solve(q, bias, gamma, 0.1, "gated", method="fast")
    assert max_diff(a, b) < 1e-7  # absolute, on density, current and bond currents


def symmetric_configuration(kind: str, lx: int, ly: int) -> np.ndarray:
    """Configurations whose symmetry makes H_eff's spectrum degenerate (and one that is not).

    A perfect checkerboard, uniform Q, Q = 0 and a checkerboard with a metallic first
    column have eigenvalues sharing a real part with different imaginary parts, which
    interleave in any ordering by real part; ``noisy`` is the generic control.
    """
    q0 = 2.678571  # the default physics' CDW amplitude g / (2 (K - 4 kappa))
    if kind == "checkerboard":
        return q0 * Lattice(lx, ly).staggered_sign()
    if kind == "uniform":
        return np.full((lx, ly), 0.5 * q0)
    if kind == "zero":
        return np.zeros((lx, ly))
    if kind == "metal-layer":
        q = q0 * Lattice(lx, ly).staggered_sign()
        q[0] = 0.0
        return q
    if kind == "noisy":
        return q0 * Lattice(lx, ly).staggered_sign() + random_q((lx, ly), 100 * lx + ly, 0.3)
    raise ValueError(kind)


SWEEP_KINDS = ("checkerboard", "uniform", "zero", "metal-layer", "noisy")
SWEEP_GAMMAS = (0.05, 0.3, 1.0, 2.5, 6.0)


@pytest.mark.parametrize("lx", range(2, 9))
def test_fast_matches_exact_on_every_small_lattice(lx):
    """Property sweep: Ly in {1, 3..12}, five configurations, five lead couplings.

    Tolerance 1e-9 absolute on density, bond currents and the device current; these are
    the symmetric lattices on which clustering eigenvalues by neighbours in real-part
    order once produced densities up to 15.9.
    """
    worst = (0.0, None)
    for ly in (1, *range(3, 13)):
        for kind in SWEEP_KINDS:
            q = symmetric_configuration(kind, lx, ly)
            for gamma in SWEEP_GAMMAS:
                a = solve(q, 1.0, gamma, 0.1, "gated", method="exact")
                b = solve(q, 1.0, gamma, 0.1, "gated", method="fast")
                assert 0.0 <= b.density.min() and b.density.max() <= 1.0
                worst = max(worst, (max_diff(a, b), (lx, ly, kind, gamma)), key=lambda w: w[0])
    assert worst[0] < 1e-9, f"fast differs from exact by {worst[0]:.3g} at {worst[1]}"


@pytest.mark.parametrize(
    "kind, shape, gamma",
    [("checkerboard", (5, 6), 1.0), ("uniform", (4, 6), 1.0), ("metal-layer", (3, 8), 0.3)],
)
@pytest.mark.parametrize("method", METHODS)
def test_symmetric_lattices_match_brute_force(kind, shape, gamma, method):
    """Both eigen-methods on degenerate spectra against the dense quadrature (1e-9)."""
    q = symmetric_configuration(kind, *shape)
    n_ref, jx_ref, jy_ref, i_ref = brute_force_of(q, 1.0, gamma, 0.1)
    ss = solve(q, 1.0, gamma, 0.1, "gated", method=method)
    np.testing.assert_allclose(ss.density, n_ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ss.bond_current_x, jx_ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ss.bond_current_y, jy_ref, rtol=0, atol=1e-9)
    assert abs(ss.current - i_ref) < 1e-9


def test_degenerate_clusters_link_interleaved_eigenvalues():
    """Two degenerate pairs interleaved in real-part order are both found, transitively."""
    lam = np.array([1.0 - 0.5j, 1.0 + 1e-13 - 0.1j, 1.0 + 2e-13 - 0.5j, 1.0 - 1e-13 - 0.1j,
                    3.0 - 0.2j, 3.0 + 4e-7 - 0.2j, 3.0 + 8e-7 - 0.2j, 7.0 - 0.3j])
    clusters = sorted(tuple(c) for c in degenerate_clusters(lam, 5e-7))
    # 4, 5, 6 form a chain (4-5 and 5-6 within tol, 4-6 not): one cluster
    assert clusters == [(0, 2), (1, 3), (4, 5, 6)]
    assert degenerate_clusters(lam, 1e-14) == []


EXCEPTIONAL_GAMMA = 4.0 * np.sqrt(2.0)  # Lx = 3, uniform Q: two eigenvectors coalesce


@pytest.mark.parametrize("method", ("fast", "exact"))
def test_exceptional_point_falls_back_to_quadrature(method, caplog):
    """At an exceptional point of H_eff eigenvectors give garbage (errors up to 12): the
    solver must see the condition number, say so, and integrate instead (1e-9)."""
    q = np.full((3, 4), 0.3)
    lam, v = scipy.linalg.eig(effective_hamiltonian(q, T_HOP, G_COUPLING, EXCEPTIONAL_GAMMA))
    assert eigenvalue_condition(scipy.linalg.inv(v)) > 1e6  # the point is exceptional
    n_ref, jx_ref, jy_ref, i_ref = brute_force_of(q, 1.0, EXCEPTIONAL_GAMMA, 0.1)
    with caplog.at_level(logging.WARNING, logger="holstein.physics.negf"):
        ss = solve(q, 1.0, EXCEPTIONAL_GAMMA, 0.1, "gated", method=method)
    assert "condition number" in caplog.text
    np.testing.assert_allclose(ss.density, n_ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ss.bond_current_x, jx_ref, rtol=0, atol=1e-9)
    assert abs(ss.current - i_ref) < 1e-9


def test_exceptional_point_on_a_large_lattice_is_an_error(monkeypatch):
    monkeypatch.setattr(negf, "QUADRATURE_MAX_SITES", 10)
    with pytest.raises(IllConditionedSpectrumError, match=r"condition number .*gamma"):
        solve(np.full((3, 4), 0.3), 1.0, EXCEPTIONAL_GAMMA, 0.1, "gated", method="fast")


@pytest.mark.parametrize("case", BRUTE_CASES[::3], ids=_case_id)
def test_quadrature_method_matches_exact(case):
    """The eigenvector-free method against the closed form on generic spectra (1e-9)."""
    shape, seed, bias, gamma, temp, scheme = case
    a = solve(random_q(shape, seed), bias, gamma, temp, scheme, method="exact")
    b = solve(random_q(shape, seed), bias, gamma, temp, scheme, method="quadrature")
    assert max_diff(a, b) < 1e-9


# --------------------------------------------------------------------------------------
# Exact physical constraints
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("temperature", [0.1, 0.0])
@pytest.mark.parametrize("shape", [(6, 4), (5, 1)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_half_filling_at_particle_hole_symmetric_point(shape, temperature, method):
    """Q = 0, V = 0 on a bipartite lattice: particle-hole symmetry forces n_i = 1/2."""
    ss = solve(np.zeros(shape), 0.0, 1.0, temperature, "gated", method)
    np.testing.assert_allclose(ss.density, 0.5, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "shape, temperature, scheme",
    [((6, 4), 0.1, "gated"), ((7, 5), 0.0, "symmetric"), ((5, 3), 0.3, "gated")],
)
def test_no_current_in_equilibrium(shape, temperature, scheme, method):
    """V = 0 with random Q: the leads share one chemical potential, nothing flows."""
    ss = solve(random_q(shape, 21), 0.0, 0.8, temperature, scheme, method)
    assert abs(ss.current) < 1e-10
    assert np.max(np.abs(ss.bond_current_x)) < 1e-10
    assert np.max(np.abs(ss.bond_current_y)) < 1e-10
    assert np.ptp(ss.density) > 1e-2  # the configuration is not trivial


def site_outflow(ss: SteadyState) -> np.ndarray:
    """Net bond-current outflow of every site, (Lx, Ly)."""
    jx, jy = ss.bond_current_x, ss.bond_current_y
    out = np.zeros(ss.density.shape)
    out[:-1] += jx
    out[1:] -= jx
    out += jy - np.roll(jy, 1, axis=1)  # zero for Ly = 1 (no y bonds)
    return out


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "shape, bias, scheme",
    [
        pytest.param((6, 3), 1.5, "gated", id="6x3-gated"),
        pytest.param((5, 4), -2.0, "symmetric", id="5x4-symmetric"),
        pytest.param((8, 5), 3.0, "gated", id="8x5-gated"),
        pytest.param((5, 1), 1.0, "symmetric", id="5x1-symmetric"),
    ],
)
def test_kirchhoff_and_cross_sections(shape, bias, scheme, method):
    """Bond currents are conserved at interior sites; every cross-section carries ss.current."""
    ss = solve(random_q(shape, 31), bias, 0.7, 0.1, scheme, method)
    scale = max(abs(ss.current), np.max(np.abs(ss.bond_current_x)))
    assert scale > 1e-2  # the test is not vacuous
    atol = 1e-10 * scale
    outflow = site_outflow(ss)
    np.testing.assert_allclose(outflow[1:-1], 0.0, rtol=0, atol=atol)
    # end columns: outflow of column 0 is the inflow from L; column Lx-1 drains into R
    assert abs(outflow[0].sum() - ss.current) < atol
    assert abs(outflow[-1].sum() + ss.current) < atol
    np.testing.assert_allclose(ss.bond_current_x.sum(axis=1), ss.current, rtol=0, atol=atol)


@pytest.mark.parametrize("method", METHODS)
def test_y_translation_covariance(method):
    q = random_q((5, 4), 41)
    ss = solve(q, 1.2, 1.0, 0.1, "gated", method)
    assert np.max(np.abs(ss.bond_current_y)) > 1e-3  # transverse currents exist
    for k in range(1, 4):
        rolled = solve(np.roll(q, k, axis=1), 1.2, 1.0, 0.1, "gated", method)
        for f in FIELDS:
            np.testing.assert_allclose(
                getattr(rolled, f), np.roll(getattr(ss, f), k, axis=1), rtol=0, atol=1e-11
            )
        assert abs(rolled.current - ss.current) < 1e-11


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(5, 4), (4, 5)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_y_mirror_covariance(shape, method):
    """q -> q[:, ::-1]: the bond (x,y)->(x,y+1) maps to (x,Ly-1-y)->(x,Ly-2-y), reversed."""
    q = random_q(shape, 42)
    ly = shape[1]
    ss = solve(q, -1.7, 1.0, 0.1, "symmetric", method)
    mirrored = solve(q[:, ::-1], -1.7, 1.0, 0.1, "symmetric", method)
    assert np.max(np.abs(ss.bond_current_y)) > 1e-3
    atol = 1e-11
    np.testing.assert_allclose(mirrored.density, ss.density[:, ::-1], rtol=0, atol=atol)
    np.testing.assert_allclose(
        mirrored.bond_current_x, ss.bond_current_x[:, ::-1], rtol=0, atol=atol
    )
    partner = (ly - 2 - np.arange(ly)) % ly
    np.testing.assert_allclose(
        mirrored.bond_current_y, -ss.bond_current_y[:, partner], rtol=0, atol=atol
    )
    assert abs(mirrored.current - ss.current) < atol


@pytest.mark.parametrize("method", METHODS)
def test_x_mirror_exchanges_leads(method):
    """Symmetric scheme: q -> q[::-1] swaps the electrodes, i.e. V -> -V; currents reverse."""
    q = random_q((6, 3), 43)
    ss = solve(q, 1.4, 1.0, 0.1, "symmetric", method)
    mirrored = solve(q[::-1], -1.4, 1.0, 0.1, "symmetric", method)
    assert abs(ss.current) > 1e-2
    atol = 1e-11
    np.testing.assert_allclose(mirrored.density, ss.density[::-1], rtol=0, atol=atol)
    np.testing.assert_allclose(mirrored.bond_current_x, -ss.bond_current_x[::-1], rtol=0, atol=atol)
    np.testing.assert_allclose(mirrored.bond_current_y, ss.bond_current_y[::-1], rtol=0, atol=atol)
    assert abs(mirrored.current + ss.current) < atol


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bias", [0.4, 1.5, 4.0])
def test_current_odd_in_bias_at_q_zero(bias, method):
    """Q = 0, symmetric scheme: I(-V) = -I(V) (x-mirror of the clean sample)."""
    q = np.zeros((6, 4))
    i_plus = solve(q, bias, 1.0, 0.1, "symmetric", method).current
    i_minus = solve(q, -bias, 1.0, 0.1, "symmetric", method).current
    assert i_plus > 1e-2
    assert abs(i_plus + i_minus) < 1e-11


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(6, 4), (7, 1)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_particle_hole_conjugation(shape, method):
    """Bipartite lattice, symmetric scheme: (Q, V) -> (-Q, -V) maps n -> 1 - n, J -> -J."""
    q = random_q(shape, 44)
    a = solve(q, 1.1, 1.0, 0.1, "symmetric", method)
    b = solve(-q, -1.1, 1.0, 0.1, "symmetric", method)
    atol = 1e-11
    np.testing.assert_allclose(b.density, 1.0 - a.density, rtol=0, atol=atol)
    np.testing.assert_allclose(b.bond_current_x, -a.bond_current_x, rtol=0, atol=atol)
    np.testing.assert_allclose(b.bond_current_y, -a.bond_current_y, rtol=0, atol=atol)
    assert abs(b.current + a.current) < atol
    assert abs(a.current) > 1e-2


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bias", [1.3, -0.9])
def test_bias_schemes_differ_by_uniform_energy_shift(bias, method):
    """gated (mu_L, mu_R) = (V, 0) is symmetric (V/2, -V/2) shifted by V/2.

    Shifting every on-site energy by -V/2, i.e. Q -> Q - V / (2 g), maps one onto the
    other exactly, for every observable.
    """
    q = random_q((5, 4), 45)
    gated = solve(q, bias, 1.0, 0.1, "gated", method)
    symmetric = solve(q - bias / (2 * G_COUPLING), bias, 1.0, 0.1, "symmetric", method)
    assert max_diff(gated, symmetric) < 1e-11
    # and the schemes are genuinely different for the same Q
    assert max_diff(gated, solve(q, bias, 1.0, 0.1, "symmetric", method)) > 1e-3


# --------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------


def _nan_q():
    q = np.zeros((4, 3))
    q[1, 2] = np.nan
    return q


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"gamma": 0.0}, "gamma", id="gamma=0"),
        pytest.param({"gamma": -1.0}, "gamma", id="gamma<0"),
        pytest.param({"gamma": np.nan}, "gamma", id="gamma=nan"),
        pytest.param({"temperature": -0.1}, "temperature", id="temperature<0"),
        pytest.param({"temperature": np.nan}, "temperature", id="temperature=nan"),
        pytest.param({"bias_scheme": "bogus"}, "bias_scheme", id="bias_scheme"),
        pytest.param({"method": "bogus"}, "method", id="method"),
        pytest.param({"q": _nan_q()}, r"\bq\b.*NaN", id="q-nan"),
        pytest.param({"q": np.full((4, 3), np.inf)}, r"\bq\b", id="q-inf"),
        # the message names the requirement ("2-d (Lx, Ly) array") rather than "q"
        pytest.param({"q": np.zeros(5)}, "2-d", id="q-ndim1"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    args = {"q": np.zeros((4, 3)), "bias": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        DEFAULTS.steady_state(**args)


# --------------------------------------------------------------------------------------
# The torch path (the GPU code) against the numpy path
# --------------------------------------------------------------------------------------

# (configuration, bias, gamma, tolerance).  Two LAPACK builds (scipy's and torch's)
# round differently, and a resonance of width w amplifies rounding by about 1/w: the
# in-window state of width ~1e-6 (cdw_with_metal) allows 1e-9, everything else 1e-10.
TORCH_CASES = {
    "random-6x4": (lambda: random_q((6, 4), 21), 1.3, 1.0, 1e-10),
    "zero-8x6-degenerate": (lambda: np.zeros((8, 6)), 0.7, 1.0, 1e-10),
    "checkerboard-5x6": (lambda: symmetric_configuration("checkerboard", 5, 6), 1.0, 1.0,
                         1e-10),
    "cdw-metal-12x6-narrow": (lambda: cdw_with_metal(12, 6), 3.0, 0.2, 1e-9),
    "chain-5x1": (lambda: random_q((5, 1), 22), 2.0, 0.5, 1e-10),
    "bound-state-44x3": (lambda: weakened_site(44, 3, 24), 2.5, 1.0, 1e-10),
}


def weakened_site(lx, ly, seed):
    """A thermal CDW with one site at mid-length weakened: it binds an in-gap state whose
    lead components (below 1e-10) eig does not resolve, so the refined tails are used."""
    q = DEFAULTS.checkerboard(lx, ly) + random_q((lx, ly), seed, 0.15)
    q[lx // 2, 1] *= 0.4
    return q


def _torch_matches_numpy(name, device):
    make_q, bias, gamma, tolerance = TORCH_CASES[name]
    q = make_q()
    ref = solve(q, bias, gamma, 0.1, "gated", method="exact")
    got = DEFAULTS.steady_state(q, bias, t=T_HOP, g=G_COUPLING, gamma=gamma, temperature=0.1,
                       device=device)
    assert max_diff(ref, got) < tolerance  # absolute, every observable


@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_torch_path_matches_numpy_on_the_cpu(name):
    """The closed form run by torch (what a GPU runs) equals numpy's to 1e-10."""
    import torch

    _torch_matches_numpy(name, torch.device("cpu"))


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_torch_path_matches_numpy_on_the_gpu(name):
    _torch_matches_numpy(name, "cuda")


@pytest.mark.gpu
def test_gpu_steady_state_at_40x30_matches_numpy():
    q = DEFAULTS.checkerboard(40, 30) + random_q((40, 30), 23, 0.2)
    ref = solve(q, 2.2, 1.0, 0.1, "gated", method="exact")
    got = DEFAULTS.steady_state(q, 2.2, device="cuda")
    assert max_diff(ref, got) < 1e-8
