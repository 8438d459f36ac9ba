"""Training: NEGF snapshots -> a checkpoint and its metrics, in two stages of ``fit``.

The force stage fits the whole model to the on-site target (``n - 1/2 = -F / g``),
normalised by the training split.  With bond currents in the data and
``bond_heads`` set, the bond heads are then fitted on the frozen backbone (the bond-head
stage), so the forces are exactly those of the force-only model; with
``bond_loss_weight`` > 0 they are instead fitted jointly in the force stage, the loss
being the on-site MSE + weight x the mean of the bond_current_x and bond_current_y MSEs
(normalised).  Joint training made the force error worse and the currents no better on
the default data, hence the frozen default.  The split is by whole trajectories
(``split_trajectories``); early stopping on the validation loss keeps the best weights.
The force stage is resumable (``holstein.ml.training.resume``); the bond-head stage is seeded on
its own and repeated after a resume, so a resumed training ends with the same heads.

A warm start (``init_model``, DP-GEN's ``init model``) begins from a trained checkpoint's
weights and keeps its normalisation, so that the weights mean what they meant; the
checkpoint must have this training's architecture, physics and lattice.  Active learning
retrains each iteration's members this way with a short schedule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from holstein.device import device_model, gpu_precision
from holstein.ml.checkpoint import save_checkpoint
from holstein.ml.metrics import bond_current_metrics, evaluate_rmse
from holstein.ml.model import BOND_OUTPUTS, LocalForceField
from holstein.ml.provider import (
    MLForceProvider,
    architecture_from_dict,
    build_model,
    model_from_checkpoint,
)
from holstein.ml.training.fit import TensorSet, fit, optimiser
from holstein.ml.training.parameters import TrainingParameters
from holstein.ml.training.provenance import SHARDS_ENTRY
from holstein.ml.training.resume import TrainingState, data_hash, fingerprint
from holstein.ml.training_set import check_data, physics_from_meta, split_trajectories


def _bond_targets(data: Mapping[str, Any], params: TrainingParameters, shape: tuple,
                  log: Callable[[str], Any]) -> dict[str, np.ndarray]:
    """The bond currents to fit, checked, or {} when no bond heads are to be trained."""
    if not params.wants_bond_heads:
        return {}
    if not all(data.get(k) is not None for k in BOND_OUTPUTS):
        log("mlff: the data has no bond currents; training no bond-current heads")
        return {}
    n, lx, ly = shape
    bonds = {k: np.asarray(data[k], dtype=np.float64) for k in BOND_OUTPUTS}
    want = {"bond_current_x": (n, lx - 1, ly), "bond_current_y": (n, lx, ly)}
    for k, a in bonds.items():
        if a.shape != want[k]:
            raise ValueError(f"data[{k!r}] has shape {a.shape}, expected {want[k]}")
    return bonds if lx >= 2 else {}


def _normalisation(q: np.ndarray, bias: np.ndarray, onsite: np.ndarray,
                   bonds: Mapping[str, np.ndarray], tr: np.ndarray) -> dict[str, float]:
    """Means and standard deviations on the training split (1 where a std vanishes)."""

    def std(a):
        s = float(np.std(a))
        return s if s > 0 else 1.0

    def rms(a):
        s = float(np.sqrt(np.mean(a**2)))
        return s if s > 0 else 1.0

    norm = {
        "q_mean": float(np.mean(q[tr])),
        "q_std": std(q[tr]),
        "bias_mean": float(np.mean(bias[tr])),
        "bias_std": std(bias[tr]),
        "onsite_mean": float(np.mean(onsite[tr])),
        "onsite_std": std(onsite[tr]),
    }
    if bonds:
        norm.update({
            "bond_current_x_mean": float(np.mean(bonds["bond_current_x"][tr])),
            "bond_current_x_std": std(bonds["bond_current_x"][tr]),
            "bond_current_y_mean": 0.0,  # odd under the y mirror
            "bond_current_y_std": rms(bonds["bond_current_y"][tr]),  # about mean 0
        })
    return norm


def _force_loss(model: LocalForceField, batch: TensorSet, bond_weight: float) -> torch.Tensor:
    """Normalised MSE of the on-site head + ``bond_weight`` x mean of the bond-head MSEs."""
    out = model.forward_normalised(batch["q"], batch["bias"])
    loss = F.mse_loss(out["onsite"], batch["onsite"])
    if bond_weight > 0 and "bond_current_x" in batch:
        bond = sum(F.mse_loss(out[k], batch[k]) for k in BOND_OUTPUTS) / len(BOND_OUTPUTS)
        loss = loss + bond_weight * bond
    return loss


def _fit_bond_heads(model: LocalForceField, train_set: TensorSet, val_set: TensorSet,
                    params: TrainingParameters, log: Callable[[str], Any]) -> dict:
    """Fit only the bond-current head on the frozen (already trained) backbone.

    The backbone features of every snapshot (and its mirror image) are computed once; the
    head is fitted to them with the bond loss (mean of the normalised bond_current_x and
    bond_current_y MSEs) by ``fit``, like the force stage.  Seeded (``seed`` + 1) and
    independent of the force stage's random state.  The force path is untouched.
    """
    head = model.heads["bond"]
    chunk = 4 * params.batch_size

    def features(data: TensorSet) -> TensorSet:
        hs = []
        with torch.no_grad():
            for s in range(0, len(data["q"]), chunk):
                h = model.backbone_features(data["q"][s : s + chunk], data["bias"][s : s + chunk])
                b = h.shape[0] // 2
                hs.append(torch.stack([h[:b], h[b:]], dim=1))  # (B, 2, C, Lx, Ly)
        return {"h": torch.cat(hs), **{k: data[k] for k in BOND_OUTPUTS}}

    def loss(batch: TensorSet) -> torch.Tensor:
        h = torch.cat([batch["h"][:, 0], batch["h"][:, 1]], dim=0)
        out = model.heads_normalised(h, ("bond",))
        return sum(F.mse_loss(out[k], batch[k]) for k in BOND_OUTPUTS) / len(BOND_OUTPUTS)

    t_start = time.perf_counter()
    h_train, h_val = features(train_set), features(val_set)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    opt, sched = optimiser(head.parameters(), params)
    gen = torch.Generator().manual_seed(params.seed + 1)
    progress = fit(head, loss, h_train, h_val, opt, sched, generator=gen,
                   batch_size=params.batch_size, max_epochs=params.max_bond_epochs,
                   patience=params.patience, log=log, label="bond heads: ", log_every=10)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    log(f"mlff: bond heads on the frozen backbone: best epoch {progress.best_epoch}, "
        f"validation loss {progress.best_loss:.3e} ({time.perf_counter() - t_start:.1f} s)")
    return {"best_epoch": progress.best_epoch, "best_val_loss": progress.best_loss,
            "epochs_run": len(progress.history["train_loss"]), "history": progress.history}


def _check_init_model(init: Mapping[str, Any], architecture, physics: Mapping[str, Any],
                      shape: tuple[int, int], where: str) -> None:
    """A warm start needs the same network on the same problem: raise ValueError naming
    each difference between the initial checkpoint and this training."""
    problems = []
    have = architecture_from_dict(init["architecture"]).as_dict()
    want = architecture.as_dict()
    problems += [f"architecture {k}: {have.get(k)!r} in the checkpoint, {want.get(k)!r} "
                 "configured" for k in sorted(set(have) | set(want)) if have.get(k) != want.get(k)]
    problems += [f"physics {k}: {init['physics'].get(k)!r} in the checkpoint, {physics[k]!r} "
                 "in the data" for k in physics if init["physics"].get(k) != physics[k]]
    if list(init.get("lattice_shape") or []) != list(shape):
        problems.append(f"lattice {init.get('lattice_shape')} in the checkpoint, "
                        f"{list(shape)} in the data")
    if problems:
        raise ValueError(f"{where}: cannot start the training from this checkpoint: "
                         + "; ".join(problems) + ". Train from scratch (no initial model), "
                         "or start from a checkpoint trained with this model section")


def state_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A hash of a model's weights, in key order (what a warm start began from)."""
    return data_hash(*(t.detach().cpu().numpy() for _, t in sorted(state_dict.items())))


# What training measures of the machine, not of the model (``timings``).
TIMING_KEYS = ("epoch_seconds", "seconds")


def timings(metrics: dict) -> tuple[dict, dict]:
    """``metrics`` of ``train`` split into what a re-run reproduces and what it does not
    (the wall time of the training and of each epoch, per stage)."""
    kept, cost = {}, {}
    for key, value in metrics.items():
        if key in TIMING_KEYS:
            cost[key] = value
        elif key in ("history", "bond_history") and value is not None:
            kept[key] = {k: v for k, v in value.items() if k not in TIMING_KEYS}
            cost[f"{key}_epoch_seconds"] = value.get("epoch_seconds")
        else:
            kept[key] = value
    return kept, cost


def train(
    data: Mapping[str, Any],
    params: TrainingParameters,
    checkpoint_path,
    log: Callable[[str], Any] = print,
    keep_training_state: bool = False,
    training_shards: Sequence[Mapping[str, str]] | None = None,
    device="cpu",
    init_model: Mapping[str, Any] | None = None,
) -> dict:
    """Train the force field (``params.kind``) on NEGF snapshots; write the checkpoint;
    return metrics.

    ``device``: where the model and the training tensors live ('cpu', 'cuda', ...); the
    checkpoint and the metrics are computed from the model moved back to the CPU.

    ``data``: see ``holstein.ml.training_set`` (bond currents optional: with them and
    ``params.bond_heads`` or ``params.bond_loss_weight`` > 0 the bond heads are trained).
    The checkpoint is written atomically.  Returned metrics: ``history`` (per-epoch
    train_loss, val_loss, epoch_seconds, lr), ``bond_history`` and ``bond_stage`` (the
    frozen-backbone bond-head stage, else None), best_epoch, best_val_loss, epochs_run,
    the split, ``validation`` (``evaluate_rmse`` of the best model on the validation
    trajectories), ``validation_bond`` (with bond heads, else None:
    ``bond_current_metrics`` on the validation trajectories), normalisation, hyper,
    seconds.

    Resume: with ``params.checkpoint_every_epochs`` = N > 0 the training state is saved
    every N epochs and when the force stage ends (``holstein.ml.training.resume``), and a re-run
    resumes from it.  The state file is removed once the checkpoint is written, unless
    ``keep_training_state`` (for a caller that writes further outputs and removes it
    itself).

    ``training_shards``: the files ``data`` was read from (``provenance.shard_records``),
    recorded in the checkpoint for ``provenance.check_provenance``.

    ``init_model``: a checkpoint dict (``read_checkpoint``) to start from instead of random
    weights; its normalisation is kept (see the module docstring).  The checkpoint and the
    metrics record the hash of its weights as ``init_model``.
    """
    t_start = time.perf_counter()
    if not isinstance(params, TrainingParameters):
        raise TypeError(f"params must be TrainingParameters, got {type(params).__name__} "
                        "(use TrainingParameters.from_mapping on the validated model section)")
    check_data(data, ("q", "force", "bias", "trajectory", "meta"))
    physics = physics_from_meta(data["meta"])
    g = float(physics["g"])
    if g == 0:
        raise ValueError("g = 0: the electronic force vanishes, there is nothing to learn")
    torch.manual_seed(params.seed)  # numpy: the split uses np.random.default_rng(seed)
    if params.threads:
        torch.set_num_threads(params.threads)

    q_all = np.asarray(data["q"], dtype=np.float64)
    n, lx, ly = q_all.shape
    force = np.asarray(data["force"], dtype=np.float64)
    onsite = -force / g  # n - 1/2
    if data.get("density") is not None:
        dev = float(np.max(np.abs(np.asarray(data["density"]) - 0.5 - onsite)))
        if dev > 1e-6:
            log(f"warning: force and density disagree by up to {dev:.2e} in -g (n - 1/2)")
    bias = np.asarray(data["bias"], dtype=np.float64)
    traj = np.asarray(data["trajectory"])
    bonds = _bond_targets(data, params, q_all.shape, log)
    train_ids, val_ids = split_trajectories(traj, bias, params.validation_fraction, params.seed)
    tr = np.isin(traj, train_ids)
    va = np.isin(traj, val_ids)
    architecture = params.architecture(bond_heads=bool(bonds))
    init_digest = None
    if init_model is None:
        norm = _normalisation(q_all, bias, onsite, bonds, tr)
        model = build_model(architecture, norm, physics)
    else:
        _check_init_model(init_model, architecture, physics, (lx, ly), "init_model")
        norm = {k: float(v) for k, v in init_model["normalisation"].items()}
        model = model_from_checkpoint(init_model, "init_model")
        init_digest = state_digest(init_model["state_dict"])
    device = torch.device(device)
    if device.type == "cuda":
        gpu_precision()  # full float32 and deterministic kernels (holstein.device)
    model = model.to(device)
    n_params = sum(p.numel() for p in model.parameters())

    def tensors(mask) -> TensorSet:
        targets = {"onsite": onsite, **bonds}
        return {
            "q": torch.as_tensor(q_all[mask], dtype=torch.float32, device=device),
            "bias": torch.as_tensor(bias[mask], dtype=torch.float32, device=device),
            **{k: torch.as_tensor((a[mask] - norm[f"{k}_mean"]) / norm[f"{k}_std"],
                                  dtype=torch.float32, device=device)
               for k, a in targets.items()},
        }

    train_set, val_set = tensors(tr), tensors(va)
    val_biases = sorted({float(b) for b in np.unique(bias[va])})
    bond_weight = params.bond_loss_weight
    log(
        f"mlff: {n} snapshots of {lx}x{ly} from {len(np.unique(traj))} trajectories; "
        f"train {int(tr.sum())} snapshots ({len(train_ids)} trajectories), validation "
        f"{int(va.sum())} ({len(val_ids)} trajectories, biases {val_biases}); "
        f"cutoff {model.cutoff}, channels {model.channels}, {n_params} parameters"
        + (f"; starting from the weights {init_digest[:12]}... (warm start)"
           if init_digest else "")
        + ((f"; bond-current heads trained jointly (loss weight {bond_weight:g})"
            if bond_weight > 0 else "; bond-current heads trained on the frozen backbone "
            "after the forces") if bonds else "; no bond-current heads")
    )

    opt, sched = optimiser(model.parameters(), params)
    gen = torch.Generator().manual_seed(params.seed)
    split = {"train_trajectories": [int(i) for i in train_ids],
             "val_trajectories": [int(i) for i in val_ids]}
    state = TrainingState(
        checkpoint_path, fingerprint(params, physics, (q_all, force, bias, traj, *bonds.values()),
                                     device_model(str(device))),
        params.checkpoint_every_epochs,
        {"normalisation": norm, **split, "init_model": init_digest}, model, opt, sched,
        gen, log, t_start)
    progress = fit(model, lambda batch: _force_loss(model, batch, bond_weight), train_set,
                   val_set, opt, sched, generator=gen, batch_size=params.batch_size,
                   max_epochs=params.epochs, patience=params.patience, log=log,
                   progress=state.resume(), on_epoch_end=state.save_if_due)
    curve = progress.history
    bond_stage = None
    curve_bond = None
    if bonds and bond_weight == 0:
        bond_stage = _fit_bond_heads(model, train_set, val_set, params, log)
        curve_bond = bond_stage.pop("history")

    model = model.cpu()
    checkpoint_path = Path(checkpoint_path)
    shards = None if training_shards is None else [dict(r) for r in training_shards]
    # the checkpoint is a result: its loss curve leaves out the wall time per epoch
    save_checkpoint(checkpoint_path, model, physics, (lx, ly), params.as_dict(),
                    loss_curve={k: v for k, v in curve.items() if k not in TIMING_KEYS},
                    best_epoch=progress.best_epoch, **split, init_model=init_digest,
                    **{SHARDS_ENTRY: shards})

    provider = MLForceProvider(model, physics, (lx, ly))
    val_data = {"q": q_all[va], "bias": bias[va], "force": force[va]}
    metrics = {
        "history": curve,  # per-epoch train_loss, val_loss (normalised MSE), epoch_seconds, lr
        "bond_history": curve_bond,  # the same for the frozen-backbone bond-head stage
        "bond_stage": bond_stage,
        "best_epoch": progress.best_epoch,
        "best_val_loss": progress.best_loss,
        "epochs_run": len(curve["train_loss"]),
        "n_parameters": n_params,
        "n_train_snapshots": int(tr.sum()),
        "n_val_snapshots": int(va.sum()),
        **split,
        "val_biases": val_biases,
        "validation": evaluate_rmse(provider, val_data),
        "validation_bond": (bond_current_metrics(provider, {**val_data, **{
            k: a[va] for k, a in bonds.items()}}) if bonds else None),
        "normalisation": norm,
        "init_model": init_digest,
        "hyper": params.as_dict(),
        "lattice_shape": [lx, ly],
        "seconds": state.elapsed,
        "checkpoint": str(checkpoint_path),
    }
    val_rel = metrics["validation"]["overall"]["relative_rmse"]
    log(f"mlff: best epoch {progress.best_epoch}, validation force RMSE / std = "
        f"{val_rel:.4f}; checkpoint {checkpoint_path} ({metrics['seconds']:.1f} s)")
    if not keep_training_state:
        state.remove()
    return metrics

