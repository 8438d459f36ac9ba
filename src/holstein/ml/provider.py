"""The trained model as a force provider, and loading it from a checkpoint.

What an ML Brownian run imports: the model, the checkpoint reader and this module, and
no training code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from holstein.device import gpu_precision
from holstein.ml.checkpoint import RETRAIN, check_expectation, read_checkpoint
from holstein.ml.model import Architecture, LocalForceField
from holstein.ml.transport import KIND as TRANSPORT_KIND
from holstein.ml.transport import TransportArchitecture, TransportForceField
from holstein.physics.forces import ElectronicResponse
from holstein.physics.observables import device_current


class MLForceProvider:
    """Force provider (``holstein.physics.forces`` contract) backed by a LocalForceField or a
    TransportForceField.

    float32 (the model is converted in place), ``torch.inference_mode``; any lattice
    size (the model is local).  ``threads`` calls ``torch.set_num_threads`` (process
    wide; 1 per process is best when several jobs share few cores).  ``device``: where the
    model runs ('cpu', 'cuda', ...); arrays come and go as numpy float64 on the host.  Density is
    ``1/2 + onsite`` and force ``-g * onsite``; with bond heads also the bond currents
    and the device current (``observables.device_current``), else those are None.
    """

    def __init__(
        self,
        model: LocalForceField | TransportForceField,
        physics: Mapping[str, Any],
        lattice_shape: tuple[int, int] | None = None,
        threads: int | None = None,
        device="cpu",
    ) -> None:
        if "g" not in physics:
            raise ValueError("physics must contain the coupling g (force = -g (n - 1/2))")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        if self.device.type == "cuda":
            gpu_precision(deterministic=False)  # full float32: the CPU's force to rounding
        self.model = model.float().eval().to(self.device)
        self.physics = dict(physics)
        self.g = float(physics["g"])
        self.lattice_shape = None if lattice_shape is None else tuple(lattice_shape)

    @property
    def cutoff(self) -> int:
        return self.model.cutoff

    def predict_batch(self, q: np.ndarray, biases, observables: bool = True
                      ) -> dict[str, np.ndarray]:
        """Batched prediction: q (B, Lx, Ly), biases (B,) or a scalar.

        Returns float64 arrays ``{"force": (B, Lx, Ly), "density": (B, Lx, Ly)}``, with
        bond heads (and ``observables``) also ``"bond_current_x"`` (B, Lx - 1, Ly),
        ``"bond_current_y"`` (B, Lx, Ly) and ``"current"`` (B,)
        (``observables.device_current``; NaN if Lx = 1).  ``observables=False`` runs the
        on-site head only: what the dynamics needs between recorded frames.
        """
        q = np.asarray(q)
        if q.ndim != 3:
            raise ValueError(f"q must be (B, Lx, Ly), got shape {q.shape}")
        bias = np.array(np.broadcast_to(np.asarray(biases, dtype=np.float32), (q.shape[0],)))
        with torch.inference_mode():
            qt = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32)).to(self.device)
            vt = torch.from_numpy(bias).to(self.device)
            out = {k: v.cpu() for k, v in
                   self.model(qt, vt, None if observables else ("onsite",)).items()}
        onsite = out["onsite"].numpy().astype(np.float64)
        result = {"force": -self.g * onsite, "density": 0.5 + onsite}
        if "bond_current_x" in out:
            bx = out["bond_current_x"].numpy().astype(np.float64)
            result["bond_current_x"] = bx
            result["bond_current_y"] = out["bond_current_y"].numpy().astype(np.float64)
            result["current"] = (device_current(bx) if bx.shape[1] > 0
                                 else np.full(len(bx), np.nan))
        return result

    def evaluate(self, q: np.ndarray, bias: float, observables: bool = True
                 ) -> ElectronicResponse:
        """Force and density; with bond heads and ``observables`` also the bond currents
        and the device current."""
        q = np.asarray(q)
        if q.ndim != 2:
            raise ValueError(f"lattice configuration must be a 2-d (Lx, Ly) array, got {q.shape}")
        out = self.predict_batch(q[None], [bias], observables)
        if "bond_current_x" not in out:
            return ElectronicResponse(force=out["force"][0], density=out["density"][0])
        current = float(out["current"][0])
        return ElectronicResponse(
            force=out["force"][0], density=out["density"][0],
            bond_current_x=out["bond_current_x"][0], bond_current_y=out["bond_current_y"][0],
            current=None if math.isnan(current) else current,
        )

    def electronic_force(self, q: np.ndarray, bias: float) -> np.ndarray:
        return self.evaluate(q, bias, observables=False).force

    @property
    def integration_device(self) -> torch.device:
        """Where the Brownian dynamics driven by this provider keeps its state."""
        return self.device

    def force_tensor(self, q: torch.Tensor, bias: float) -> torch.Tensor:
        """The force at an (Lx, Ly) float64 tensor on ``self.device``, without leaving it:
        the on-site head only, in float32, returned as float64."""
        with torch.inference_mode():
            v = torch.full((1,), float(bias), dtype=torch.float32, device=self.device)
            onsite = self.model(q.to(torch.float32)[None], v, ("onsite",))["onsite"][0]
        return -self.g * onsite.to(torch.float64)


def build_model(architecture: Architecture | TransportArchitecture,
                normalisation: Mapping[str, float] | None, physics: Mapping[str, Any]
                ) -> LocalForceField | TransportForceField:
    """The network an architecture describes: the local one, or the transport-field one
    (whose electrodes sit where the physics' bias scheme puts them)."""
    if isinstance(architecture, TransportArchitecture):
        return TransportForceField(architecture, normalisation, physics["bias_scheme"])
    return LocalForceField(architecture, normalisation)


def architecture_from_dict(entry: Mapping[str, Any]) -> Architecture | TransportArchitecture:
    """Inverse of ``as_dict`` of either architecture (by its ``kind``)."""
    if entry.get("kind") == TRANSPORT_KIND:
        return TransportArchitecture.from_dict(entry)
    return Architecture.from_dict(entry)


def model_from_checkpoint(ckpt: Mapping[str, Any], path="checkpoint"
                          ) -> LocalForceField | TransportForceField:
    """The network of a checkpoint dict (``read_checkpoint``), weights loaded."""
    try:
        model = build_model(architecture_from_dict(ckpt["architecture"]),
                            ckpt["normalisation"], ckpt["physics"])
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: the checkpoint's model does not fit this holstein version's model "
            f"({type(err).__name__}: {str(err).splitlines()[0]}); retrain: {RETRAIN}"
        ) from err
    return model


def load(
    path, expect: Mapping[str, Any] | None = None, strict_shape: bool = False,
    threads: int | None = None, device="cpu",
) -> MLForceProvider:
    """Load a checkpoint written by ``holstein.ml.training.trainer.train`` as an MLForceProvider.

    ``expect``: physics parameters (flat or under ``"physics"``; optionally the lattice
    shape as ``shape`` or ``Lx``/``Ly``); a mismatch in any of ``PHYSICS_KEYS`` present
    in ``expect`` (and the shape if ``strict_shape``) raises ValueError naming the key,
    both values and the fix.  A truncated or corrupt file raises ValueError.
    """
    ckpt = read_checkpoint(path)
    if expect is not None:
        check_expectation(ckpt, expect, path, strict_shape)
    return MLForceProvider(model_from_checkpoint(ckpt, path), ckpt["physics"],
                           ckpt.get("lattice_shape"), threads, device)
