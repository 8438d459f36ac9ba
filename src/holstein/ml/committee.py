"""A committee of force fields: the predictor that drives a run, and the deviation of the
members' forces that says where the model is guessing.

Members (``holstein.ml.members``): N models of one architecture, trained on the same data
with different seeds (initial weights, split, batch order).

Deviation.  On a configuration, member k predicts the force F_k,i on site i.  The force
deviation on the site is the standard deviation over the members,

    sigma_i = sqrt( (1/N) sum_k (F_k,i - <F_i>)^2 ),   <F_i> = (1/N) sum_k F_k,i,

(DP-GEN's model deviation of the force, for a scalar force per site), summarised per
frame by its maximum over the sites (DP-GEN's ``max_devi_f``) and its mean over the
sites.  Two members give |F_1,i - F_2,i| / 2; identical members give exactly 0 (the
members' forces are taken relative to member 0 before averaging, which also avoids
cancellation).  The deviation is computed in float64 from the members' float32 outputs.

Predictor.  One predictor drives a run and gives its recorded force, density and bond
currents (``model.committee_predictor``):

* ``mean``: the mean over the members (of the on-site output, hence of force and
  density, and of the bond currents).  Every step evaluates every member.
* ``first``: member 0 alone, the others only measure the deviation (the convention of
  DP-GEN's exploration, where the first model drives the dynamics).  Between recorded
  frames a step costs exactly what a single model's step costs.

The deviation is computed on recorded frames only (``evaluate`` with ``observables``);
between them the dynamics asks for the predictor's force alone (``force_tensor``).

Evaluation.  The members of the convolutional architecture are evaluated together as one
network, ``StackedForceField``: every convolution of the N members becomes one grouped
convolution (N groups), so one call runs all members (at the pipeline's lattice sizes a
call's fixed cost dominates, and N separate calls would cost N times that).  On the CPU
that holds up to ``STACKED_MAX_SITES_CPU`` sites per call; beyond, the members run one
after the other, which is faster there.  Its outputs
equal the members' own (tested in float64).  Members of another architecture are
evaluated one after the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from holstein.data.records import DEVIATION_SUMMARIES
from holstein.ml.checkpoint import RETRAIN, check_expectation, read_checkpoint
from holstein.ml.members import PREDICTORS
from holstein.ml.model import (
    IN_CHANNELS,
    Backbone,
    LeadColumns,
    LocalForceField,
    SiteHead,
    mirror_y,
    residual_trunk,
    symmetrised,
)
from holstein.ml.provider import load, model_from_checkpoint
from holstein.physics.forces import ElectronicResponse
from holstein.physics.observables import device_current

# The per-frame summaries of the deviation (holstein.data.records): max and mean over the sites.
SUMMARY_REDUCTIONS = dict(zip(DEVIATION_SUMMARIES, (np.max, np.mean), strict=True))


# On the CPU the grouped convolutions of the stacked network pay off only on small
# inputs: for 3 trained members (16 channels, cutoff 6, one thread) the stacked call
# took 0.17 x the members one by one at 16 x 14, 0.86 x at 32 x 32, 1.46 x at 64 x 64 and
# 2.07 x at 128 x 128.  Above this many sites per call (batch x Lx x Ly) the members run
# one after the other.
STACKED_MAX_SITES_CPU = 2048


def force_deviation(member_forces: np.ndarray, axis: int = 0) -> np.ndarray:
    """Per-site standard deviation over the members (``axis``), population (1/N).

    Forces are taken relative to the first member before averaging: identical members
    give exactly 0, and no large common part cancels.
    """
    forces = np.asarray(member_forces, dtype=np.float64)
    relative = forces - np.take(forces, [0], axis=axis)
    spread = relative - relative.mean(axis=axis, keepdims=True)
    return np.sqrt(np.mean(spread**2, axis=axis))


def deviation_summaries(deviation: np.ndarray) -> dict[str, np.ndarray]:
    """``force_deviation_max`` and ``force_deviation_mean`` of (B, Lx, Ly) per-site
    deviations: (B,) each, over the sites of each frame."""
    flat = np.asarray(deviation).reshape(len(deviation), -1)
    return {name: reduce(flat, axis=1) for name, reduce in SUMMARY_REDUCTIONS.items()}


# ----------------------------------------------------------------------------- one network


def _grouped(convs: Sequence[nn.Conv2d]) -> nn.Conv2d:
    """One convolution with ``len(convs)`` groups that applies ``convs[k]`` to the k-th
    block of input channels, giving the k-th block of output channels."""
    first = convs[0]
    fused = nn.Conv2d(len(convs) * first.in_channels, len(convs) * first.out_channels,
                      first.kernel_size, padding=first.padding, groups=len(convs),
                      bias=first.bias is not None)
    fused = fused.to(dtype=first.weight.dtype, device=first.weight.device)
    with torch.no_grad():
        fused.weight.copy_(torch.cat([c.weight for c in convs]))
        if first.bias is not None:
            fused.bias.copy_(torch.cat([c.bias for c in convs]))
    return fused


def _grouped_mlp(mlps: Sequence[nn.Sequential]) -> nn.Sequential:
    """conv 1x1, SiLU, conv 1x1 of every member as one grouped sequence."""
    return nn.Sequential(_grouped([m[0] for m in mlps]), nn.SiLU(),
                         _grouped([m[2] for m in mlps]))


def stackable(members: Sequence[nn.Module]) -> bool:
    """Whether the members are convolutional force fields of one architecture, which
    ``StackedForceField`` evaluates as one network."""
    return (len(members) > 0
            and all(type(m) is LocalForceField and type(m.backbone) is Backbone
                    and all(type(h) is SiteHead for h in m.heads.values()) for m in members)
            and all(m.architecture == members[0].architecture for m in members))


class StackedForceField(nn.Module):
    """N convolutional force fields of one architecture as one network of grouped
    convolutions.  ``forward(q, bias, heads)`` returns, per output, the members'
    physical outputs stacked first: ``{"onsite": (N, B, Lx, Ly), ...}``, equal to
    ``torch.stack([m(q, bias, heads)[k] for m in members])``.

    The layers are copies: later changes to the members do not reach it.
    """

    def __init__(self, members: Sequence[LocalForceField]) -> None:
        super().__init__()
        if not stackable(members):
            raise ValueError("StackedForceField needs convolutional force fields "
                             "(LocalForceField) of one architecture")
        first = members[0]
        self.n_members = len(members)
        self.architecture = first.architecture
        self.head_outputs = dict(first.head_outputs)
        self.layers = nn.ModuleList(
            _grouped([m.backbone.layers[k] for m in members])
            for k in range(len(first.backbone.layers)))
        self.mlps = nn.ModuleList(
            _grouped_mlp([m.backbone.mlps[k] for m in members])
            for k in range(len(first.backbone.mlps)))
        self.heads = nn.ModuleDict({name: _grouped_mlp([m.heads[name].net for m in members])
                                    for name in first.heads})
        for key in first.normalisation():
            self.register_buffer(key, torch.stack([getattr(m, key).detach().clone()
                                                   for m in members]))
        self.lead_columns = LeadColumns()

    def features(self, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """(B, N * 4, Lx, Ly): each member's input channels (``LocalForceField.features``:
        its normalised Q and V, the two lead indicators), member after member."""
        b, lx, ly = q.shape
        n = self.n_members
        qn = (q[:, None] - self.q_mean[:, None, None]) / self.q_std[:, None, None]
        vn = ((bias[:, None] - self.bias_mean) / self.bias_std).to(q.dtype)
        leads = self.lead_columns(lx, q)
        x = torch.cat([qn[:, :, None], vn[:, :, None, None, None].expand(b, n, 1, lx, ly),
                       leads[None, None].expand(b, n, 2, lx, ly)], dim=2)
        return x.reshape(b, n * IN_CHANNELS, lx, ly)

    def forward(self, q: torch.Tensor, bias: torch.Tensor,
                heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        b = q.shape[0]
        x = self.features(q, bias)
        h = torch.cat([x, mirror_y(x)], dim=0).contiguous(memory_format=torch.channels_last)
        h = residual_trunk(h, self.layers, self.mlps)
        result = {}
        for name, head in self.heads.items():
            if heads is not None and name not in heads:
                continue
            y = head(h)
            y = y.reshape(2 * b, self.n_members, -1, *y.shape[-2:])
            for k, (output, kind, sign) in enumerate(self.head_outputs[name]):
                value = symmetrised(y[:, :, k], kind, sign)
                if output == "bond_current_x":
                    value = value[:, :, :-1]  # no bond beyond x = Lx - 1
                std = getattr(self, f"{output}_std")[:, None, None]
                mean = getattr(self, f"{output}_mean")[:, None, None]
                result[output] = (value * std + mean).transpose(0, 1)
        return result


# ----------------------------------------------------------------------------- provider


class CommitteeProvider:
    """Force provider (``holstein.physics.forces`` contract) backed by a committee of force fields.

    ``predictor``: 'mean' or 'first' (module docstring).  float32 models,
    ``torch.inference_mode``, any lattice size; ``device`` and ``threads`` as for
    ``MLForceProvider``.  ``evaluate`` with ``observables`` (a recorded frame) evaluates
    every member and adds the force deviation; without, and ``force_tensor`` (the steps
    between recorded frames), give the predictor's force alone.
    """

    def __init__(self, members: Sequence[LocalForceField], physics: Mapping[str, Any],
                 lattice_shape: tuple[int, int] | None = None, predictor: str = "mean",
                 threads: int | None = None, device="cpu") -> None:
        if len(members) < 2:
            raise ValueError(f"a committee needs at least 2 members, got {len(members)} (a "
                             "single model is an MLForceProvider)")
        if predictor not in PREDICTORS:
            raise ValueError(f"predictor={predictor!r}: choose one of {PREDICTORS}")
        if "g" not in physics:
            raise ValueError("physics must contain the coupling g (force = -g (n - 1/2))")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        self.members = [m.float().eval().to(self.device) for m in members]
        kinds = {repr(getattr(m, "architecture", type(m))) for m in self.members}
        if len(kinds) > 1:
            raise ValueError(f"committee members of different architectures: {sorted(kinds)}")
        self.stacked = (StackedForceField(self.members).eval() if stackable(self.members)
                        else None)
        self.predictor = predictor
        self.physics = dict(physics)
        self.g = float(physics["g"])
        self.lattice_shape = None if lattice_shape is None else tuple(lattice_shape)

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def model(self) -> LocalForceField:
        """Member 0: what the committee's architecture (cutoff, bond heads) is read from."""
        return self.members[0]

    @property
    def cutoff(self) -> int:
        return self.model.cutoff

    @property
    def integration_device(self) -> torch.device:
        return self.device

    def member_outputs(self, q: torch.Tensor, bias: torch.Tensor,
                       heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Every member's physical outputs, stacked first: ``{"onsite": (N, B, Lx, Ly)...}``."""
        if self.stacked is not None and (self.device.type != "cpu"
                                         or q.numel() <= STACKED_MAX_SITES_CPU):
            return self.stacked(q, bias, heads)
        outputs = [m(q, bias, heads) for m in self.members]
        return {k: torch.stack([o[k] for o in outputs]) for k in outputs[0]}

    def _reduce(self, values: np.ndarray) -> np.ndarray:
        """The predictor's value from the members' (first axis)."""
        return values.mean(axis=0) if self.predictor == "mean" else values[0]

    def predict_batch(self, q: np.ndarray, biases, observables: bool = True
                      ) -> dict[str, np.ndarray]:
        """Batched prediction, as ``MLForceProvider.predict_batch`` for the predictor,
        plus with ``observables`` the deviation: ``force_deviation`` (B, Lx, Ly),
        ``force_deviation_max`` and ``force_deviation_mean`` (B,), and ``member_force``
        (B, N, Lx, Ly), every member's force.  Without ``observables``: ``force`` and
        ``density`` of the predictor only."""
        q = np.asarray(q)
        if q.ndim != 3:
            raise ValueError(f"q must be (B, Lx, Ly), got shape {q.shape}")
        bias = np.array(np.broadcast_to(np.asarray(biases, dtype=np.float32), (q.shape[0],)))
        qt = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32)).to(self.device)
        vt = torch.from_numpy(bias).to(self.device)
        if not observables:
            onsite = self._predictor_onsite(qt, vt).cpu().numpy()
            return {"force": -self.g * onsite, "density": 0.5 + onsite}
        with torch.inference_mode():
            out = {k: v.cpu().numpy().astype(np.float64)
                   for k, v in self.member_outputs(qt, vt).items()}
        onsite = self._reduce(out["onsite"])
        member_force = -self.g * out["onsite"]
        deviation = force_deviation(member_force)
        result = {"force": -self.g * onsite, "density": 0.5 + onsite,
                  "force_deviation": deviation, **deviation_summaries(deviation),
                  "member_force": np.moveaxis(member_force, 0, 1)}
        if "bond_current_x" in out:
            bx = self._reduce(out["bond_current_x"])
            result["bond_current_x"] = bx
            result["bond_current_y"] = self._reduce(out["bond_current_y"])
            result["current"] = (device_current(bx) if bx.shape[1] > 0
                                 else np.full(len(bx), np.nan))
        return result

    def evaluate(self, q: np.ndarray, bias: float, observables: bool = True
                 ) -> ElectronicResponse:
        """Force and density of the predictor; with ``observables`` also the bond currents
        and device current (with bond heads) and the force deviation."""
        q = np.asarray(q)
        if q.ndim != 2:
            raise ValueError(f"lattice configuration must be a 2-d (Lx, Ly) array, got {q.shape}")
        out = self.predict_batch(q[None], [bias], observables)
        fields = {k: v[0] for k, v in out.items() if k != "member_force"}
        if "current" in fields:
            current = float(fields["current"])
            fields["current"] = None if np.isnan(current) else current
        for name in DEVIATION_SUMMARIES:
            if name in fields:
                fields[name] = float(fields[name])
        return ElectronicResponse(**fields)

    def electronic_force(self, q: np.ndarray, bias: float) -> np.ndarray:
        return self.evaluate(q, bias, observables=False).force

    def _predictor_onsite(self, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The predictor's on-site output (B, Lx, Ly) in float64: member 0 alone, or the
        mean over the members."""
        with torch.inference_mode():
            if self.predictor == "first":
                return self.members[0](q, bias, ("onsite",))["onsite"].to(torch.float64)
            onsite = self.member_outputs(q, bias, ("onsite",))["onsite"]
            return onsite.to(torch.float64).mean(dim=0)

    def force_tensor(self, q: torch.Tensor, bias: float) -> torch.Tensor:
        """The predictor's force at an (Lx, Ly) float64 tensor on ``self.device``, without
        leaving it (no deviation)."""
        v = torch.full((1,), float(bias), dtype=torch.float32, device=self.device)
        return -self.g * self._predictor_onsite(q.to(torch.float32)[None], v)[0]


def load_committee(paths: Sequence, expect: Mapping[str, Any] | None = None,
                   predictor: str = "mean", strict_shape: bool = False,
                   threads: int | None = None, device="cpu"):
    """The force provider of the member checkpoints ``paths``: a ``CommitteeProvider`` for
    two or more, the member's ``MLForceProvider`` for one (a committee of one has no
    deviation).  ``expect`` and ``strict_shape`` are checked for every member
    (``holstein.ml.provider.load``); members must share physics and architecture.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no member checkpoints given")
    if len(paths) == 1:
        return load(paths[0], expect, strict_shape, threads, device)
    members, first = [], None
    for path in paths:
        ckpt = read_checkpoint(path)
        if expect is not None:
            check_expectation(ckpt, expect, path, strict_shape)
        if first is None:
            first = (path, ckpt)
        elif ckpt["physics"] != first[1]["physics"] or (
                ckpt["architecture"] != first[1]["architecture"]):
            raise ValueError(
                f"{path} and {first[0]} are members of one committee but differ in physics "
                f"or architecture; retrain the committee: {RETRAIN}")
        members.append(model_from_checkpoint(ckpt, path))
    return CommitteeProvider(members, first[1]["physics"], first[1].get("lattice_shape"),
                             predictor, threads, device)
