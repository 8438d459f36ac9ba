"""The physics: the lattice, exact NEGF, force providers, Langevin dynamics, start
configurations, observables and the locality of the force.  Imports only ``data`` and
``device``."""
