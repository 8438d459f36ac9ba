"""Stage: every active-learning iteration's numbers as a summary and a figure."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from holstein.data.atomic import write_text_atomic
from holstein.ml.active_learning import CLASSES
from holstein.report import plotting as pl
from holstein.report.tables import number

log = logging.getLogger(__name__)


def plot_iterations(rows: list[dict], path) -> None:
    """Labels and NEGF solves, the exploration's class fractions, and the reference force
    error per bias, against the iteration."""
    plt = pl.pyplot()
    it = np.array([r["iteration"] for r in rows])
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), layout="constrained")
    ax = axes[0]
    ax.bar(it, [r["seed_set"]["negf_solves"] for r in rows], color="0.7",
           label="NEGF training shards (every step solved)")
    ax.bar(it, [r["labels"] for r in rows], bottom=[r["seed_set"]["negf_solves"] for r in rows],
           color="C2", label="labels (one solve each)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("NEGF solves used for training")
    ax.set_title("Cost of the training data", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    explored = [(i, r["exploration"]) for i, r in zip(it, rows, strict=True) if r["exploration"]]
    colors = {"accurate": "C2", "candidate": "C1", "failed": "C3"}
    for name in CLASSES:
        ax.plot([i for i, _ in explored], [100 * e[f"{name}_fraction"] for _, e in explored],
                marker="o", color=colors[name], label=name)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("iteration (exploring with the previous iteration's committee)")
    ax.set_ylabel("explored frames (%)")
    ax.set_title("Accurate / candidate / failed frames of the exploration", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2]
    biases = sorted({b for r in rows for b in r["reference_force_rmse"]}, key=float)
    for k, b in enumerate(biases):
        ax.plot(it, [r["reference_force_rmse"].get(b, {}).get("relative_rmse", np.nan)
                     for r in rows], marker="s", color=f"C{k + 4}", label=f"V = {b} t/e")
    ax.set_xlabel("iteration")
    ax.set_ylabel("force RMSE / NEGF force std")
    ax.set_title("Committee on the held-out NEGF reference runs", fontsize=9)
    ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xticks(it)
    pl.suptitle(fig, "Active learning: labels, exploration and error per iteration")
    pl.finish(fig, path)


def active_learning_report(metrics_paths, summary_path, figure_path) -> dict:
    """Every iteration's metrics, in order, as ``summary.json`` and the figure."""
    rows = sorted((json.loads(Path(p).read_text()) for p in metrics_paths),
                  key=lambda r: r["iteration"])
    table = pd.DataFrame([{
        "iteration": r["iteration"], "labels": r["labels"],
        "negf_solves_for_training": r["negf_solves_for_training"],
        **({f"{c}_fraction": r["exploration"][f"{c}_fraction"] for c in CLASSES}
           if r["exploration"] else {}),
        **{f"relative_rmse_V{b}": v["relative_rmse"]
           for b, v in r["reference_force_rmse"].items()}} for r in rows])
    summary = {"iterations": rows, "table": json.loads(table.to_json(orient="records"))}
    plot_iterations(rows, figure_path)
    write_text_atomic(summary_path, json.dumps(summary, indent=2, default=float))
    for r in rows:  # one line per iteration in the job's log
        log.info("iteration %d: %d labels, %d NEGF solves; reference RMSE / std %s",
                 r["iteration"], r["labels"], r["negf_solves_for_training"],
                 ", ".join(f"V={b}: {number(v['relative_rmse'])}"
                           for b, v in r["reference_force_rmse"].items()))
    return summary
