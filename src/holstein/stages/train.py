"""Pipeline entry point for training: shards -> model checkpoint, metrics JSON, parity table."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from holstein.data.atomic import atomic_path, write_text_atomic
from holstein.data.shards import load_shards
from holstein.device import compute_device
from holstein.ml.checkpoint import read_checkpoint
from holstein.ml.metrics import predict
from holstein.ml.provider import load
from holstein.ml.training.parameters import TrainingParameters
from holstein.ml.training.provenance import shard_records
from holstein.ml.training.resume import training_state_path
from holstein.ml.training.trainer import timings, train

log = logging.getLogger(__name__)

PARITY_POINTS = 200_000


def parity_table(checkpoint_path, data: dict) -> pd.DataFrame:
    """The trained model's electronic force against NEGF's on the training set, for the
    parity plot: one row per force value with its ``bias``, ``trajectory`` and whether
    that trajectory was ``held_out`` from fitting (the checkpoint's validation split).

    At most ``PARITY_POINTS`` values per bias and split are kept (every k-th, so the
    table stays small on large lattices; a scatter plot shows no more).
    """
    ckpt = read_checkpoint(checkpoint_path)
    pred = predict(load(checkpoint_path), data)
    n_sites = pred[0].size
    trajectory = np.asarray(data["trajectory"])
    table = pd.DataFrame({
        "bias": np.repeat(np.asarray(data["bias"], dtype=float), n_sites),
        "trajectory": np.repeat(trajectory, n_sites),
        "held_out": np.repeat(np.isin(trajectory, ckpt["val_trajectories"]), n_sites),
        "negf_force": np.asarray(data["force"], dtype=np.float32).ravel(),
        "ml_force": pred.astype(np.float32).ravel(),
    })
    keep = []
    for _, group in table.groupby(["bias", "held_out"], sort=True):
        stride = -(-len(group) // PARITY_POINTS)  # ceiling division
        keep.append(group.iloc[::stride])
    return pd.concat(keep, ignore_index=True)


def held_out_force_rmse(validation: dict, n_sites: int) -> dict:
    """The force error on the held-out trajectories per bias label, from the trainer's own
    evaluation of the best model (``evaluate_rmse`` rows), with the force values counted."""
    return {
        f"{row['bias']:g}": {
            **{k: row[k] for k in ("rmse", "force_std", "relative_rmse")},
            "n_values": row["n_snapshots"] * n_sites,
        }
        for row in validation["per_bias"]
    }


def train_from_shards(shard_paths, hyper, checkpoint_path, metrics_path, parity_path,
                      cost_path=None, device="cpu", init_checkpoint=None) -> dict:
    """Train on the NEGF shards; ``hyper`` is the validated ``model`` config section;
    ``device``: the device the job was planned on ('cpu' or 'cuda'; 'auto' resolves here);
    ``init_checkpoint``: a checkpoint to start from (a warm start), None: random weights.

    Writes the checkpoint, the metrics (JSON, with the loss history) and the parity
    table (``parity_table``, Parquet); ``holstein.stages.model_figures`` draws them.  The
    wall times (of the training, of every epoch) go to ``cost_path`` (JSON; None: not
    written) instead: a re-run reproduces every other output byte for byte.
    """
    params = TrainingParameters.from_mapping(hyper)
    shards = shard_records(shard_paths)  # before reading: the record is of what is read
    data = load_shards(shard_paths)
    init_model = None if init_checkpoint is None else read_checkpoint(init_checkpoint)
    if init_model is not None:
        log.info("warm start from %s", init_checkpoint)
    log.info("training set: %d snapshots from %d trajectories, lattice %dx%d",
             len(data["q"]), len(set(data["trajectory"])), data["meta"]["Lx"],
             data["meta"]["Ly"])
    # The resumable training state (every ``checkpoint_every_epochs`` epochs) is kept until
    # every output is written: a job killed after training but before its metrics resumes
    # from the finished state and skips the epochs.
    with compute_device(device) as device:
        metrics = train(data, params, checkpoint_path, log=log.info, keep_training_state=True,
                        training_shards=shards, device=device, init_model=init_model)
    with atomic_path(parity_path) as tmp:
        parity_table(checkpoint_path, data).to_parquet(tmp, index=False)
    metrics, cost = timings(metrics)
    summary = {
        **{k: v for k, v in metrics.items() if k != "history"},
        "held_out_force_rmse": held_out_force_rmse(metrics["validation"],
                                                   np.asarray(data["force"][0]).size),
        "history": metrics["history"],
    }
    write_text_atomic(metrics_path, json.dumps(summary, indent=2, default=float))
    if cost_path is not None:
        write_text_atomic(cost_path, json.dumps(cost, indent=2, default=float))
    training_state_path(checkpoint_path).unlink(missing_ok=True)
    return summary
