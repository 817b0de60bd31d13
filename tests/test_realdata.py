"""The ingest layer on real imagery from ../shared/data (skips when it is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from imagery.pair import ScenePair
from imagery.radiometry import fit_stretch, rgb_bands
from imagery.scene import open_scene

pytestmark = pytest.mark.realdata


def _band_vrt(folder, bands, out):
    """A VRT stacking per-band GeoTIFFs (OSCD ships one file per Sentinel-2 band)."""
    import rasterio

    files = [next(folder.glob(f"*_{b}.tif")) for b in bands]
    with rasterio.open(files[0]) as ds:
        w, h, t, crs = ds.width, ds.height, ds.transform, ds.crs.to_wkt()
    parts = [f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}"><SRS>{crs}</SRS>'
             f'<GeoTransform>{", ".join(str(v) for v in t.to_gdal())}</GeoTransform>']
    for i, f in enumerate(files, start=1):
        parts.append(f'<VRTRasterBand dataType="UInt16" band="{i}"><SimpleSource>'
                     f'<SourceFilename relativeToVRT="0">{f}</SourceFilename><SourceBand>1</SourceBand>'
                     f'</SimpleSource></VRTRasterBand>')
    parts.append("</VRTDataset>")
    out.write_text("".join(parts))
    return out


def test_rasterio_rgb_byte(shared_data):
    s = open_scene(shared_data / "geotiff_samples" / "rasterio_RGB.byte.tif")
    assert s.meta.crs == "EPSG:32618" and s.meta.nodata == 0
    d, v = s.read()
    assert d.shape == (3, 718, 791) and 0.3 < v.mean() < 0.95  # nodata collar is invalid
    assert rgb_bands(s) == (1, 2, 3)


@pytest.mark.parametrize("city", ["bercy", "rennes"])
def test_oscd_pair_aligns(shared_data, tmp_path, city):
    root = shared_data / "oscd" / city
    a = _band_vrt(root / "imgs_1", ["B04", "B03", "B02", "B08"], tmp_path / "a.vrt")
    b = _band_vrt(root / "imgs_2", ["B04", "B03", "B02", "B08"], tmp_path / "b.vrt")
    pair = ScenePair(a, b)
    assert pair.grid.crs == "EPSG:4326"
    assert 8 < pair.before.meta.gsd_m < 12
    assert pair.overlap_fraction > 0.9
    # OSCD pairs are co-registered by their makers: the residual shift is small.
    assert abs(pair.shift.dx) < 1.5 and abs(pair.shift.dy) < 1.5
    assert all(0.3 < g < 3 for g in pair.radiometry.gain)
    stretch = fit_stretch(pair.before, (1, 2, 3))
    assert all(hi > lo for lo, hi in zip(stretch.low, stretch.high))


def test_landsat_envi_pair_aligns(shared_data):
    root = shared_data / "landsat_cd" / "Nanjing"
    pair = ScenePair(root / "LT51200382000124BJC00_Nanjing", root / "LT51200382002193BJC00_Nanjing")
    assert pair.grid.crs == "EPSG:32650" and pair.before.meta.gsd_m == pytest.approx(30.0)
    assert pair.before.meta.count == 6 and len(pair.bands.names) == 6
    assert abs(pair.shift.dx) < 2 and abs(pair.shift.dy) < 2 and pair.shift.quality > 0.3
    t = next(pair.tiles(256, 16))
    assert t.before.shape == (6, 256, 256) and t.after.dtype == np.float32


def test_airbus_jpeg_is_pixel_mode(shared_data):
    jpg = next((shared_data / "airbus_aircraft" / "images").glob("*.jpg"))
    with pytest.warns(UserWarning, match="no georeference"):
        s = open_scene(jpg)
    assert s.meta.crs is None and (s.meta.width, s.meta.height) == (2560, 2560)
