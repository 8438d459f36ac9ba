"""Shared test inputs for holstein.ml: physics, random models, synthetic local targets.

Synthetic force: F = tanh(w * Q + 0.3 V) + V (0.4 [x = 0] - 0.2 [x = 1]) (w a fixed 3x3
stencil, mirror-even in y, zero beyond the open x ends, periodic in y).  Synthetic bond
currents: local, with exactly equal cross-section sums Ly * 0.2 tanh(V)
(``synthetic_bonds``).
"""

from __future__ import annotations

import numpy as np
import torch

from holstein.ml.model import Architecture, LocalForceField, mirror_y

PHYSICS = dict(t=1.0, g=1.5, K=1.0, kappa=0.18, gamma=1.0, temperature=0.1,
               bias_scheme="gated")
STENCIL = np.array([[0.1, 0.3, 0.1], [0.4, -0.8, 0.4], [0.2, 0.25, 0.2]])  # [dx+1, dy+1]


def architecture(cutoff=3, channels=6, expansion=0, bond_heads=False) -> Architecture:
    return Architecture(cutoff=cutoff, channels=channels, head_channels=channels,
                        expansion=expansion, bond_heads=bond_heads,
                        bond_head_channels=channels)


def random_model(cutoff=3, channels=6, seed=0, dtype=torch.float64, expansion=0,
                 bond_heads=False):
    torch.manual_seed(seed)
    norm = dict(q_mean=0.1, q_std=0.7, bias_mean=1.0, bias_std=2.0, onsite_mean=0.02,
                onsite_std=0.3)
    if bond_heads:  # a nonzero bond_current_y_mean must be ignored (odd quantity)
        norm.update(bond_current_x_mean=0.05, bond_current_x_std=0.2, bond_current_y_mean=0.3,
                    bond_current_y_std=0.1)
    model = LocalForceField(architecture(cutoff, channels, expansion, bond_heads), norm)
    return model.to(dtype).eval()


def run(model, q, bias=0.7) -> np.ndarray:
    """Model output (n - 1/2) for one (Lx, Ly) configuration, in the model's dtype."""
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        qt = torch.as_tensor(np.ascontiguousarray(q), dtype=dtype)[None]
        return model(qt, torch.tensor([bias], dtype=dtype))["onsite"][0].numpy()


def run_all(model, q, bias=0.7) -> dict[str, np.ndarray]:
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        qt = torch.as_tensor(np.ascontiguousarray(q), dtype=dtype)[None]
        return {k: v[0].numpy() for k, v in model(qt, torch.tensor([bias], dtype=dtype)).items()}


def mirror_np(a: np.ndarray, kind: str = "site") -> np.ndarray:
    return mirror_y(torch.as_tensor(a), kind).numpy()


def synthetic_force(q: np.ndarray, bias: float) -> np.ndarray:
    """Known local target: tanh(stencil * Q + 0.3 V) + V (0.4, -0.2) on columns x = 0, 1."""
    lx, ly = q.shape
    p = np.pad(q, ((1, 1), (0, 0)))  # open ends: zero beyond x
    p = np.concatenate([p[:, -1:], p, p[:, :1]], axis=1)  # periodic y
    s = sum(STENCIL[a, b] * p[a:a + lx, b:b + ly] for a in range(3) for b in range(3))
    f = np.tanh(s + 0.3 * bias)
    f[0] += 0.4 * bias
    f[1] -= 0.2 * bias
    return f


def synthetic_data(biases=(0.0, 1.0, 2.0), seeds=(0, 1), n=30, shape=(8, 6), offset=100):
    q, f, v, traj = [], [], [], []
    for k, (bias, seed) in enumerate((b, s) for b in biases for s in seeds):
        rng = np.random.default_rng(offset + 10 * seed + k)
        for _ in range(n):
            qi = rng.standard_normal(shape)
            q.append(qi)
            f.append(synthetic_force(qi, bias))
            v.append(bias)
            traj.append(k)
    f = np.array(f)
    meta = {"Lx": shape[0], "Ly": shape[1], "physics": {**PHYSICS, "damping": 0.2, "dt": 0.1}}
    return {"q": np.array(q), "force": f, "density": 0.5 - f / PHYSICS["g"],
            "bias": np.array(v), "trajectory": np.array(traj), "meta": meta}


def synthetic_bonds(q: np.ndarray, bias: float) -> tuple[np.ndarray, np.ndarray]:
    """Local bond currents with exactly equal cross-section sums Ly * 0.2 tanh(V).

    x bond (x, y)->(x+1, y): 0.2 tanh(V) + psi(y) - psi(y - 1) with the stream function
    psi(y) = 0.3 tanh(S(y + 1) - S(y)), S = Q(x) + Q(x + 1): psi is odd under the mirror,
    so the x current is even and its sum over the ring is exactly Ly * 0.2 tanh(V).
    y bond (y, y+1): 0.5 tanh(Q(y + 1) - Q(y)) (1 + 0.2 V), odd under the mirror.
    """
    s = q[:-1] + q[1:]
    psi = 0.3 * np.tanh(np.roll(s, -1, axis=1) - s)
    bx = 0.2 * np.tanh(bias) + psi - np.roll(psi, 1, axis=1)
    by = 0.5 * np.tanh(np.roll(q, -1, axis=1) - q) * (1 + 0.2 * bias)
    return bx, by


def with_bonds(data: dict) -> dict:
    pairs = [synthetic_bonds(q, v) for q, v in zip(data["q"], data["bias"], strict=True)]
    return {**data, "bond_current_x": np.array([p[0] for p in pairs]),
            "bond_current_y": np.array([p[1] for p in pairs])}
