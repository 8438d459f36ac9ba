"""Predictions over many snapshots and their errors against a reference (NEGF).

``evaluate_rmse`` (force error per bias), ``bond_current_metrics`` (bond and device
currents); ``error_row`` is the one error summary.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from holstein.ml.model import BOND_OUTPUTS, LocalForceField
from holstein.ml.provider import MLForceProvider, load
from holstein.ml.training_set import check_data, physics_from_meta
from holstein.physics.observables import device_current, kirchhoff_spread


def _as_provider(obj, data: Mapping[str, Any] | None = None):
    if isinstance(obj, str | os.PathLike):
        return load(obj)
    if isinstance(obj, LocalForceField):
        if data is None or "meta" not in data:
            raise ValueError("a bare LocalForceField needs data['meta'] with g")
        return MLForceProvider(obj, physics_from_meta(data["meta"]))
    return obj


def predict_all(provider: MLForceProvider, q: np.ndarray, bias: np.ndarray,
                batch_size: int = 64, observables: bool = True) -> dict[str, np.ndarray]:
    """``provider.predict_batch`` over many snapshots in batches, outputs concatenated."""
    q = np.asarray(q, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    parts = [provider.predict_batch(q[s : s + batch_size], bias[s : s + batch_size],
                                    observables)
             for s in range(0, len(q), batch_size)]
    if not parts:
        return {"force": np.zeros_like(q)}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def predict(model_or_provider, data: Mapping[str, Any], batch_size: int = 64) -> np.ndarray:
    """Predicted electronic force (n, Lx, Ly) for ``data['q']``, ``data['bias']``.

    Accepts an MLForceProvider, a checkpoint path, a LocalForceField (g from
    ``data['meta']``) or any provider with ``electronic_force`` (e.g. NEGF).
    """
    provider = _as_provider(model_or_provider, data)
    if hasattr(provider, "predict_batch"):
        return predict_all(provider, data["q"], data["bias"], batch_size,
                           observables=False)["force"]
    q = np.asarray(data["q"], dtype=np.float64)
    bias = np.asarray(data["bias"], dtype=np.float64)
    return np.stack([provider.electronic_force(qi, bi) for qi, bi in zip(q, bias, strict=True)])


def error_row(pred: np.ndarray, ref: np.ndarray) -> dict:
    """RMSE, the reference's standard deviation (``std``), their ratio, the largest error."""
    rmse = float(np.sqrt(np.mean((pred - ref) ** 2)))
    std = float(np.std(ref))
    return {
        "rmse": rmse,
        "std": std,
        "relative_rmse": rmse / std if std > 0 else float("inf"),
        "max_abs_error": float(np.max(np.abs(pred - ref))),
    }


def _rmse_row(pred: np.ndarray, ref: np.ndarray) -> dict:
    row = error_row(pred, ref)
    return {"rmse": row["rmse"], "force_std": row["std"],
            "relative_rmse": row["relative_rmse"], "max_abs_error": row["max_abs_error"],
            "n_snapshots": int(len(ref))}


def evaluate_rmse(
    model_or_provider, data: Mapping[str, Any], return_predictions: bool = False,
    batch_size: int = 64,
) -> dict:
    """Held-out force RMSE and force standard deviation per bias (and overall).

    Returns a JSON-ready dict ``{"per_bias": [{"bias", "rmse", "force_std",
    "relative_rmse", "max_abs_error", "n_snapshots"}, ...], "overall": {...},
    "max_relative_rmse": float}``.  ``return_predictions=True`` adds ``"predictions"``
    (n, Lx, Ly) for a parity plot (a numpy array: drop it before writing JSON).
    """
    check_data(data, ("q", "force", "bias"))
    pred = predict(model_or_provider, data, batch_size)
    ref = np.asarray(data["force"], dtype=np.float64)
    bias = np.asarray(data["bias"], dtype=np.float64)
    rows = []
    for b in np.unique(bias):
        sel = bias == b
        rows.append({"bias": float(b), **_rmse_row(pred[sel], ref[sel])})
    out = {
        "per_bias": rows,
        "overall": _rmse_row(pred, ref),
        "max_relative_rmse": max(r["relative_rmse"] for r in rows),
    }
    if return_predictions:
        out["predictions"] = pred
    return out


def bond_current_metrics(provider, data: Mapping[str, Any], batch_size: int = 64) -> dict:
    """Bond-current and device-current errors of a provider with bond heads.

    ``data``: ``q``, ``bias``, ``bond_current_x``, ``bond_current_y`` (NEGF).  Returns
    ``{"bond_current_x": row, "bond_current_y": row, "current": row}`` with row = {rmse,
    std, relative_rmse, max_abs_error} (current: per snapshot), plus
    ``"mean_kirchhoff_spread"`` of the predicted x-bond currents.
    """
    pred = predict_all(provider, data["q"], data["bias"], batch_size)
    ref = {k: np.asarray(data[k], dtype=np.float64) for k in BOND_OUTPUTS}
    ref["current"] = device_current(ref["bond_current_x"])
    out = {k: error_row(pred[k], ref[k]) for k in ref}
    out["mean_kirchhoff_spread"] = float(np.mean(kirchhoff_spread(pred["bond_current_x"])))
    return out
