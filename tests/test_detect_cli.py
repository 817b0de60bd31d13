"""``posturewatch detect | eval | train``: arguments, outputs and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from detect.cli import main
from detect.model import CenterNetOBB, ModelConfig, save_weights

TINY = ModelConfig(stem=(8, 16), widths=(16, 24, 32), depths=(1, 1, 1, 1), kernel=3, neck=16, head=16)


@pytest.fixture
def weights(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return save_weights(tmp_path / "w.pt", CenterNetOBB(TINY), gsd_m=0.5, target={})


@pytest.fixture
def geotiff(tmp_path):
    path = tmp_path / "scene.tif"
    data = (np.random.default_rng(0).random((3, 200, 260)) * 255).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=260, height=200, count=3, dtype="uint8",
                       crs="EPSG:32636", transform=Affine(0.5, 0, 767000, 0, -0.5, 3923000)) as ds:
        ds.write(data)
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [e for e in err if e.startswith("posturewatch: error:")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


def test_detect_writes_geopackage_and_geojson(tmp_path, weights, geotiff, capsys):
    import geopandas as gpd

    out = tmp_path / "d.gpkg"
    assert main(["-q", "detect", str(geotiff), "--weights", str(weights), "--out", str(out),
                 "--score-threshold", "0.0", "--device", "cpu"]) == 0
    gdf = gpd.read_file(out, layer="scene")
    assert gdf.crs.to_epsg() == 32636 and len(gdf) > 0
    assert {"class", "state", "score", "heading_deg", "length_m", "width_m"} <= set(gdf.columns)
    gj = tmp_path / "d.geojson"
    assert main(["-q", "detect", str(geotiff), str(geotiff), "--weights", str(weights), "--out", str(gj),
                 "--score-threshold", "0.0"]) == 0
    data = json.loads(gj.read_text())
    assert {f["properties"]["image"] for f in data["features"]} == {"scene", "scene_2"}


def test_detect_bad_input_gives_one_line_errors(tmp_path, weights, geotiff, capsys):
    assert main(["detect", str(geotiff), "--weights", str(tmp_path / "nope.pt"), "--out",
                 str(tmp_path / "x.gpkg")]) == 2
    assert "weights file not found" in _one_line_error(capsys)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(weights.read_bytes()[:1000])
    (tmp_path / "bad.pt.sha256").write_text("0" * 64 + "  bad.pt\n")
    assert main(["detect", str(geotiff), "--weights", str(bad), "--out", str(tmp_path / "x.gpkg")]) == 2
    assert "checksum mismatch" in _one_line_error(capsys)
    assert main(["detect", str(geotiff), "--weights", str(weights), "--out", str(tmp_path / "x.shp")]) == 2
    assert ".gpkg or .geojson" in _one_line_error(capsys)
    two = tmp_path / "two.tif"
    with rasterio.open(two, "w", driver="GTiff", width=64, height=64, count=2, dtype="uint8") as ds:
        ds.write(np.zeros((2, 64, 64), np.uint8))
    assert main(["-q", "detect", str(two), "--weights", str(weights), "--out", str(tmp_path / "x.gpkg")]) == 2
    assert "band" in _one_line_error(capsys)
    assert not (tmp_path / "x.gpkg").exists()  # nothing half-written


def test_eval_prints_metrics_as_json(tmp_path, weights, capsys):
    import cv2

    (tmp_path / "ds" / "images").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "ds" / "images" / "a.jpg"), np.full((128, 160, 3), 120, np.uint8))
    (tmp_path / "ds" / "annotations.csv").write_text(
        'id,image_id,geometry,class\n1,a.jpg,"[(10, 20), (50, 20), (50, 80), (10, 80), (10, 20)]",Airplane\n')
    assert main(["-q", "eval", str(tmp_path / "ds"), "--weights", str(weights), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    res = out["results"][str(tmp_path / "ds")]
    assert res["aircraft_truth"] == 1 and 0.0 <= res["aircraft_ap"] <= 1.0


def test_train_rejects_a_bad_config(tmp_path, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("steps: 10\nbatch_sise: 4\n")
    assert main(["train", "--config", str(cfg)]) == 2
    assert "batch_sise" in _one_line_error(capsys)
