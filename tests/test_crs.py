"""Two dates in different CRSs, and none: boxes and detections move between projections with their
headings, and the whole pipeline compares the objects of a projected and a geographic date in
one metric CRS (before this, the geographic date's detections were matched as if they were in
the other date's CRS, or the run failed); a pair without georeference runs in pixel coordinates,
report included."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from detect.boxes import reproject_boxes
from detect.geoframe import detections_to_crs
from imagery.crs import metric_crs, same_crs, transformer, utm_crs

# Khmeimim sits at 35.95 E, a few kilometres west of the UTM 36/37 zone edge.
Z36, Z37 = "EPSG:32636", "EPSG:32637"


def _north_turn(src: str, dst: str, x: float, y: float) -> float:
    """Clockwise angle (deg) of src's grid north seen in dst, at (x, y)."""
    f = transformer(src, dst)
    (x0, x1), (y0, y1) = f(np.array([x, x]), np.array([y, y + 100.0]))
    return float(np.degrees(np.arctan2(x1 - x0, y1 - y0)))


def test_crs_helpers():
    assert same_crs("EPSG:4326", "epsg:4326") and same_crs(None, None)
    assert not same_crs(Z36, Z37) and not same_crs(None, Z36)
    assert utm_crs(35.95, 35.4) == Z36 and utm_crs(36.05, 35.4) == Z37 and utm_crs(-70, -33) == "EPSG:32719"
    assert metric_crs(Z36, (0, 0, 1, 1)) == Z36
    assert metric_crs("EPSG:4326", (35.9, 35.3, 36.3, 35.5)) == Z37  # centre 36.1 E
    assert metric_crs(None, (0, 0, 1, 1)) is None


def test_reproject_boxes_turns_headings_with_grid_north():
    x, y = 767_300.0, 3_922_800.0  # Khmeimim in zone 36
    boxes = np.array([[x, y, 69.0, 73.0, 30.0], [x + 500, y - 200, 16.0, 3.0, 300.0]])
    moved = reproject_boxes(boxes, Z36, Z37)
    turn = _north_turn(Z36, Z37, x, y)
    assert abs(turn) > 1.0  # the two zones' norths differ by a few degrees here
    np.testing.assert_allclose((moved[:, 4] - boxes[:, 4] - turn + 180) % 360 - 180, 0, atol=0.05)
    np.testing.assert_allclose(moved[:, 2:4], boxes[:, 2:4], rtol=2e-3)  # scale factors
    back = reproject_boxes(moved, Z37, Z36)
    np.testing.assert_allclose(back[:, :4], boxes[:, :4], atol=1e-3)
    np.testing.assert_allclose((back[:, 4] - boxes[:, 4] + 180) % 360 - 180, 0, atol=1e-4)
    assert reproject_boxes(boxes, Z36, "epsg:32636") is not boxes
    np.testing.assert_array_equal(reproject_boxes(boxes, Z36, Z36), boxes)


def test_detections_to_crs_keeps_sizes_and_turns_headings():
    import geopandas as gpd
    import shapely

    from detect.boxes import corners

    b = np.array([[767_300.0, 3_922_800.0, 69.0, 73.0, 30.0]])
    gdf = gpd.GeoDataFrame({"class": ["transport"], "heading_deg": [30.0], "length_m": [69.0],
                            "width_m": [73.0]}, geometry=list(shapely.polygons(corners(b, y_up=True))),
                           crs=Z36)
    out = detections_to_crs(gdf, Z37)
    assert same_crs(out.crs.to_string(), Z37)
    turn = _north_turn(Z36, Z37, b[0, 0], b[0, 1])
    assert abs(out["heading_deg"].iloc[0] - (30.0 + turn)) < 0.05
    assert out["length_m"].iloc[0] == 69.0
    assert detections_to_crs(gdf, Z36) is gdf and detections_to_crs(None, Z37) is None


def _geographic_copy(src_path, dst_path):
    """``src_path`` warped to EPSG:4326 (with its IMD), as some Maxar products are delivered."""
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(src_path) as src:
        t, w, h = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height, *src.bounds)
        prof = src.profile | {"crs": "EPSG:4326", "transform": t, "width": w, "height": h,
                              "driver": "GTiff", "compress": "deflate"}
        with rasterio.open(dst_path, "w", **prof) as dst:
            for i in range(1, src.count + 1):
                reproject(rasterio.band(src, i), rasterio.band(dst, i), resampling=Resampling.cubic)
    shutil.copy(src_path.with_suffix(".IMD"), dst_path.with_suffix(".IMD"))
    return dst_path


@pytest.mark.slow
def test_a_projected_and_a_geographic_date_give_the_same_events(minibase, tmp_path):
    import geopandas as gpd

    from detect.pipeline import RunOptions, run_pair

    a, b = minibase["images"][:2]
    b_geo = _geographic_copy(b, tmp_path / b.name)
    opts = dict(site="minibase", progress=False)
    ref = run_pair(a, b, tmp_path / "projected", RunOptions(report=False, **opts)).report
    mixed = run_pair(a, b_geo, tmp_path / "mixed", RunOptions(**opts)).report
    assert mixed["objects_crs"] == ref["objects_crs"] == "EPSG:32636"
    key = sorted((e["kind"], e["class"]) for e in ref["events"])
    assert key and sorted((e["kind"], e["class"]) for e in mixed["events"]) == key
    for e in mixed["events"]:  # the same places, within a pixel or two of resampling
        near = min(np.hypot(e["x"] - r["x"], e["y"] - r["y"]) for r in ref["events"])
        assert near < 2.0
    layers = {name: gpd.read_file(tmp_path / "mixed" / "detections.gpkg", layer=name)
              for name in ("before", "after", "events")}
    assert all(same_crs(d.crs.to_string(), "EPSG:32636") for d in layers.values())
    ref_after = gpd.read_file(tmp_path / "projected" / "detections.gpkg", layer="after")
    # the AFTER detections of the geographic copy lie on those of the projected original
    big = ref_after[ref_after["class"] == "transport"].geometry.centroid
    got = layers["after"][layers["after"]["class"] == "transport"].geometry.centroid
    assert len(big) and all(got.distance(p).min() < 2.0 for p in big)
    rep = json.loads((tmp_path / "mixed" / "report.json").read_text())
    assert rep["events"] and (tmp_path / "mixed" / "report.html").exists()


def _png_copy(src_path, dst_path):
    """An 8-bit PNG of a scene: no georeference, no metadata (pixel mode)."""
    import rasterio
    from PIL import Image

    with rasterio.open(src_path) as ds:
        a = ds.read([1, 2, 3]).astype(np.float32)
    lo, hi = np.percentile(a, 1), np.percentile(a, 99.5)
    Image.fromarray(np.clip((np.moveaxis(a, 0, -1) - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)).save(dst_path)
    return dst_path


@pytest.mark.slow
def test_a_pixel_mode_pair_runs_end_to_end_with_its_report(minibase, tmp_path):
    """PNGs without georeference: objects in pixel coordinates, and the report's change map is
    drawn without a CRS (GDAL's warper needs one; this used to fail at the report stage)."""
    from detect.pipeline import RunOptions, run_pair

    a, b = (_png_copy(p, tmp_path / f"px_2024-12-1{2 + i}.png") for i, p in enumerate(minibase["images"][:2]))
    rep = run_pair(a, b, tmp_path / "run", RunOptions(progress=False)).report
    assert rep["objects_crs"] is None
    assert rep["events"] and all(e["lon"] is None for e in rep["events"])
    for name in ("report.html", "overlays/change.png", "overlays/event_01.png"):
        assert (tmp_path / "run" / name).exists(), name
