"""Sliced inference: tiling, border objects, georeferencing, resampling and bad input.

These tests use an *oracle* model that finds bright square blobs exactly (no learning), so
they test the Detector's plumbing, not the network: each blob is 12 px square and centred on a
stride-4 cell centre, so a correct pipeline must return every blob once, at its exact centre.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F  # noqa: N812
from affine import Affine
from torch import nn

from detect.infer import Detector, choose_tiling
from detect.targets import NUM_CLASSES, NUM_STATES, REG_CHANNELS
from imagery.errors import InputError, NoOverlapError
from imagery.grid import TileGrid
from imagery.scene import open_scene

UTM = Affine(0.5, 0.0, 767_000.0, 0.0, -0.5, 3_923_000.0)
BLOB = 12


class BlobModel(nn.Module):
    """Heat peaks at the centre cell of every bright 12 px blob (class 0), box 12 x 12 px,
    heading 0, state probability 0.9."""

    def __init__(self) -> None:
        super().__init__()

        class _Cfg:
            stride = 4

        self.config = _Cfg()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        g = x.float().mean(1, keepdim=True) / 255.0
        k = torch.tensor([0.25, 0.5, 0.25])
        blur = F.conv2d(F.avg_pool2d(g, 4), (k[:, None] * k[None, :])[None, None], padding=1)
        heat = 20 * (blur - 0.5)
        b, _, h, w = heat.shape
        reg = torch.zeros(b, REG_CHANNELS, h, w)
        reg[:, 2:4] = math.log(BLOB / 4)
        reg[:, 5] = 1.0  # heading 0: cos h = 1 ...
        reg[:, 7] = 1.0  # ... and cos 2h = 1
        return {"heat": torch.cat([heat, torch.full((b, NUM_CLASSES - 1, h, w), -20.0)], 1),
                "reg": reg, "state": torch.full((b, NUM_STATES, h, w), 2.2)}


def blob_image(shape: tuple[int, int], centres: list[tuple[int, int]], *, value: int = 255,
               bands: int = 3, dtype=np.uint8, scale: int = 1) -> np.ndarray:
    img = np.zeros((bands, *shape), dtype)
    half = BLOB * scale // 2
    for cx, cy in centres:
        img[:, cy - half:cy + half, cx - half:cx + half] = value
    return img


def write_tif(path, img: np.ndarray, transform: Affine | None = UTM, crs: str | None = "EPSG:32636") -> str:
    kw = {"crs": crs, "transform": transform} if crs else {}
    with rasterio.open(path, "w", driver="GTiff", width=img.shape[2], height=img.shape[1],
                       count=img.shape[0], dtype=img.dtype, **kw) as ds:
        ds.write(img)
    return str(path)


def oracle(**overrides) -> Detector:
    # the blobs are 6 m "transports": no length gate on their state (state_min_length_m)
    cfg = {"tile_size": 256, "overlap": 32, "score_threshold": 0.3, "state_min_length_m": {}}
    cfg.update(overrides)
    return Detector(model=BlobModel(), gsd_m=0.5, device="cpu", **cfg)


def centres_px(gdf, transform: Affine = UTM) -> np.ndarray:
    cs = np.array([[g.centroid.x, g.centroid.y] for g in gdf.geometry]).reshape(-1, 2)
    cols, rows = ~transform @ (cs[:, 0], cs[:, 1])
    return np.column_stack([cols, rows])


def _cell_centre(v: float) -> int:
    return int(4 * round((v - 2) / 4) + 2)


def test_tile_border_objects_are_found_exactly_once(tmp_path):
    shape = (700, 900)
    det = oracle()
    tile = choose_tiling(shape[1], shape[0], 256, 32)
    grid = TileGrid(__import__("imagery.grid", fromlist=["GridSpec"]).GridSpec("EPSG:32636", UTM, 900, 700),
                    tile, 32)
    assert len(grid) > 4
    core = grid.core_size
    centres = []
    for k in range(1, 900 // core):  # across every vertical core border, on both sides
        for dx, y in ((-6, 60), (6, 130), (-2, 330), (2, 400)):
            centres.append((_cell_centre(k * core + dx), _cell_centre(y)))
    for k in range(1, 700 // core):
        centres.append((_cell_centre(460), _cell_centre(k * core - 2)))
        centres.append((_cell_centre(k * core + 2), _cell_centre(k * core + 2)))  # a 4-tile corner
    centres = sorted(set(centres))
    path = write_tif(tmp_path / "blobs.tif", blob_image(shape, centres))
    gdf = det.run(path)
    found = centres_px(gdf)
    assert len(gdf) == len(centres)
    for cx, cy in centres:
        assert np.min(np.hypot(found[:, 0] - cx, found[:, 1] - cy)) < 1e-6


def test_georeferenced_output_lands_in_the_right_place(tmp_path):
    import geopandas as gpd

    from detect.commands.detect import write_detections

    centres = [(42, 42), (402, 202), (602, 598)]
    path = write_tif(tmp_path / "geo.tif", blob_image((640, 640), centres))
    gdf = oracle().run(path)
    assert gdf.crs.to_epsg() == 32636
    assert set(gdf.columns) >= {"class", "state", "score", "heading_deg", "length_m", "width_m", "geometry"}
    assert np.allclose(gdf["length_m"], BLOB * 0.5) and np.allclose(gdf["heading_deg"] % 360, 0)
    assert set(gdf["class"]) == {"transport"} and set(gdf["state"]) == {"nose_raised"}
    write_detections(tmp_path / "d.gpkg", {"geo": gdf})
    write_detections(tmp_path / "d.geojson", {"geo": gdf})
    back = gpd.read_file(tmp_path / "d.gpkg", layer="geo")
    assert back.crs.to_epsg() == 32636
    got = centres_px(back)
    for cx, cy in centres:
        assert np.min(np.hypot(got[:, 0] - cx, got[:, 1] - cy)) < 1e-6
    # the polygon's first corner is the nose-left one: for heading 0 that is the north-west corner
    x0, y0 = UTM @ (42 - 6, 42 - 6)
    first = [np.asarray(g.exterior.coords)[0] for g in back.geometry]
    assert any(np.allclose(f, (x0, y0)) for f in first)
    gj = json.loads((tmp_path / "d.geojson").read_text())
    assert "crs" not in gj and len(gj["features"]) == 3
    lon, lat = np.asarray(gj["features"][0]["geometry"]["coordinates"][0]).mean(axis=0)
    assert 35.8 < lon < 36.1 and 35.3 < lat < 35.5  # Khmeimim, UTM 36N


def test_pixel_mode_input_at_another_gsd_is_resampled(tmp_path):
    import cv2

    centres = [(100, 100), (300, 180)]  # blobs of 24 px at 0.25 m = 12 px at the model's 0.5 m
    img = blob_image((400, 480), centres, scale=2)[0]
    path = tmp_path / "fine.png"
    cv2.imwrite(str(path), img)
    with pytest.warns(UserWarning, match="georeference"):
        gdf = oracle().run(str(path), gsd=0.25)
    assert gdf.crs is None
    assert len(gdf) == 2
    assert np.allclose(gdf["length_m"], 6.0)
    got = np.array([[g.centroid.x, g.centroid.y] for g in gdf.geometry])
    for cx, cy in centres:
        assert np.min(np.hypot(got[:, 0] - cx, got[:, 1] - cy)) < 1.0


def test_sixteen_bit_input_without_metadata_uses_the_dra_fallback(tmp_path):
    centres = [(102, 102), (302, 182)]
    img = blob_image((320, 400), centres, value=1800, dtype=np.uint16)
    img = img + np.uint16(200)  # 11-bit-like values, nothing says how to display them
    path = write_tif(tmp_path / "u16.tif", img)
    gdf = oracle().run(path)
    assert len(gdf) == 2


def test_image_smaller_than_a_tile_and_aoi_handling(tmp_path):
    import shapely

    small = write_tif(tmp_path / "small.tif", blob_image((90, 70), [(30, 42)]))
    assert len(oracle(tile_size=1024, overlap=96).run(small)) == 1
    big = write_tif(tmp_path / "aoi.tif", blob_image((400, 400), [(62, 62), (302, 302)]))
    x0, y0 = UTM @ (248, 248)  # keeps the blob on a cell centre of the cropped grid
    x1, y1 = UTM @ (400, 400)
    gdf = oracle().run(big, aoi=shapely.box(x0, y1, x1, y0))
    assert len(gdf) == 1
    with pytest.raises(InputError, match="empty"):
        oracle().run(big, aoi=shapely.Polygon())
    with pytest.raises(NoOverlapError):
        oracle().run(big, aoi=shapely.box(0, 0, 10, 10))


def test_an_aoi_keeps_the_model_lattice_of_the_whole_image(tmp_path):
    """A strided network scores an object by where it falls on its stride grid, so an AOI must
    not shift that grid: the crop starts on the whole image's 32 px lattice, and an AOI drawn
    at an odd offset returns the object exactly as the whole-image run does."""
    import shapely

    path = write_tif(tmp_path / "odd.tif", blob_image((400, 400), [(62, 62), (302, 302)]))
    det = oracle()
    x0, y0 = UTM @ (251, 237)  # an origin off the stride-4 cells
    x1, y1 = UTM @ (400, 400)
    aoi = shapely.box(x0, y1, x1, y0)
    whole = det.model_grid(open_scene(path)).grid.transform
    part = det.model_grid(open_scene(path), aoi).grid.transform
    col, row = ~whole @ (part.c, part.f)
    assert (col, row) == (224, 224)
    ref = det.run(path)
    got = det.run(path, aoi=aoi)
    assert len(ref) == 2 and len(got) == 1
    far = ref.geometry.centroid.x.idxmax()
    assert got.geometry.iloc[0].centroid.distance(ref.geometry.iloc[far].centroid) < 1e-6
    assert got["score"].iloc[0] == ref["score"].iloc[far]
    # the diagnostic phase moves the lattice, not the objects (8 px keeps the oracle's cells)
    shifted = oracle(grid_phase_px=8)
    grid = shifted.model_grid(open_scene(path)).grid
    assert (grid.width, grid.height) == (408, 408) and (~whole @ (grid.transform.c, grid.transform.f)) == (-8, -8)
    moved = shifted.run(path)
    assert len(moved) == 2
    assert np.allclose(np.sort(moved.geometry.centroid.x), np.sort(ref.geometry.centroid.x))


def test_wrong_band_count_is_one_clear_error(tmp_path):
    two = write_tif(tmp_path / "two.tif", np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(InputError, match="2 data band"):
        oracle().run(two)


def test_choose_tiling_wastes_little_and_respects_the_model_stride():
    for w, h in ((4096, 4096), (900, 700), (100, 60), (10000, 3000)):
        t = choose_tiling(w, h, 1024, 96)
        assert t % 32 == 0 and t - 192 >= 16
        core = t - 192
        processed = math.ceil(w / core) * math.ceil(h / core) * t * t
        assert processed < 2.2 * max(w * h, t * t)
    assert choose_tiling(4096, 4096, 1024, 96) - 192 >= 1024 - 192  # not tiny tiles for a big scene


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cpu_and_cuda_give_the_same_detections(tmp_path):
    from detect.model import CenterNetOBB, ModelConfig

    torch.manual_seed(0)
    model = CenterNetOBB(ModelConfig()).eval()
    img = (np.random.default_rng(0).random((3, 512, 512)) * 255).astype(np.uint8)
    path = write_tif(tmp_path / "r.tif", img)
    res = {}
    for dev in ("cpu", "cuda"):
        m = CenterNetOBB(ModelConfig()).eval()
        m.load_state_dict(model.state_dict())
        d = Detector(model=m, gsd_m=0.5, device=dev, score_threshold=0.0)
        res[dev] = d.detect_scene(path).decoded
    a, b = res["cpu"], res["cuda"]
    top_a = np.sort(a.scores)[::-1][:20]
    top_b = np.sort(b.scores)[::-1][:20]
    assert np.allclose(top_a, top_b, atol=2e-2)  # fp16 autocast on CUDA


def test_heat_flips_average_the_mirrored_heat_maps_and_keep_the_boxes(tmp_path):
    """``heat_flips``: the class heat map is the mean probability over the tile as it is,
    mirrored left-right and upside down (each flipped back); boxes come from the plain pass."""
    from detect.infer import SHIPPED_WEIGHTS

    plain = Detector(SHIPPED_WEIGHTS, device="cpu")
    flipped = Detector(SHIPPED_WEIGHTS, device="cpu", heat_flips=["h", "v"])
    x = (torch.rand(1, 3, 128, 160) * 255).to(torch.uint8)
    with torch.inference_mode():
        out = flipped.forward(x)
        ref = plain.model(x)
        h = (ref["heat"].sigmoid() + plain.model(x.flip(-1))["heat"].sigmoid().flip(-1)
             + plain.model(x.flip(-2))["heat"].sigmoid().flip(-2)) / 3
    torch.testing.assert_close(out["heat"].sigmoid(), h, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out["reg"], ref["reg"])
    assert not torch.allclose(ref["heat"].sigmoid(), h, atol=1e-3)  # the mirrors did count
    # blobs (a flip-symmetric oracle) are found at the same places with and without flips
    img = blob_image((512, 512), [(100, 100), (300, 420)])
    path = write_tif(tmp_path / "blobs.tif", img)
    a, b = oracle().run(path), oracle(heat_flips=["h", "v"]).run(path)
    np.testing.assert_allclose(np.sort(centres_px(a), 0), np.sort(centres_px(b), 0), atol=0.5)


def test_tile_stretch_fits_each_tile_on_its_own_pixels():
    """``tile_stretch``: a dim tile and a bright one each fill the 8-bit range, and the balance
    pulls the bands' clip points towards their mean (as the training chips' display_8bit)."""
    from detect.infer import _StretchedSource, tile_stretch
    from imagery.radiometry import DisplayStretch

    rng = np.random.default_rng(0)
    dim = rng.integers(100, 200, (3, 64, 64)).astype(np.uint16)
    dim[2] += 100  # a blue cast
    valid = np.ones((64, 64), bool)
    s0, s1 = tile_stretch(dim, valid, 0.0), tile_stretch(dim, valid, 1.0)
    assert s0.low[2] > s0.low[0] + 50  # each band on its own
    assert s1.low[0] == s1.low[2] and s1.high[0] == s1.high[2]  # one common stretch
    assert tile_stretch(dim, np.zeros((64, 64), bool), 0.5) is None  # too few valid pixels

    class Source:
        grid, bands = None, (1, 2, 3)

        def __init__(self, data):
            self.data = data

        def read(self, window, out_shape=None):
            return self.data.copy(), valid.copy()

    scene_wide = DisplayStretch(low=(0.0,) * 3, high=(2047.0,) * 3)
    for data in (dim, dim * 8):
        out, _ = _StretchedSource(Source(data), scene_wide, tile_balance=0.0).read(None)
        assert out[0].std() > 40 and out[0].max() > 200  # the tile's own range fills the bytes
        flat, _ = _StretchedSource(Source(data), scene_wide).read(None)
        assert flat[0].std() < out[0].std()
