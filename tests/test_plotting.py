"""The figure building blocks (``holstein.report.plotting``): units, statistic, kymograph,
styles."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from holstein.data.series import profile_columns
from holstein.report import plotting as pl
from holstein.report.comparison import seed_statistics

plt = pl.pyplot()


@pytest.fixture()
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_figures_are_written_atomically(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    pl.save_figure(fig, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError):
        pl.save_figure(fig, tmp_path / "broken.png", dpi=-1)  # matplotlib refuses mid-way
    plt.close(fig)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def test_finish_adds_the_units_note_saves_and_closes(tmp_path):
    fig, _ = plt.subplots()
    pl.finish(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 0
    assert pl.UNITS_NOTE in [t.get_text() for t in fig.texts]
    assert not plt.fignum_exists(fig.number)


@pytest.mark.parametrize("label", [pl.TIME, pl.BIAS, pl.CURRENT, pl.ABS_CURRENT, pl.VELOCITY,
                                   pl.DISTANCE, pl.WALL_POSITION, pl.FORCE])
def test_every_dimensional_axis_label_names_its_unit(label):
    unit = re.search(r"\(([^()]*)\)\s*$", label)
    assert unit, label
    assert re.search(r"hbar|sites|\$t\$|t/e|\bt\b", unit.group(1)), label


def test_seed_statistic_per_point_is_the_one_of_seed_statistics():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 7))
    values[1, 3] = np.nan  # a seed without a value at one point
    mean, std = pl.mean_and_std(values)
    for k in range(values.shape[1]):
        ref = seed_statistics(values[:, k])
        assert mean[k] == pytest.approx(ref["mean"], rel=1e-12)
        assert std[k] == pytest.approx(ref["std"], rel=1e-12)
    one_mean, one_std = pl.mean_and_std(values[:1])
    np.testing.assert_array_equal(one_mean, values[0])
    np.testing.assert_array_equal(one_std, 0.0)
    assert np.isnan(pl.mean_and_std(np.full((3, 2), np.nan))[0]).all()


def test_band_draws_the_mean_and_mean_plus_minus_std_named_in_the_legend(ax):
    times = np.linspace(0, 1, 5)
    values = np.array([times, 2 * times, 3 * times])
    pl.band(ax, times, values, "negf")
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_ydata(), 2 * times)
    assert line.get_label() == "NEGF: mean ± std over 3 seeds"
    assert line.get_color() == pl.PROVIDERS["negf"].color
    (poly,) = ax.collections
    verts = poly.get_paths()[0].vertices
    assert verts[:, 1].max() == pytest.approx(3.0)  # mean + std at t = 1 (2 + 1)
    assert verts[:, 1].min() == pytest.approx(0.0)


def test_errorbars_of_the_providers_never_share_an_x_position(ax):
    biases = [2.0, 2.1, 2.2]
    spacing = pl.bias_axis(ax, biases)
    xs = {}
    for provider in ("negf", "ml"):
        bars = pl.errorbars(ax, biases, [1, 2, 3], [0.1, 0.1, 0.1], provider, spacing, 4)
        xs[provider] = bars.lines[0].get_xdata()
        assert bars.get_label() == f"{pl.PROVIDERS[provider].name}: mean ± std over 4 seeds"
    assert np.all(np.abs(xs["negf"] - xs["ml"]) > 0.1 * spacing)
    assert pl.PROVIDERS["negf"].marker != pl.PROVIDERS["ml"].marker


def test_bias_axis_spans_the_data_and_marks_training_biases_inside_it(ax):
    spacing = pl.bias_axis(ax, [2.0, 2.3, 2.1, 2.2], training_biases=[1.5, 2.0, 2.2, 3.0])
    assert spacing == pytest.approx(0.1)
    assert ax.get_xlim() == pytest.approx((1.95, 2.35))
    marked = sorted(line.get_xdata()[0] for line in ax.lines)
    assert marked == [2.0, 2.2]  # 1.5 and 3.0 lie outside the data
    assert ax.get_xlabel() == pl.BIAS


def test_kymograph_puts_time_across_and_distance_up_with_the_walls(ax):
    times = np.array([0.0, 1.0, 2.0])
    phi = np.arange(12.0).reshape(3, 4) / 12  # (frames, Lx)
    walls = [np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5, 3.0])]
    image = pl.kymograph(ax, times, phi, walls)
    np.testing.assert_array_equal(image.get_array(), phi.T)  # row = x, column = frame
    assert image.get_extent() == [0.0, 2.0, -0.5, 3.5]
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), walls[1])
    assert ax.get_ylabel() == pl.DISTANCE and ax.get_xlabel() == pl.TIME
    assert "distance from the gated electrode" in ax.get_ylabel()


def test_run_kymograph_reads_the_profile_columns_in_order_of_x(ax):
    lx = 12  # phi_10 sorts before phi_2 as text
    phi = np.arange(2 * lx, dtype=float).reshape(2, lx)
    frame = pd.DataFrame(phi, columns=profile_columns(lx))
    frame = frame[sorted(frame.columns)]  # text order
    frame["time"] = [0.0, 1.0]
    frame["wall_position"] = [0.0, 3.0]
    image = pl.run_kymograph(ax, frame)
    np.testing.assert_array_equal(image.get_array(), phi.T)
