"""Writers: COG layout, streaming, atomicity, vectors and STAC."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.windows import Window

from imagery.atomic import atomic_path, make_out_dir
from imagery.errors import InputError
from imagery.writers import CogWriter, stac_item, write_cog, write_stac_item, write_vectors

T = Affine(0.5, 0, 767_000.0, 0, -0.5, 3_923_000.0)


def _is_cog(path) -> bool:
    with rasterio.open(path) as ds:
        return ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_write_cog_from_array(tmp_path):
    data = np.random.default_rng(0).random((1, 1500, 1300), dtype=np.float32)
    p = write_cog(tmp_path / "x.tif", data, transform=T, crs="EPSG:32636", nodata=float("nan"),
                  compress="zstd")
    assert _is_cog(p)
    with rasterio.open(p) as ds:
        assert ds.crs.to_epsg() == 32636 and ds.transform == T
        assert ds.overviews(1)  # internal overviews
        assert ds.block_shapes[0] == (512, 512)
        np.testing.assert_array_equal(ds.read(), data)
    assert [f.name for f in tmp_path.iterdir()] == ["x.tif"]


def test_cog_writer_streams_windows_and_leaves_no_staging(tmp_path):
    p = tmp_path / "mask.tif"
    with CogWriter(p, width=1000, height=900, count=1, dtype="uint8", crs="EPSG:32636", transform=T,
                   nodata=255) as w:
        w.write(Window(0, 0, 500, 900), np.ones((900, 500), np.uint8))
        w.write(Window(500, 0, 500, 450), np.zeros((450, 500), np.uint8))
    assert [f.name for f in tmp_path.iterdir()] == ["mask.tif"]
    assert _is_cog(p)
    with rasterio.open(p) as ds:
        a = ds.read(1)
    assert (a[:, :500] == 1).all() and (a[:450, 500:] == 0).all()
    assert (a[450:, 500:] == 255).all()  # never written -> nodata


@pytest.mark.parametrize("side, dtype", [(100, "uint8"), (600, "float32")])  # 600: streamed overview levels
def test_failed_write_leaves_nothing(tmp_path, side, dtype):
    p = tmp_path / "x.tif"
    with pytest.raises(RuntimeError), CogWriter(p, width=side, height=side, count=1, dtype=dtype,
                                                crs="EPSG:32636", transform=T) as w:
        w.write(Window(0, 0, side, side), np.ones((side, side), dtype))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError), atomic_path(tmp_path / "y.json") as tmp:
        tmp.write_text("{")
        raise ValueError("half written")
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_that_cannot_be_made_says_so(tmp_path):
    assert make_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="exists and is not a folder"):
        make_out_dir(tmp_path / "file")
    with pytest.raises(InputError, match="cannot create the output folder"):
        make_out_dir(tmp_path / "file" / "sub")


def _boxes(crs="EPSG:32636"):
    polys = [shapely.box(767_100, 3_922_600, 767_150, 3_922_660), shapely.box(767_300, 3_922_700, 767_330, 3_922_720)]
    return gpd.GeoDataFrame({"class": ["transport", "helicopter"], "score": [0.9, 0.7]}, geometry=polys,
                            crs=crs)


def test_geopackage_keeps_native_crs_and_layers(tmp_path):
    p = write_vectors(tmp_path / "d.gpkg", {"before": _boxes(), "after": _boxes()})
    import pyogrio
    layers = [name for name, _ in pyogrio.list_layers(p)]
    assert layers == ["before", "after"]
    back = gpd.read_file(p, layer="after")
    assert back.crs.to_epsg() == 32636
    assert back.geometry.iloc[0].equals_exact(_boxes().geometry.iloc[0], 1e-6)


def test_geojson_is_wgs84(tmp_path):
    p = write_vectors(tmp_path / "d.geojson", _boxes())
    obj = json.loads(p.read_text())
    assert obj["type"] == "FeatureCollection" and "crs" not in obj
    lon, lat = obj["features"][0]["geometry"]["coordinates"][0][0]
    assert 35.9 < lon < 36.0 and 35.4 < lat < 35.5
    assert obj["features"][0]["properties"]["class"] == "transport"


def test_stac_item(tmp_path):
    item = stac_item("run-1", geometry=shapely.geometry.mapping(shapely.box(35.9, 35.4, 36.0, 35.5)),
                     bbox=[35.9, 35.4, 36.0, 35.5], when=None, epsg=32636,
                     assets={"change": {"href": "change.tif", "type": "image/tiff; application=geotiff; "
                                        "profile=cloud-optimized", "roles": ["data"]}},
                     properties={"posturewatch:version": "0.1.0"})
    p = write_stac_item(tmp_path / "item.json", item)
    back = json.loads(p.read_text())
    for key in ("type", "stac_version", "id", "geometry", "bbox", "properties", "links", "assets"):
        assert key in back
    assert back["properties"]["proj:epsg"] == 32636
    assert back["properties"]["datetime"].endswith("Z")


def _overview(path, factor):
    with rasterio.open(path) as ds:
        assert factor in ds.overviews(1)
        n = -(-ds.height // factor), -(-ds.width // factor)
        return ds.read(1, out_shape=n)


def test_streamed_overviews_are_the_exact_block_means(tmp_path):
    """Tiles of 512 px (the last ones cut by the edge) reduced as they arrive: each overview
    pixel is the mean of the valid pixels of its block, NaN where none is."""
    rng = np.random.default_rng(3)
    data = rng.random((1100, 1300)).astype(np.float32)
    data[:40, :40] = np.nan  # whole blocks of nodata up to level 8
    data[rng.random(data.shape) < 0.05] = np.nan
    p = tmp_path / "score.tif"
    with CogWriter(p, width=1300, height=1100, count=1, dtype="float32", crs="EPSG:32636", transform=T,
                   nodata=float("nan"), compress="zstd", band_names=["score"], tags={"k": "v"}) as w:
        assert w._stream
        for r in range(0, 1100, 512):
            for c in range(0, 1300, 512):
                w.write(Window(c, r, min(512, 1300 - c), min(512, 1100 - r)), data[r:r + 512, c:c + 512])
    assert [f.name for f in tmp_path.iterdir()] == ["score.tif"]
    assert _is_cog(p)
    with rasterio.open(p) as ds:
        assert ds.overviews(1) == [2, 4]
        assert ds.descriptions == ("score",) and ds.tags()["k"] == "v" and np.isnan(ds.nodata)
        np.testing.assert_array_equal(ds.read(1), data)
    for f in (2, 4):
        h, w = -(-1100 // f), -(-1300 // f)
        padded = np.full((h * f, w * f), np.nan, np.float32)
        padded[:1100, :1300] = data
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want = np.nanmean(padded.reshape(h, f, w, f), axis=(1, 3))
        np.testing.assert_allclose(_overview(p, f), want, rtol=1e-6, equal_nan=True)


def test_a_window_off_the_overview_grid_falls_back_to_gdal(tmp_path):
    p = tmp_path / "m.tif"
    data = (np.arange(1000 * 900) % 7 == 0).astype(np.uint8).reshape(900, 1000)
    with CogWriter(p, width=1000, height=900, count=1, dtype="uint8", crs="EPSG:32636", transform=T,
                   nodata=255) as w:
        w.write(Window(0, 0, 1000, 300), data[:300])
        assert w._stream
        w.write(Window(0, 300, 1000, 301), data[300:601])  # 301 rows: off the level-2 grid
        assert not w._stream
        w.write(Window(0, 601, 1000, 299), data[601:])
    assert [f.name for f in tmp_path.iterdir()] == ["m.tif"]
    assert _is_cog(p)
    with rasterio.open(p) as ds:
        assert ds.overviews(1) == [2]
        np.testing.assert_array_equal(ds.read(1), data)


def test_streamed_nearest_overviews_take_each_blocks_centre(tmp_path):
    p = tmp_path / "codes.tif"
    data = np.random.default_rng(0).integers(0, 5, (600, 520), dtype=np.uint8)
    with CogWriter(p, width=520, height=600, count=1, dtype="uint8", crs="EPSG:32636", transform=T,
                   nodata=255) as w:
        w.write(Window(0, 0, 520, 256), data[:256])
        w.write(Window(0, 256, 520, 344), data[256:])
    rows = np.minimum(np.arange(300) * 2 + 1, 599)
    cols = np.minimum(np.arange(260) * 2 + 1, 519)
    np.testing.assert_array_equal(_overview(p, 2), data[rows][:, cols])

