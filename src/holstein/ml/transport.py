"""The force field with a global transport field: local conductances, Kirchhoff, local force.

Why
---
In the metallic state the electrochemical potential drops along the sample as its local
resistance dictates, so the density (hence the force) at a site depends on where that
site sits in the voltage drop: a global quantity that no cutoff model can know.  This
model computes it, every step, from the whole configuration, cheaply:

1. **Conductance stage.**  A local backbone (``conductance_cutoff`` 3x3 layers, as in
   ``holstein.ml.model``) on the usual inputs (Q, V, lead indicators) gives features h1,
   and a per-site head turns them into non-negative conductances: ``gx`` on the x bond
   (x, y) - (x + 1, y), ``gy`` on the y bond (x, y) - (x, y + 1), and a contact
   conductance on every site of the lead columns (``gl`` at x = 0, ``gr`` at x = Lx - 1).
2. **Kirchhoff.**  ``holstein.ml.kirchhoff`` solves current conservation on that
   resistor network for the node potential phi, with the electrodes at mu_L and mu_R
   (``holstein.physics.lattice.chemical_potentials``: the physics' bias scheme).
3. **Force stage.**  phi / bias_std and the local drop ``(phi(x - 1) - phi(x + 1)) / 2``
   (the electrodes' potentials beyond the ends), scaled by ``DROP_GAIN / bias_std``, join
   h1 as input channels of a second local stage (``cutoff - conductance_cutoff`` 3x3
   layers, residual on h1), whose per-site head predicts ``n - 1/2`` (force
   ``-g (n - 1/2)``), as the local model does.

The total local reach is ``cutoff`` (1 + 2 reach exactly that far), so this model has the
same receptive field as the local model of that cutoff *plus* the potential, and its
error can be compared with the locality floor at that cutoff.

**Bond currents** are Ohm's law on the same network, ``I_ij = g_ij (phi_i - phi_j)``: they
obey Kirchhoff's law at every site exactly (to the solver's tolerance), so every
cross-section carries the same device current.  With ``bond_heads`` they are the model's
``bond_current_x`` / ``bond_current_y`` outputs and are fitted to the NEGF bond currents
jointly with the force (``bond_loss_weight``), which also gives the conductances their
physical meaning.

Symmetries and size
-------------------
* y translation: every stage is translation equivariant along y, and so is the network.
* y mirror: the conductances are symmetrised exactly like the local model's outputs
  (the mean of the network and of its mirror image; gx and the contacts even, gy on the
  mirrored bond), so the network, hence phi, is mirror covariant; the force stage runs on
  both passes (the mirror pass with the mirrored phi) and its output is symmetrised too.
* Position: a site knows its distance to an electrode only within the reach of the
  stages (the lead indicators), and otherwise only through phi, which the whole
  configuration sets.  One trained model applies to any lattice.

Solver: ``solver`` ``"auto"`` (default) takes the exact column elimination (float64)
up to ``EXACT_MAX_SITES`` sites and ``EXACT_MAX_LY`` rows, and conjugate gradients
beyond, warm-started in inference from the previous solution on the same lattice (it
only saves iterations: the answer is the same to ``rtol``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from holstein.ml.kirchhoff import CGInfo, bond_currents, kirchhoff_solve
from holstein.ml.model import (
    ACTIVATION,
    IN_CHANNELS,
    Backbone,
    ForceField,
    SiteHead,
    mirror_y,
    symmetrised,
)
from holstein.physics.lattice import chemical_potentials

KIND = "transport-field CNN"
FIELD_CHANNELS = 2  # the potential and its local drop along x
# The drop per site is about 1/Lx of the bias: this brings it to order one for the lattices
# in use (a constant, so the model means the same thing on every lattice).
DROP_GAIN = 10.0
# Conductances are CONDUCTANCE_FLOOR (relative to their scale) or more: the Kirchhoff
# matrix stays positive definite and well conditioned in a fully insulating sample.
CONDUCTANCE_FLOOR = 1e-4
# Beyond these the exact solve (O(Lx Ly^3), a Python loop over columns) costs more than
# conjugate gradients.
EXACT_MAX_SITES = 4096
EXACT_MAX_LY = 64
SOLVERS = ("auto", "dense", "columns", "cg")
# Conductance head channels: (mirror_y kind) of gx, gy, contact.
CONDUCTANCE_KINDS = ("site", "bond_y", "site")


@dataclass(frozen=True, kw_only=True)
class TransportArchitecture:
    """What fixes the transport-field network's shape (the checkpoint's ``architecture``).

    ``cutoff``: total local reach; ``conductance_cutoff`` of its 3x3 layers form the
    conductance stage, the rest the force stage.  ``channels`` per layer, ``expansion``
    the per-site MLP width in each block (0 = none), ``head_channels`` the on-site head's
    hidden width, ``conductance_channels`` the conductance head's, ``bond_heads``: the bond
    currents are outputs (and are trained).
    """

    cutoff: int
    conductance_cutoff: int
    channels: int
    head_channels: int
    conductance_channels: int
    expansion: int
    bond_heads: bool

    def __post_init__(self) -> None:
        if not 1 <= self.conductance_cutoff < self.cutoff:
            raise ValueError(
                f"conductance_cutoff={self.conductance_cutoff}, cutoff={self.cutoff}: need "
                "1 <= conductance_cutoff < cutoff (both stages have at least one layer)")
        for name in ("channels", "head_channels", "conductance_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: need at least one channel")
        if self.expansion < 0:
            raise ValueError(f"expansion={self.expansion}: give 0 (none) or a width >= 1")

    @property
    def heads(self) -> tuple[str, ...]:
        return ("onsite", "bond") if self.bond_heads else ("onsite",)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "cutoff": self.cutoff,
            "conductance_cutoff": self.conductance_cutoff,
            "channels": self.channels,
            "head_channels": self.head_channels,
            "conductance_channels": self.conductance_channels,
            "expansion": self.expansion,
            "in_channels": IN_CHANNELS,
            "field_channels": FIELD_CHANNELS,
            "heads": list(self.heads),
            "activation": ACTIVATION,
        }

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> TransportArchitecture:
        for key, want in (("kind", KIND), ("in_channels", IN_CHANNELS),
                          ("field_channels", FIELD_CHANNELS), ("activation", ACTIVATION)):
            if entry.get(key, want) != want:
                raise ValueError(f"architecture {key} = {entry[key]!r}; this holstein builds "
                                 f"{want!r}")
        return cls(cutoff=int(entry["cutoff"]),
                   conductance_cutoff=int(entry["conductance_cutoff"]),
                   channels=int(entry["channels"]), head_channels=int(entry["head_channels"]),
                   conductance_channels=int(entry["conductance_channels"]),
                   expansion=int(entry["expansion"]), bond_heads="bond" in entry["heads"])


class TransportForceField(ForceField):
    """Conductance stage, Kirchhoff solve, force stage (module docstring).

    Same interface as ``LocalForceField``: ``forward(q, bias, heads)`` gives physical
    outputs ``onsite`` (B, Lx, Ly) and, with bond heads, ``bond_current_x``
    (B, Lx - 1, Ly) and ``bond_current_y`` (B, Lx, Ly); ``forward_normalised`` the same
    normalised as the training targets.  ``bias_scheme`` (the physics') places the
    electrodes' potentials.  ``transport(q, bias)`` returns the network and phi.
    """

    def __init__(self, architecture: TransportArchitecture,
                 normalisation: Mapping[str, float] | None = None,
                 bias_scheme: str = "gated", solver: str = "auto", rtol: float = 1e-5) -> None:
        super().__init__(architecture, normalisation)
        self.bias_scheme = bias_scheme
        # mu_L, mu_R are linear in V in every scheme: their coefficients
        self._mu_coefficients = chemical_potentials(1.0, bias_scheme)
        c = architecture.channels
        self.conductance_backbone = Backbone(IN_CHANNELS, c, architecture.conductance_cutoff,
                                             architecture.expansion)
        self.conductance_head = SiteHead(c, architecture.conductance_channels,
                                         len(CONDUCTANCE_KINDS))
        self.force_backbone = Backbone(c + FIELD_CHANNELS, c,
                                       architecture.cutoff - architecture.conductance_cutoff,
                                       architecture.expansion)
        self.onsite_head = SiteHead(c, architecture.head_channels, 1)
        self.set_solver(solver, rtol)
        self._warm: dict[tuple, torch.Tensor] = {}
        self.last_solve = CGInfo(strict=False)

    # ------------------------------------------------------------------ bookkeeping

    def set_solver(self, solver: str = "auto", rtol: float = 1e-5) -> None:
        """``auto``, ``dense``, ``columns`` or ``cg`` (``rtol``: the conjugate-gradient
        tolerance)."""
        if solver not in SOLVERS:
            raise ValueError(f"solver={solver!r}: choose one of {SOLVERS}")
        if not 0 < rtol < 1:
            raise ValueError(f"rtol={rtol}: need 0 < rtol < 1")
        self.solver, self.rtol = solver, float(rtol)

    @property
    def conductance_scale(self) -> torch.Tensor:
        """Current per potential difference of one raw unit: a metallic bond's current
        over its drop (bond_current_x_std over bias_std / DROP_GAIN)."""
        current = self.bond_current_x_std if self.bond_heads else torch.ones_like(self.q_std)
        return current * DROP_GAIN / self.bias_std

    # ------------------------------------------------------------------ the stages

    def conductances(self, h1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(gx, gy, gl, gr) from the two-pass conductance features (2B, C, Lx, Ly)."""
        raw = self.conductance_head(h1)
        g = [F.softplus(symmetrised(raw[:, k], kind)) + CONDUCTANCE_FLOOR
             for k, kind in enumerate(CONDUCTANCE_KINDS)]
        scale = self.conductance_scale.to(h1.dtype)
        gx, gy, gc = (scale * t for t in g)
        return gx[:, :-1], gy, gc[:, 0], gc[:, -1]

    def potentials(self, bias: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(mu_L, mu_R), each (B,)."""
        v = bias.to(like.dtype)
        a, b = self._mu_coefficients
        return a * v, b * v

    def solver_for(self, lx: int, ly: int) -> str:
        """The solver used on an Lx x Ly lattice."""
        if self.solver != "auto":
            return self.solver
        return "columns" if lx * ly <= EXACT_MAX_SITES and ly <= EXACT_MAX_LY else "cg"

    def solve(self, gx, gy, gl, gr, mu_l, mu_r) -> torch.Tensor:
        b, lx, ly = gy.shape
        solver = self.solver_for(lx, ly)
        # Keyed by device too: a model moved between devices must not warm-start a CPU
        # solve from a GPU tensor.
        key = (b, lx, ly, gy.dtype, gy.device)
        warm = None if self.training else self._warm.get(key)
        phi = kirchhoff_solve(gx, gy, gl, gr, mu_l, mu_r, solver, warm, self.rtol,
                              self.last_solve)
        if solver == "cg":
            if not self.last_solve.converged:
                warnings.warn(
                    f"Kirchhoff solve: relative residual {self.last_solve.relative_residual:.1e}"
                    f" after {self.last_solve.iterations} iterations (tolerance {self.rtol:g});"
                    " the potential is that approximate", RuntimeWarning, stacklevel=2)
            if not self.training:
                self._warm[key] = phi.detach()
        return phi

    def field_features(self, phi: torch.Tensor, mu_l: torch.Tensor, mu_r: torch.Tensor
                       ) -> torch.Tensor:
        """(B, 2, Lx, Ly): phi / bias_std and the central drop along x, DROP_GAIN / bias_std
        (the electrodes' potentials beyond the open ends)."""
        b, lx, ly = phi.shape
        padded = torch.cat([mu_l[:, None, None].expand(b, 1, ly), phi,
                            mu_r[:, None, None].expand(b, 1, ly)], dim=1)
        drop = 0.5 * (padded[:, :-2] - padded[:, 2:])
        return torch.stack([phi / self.bias_std, DROP_GAIN * drop / self.bias_std], dim=1)

    def transport(self, q: torch.Tensor, bias: torch.Tensor) -> dict[str, torch.Tensor]:
        """The network and its solution: ``h1`` (two-pass features), ``gx``, ``gy``,
        ``gl``, ``gr``, ``mu_l``, ``mu_r``, ``phi`` (physical units)."""
        x = self.features(q, bias)
        x = torch.cat([x, mirror_y(x)], dim=0)
        h1 = self.conductance_backbone(x.contiguous(memory_format=torch.channels_last))
        gx, gy, gl, gr = self.conductances(h1)
        mu_l, mu_r = self.potentials(bias, q)
        phi = self.solve(gx, gy, gl, gr, mu_l, mu_r)
        return {"h1": h1, "gx": gx, "gy": gy, "gl": gl, "gr": gr, "mu_l": mu_l, "mu_r": mu_r,
                "phi": phi}

    def forward_normalised(self, q: torch.Tensor, bias: torch.Tensor,
                           heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Outputs normalised as the training targets: ``onsite`` ((n - 1/2 - mean) / std)
        and, with bond heads (and ``heads`` None or holding ``"bond"``), the bond currents
        ((I - mean) / std)."""
        t = self.transport(q, bias)
        fields = self.field_features(t["phi"], t["mu_l"], t["mu_r"])
        fields = torch.cat([fields, mirror_y(fields)], dim=0)
        h1 = t["h1"]
        h2 = h1 + self.force_backbone(torch.cat([h1, fields.to(h1.dtype)], dim=1))
        out = {"onsite": symmetrised(self.onsite_head(h2)[:, 0], "site")}
        if self.bond_heads and (heads is None or "bond" in heads):
            ix, iy = bond_currents(t["phi"], t["gx"], t["gy"])
            out["bond_current_x"] = (ix - self.bond_current_x_mean) / self.bond_current_x_std
            out["bond_current_y"] = iy / self.bond_current_y_std
        return out
