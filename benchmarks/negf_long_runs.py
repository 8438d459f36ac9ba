"""NEGF Brownian runs on long lattices from the default config: the density range per run.

Usage: python benchmarks/negf_long_runs.py --lattices 40x14 48x14 --biases 2.0 2.25 3.0
       --seeds 778 779 --steps 300
Prints, per run, the smallest and largest site density over every step (both must lie
in [0, 1]) and the seconds per step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

from holstein.physics.dynamics import BrownianIntegrator
from holstein.physics.forces import negf_provider
from holstein.physics.langevin import brownian_parameters
from holstein.physics.lattice import checkerboard

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lattices", nargs="+", default=["40x14", "48x14"])
    parser.add_argument("--biases", nargs="+", type=float, default=[2.0, 2.25, 3.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[778, 779])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    cfg = yaml.safe_load(CONFIG.read_text())
    physics, dynamics = cfg["physics"], cfg["dynamics"]
    for shape in args.lattices:
        lx, ly = (int(n) for n in shape.split("x"))
        for bias in args.biases:
            for seed in args.seeds:
                q0 = checkerboard(lx, ly, physics["g"], physics["K"], physics["kappa"])
                integ = BrownianIntegrator(q0, negf_provider(physics, cfg["negf"]["method"]), bias,
                                           brownian_parameters(physics, dynamics), seed)
                low, high, t0 = np.inf, -np.inf, time.perf_counter()
                for _ in range(args.steps):
                    response = integ.electronic(observables=True)
                    low = min(low, float(response.density.min()))
                    high = max(high, float(response.density.max()))
                    integ.advance(integ.tensor(response.force))
                print(f"{shape} V={bias:g} seed {seed}: density in [{low:.6f}, {high:.6f}], "
                      f"{(time.perf_counter() - t0) / args.steps:.3f} s/step", flush=True)


if __name__ == "__main__":
    main()
