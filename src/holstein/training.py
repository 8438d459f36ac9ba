"""Pipeline entry point for training: shards -> model checkpoint, metrics JSON, plots."""

from __future__ import annotations

import json
import logging

import numpy as np

from .atomic import pyplot, save_figure, write_text_atomic
from .dataset import load_shards
from .device import resolve_device
from .ml.metrics import held_out_evaluation
from .ml.parameters import TrainingParameters
from .ml.provenance import shard_records
from .ml.resume import training_state_path
from .ml.train import train

log = logging.getLogger(__name__)


def plot_parity(evaluation: dict, path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    lo, hi = np.inf, -np.inf
    for label, entry in sorted(evaluation["per_bias"].items(), key=lambda kv: float(kv[0])):
        true, pred = np.asarray(entry["true"]), np.asarray(entry["pred"])
        ax.plot(true, pred, ".", ms=1.5, alpha=0.4,
                label=f"V = {label}: RMSE/std = {entry['relative_rmse']:.3f}")
        lo, hi = min(lo, true.min(), pred.min()), max(hi, true.max(), pred.max())
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.set_xlabel("NEGF electronic force")
    ax.set_ylabel("ML electronic force")
    ax.set_title("Held-out trajectories", fontsize=10)
    ax.legend(fontsize=7, markerscale=6)
    save_figure(fig, path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def plot_loss(history: dict, path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.semilogy(history["train_loss"], label="training")
    ax.semilogy(history["val_loss"], label="validation (held-out trajectories)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised MSE)")
    ax.legend()
    save_figure(fig, path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def train_from_shards(shard_paths, hyper, checkpoint_path, metrics_path, parity_path,
                      loss_path, device="cpu") -> dict:
    """Train on the NEGF shards; ``hyper`` is the validated ``model`` config section;
    ``device``: the pipeline's device setting ('auto', 'cpu' or 'cuda')."""
    params = TrainingParameters.from_mapping(hyper)
    shards = shard_records(shard_paths)  # before reading: the record is of what is read
    data = load_shards(shard_paths)
    log.info("training set: %d snapshots from %d trajectories, lattice %dx%d",
             len(data["q"]), len(set(data["trajectory"])), data["meta"]["Lx"],
             data["meta"]["Ly"])
    # The resumable training state (every ``checkpoint_every_epochs`` epochs) is kept until
    # every output is written: a job killed after training but before its metrics resumes
    # from the finished state and skips the epochs.
    metrics = train(data, params, checkpoint_path, log=log.info, keep_training_state=True,
                    training_shards=shards, device=resolve_device(device))
    evaluation = held_out_evaluation(checkpoint_path, data)
    plot_parity(evaluation, parity_path)
    plot_loss(metrics["history"], loss_path)
    summary = {
        **{k: v for k, v in metrics.items() if k != "history"},
        "held_out_force_rmse": {
            label: {k: entry[k] for k in ("rmse", "force_std", "relative_rmse", "n_values")}
            for label, entry in evaluation["per_bias"].items()
        },
        "history": metrics["history"],
    }
    write_text_atomic(metrics_path, json.dumps(summary, indent=2, default=float))
    training_state_path(checkpoint_path).unlink(missing_ok=True)
    return summary
