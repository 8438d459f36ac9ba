"""Overdamped Langevin (Brownian) lattice dynamics with any force provider.

    F_i = F_el,i(Q; V) - K Q_i - kappa sum_{j nn i} Q_j

Two integrators, both one force evaluation per step, xi_n ~ N(0, 1) independent:

* ``euler-maruyama`` (the published model's scheme; ``integrator="euler-maruyama"``):
  Q_{n+1} = Q_n + (dt/damping) F(Q_n) + sqrt(2 kT dt / damping) xi_n.
  A harmonic mode of stiffness k samples kT / (k (1 - dt k / (2 damping))): too hot by
  up to 1.7x for the stiffest elastic modes at the default dt = 0.1, damping = 0.2.
* ``leimkuhler-matthews`` (the default; B. Leimkuhler, C. Matthews, Appl. Math. Res.
  Express 2013):
  Q_{n+1} = Q_n + (dt/damping) F(Q_n) + sqrt(kT dt / (2 damping)) (xi_n + xi_{n+1}).
  It samples exactly kT / k for every harmonic mode at any stable dt, and its
  configurational averages are second order in dt.  The noise xi_{n+1} drawn in step n
  is used again in step n + 1, so it is part of the integrator's state.

Time-dependent observables are first order in dt with either scheme: at dt = 0.1 the
wall velocity and half-decay time of the default NEGF runs are 4-22 % off a dt = 0.025
run, Euler-Maruyama too fast, Leimkuhler-Matthews too slow (docs/dynamics.md).

The electronic force comes from a provider (NEGF or ML) through
``provider.evaluate(q, bias, observables)`` on recorded frames, and through its
``force_tensor`` (where it has one: the ML force field) on the other steps; every other
line is shared by both.  The state is held by torch on the provider's integration device
(a GPU for an ML provider on one), the random stream is a torch generator there seeded
once, so a seed fixes the trajectory on a given device; the integrator's whole state (q,
step, generator state, pending noise) is exposed for checkpoints.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from holstein.data.atomic import atomic_path
from holstein.data.records import FRAME_FIELDS, OPTIONAL_FIELDS, Trajectory
from holstein.physics.forces import ElectronicResponse, ForceProvider, elastic_force
from holstein.physics.langevin import BrownianParameters
from holstein.physics.lattice import Lattice

log = logging.getLogger(__name__)


class BrownianIntegrator:
    """Stepper holding (q, step, random generator, pending noise); seeded and reproducible.

    The state lives in torch float64 tensors on the provider's integration device (the
    GPU of an ML provider on one, else the CPU), so that a step of the ML dynamics makes
    no round trip to the host; NEGF providers compute on the host and use the same lines
    on the CPU.  The random stream is a torch generator on that device: a seed fixes the
    run on a given device.  ``pending`` is the Leimkuhler-Matthews noise xi_n of the next
    step (drawn with the previous one, or at the start); None for Euler-Maruyama.
    """

    def __init__(
        self,
        q0: np.ndarray,
        provider: ForceProvider,
        bias: float,
        params: BrownianParameters,
        seed: int,
    ) -> None:
        Lattice.of(np.asarray(q0))  # validates the shape
        self.device = torch.device(getattr(provider, "integration_device", "cpu"))
        self._q = self.tensor(q0)
        self.provider = provider
        self.bias = float(bias)
        self.params = params
        self.step = 0
        self.rng = torch.Generator(device=self.device)
        self.rng.manual_seed(int(seed))
        self._pending = (self._noise() if params.integrator == "leimkuhler-matthews" else None)

    def tensor(self, values) -> torch.Tensor:
        """float64 tensor on the integration device."""
        return torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor)
                               else values, dtype=torch.float64, device=self.device)

    def _noise(self) -> torch.Tensor:
        """One step's standard normals: the normalised sum of ``noise_substeps`` draws of
        the site-shaped stream (one draw each, so a run at dt / m reads the same stream)."""
        m = self.params.noise_substeps
        draws = [torch.randn(self._q.shape, generator=self.rng, dtype=torch.float64,
                             device=self.device) for _ in range(m)]
        return sum(draws[1:], draws[0]) / m ** 0.5  # m = 1: the draw itself, exactly

    @property
    def q(self) -> np.ndarray:
        """The configuration as a host numpy array."""
        return self._q.cpu().numpy()

    @property
    def pending(self) -> np.ndarray | None:
        return None if self._pending is None else self._pending.cpu().numpy()

    @property
    def time(self) -> float:
        return self.step * self.params.dt

    def electronic(self, observables: bool = True) -> ElectronicResponse:
        """The provider's response at the current q (``observables=False``: force only)."""
        return self.provider.evaluate(self.q, self.bias, observables)

    def electronic_force(self) -> torch.Tensor:
        """The electronic force at the current q on the integration device: from the
        provider's ``force_tensor`` where it has one (no host round trip)."""
        on_device = getattr(self.provider, "force_tensor", None)
        if on_device is not None:
            return on_device(self._q, self.bias)
        return self.tensor(self.provider.evaluate(self.q, self.bias, observables=False).force)

    def advance(self, force) -> None:
        """One step of the configured scheme from the current q with its electronic force
        (an ``ElectronicResponse``, an array or a tensor)."""
        if isinstance(force, ElectronicResponse):
            force = force.force
        p = self.params
        total = self.tensor(force) + elastic_force(self._q, p.K, p.kappa)
        fresh = self._noise()
        if self._pending is None:
            noise = p.noise_amplitude * fresh
        else:
            # sqrt(kT dt / (2 damping)) = noise_amplitude / 2
            noise = 0.5 * p.noise_amplitude * (self._pending + fresh)
            self._pending = fresh
        self._q = self._q + (p.dt / p.damping) * total + noise
        self.step += 1

    def get_state(self) -> dict:
        """Host copies of the whole state (``rng``: the generator's state bytes)."""
        return {"q": self.q.copy(), "step": self.step,
                "rng": self.rng.get_state().numpy().copy(),
                "pending": None if self._pending is None else self.pending.copy()}

    def set_state(self, state: dict) -> None:
        pending = state.get("pending")
        if (pending is None) != (self._pending is None):
            raise ValueError(
                f"state {'with' if pending is not None else 'without'} a pending noise does not "
                f"fit the {self.params.integrator} integrator: it belongs to a run of the other "
                "scheme"
            )
        self._q = self.tensor(state["q"])
        self.step = int(state["step"])
        self.rng.set_state(torch.as_tensor(np.asarray(state["rng"], dtype=np.uint8)))
        self._pending = None if pending is None else self.tensor(pending)


class NumericalError(FloatingPointError):
    """The dynamics produced a non-finite force or a coordinate beyond the allowed bound."""


@dataclass(frozen=True)
class CheckpointPolicy:
    """Where and how often a run saves its full state, and what identifies the run.

    A checkpoint whose ``fingerprint`` differs (another bias, seed, physics...) is
    ignored and overwritten: only the same run can resume from it.
    """

    path: Path
    every: int
    fingerprint: dict

    def save(self, integ: BrownianIntegrator, frames: dict, elapsed: float) -> None:
        state = integ.get_state()
        header = {"step": state["step"], "fingerprint": self.fingerprint, "elapsed": elapsed}
        arrays = {"state_q": state["q"], "state_rng": state["rng"],
                  "frame_steps": np.asarray(frames["steps"])}
        if state["pending"] is not None:
            arrays["state_pending"] = state["pending"]
        for name in FRAME_FIELDS:
            if frames[name] and frames[name][0] is not None:
                arrays[f"frame_{name}"] = np.asarray(frames[name])
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, header=np.array(json.dumps(header)), **arrays)

    def load(self) -> tuple[dict, dict] | None:
        """(integrator state, recorded frames), or None if there is no usable checkpoint."""
        if not Path(self.path).exists():
            return None
        try:
            with np.load(self.path) as data:
                header = json.loads(str(data["header"]))
                arrays = {k: data[k] for k in data.files if k != "header"}
        except (OSError, ValueError, KeyError) as err:
            log.warning("ignoring unreadable checkpoint %s (%s)", self.path, err)
            return None
        if header["fingerprint"] != json.loads(json.dumps(self.fingerprint)):
            log.info("checkpoint %s belongs to another run; starting afresh", self.path)
            return None
        state = {"q": arrays["state_q"], "step": header["step"], "rng": arrays["state_rng"],
                 "pending": arrays.get("state_pending"), "elapsed": header["elapsed"]}
        frames = {"steps": list(arrays["frame_steps"])}
        n = len(frames["steps"])
        for name in FRAME_FIELDS:
            key = f"frame_{name}"
            frames[name] = list(arrays[key]) if key in arrays else [None] * n
        return state, frames


def _check_finite(values: np.ndarray, what: str, step: int, where: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        site = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NumericalError(
            f"step {step}: {what} is {values[site]} at site (x, y) = {site}; {where}"
        )


def _check_finite_tensor(values: torch.Tensor, what: str, step: int, where: str) -> None:
    if not bool(torch.isfinite(values).all()):
        _check_finite(values.cpu().numpy(), what, step, where)


def run_brownian(
    q0: np.ndarray,
    provider: ForceProvider,
    bias: float,
    params: BrownianParameters,
    n_steps: int,
    seed: int,
    stride: int = 1,
    progress_every: float = 30.0,
    checkpoint: CheckpointPolicy | None = None,
    q_bound: float | None = None,
    record: tuple[str, ...] = OPTIONAL_FIELDS,
) -> Trajectory:
    """Integrate n_steps from q0, recording frames at steps 0, stride, 2 stride, ... <= n_steps.

    Each frame holds q and the electronic response at that q (the one that moves
    it to the next step).  Progress is logged every ``progress_every`` seconds.
    With ``checkpoint`` the full state (q, step, random-generator state, frames so
    far) is saved every ``checkpoint.every`` steps and a matching checkpoint is
    resumed from: a resumed run reproduces the uninterrupted one bit for bit.
    A non-finite electronic force, or |Q| > ``q_bound``, stops the run with a
    NumericalError naming the step, the site and the last good checkpoint.
    ``record``: the fields of ``OPTIONAL_FIELDS`` kept in every frame besides q (those
    the provider supplies); a large lattice keeps only what its analysis needs, e.g.
    ``("current",)``, since every lattice field costs 8 bytes per site per frame.
    """
    if n_steps < 0 or stride < 1:
        raise ValueError(f"n_steps={n_steps}, stride={stride}: need n_steps >= 0, stride >= 1")
    unknown = sorted(set(record) - set(OPTIONAL_FIELDS))
    if unknown:
        raise ValueError(f"record={unknown}: choose fields among {OPTIONAL_FIELDS}")
    integ = BrownianIntegrator(q0, provider, bias, params, seed)
    frames: dict[str, list] = {k: [] for k in ("steps", *FRAME_FIELDS)}
    elapsed_before = 0.0
    last_good = "no checkpoint (checkpointing is off)"
    if checkpoint is not None:
        last_good = "no checkpoint written yet"
        resumed = checkpoint.load()
        if resumed is not None:
            state, frames = resumed
            integ.set_state(state)
            elapsed_before = state["elapsed"]
            last_good = f"last good checkpoint {checkpoint.path} (step {integ.step})"
            log.info("resuming from %s at step %d", checkpoint.path, integ.step)
    t0 = last = time.perf_counter()
    first = integ.step
    # On a GPU, checking every step would synchronise with the host every step: check at
    # the recorded frames and checkpoints instead (the run then stops a few steps late).
    check_every_step = integ.device.type == "cpu"
    for k in range(first, n_steps + 1):
        recorded = k % stride == 0
        if recorded:
            # Observables (e.g. learned bond currents) only for the frames that are kept.
            response = integ.electronic(observables=True)
            _check_finite(response.force, "the electronic force", k, last_good)
            frames["steps"].append(k)
            frames["q"].append(integ.q.copy())
            for name in OPTIONAL_FIELDS:
                frames[name].append(getattr(response, name) if name in record else None)
            force = integ.tensor(response.force)
        elif k < n_steps:
            force = integ.electronic_force()
            if check_every_step:
                _check_finite_tensor(force, "the electronic force", k, last_good)
        if k == n_steps:
            break
        integ.advance(force)
        due = checkpoint is not None and integ.step % checkpoint.every == 0
        if check_every_step or due or (k + 1) % stride == 0:
            _check_finite_tensor(integ._q, "Q", k + 1, last_good)
            if q_bound is not None:
                largest = float(integ._q.abs().max())
                if largest > q_bound:
                    q = integ.q
                    site = np.unravel_index(np.argmax(np.abs(q)), q.shape)
                    raise NumericalError(
                        f"step {k + 1}: |Q| = {largest:.3g} > q_bound = {q_bound:g} at site "
                        f"(x, y) = {tuple(int(i) for i in site)}; {last_good}"
                    )
        now = time.perf_counter()
        if due:
            checkpoint.save(integ, frames, elapsed_before + now - t0)
            last_good = f"last good checkpoint {checkpoint.path} (step {integ.step})"
        if now - last > progress_every:
            last = now
            log.info("step %d/%d (%.1f s elapsed, %.3f s/step)", k, n_steps, now - t0,
                     (now - t0) / (k + 1 - first))
    elapsed = elapsed_before + time.perf_counter() - t0

    def stack(values):  # frames of one field; a frame's None (a NaN current) reads NaN
        return None if values[0] is None else np.array(values, dtype=float)

    steps = np.array(frames["steps"])
    return Trajectory(
        steps=steps,
        times=steps * params.dt,
        seconds_per_step=elapsed / (n_steps + 1),
        **{name: stack(frames[name]) for name in FRAME_FIELDS},
    )
