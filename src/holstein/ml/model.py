"""The local force-field network: a symmetrised convolutional network (torch).

What it predicts
----------------
The *on-site head* predicts the density deviation ``n_i - 1/2``; the electronic
force follows exactly as ``F_i = -g (n_i - 1/2)`` (g from the checkpoint).  Force
and density are the same quantity up to the constant -g, so the loss is the same
either way; predicting the density keeps the head a pure electronic quantity
(independent of g, the "on-site kind" of arXiv:2403.13675) and makes the
provider's density and force consistent by construction.

The optional *bond head* (the "bond kind"; ``heads["bond"]``) predicts the bond
currents on the same backbone, one output channel per bond direction per site:
``bond_current_x`` at (x, y) is the current on the bond (x, y) -> (x + 1, y)
(the output of the last column, x = Lx - 1, is dropped: (B, Lx - 1, Ly)), and
``bond_current_y`` at (x, y) the current on (x, y) -> (x, y + 1 mod Ly).  How they are
trained is ``holstein.ml.training.trainer``'s business; a model without bond heads reports no
currents.

Architecture and locality definition
------------------------------------
Input channels per site: Q (normalised), the bias V (normalised, the same on
every site), and two lead indicators, 1 on the column coupled to the left
(x = 0) resp. right (x = Lx - 1) electrode and 0 elsewhere: exactly the sites
where the NEGF self-energy -i Gamma/2 acts.  The backbone is ``cutoff`` 3x3
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

Width: ``benchmarks/mlff_speed.py`` measures the cost of a force and of a Brownian step
per width and lattice size.  16 channels is the widest backbone that meets the
throughput target at 256 x 256; 24 channels, or 16 with an expansion layer, miss it.

One description, one constructor: ``Architecture`` is what a checkpoint records
(``Architecture.as_dict``) and what ``LocalForceField`` is built from, for training
(``TrainingParameters.architecture``) and for loading (``Architecture.from_dict``) alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

KIND = "mirror-symmetrised CNN"
ACTIVATION = "silu"
IN_CHANNELS = 4  # Q, bias, left-lead indicator (x = 0), right-lead indicator (x = Lx-1)

NORMALISATION_KEYS = ("q_mean", "q_std", "bias_mean", "bias_std", "onsite_mean", "onsite_std")
BOND_OUTPUTS = ("bond_current_x", "bond_current_y")
BOND_NORMALISATION_KEYS = tuple(f"{h}_{s}" for h in BOND_OUTPUTS for s in ("mean", "std"))
# Head name -> its output channels as (output name, mirror_y kind, sign under the y mirror).
# The two bond currents share one head (one hidden 1x1 layer, two output channels): a head
# per direction costs noticeably more per Brownian step at the pipeline's lattice sizes
# (the per-call overhead of the extra convolutions; benchmarks/mlff_speed.py --bond-heads).
HEAD_OUTPUTS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "onsite": (("onsite", "site", 1),),
    "bond": (
        ("bond_current_x", "site", 1),  # at (x, y): the bond (x, y) -> (x + 1, y); even
        ("bond_current_y", "bond_y", -1),  # on the bond (y, y + 1); oriented: odd
    ),
}


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


# ----------------------------------------------------------------------------- description


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """Everything that fixes the network's shape: the checkpoint's ``architecture`` entry.

    ``cutoff`` 3x3 layers of ``channels`` (the Chebyshev radius of the receptive field),
    ``expansion`` the hidden width of the per-site MLP in each block (0 = none),
    ``head_channels`` the hidden width of the on-site head, ``bond_heads`` whether the
    bond-current head exists and ``bond_head_channels`` its hidden width.
    """

    cutoff: int
    channels: int
    head_channels: int
    expansion: int
    bond_heads: bool
    bond_head_channels: int

    def __post_init__(self) -> None:
        if self.cutoff < 1:
            raise ValueError(f"cutoff={self.cutoff}: need at least one layer (cutoff >= 1)")
        for name in ("channels", "head_channels", "bond_head_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: need at least one channel")
        if self.expansion < 0:
            raise ValueError(f"expansion={self.expansion}: give 0 (none) or a width >= 1")

    @property
    def heads(self) -> tuple[str, ...]:
        return ("onsite", "bond") if self.bond_heads else ("onsite",)

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint's ``architecture`` entry (plain types)."""
        return {
            "kind": KIND,
            "cutoff": self.cutoff,
            "channels": self.channels,
            "head_channels": self.head_channels,
            "bond_head_channels": self.bond_head_channels,
            "expansion": self.expansion,
            "in_channels": IN_CHANNELS,
            "heads": list(self.heads),
            "activation": ACTIVATION,
        }

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Architecture:
        """Inverse of ``as_dict``.  Checkpoints written before the expansion layer or the
        bond heads existed lack those entries: no expansion, no bond head."""
        for key, want in (("kind", KIND), ("in_channels", IN_CHANNELS),
                          ("activation", ACTIVATION)):
            if entry.get(key, want) != want:
                raise ValueError(f"architecture {key} = {entry[key]!r}; this holstein builds "
                                 f"{want!r}")
        head_channels = int(entry["head_channels"])
        return cls(
            cutoff=int(entry["cutoff"]),
            channels=int(entry["channels"]),
            head_channels=head_channels,
            expansion=int(entry.get("expansion", 0)),
            bond_heads="bond" in entry.get("heads", ()),
            bond_head_channels=int(entry.get("bond_head_channels") or head_channels),
        )


# ----------------------------------------------------------------------------- the network


class Backbone(nn.Module):
    """``cutoff`` blocks around a 3x3 convolution: receptive field = Chebyshev radius ``cutoff``.

    Block k: ``u = silu(conv3x3(h))``, optionally (``expansion`` E > 0) followed by the
    per-site MLP ``u = pw2(silu(pw1(u)))`` (1x1 convolutions C -> E -> C: more depth and
    width per site at no cost in reach); ``h = u`` for the first block, ``h + u`` after.
    Zero padding along x (inside the convolution), circular along y (``_wrap_y``).
    """

    def __init__(self, in_channels: int, channels: int, cutoff: int, expansion: int) -> None:
        super().__init__()
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
        return residual_trunk(h, self.layers, self.mlps)


def residual_trunk(h: torch.Tensor, layers: nn.ModuleList, mlps: nn.ModuleList) -> torch.Tensor:
    """The blocks of ``Backbone`` on ``h``: ``layers`` (3x3 convolutions) and ``mlps``
    (per-site MLPs, one per layer, or none), whether of one network or of a stack of
    them as grouped convolutions (``holstein.ml.committee.StackedForceField``)."""
    for k, conv in enumerate(layers):
        out = F.silu(conv(_wrap_y(h)))
        if mlps:
            out = mlps[k](out)
        h = out if k == 0 else h + out
    return h


def symmetrised(y: torch.Tensor, kind: str, sign: int = 1) -> torch.Tensor:
    """(first half + sign x mirror of the second half) / 2 of a two-pass output: the
    first dimension holds the batch and then its y-mirror image (``mirror_y``)."""
    b = y.shape[0] // 2
    m = mirror_y(y[b:], kind)
    return 0.5 * (y[:b] + m if sign > 0 else y[:b] - m)


class SiteHead(nn.Module):
    """Per-site output from backbone features: 1x1 conv, SiLU, 1x1 conv (no spatial reach)."""

    def __init__(self, channels: int, hidden: int, out_channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, out_channels, 1)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


def lead_indicators(lx: int, like: torch.Tensor) -> torch.Tensor:
    """(2, Lx, 1): indicators of the left (x = 0) and right (x = Lx - 1) lead columns."""
    d = torch.zeros(2, lx, 1, dtype=like.dtype, device=like.device)
    d[0, 0] = 1.0
    d[1, lx - 1] = 1.0
    return d


class LeadColumns:
    """``lead_indicators`` built once per lattice length, dtype and device (every force
    evaluation of a run asks for the same ones)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, torch.Tensor] = {}

    def __call__(self, lx: int, like: torch.Tensor) -> torch.Tensor:
        key = (lx, like.dtype, like.device)
        d = self._cache.get(key)
        if d is None:
            d = self._cache[key] = lead_indicators(lx, like)
        return d


def input_features(q: torch.Tensor, bias: torch.Tensor, leads: torch.Tensor,
                   norm: nn.Module) -> torch.Tensor:
    """Input channels (B, 4, Lx, Ly): Q and V normalised by the buffers of ``norm``
    (``q_mean``, ``q_std``, ``bias_mean``, ``bias_std``) and the two lead indicators
    ``leads`` (``lead_indicators``)."""
    b, lx, ly = q.shape
    qn = ((q - norm.q_mean) / norm.q_std)[:, None]
    vn = ((bias - norm.bias_mean) / norm.bias_std).to(q.dtype)[:, None, None, None]
    return torch.cat([qn, vn.expand(b, 1, lx, ly), leads[None].expand(b, 2, lx, ly)], dim=1)


def identity_normalisation(bond_heads: bool) -> dict[str, float]:
    keys = NORMALISATION_KEYS + (BOND_NORMALISATION_KEYS if bond_heads else ())
    return {k: (1.0 if k.endswith("std") else 0.0) for k in keys}


class ForceField(nn.Module):
    """What every force field shares: its architecture, the normalisation of its inputs
    and outputs in buffers (identity where absent; ``bond_current_y`` keeps mean 0, an
    odd quantity whose mean would break the mirror), the lead indicators, and
    ``forward``: the physical outputs of the subclass's ``forward_normalised``."""

    def __init__(self, architecture, normalisation: Mapping[str, float] | None) -> None:
        super().__init__()
        self.architecture = architecture
        self.cutoff = architecture.cutoff
        self.channels = architecture.channels
        norm = identity_normalisation(architecture.bond_heads)
        norm.update(normalisation or {})
        if architecture.bond_heads:
            norm["bond_current_y_mean"] = 0.0
        for key in self._normalisation_keys:
            self.register_buffer(key, torch.tensor(float(norm[key])))
        self.lead_columns = LeadColumns()

    @property
    def bond_heads(self) -> bool:
        return self.architecture.bond_heads

    @property
    def _normalisation_keys(self) -> tuple[str, ...]:
        return NORMALISATION_KEYS + (BOND_NORMALISATION_KEYS if self.bond_heads else ())

    def normalisation(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self._normalisation_keys}

    def features(self, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Input channels (B, 4, Lx, Ly): normalised Q, normalised V, two lead indicators."""
        return input_features(q, bias, self.lead_columns(q.shape[1], q), self)

    def forward_normalised(self, q: torch.Tensor, bias: torch.Tensor,
                           heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, q: torch.Tensor, bias: torch.Tensor,
                heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Outputs of ``heads`` (default all) in physical units (buffers ``<head>_mean``,
        ``<head>_std``)."""
        out = self.forward_normalised(q, bias, heads)
        return {k: v * getattr(self, f"{k}_std") + getattr(self, f"{k}_mean")
                for k, v in out.items()}


class LocalForceField(ForceField):
    """Shared local backbone + heads, exactly y-translation and y-mirror equivariant.

    Built from an ``Architecture`` and the normalisation of inputs and outputs (from the
    training split; identity where absent), which lives in buffers, so that the module is
    self-contained.  ``forward(q, bias)`` takes physical Q (B, Lx, Ly) and V (B,) and
    returns a dict of physical head outputs: ``{"onsite": n - 1/2}`` (B, Lx, Ly), and with
    bond heads also ``"bond_current_x"`` (B, Lx - 1, Ly) and ``"bond_current_y"``
    (B, Lx, Ly).
    """

    def __init__(self, architecture: Architecture,
                 normalisation: Mapping[str, float] | None = None) -> None:
        super().__init__(architecture, normalisation)
        self.backbone = Backbone(IN_CHANNELS, architecture.channels, architecture.cutoff,
                                 architecture.expansion)
        names = architecture.heads
        self.head_outputs = {name: HEAD_OUTPUTS[name] for name in names}
        hidden = {"onsite": architecture.head_channels, "bond": architecture.bond_head_channels}
        self.heads = nn.ModuleDict({
            name: SiteHead(self.channels, hidden[name], len(HEAD_OUTPUTS[name]))
            for name in names
        })

    def backbone_features(self, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Shared backbone output (2B, C, Lx, Ly) for the batch and its y-mirror image
        (first B: q, last B: mirror_y(q)); ``heads_normalised`` turns it into outputs."""
        x = self.features(q, bias)
        x = torch.cat([x, mirror_y(x)], dim=0)  # features commute with the mirror
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
        out = {}
        for name, head in self.heads.items():
            if names is not None and name not in names:
                continue
            y = head(h)
            for k, (output, kind, sign) in enumerate(self.head_outputs[name]):
                out[output] = symmetrised(y[:, k], kind, sign)
        if "bond_current_x" in out:
            out["bond_current_x"] = out["bond_current_x"][:, :-1]  # no bond beyond x = Lx-1
        return out
