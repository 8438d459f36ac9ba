"""The building blocks of every figure: styles, axis labels with units, kymographs, bands.

Every figure of the project (validation, model, large lattice, regimes, the size-transfer
script) is drawn with these, so that a quantity has one label, a provider one look, and
a seed statistic one meaning everywhere:

* Units.  Model units t = hbar = e = 1 (t is the hopping): time in hbar/t, bias in t/e,
  the device current (particle current times e) in e t/hbar, forces in t (the lattice
  coordinate Q is dimensionless, K = 1 in units of t), lengths in lattice sites.  Every
  axis says its unit; ``finish`` adds a footnote with this convention.
* Providers.  NEGF: blue circles, solid lines; ML: orange squares, dashed lines
  (``PROVIDERS``).  Markers of the two are also offset along x where they share a bias,
  so neither hides the other.
* One statistic over seeds: the mean with the sample standard deviation (ddof 1), as
  ``holstein.report.comparison.seed_statistics`` computes it, for bands and error bars alike,
  and named in the legend (``statistic_label``).

Matplotlib is imported lazily (``pyplot``, Agg backend): jobs have no display, and a
module that only declares styles should not cost the import.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from holstein.data.atomic import atomic_path
from holstein.data.series import profile

UNITS_NOTE = ("model units: t = ħ = e = 1 (t: hopping); time in ħ/t, bias in t/e, "
              "current in e t/ħ, force in t, lengths in lattice sites")

TIME = r"time ($\hbar/t$)"
BIAS = r"bias $V$ ($t/e$)"
CURRENT = r"device current $I$ ($e\,t/\hbar$)"
ABS_CURRENT = r"$|I|$, device current magnitude ($e\,t/\hbar$)"
VELOCITY = r"wall velocity $v$ (sites per $\hbar/t$)"
DISTANCE = "distance from the gated electrode x (sites)"
WALL_POSITION = r"wall position $x$ (sites from the gated electrode)"
ORDER = r"CDW order $\langle\phi\rangle/\phi_0$"
PROFILE = r"$\phi(x)/\phi_0$ (staggered order, mean over $y$)"
FORCE = "electronic force ($t$)"
FORCE_DEVIATION = r"committee force deviation $\sigma_F$ ($t$)"
SECONDS_PER_STEP = "wall-clock seconds per Brownian step"


@dataclass(frozen=True)
class ProviderStyle:
    name: str
    color: str
    marker: str
    linestyle: str
    offset: float  # x offset of markers at a shared bias, in units of the bias spacing

    def line(self, **overrides) -> dict:
        """Keyword arguments of ``ax.plot`` / ``ax.errorbar`` for this provider."""
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle,
                **overrides}


PROVIDERS = {
    "negf": ProviderStyle("NEGF", "C0", "o", "-", -0.08),
    "ml": ProviderStyle("ML", "C1", "s", "--", +0.08),
}
WALL_LINE = {"color": "k", "linestyle": "--", "linewidth": 0.8}
# The trust levels of the committee deviation: below the lower one the model is trusted,
# above the upper one its prediction is taken as failed (DP-GEN's trust_lo, trust_hi).
TRUST_LINES = {"trust_lo": {"color": "C2", "linestyle": ":", "linewidth": 1.0},
               "trust_hi": {"color": "C3", "linestyle": ":", "linewidth": 1.0}}
TRAINING_BIAS_LINE = {"color": "0.8", "linewidth": 0.8, "zorder": 0}


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (jobs have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, **kwargs) -> None:
    """``fig.savefig`` to ``path`` atomically (format taken from the final suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)


def finish(fig, path, dpi: int = 120, note: str | None = UNITS_NOTE) -> None:
    """Footnote (the units convention by default) under everything drawn, save
    atomically, close."""
    if note:
        # Below the lowest label: the tight box of what is drawn (after the layout has
        # placed everything), in figure fractions.
        fig.draw_without_rendering()
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        width, height = fig.get_size_inches()
        fig.text(box.x0 / width, box.y0 / height - 0.01, note, fontsize=7, color="0.35",
                 ha="left", va="top")
    save_figure(fig, path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)


def suptitle(fig, *lines: str, fontsize: float = 9, **kwargs) -> None:
    """A figure title of ``lines``, each wrapped to the figure's width."""
    chars = max(40, int(fig.get_size_inches()[0] * 72 / (0.55 * fontsize)))
    fig.suptitle("\n".join(textwrap.fill(line, chars) for line in lines), fontsize=fontsize,
                 **kwargs)


def setting(lattice, physics, n_steps: int | None = None, dt: float | None = None) -> str:
    """One line naming the lattice, the physics and (if given) the run length, for titles."""
    line = (f"{lattice['Lx']} × {lattice['Ly']} lattice, g = {physics['g']:g}, "
            f"K = {physics['K']:g}, κ = {physics['kappa']:g}, Γ = {physics['gamma']:g}, "
            f"kT = {physics['temperature']:g}")
    return line if n_steps is None else f"{line}, {n_steps} steps of {dt:g} ħ/t"


def statistic_label(n: int) -> str:
    """The legend's name of the seed statistic for ``n`` seeds."""
    return "1 seed" if n == 1 else f"mean ± std over {n} seeds"


def mean_and_std(values) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample standard deviation (ddof 1; 0 for one seed) over axis 0, NaNs
    ignored: the seed statistic of ``holstein.report.comparison.seed_statistics`` per point."""
    values = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(values), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(values, axis=0) / np.maximum(n, 1), np.nan)
        sq = np.nansum((values - mean) ** 2, axis=0)
        std = np.where(n > 1, np.sqrt(sq / np.maximum(n - 1, 1)), 0.0)
    return mean, np.where(n > 0, std, np.nan)


def stack_frames(frames, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Times and ``column`` of several runs' time series, stacked (n_runs, n_frames).

    Runs of one setting share the time grid; a run that stopped early sets the length.
    """
    n = min(len(f) for f in frames)
    times = frames[0]["time"].to_numpy(dtype=float)[:n]
    return times, np.stack([f[column].to_numpy(dtype=float)[:n] for f in frames])


def band(ax, times, values, provider: str, name: str | None = None, label: str | None = None,
         **line) -> None:
    """Seed mean (line) and mean ± std (shaded) of ``values`` (n_seeds, n_frames).

    The legend label is ``label`` if given, else ``name`` (default: the provider's name)
    with the statistic.
    """
    style = PROVIDERS[provider]
    mean, std = mean_and_std(values)
    n = len(values)
    text = label or f"{name or style.name}: {statistic_label(n)}"
    kwargs = {"color": style.color, "linestyle": style.linestyle, "linewidth": 1.2, **line}
    ax.plot(times, mean, label=text, **kwargs)
    if n > 1:
        ax.fill_between(times, mean - std, mean + std, color=kwargs["color"], alpha=0.2,
                        linewidth=0)


def errorbars(ax, x, mean, std, provider: str, spacing: float, n: int, label=None,
              **overrides):
    """Markers with std error bars, shifted along x by the provider's offset (a fraction
    of ``spacing``, the distance between neighbouring x values) so none hides another."""
    style = PROVIDERS[provider]
    x = np.asarray(x, dtype=float) + style.offset * spacing
    text = f"{label or style.name}: {statistic_label(n)}"
    return ax.errorbar(x, mean, yerr=std, capsize=3, markersize=5, label=text,
                       **style.line(**overrides))


def bias_axis(ax, biases, training_biases=()) -> float:
    """x axis over the span of ``biases`` (half a spacing of margin) with the training
    biases inside it as grey lines; returns the spacing (for ``errorbars``)."""
    biases = np.unique(np.asarray(biases, dtype=float))
    spacing = float(np.min(np.diff(biases))) if len(biases) > 1 else 0.1
    lo, hi = biases[0] - 0.5 * spacing, biases[-1] + 0.5 * spacing
    for b in training_biases:
        if lo <= b <= hi:
            ax.axvline(b, **TRAINING_BIAS_LINE)
    ax.set_xlim(lo, hi)
    ax.set_xticks(biases)
    ax.set_xticklabels([f"{b:g}" for b in biases])
    ax.set_xlabel(BIAS)
    return spacing


def kymograph(ax, times, phi, walls=(), vmin=-1.0, vmax=1.0):
    """phi(x)/phi_0 (frames, Lx) as colour against time (horizontal) and distance from the
    gated electrode (vertical), with each wall-position series in ``walls`` as a line.

    Returns the image (for a colour bar).
    """
    times = np.asarray(times, dtype=float)
    phi = np.asarray(phi, dtype=float)
    image = ax.imshow(phi.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=vmin,
                      vmax=vmax, extent=[times[0], times[-1], -0.5, phi.shape[1] - 0.5],
                      interpolation="nearest")
    for wall in walls:
        ax.plot(times[: len(wall)], wall, **WALL_LINE)
    ax.set_xlim(times[0], times[-1])
    ax.set_ylim(-0.5, phi.shape[1] - 0.5)
    ax.set_xlabel(TIME)
    ax.set_ylabel(DISTANCE)
    return image


def run_kymograph(ax, frame, **kwargs):
    """``kymograph`` of one run's analysed time series (holstein.data.series) with its wall."""
    return kymograph(ax, frame["time"], profile(frame), [frame["wall_position"].to_numpy()],
                     **kwargs)


def profile_colorbar(fig, image, ax, label: str = PROFILE):
    return fig.colorbar(image, ax=ax, label=label)


def legend_handle(label: str, **line):
    """A legend entry drawn like ``line`` (``ax.plot`` keywords) without data."""
    from matplotlib.lines import Line2D

    return Line2D([], [], label=label, **line)


def provider_legend_handles(n_seeds: dict[str, int]) -> list:
    """Legend entries, one per provider in ``n_seeds`` with its seed statistic, for
    figures whose curves do not carry the labels themselves."""
    return [legend_handle(f"{PROVIDERS[p].name}: {statistic_label(n)}", **PROVIDERS[p].line())
            for p, n in n_seeds.items()]


def no_committee_figure(path) -> None:
    """The committee-deviation figure of a single model: a panel that says there is none."""
    fig, ax = pyplot().subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, "No committee deviation: the force field is a single model "
            "(model.committee = 1)", ha="center", va="center", fontsize=10)
    finish(fig, path, note=None)


def trust_lines(ax, trust_lo: float, trust_hi: float, vertical: bool = False) -> None:
    """The two trust levels as labelled lines across the axes (horizontal, or vertical
    for a deviation on the x axis)."""
    draw = ax.axvline if vertical else ax.axhline
    for name, level in (("trust_lo", trust_lo), ("trust_hi", trust_hi)):
        draw(level, label=f"{name} = {level:g} $t$", **TRUST_LINES[name])


def deviation_norm(values, trust_lo: float, trust_hi: float):
    """A logarithmic colour scale for force deviations that spans both trust levels."""
    from matplotlib.colors import LogNorm

    values = np.asarray(values, dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    lo = min(float(positive.min()) if len(positive) else trust_lo, trust_lo / 3)
    hi = max(float(positive.max()) if len(positive) else trust_hi, trust_hi * 1.5)
    return LogNorm(vmin=lo, vmax=hi)

