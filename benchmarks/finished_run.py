"""What the training benchmarks read from a finished pipeline run: its training shards
(those the configuration names), its NEGF reference runs, and a trained model's force
error on them."""

from __future__ import annotations

from pathlib import Path

from holstein.data.io import read_trajectory
from holstein.ml.provider import MLForceProvider, model_from_checkpoint
from holstein.ml.reference import ReferenceRun, reference_force_rmse
from holstein.pipeline.config import bias_label


def training_shards(results: Path, config: dict) -> list[Path]:
    """The run's NEGF training shards that ``config['training_data']`` names, sorted."""
    wanted = {f"V{bias_label(b)}_s{s}" for b in config["training_data"]["biases"]
              for s in config["training_data"]["seeds"]}
    shards = [p for p in sorted((results / "negf_training").glob("*.parquet"))
              if p.stem in wanted]
    if len(shards) != len(wanted):
        raise SystemExit(f"{results}/negf_training: {len(shards)} of the {len(wanted)} "
                         "training shards the config names; run the pipeline first")
    return shards


def runs(paths) -> list[ReferenceRun]:
    """NEGF trajectories as reference runs (no analysis summaries)."""
    return [ReferenceRun(str(p), *read_trajectory(p), {}) for p in paths]


def reference_runs(results: Path) -> list[ReferenceRun]:
    """The run's NEGF validation runs (``results/runs/negf``), never trained on."""
    return runs(sorted((results / "runs" / "negf").glob("*.parquet")))


def rmse_table(checkpoint: dict, reference, test=()) -> dict:
    """Force RMSE / std per bias of a checkpoint's model on the reference runs and, if
    given, on held-out test shards."""
    provider = MLForceProvider(model_from_checkpoint(checkpoint), checkpoint["physics"],
                               checkpoint["lattice_shape"])
    out = {"reference_runs": reference_force_rmse(provider, reference)}
    if test:
        out["test_shards"] = reference_force_rmse(provider, list(test))
    return out
