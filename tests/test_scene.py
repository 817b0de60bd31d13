"""Opening scenes: formats, metadata, pixel mode and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.windows import Window

from imagery.errors import InputError
from imagery.samples import write_sample_scene
from imagery.scene import PixelModeWarning, gsd_from_transform, open_scene


def test_geotiff_with_imd(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=128)
    s = open_scene(p)
    m = s.meta
    assert m.crs == "EPSG:32636" and m.georeferenced
    assert (m.width, m.height, m.count, m.dtype) == (128, 128, 4, "uint16")
    assert m.gsd_m == pytest.approx(0.5)
    assert m.band_names == ("B", "G", "R", "N")
    assert m.maxar.satellite == "WV03" and m.sun_elevation == pytest.approx(29.1)
    d = m.to_json_dict()
    for key in ("crs", "width", "height", "count", "dtype", "gsd_m", "acquired", "sun_azimuth",
                "sun_elevation", "off_nadir", "satellite"):
        assert key in d
    assert d["acquired"].startswith("2024-12-13T08:31:12")


def test_reads_are_lazy_and_pad_outside(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=128)
    s = open_scene(p)
    data, valid = s.read(Window(-10, 100, 40, 40))
    assert data.shape == (4, 40, 40) and valid.shape == (40, 40)
    assert not valid[:, :10].any() and valid[:28, 10:].all() and not valid[28:].any()
    assert (data[:, :, :10] == 0).all()
    inside, _ = s.read(Window(0, 100, 30, 28))
    np.testing.assert_array_equal(data[:, :28, 10:], inside)


@pytest.mark.parametrize(("driver", "suffix"), [("NITF", ".ntf"), ("ENVI", ""), ("PNG", ".png"),
                                                 ("JPEG", ".jpg"), ("VRT", ".vrt")])
def test_other_formats_open(tmp_path, driver, suffix):
    src = write_sample_scene(tmp_path / "src.tif", size=64, dtype="uint8", bands=("R", "G", "B"),
                             meta=None)
    dst = tmp_path / f"copy{suffix or '_envi'}"
    rasterio.shutil.copy(src, dst, driver=driver)
    if driver in ("PNG", "JPEG"):
        # GDAL keeps the georeference of a copied PNG/JPEG in a .aux.xml side-car; a plain
        # picture has none.
        for aux in tmp_path.glob("copy*.aux.xml"):
            aux.unlink()
    with pytest.warns(PixelModeWarning) if driver in ("PNG", "JPEG") else _no_warning():
        s = open_scene(dst)
    assert (s.meta.width, s.meta.height, s.meta.count) == (64, 64, 3)
    data, valid = s.read()
    assert data.shape == (3, 64, 64) and valid.all()
    if driver in ("PNG", "JPEG"):
        assert s.meta.crs is None and not s.meta.georeferenced
        assert s.meta.transform == Affine.identity()  # pixel mode: x = column, y = row
        assert s.meta.gsd_m == 0.5
    else:
        assert s.meta.crs == "EPSG:32636"


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_pixel_mode_gsd_can_be_given(tmp_path):
    src = write_sample_scene(tmp_path / "s.tif", size=64, dtype="uint8", bands=("R", "G", "B"), meta=None)
    rasterio.shutil.copy(src, tmp_path / "x.png", driver="PNG")
    (tmp_path / "x.png.aux.xml").unlink()
    with pytest.warns(PixelModeWarning):
        assert open_scene(tmp_path / "x.png", gsd=0.3).meta.gsd_m == 0.3


def test_alpha_band_is_the_validity_mask(tmp_path):
    p = tmp_path / "rgba.tif"
    data = np.full((4, 32, 32), 100, np.uint8)
    data[3, :, :16] = 0
    with rasterio.open(p, "w", driver="GTiff", width=32, height=32, count=4, dtype="uint8",
                       crs="EPSG:32636", transform=Affine(0.5, 0, 0, 0, -0.5, 0),
                       photometric="RGB", alpha="YES") as ds:
        ds.write(data)
    s = open_scene(p)
    assert s.meta.alpha_band == 4 and s.meta.data_bands == (1, 2, 3)
    d, v = s.read()
    assert d.shape[0] == 3 and not v[:, :16].any() and v[:, 16:].all()


def test_geographic_gsd_is_in_metres():
    t = Affine(1e-4, 0, 35.9, 0, -1e-4, 35.4)
    from rasterio.crs import CRS
    g = gsd_from_transform(t, CRS.from_epsg(4326), 100, 100)
    assert 9.0 < g < 11.1


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_scene(tmp_path / "nope.tif")


def test_folder(tmp_path):
    with pytest.raises(InputError, match="folder"):
        open_scene(tmp_path)


def test_not_a_raster(tmp_path):
    p = tmp_path / "notes.tif"
    p.write_text("this is not an image\n" * 10)
    with pytest.raises(InputError, match="not a raster"):
        open_scene(p)


def test_truncated_geotiff_fails_on_read_with_a_clear_error(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=512, meta=None, compress="deflate")
    raw = p.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(InputError, match="cut.tif"):
        s = open_scene(cut)
        s.read()


def test_absurd_header_size(tmp_path):
    data = tmp_path / "huge"
    data.write_bytes(b"\0" * 1024)
    (tmp_path / "huge.hdr").write_text(
        "ENVI\nsamples = 5000000\nlines = 5000000\nbands = 3\nheader offset = 0\n"
        "file type = ENVI Standard\ndata type = 1\ninterleave = bsq\nbyte order = 0\n")
    with pytest.raises(InputError, match="absurd|cannot open"):
        open_scene(data)


def test_a_warp_to_a_much_coarser_grid_reads_an_overview(tmp_path):
    """Display frames (a 10000^2 scene drawn at 1000 px) warp from the finest overview that is
    still finer than the frame, not from full resolution, and look the same; reads for the
    change score and the detector stay at full resolution."""
    from rasterio.enums import Resampling

    from imagery.grid import GridSpec
    from imagery.sources import WarpedSource

    path = write_sample_scene(tmp_path / "s.tif", size=1024)
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews([2, 4, 8], Resampling.average)
    scene = open_scene(path)
    m = scene.meta
    coarse = GridSpec(m.crs, m.transform @ Affine.scale(5.0), 1024 // 5, 1024 // 5)
    src = WarpedSource(scene, coarse, resampling=Resampling.average, use_overviews=True)
    assert src._overview_level() == 1  # the 4x overview: the 8x one would be coarser than the frame
    near = GridSpec(m.crs, m.transform @ Affine.scale(1.5), 600, 600)
    assert WarpedSource(scene, near, use_overviews=True)._overview_level() is None
    assert WarpedSource(scene, coarse)._overview_level() is None  # pixels for the maths: full resolution
    fast, valid = src.read(Window(0, 0, coarse.width, coarse.height))
    full, _ = WarpedSource(scene, coarse, resampling=Resampling.average).read(
        Window(0, 0, coarse.width, coarse.height))
    assert valid.all()
    # the same picture (box edges of a 4x overview and a 5x frame do not line up, so pixels of
    # this noise-like texture differ a little; a real scene differed by 0.7 of 255 on average)
    assert np.corrcoef(fast.astype(float).ravel(), full.astype(float).ravel())[0, 1] > 0.97


def test_a_band_gdal_tags_alpha_but_the_metadata_calls_data_is_warped_as_data(tmp_path):
    """GDAL tags the 4th band of a 4-band 8-bit GeoTIFF alpha; the IMD says B, G, R, N. The
    warper must read N as data (zeros included), not as the source's alpha, and not refuse to
    add the validity band (it did: 'The VRT already has an alpha band')."""
    from imagery.grid import GridSpec
    from imagery.sources import WarpedSource

    path = write_sample_scene(tmp_path / "a.tif", size=200, dtype="uint8")
    with rasterio.open(path, "r+") as ds:
        assert ds.colorinterp[3] == rasterio.enums.ColorInterp.alpha
        nir = ds.read(4)
        nir[50:80, 60:90] = 0
        ds.write(nir, 4)
        data = ds.read()
    scene = open_scene(path)
    assert scene.meta.band_names == ("B", "G", "R", "N") and scene.meta.alpha_band is None
    m = scene.meta
    same = GridSpec(m.crs, m.transform, m.width, m.height)
    d, v = WarpedSource(scene, same, resampling=rasterio.enums.Resampling.nearest).read(
        Window(0, 0, 200, 200))
    np.testing.assert_array_equal(d, data)
    assert v.all()
    wider = GridSpec(m.crs, m.transform @ Affine.translation(-20, -10), 240, 230)
    d, v = WarpedSource(scene, wider, resampling=rasterio.enums.Resampling.nearest).read(
        Window(0, 0, 240, 230))
    np.testing.assert_array_equal(d[:, 10:210, 20:220], data)
    assert v[10:210, 20:220].all() and v.sum() == 200 * 200
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews([2, 4], rasterio.enums.Resampling.average)
    scene = open_scene(path)
    coarse = GridSpec(m.crs, m.transform @ Affine.scale(4.0), 50, 50)
    src = WarpedSource(scene, coarse, resampling=rasterio.enums.Resampling.average,
                       use_overviews=True)
    assert src._overview_level() == 1
    d, v = src.read(Window(0, 0, 50, 50))
    assert v.all() and d[3, 14:18, 17:20].max() == 0 and d[3].mean() > 50


def test_cubic_weights_interpolate():
    from imagery.sources import cubic_weights

    np.testing.assert_allclose(cubic_weights(0.0), [0, 1, 0, 0], atol=1e-7)
    for t in (0.1, 0.5, 0.83):
        assert cubic_weights(t).sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(cubic_weights(0.5), [-0.0625, 0.5625, 0.5625, -0.0625], atol=1e-7)


@pytest.mark.parametrize("dtype", ["uint16", "uint8"])
def test_a_sub_pixel_shift_reads_like_gdals_cubic_warp(tmp_path, dtype):
    """A co-registration shift on the same lattice is resampled by a separable cubic on the
    block cache (ShiftedSource), not by the warper: same pixels (to rounding) as GDAL's cubic,
    and never a pixel valid that the warper calls nodata."""
    from imagery.grid import GridSpec
    from imagery.sources import ShiftedSource, WarpedSource, source_on_grid

    scene = open_scene(write_sample_scene(tmp_path / "a.tif", size=300, dtype=dtype))
    m = scene.meta
    grid = GridSpec(m.crs, m.transform, m.width, m.height)
    shift = (-2.598, 1.3)
    src = source_on_grid(scene, grid, shift_px=shift)
    assert isinstance(src, ShiftedSource)
    ref = WarpedSource(scene, grid, shift_px=shift)
    for win in (Window(40, 50, 120, 90), Window(0, 0, 300, 300), Window(250, 260, 50, 40)):
        d, v = src.read(win)
        dr, vr = ref.read(win)
        assert d.dtype == dr.dtype and d.shape == dr.shape
        assert not (v & ~vr).any()
        # the warper keeps partial kernels at the image's edge; this needs all 16 taps
        rows, cols = np.nonzero(vr & ~v)
        rows, cols = rows + win.row_off, cols + win.col_off
        assert ((rows < 4) | (rows >= 296) | (cols < 4) | (cols >= 296)).all()
        both = v & vr
        assert np.abs(d.astype(int) - dr.astype(int))[:, both].max() <= 1
    # decimated views take the nearest whole-pixel shift
    small, _ = src.read(Window(0, 0, 300, 300), out_shape=(100, 100))
    near, _ = source_on_grid(scene, grid, shift_px=(-3, 1)).read(Window(0, 0, 300, 300),
                                                                 out_shape=(100, 100))
    np.testing.assert_array_equal(small, near)
