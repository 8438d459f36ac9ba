"""The one fitting loop, shared by every training stage.

``fit(module, loss, train_set, val_set, optimizer, scheduler, ...)``: epochs of seeded
mini-batches, the validation loss after each, learning-rate decay on validation plateaus
(the scheduler), early stopping after ``patience`` epochs without improvement, and the
best weights restored at the end.  A stage supplies what it fits (the whole model, or one
head on frozen features), its loss and its data; ``on_epoch_end`` lets the caller save a
resumable state (``holstein.ml.training.resume``), and ``progress`` resumes from one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from holstein.ml.training.parameters import TrainingParameters

# Named tensors with one row per sample (equal first dimensions): a batch is a row subset.
TensorSet = dict[str, torch.Tensor]
HISTORY_KEYS = ("train_loss", "val_loss", "epoch_seconds", "lr")


def new_history() -> dict[str, list[float]]:
    """Per-epoch training loss, validation loss, wall seconds and learning rate."""
    return {key: [] for key in HISTORY_KEYS}


@dataclass
class Progress:
    """Where a fit stands; with the optimiser's, scheduler's and generator's states it is
    everything needed to resume it.  ``best_state`` is the module's best state dict."""

    epoch: int = 0
    finished: bool = False
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, Any] | None = None
    wait: int = 0
    history: dict[str, list[float]] = field(default_factory=new_history)


def optimiser(parameters: Iterable[nn.Parameter], params: TrainingParameters):
    """AdamW and its plateau learning-rate decay, as set by the training parameters."""
    opt = torch.optim.AdamW(parameters, lr=params.learning_rate,
                            weight_decay=params.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=params.lr_decay_factor, patience=params.lr_plateau_patience,
        min_lr=params.learning_rate * 1e-3)
    return opt, sched


def rows(data: TensorSet, index) -> TensorSet:
    return {k: t[index] for k, t in data.items()}


def n_rows(data: TensorSet) -> int:
    return len(next(iter(data.values())))


def train_epoch(loss: Callable[[TensorSet], torch.Tensor], data: TensorSet, batch_size: int,
                generator: torch.Generator, optimizer) -> float:
    """One pass over ``data`` in the order of ``generator``; returns the sample-weighted
    mean training loss."""
    n = n_rows(data)
    perm = torch.randperm(n, generator=generator)
    total = 0.0
    for s in range(0, n, batch_size):
        idx = perm[s : s + batch_size]
        optimizer.zero_grad(set_to_none=True)
        batch_loss = loss(rows(data, idx))
        batch_loss.backward()
        optimizer.step()
        total += float(batch_loss.detach()) * len(idx)
    return total / n


def mean_loss(loss: Callable[[TensorSet], torch.Tensor], data: TensorSet,
              batch_size: int) -> float:
    """Sample-weighted mean loss over ``data`` in chunks of ``batch_size``, no gradients."""
    n = n_rows(data)
    total = 0.0
    with torch.no_grad():
        for s in range(0, n, batch_size):
            chunk = rows(data, slice(s, s + batch_size))
            total += float(loss(chunk)) * n_rows(chunk)
    return total / n


def fit(
    module: nn.Module,
    loss: Callable[[TensorSet], torch.Tensor],
    train_set: TensorSet,
    val_set: TensorSet,
    optimizer,
    scheduler,
    *,
    generator: torch.Generator,
    batch_size: int,
    max_epochs: int,
    patience: int,
    log: Callable[[str], Any],
    label: str = "",
    log_every: int = 1,
    progress: Progress | None = None,
    on_epoch_end: Callable[[Progress], Any] | None = None,
) -> Progress:
    """Fit ``module`` (its parameters are the optimiser's) by minimising ``loss``.

    Each epoch: a pass over ``train_set`` in mini-batches of ``batch_size`` (order from
    ``generator``), the mean ``loss`` on ``val_set`` (chunks of 4 ``batch_size``),
    ``scheduler.step(val_loss)``, and the best weights so far kept.  Stops after
    ``max_epochs`` or ``patience`` epochs without a lower validation loss; then loads the
    best weights into ``module``.  A progress line (prefixed ``label``) every
    ``log_every`` epochs and at the end; a non-finite training loss raises
    FloatingPointError.  ``progress`` (default: a fresh one) is updated in place and
    returned; ``on_epoch_end(progress)`` runs after every epoch.
    """
    progress = progress or Progress()
    if progress.best_state is None:
        progress.best_state = copy.deepcopy(module.state_dict())
    history = progress.history
    while not progress.finished and progress.epoch < max_epochs:
        progress.epoch += 1
        epoch = progress.epoch
        t0 = time.perf_counter()
        module.train()
        train_loss = train_epoch(loss, train_set, batch_size, generator, optimizer)
        module.eval()
        val_loss = mean_loss(loss, val_set, 4 * batch_size)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step(val_loss)
        dt = time.perf_counter() - t0
        for key, value in zip(HISTORY_KEYS, (train_loss, val_loss, dt, lr), strict=True):
            history[key].append(float(value))
        if val_loss < progress.best_loss:
            progress.best_loss, progress.best_epoch = val_loss, epoch
            progress.best_state = copy.deepcopy(module.state_dict())
            progress.wait = 0
        else:
            progress.wait += 1
        stop = progress.wait >= patience
        if epoch % log_every == 0 or stop or epoch == max_epochs:
            log(
                f"{label}epoch {epoch}/{max_epochs}: train {train_loss:.3e}  val "
                f"{val_loss:.3e} (rel. RMSE {math.sqrt(val_loss):.4f}; best "
                f"{progress.best_loss:.3e} @ {progress.best_epoch})  lr {lr:.1e}  {dt:.2f} s"
            )
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"{label}epoch {epoch}: training loss {train_loss}; "
                                     "lower the learning rate")
        if stop:
            log(f"{label}early stop at epoch {epoch}: no improvement for {progress.wait} "
                "epochs")
        progress.finished = stop or epoch == max_epochs
        if on_epoch_end is not None:
            on_epoch_end(progress)
    module.load_state_dict(progress.best_state)
    module.eval()
    return progress
