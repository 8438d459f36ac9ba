"""The ML force on a GPU against float32 on the CPU, under the precision policy.

Usage: python benchmarks/ml_precision.py [--device cuda] [--out FILE]
A local model with random weights (seeded) on a 64 x 64 CDW configuration with noise:
the largest force difference between ``--device`` and the CPU, relative to the largest
CPU force, with TF32 off (the policy of ``holstein.device.gpu_precision``) and, for
comparison, with TF32 allowed.  The GPU test tolerance (1e-5 of the force scale,
tests/ml/test_provider.py) assumes the policy.  On the CPU both differences are 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from schema_defaults import DEFAULTS

from holstein.ml.model import Architecture, LocalForceField
from holstein.ml.provider import MLForceProvider

PHYSICS = DEFAULTS.physics


def relative_difference(model, q, device, tf32: bool) -> float:
    reference = MLForceProvider(model, PHYSICS, device="cpu").electronic_force(q, 2.2)
    provider = MLForceProvider(model, PHYSICS, device=device)  # sets the policy on a GPU
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    force = provider.electronic_force(q, 2.2)
    return float(np.abs(force - reference).max() / np.abs(reference).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = LocalForceField(Architecture(cutoff=6, channels=16, head_channels=16, expansion=0,
                                         bond_heads=False, bond_head_channels=16))
    q = DEFAULTS.checkerboard(64, 64) + 0.05 * np.random.default_rng(1).standard_normal((64, 64))
    row = {"device": args.device,
           "name": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
           "tf32_off": relative_difference(model, q, args.device, False),
           "tf32_on": relative_difference(model, q, args.device, True)}
    print(json.dumps(row))
    if args.out:
        Path(args.out).write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
