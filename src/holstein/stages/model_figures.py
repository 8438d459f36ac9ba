"""Figures of the trained force field: force parity per training bias, loss curves.

Drawn from what training wrote (``holstein.stages.train``: the parity table and metrics.json)
in a job of their own, so that a change of a figure never retrains the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from holstein.report import plotting as pl

FITTED_COLOR = "0.6"


def _relative_rmse(group: pd.DataFrame) -> float:
    ref = group["negf_force"].to_numpy(dtype=float)
    err = group["ml_force"].to_numpy(dtype=float) - ref
    std = float(np.std(ref))
    return float(np.sqrt(np.mean(err**2))) / std if std > 0 else float("inf")


def plot_parity(table: pd.DataFrame, setting: str, path) -> None:
    """One panel per training bias: ML against NEGF force, fitted trajectories in grey,
    held-out ones in the ML colour, each with its RMSE relative to the force std."""
    plt = pl.pyplot()
    biases = sorted(table["bias"].unique())
    ncols = min(len(biases), 5)
    nrows = -(-len(biases) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.9 * nrows + 0.5),
                             layout="constrained", squeeze=False, sharex=True, sharey=True)
    lo = float(table[["negf_force", "ml_force"]].min().min())
    hi = float(table[["negf_force", "ml_force"]].max().max())
    for ax, bias in zip(axes.flat, biases, strict=False):
        at_bias = table[table["bias"] == bias]
        lines = []
        for held, color, what in ((False, FITTED_COLOR, "fitted"),
                                  (True, pl.PROVIDERS["ml"].color, "held out")):
            group = at_bias[at_bias["held_out"] == held]
            if group.empty:
                lines.append(f"{what}: none")
                continue
            ax.plot(group["negf_force"], group["ml_force"], ".", ms=1.2, alpha=0.3,
                    color=color, rasterized=True)
            n_traj = group["trajectory"].nunique()
            lines.append(f"{what} ({n_traj} traj.): RMSE/std = {_relative_rmse(group):.3f}")
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.7)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_title(f"V = {bias:g} t/e", fontsize=9)
        ax.text(0.03, 0.97, "\n".join(lines), transform=ax.transAxes, fontsize=6.5,
                va="top", ha="left", bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    for ax in axes.flat[len(biases):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("NEGF " + pl.FORCE)
    for ax in axes[:, 0]:
        ax.set_ylabel("ML " + pl.FORCE)
    pl.suptitle(fig, "Force parity at every training bias: trajectories used in fitting (grey) "
                "and held out from it (orange)", setting)
    pl.finish(fig, path, dpi=120)


def _loss_panel(ax, history: dict, best_epoch: int, title: str) -> None:
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax.semilogy(epochs, history["train_loss"], color="0.3", label="training")
    ax.semilogy(epochs, history["val_loss"], color=pl.PROVIDERS["ml"].color,
                label="validation (held-out trajectories)")
    if 1 <= best_epoch <= len(epochs):
        best = history["val_loss"][best_epoch - 1]
        ax.axvline(best_epoch, color="k", ls=":", lw=0.8)
        ax.plot([best_epoch], [best], "k*", ms=10,
                label=f"best epoch {best_epoch}: validation loss {best:.3g} (kept)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised MSE, dimensionless)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def plot_loss(metrics: dict, path) -> None:
    """Loss against epoch of the force stage and, if trained, the bond-head stage, each
    with the best validation epoch (the one the checkpoint keeps) marked."""
    plt = pl.pyplot()
    bond = metrics.get("bond_history")
    fig, axes = plt.subplots(1, 2 if bond else 1, figsize=(10 if bond else 5.2, 3.6),
                             layout="constrained", squeeze=False)
    _loss_panel(axes[0][0], metrics["history"], metrics["best_epoch"], "force stage")
    if bond:
        _loss_panel(axes[0][1], bond, metrics["bond_stage"]["best_epoch"],
                    "bond-current heads (backbone frozen)")
    pl.finish(fig, path, note=None)


def make_model_figures(metrics_path, parity_path, parity_figure, loss_figure, lattice,
                       physics) -> None:
    """Parity and loss figures from training's outputs; ``lattice`` and ``physics`` (the
    config sections) name the setting in the title."""
    plot_parity(pd.read_parquet(parity_path), pl.setting(lattice, physics), parity_figure)
    plot_loss(json.loads(Path(metrics_path).read_text()), loss_figure)
