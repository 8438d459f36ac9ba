"""Cost and effect of the Rayleigh-quotient widths of the NEGF closed form.

Prints, for thermal 16 x 14 configurations (no deep bound state), the largest density
change against eig's own imaginary parts, and for 40 x 30 the median time of one
``steady_state`` over the median time of one ``scipy.linalg.eig`` of the same H_eff,
measured alternately in the same run.  Usage: python benchmarks/negf_bound_states.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg

from holstein import negf
from holstein.lattice import checkerboard


def eig_widths_density(q, bias):
    """The density with eig's imaginary parts kept (the closed form before the change)."""
    heff = negf.effective_hamiltonian(q, 1.0, 1.5, 1.0)
    lam, v, w = negf.spectral_decomposition(heff, "fast")
    saved = negf.rayleigh_widths
    negf.rayleigh_widths = lambda w_, ll, lr: lam.imag
    try:
        return negf._closed_form(negf.Lattice.of(q), lam, v, w, {"L": bias, "R": 0.0},
                                 1.0, 1.0, 0.1).density
    finally:
        negf.rayleigh_widths = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    changes = []
    for _ in range(10):
        q = checkerboard(16, 14) + 0.15 * rng.standard_normal((16, 14))
        bias = float(rng.uniform(1.5, 3.0))
        changes.append(np.abs(negf.steady_state(q, bias).density
                              - eig_widths_density(q, bias)).max())
    print(f"16 x 14, 10 thermal configurations: largest density change {max(changes):.2e}")
    q = checkerboard(40, 30) + 0.15 * rng.standard_normal((40, 30))
    heff = negf.effective_hamiltonian(q, 1.0, 1.5, 1.0)
    t_eig, t_ss = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        scipy.linalg.eig(heff, check_finite=False)
        t_eig.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        negf.steady_state(q, 2.2)
        t_ss.append(time.perf_counter() - t0)
    print(f"40 x 30: steady_state {np.median(t_ss):.3f} s, eig {np.median(t_eig):.3f} s, "
          f"ratio {np.median(t_ss) / np.median(t_eig):.3f} (medians of {args.repeats})")


if __name__ == "__main__":
    main()
