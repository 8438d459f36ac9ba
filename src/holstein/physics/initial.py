"""Start configurations of a Brownian run: the atomic-limit checkerboard or the relaxed CDW.

``checkerboard``: Q = +-g / (2 (K - 4 kappa)) = 2.68 with sign (-1)^(x+y), the atomic-limit
amplitude (the published start).  ``relaxed``: the V = 0 equilibrium that the same physics
relaxes to deterministically from the checkerboard, i.e. the fixed point of the zero-noise
dynamics dQ/dt = F_el(Q; V = 0) + F_elastic(Q), found to a total force of at most
``RESIDUAL_TOLERANCE`` on every site.  With the exact NEGF force its bulk amplitude is
about 2.39 and its electrode columns about 1.44 (16 x 14, default physics), so a run
from the checkerboard first spends time relaxing and that relaxation mixes with the
bias-driven melting.

Why a profile phi(x) is enough: at V = 0 the leads are equivalent and particle-hole
symmetric, and the checkerboard is invariant under a y translation by one site combined
with Q -> -Q (which maps n -> 1 - n).  The force therefore stays of the form
phi(x) (-1)^(x+y) along the whole relaxation, and the fixed point is one of the Lx
unknowns phi(x).  It is found by gradient flow (the zero-temperature dynamics with the
largest step that is stable for every elastic mode) down to ``FLOW_TOLERANCE``, then by
Newton's method in phi with a central-difference Jacobian (2 Lx force evaluations, kept
while it converges fast).  The residual is checked on the full lattice; the Jacobian's
eigenvalues (the stiffnesses of the symmetric modes, measured where the flow stopped)
are returned and must all be positive: a minimum, not a saddle.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from holstein.data.atomic import atomic_path
from holstein.physics.forces import ForceProvider, elastic_force
from holstein.physics.lattice import PHYSICS_KEYS, Lattice, checkerboard

log = logging.getLogger(__name__)

INITIAL_STATES = ("checkerboard", "relaxed")
RESIDUAL_TOLERANCE = 1e-8  # max |total force| of the relaxed state on any site
FLOW_TOLERANCE = 1e-3  # gradient flow hands over to Newton below this residual
NEWTON_TARGET = 1e-11  # Newton stops once the residual is this small (or stalls)
JACOBIAN_STEP = 1e-5  # central differences: truncation error ~ step^2
CHORD_RATE = 0.1  # keep the Newton Jacobian while each step gains at least this factor


@dataclass(frozen=True)
class RelaxedState:
    """The relaxed configuration and how it was reached.

    q: (Lx, Ly) configuration; profile: its staggered column profile phi(x); residual:
    max |total force| over the lattice; flow_steps, newton_steps: iterations of each
    stage; stiffness: eigenvalues of minus the Jacobian of the profile's force near the
    fixed point (all > 0 for a stable equilibrium), ascending.
    """

    q: np.ndarray
    profile: np.ndarray
    residual: float
    flow_steps: int
    newton_steps: int
    stiffness: np.ndarray


def _check_lattice(Lx: int, Ly: int) -> Lattice:
    lat = Lattice(Lx, Ly)
    if Ly > 1 and Ly % 2:
        raise ValueError(
            f"Ly={Ly}: the relaxed start needs an even Ly (or a chain, Ly = 1), so that the "
            "checkerboard fits the periodic y direction"
        )
    return lat


def relaxed_state(Lx: int, Ly: int, physics: dict, provider: ForceProvider,
                  max_flow_steps: int = 5000, max_newton_steps: int = 30) -> RelaxedState:
    """The V = 0 fixed point reached from the checkerboard (see the module docstring).

    ``physics``: the config section (K, kappa for the elastic force, g, K, kappa for the
    checkerboard); ``provider``: the electronic force (NEGF) at bias 0.  Raises
    RuntimeError if the residual does not fall to ``RESIDUAL_TOLERANCE`` or the fixed
    point is not a minimum.
    """
    lat = _check_lattice(Lx, Ly)
    sign = lat.staggered_sign()
    K, kappa = physics["K"], physics["kappa"]

    def total_force(phi):
        q = phi[:, None] * sign
        return provider.electronic_force(q, 0.0) + elastic_force(q, K, kappa)

    def profile_force(phi):
        return (sign * total_force(phi)).mean(axis=1)

    phi = checkerboard(Lx, Ly, physics["g"], K, kappa)[:, 0] * sign[:, 0]
    # At V = 0 the electronic force is minus the gradient of the electrons' grand
    # potential, which is concave in Q (a negative charge susceptibility): it only softens
    # the lattice, so K + 4|kappa| bounds every stiffness and this step is stable.  It is
    # the zero-temperature dynamics with dt/damping = 1/(K + 4|kappa|).
    step = 1.0 / (K + 4 * abs(kappa))
    force = profile_force(phi)
    flow_steps = 0
    while np.max(np.abs(force)) > FLOW_TOLERANCE:
        if flow_steps == max_flow_steps:
            raise RuntimeError(
                f"gradient flow: residual {np.max(np.abs(force)):.3g} after {flow_steps} "
                f"steps (> {FLOW_TOLERANCE:g}); raise max_flow_steps"
            )
        phi = phi + step * force
        force = profile_force(phi)
        flow_steps += 1
    log.info("gradient flow: residual %.2e after %d steps", np.max(np.abs(force)), flow_steps)

    def jacobian(phi):
        jac = np.empty((Lx, Lx))
        for x in range(Lx):
            e = np.zeros(Lx)
            e[x] = JACOBIAN_STEP
            jac[:, x] = (profile_force(phi + e) - profile_force(phi - e)) / (2 * JACOBIAN_STEP)
        return jac

    # Newton's chord method: the Jacobian is formed once where the flow stopped and kept
    # while it reduces the residual at least CHORD_RATE-fold per step (from 1e-3 the
    # Jacobian barely changes); a slower step forms it anew at the current profile, unless
    # the residual is already within tolerance (then the slow step is the rounding floor).
    jac = jacobian(phi)
    newton_steps = 0
    residual = float(np.max(np.abs(force)))
    fresh = True
    while residual > NEWTON_TARGET and newton_steps < max_newton_steps:
        trial = phi - np.linalg.solve(jac, force)
        trial_force = profile_force(trial)
        newton_steps += 1
        trial_residual = float(np.max(np.abs(trial_force)))
        log.info("Newton step %d: residual %.2e", newton_steps, trial_residual)
        slow = trial_residual > CHORD_RATE * residual
        if trial_residual < residual:
            phi, force, residual = trial, trial_force, trial_residual
        elif fresh:
            break  # no progress even with a fresh Jacobian
        if slow and residual <= RESIDUAL_TOLERANCE:
            break  # the rounding floor
        if slow:
            jac = jacobian(phi)
        fresh = slow

    q = phi[:, None] * sign
    residual = float(np.max(np.abs(total_force(phi))))
    if residual > RESIDUAL_TOLERANCE:
        raise RuntimeError(
            f"relaxation stopped at a residual force {residual:.3g} > {RESIDUAL_TOLERANCE:g} "
            f"after {flow_steps} gradient-flow and {newton_steps} Newton steps"
        )
    stiffness = np.sort(np.linalg.eigvals(-jac).real)
    if stiffness[0] <= 0:
        raise RuntimeError(
            f"the relaxed profile is not a minimum (stiffness {stiffness[0]:.3g} <= 0): the "
            "checkerboard CDW is not stable for these physics parameters"
        )
    return RelaxedState(q=q, profile=phi, residual=residual, flow_steps=flow_steps,
                        newton_steps=newton_steps, stiffness=stiffness)


def save_relaxed_state(path, state: RelaxedState, physics: dict, method: str) -> None:
    """``.npz`` with the configuration and JSON metadata (physics, NEGF method, residual)."""
    meta = {
        "initial": "relaxed",
        "Lx": int(state.q.shape[0]),
        "Ly": int(state.q.shape[1]),
        "physics": {k: physics[k] for k in PHYSICS_KEYS},
        "method": method,
        "residual": state.residual,
        "flow_steps": state.flow_steps,
        "newton_steps": state.newton_steps,
        "stiffness": state.stiffness.tolist(),
        "profile": state.profile.tolist(),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, q=state.q, meta=np.array(json.dumps(meta)))


def load_relaxed_state(path, lattice: dict, physics: dict) -> np.ndarray:
    """The relaxed configuration in ``path``, checked against the run's lattice and physics."""
    with np.load(path) as data:
        q, meta = data["q"], json.loads(str(data["meta"]))
    want = {"Lx": lattice["Lx"], "Ly": lattice["Ly"],
            "physics": {k: physics[k] for k in PHYSICS_KEYS}}
    have = {"Lx": meta["Lx"], "Ly": meta["Ly"], "physics": meta["physics"]}
    if json.loads(json.dumps(want)) != have:
        raise ValueError(
            f"{path} is the relaxed state of {have}, not of this run's {want}; delete it and "
            "re-run so that the pipeline relaxes this lattice"
        )
    return np.array(q, dtype=float)


def initial_configuration(lattice: dict, physics: dict, initial: str,
                          relaxed_path=None) -> np.ndarray:
    """The start of a run: ``initial`` is one of ``INITIAL_STATES``; ``relaxed`` reads the
    state computed once per lattice and physics (``save_relaxed_state``) from
    ``relaxed_path``."""
    if initial == "checkerboard":
        return checkerboard(lattice["Lx"], lattice["Ly"], physics["g"], physics["K"],
                            physics["kappa"])
    if initial == "relaxed":
        if relaxed_path is None or not Path(relaxed_path).exists():
            raise ValueError(
                f"initial='relaxed' needs the relaxed state file (got {relaxed_path}); "
                "compute it with holstein.physics.initial.relaxed_state / save_relaxed_state (the "
                "pipeline's relax_initial_state rule)"
            )
        return load_relaxed_state(relaxed_path, lattice, physics)
    raise ValueError(f"initial={initial!r}: choose one of {INITIAL_STATES}")
