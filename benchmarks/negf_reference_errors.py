"""Double-precision steady states against the 200-bit reference on bound states.

Usage: python benchmarks/negf_reference_errors.py [--cases 24] [--seed 7]
       [--compare-with OLD_NEGF.py]
The cases are those of tests/test_negf_bound_states.py: long 3-wide thermal CDWs
(Lx 30-44) with one site weakened by 0.3-0.6 at mid-length, V uniform in [0, 4].
Prints, per case, the largest density error of ``holstein.physics.negf.steady_state`` against
``tests/negf_reference.py`` and, with --compare-with, of another version of the module
(for example ``git show 3fe7013:src/holstein/physics/negf.py > /tmp/negf_old.py``, the closed
form with eig's imaginary parts).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from negf_reference import reference_density  # noqa: E402
from schema_defaults import DEFAULTS

SOLVER = DEFAULTS.solver_keywords  # the default physics and method


def bound_state_cases(seed: int, count: int):
    """(q, bias) of the reference test: one weakened site on a long 3-wide lattice."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        lx, ly = int(rng.integers(30, 45)), 3
        q = DEFAULTS.checkerboard(lx, ly) + 0.15 * rng.standard_normal((lx, ly))
        x = int(rng.integers(lx // 3, 2 * lx // 3))
        q[x, int(rng.integers(ly))] *= rng.uniform(0.3, 0.6)
        yield q, float(rng.uniform(0, 4))


def load_module(path: str):
    source = Path(path).read_text().replace("from .lattice", "from holstein.physics.lattice")
    module_path = Path("/tmp") / "negf_compared.py"
    module_path.write_text(source)
    spec = importlib.util.spec_from_file_location("negf_compared", module_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["negf_compared"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare-with", help="path of another negf.py to measure as well")
    args = parser.parse_args()
    other = load_module(args.compare_with) if args.compare_with else None
    new_errors, old_errors = [], []
    for k, (q, bias) in enumerate(bound_state_cases(args.seed, args.cases)):
        t0 = time.perf_counter()
        ref = reference_density(q, bias)
        seconds = time.perf_counter() - t0
        new_errors.append(float(np.abs(DEFAULTS.steady_state(q, bias).density - ref).max()))
        line = f"{k:2d} {q.shape[0]}x{q.shape[1]} V={bias:.2f} error {new_errors[-1]:.2e}"
        if other is not None:
            try:
                old_errors.append(float(np.abs(other.steady_state(q, bias, **SOLVER).density
                                               - ref).max()))
            except Exception as error:  # noqa: BLE001 - report, do not stop the survey
                old_errors.append(float("nan"))
                line += f" (compared: {type(error).__name__})"
            line += f", compared {old_errors[-1]:.2e}"
        print(line + f" (reference {seconds:.1f} s)", flush=True)
    print(f"largest error {max(new_errors):.2e} over {len(new_errors)} cases")
    if other is not None:
        old = np.array(old_errors)
        print(f"compared module: {int(np.sum(old > 1e-6))} of {len(old)} cases off by more "
              f"than 1e-6, range {np.nanmin(old):.2e} .. {np.nanmax(old):.2e}")


if __name__ == "__main__":
    main()
