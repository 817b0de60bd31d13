"""TileGrid cores, edge padding, AOI clipping and the bounded background reader."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio.windows import Window

from imagery.aoi import load_aoi
from imagery.errors import NoOverlapError
from imagery.grid import GridSpec, TileGrid
from imagery.reader import iter_tiles
from imagery.samples import write_sample_scene
from imagery.scene import open_scene
from imagery.sources import source_on_grid


@pytest.mark.parametrize(("w", "h", "size", "overlap"),
                         [(1000, 700, 256, 32), (256, 256, 256, 0), (97, 1203, 128, 16), (50, 40, 512, 64)])
def test_cores_cover_every_pixel_exactly_once(w, h, size, overlap):
    grid = TileGrid(GridSpec("EPSG:32636", Affine(0.5, 0, 0, 0, -0.5, 0), w, h), size, overlap)
    assert (grid.core_coverage() == 1).all()
    for t in grid:
        assert t.shape == (size, size)  # edge tiles are padded, never shrunk
        rs, cs = t.core_slices
        assert rs.start == overlap and cs.start == overlap
        assert t.transform == grid.grid.transform @ Affine.translation(t.window.col_off, t.window.row_off)


def test_aoi_keeps_only_tiles_that_meet_it():
    g = GridSpec("EPSG:32636", Affine(1.0, 0, 1000.0, 0, -1.0, 5000.0), 1000, 1000)
    aoi = shapely.box(1100, 4700, 1250, 4850)  # map coords
    grid = TileGrid(g, 256, 28, aoi=aoi)
    assert 1 <= len(grid) <= 4
    for t in grid:
        mask = grid.aoi_mask(t)
        assert mask.shape == t.shape
    total = sum(grid.aoi_mask(t)[t.core_slices].sum() for t in grid)
    assert total == pytest.approx(150 * 150, rel=0.02)
    with pytest.raises(NoOverlapError):
        TileGrid(g, 256, 28, aoi=shapely.box(0, 0, 10, 10))


def test_lonlat_aoi_is_reprojected(tmp_path):
    import json
    p = write_sample_scene(tmp_path / "a.tif", size=256)
    s = open_scene(p)
    left, bottom, right, top = s.meta.bounds
    from pyproj import Transformer
    tr = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)
    lon0, lat0 = tr.transform(left + 20, bottom + 20)
    lon1, lat1 = tr.transform(left + 60, bottom + 60)
    gj = tmp_path / "aoi.geojson"
    gj.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(
        shapely.box(lon0, lat0, lon1, lat1))}))
    geom = load_aoi(gj, "EPSG:32636")
    assert geom.area == pytest.approx(40 * 40, rel=0.05)


def test_reader_yields_in_order_and_skips_nodata_tiles(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=300)
    s = open_scene(p)
    g = GridSpec(s.meta.crs, s.meta.transform, s.meta.width, s.meta.height)
    # A grid twice as wide as the image: the right-hand tiles have no data at all.
    wide = GridSpec(g.crs, g.transform, 600, 300)
    grid = TileGrid(wide, 128, 14)
    src = source_on_grid(s, wide)
    got = list(iter_tiles(grid, [src], workers=2, prefetch=3))
    idx = [td.tile.index for td in got]
    assert idx == sorted(idx)
    assert all(td.tile.window.col_off < 300 for td in got)
    assert len(got) < len(grid)
    # Reading through the reader equals a direct read.
    td = got[0]
    direct, _ = s.read(td.tile.window)
    np.testing.assert_array_equal(td.arrays[0], direct)


class _CountingSource:
    """A fake source that records how many reads are in flight or buffered."""

    def __init__(self) -> None:
        self.grid = GridSpec(None, Affine.identity(), 4096, 4096)
        self.bands = (1,)
        self.started = 0
        self.lock = threading.Lock()

    def read(self, window: Window, out_shape=None):
        with self.lock:
            self.started += 1
        time.sleep(0.002)
        h, w = int(window.height), int(window.width)
        return np.zeros((1, h, w), np.uint8), np.ones((h, w), bool)


def test_reader_memory_is_bounded_by_prefetch():
    src = _CountingSource()
    grid = TileGrid(src.grid, 256, 0)
    it = iter_tiles(grid, [src], workers=2, prefetch=4)
    consumed = 0
    for _ in it:
        consumed += 1
        time.sleep(0.005)  # a slow consumer
        assert src.started - consumed <= 4
        if consumed == 20:
            break
    it.close()
    assert src.started <= 24


def test_block_cache_decodes_each_block_once_and_matches_direct_reads(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=700)  # 256 px blocks
    s = open_scene(p)
    g = GridSpec(s.meta.crs, s.meta.transform, s.meta.width, s.meta.height)
    src = source_on_grid(s, g)
    grid = TileGrid(g, 256, 40)
    for td in iter_tiles(grid, [src], workers=2, prefetch=3):
        direct, valid = s.read(td.tile.window)
        np.testing.assert_array_equal(td.arrays[0], direct)
        np.testing.assert_array_equal(td.valid, valid)
    n_blocks = src.cache.n_rows * src.cache.n_cols
    assert src.cache.decoded == n_blocks  # overlap costs no extra decoding


def test_window_around_map_bounds():
    grid = GridSpec("EPSG:32636", Affine(0.5, 0, 1000, 0, -0.5, 2000), 100, 80)
    assert grid.window_around((1010.2, 1980.0, 1015.0, 1990.1)) == Window(20, 19, 10, 21)
    assert grid.window_around((1010.2, 1980.0, 1015.0, 1990.1), pad=1) == Window(19, 18, 12, 23)
    assert grid.window_around((990.0, 1999.0, 1001.0, 2010.0), pad=3) == Window(0, 0, 5, 5)  # clipped
    assert grid.window_around((2000.0, 3000.0, 2010.0, 3010.0)) is None  # off the grid


def test_thread_map_keeps_order_and_raises():
    from imagery.reader import thread_map

    assert thread_map(lambda x: x * x, range(7), workers=3) == [x * x for x in range(7)]
    assert thread_map(str, [], workers=2) == []

    def boom(x):
        if x == 2:
            raise ValueError("window 2 unreadable")
        return x

    with pytest.raises(ValueError, match="window 2"):
        thread_map(boom, range(4), workers=2)


def test_block_cache_reads_small_vrt_blocks_in_chunks(tmp_path):
    """A VRT reports 128 px blocks: the cache reads whole 512 px chunks of them (per-block
    overhead doubled the stream of a 10000^2 pair), and tiles still match direct reads."""
    import rasterio

    p = write_sample_scene(tmp_path / "a.tif", size=700)
    with rasterio.open(p) as ds:
        t, crs, n, dtype = ds.transform, ds.crs.to_wkt(), ds.count, ds.dtypes[0]
    gdal_type = {"uint8": "Byte", "uint16": "UInt16"}[dtype]
    bands = "".join(
        f'<VRTRasterBand dataType="{gdal_type}" band="{b}"><SimpleSource>'
        f'<SourceFilename relativeToVRT="0">{p}</SourceFilename><SourceBand>{b}</SourceBand>'
        '<SrcRect xOff="0" yOff="0" xSize="700" ySize="700"/>'
        '<DstRect xOff="0" yOff="0" xSize="700" ySize="700"/></SimpleSource></VRTRasterBand>'
        for b in range(1, n + 1))
    vrt = tmp_path / "a.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="700" rasterYSize="700"><SRS>{crs}</SRS>'
                   f"<GeoTransform>{t.c}, {t.a}, {t.b}, {t.f}, {t.d}, {t.e}</GeoTransform>"
                   f"{bands}</VRTDataset>")
    s = open_scene(vrt)
    g = GridSpec(s.meta.crs, s.meta.transform, s.meta.width, s.meta.height)
    src = source_on_grid(s, g)
    assert s.dataset().block_shapes[0] == (128, 128)
    assert (src.cache.block_h, src.cache.block_w) == (512, 512)
    for td in iter_tiles(TileGrid(g, 256, 40), [src], workers=2, prefetch=3):
        direct, valid = open_scene(p).read(td.tile.window)
        np.testing.assert_array_equal(td.arrays[0], direct)
    assert src.cache.decoded == 4  # 2 x 2 chunks, each once


def test_warmup_decodes_the_top_rows_within_budget_and_the_stream_decodes_nothing_twice(tmp_path):
    from imagery.blocks import Warmup

    p = write_sample_scene(tmp_path / "a.tif", size=700)  # 256 px blocks: 3 x 3
    s = open_scene(p)
    g = GridSpec(s.meta.crs, s.meta.transform, s.meta.width, s.meta.height)
    src = source_on_grid(s, g)
    cache = src.cache
    warm = Warmup([(cache, Window(0, 0, 700, 700))], max_bytes=cache.n_cols * cache.block_bytes)
    assert warm.wait(timeout=30)
    assert warm.stop() == cache.n_cols
    assert sorted(cache._blocks) == [(0, c) for c in range(cache.n_cols)]  # the top row only
    for td in iter_tiles(TileGrid(g, 256, 40), [src], workers=2, prefetch=3):
        direct, _ = s.read(td.tile.window)
        np.testing.assert_array_equal(td.arrays[0], direct)
    assert cache.decoded == cache.n_rows * cache.n_cols  # each block once, warmed or not


def test_every_reader_of_a_scene_shares_its_block_cache(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=300)
    s = open_scene(p)
    g = GridSpec(s.meta.crs, s.meta.transform, s.meta.width, s.meta.height)
    plain, shifted = source_on_grid(s, g), source_on_grid(s, g, shift_px=(0.4, -0.3))
    assert plain.cache is shifted.cache
    assert source_on_grid(s, g, bands=(1, 2)).cache is not plain.cache  # other bands, own cache
