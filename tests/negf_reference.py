"""An independent extended-precision closed form of the steady state (python-flint, arb).

Shares nothing with ``holstein.physics.negf`` but the lattice geometry: H_eff is built here, the
eigen-decomposition is arb's at ``PRECISION_BITS`` bits (about 60 digits), the left
eigenvectors are the inverse of the right ones, and the kernel
K_mn = sum_a (W Gamma_a W^+)_mn (p^a_m - conj p^a_n - i pi) / (2 pi (lam_m - conj lam_n))
with p = digamma(1/2 + i (lam - mu) / (2 pi kT)) is evaluated in the same precision.  At
this precision the widths of states bound deep in the CDW (1e-20 .. 1e-40) are resolved,
so it is the reference for the double-precision code where eig's rounding is not.
"""

from __future__ import annotations

import numpy as np

PRECISION_BITS = 200


def reference_density(q, bias, t=1.0, g=1.5, gamma=1.0, temperature=0.1):
    """Site densities (Lx, Ly) in float64 for h = -t A + g diag(Q), leads on the end
    columns, the gated scheme (mu_L = bias, mu_R = 0)."""
    import flint

    flint.ctx.prec = PRECISION_BITS
    lx, ly = q.shape
    n = lx * ly
    idx = np.arange(n).reshape(lx, ly)
    h = [[flint.acb(0) for _ in range(n)] for _ in range(n)]
    for x in range(lx):
        for y in range(ly):
            i = idx[x, y]
            h[i][i] = flint.acb(g * float(q[x, y]))
            nbrs = [idx[x + 1, y]] if x + 1 < lx else []
            if ly > 1:
                nbrs.append(idx[x, (y + 1) % ly])
            for j in nbrs:
                if j != i:
                    h[i][j] -= t
                    h[j][i] -= t
    leads = {"L": list(idx[0]), "R": list(idx[-1])}
    for sites in leads.values():
        for i in sites:
            h[i][i] -= flint.acb(0, 0.5 * gamma)
    heff = flint.acb_mat(h)
    lam, v = heff.eig(right=True, algorithm="approx")
    v = flint.acb_mat(v)
    w = v.inv()
    mus = {"L": float(bias), "R": 0.0}
    pi = flint.arb.pi()
    two_pi_t = 2 * pi * flint.arb(temperature)
    lam = list(lam)
    wl = {a: [[w[m, i] for i in leads[a]] for m in range(n)] for a in leads}
    p = {a: [(flint.acb(0.5) + flint.acb(0, 1) * (lm - mus[a]) / two_pi_t).digamma()
             for lm in lam] for a in leads}
    kernel = flint.acb_mat(n, n)
    for m in range(n):
        for k in range(n):
            total = flint.acb(0)
            for a in leads:
                weight = sum((wl[a][m][s] * wl[a][k][s].conjugate() for s in range(ly)),
                             flint.acb(0)) * gamma
                total += weight * (p[a][m] - p[a][k].conjugate() - flint.acb(0, 1) * pi)
            kernel[m, k] = total / (2 * pi * (lam[m] - lam[k].conjugate()))
    vk = v * kernel
    dens = np.empty(n)
    for i in range(n):
        dens[i] = float(sum((vk[i, k] * v[i, k].conjugate() for k in range(n)),
                            flint.acb(0)).real.mid())
    return dens.reshape(lx, ly)
