"""Machine-learned local force field: a symmetrised convolutional network (torch).

What it predicts
----------------
The *on-site head* predicts the density deviation ``n_i - 1/2``; the electronic
force follows exactly as ``F_i = -g (n_i - 1/2)`` (g from the checkpoint).  Force
and density are the same quantity up to the constant -g, so the loss is the same
either way; predicting the density keeps the head a pure electronic quantity
(independent of g, the "on-site kind" of arXiv:2403.13675) and makes the
provider's density and force consistent by construction.

The optional *bond head* (issue 7, the "bond kind"; ``heads["bond"]``) predicts the
bond currents on the same backbone, one output channel per bond direction per site:
``bond_current_x`` at (x, y) is the current on the bond (x, y) -> (x + 1, y)
(the output of the last column, x = Lx - 1, is dropped: (B, Lx - 1, Ly)), and
``bond_current_y`` at (x, y) the current on (x, y) -> (x, y + 1 mod Ly).  They are
trained from the bond currents in the data (the NEGF shards have them) when
``hyper["bond_heads"]`` is set, after the force training on the frozen backbone (the
forces are then exactly those of the force-only model), or jointly with the on-site
head when ``hyper["bond_loss_weight"]`` > 0 (measured on the default data: joint
training at weights 0.1-1 made the force error 0.5-2.7 points worse and the currents no
better, hence the frozen default); the provider then reports them
and the device current ``observables.device_current(bond_current_x)`` (mean over
the cross-sections of the summed x-bond currents).  A checkpoint without bond
heads (older ones) loads as before and reports no currents.

Architecture and locality definition
------------------------------------
Input channels per site: Q (normalised), the bias V (normalised, the same on
every site), and two lead indicators, 1 on the column coupled to the left
(x = 0) resp. right (x = Lx - 1) electrode and 0 elsewhere: exactly the sites
where the NEGF self-energy -i Gamma/2 acts.  The backbone is ``c`` 3x3
convolutions (SiLU, residual from the second layer on; optionally a per-site
1x1 MLP after each, ``expansion``) with circular padding along y (periodic) and
zero padding along x (open ends); the heads are 1x1 convolutions.  Locality:
the prediction at site (x, y) is a function of the inputs (Q, lead indicators,
V) on the sites (x', y') with
``max(|x - x'|, d_y(y, y')) <= c`` only (Chebyshev radius c, d_y the periodic
distance along y; a square containing the Euclidean disc of radius c).  A site
therefore knows its distance to an electrode exactly when that distance is <= c
(the position of the lead column inside its receptive field), and a site
farther than c from both electrodes sees no absolute position: the model is
x-translation invariant in the bulk and applies to a lattice of any size.
(A per-site distance channel clipped at c + 1 would leak: a neighbour at
distance c carries its own distance, so electrode information would reach
2c + 1 sites in.)

Symmetries (exact, built in)
----------------------------
* y translations: convolutions with circular y padding are equivariant.  The
  input is the raw Q (not the staggered order (-1)^(x+y) Q): the two CDW domains
  are related by a one-site y shift, so they are treated alike by construction.
* y mirror: ``out(Q) = (net(Q) + s M net(M Q)) / 2`` with ``M: y -> (-y) mod Ly``
  (``mirror_y``), per output channel the mirror of its kind (``HEAD_OUTPUTS``): on-site and
  ``bond_current_x`` are even (kind "site", s = +1); ``bond_current_y`` lives on
  the bond (y, y + 1), which the mirror maps to (-y - 1, -y) (kind "bond_y", a
  plain flip), and as an oriented current it changes sign (s = -1).  Its
  normalisation mean is fixed at 0 so that the physical output stays odd.
  Together with y translations this gives equivariance under every mirror of
  the ring (y -> (a - y) mod Ly for any a, e.g. a = Ly - 1, the mirror through a
  bond centre): the lattice Hamiltonian has all of them.
  Both passes run as one batch of size 2B.
* x -> -x is *not* imposed: the bias breaks it.

Width by measurement (benchmarks/mlff_speed.py, cutoff 6, float32, 2 idle cores):
channels 16 costs 1.1 ms per force at 40 x 30 (~2400x the fast NEGF) and ~30-40 ms
at 256 x 256 (~2e6 site-steps/s); 24 channels (89 ms) or 16 + expansion 32 (72 ms)
miss the 1e6 site-steps/s target at 256 x 256.  Hence the default channels = 16.

Training, checkpoints, inference: ``train``, ``load`` -> ``MLForceProvider``
(same ``evaluate``/``electronic_force`` contract as ``holstein.forces``), and
``evaluate_rmse``/``predict``/``held_out_evaluation`` for the held-out metric.

Resumable training: every ``checkpoint_every_epochs`` epochs ``train`` saves its full
state (weights, optimiser and LR-scheduler state, best weights, early-stopping counter,
loss curves, random-generator states, split, normalisation) to
``training_state_path(checkpoint)``; a killed run re-run with the same data,
hyperparameters and physics resumes there and ends with the same weights, bit for bit
on the same machine, torch build and thread count (measured with one thread,
tests/test_train_resume.py).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import __version__
from .forces import ElectronicResponse
from .io import atomic_path, write_text_atomic
from .lattice import PHYSICS_KEYS
from .observables import device_current, kirchhoff_spread

CHECKPOINT_FORMAT = "holstein-mlff"
CHECKPOINT_FORMAT_VERSION = 1
# A checkpoint must match PHYSICS_KEYS (holstein.lattice); these are recorded if present.
OPTIONAL_META_KEYS = ("damping", "dt")
IN_CHANNELS = 4  # Q, bias, left-lead indicator (x = 0), right-lead indicator (x = Lx-1)

DEFAULT_HYPER: dict[str, Any] = {
    "cutoff": 6,
    "channels": 16,
    "epochs": 300,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "weight_decay": 0.0,
    "patience": 30,
    "validation_fraction": 0.25,
    "seed": 0,
    # Not in the pipeline config (internal defaults):
    "head_channels": None,  # width of the 1x1 head; None = channels
    "expansion": 0,  # width of the per-site 1x1 MLP inside each block; 0 = none
    "lr_decay_patience": None,  # ReduceLROnPlateau patience; None = max(1, patience // 4)
    "lr_decay_factor": 0.5,
    "threads": None,  # torch.set_num_threads during training; None = torch's default
    # Save the resumable training state every this many epochs (0 = never):
    "checkpoint_every_epochs": 10,
    # Bond-current heads (used only when the data has bond currents).  Off for a bare
    # ``train`` call (a force-only model); the pipeline's config (model.bond_heads) turns
    # them on.  With bond_loss_weight = 0 they are trained after the force training, on
    # the frozen backbone, so the forces are those of the force-only model; with a weight
    # > 0 (which implies the heads) they are trained jointly, the loss being the on-site
    # MSE + weight x the mean of the bond_current_x and bond_current_y MSEs (normalised).
    "bond_heads": False,
    "bond_loss_weight": 0.0,
    # Maximum epochs of the frozen-backbone bond-head stage (None = ``epochs``); an epoch
    # there is cheap: only the heads run, on backbone features computed once.
    "bond_epochs": None,
    # Hidden width of the bond heads' per-site layer (None = head_channels).
    "bond_head_channels": None,
}
# Hyperparameters that do not change what training computes (beyond rounding with other
# thread counts): left out of the training-state fingerprint, so a resumed run may differ.
UNFINGERPRINTED_HYPER = ("checkpoint_every_epochs", "threads")
TRAINING_STATE_FORMAT = 1


# ----------------------------------------------------------------------------- symmetries


def mirror_y(t: torch.Tensor, kind: str = "site") -> torch.Tensor:
    """The y mirror ``y -> (-y) mod Ly`` of a lattice field (last dimension is y).

    ``kind="site"`` (also right for x-bond fields, which live on (x, y)): value at y
    moves to (-y) mod Ly, i.e. ``flip`` then ``roll`` by one so that y = 0 stays put.
    ``kind="bond_y"``: a field on the bond (y, y+1) moves to the bond (-y-1, -y), i.e.
    index (-y-1) mod Ly = a plain flip, and an oriented quantity (current) also
    changes sign; that sign is the caller's business.
    """
    if kind == "site":
        return torch.roll(torch.flip(t, dims=(-1,)), shifts=1, dims=-1)
    if kind == "bond_y":
        return torch.flip(t, dims=(-1,))
    raise ValueError(f"kind={kind!r}: choose 'site' or 'bond_y'")


def _wrap_y(h: torch.Tensor, width: int = 1) -> torch.Tensor:
    """Circular padding by ``width`` along y (last dim); works for any Ly >= 1."""
    ly = h.shape[-1]
    if width <= ly:
        return torch.cat([h[..., ly - width :], h, h[..., :width]], dim=-1)
    idx = torch.arange(-width, ly + width, device=h.device) % ly
    return h[..., idx]


# ----------------------------------------------------------------------------- the network


class Backbone(nn.Module):
    """``cutoff`` blocks around a 3x3 convolution: receptive field = Chebyshev radius ``cutoff``.

    Block k: ``u = silu(conv3x3(h))``, optionally (``expansion`` E > 0) followed by the
    per-site MLP ``u = pw2(silu(pw1(u)))`` (1x1 convolutions C -> E -> C: more depth and
    width per site at no cost in reach); ``h = u`` for the first block, ``h + u`` after.
    Zero padding along x (inside the convolution), circular along y (``_wrap_y``).
    """

    def __init__(self, in_channels: int, channels: int, cutoff: int, expansion: int = 0) -> None:
        super().__init__()
        if cutoff < 1:
            raise ValueError(f"cutoff={cutoff}: need at least one layer (cutoff >= 1)")
        self.layers = nn.ModuleList(
            nn.Conv2d(in_channels if k == 0 else channels, channels, 3, padding=(1, 0))
            for k in range(cutoff)
        )
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, expansion, 1), nn.SiLU(),
                          nn.Conv2d(expansion, channels, 1))
            for _ in range(cutoff if expansion > 0 else 0)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for k, conv in enumerate(self.layers):
            out = F.silu(conv(_wrap_y(h)))
            if self.mlps:
                out = self.mlps[k](out)
            h = out if k == 0 else h + out
        return h


class SiteHead(nn.Module):
    """Per-site output from backbone features: 1x1 conv, SiLU, 1x1 conv (no spatial reach)."""

    def __init__(self, channels: int, hidden: int, out_channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, out_channels, 1)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


NORMALISATION_KEYS = ("q_mean", "q_std", "bias_mean", "bias_std", "onsite_mean", "onsite_std")
BOND_OUTPUTS = ("bond_current_x", "bond_current_y")
BOND_NORMALISATION_KEYS = tuple(f"{h}_{s}" for h in BOND_OUTPUTS for s in ("mean", "std"))
# Head name -> its output channels as (output name, mirror_y kind, sign under the y mirror).
# The two bond currents share one head (one hidden 1x1 layer, two output channels): a
# head per direction cost ~30 % extra Brownian-step time at 40 x 30 on 2 threads (per-call
# overhead of the extra convolutions); the shared one +12 % (1 thread) / +19 % (2 threads)
# at 40 x 30 and +4-5 % at 256 x 256 (cutoff 6, 16 channels, medians of 40 steps).
HEAD_OUTPUTS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "onsite": (("onsite", "site", 1),),
    "bond": (
        ("bond_current_x", "site", 1),  # at (x, y): the bond (x, y) -> (x + 1, y); even
        ("bond_current_y", "bond_y", -1),  # on the bond (y, y + 1); oriented: odd
    ),
}


def identity_normalisation(bond_heads: bool = False) -> dict[str, float]:
    keys = NORMALISATION_KEYS + (BOND_NORMALISATION_KEYS if bond_heads else ())
    return {k: (1.0 if k.endswith("std") else 0.0) for k in keys}


class LocalForceField(nn.Module):
    """Shared local backbone + heads, exactly y-translation and y-mirror equivariant.

    ``forward(q, bias)`` takes physical Q (B, Lx, Ly) and V (B,) and returns a dict of
    physical head outputs: ``{"onsite": n - 1/2}`` (B, Lx, Ly), and with
    ``bond_heads`` also ``"bond_current_x"`` (B, Lx - 1, Ly) and ``"bond_current_y"``
    (B, Lx, Ly).  The normalisation (from the training split) lives in buffers, so the
    module is self-contained.
    """

    def __init__(
        self,
        cutoff: int = 6,
        channels: int = 16,
        head_channels: int | None = None,
        expansion: int = 0,
        normalisation: Mapping[str, float] | None = None,
        channels_last: bool = True,
        bond_heads: bool = False,
        bond_head_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.cutoff = int(cutoff)
        self.channels = int(channels)
        self.head_channels = int(head_channels or channels)
        self.bond_head_channels = int(bond_head_channels or self.head_channels)
        self.expansion = int(expansion or 0)
        self.channels_last = channels_last
        self.backbone = Backbone(IN_CHANNELS, self.channels, self.cutoff, self.expansion)
        names = ("onsite", "bond") if bond_heads else ("onsite",)
        self.head_outputs = {name: HEAD_OUTPUTS[name] for name in names}
        hidden = {"onsite": self.head_channels, "bond": self.bond_head_channels}
        self.heads = nn.ModuleDict({
            name: SiteHead(self.channels, hidden[name], len(HEAD_OUTPUTS[name]))
            for name in names
        })
        norm = identity_normalisation(bond_heads)
        norm.update(normalisation or {})
        if bond_heads:
            norm["bond_current_y_mean"] = 0.0  # an odd quantity: a mean would break the mirror
        for key in self._normalisation_keys:
            self.register_buffer(key, torch.tensor(float(norm[key])))
        self._lead_cache: dict[tuple, torch.Tensor] = {}

    @property
    def architecture(self) -> dict:
        return {
            "kind": "mirror-symmetrised CNN",
            "cutoff": self.cutoff,
            "channels": self.channels,
            "head_channels": self.head_channels,
            "bond_head_channels": self.bond_head_channels,
            "expansion": self.expansion,
            "in_channels": IN_CHANNELS,
            "heads": list(self.head_outputs),
            "activation": "silu",
        }

    @property
    def bond_heads(self) -> bool:
        return "bond" in self.head_outputs

    @property
    def _normalisation_keys(self) -> tuple[str, ...]:
        return NORMALISATION_KEYS + (BOND_NORMALISATION_KEYS if self.bond_heads else ())

    def normalisation(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self._normalisation_keys}

    def _lead_columns(self, lx: int, like: torch.Tensor) -> torch.Tensor:
        """(2, Lx, 1): indicators of the left (x = 0) and right (x = Lx - 1) lead columns."""
        key = (lx, like.dtype, like.device)
        d = self._lead_cache.get(key)
        if d is None:
            d = torch.zeros(2, lx, 1, dtype=like.dtype, device=like.device)
            d[0, 0] = 1.0
            d[1, lx - 1] = 1.0
            self._lead_cache[key] = d
        return d

    def features(self, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Input channels (B, 4, Lx, Ly): normalised Q, normalised V, two lead indicators."""
        b, lx, ly = q.shape
        qn = ((q - self.q_mean) / self.q_std)[:, None]
        vn = ((bias - self.bias_mean) / self.bias_std).to(q.dtype)[:, None, None, None]
        d = self._lead_columns(lx, q)
        return torch.cat(
            [qn, vn.expand(b, 1, lx, ly), d[None].expand(b, 2, lx, ly)], dim=1
        )

    def backbone_features(self, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Shared backbone output (2B, C, Lx, Ly) for the batch and its y-mirror image
        (first B: q, last B: mirror_y(q)); ``heads_normalised`` turns it into outputs."""
        x = self.features(q, bias)
        x = torch.cat([x, mirror_y(x)], dim=0)  # features commute with the mirror
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def forward_normalised(self, q: torch.Tensor, bias: torch.Tensor,
                           heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Mirror-symmetrised outputs of ``heads`` (default all) in normalised units,
        (B, Lx, Ly) each except ``bond_current_x`` (B, Lx - 1, Ly)."""
        return self.heads_normalised(self.backbone_features(q, bias), heads)

    def heads_normalised(self, h: torch.Tensor,
                         names: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Outputs of the heads ``names`` (default all) from ``backbone_features``."""
        b = h.shape[0] // 2
        out = {}
        for name, head in self.heads.items():
            if names is not None and name not in names:
                continue
            y = head(h)
            for k, (output, kind, sign) in enumerate(self.head_outputs[name]):
                m = mirror_y(y[b:, k], kind)
                out[output] = 0.5 * (y[:b, k] + m if sign > 0 else y[:b, k] - m)
        if "bond_current_x" in out:
            out["bond_current_x"] = out["bond_current_x"][:, :-1]  # no bond beyond x = Lx-1
        return out

    def forward(self, q: torch.Tensor, bias: torch.Tensor,
                heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Outputs of ``heads`` (default all) in physical units (buffers ``<head>_mean``,
        ``<head>_std``)."""
        out = self.forward_normalised(q, bias, heads)
        return {k: v * getattr(self, f"{k}_std") + getattr(self, f"{k}_mean")
                for k, v in out.items()}


def build_model(hyper: Mapping[str, Any] | None = None, normalisation=None,
                bond_heads: bool = False) -> LocalForceField:
    """A LocalForceField from hyperparameters (cutoff, channels, head_channels)."""
    h = {**DEFAULT_HYPER, **(hyper or {})}
    return LocalForceField(
        cutoff=int(h["cutoff"]),
        channels=int(h["channels"]),
        head_channels=h.get("head_channels"),
        expansion=int(h.get("expansion") or 0),
        normalisation=normalisation,
        bond_heads=bond_heads,
        bond_head_channels=h.get("bond_head_channels"),
    )


# ----------------------------------------------------------------------------- provider


class MLForceProvider:
    """Force provider (``holstein.forces`` contract) backed by a LocalForceField.

    float32 (the model is converted in place), ``torch.inference_mode``; any lattice
    size (the model is local).  ``threads`` calls ``torch.set_num_threads`` (process
    wide; 1 per process is best when several jobs share few cores).  Density is
    ``1/2 + onsite`` and force ``-g * onsite``; with bond heads also the bond currents
    and the device current (``observables.device_current``), else those are None.
    """

    def __init__(
        self,
        model: LocalForceField,
        physics: Mapping[str, Any],
        lattice_shape: tuple[int, int] | None = None,
        threads: int | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        if "g" not in physics:
            raise ValueError("physics must contain the coupling g (force = -g (n - 1/2))")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.model = model.float().eval()
        self.physics = dict(physics)
        self.g = float(physics["g"])
        self.lattice_shape = None if lattice_shape is None else tuple(lattice_shape)
        self.info = dict(info or {})

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
            qt = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32))
            vt = torch.from_numpy(bias)
            out = self.model(qt, vt, None if observables else ("onsite",))
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


# ----------------------------------------------------------------------------- data helpers


def _flat_meta(meta: Mapping[str, Any]) -> dict:
    """Physics keys and lattice shape from a flat or ``{"physics": {...}}`` metadata dict."""
    flat = dict(meta)
    if isinstance(meta.get("physics"), Mapping):
        flat.update(meta["physics"])
    shape = None
    if "shape" in meta or "lattice_shape" in meta:
        shape = tuple(int(v) for v in meta.get("shape", meta.get("lattice_shape")))
    elif "Lx" in meta and "Ly" in meta:
        shape = (int(meta["Lx"]), int(meta["Ly"]))
    flat["_shape"] = shape
    return flat


def _physics_from_meta(meta: Mapping[str, Any]) -> dict:
    flat = _flat_meta(meta)
    missing = [k for k in PHYSICS_KEYS if k not in flat]
    if missing:
        raise ValueError(
            f"data['meta'] lacks the physical parameters {missing}; the checkpoint must "
            f"record {list(PHYSICS_KEYS)}"
        )
    physics = {k: flat[k] for k in PHYSICS_KEYS + OPTIONAL_META_KEYS if k in flat}
    for k, v in physics.items():
        physics[k] = v if isinstance(v, str) else float(v)
    return physics


def _check_data(data: Mapping[str, Any], need: tuple[str, ...]) -> int:
    missing = [k for k in need if k not in data]
    if missing:
        raise ValueError(f"data lacks {missing} (have {sorted(data)})")
    q = np.asarray(data["q"])
    if q.ndim != 3:
        raise ValueError(f"data['q'] must be (n, Lx, Ly), got {q.shape}")
    n = q.shape[0]
    for k in need:
        if k == "meta":
            continue
        v = np.asarray(data[k])
        if v.shape[0] != n:
            raise ValueError(f"data[{k!r}] has {v.shape[0]} rows, data['q'] has {n}")
        if k in ("force", "density") and v.shape != q.shape:
            raise ValueError(f"data[{k!r}] has shape {v.shape}, data['q'] {q.shape}")
    return n


def split_trajectories(
    trajectory: np.ndarray, bias: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of whole trajectories into (train ids, validation ids).

    ``max(1, round(fraction * n_trajectories))`` trajectories are held out, spread
    over as many distinct biases as possible (round robin over the biases in a seeded
    order); a bias loses its last training trajectory only if no other choice is
    left.  Snapshots of one trajectory are never split.
    """
    trajectory = np.asarray(trajectory)
    bias = np.asarray(bias, dtype=float)
    ids = np.unique(trajectory)
    if len(ids) < 2:
        raise ValueError(
            f"{len(ids)} trajectory: a split by trajectory needs at least 2 (one to train on, "
            "one to validate); add seeds or biases"
        )
    traj_bias = {}
    for i in ids:
        b = np.unique(bias[trajectory == i])
        if len(b) != 1:
            raise ValueError(f"trajectory {i} has several biases {b}; ids must be per (bias, seed)")
        traj_bias[i] = float(b[0])
    rng = np.random.default_rng(seed)
    groups: dict[float, list] = {}
    for i in ids:
        groups.setdefault(traj_bias[i], []).append(i)
    biases = sorted(groups)
    order = [biases[k] for k in rng.permutation(len(biases))]
    pools = {b: [groups[b][k] for k in rng.permutation(len(groups[b]))] for b in biases}
    n_val = min(max(1, int(round(fraction * len(ids)))), len(ids) - 1)
    val: list = []
    # First rounds: only biases that keep at least one training trajectory.
    while len(val) < n_val:
        took = False
        for b in order:
            if len(val) < n_val and len(pools[b]) > 1:
                val.append(pools[b].pop())
                took = True
        if not took:
            break
    # Then, if needed, whole biases (held-out bias: interpolation check).
    for b in order:
        if len(val) < n_val and pools[b]:
            val.append(pools[b].pop())
    val_ids = np.array(sorted(val), dtype=ids.dtype)
    train_ids = np.array(sorted(set(ids.tolist()) - set(val_ids.tolist())), dtype=ids.dtype)
    return train_ids, val_ids


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _atomic_write_json(obj: Any, path: Path) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


def _plain(obj: Any) -> Any:
    """JSON-like plain Python (numpy scalars -> float/int), safe for weights_only loading."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def save_checkpoint(
    path, model: LocalForceField, physics: Mapping[str, Any],
    lattice_shape: tuple[int, int] | None, hyper: Mapping[str, Any] | None = None, **extra,
) -> None:
    """Write the checkpoint (a plain dict for ``torch.load(weights_only=True)``) atomically.

    Keys: format, format_version, architecture, state_dict (normalisation buffers
    included), normalisation, hyper, lattice_shape (training lattice), physics, cutoff,
    version (holstein), torch_version, plus ``extra`` (loss_curve, best_epoch, ...).
    """
    missing = [k for k in PHYSICS_KEYS if k not in physics]
    if missing:
        raise ValueError(f"physics lacks {missing}: a checkpoint records {list(PHYSICS_KEYS)}")
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "architecture": model.architecture,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "normalisation": model.normalisation(),
        "hyper": _plain(dict(hyper or {})),
        "lattice_shape": None if lattice_shape is None else [int(v) for v in lattice_shape],
        "physics": _plain(dict(physics)),
        "cutoff": model.cutoff,
        "version": __version__,
        "torch_version": str(torch.__version__),
        **_plain(extra),
    }
    _atomic_torch_save(checkpoint, Path(path))


# ----------------------------------------------------------------------------- training


def _loss(model: LocalForceField, q, v, target: Mapping[str, torch.Tensor],
          bond_weight: float = 0.0) -> torch.Tensor:
    """Normalised MSE of the on-site head + ``bond_weight`` x mean of the bond-head MSEs."""
    out = model.forward_normalised(q, v)
    loss = F.mse_loss(out["onsite"], target["onsite"])
    if bond_weight > 0 and "bond_current_x" in target:
        bond = sum(F.mse_loss(out[k], target[k]) for k in BOND_OUTPUTS) / len(BOND_OUTPUTS)
        loss = loss + bond_weight * bond
    return loss


def _mean_loss(model: LocalForceField, q, v, target: Mapping[str, torch.Tensor],
               batch_size: int, bond_weight: float = 0.0) -> float:
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(q), batch_size):
            sl = slice(s, s + batch_size)
            part = {k: t[sl] for k, t in target.items()}
            total += float(_loss(model, q[sl], v[sl], part, bond_weight)) * len(q[sl])
    return total / len(q)


def training_state_path(checkpoint_path) -> Path:
    """Where ``train`` keeps its resumable state: ``<checkpoint>.training-state.pt``."""
    return Path(f"{checkpoint_path}.training-state.pt")


def _data_hash(*arrays: np.ndarray) -> str:
    """blake2b of the arrays' dtype, shape and bytes (about 1 GB/s)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes() if a.dtype.hasobject else memoryview(a).cast("B"))
    return h.hexdigest()


def _load_training_state(path: Path, fingerprint: str, log) -> dict | None:
    """The saved training state if it belongs to this run (same fingerprint), else None."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated or foreign file: start afresh, overwrite it
        log(f"mlff: ignoring unreadable training state {path} ({type(err).__name__}); "
            "starting afresh")
        return None
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
        log(f"mlff: training state {path} belongs to another run (other data, "
            "hyperparameters or physics); starting afresh and overwriting it")
        return None
    return state


def _optimiser(parameters, hyper: Mapping[str, Any]):
    """AdamW and its plateau learning-rate decay, as set by the hyperparameters."""
    opt = torch.optim.AdamW(parameters, lr=float(hyper["learning_rate"]),
                            weight_decay=float(hyper["weight_decay"]))
    decay_patience = hyper["lr_decay_patience"] or max(1, int(hyper["patience"]) // 4)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=float(hyper["lr_decay_factor"]), patience=int(decay_patience),
        min_lr=float(hyper["learning_rate"]) * 1e-3)
    return opt, sched


def _train_epoch(n: int, batch_size: int, gen: torch.Generator, opt, batch_loss) -> float:
    """One pass over ``n`` samples in the order of ``gen``; ``batch_loss(indices)`` is the
    loss of a mini-batch.  Returns the sample-weighted mean training loss."""
    perm = torch.randperm(n, generator=gen)
    total = 0.0
    for s in range(0, n, batch_size):
        idx = perm[s : s + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = batch_loss(idx)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / n


def _train_bond_heads(model: LocalForceField, train_set, val_set, hyper: Mapping[str, Any],
                      log: Callable[[str], Any]) -> dict:
    """Train only the bond-current heads on the frozen (already trained) backbone.

    The backbone features of every snapshot (and its mirror image) are computed once; the
    heads are fitted to them with the bond loss (mean of the normalised bond_current_x and
    bond_current_y MSEs), AdamW, learning-rate decay on plateaus and early stopping on the
    validation trajectories, like the force training.  Seeded (``hyper["seed"]`` + 1)
    and independent of the force stage's random state, so a resumed training ends with
    the same heads.  The force path is untouched: forces equal the force-only model's.
    """
    head = model.heads["bond"]
    batch_size = int(hyper["batch_size"])

    def cached(q, v, y):
        hs = []
        with torch.no_grad():
            for s in range(0, len(q), 4 * batch_size):
                h = model.backbone_features(q[s : s + 4 * batch_size], v[s : s + 4 * batch_size])
                b = h.shape[0] // 2
                hs.append(torch.stack([h[:b], h[b:]], dim=1))  # (B, 2, C, Lx, Ly)
        return torch.cat(hs), {k: y[k] for k in BOND_OUTPUTS}

    def loss_of(h_pairs, target):
        h = torch.cat([h_pairs[:, 0], h_pairs[:, 1]], dim=0)
        out = model.heads_normalised(h, ("bond",))
        return sum(F.mse_loss(out[k], target[k]) for k in BOND_OUTPUTS) / len(BOND_OUTPUTS)

    h_tr, y_tr = cached(*train_set)
    h_va, y_va = cached(*val_set)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    opt, sched = _optimiser(head.parameters(), hyper)
    gen = torch.Generator().manual_seed(int(hyper["seed"]) + 1)
    history: dict[str, list] = {"train_loss": [], "val_loss": [], "epoch_seconds": [], "lr": []}
    best = (math.inf, 0, copy.deepcopy(head.state_dict()))
    wait, t_start = 0, time.perf_counter()
    for epoch in range(1, int(hyper["bond_epochs"] or hyper["epochs"]) + 1):
        t0 = time.perf_counter()
        head.train()
        train_loss = _train_epoch(
            len(h_tr), batch_size, gen, opt,
            lambda idx: loss_of(h_tr[idx], {k: t[idx] for k, t in y_tr.items()}))
        head.eval()
        with torch.no_grad():
            val_loss = sum(
                float(loss_of(h_va[s : s + 4 * batch_size],
                              {k: t[s : s + 4 * batch_size] for k, t in y_va.items()}))
                * len(h_va[s : s + 4 * batch_size])
                for s in range(0, len(h_va), 4 * batch_size)) / len(h_va)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"bond heads, epoch {epoch}: training loss {train_loss}; "
                                     "lower the learning rate")
        lr = opt.param_groups[0]["lr"]
        sched.step(val_loss)
        for key, value in zip(history, (train_loss, val_loss, time.perf_counter() - t0, lr),
                              strict=True):
            history[key].append(float(value))
        if val_loss < best[0]:
            best, wait = (val_loss, epoch, copy.deepcopy(head.state_dict())), 0
        else:
            wait += 1
        if epoch % 10 == 0 or wait >= int(hyper["patience"]):
            log(f"bond heads, epoch {epoch}: train {history['train_loss'][-1]:.3e}  val "
                f"{val_loss:.3e} (best {best[0]:.3e} @ {best[1]})  lr {lr:.1e}")
        if wait >= int(hyper["patience"]):
            break
    head.load_state_dict(best[2])
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    log(f"mlff: bond heads on the frozen backbone: best epoch {best[1]}, validation loss "
        f"{best[0]:.3e} ({time.perf_counter() - t_start:.1f} s)")
    return {"best_epoch": best[1], "best_val_loss": best[0],
            "epochs_run": len(history["train_loss"]), "history": history}


def train(
    data: Mapping[str, Any],
    hyper: Mapping[str, Any],
    checkpoint_path,
    metrics_path=None,
    log: Callable[[str], Any] = print,
    keep_training_state: bool = False,
) -> dict:
    """Train the local model on NEGF snapshots; write the checkpoint; return metrics.

    ``data``: ``q``, ``force`` (electronic force), ``bias`` (n,), ``trajectory`` (n,)
    integer id per (bias, seed) run, optional ``density``, optional ``bond_current_x``
    (n, Lx - 1, Ly) and ``bond_current_y`` (n, Lx, Ly) (then, with
    ``hyper["bond_heads"]`` or ``hyper["bond_loss_weight"]`` > 0, the bond heads are
    trained: see ``DEFAULT_HYPER``), and ``meta``
    (physics keys ``PHYSICS_KEYS``, optionally damping, dt and the lattice shape; flat or under
    ``meta["physics"]``).  ``hyper``: see ``DEFAULT_HYPER``.  The split is by whole
    trajectories (``split_trajectories``); normalisation comes from the training split;
    early stopping on the validation loss keeps the best weights.  The checkpoint is a
    plain dict written atomically; ``metrics_path`` (optional) gets the metrics as JSON.
    Returned metrics: ``history`` (per-epoch train_loss, val_loss, epoch_seconds, lr),
    best_epoch, best_val_loss, epochs_run, the split, ``validation`` (``evaluate_rmse``
    of the best model on the validation trajectories), ``validation_bond`` (with bond
    heads, else None: ``bond_current_metrics`` on the validation trajectories),
    normalisation, hyper, seconds.

    Resume: with ``hyper["checkpoint_every_epochs"]`` = N > 0 the full training state is
    written atomically to ``training_state_path(checkpoint_path)`` every N epochs and when
    the loop ends.  If that file exists and its fingerprint (hyperparameters other than
    ``UNFINGERPRINTED_HYPER``, physics, data shape and hash, holstein version) matches, training
    resumes from it (and is logged); otherwise it is ignored and overwritten.  The file is
    removed once the checkpoint and metrics are written, unless ``keep_training_state``
    (for a caller that writes further outputs and removes it itself).  A resumed run ends
    with the same weights, bit for bit, as an uninterrupted one on the same machine, torch
    build and thread count.
    """
    t_start = time.perf_counter()
    hyper = {**DEFAULT_HYPER, **dict(hyper)}
    unknown = sorted(set(hyper) - set(DEFAULT_HYPER))
    if unknown:
        raise ValueError(f"unknown hyperparameters {unknown}; known: {sorted(DEFAULT_HYPER)}")
    every = hyper["checkpoint_every_epochs"]
    if isinstance(every, bool) or not isinstance(every, int | np.integer) or every < 0:
        raise ValueError(f"checkpoint_every_epochs = {every!r}: give an integer >= 0 (epochs "
                         "between saves of the resumable training state; 0 = never)")
    every = int(every)
    _check_data(data, ("q", "force", "bias", "trajectory", "meta"))
    physics = _physics_from_meta(data["meta"])
    g = float(physics["g"])
    if g == 0:
        raise ValueError("g = 0: the electronic force vanishes, there is nothing to learn")
    seed = int(hyper["seed"])
    torch.manual_seed(seed)  # numpy: the split uses np.random.default_rng(seed)
    if hyper["threads"]:
        torch.set_num_threads(int(hyper["threads"]))

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
    bond_weight = float(hyper["bond_loss_weight"])
    if not math.isfinite(bond_weight) or bond_weight < 0:
        raise ValueError(f"bond_loss_weight = {bond_weight}: give a number >= 0 (0 = no "
                         "bond-current heads)")
    want_bonds = bool(hyper["bond_heads"]) or bond_weight > 0
    bonds = {}
    if want_bonds and not all(data.get(k) is not None for k in BOND_OUTPUTS):
        log("mlff: the data has no bond currents; training no bond-current heads")
    if want_bonds and all(data.get(k) is not None for k in BOND_OUTPUTS):
        bonds = {k: np.asarray(data[k], dtype=np.float64) for k in BOND_OUTPUTS}
        want = {"bond_current_x": (n, lx - 1, ly), "bond_current_y": (n, lx, ly)}
        for k, a in bonds.items():
            if a.shape != want[k]:
                raise ValueError(f"data[{k!r}] has shape {a.shape}, expected {want[k]}")
        if lx < 2:
            bonds = {}
    train_ids, val_ids = split_trajectories(traj, bias, float(hyper["validation_fraction"]), seed)
    tr = np.isin(traj, train_ids)
    va = np.isin(traj, val_ids)

    def std(a):
        s = float(np.std(a))
        return s if s > 0 else 1.0

    def rms(a):
        s = float(np.sqrt(np.mean(a**2)))
        return s if s > 0 else 1.0

    norm = {
        "q_mean": float(np.mean(q_all[tr])),
        "q_std": std(q_all[tr]),
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
    model = build_model(hyper, normalisation=norm, bond_heads=bool(bonds))
    n_params = sum(p.numel() for p in model.parameters())

    def tensors(mask):
        q = torch.as_tensor(q_all[mask], dtype=torch.float32)
        v = torch.as_tensor(bias[mask], dtype=torch.float32)
        targets = {"onsite": onsite, **bonds}
        y = {k: torch.as_tensor((a[mask] - norm[f"{k}_mean"]) / norm[f"{k}_std"],
                                dtype=torch.float32) for k, a in targets.items()}
        return q, v, y

    q_tr, v_tr, y_tr = tensors(tr)
    q_va, v_va, y_va = tensors(va)
    val_biases = sorted({float(b) for b in np.unique(bias[va])})
    log(
        f"mlff: {n} snapshots of {lx}x{ly} from {len(np.unique(traj))} trajectories; "
        f"train {int(tr.sum())} snapshots ({len(train_ids)} trajectories), validation "
        f"{int(va.sum())} ({len(val_ids)} trajectories, biases {val_biases}); "
        f"cutoff {model.cutoff}, channels {model.channels}, {n_params} parameters"
        + ((f"; bond-current heads trained jointly (loss weight {bond_weight:g})"
            if bond_weight > 0 else "; bond-current heads trained on the frozen backbone "
            "after the forces") if bonds else "; no bond-current heads")
    )

    batch_size = int(hyper["batch_size"])
    opt, sched = _optimiser(model.parameters(), hyper)
    gen = torch.Generator().manual_seed(seed)
    curve: dict[str, list] = {"train_loss": [], "val_loss": [], "epoch_seconds": [], "lr": []}
    best = (math.inf, 0, copy.deepcopy(model.state_dict()))
    wait = 0
    max_epochs = int(hyper["epochs"])
    split = {"train_trajectories": [int(i) for i in train_ids],
             "val_trajectories": [int(i) for i in val_ids]}

    state_path = training_state_path(checkpoint_path)
    fingerprint = json.dumps(_plain({
        "format": TRAINING_STATE_FORMAT,
        "hyper": {k: v for k, v in hyper.items() if k not in UNFINGERPRINTED_HYPER},
        "physics": physics,
        "data": {"shape": [n, lx, ly],
                 "hash": _data_hash(q_all, force, bias, traj, *bonds.values())},
        "version": __version__,
    }), sort_keys=True)
    epoch, finished, elapsed_before = 0, False, 0.0
    state = _load_training_state(state_path, fingerprint, log) if every else None
    if state is not None and (state["normalisation"] != norm
                              or {k: state[k] for k in split} != split):
        log(f"mlff: training state {state_path} has another split or normalisation; "
            "starting afresh and overwriting it")
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["batch_rng"])
        torch.set_rng_state(state["torch_rng"])
        best = (state["best_val_loss"], state["best_epoch"], state["best_state_dict"])
        wait, curve, epoch = state["wait"], state["curve"], state["epoch"]
        finished, elapsed_before = state["finished"], state["elapsed"]
        log(f"mlff: resuming from {state_path} after epoch {epoch}"
            f"{' (training loop already finished)' if finished else ''}; best "
            f"{best[0]:.3e} @ {best[1]}")

    def save_state() -> None:
        with atomic_path(state_path) as tmp:
            torch.save({
                "fingerprint": fingerprint,
                "epoch": epoch,
                "finished": finished,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "best_val_loss": best[0],
                "best_epoch": best[1],
                "best_state_dict": best[2],
                "wait": wait,
                "curve": curve,
                "batch_rng": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "normalisation": norm,
                **split,
                "elapsed": elapsed_before + time.perf_counter() - t_start,
            }, tmp)

    while not finished and epoch < max_epochs:
        epoch += 1
        t0 = time.perf_counter()
        model.train()
        train_loss = _train_epoch(
            len(q_tr), batch_size, gen, opt,
            lambda idx: _loss(model, q_tr[idx], v_tr[idx],
                              {k: t[idx] for k, t in y_tr.items()}, bond_weight))
        model.eval()
        val_loss = _mean_loss(model, q_va, v_va, y_va, 4 * batch_size, bond_weight)
        lr = opt.param_groups[0]["lr"]
        sched.step(val_loss)
        dt = time.perf_counter() - t0
        for key, value in zip(curve, (train_loss, val_loss, dt, lr), strict=True):
            curve[key].append(float(value))
        if val_loss < best[0]:
            best = (val_loss, epoch, copy.deepcopy(model.state_dict()))
            wait = 0
        else:
            wait += 1
        log(
            f"epoch {epoch}/{max_epochs}: train {train_loss:.3e}  val {val_loss:.3e} "
            f"(rel. RMSE {math.sqrt(val_loss):.4f}; best {best[0]:.3e} @ {best[1]})  "
            f"lr {lr:.1e}  {dt:.2f} s"
        )
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"epoch {epoch}: training loss {train_loss}; lower the "
                                     "learning rate")
        if wait >= int(hyper["patience"]):
            log(f"early stop at epoch {epoch}: no improvement for {wait} epochs")
            finished = True
        finished = finished or epoch == max_epochs
        if every and (finished or epoch % every == 0):
            save_state()
    model.load_state_dict(best[2])
    model.eval()
    bond_stage = None
    if bonds and bond_weight == 0:
        bond_stage = _train_bond_heads(model, (q_tr, v_tr, y_tr), (q_va, v_va, y_va), hyper,
                                       log)
        curve_bond = bond_stage.pop("history")
    else:
        curve_bond = None

    checkpoint_path = Path(checkpoint_path)
    save_checkpoint(
        checkpoint_path, model, physics, (lx, ly), hyper,
        loss_curve=curve, best_epoch=best[1], **split,
    )

    provider = MLForceProvider(model, physics, (lx, ly))
    val_data = {"q": q_all[va], "bias": bias[va], "force": force[va]}
    metrics = {
        "history": curve,  # per-epoch train_loss, val_loss (normalised MSE), epoch_seconds, lr
        "bond_history": curve_bond,  # the same for the frozen-backbone bond-head stage
        "bond_stage": bond_stage,
        "best_epoch": best[1],
        "best_val_loss": best[0],
        "epochs_run": len(curve["train_loss"]),
        "n_parameters": n_params,
        "n_train_snapshots": int(tr.sum()),
        "n_val_snapshots": int(va.sum()),
        "train_trajectories": [int(i) for i in train_ids],
        "val_trajectories": [int(i) for i in val_ids],
        "val_biases": val_biases,
        "validation": evaluate_rmse(provider, val_data),
        "validation_bond": (bond_current_metrics(provider, {**val_data, **{
            k: a[va] for k, a in bonds.items()}}) if bonds else None),
        "normalisation": norm,
        "hyper": hyper,
        "lattice_shape": [lx, ly],
        "seconds": elapsed_before + time.perf_counter() - t_start,
        "checkpoint": str(checkpoint_path),
    }
    val_rel = metrics["validation"]["overall"]["relative_rmse"]
    log(f"mlff: best epoch {best[1]}, validation force RMSE / std = {val_rel:.4f}; "
        f"checkpoint {checkpoint_path} ({metrics['seconds']:.1f} s)")
    if metrics_path is not None:
        _atomic_write_json(metrics, Path(metrics_path))
    if not keep_training_state:
        state_path.unlink(missing_ok=True)
    return metrics


# ----------------------------------------------------------------------------- evaluation


def _as_provider(obj, data: Mapping[str, Any] | None = None):
    if isinstance(obj, str | os.PathLike):
        return load(obj)
    if isinstance(obj, LocalForceField):
        if data is None or "meta" not in data:
            raise ValueError("a bare LocalForceField needs data['meta'] with g")
        return MLForceProvider(obj, _physics_from_meta(data["meta"]))
    return obj


def predict_all(provider: MLForceProvider, q: np.ndarray, bias: np.ndarray,
                batch_size: int = 64, observables: bool = True) -> dict[str, np.ndarray]:
    """``provider.predict_batch`` over many snapshots in batches, outputs concatenated."""
    q = np.asarray(q, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    parts = [provider.predict_batch(q[s : s + batch_size], bias[s : s + batch_size],
                                    observables)
             for s in range(0, len(q), batch_size)]
    if not parts:
        return {"force": np.zeros_like(q)}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def predict(model_or_provider, data: Mapping[str, Any], batch_size: int = 64) -> np.ndarray:
    """Predicted electronic force (n, Lx, Ly) for ``data['q']``, ``data['bias']``.

    Accepts an MLForceProvider, a checkpoint path, a LocalForceField (g from
    ``data['meta']``) or any provider with ``electronic_force`` (e.g. NEGF).
    """
    provider = _as_provider(model_or_provider, data)
    if hasattr(provider, "predict_batch"):
        return predict_all(provider, data["q"], data["bias"], batch_size,
                           observables=False)["force"]
    q = np.asarray(data["q"], dtype=np.float64)
    bias = np.asarray(data["bias"], dtype=np.float64)
    return np.stack([provider.electronic_force(qi, bi) for qi, bi in zip(q, bias, strict=True)])


def error_row(pred: np.ndarray, ref: np.ndarray) -> dict:
    """RMSE, the reference's standard deviation (``std``), their ratio, the largest error."""
    rmse = float(np.sqrt(np.mean((pred - ref) ** 2)))
    std = float(np.std(ref))
    return {
        "rmse": rmse,
        "std": std,
        "relative_rmse": rmse / std if std > 0 else float("inf"),
        "max_abs_error": float(np.max(np.abs(pred - ref))),
    }


def _rmse_row(pred: np.ndarray, ref: np.ndarray) -> dict:
    row = error_row(pred, ref)
    return {"rmse": row["rmse"], "force_std": row["std"],
            "relative_rmse": row["relative_rmse"], "max_abs_error": row["max_abs_error"],
            "n_snapshots": int(len(ref))}


def evaluate_rmse(
    model_or_provider, data: Mapping[str, Any], return_predictions: bool = False,
    batch_size: int = 64,
) -> dict:
    """Held-out force RMSE and force standard deviation per bias (and overall).

    Returns a JSON-ready dict ``{"per_bias": [{"bias", "rmse", "force_std",
    "relative_rmse", "max_abs_error", "n_snapshots"}, ...], "overall": {...},
    "max_relative_rmse": float}``; the issue's target is relative_rmse <= 0.03 at every
    bias.  ``return_predictions=True`` adds ``"predictions"`` (n, Lx, Ly) for a parity
    plot (a numpy array: drop it before writing JSON).
    """
    _check_data(data, ("q", "force", "bias"))
    pred = predict(model_or_provider, data, batch_size)
    ref = np.asarray(data["force"], dtype=np.float64)
    bias = np.asarray(data["bias"], dtype=np.float64)
    rows = []
    for b in np.unique(bias):
        sel = bias == b
        rows.append({"bias": float(b), **_rmse_row(pred[sel], ref[sel])})
    out = {
        "per_bias": rows,
        "overall": _rmse_row(pred, ref),
        "max_relative_rmse": max(r["relative_rmse"] for r in rows),
    }
    if return_predictions:
        out["predictions"] = pred
    return out


def bond_current_metrics(provider, data: Mapping[str, Any], batch_size: int = 64) -> dict:
    """Bond-current and device-current errors of a provider with bond heads.

    ``data``: ``q``, ``bias``, ``bond_current_x``, ``bond_current_y`` (NEGF).  Returns
    ``{"bond_current_x": row, "bond_current_y": row, "current": row}`` with row = {rmse,
    std, relative_rmse, max_abs_error} (current: per snapshot), plus
    ``"mean_kirchhoff_spread"`` of the predicted x-bond currents.
    """
    pred = predict_all(provider, data["q"], data["bias"], batch_size)
    ref = {k: np.asarray(data[k], dtype=np.float64) for k in BOND_OUTPUTS}
    ref["current"] = device_current(ref["bond_current_x"])
    out = {k: error_row(pred[k], ref[k]) for k in ref}
    out["mean_kirchhoff_spread"] = float(np.mean(kirchhoff_spread(pred["bond_current_x"])))
    return out


def held_out_evaluation(checkpoint_path, data: Mapping[str, Any], batch_size: int = 64) -> dict:
    """Force RMSE per bias on the validation trajectories recorded in the checkpoint.

    ``data`` is the training set passed to ``train`` (same ``trajectory`` ids).  Returns
    ``{"per_bias": {label: {"bias", "rmse", "force_std", "relative_rmse",
    "max_abs_error", "n_snapshots", "n_values", "true", "pred"}}, "overall": {...},
    "max_relative_rmse", "val_trajectories"}``; ``true``/``pred`` are flat arrays of
    every force value for a parity plot (drop them before writing JSON).
    """
    ckpt = read_checkpoint(checkpoint_path)
    val_ids = ckpt.get("val_trajectories")
    if not val_ids:
        raise ValueError(f"{checkpoint_path}: the checkpoint records no validation trajectories")
    sel = np.isin(np.asarray(data["trajectory"]), val_ids)
    if not sel.any():
        raise ValueError(
            f"{checkpoint_path}: none of its validation trajectories {val_ids} is in the data; "
            "pass the data set the model was trained on"
        )
    held = {k: np.asarray(data[k])[sel] for k in ("q", "force", "bias")}
    result = evaluate_rmse(load(checkpoint_path), held, True, batch_size)
    pred = result.pop("predictions")
    per_bias = {}
    for row in result["per_bias"]:
        rows = held["bias"] == row["bias"]
        per_bias[f"{row['bias']:g}"] = {
            **row,
            "n_values": int(rows.sum() * held["force"][0].size),
            "true": held["force"][rows].ravel(),
            "pred": pred[rows].ravel(),
        }
    return {**result, "per_bias": per_bias, "val_trajectories": list(val_ids)}


# ----------------------------------------------------------------------------- loading


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def _unreadable(path, why: str) -> ValueError:
    return ValueError(
        f"{path}: ML force-field checkpoint is unreadable ({why}); it is truncated, corrupt "
        "or not a holstein.mlff checkpoint. Delete it so that the pipeline re-creates it "
        "(retrains the model)."
    )


def read_checkpoint(path) -> dict:
    """The checkpoint dict (``torch.load(weights_only=True)``), validated."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ML force-field checkpoint; train one first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise _unreadable(path, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}") \
            from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise _unreadable(path, "no holstein-mlff format marker")
    missing = [k for k in ("state_dict", "architecture", "physics", "normalisation")
               if k not in ckpt]
    if missing:
        raise _unreadable(path, f"missing entries {missing}")
    if ckpt.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {ckpt.get('format_version')}, this holstein "
            f"({__version__}) reads {CHECKPOINT_FORMAT_VERSION}; retrain the model (delete "
            "the checkpoint so that the pipeline re-creates it)"
        )
    return ckpt


def check_expectation(ckpt: Mapping[str, Any], expect: Mapping[str, Any], path="checkpoint",
                      strict_shape: bool = False) -> None:
    """Raise ValueError if the checkpoint's physics (or shape) differs from ``expect``."""
    want = _flat_meta(expect)
    have = dict(ckpt["physics"])
    problems = []
    for key in PHYSICS_KEYS:
        if key not in want:
            continue
        if key not in have:
            problems.append(f"{key}: not recorded in the checkpoint, expected {want[key]!r}")
        elif not _same(have[key], want[key]):
            problems.append(f"{key}: checkpoint {have[key]!r}, expected {want[key]!r}")
    if strict_shape and want["_shape"] is not None:
        shape = tuple(ckpt.get("lattice_shape") or ())
        if shape != want["_shape"]:
            problems.append(f"lattice shape: checkpoint {shape}, expected {want['_shape']}")
    if problems:
        raise ValueError(
            f"{path}: ML force field was trained for different physics: "
            + "; ".join(problems)
            + ". Retrain the model for this configuration (delete the checkpoint so that "
            "the pipeline re-creates it) or load the checkpoint that matches."
        )


def load(
    path, expect: Mapping[str, Any] | None = None, strict_shape: bool = False,
    threads: int | None = None,
) -> MLForceProvider:
    """Load a checkpoint written by ``train`` as an MLForceProvider.

    ``expect``: physics parameters (flat or under ``"physics"``; optionally the lattice
    shape as ``shape`` or ``Lx``/``Ly``); a mismatch in any of ``PHYSICS_KEYS`` present
    in ``expect`` (and the shape if ``strict_shape``) raises ValueError naming the key,
    both values and the fix.  A truncated or corrupt file raises ValueError.
    """
    ckpt = read_checkpoint(path)
    if expect is not None:
        check_expectation(ckpt, expect, path, strict_shape)
    arch = ckpt["architecture"]
    model = LocalForceField(
        cutoff=int(arch["cutoff"]),
        channels=int(arch["channels"]),
        head_channels=int(arch["head_channels"]),
        expansion=int(arch.get("expansion", 0)),
        normalisation=ckpt["normalisation"],
        bond_heads="bond" in arch.get("heads", ()),
        bond_head_channels=arch.get("bond_head_channels"),
    )
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"{path}: the checkpoint's weights do not fit this holstein version's model "
            f"({str(err).splitlines()[0]}); retrain (delete the checkpoint so that the "
            "pipeline re-creates it)"
        ) from err
    info = {k: ckpt.get(k) for k in ("hyper", "version", "loss_curve", "best_epoch", "cutoff")}
    info["path"] = str(path)
    return MLForceProvider(model, ckpt["physics"], ckpt.get("lattice_shape"), threads, info)
