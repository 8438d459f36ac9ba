"""Figures of the trained model (``holstein.stages.model_figures``): parity per bias, loss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from holstein.report import plotting as pl
from holstein.stages import model_figures


@pytest.fixture()
def captured(monkeypatch):
    figures = []
    monkeypatch.setattr(pl, "finish", lambda fig, path, **kw: figures.append(fig))
    yield figures
    for fig in figures:
        pl.pyplot().close(fig)


def parity_table():
    """Three training biases; only V = 2 has a held-out trajectory (a random split)."""
    rng = np.random.default_rng(1)
    rows = []
    for trajectory, (bias, held) in enumerate([(1.5, False), (2.0, False), (2.0, True),
                                               (3.0, False)]):
        negf = rng.normal(size=50)
        rows.append(pd.DataFrame({"bias": bias, "trajectory": trajectory, "held_out": held,
                                  "negf_force": negf, "ml_force": negf + 0.1 * (1 + held)}))
    return pd.concat(rows, ignore_index=True)


def test_parity_has_a_panel_for_every_training_bias(captured, tmp_path):
    table = parity_table()
    model_figures.plot_parity(table, "7 × 6 lattice", tmp_path / "parity.png")
    (fig,) = captured
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["V = 1.5 t/e", "V = 2 t/e", "V = 3 t/e"]
    texts = {ax.get_title(): ax.texts[0].get_text() for ax in panels}
    assert "held out: none" in texts["V = 1.5 t/e"]
    assert "held out (1 traj.)" in texts["V = 2 t/e"]
    # the printed ratio is RMSE / std of that group
    group = table[(table.bias == 2.0) & table.held_out]
    expected = 0.2 / np.std(group.negf_force)
    assert f"RMSE/std = {expected:.3f}" in texts["V = 2 t/e"]
    assert panels[0].get_xlabel() == "NEGF electronic force ($t$)"


def test_loss_marks_the_best_epoch_of_each_stage(captured, tmp_path):
    history = {"train_loss": [1.0, 0.5, 0.4, 0.3], "val_loss": [1.1, 0.6, 0.7, 0.8]}
    bond = {"train_loss": [0.9, 0.8], "val_loss": [0.5, 0.4]}
    model_figures.plot_loss({"history": history, "best_epoch": 2, "bond_history": bond,
                             "bond_stage": {"best_epoch": 2}}, tmp_path / "loss.png")
    (fig,) = captured
    force, heads = fig.axes
    stars = [line for line in force.lines if line.get_marker() == "*"]
    assert len(stars) == 1
    assert stars[0].get_xdata()[0] == 2 and stars[0].get_ydata()[0] == 0.6
    assert "best epoch 2" in stars[0].get_label()
    assert [line.get_marker() for line in heads.lines].count("*") == 1
    np.testing.assert_array_equal(force.lines[0].get_xdata(), [1, 2, 3, 4])  # epochs from 1
