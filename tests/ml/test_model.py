"""The network ``holstein.ml.model``: symmetries, locality, bond heads, its description.

* The y mirror used by the model, ``mirror_y`` (y -> (-y) mod Ly for sites, the bond
  (y, y+1) -> (-y-1, -y) for y bonds), against the exact NEGF (float64): it is a
  symmetry of the physics with this lattice convention.
* Built-in symmetries with random weights (float64, so "float precision" is ~1e-12):
  y-translation and y-mirror equivariance (both mirrors of the ring: through a site
  and through a bond centre), odd and even Ly.
* Locality (cutoff c = Chebyshev radius c of the 3x3-convolution stack): changing Q
  outside the square leaves the probe's prediction unchanged (< 1e-14, float64; 0 measured),
  changing it at Chebyshev distance exactly c changes it (> 1e-10, so the test can fail);
  probes in the bulk and next to an electrode; a lattice extended to the right gives the
  same predictions wherever the old right electrode was out of reach.
* Bond-current heads: exact y-mirror symmetry with random weights (float64, 1e-12):
  bond_current_x even, bond_current_y odd and moved to the mirrored bond, for both
  mirrors of the ring; shapes (Lx - 1, Ly) and (Lx, Ly).
* ``Architecture``: the checkpoint's description round-trips, and older descriptions
  (no expansion, no bond head entries) read as no expansion, no bond head.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from schema_defaults import DEFAULTS
from synthetic import architecture, mirror_np, random_model, run, run_all

from holstein.ml.model import Architecture

pytestmark = pytest.mark.usefixtures("torch_one_thread")


# ------------------------------------------------------------------------------ symmetries


def test_mirror_convention_is_a_symmetry_of_the_negf():
    q = 0.8 * np.random.default_rng(0).standard_normal((5, 4))
    a = DEFAULTS.steady_state(q, 1.5, method="exact")
    b = DEFAULTS.steady_state(mirror_np(q), 1.5, method="exact")
    np.testing.assert_allclose(mirror_np(a.density), b.density, atol=1e-12)
    np.testing.assert_allclose(mirror_np(a.bond_current_x), b.bond_current_x, atol=1e-12)
    # y bonds: (y, y+1) -> (-y-1, -y), and the current changes sign
    np.testing.assert_allclose(-mirror_np(a.bond_current_y, "bond_y"), b.bond_current_y,
                               atol=1e-12)
    # the site mirror keeps y = 0 in place
    np.testing.assert_array_equal(mirror_np(q)[:, 0], q[:, 0])
    np.testing.assert_array_equal(mirror_np(q)[:, 1], q[:, -1])


@pytest.mark.parametrize("shape", [(9, 7), (8, 10)])
def test_y_translation_equivariance(shape):
    model = random_model()
    q = np.random.default_rng(1).standard_normal(shape)
    out = run(model, q)
    for shift in (1, 3):
        shifted = run(model, np.roll(q, shift, axis=1))
        np.testing.assert_allclose(shifted, np.roll(out, shift, axis=1), atol=1e-12)
    # the two CDW domains (one-site y shift of each other) get shifted predictions
    cdw = DEFAULTS.checkerboard(*shape)
    np.testing.assert_allclose(run(model, np.roll(cdw, 1, axis=1)),
                               np.roll(run(model, cdw), 1, axis=1), atol=1e-12)


@pytest.mark.parametrize(("shape", "expansion"), [((9, 7), 0), ((8, 10), 0), ((8, 10), 8)])
def test_y_mirror_equivariance(shape, expansion):
    model = random_model(expansion=expansion)
    q = np.random.default_rng(2).standard_normal(shape)
    out = run(model, q)
    # through the site y = 0 ...
    np.testing.assert_allclose(run(model, mirror_np(q)), mirror_np(out), atol=1e-12)
    # ... and through a bond centre (y -> Ly - 1 - y)
    np.testing.assert_allclose(run(model, q[:, ::-1]), out[:, ::-1], atol=1e-12)
    # float32 (as used in production) to float32 precision
    model32 = random_model(dtype=torch.float32)
    out32 = run(model32, q)
    np.testing.assert_allclose(run(model32, mirror_np(q)), mirror_np(out32), atol=1e-5)
    # no x mirror is imposed (the bias breaks it): a random model is not x-symmetric
    assert np.abs(run(model, q[::-1]) - out[::-1]).max() > 1e-3


# ------------------------------------------------------------------------------ locality


@pytest.mark.parametrize(("probe", "expansion"), [((7, 6), 0), ((1, 2), 0), ((7, 6), 8)])
def test_locality_chebyshev_cutoff(probe, expansion):
    c = 3
    model = random_model(cutoff=c, expansion=expansion)
    shape = (15, 13)
    q = np.random.default_rng(3).standard_normal(shape)
    base = run(model, q)[probe]
    px, py = probe

    def change_at(dx, dy):
        x, y = px + dx, (py + dy) % shape[1]
        if not 0 <= x < shape[0]:
            return None
        q2 = q.copy()
        q2[x, y] += 2.5
        return abs(run(model, q2)[probe] - base)

    outside = [(c + 1, 0), (0, c + 1), (0, -(c + 1)), (c + 1, c + 1), (-(c + 1), 2),
               (2, -(c + 1)), (c + 3, 5)]
    inside = [(c, c), (-c, 0), (0, -c), (1, 2), (0, 0), (c, -c)]
    checked = 0
    for d in outside:
        delta = change_at(*d)
        if delta is not None:
            assert delta < 1e-14, f"site at offset {d} (outside the cutoff) changed the probe"
            checked += 1
    assert checked >= 5
    for d in inside:
        delta = change_at(*d)
        if delta is not None:
            assert delta > 1e-10, f"site at offset {d} (inside the cutoff) had no effect"


def test_larger_lattice_agrees_away_from_the_moved_electrode():
    c = 2
    model = random_model(cutoff=c)
    small = np.random.default_rng(5).standard_normal((8, 6))
    big = np.random.default_rng(6).standard_normal((20, 6))
    big[:8] = small
    a, b = run(model, small), run(model, big)
    # site x of the small lattice sees its right lead column (x = 7) only if 7 - x <= c
    keep = 7 - c
    np.testing.assert_allclose(b[:keep], a[:keep], atol=1e-12)
    assert np.abs(b[keep:8] - a[keep:8]).max() > 1e-6
    # bulk x translation invariance: only the lead columns (within reach c) break it
    bulk = np.random.default_rng(7).standard_normal((20, 6))
    shifted = np.roll(bulk, 3, axis=0)
    lo, hi = c + 1 + 3, 20 - (c + 1) - 3
    np.testing.assert_allclose(run(model, shifted)[lo:hi], run(model, bulk)[lo - 3:hi - 3],
                               atol=1e-12)


# ------------------------------------------------------------------------------ bond heads


@pytest.mark.parametrize(("shape", "dtype", "atol"),
                         [((9, 7), torch.float64, 1e-12), ((8, 10), torch.float64, 1e-12),
                          ((8, 10), torch.float32, 1e-5)])
def test_bond_heads_mirror_symmetry(shape, dtype, atol):
    model = random_model(bond_heads=True, dtype=dtype)
    q = np.random.default_rng(10).standard_normal(shape)
    out = run_all(model, q)
    lx, ly = shape
    assert out["bond_current_x"].shape == (lx - 1, ly)
    assert out["bond_current_y"].shape == (lx, ly)
    assert out["onsite"].shape == (lx, ly)
    bx, by = out["bond_current_x"], out["bond_current_y"]
    assert np.abs(by).max() > 1e-3 and np.abs(bx).max() > 1e-3  # not trivially zero
    # mirror through the site y = 0: x bonds even, y bonds (y, y+1) -> (-y-1, -y) and odd
    m = run_all(model, mirror_np(q))
    np.testing.assert_allclose(m["bond_current_x"], mirror_np(bx), atol=atol)
    np.testing.assert_allclose(m["bond_current_y"], -mirror_np(by, "bond_y"), atol=atol)
    np.testing.assert_allclose(m["onsite"], mirror_np(out["onsite"]), atol=atol)
    # mirror through a bond centre, y -> Ly - 1 - y: bond (y, y+1) -> (Ly-2-y, Ly-1-y)
    r = run_all(model, q[:, ::-1])
    np.testing.assert_allclose(r["bond_current_x"], bx[:, ::-1], atol=atol)
    np.testing.assert_allclose(r["bond_current_y"], -np.roll(by[:, ::-1], -1, axis=1),
                               atol=atol)
    # y translations
    t = run_all(model, np.roll(q, 2, axis=1))
    np.testing.assert_allclose(t["bond_current_y"], np.roll(by, 2, axis=1), atol=atol)
    # a mirror-symmetric configuration carries no net transverse current per column
    sym = run_all(model, q[:, :1].repeat(ly, axis=1))
    np.testing.assert_allclose(sym["bond_current_y"], 0.0, atol=atol)
    # the on-site head is the same network with or without bond heads
    plain = random_model(dtype=dtype)
    plain.load_state_dict(model.state_dict(), strict=False)
    np.testing.assert_allclose(run_all(plain, q)["onsite"], out["onsite"], atol=atol)


# ------------------------------------------------------------------------------ description


def test_architecture_round_trips_and_reads_older_descriptions():
    arch = architecture(cutoff=2, channels=5, expansion=3, bond_heads=True)
    entry = arch.as_dict()
    assert Architecture.from_dict(entry) == arch
    assert entry["heads"] == ["onsite", "bond"] and entry["in_channels"] == 4
    older = {k: v for k, v in entry.items()
             if k not in ("expansion", "bond_head_channels", "heads")}
    assert Architecture.from_dict(older) == architecture(cutoff=2, channels=5)
    with pytest.raises(ValueError, match="in_channels = 5"):
        Architecture.from_dict({**entry, "in_channels": 5})
    with pytest.raises(ValueError, match="cutoff=0"):
        architecture(cutoff=0)
