"""The resumable training state of the force stage: ``<checkpoint>.training-state.pt``.

Every ``checkpoint_every_epochs`` epochs (and when the loop ends) the trainer saves its
full state atomically: weights, optimiser and learning-rate scheduler state, the fit's
``Progress`` (epoch, best weights, early-stopping counter, loss curves), the random
generators' states, the split and the normalisation.  A killed run re-run with the same
data, training parameters and physics (the same ``fingerprint``) resumes there and ends
with the same weights, bit for bit on the same machine, torch build and thread count;
a state file of another run, or an unreadable one, is ignored and overwritten.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from holstein import __version__
from holstein.data.atomic import atomic_path
from holstein.ml.checkpoint import plain
from holstein.ml.training.fit import Progress
from holstein.ml.training.parameters import RESULT_NEUTRAL, TrainingParameters

TRAINING_STATE_FORMAT = 1


def training_state_path(checkpoint_path) -> Path:
    """Where ``train`` keeps its resumable state: ``<checkpoint>.training-state.pt``."""
    return Path(f"{checkpoint_path}.training-state.pt")


def data_hash(*arrays: np.ndarray) -> str:
    """blake2b of the arrays' dtype, shape and bytes (about 1 GB/s)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes() if a.dtype.hasobject else memoryview(a).cast("B"))
    return h.hexdigest()


def fingerprint(params: TrainingParameters, physics: Mapping[str, Any],
                arrays: tuple[np.ndarray, ...], device: str = "cpu") -> str:
    """What identifies a training run: its parameters (but ``RESULT_NEUTRAL``), physics,
    data (shape of the configurations, the first array, and a hash of all), version and
    device model (``holstein.device.device_model``: a resume repeats the interrupted run
    bit for bit only on the same hardware)."""
    return json.dumps(plain({
        "device": device,
        "format": TRAINING_STATE_FORMAT,
        "hyper": {k: v for k, v in params.as_dict().items() if k not in RESULT_NEUTRAL},
        "physics": physics,
        "data": {"shape": list(arrays[0].shape), "hash": data_hash(*arrays)},
        "version": __version__,
    }), sort_keys=True)


class TrainingState:
    """The state file of one training run and the objects whose state it holds.

    ``run`` is what the run derives from its data before training (normalisation and
    split): a state file with another ``run`` is not resumed.  ``resume()`` gives the
    ``Progress`` to continue from (fresh if there is nothing to resume);
    ``save_if_due(progress)`` is the fit's ``on_epoch_end``.
    """

    def __init__(self, checkpoint_path, fingerprint: str, every: int,
                 run: Mapping[str, Any], model: nn.Module, optimizer, scheduler,
                 generator: torch.Generator, log: Callable[[str], Any],
                 started: float) -> None:
        self.path = training_state_path(checkpoint_path)
        self.fingerprint = fingerprint
        self.every = every
        self.run = dict(run)
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.generator = generator
        self.log = log
        self.started = started
        self.elapsed_before = 0.0

    @property
    def elapsed(self) -> float:
        """Seconds of training so far, earlier (killed) attempts included."""
        return self.elapsed_before + time.perf_counter() - self.started

    def _read(self) -> dict | None:
        """The saved state if it belongs to this run, else None (and why, logged)."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated or foreign file: start afresh, overwrite it
            self.log(f"mlff: ignoring unreadable training state {self.path} "
                     f"({type(err).__name__}); starting afresh")
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != self.fingerprint:
            self.log(f"mlff: training state {self.path} belongs to another run (other data, "
                     "hyperparameters or physics); starting afresh and overwriting it")
            return None
        if {k: state.get(k) for k in self.run} != self.run:
            self.log(f"mlff: training state {self.path} has another split or normalisation; "
                     "starting afresh and overwriting it")
            return None
        return state

    def resume(self) -> Progress:
        state = self._read() if self.every else None
        if state is None:
            return Progress()
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["batch_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.elapsed_before = state["elapsed"]
        progress = Progress(epoch=state["epoch"], finished=state["finished"],
                            best_loss=state["best_val_loss"], best_epoch=state["best_epoch"],
                            best_state=state["best_state_dict"], wait=state["wait"],
                            history=state["curve"])
        self.log(f"mlff: resuming from {self.path} after epoch {progress.epoch}"
                 f"{' (training loop already finished)' if progress.finished else ''}; best "
                 f"{progress.best_loss:.3e} @ {progress.best_epoch}")
        return progress

    def save_if_due(self, progress: Progress) -> None:
        if not self.every or not (progress.finished or progress.epoch % self.every == 0):
            return
        with atomic_path(self.path) as tmp:
            torch.save({
                "fingerprint": self.fingerprint,
                "epoch": progress.epoch,
                "finished": progress.finished,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "best_val_loss": progress.best_loss,
                "best_epoch": progress.best_epoch,
                "best_state_dict": progress.best_state,
                "wait": progress.wait,
                "curve": progress.history,
                "batch_rng": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                **self.run,
                "elapsed": self.elapsed,
            }, tmp)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
