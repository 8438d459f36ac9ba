"""The Kirchhoff solve ``holstein.ml.kirchhoff`` against independent references (float64).

* The stencil matrix equals a dense matrix assembled bond by bond from
  ``holstein.physics.lattice.Lattice`` (to the rounding of the summation order, 1e-15), its
  column blocks are the diagonal blocks of that matrix, and the three solvers agree with
  ``numpy.linalg.solve`` of it (dense and column elimination: 1e-12; CG at rtol 1e-12:
  1e-10), also for two columns (Lx = 2), a chain (Ly = 1) and a batch with other
  conductances and biases per sample.
* Closed form: a strip of uniform bond conductance g and contact conductance c is rows of
  resistors in series, phi(x) = mu_L - I (1/c + x/g), I = V / (2/c + (Lx - 1)/g) per row.
* Current conservation: the Ohm's-law bond currents and the contact currents balance at
  every site to rounding, and every cross-section carries the device current.
* Gradients: ``torch.autograd.gradcheck`` (float64, finite differences) of the adjoint
  gradient with respect to every conductance and both electrode potentials, both solvers.
* Conjugate gradients: a warm start from the solution returns it without iterating; a
  cold start on a 128-column wall-like network converges (the column-averaged coarse
  correction) and an iteration limit that is too small raises ``NotConverged``, or,
  not strict, returns with ``converged`` False.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from holstein.ml.kirchhoff import (
    CGInfo,
    KirchhoffNetwork,
    NotConverged,
    bond_currents,
    kirchhoff_solve,
)
from holstein.physics.lattice import Lattice

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def random_network(shape, batch=2, seed=0, low=0.1):
    lx, ly = shape
    gen = torch.Generator().manual_seed(seed)

    def draw(*s):
        return low + torch.rand(batch, *s, generator=gen, dtype=torch.float64)

    gx, gy, gl, gr = draw(lx - 1, ly), draw(lx, ly), draw(ly), draw(ly)
    mu_l = torch.linspace(1.0, 2.5, batch, dtype=torch.float64)
    mu_r = torch.linspace(0.0, -0.5, batch, dtype=torch.float64)
    return gx, gy, gl, gr, mu_l, mu_r


def assembled(gx, gy, gl, gr, mu_l, mu_r):
    """Dense A and b of one network, bond by bond (numpy, independent of the stencil)."""
    lx, ly = gy.shape
    lat = Lattice(lx, ly)
    n = lx * ly
    a, b = np.zeros((n, n)), np.zeros(n)
    bonds = [(i, j, g) for (i, j), g in zip(zip(*lat.bonds_x(), strict=True),
                                            gx.ravel(), strict=True)]
    if ly > 1:
        bonds += [(i, j, g) for (i, j), g in zip(zip(*lat.bonds_y(), strict=True),
                                                 gy.ravel(), strict=True)]
    for i, j, g in bonds:
        a[i, i] += g
        a[j, j] += g
        a[i, j] -= g
        a[j, i] -= g
    for sites, g, mu in ((lat.lead_sites("L"), gl, mu_l), (lat.lead_sites("R"), gr, mu_r)):
        a[sites, sites] += g
        b[sites] += g * mu
    return a, b


@pytest.mark.parametrize("shape", [(5, 4), (6, 3), (2, 5), (7, 1)])
def test_matrix_and_both_solvers_against_dense_numpy(shape):
    gx, gy, gl, gr, mu_l, mu_r = random_network(shape)
    net = KirchhoffNetwork(gx, gy, gl, gr)
    dense = net.dense().numpy()
    rhs = net.rhs(mu_l, mu_r)
    for k in range(2):
        a, b = assembled(*(t[k].numpy() for t in (gx, gy, gl, gr)), float(mu_l[k]),
                         float(mu_r[k]))
        np.testing.assert_allclose(dense[k], a, rtol=0, atol=1e-15)  # summation order
        np.testing.assert_allclose(rhs[k].numpy().ravel(), b, rtol=0, atol=1e-15)
        ly = shape[1]
        for x in range(shape[0]):
            block = a[x * ly:(x + 1) * ly, x * ly:(x + 1) * ly]
            np.testing.assert_allclose(net.column_blocks()[k, x].numpy(), block, atol=1e-15)
        want = np.linalg.solve(a, b).reshape(shape)
        for solver, tol in (("dense", 1e-12), ("columns", 1e-12), ("cg", 1e-10)):
            phi = kirchhoff_solve(gx, gy, gl, gr, mu_l, mu_r, solver, rtol=1e-12)
            np.testing.assert_allclose(phi[k].numpy(), want, atol=tol, rtol=0)


@pytest.mark.parametrize("solver", ["dense", "columns", "cg"])
def test_uniform_strip_has_the_series_resistor_potential(solver):
    lx, ly, g, c, mu_l, mu_r = 9, 5, 0.7, 0.3, 2.2, 0.0
    ones = torch.ones(1, lx, ly, dtype=torch.float64)
    phi = kirchhoff_solve(g * ones[:, :-1], g * ones, c * ones[:, 0], c * ones[:, 0],
                          torch.tensor([mu_l], dtype=torch.float64),
                          torch.tensor([mu_r], dtype=torch.float64), solver, rtol=1e-13)[0]
    row_current = (mu_l - mu_r) / (2 / c + (lx - 1) / g)
    want = mu_l - row_current * (1 / c + np.arange(lx) / g)
    np.testing.assert_allclose(phi.numpy(), np.repeat(want[:, None], ly, axis=1), atol=1e-12)


def test_current_is_conserved_at_every_site_and_cross_section():
    shape = (8, 6)
    gx, gy, gl, gr, mu_l, mu_r = random_network(shape, seed=3)
    phi = kirchhoff_solve(gx, gy, gl, gr, mu_l, mu_r)
    ix, iy = bond_currents(phi, gx, gy)
    inflow_l = gl * (mu_l[:, None] - phi[:, 0])  # from the left electrode into column 0
    outflow_r = gr * (phi[:, -1] - mu_r[:, None])  # from column Lx - 1 into the right one
    net = torch.zeros_like(phi)  # net current out of every site
    net[:, :-1] += ix
    net[:, 1:] -= ix
    net += iy - torch.roll(iy, 1, dims=2)
    net[:, 0] -= inflow_l
    net[:, -1] += outflow_r
    device = inflow_l.sum(dim=1)
    assert float(device.abs().min()) > 0.1
    assert float(net.abs().max()) < 1e-13 * float(device.abs().max())
    sections = ix.sum(dim=2)  # (B, Lx - 1)
    np.testing.assert_allclose(sections.numpy(), device[:, None].expand_as(sections).numpy(),
                               rtol=1e-13)
    np.testing.assert_allclose(outflow_r.sum(dim=1).numpy(), device.numpy(), rtol=1e-13)


@pytest.mark.parametrize("solver", ["dense", "columns", "cg"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 1)])
def test_gradient_of_the_solve(solver, shape):
    inputs = [t.clone().requires_grad_() for t in random_network(shape, seed=5)]

    def solve(*args):
        return kirchhoff_solve(*args, solver=solver, rtol=1e-13)

    assert torch.autograd.gradcheck(solve, inputs, eps=1e-6, atol=1e-8)


def wall_network(lx=128, ly=32, seed=0, dtype=torch.float64):
    """A rough metal/insulator wall at x ~ lx/2: conductance 1 left, 1e-3 right, +-30 %."""
    gen = torch.Generator().manual_seed(seed)
    wall = lx // 2 + torch.randint(-3, 4, (ly,), generator=gen)
    g = torch.where(torch.arange(lx)[:, None] < wall[None, :], 1.0, 1e-3).to(dtype)
    g = (g * (1 + 0.3 * torch.rand(lx, ly, generator=gen, dtype=dtype)))[None]
    return (0.5 * (g[:, :-1] + g[:, 1:]), 0.5 * (g + torch.roll(g, -1, dims=2)), g[:, 0],
            g[:, -1])


def test_conjugate_gradients_on_a_long_wall_and_its_warm_start():
    net = KirchhoffNetwork(*wall_network())
    rhs = net.rhs(torch.tensor([2.2], dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    info = CGInfo()
    phi = net.solve_cg(rhs, rtol=1e-10, info=info)
    assert 0 < info.iterations < 300
    assert info.relative_residual <= 1e-10
    reference = net.solve_columns(rhs)  # exact, checked against dense above
    assert float((phi - reference).abs().max()) < 1e-7  # V = 2.2, contrast 1e3
    warm = CGInfo()
    again = net.solve_cg(rhs, x0=phi, rtol=1e-10, info=warm)
    assert warm.iterations == 0
    torch.testing.assert_close(again, phi)
    with pytest.raises(NotConverged, match="raise max_iter"):
        net.solve_cg(rhs, rtol=1e-8, max_iter=3)
    lenient = CGInfo(strict=False)  # what a long run uses: report, do not stop
    net.solve_cg(rhs, rtol=1e-8, max_iter=3, info=lenient)
    assert not lenient.converged and lenient.iterations == 3
    assert lenient.relative_residual > 1e-8


def test_not_positive_definite_is_refused():
    gx, gy, gl, gr, mu_l, mu_r = random_network((3, 3), batch=1)
    with pytest.raises(ValueError, match="not positive definite"):
        kirchhoff_solve(gx, gy, 0 * gl, 0 * gr, mu_l, mu_r)
