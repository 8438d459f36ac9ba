"""The machine-learned local force field, split by concern.

Inference (what an ML Brownian run imports; no training code):

* ``model``: the network ``LocalForceField``, its ``Architecture`` and its symmetries.
* ``transport``: ``TransportForceField``, the model with a global transport field (learned
  conductances, the Kirchhoff potential, a force stage that sees it).
* ``kirchhoff``: the differentiable Kirchhoff solve on the lattice (dense and CG).
* ``checkpoint``: the checkpoint file (format, atomic save, validated read, physics check).
* ``provider``: ``MLForceProvider`` (the ``holstein.physics.forces`` contract) and ``load``.
* ``committee``: ``CommitteeProvider``, several members evaluated as one network, their
  force deviation and the predictor that drives a run; ``load_committee``.
* ``calibration``: the committee deviation as an expected force error, fitted on NEGF
  reference frames (no torch).
* ``committee_file``: the calibrated committee, its members by digest and its scale in one
  file (no torch).
* ``members``: how many members, and each member's training parameters (no torch).
* ``metrics``: predictions over many snapshots and their errors against a reference.
* ``data``: a data set's layout and physics metadata, and the split by trajectory.

Training (imports the above, never the other way round):

* ``parameters``: ``TrainingParameters``, the validated ``model`` section of the config.
* ``fit``: the one fitting loop with early stopping, shared by every stage.
* ``resume``: the resumable training state of an interrupted run.
* ``train``: ``train``, the force stage and the bond-head stage, checkpoint and metrics.

Between the two: ``provenance``, the training shards and parameters a checkpoint records
(written by training) and the check that a checkpoint belongs to a run (for its users).

This package imports nothing itself, so that importing one module loads only what it needs.
"""
