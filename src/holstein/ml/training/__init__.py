"""Training of the force field: parameters, the fitting loop, resumable state, the trainer
and the provenance a checkpoint records.  Imports ``holstein.ml`` (inference), never the
other way round."""
