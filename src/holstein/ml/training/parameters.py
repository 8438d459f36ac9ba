"""``TrainingParameters``: the validated ``model`` section of the pipeline configuration.

The pipeline's schema (``workflow/schemas/config.schema.yaml``, section ``model``)
documents those keys and is the one place of their defaults: they have none here, so a
caller passes the whole validated section.  The fields with a default are internal knobs
that the configuration does not expose; this class is their one place.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from holstein.ml.model import Architecture
    from holstein.ml.transport import TransportArchitecture

# Model kinds: the purely local network (holstein.ml.model) and the one with a global
# transport field (holstein.ml.transport).
MODEL_KINDS = ("local", "transport")

# Parameters that do not change what training computes (beyond rounding with other thread
# counts): a resumed run or a provenance check does not compare them.
RESULT_NEUTRAL = ("checkpoint_every_epochs", "threads")


@dataclass(frozen=True, kw_only=True)
class TrainingParameters:
    """How to build and train the model.  The field order is that of the records written
    from it (the checkpoint's ``hyper`` and the metrics' ``hyper``)."""

    cutoff: int
    channels: int
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int
    validation_fraction: float
    seed: int
    # Hidden width of the on-site head; None = channels.
    head_channels: int | None = None
    # Hidden width of the per-site MLP inside each backbone block; 0 = none.
    expansion: int = 0
    # Learning-rate decay on validation plateaus: ReduceLROnPlateau's patience (None =
    # max(1, patience // 4)) and factor.
    lr_decay_patience: int | None = None
    lr_decay_factor: float = 0.5
    # torch.set_num_threads during training; None = leave torch's setting alone.
    threads: int | None = None
    checkpoint_every_epochs: int
    bond_heads: bool
    bond_loss_weight: float
    # Which network: "local" or "transport" (conductances, Kirchhoff, force stage).
    kind: str
    # Maximum epochs of the frozen-backbone bond-head stage (None = epochs); an epoch
    # there is cheap: only the heads run, on backbone features computed once.
    bond_epochs: int | None = None
    # Hidden width of the bond heads' per-site layer (None = the on-site head's width); for
    # the transport model, of the conductance head.
    bond_head_channels: int | None = None
    # Transport model: 3x3 layers of the conductance stage (None = cutoff - 2); the force
    # stage has the rest of the cutoff.
    conductance_cutoff: int | None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            optional = "None" in f.type
            if value is None and optional:
                continue
            if f.type.startswith("int"):
                if isinstance(value, bool) or not isinstance(value, Integral):
                    raise ValueError(f"model.{f.name} = {value!r}: give an integer")
                object.__setattr__(self, f.name, int(value))
            elif f.type == "float":
                if isinstance(value, bool) or not isinstance(value, Real) \
                        or not math.isfinite(value):
                    raise ValueError(f"model.{f.name} = {value!r}: give a finite number")
                object.__setattr__(self, f.name, float(value))
            elif f.type == "bool" and not isinstance(value, bool):
                raise ValueError(f"model.{f.name} = {value!r}: give true or false")
        if self.checkpoint_every_epochs < 0:
            raise ValueError(
                f"checkpoint_every_epochs = {self.checkpoint_every_epochs!r}: give an integer "
                ">= 0 (epochs between saves of the resumable training state; 0 = never)")
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model.kind = {self.kind!r}: choose one of {MODEL_KINDS}")
        if self.kind == "transport" and self.bond_heads and self.bond_loss_weight == 0:
            raise ValueError(
                "model.kind = 'transport' with bond_heads: its bond currents come from the "
                "conductances that also set the force, so they are trained jointly; give "
                "bond_loss_weight > 0, or bond_heads: false for a force-only transport model")
        if self.kind == "transport" and self.cutoff < 2:
            raise ValueError(f"model.cutoff = {self.cutoff}: the transport model needs a "
                             "cutoff of 2 or more (a conductance and a force stage of at "
                             "least one layer each)")
        if self.kind == "transport" and not 1 <= self.conductance_layers < self.cutoff:
            raise ValueError(
                f"model.conductance_cutoff = {self.conductance_cutoff} with cutoff = "
                f"{self.cutoff}: give 1 .. {self.cutoff - 1} (both stages of the transport "
                "model need a layer; null means cutoff - 2)")
        if self.bond_loss_weight < 0:
            raise ValueError(f"bond_loss_weight = {self.bond_loss_weight}: give a number >= 0 "
                             "(0 = bond-current heads trained after the forces)")

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> TrainingParameters:
        """From the validated ``model`` section (every schema key present; internal knobs
        optional).  An unknown or a missing key is an error that names it."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(section) - set(known))
        if unknown:
            raise ValueError(f"unknown hyperparameters {unknown}; known: {sorted(known)}")
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING]
        missing = [k for k in required if k not in section]
        if missing:
            raise ValueError(
                f"model section lacks {missing}: pass the whole section as validated against "
                "workflow/schemas/config.schema.yaml (which supplies the defaults)")
        return cls(**section)

    def as_dict(self) -> dict[str, Any]:
        """Every field, in declaration order (what checkpoints and metrics record)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes) -> TrainingParameters:
        return dataclasses.replace(self, **changes)

    def architecture(self, bond_heads: bool) -> Architecture | TransportArchitecture:
        # Imported here: the workflow validates the model section at every parse, and the
        # networks' modules load torch (about 2 s).
        from holstein.ml.model import Architecture
        from holstein.ml.transport import TransportArchitecture

        head = self.head_channels or self.channels
        if self.kind == "transport":
            return TransportArchitecture(
                cutoff=self.cutoff, conductance_cutoff=self.conductance_layers,
                channels=self.channels, head_channels=head,
                conductance_channels=self.bond_head_channels or head, expansion=self.expansion,
                bond_heads=bond_heads)
        return Architecture(cutoff=self.cutoff, channels=self.channels, head_channels=head,
                            expansion=self.expansion, bond_heads=bond_heads,
                            bond_head_channels=self.bond_head_channels or head)

    @property
    def wants_bond_heads(self) -> bool:
        """Bond heads asked for: explicitly, or by a joint-training weight > 0."""
        return self.bond_heads or self.bond_loss_weight > 0

    @property
    def max_bond_epochs(self) -> int:
        return self.bond_epochs or self.epochs

    @property
    def conductance_layers(self) -> int:
        """The transport model's conductance-stage layers (null: cutoff - 2)."""
        return self.cutoff - 2 if self.conductance_cutoff is None else self.conductance_cutoff

    @property
    def lr_plateau_patience(self) -> int:
        return self.lr_decay_patience or max(1, self.patience // 4)


# The internal knobs (fields with a default) and their defaults: a checkpoint written before
# a knob existed was trained at its default.  Before model.kind existed every model was
# the local one; before model.conductance_cutoff was a config key, every transport model
# had cutoff - 2 conductance layers (None).
INTERNAL_DEFAULTS = {**{f.name: f.default for f in dataclasses.fields(TrainingParameters)
                        if f.default is not dataclasses.MISSING}, "kind": "local",
                     "conductance_cutoff": None}
