"""Holstein CDW insulator between electrodes: NEGF forces, Brownian dynamics, ML force field."""

__version__ = "0.1.0"
