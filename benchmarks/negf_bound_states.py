"""Cost and effect of the bound-state handling of the NEGF closed form, against another
version of ``holstein.physics.negf`` measured in the same run.

Usage: git show 3fe7013:src/holstein/physics/negf.py > /tmp/negf_old.py
       python benchmarks/negf_bound_states.py --compare-with /tmp/negf_old.py [--repeats 5]
Prints, for 10 thermal 16 x 14 configurations (the default lattice, no deep bound
state), the largest density difference between the two versions, and for a thermal
40 x 30 configuration the median time of one ``steady_state`` of each version over the
median time of one ``scipy.linalg.eig`` of the same H_eff, timed in turn in the same run.
With --run-steps N, also an NEGF Brownian run of the default training lattice and physics
(16 x 14, V = 2.2, seed 1, Euler-Maruyama, dt 0.1) with each version's force: the largest
difference of q and of the density over the N steps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from negf_reference_errors import load_module  # noqa: E402
from schema_defaults import DEFAULTS

SOLVER = DEFAULTS.solver_keywords  # the default physics and method

from holstein.physics import negf  # noqa: E402


class VersionProvider:
    """The NEGF force of a given version of the module (default physics)."""

    def __init__(self, module):
        self.module = module

    def evaluate(self, q, bias, observables=True):
        from holstein.physics.forces import ElectronicResponse

        ss = self.module.steady_state(q, bias, **SOLVER)
        return ElectronicResponse(force=ss.electronic_force(1.5), density=ss.density,
                                  current=ss.current)

    def electronic_force(self, q, bias):
        return self.evaluate(q, bias).force


def compare_runs(other, n_steps: int) -> None:
    from holstein.physics.dynamics import run_brownian

    runs = [run_brownian(DEFAULTS.checkerboard(16, 14), VersionProvider(module), 2.2,
                         DEFAULTS.brownian(), n_steps, seed=1, stride=1, record=("density",))
            for module in (negf, other)]
    dq = float(np.abs(runs[0].q - runs[1].q).max())
    dn = float(np.abs(runs[0].density - runs[1].density).max())
    print(f"16 x 14 NEGF run, V = 2.2, seed 1, {n_steps} steps: largest |q difference| "
          f"{dq:.2e}, largest |density difference| {dn:.2e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-with", required=True,
                        help="path of another negf.py (the version before the change)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run-steps", type=int, default=0)
    args = parser.parse_args()
    other = load_module(args.compare_with)
    if args.run_steps:
        compare_runs(other, args.run_steps)
    rng = np.random.default_rng(0)
    changes = []
    for _ in range(10):
        q = DEFAULTS.checkerboard(16, 14) + 0.15 * rng.standard_normal((16, 14))
        bias = float(rng.uniform(1.5, 3.0))
        changes.append(np.abs(negf.steady_state(q, bias, **SOLVER).density
                              - other.steady_state(q, bias, **SOLVER).density).max())
    print(f"16 x 14, 10 thermal configurations: largest density difference "
          f"{max(changes):.2e}", flush=True)
    q = DEFAULTS.checkerboard(40, 30) + 0.15 * rng.standard_normal((40, 30))
    heff = negf.effective_hamiltonian(q, 1.0, 1.5, 1.0)
    times = {"eig": [], "this": [], "compared": []}
    for _ in range(args.repeats):
        for name, call in (("eig", lambda: scipy.linalg.eig(heff, check_finite=False)),
                           ("this", lambda: negf.steady_state(q, 2.2, **SOLVER)),
                           ("compared", lambda: other.steady_state(q, 2.2, **SOLVER))):
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"40 x 30 (medians of {args.repeats}): eig {med['eig']:.3f} s, steady_state "
          f"{med['this']:.3f} s ({med['this'] / med['eig']:.3f} x eig), compared version "
          f"{med['compared']:.3f} s ({med['compared'] / med['eig']:.3f} x eig); "
          f"this / compared {med['this'] / med['compared']:.3f}")


if __name__ == "__main__":
    main()
