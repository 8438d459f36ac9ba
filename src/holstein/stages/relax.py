"""Stage: the relaxed V = 0 start of a lattice (holstein.physics.initial), once per physics."""

from __future__ import annotations

import logging
import time

from holstein.physics.forces import negf_provider
from holstein.physics.initial import relaxed_state, save_relaxed_state

log = logging.getLogger(__name__)


def relax_job(out_path, lattice: dict, physics: dict, method: str = "fast") -> None:
    """The relaxed V = 0 start of this lattice and physics, saved to ``out_path``
    (holstein.physics.initial.save_relaxed_state) with the exact NEGF force."""
    t0 = time.perf_counter()
    state = relaxed_state(lattice["Lx"], lattice["Ly"], physics, negf_provider(physics, method))
    log.info(
        "relaxed %dx%d in %.1f s (%d gradient-flow + %d Newton steps): residual %.2e, "
        "phi(x) from %.4f (electrode) to %.4f, softest symmetric stiffness %.3f",
        lattice["Lx"], lattice["Ly"], time.perf_counter() - t0, state.flow_steps,
        state.newton_steps, state.residual, state.profile[0], state.profile.max(),
        state.stiffness[0],
    )
    save_relaxed_state(out_path, state, physics, method)
