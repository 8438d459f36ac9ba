"""The property sweep of tests/test_negf_bound_states.py, on as many cases as asked.

Usage: python benchmarks/negf_property_sweep.py [--cases 3000] [--seed 2027]
Each case: a thermal CDW of Lx 32-96 x Ly 3-8 with one weakened site or column, V in
[0, 4]; every density must be finite and in [0, 1] (to 1e-9) and every x cross-section
must carry Landauer's current.  Prints the count of cases and of failures, and the
extreme densities seen.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_negf_bound_states import check_physical, sweep_case  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    failures, low, high, t0 = [], np.inf, -np.inf, time.perf_counter()
    for k in range(args.cases):
        q, bias = sweep_case(rng)
        try:
            density = check_physical(q, bias).density
            low, high = min(low, density.min()), max(high, density.max())
        except AssertionError as error:
            failures.append((k, q.shape, bias, str(error)[:200]))
        if (k + 1) % 500 == 0:
            print(f"{k + 1} cases, {len(failures)} failures, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    print(f"{args.cases} cases (seed {args.seed}): {len(failures)} failures; densities in "
          f"[{low:.6f}, {high:.6f}]")
    for failure in failures[:20]:
        print("  failed:", *failure)


if __name__ == "__main__":
    main()
