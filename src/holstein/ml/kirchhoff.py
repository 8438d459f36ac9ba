"""Kirchhoff's equations on the lattice: a resistor network between two electrodes (torch).

The network: a conductance ``gx`` on every x bond (x, y) - (x + 1, y), ``gy`` on every y
bond (x, y) - (x, y + 1 mod Ly), and contact conductances ``gl`` from every site of column
x = 0 to the left electrode (potential ``mu_l``) and ``gr`` from every site of column
x = Lx - 1 to the right electrode (``mu_r``).  Current conservation at every site,

    sum_j g_ij (phi_i - phi_j) + [x = 0] gl_y (phi_i - mu_l) + [x = Lx - 1] gr_y (phi_i - mu_r) = 0,

is the linear system ``A phi = b`` with A the weighted graph Laplacian plus the contact
conductances on the diagonal (symmetric positive definite when every conductance is
positive) and b the current injected by the electrodes.  Shapes (batch B):
``gx`` (B, Lx - 1, Ly), ``gy`` (B, Lx, Ly), ``gl``, ``gr`` (B, Ly), ``mu_l``, ``mu_r``
(B,), ``phi`` (B, Lx, Ly); sites flatten as ``x * Ly + y`` (``holstein.physics.lattice``).

Three solvers, one answer:

* ``dense``: Cholesky of the dense (Lx Ly)^2 matrix in float64 (whatever the input
  dtype): exact to rounding, O((Lx Ly)^3); the reference.
* ``columns``: block elimination along x (float64), a dense Ly x Ly block per column:
  exact to rounding, O(Lx Ly^3) and a loop over the columns; for training lattices and
  references (10x faster than ``dense`` at 16 x 14).
* ``cg``: preconditioned conjugate gradients on the 5-point stencil, O(Lx Ly) per
  iteration, in the input dtype, warm-startable.  The preconditioner is Jacobi plus an
  exact solve for the column-averaged potential (the coarse space of one value per
  column: the tridiagonal network of the summed x conductances), which removes the slow
  mode of a long sample, the potential drop along x; it stops at
  ``||b - A phi|| <= rtol ||b||``.

``kirchhoff_solve`` makes either differentiable by the adjoint method: the gradient
costs one more solve with the same (symmetric) matrix, whatever the solver did inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SOLVERS = ("dense", "columns", "cg")


class NotConverged(RuntimeError):
    """The conjugate-gradient solve did not reach its tolerance."""


@dataclass
class CGInfo:
    """What the last conjugate-gradient solve did (largest over the batch).

    ``strict``: raise ``NotConverged`` when the tolerance is not reached; otherwise the
    last iterate is returned and ``converged`` is False (a long run should not die of one
    slow solve: the caller decides).
    """

    iterations: int = 0
    relative_residual: float = 0.0
    converged: bool = True
    strict: bool = True


class KirchhoffNetwork:
    """The matrix A of a batch of networks (see the module docstring), without autograd."""

    def __init__(self, gx: torch.Tensor, gy: torch.Tensor, gl: torch.Tensor,
                 gr: torch.Tensor) -> None:
        b, lx1, ly = gx.shape
        lx = lx1 + 1
        if gy.shape != (b, lx, ly) or gl.shape != (b, ly) or gr.shape != (b, ly):
            raise ValueError(f"conductance shapes gx {tuple(gx.shape)}, gy {tuple(gy.shape)}, "
                             f"gl {tuple(gl.shape)}, gr {tuple(gr.shape)}: need (B, Lx - 1, Ly),"
                             " (B, Lx, Ly), (B, Ly), (B, Ly)")
        self.gx, self.gy, self.gl, self.gr = gx, gy, gl, gr
        self.shape = (b, lx, ly)
        self._cholesky = None
        self._columns = None
        self._coarse = None
        self._diagonal = None
        self._gy_below = None
        self._inverse_diagonal = None

    # --------------------------------------------------------------------- the operator

    def contacts(self) -> torch.Tensor:
        """(B, Lx, Ly): the contact conductances on the diagonal (zero inside)."""
        c = torch.zeros(self.shape, dtype=self.gx.dtype, device=self.gx.device)
        c[:, 0] += self.gl
        c[:, -1] += self.gr
        return c

    def diagonal(self) -> torch.Tensor:
        """(B, Lx, Ly): the diagonal of A, the total conductance at every site."""
        d = self.contacts()
        d[:, :-1] += self.gx
        d[:, 1:] += self.gx
        if self.shape[2] > 1:
            d += self.gy + torch.roll(self.gy, 1, dims=2)
        return d

    def rhs(self, mu_l: torch.Tensor, mu_r: torch.Tensor) -> torch.Tensor:
        """b: the current injected into every site by the electrodes at mu_l, mu_r."""
        b = torch.zeros(self.shape, dtype=self.gx.dtype, device=self.gx.device)
        b[:, 0] += self.gl * mu_l[:, None]
        b[:, -1] += self.gr * mu_r[:, None]
        return b

    def apply(self, phi: torch.Tensor) -> torch.Tensor:
        """A phi: the net current out of every site (into the electrodes included).

        As diagonal times phi minus the four neighbours' conductance-weighted potentials:
        fewer passes over the lattice than bond currents and their divergence (this is
        the inner loop of conjugate gradients)."""
        if self._diagonal is None:
            self._diagonal = self.diagonal()
            self._gy_below = torch.roll(self.gy, 1, dims=2)  # bond (y - 1, y) at y
        out = self._diagonal * phi
        out[:, :-1].addcmul_(self.gx, phi[:, 1:], value=-1.0)
        out[:, 1:].addcmul_(self.gx, phi[:, :-1], value=-1.0)
        if self.shape[2] > 1:
            out.addcmul_(self.gy, torch.roll(phi, -1, dims=2), value=-1.0)
            out.addcmul_(self._gy_below, torch.roll(phi, 1, dims=2), value=-1.0)
        return out

    def dense(self) -> torch.Tensor:
        """A as a dense (B, N, N) matrix, N = Lx Ly (for references and small lattices)."""
        b, lx, ly = self.shape
        n = lx * ly
        eye = torch.eye(n, dtype=self.gx.dtype, device=self.gx.device)
        basis = eye.reshape(n, lx, ly)
        cols = [KirchhoffNetwork(*(t[k].expand(n, *t.shape[1:]) for t in
                                   (self.gx, self.gy, self.gl, self.gr))).apply(basis)
                for k in range(b)]
        return torch.stack([c.reshape(n, n).T for c in cols])

    # --------------------------------------------------------------------- the solvers

    def solve(self, rhs: torch.Tensor, solver: str = "dense", x0: torch.Tensor | None = None,
              rtol: float = 1e-5, max_iter: int | None = None, info: CGInfo | None = None
              ) -> torch.Tensor:
        """A^-1 rhs by ``solver`` (``dense`` or ``cg``; ``x0``, ``rtol``, ``max_iter``,
        ``info`` are the conjugate-gradient settings and report)."""
        if solver == "dense":
            return self.solve_dense(rhs)
        if solver == "columns":
            return self.solve_columns(rhs)
        if solver == "cg":
            return self.solve_cg(rhs, x0, rtol, max_iter, info)
        raise ValueError(f"solver={solver!r}: choose one of {SOLVERS}")

    def solve_dense(self, rhs: torch.Tensor) -> torch.Tensor:
        if self._cholesky is None:
            a = self.dense().to(torch.float64)
            factor, info = torch.linalg.cholesky_ex(a)
            if bool((info != 0).any()):
                raise ValueError("the Kirchhoff matrix is not positive definite: every "
                                 "conductance must be > 0 and some contact > 0")
            self._cholesky = factor
        b, lx, ly = self.shape
        x = torch.cholesky_solve(rhs.reshape(b, lx * ly, 1).to(torch.float64), self._cholesky)
        return x.reshape(b, lx, ly).to(rhs.dtype)

    def column_blocks(self) -> torch.Tensor:
        """(B, Lx, Ly, Ly): the diagonal blocks of A, one per column (its y ring)."""
        b, lx, ly = self.shape
        eye = torch.eye(ly, dtype=self.gx.dtype, device=self.gx.device)
        blocks = torch.diag_embed(self.diagonal())
        if ly > 1:
            shift = torch.roll(eye, 1, dims=1)  # [y, y + 1] = 1
            up = self.gy[..., :, None] * shift  # bond (y, y + 1) at [y, y + 1]
            blocks = blocks - up - up.transpose(-1, -2)
        return blocks

    def solve_columns(self, rhs: torch.Tensor) -> torch.Tensor:
        """Exact block elimination along x (float64): A is block tridiagonal, a dense
        Ly x Ly block per column coupled to its neighbours by the diagonal x conductances,
        so the Schur complements S_x = D_x - C_{x-1} S_{x-1}^-1 C_{x-1} (C = diag gx) are
        factorised one column after the other: O(Lx Ly^3), exact to rounding."""
        b, lx, ly = self.shape
        if self._columns is None:
            blocks = self.column_blocks().to(torch.float64)
            c = self.gx.to(torch.float64)
            factors, carry = [], []  # Cholesky of S_x; S_x^-1 C_x
            s = blocks[:, 0]
            for x in range(lx):
                if x > 0:
                    s = blocks[:, x] - c[:, x - 1, :, None] * carry[-1]
                factor, info = torch.linalg.cholesky_ex(s)
                if bool((info != 0).any()):
                    raise ValueError("the Kirchhoff matrix is not positive definite: every "
                                     "conductance must be > 0 and some contact > 0")
                factors.append(factor)
                if x < lx - 1:
                    carry.append(torch.cholesky_solve(torch.diag_embed(c[:, x]), factor))
            self._columns = (factors, carry)
        factors, carry = self._columns
        c = self.gx.to(torch.float64)
        r = rhs.to(torch.float64)
        z = [r[:, 0]]
        for x in range(1, lx):  # z_x = b_x + C_{x-1} S_{x-1}^-1 z_{x-1}
            prev = torch.cholesky_solve(z[-1][..., None], factors[x - 1])[..., 0]
            z.append(r[:, x] + c[:, x - 1] * prev)
        phi = [torch.cholesky_solve(z[-1][..., None], factors[-1])[..., 0]]
        for x in range(lx - 2, -1, -1):  # phi_x = S_x^-1 (z_x + C_x phi_{x+1})
            phi.append(torch.cholesky_solve((z[x] + c[:, x] * phi[-1])[..., None],
                                            factors[x])[..., 0])
        return torch.stack(phi[::-1], dim=1).to(rhs.dtype)

    def _coarse_factor(self) -> torch.Tensor:
        """Cholesky factor (float64) of the network of columns: P^T A P, P = column sums."""
        if self._coarse is None:
            b, lx, _ = self.shape
            gsum = self.gx.sum(dim=2).to(torch.float64)  # (B, Lx - 1)
            diag = torch.zeros(b, lx, dtype=torch.float64, device=self.gx.device)
            diag[:, 0] += self.gl.sum(dim=1).to(torch.float64)
            diag[:, -1] += self.gr.sum(dim=1).to(torch.float64)
            diag[:, :-1] += gsum
            diag[:, 1:] += gsum
            a = torch.diag_embed(diag) - torch.diag_embed(gsum, 1) - torch.diag_embed(gsum, -1)
            self._coarse = torch.linalg.cholesky(a)
        return self._coarse

    def precondition(self, r: torch.Tensor) -> torch.Tensor:
        """Jacobi plus the exact column-averaged correction (additive, symmetric)."""
        if self._inverse_diagonal is None:
            self._inverse_diagonal = 1.0 / self.diagonal()
        coarse = torch.cholesky_solve(r.sum(dim=2, keepdim=False)[..., None].to(torch.float64),
                                      self._coarse_factor())
        return self._inverse_diagonal * r + coarse.to(r.dtype)  # (B, Lx, 1) broadcasts over y

    def solve_cg(self, rhs: torch.Tensor, x0: torch.Tensor | None = None, rtol: float = 1e-5,
                 max_iter: int | None = None, info: CGInfo | None = None) -> torch.Tensor:
        """Preconditioned conjugate gradients, batched; every system to its own tolerance
        (a converged system's step is zero while the others go on)."""
        b, lx, ly = self.shape
        max_iter = max_iter or 10 * (lx + ly) + 100

        def dot(u, v):  # (B,) inner products, one batched matrix product
            return torch.bmm(u.reshape(b, 1, -1), v.reshape(b, -1, 1)).reshape(b)

        x = torch.zeros_like(rhs) if x0 is None else x0.clone()
        r = rhs - self.apply(x)
        norm_b = torch.linalg.vector_norm(rhs.reshape(b, -1), dim=1)
        target = torch.where(norm_b > 0, rtol * norm_b, torch.full_like(norm_b, math.inf))
        z = self.precondition(r)
        p = z.clone()
        rz = dot(r, z)
        res = torch.linalg.vector_norm(r.reshape(b, -1), dim=1)
        it = 0
        while it < max_iter:
            active = res > target
            if not bool(active.any()):
                break
            ap = self.apply(p)
            pap = dot(p, ap)
            alpha = torch.where(active & (pap > 0), rz / pap, torch.zeros_like(rz))[:, None, None]
            x.addcmul_(alpha, p)
            r.addcmul_(alpha, ap, value=-1.0)
            z = self.precondition(r)
            rz_new = dot(r, z)
            beta = torch.where(rz != 0, rz_new / rz, torch.zeros_like(rz))[:, None, None]
            p.mul_(beta).add_(z)
            rz = rz_new
            res = torch.linalg.vector_norm(r.reshape(b, -1), dim=1)
            it += 1
        converged = not bool((res > target).any())
        if info is not None:
            info.iterations, info.converged = it, converged
            info.relative_residual = float((res / torch.where(norm_b > 0, norm_b, 1)).max())
        if not converged and (info is None or info.strict):
            worst = float((res / torch.where(norm_b > 0, norm_b, 1)).max())
            raise NotConverged(
                f"conjugate gradients: relative residual {worst:.2e} after {it} iterations "
                f"(tolerance {rtol:g}); raise max_iter or rtol, or use solver='dense' on a "
                "small lattice")
        return x


# ----------------------------------------------------------------------------- autograd


class _Solve(torch.autograd.Function):
    """phi = A(g)^-1 b(g, mu), differentiated by the adjoint method (A is symmetric)."""

    @staticmethod
    def forward(ctx, gx, gy, gl, gr, mu_l, mu_r, solver, x0, rtol, info):
        net = KirchhoffNetwork(gx.detach(), gy.detach(), gl.detach(), gr.detach())
        phi = net.solve(net.rhs(mu_l.detach(), mu_r.detach()), solver, x0, rtol, info=info)
        ctx.net, ctx.solver, ctx.rtol = net, solver, rtol
        ctx.save_for_backward(phi, mu_l, mu_r)
        return phi

    @staticmethod
    def backward(ctx, grad_phi):
        phi, mu_l, mu_r = ctx.saved_tensors
        net = ctx.net
        lam = net.solve(grad_phi.contiguous(), ctx.solver, None, ctx.rtol * 1e-2)
        g_gx = -(lam[:, :-1] - lam[:, 1:]) * (phi[:, :-1] - phi[:, 1:])
        g_gy = -(lam - torch.roll(lam, -1, dims=2)) * (phi - torch.roll(phi, -1, dims=2))
        if net.shape[2] == 1:
            g_gy = torch.zeros_like(g_gy)
        g_gl = lam[:, 0] * (mu_l[:, None] - phi[:, 0])
        g_gr = lam[:, -1] * (mu_r[:, None] - phi[:, -1])
        g_mul = (net.gl * lam[:, 0]).sum(dim=1)
        g_mur = (net.gr * lam[:, -1]).sum(dim=1)
        return g_gx, g_gy, g_gl, g_gr, g_mul, g_mur, None, None, None, None


def kirchhoff_solve(gx: torch.Tensor, gy: torch.Tensor, gl: torch.Tensor, gr: torch.Tensor,
                    mu_l: torch.Tensor, mu_r: torch.Tensor, solver: str = "dense",
                    x0: torch.Tensor | None = None, rtol: float = 1e-5,
                    info: CGInfo | None = None) -> torch.Tensor:
    """The node potentials phi (B, Lx, Ly) of the networks (module docstring); differentiable
    in every conductance and in mu_l, mu_r.  ``solver``: ``dense`` or ``columns`` (exact,
    float64 inside; x0 and rtol ignored) or ``cg`` (warm start ``x0``, tolerance ``rtol``;
    ``info`` receives the iteration count)."""
    if solver not in SOLVERS:
        raise ValueError(f"solver={solver!r}: choose one of {SOLVERS}")
    return _Solve.apply(gx, gy, gl, gr, mu_l, mu_r, solver, x0, rtol, info)


def bond_currents(phi: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ohm's law on every bond: (B, Lx - 1, Ly) currents (x, y) -> (x + 1, y) and (B, Lx, Ly)
    currents (x, y) -> (x, y + 1 mod Ly)."""
    return (gx * (phi[:, :-1] - phi[:, 1:]), gy * (phi - torch.roll(phi, -1, dims=2)))
