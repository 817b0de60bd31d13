"""Display stretch (DRA) and band choice."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from imagery.radiometry import DisplayStretch, dra_limits, fit_stretch, rgb_bands
from imagery.samples import write_sample_scene
from imagery.scene import open_scene


def _reference_dra(values: np.ndarray) -> tuple[float, float]:
    """The osml-imagery-toolkit recipe written out plainly (domain.md 4.6)."""
    v = np.sort(values.ravel().astype(np.float64))
    e_min = np.percentile(v, 2)
    e_max = np.percentile(v, 98)
    lo = max(v[0], e_min - 0.2 * (e_max - e_min))
    hi = min(v[-1], e_max + 0.4 * (e_max - e_min))
    return lo, hi


def test_dra_of_a_16bit_image_matches_the_reference(tmp_path):
    rng = np.random.default_rng(3)
    data = np.clip(rng.gamma(2.0, 120.0, size=(3, 400, 400)), 0, 2047).astype(np.uint16)
    p = tmp_path / "x.tif"
    with rasterio.open(p, "w", driver="GTiff", width=400, height=400, count=3, dtype="uint16",
                       crs="EPSG:32636", transform=Affine(0.5, 0, 0, 0, -0.5, 0)) as ds:
        ds.write(data)
    scene = open_scene(p)
    stretch = fit_stretch(scene, (1, 2, 3))
    for b in range(3):
        lo, hi = _reference_dra(data[b])
        assert stretch.low[b] == pytest.approx(lo, abs=1e-6)
        assert stretch.high[b] == pytest.approx(hi, abs=1e-6)
    out = stretch.apply(data)
    ref = np.clip((data.astype(np.float64) - np.array(stretch.low)[:, None, None])
                  * 255.0 / (np.array(stretch.high) - np.array(stretch.low))[:, None, None] + 0.5, 0, 255)
    diff = np.abs(out.astype(int) - ref.astype(np.uint8).astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999  # float32 LUT vs float64 reference


def test_tiles_share_one_tone_curve(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=512)
    scene = open_scene(p)
    stretch = fit_stretch(scene)
    whole, _ = scene.read(bands=rgb_bands(scene))
    t1, _ = scene.read(Window(0, 0, 256, 256), bands=rgb_bands(scene))
    t2, _ = scene.read(Window(200, 300, 256, 200), bands=rgb_bands(scene))
    full = stretch.apply(whole)
    np.testing.assert_array_equal(stretch.apply(t1), full[:, :256, :256])
    np.testing.assert_array_equal(stretch.apply(t2), full[:, 300:500, 200:456])


def test_large_scenes_are_fitted_on_a_sample(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=1536)
    scene = open_scene(p)
    stretch = fit_stretch(scene)
    whole, _ = scene.read(bands=rgb_bands(scene))
    for b in range(3):
        lo, hi = _reference_dra(whole[b])
        assert stretch.low[b] == pytest.approx(lo, rel=0.05, abs=5)
        assert stretch.high[b] == pytest.approx(hi, rel=0.05, abs=5)


def test_rgb_from_bgrn_and_pan(tmp_path):
    s = open_scene(write_sample_scene(tmp_path / "a.tif", size=64))
    assert rgb_bands(s) == (3, 2, 1)  # R, G, B from B,G,R,N file order
    pan = open_scene(write_sample_scene(tmp_path / "p.tif", size=64, bands=("P",)))
    assert rgb_bands(pan) == (1, 1, 1)
    assert fit_stretch(pan).apply(pan.read(bands=(1, 1, 1))[0]).shape == (3, 64, 64)


def test_eight_bit_passes_through(tmp_path):
    s = open_scene(write_sample_scene(tmp_path / "a.tif", size=64, dtype="uint8", bands=("R", "G", "B")))
    st = fit_stretch(s)
    d, _ = s.read()
    np.testing.assert_array_equal(st.apply(d), d)


def test_flat_band_does_not_divide_by_zero():
    lo, hi = dra_limits(np.full(100, 7.0))
    assert hi > lo
    out = DisplayStretch((lo,), (hi,)).apply(np.full((1, 2, 2), 7, np.uint16))
    assert out.dtype == np.uint8
