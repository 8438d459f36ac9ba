"""The one fitting loop (``holstein.ml.training.fit.fit``) on a toy least-squares problem.

A single weight w fitted to y = 2 x (training set) and judged on y = x (validation set):
the validation loss falls while w approaches 1 and rises after, so the best epoch lies
inside the run and the weights restored at the end must be those of that epoch, not the
last ones.  With a learning rate of 0 nothing improves after epoch 1: early stopping
after exactly ``patience`` more epochs.  A non-finite training loss raises.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from holstein.ml.training.fit import fit, mean_loss


def toy(lr: float):
    torch.manual_seed(0)
    module = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.zero_()
    x = torch.linspace(-1, 1, 16)[:, None]
    train_set, val_set = {"x": x, "y": 2 * x}, {"x": x, "y": x}

    def loss(batch):
        return torch.mean((module(batch["x"]) - batch["y"]) ** 2)

    opt = torch.optim.SGD(module.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=100)
    return module, loss, train_set, val_set, opt, sched


def run_fit(lr, max_epochs, patience, **kwargs):
    module, loss, train_set, val_set, opt, sched = toy(lr)
    lines: list[str] = []
    progress = fit(module, loss, train_set, val_set, opt, sched,
                   generator=torch.Generator().manual_seed(0), batch_size=4,
                   max_epochs=max_epochs, patience=patience, log=lines.append, **kwargs)
    return module, loss, val_set, progress, lines


def test_the_best_weights_are_restored():
    module, loss, val_set, progress, lines = run_fit(0.1, 40, 100)
    val = progress.history["val_loss"]
    assert len(val) == progress.epoch == 40 and progress.finished
    assert 1 < progress.best_epoch < 40 and val[-1] > 2 * min(val)  # overshoots after
    assert progress.best_loss == min(val) == val[progress.best_epoch - 1]
    assert mean_loss(loss, val_set, 64) == pytest.approx(progress.best_loss, rel=1e-6)
    assert abs(module.weight.item() - 1) < abs(2 - module.weight.item())
    assert len([s for s in lines if s.startswith("epoch ")]) == 40


def test_early_stopping_after_patience_epochs_without_improvement():
    calls: list[int] = []
    _, _, _, progress, lines = run_fit(0.0, 40, 3, label="toy: ", log_every=10,
                                       on_epoch_end=lambda p: calls.append(p.epoch))
    assert progress.epoch == 4 and progress.best_epoch == 1 and progress.finished
    assert calls == [1, 2, 3, 4]
    assert lines[-1] == "toy: early stop at epoch 4: no improvement for 3 epochs"
    assert lines[-2].startswith("toy: epoch 4/40: ")  # logged at the stop, not only every 10


def test_a_non_finite_training_loss_raises():
    module, loss, train_set, val_set, opt, sched = toy(0.1)
    with pytest.raises(FloatingPointError, match="toy: epoch 1: training loss nan"):
        fit(module, lambda b: loss(b) * math.nan, train_set, val_set, opt, sched,
            generator=torch.Generator().manual_seed(0), batch_size=4, max_epochs=5,
            patience=2, log=lambda s: None, label="toy: ")
