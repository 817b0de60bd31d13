"""Metrics and label readers (hand-made label files, plus the real sets when present)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detect.evaluate import GENERIC, DetectionEvaluator, Truth, average_precision, greedy_match
from detect.labels import load_dataset, read_airbus_csv, read_coco, read_vector_truth, read_yolo_obb
from imagery.taxonomy import CLASSES

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRANSPORT, HELI, AIRLINER = CLASSES.index("transport"), CLASSES.index("helicopter"), CLASSES.index("airliner")


def test_average_precision_reference_values():
    assert average_precision(np.array([0.9, 0.8]), np.array([1, 1]), 2) == pytest.approx(1.0)
    assert average_precision(np.array([0.9, 0.8]), np.array([1, 1]), 4) == pytest.approx(0.5)
    # TP, FP, TP over 2 truths: precision 1 at recall .5, 2/3 at recall 1
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision(np.array([]), np.array([]), 3) == 0.0
    assert np.isnan(average_precision(np.array([0.5]), np.array([0]), 0))


def test_greedy_matching_prefers_real_truth_and_ignores_ignore_regions():
    iou = np.array([[0.8, 0.6], [0.7, 0.0], [0.0, 0.55]])
    tp, skip, match = greedy_match(iou, np.array([0.9, 0.8, 0.7]), np.array([False, True]), 0.5)
    assert list(tp) == [True, False, False] and list(skip) == [False, False, True]
    assert list(match) == [0, -1, 1]


def test_evaluator_classwise_states_and_agnostic():
    truth = Truth(np.array([[50, 50, 60, 60, 0], [200, 50, 20, 20, 90], [50, 200, 60, 60, 45]], float),
                  [TRANSPORT, HELI, AIRLINER], [1, 1, 0], [False, False, False])
    dets = np.array([[51, 50, 60, 58, 2], [200, 51, 20, 20, 90], [300, 300, 10, 10, 0], [50, 200, 60, 60, 45]],
                    float)
    ev = DetectionEvaluator(score_threshold=0.3)
    ev.add(dets, [0.9, 0.8, 0.7, 0.6], [TRANSPORT, HELI, AIRLINER, AIRLINER], [0.9, 0.2, np.nan, np.nan], truth)
    s = ev.summary()
    assert s["per_class"]["transport"]["ap"] == pytest.approx(1.0)
    assert s["per_class"]["helicopter"]["ap"] == pytest.approx(1.0)
    assert s["per_class"]["airliner"]["ap"] == pytest.approx(0.5)  # a false positive scores above it
    assert s["states"]["transport.nose_raised"]["f1"] == pytest.approx(1.0)
    assert s["states"]["helicopter.dismantled"]["f1"] == pytest.approx(0.0)  # predicted nominal
    assert s["states"]["helicopter.dismantled"]["accuracy"] == pytest.approx(0.0)
    # helicopters are left out of the fixed-wing AP: 2 fixed-wing truths, found with one FP between
    assert s["aircraft_truth"] == 2
    assert s["aircraft_ap"] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_axis_aligned_truth_is_only_scored_class_agnostically():
    truth = Truth(np.array([[50, 50, 40, 60, 0], [150, 150, 40, 40, 0]], float), [GENERIC, GENERIC], [0, 0],
                  [False, True], oriented=False)
    # an aircraft at 90 degrees: its envelope is 60 wide, 40 high, like the label
    ev = DetectionEvaluator()
    ev.add(np.array([[50, 50, 60, 40, 90], [150, 150, 40, 40, 0]], float), [0.9, 0.8], [AIRLINER, AIRLINER],
           [np.nan, np.nan], truth)
    s = ev.summary()
    assert s["per_class"] == {} and s["aircraft_truth"] == 1
    assert s["aircraft_ap"] == pytest.approx(1.0)  # the detection on the truncated one is ignored


def _write_jpeg(path: Path, shape=(200, 300)) -> None:
    import cv2

    cv2.imwrite(str(path), np.full((*shape, 3), 128, np.uint8))


def test_airbus_csv_reader(tmp_path):
    (tmp_path / "images").mkdir()
    _write_jpeg(tmp_path / "images" / "a.jpg")
    (tmp_path / "annotations.csv").write_text(
        'id,image_id,geometry,class\n'
        '1,a.jpg,"[(10, 20), (50, 20), (50, 80), (10, 80), (10, 20)]",Airplane\n'
        '2,a.jpg,"[(0, 0), (5, 0), (5, 9), (0, 9), (0, 0)]",Truncated_airplane\n')
    items = load_dataset(tmp_path)
    assert len(items) == 1 and items[0].image.name == "a.jpg"
    t = items[0].truth
    assert not t.oriented and list(t.ignore) == [False, True]
    assert np.allclose(t.envelopes[0], [10, 20, 50, 80])
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    with pytest.raises(Exception, match="not an Airbus"):
        read_airbus_csv(tmp_path / "bad.csv")


def test_yolo_obb_and_coco_readers(tmp_path):
    for sub in ("images/val", "labels/val"):
        (tmp_path / sub).mkdir(parents=True)
    _write_jpeg(tmp_path / "images/val/p1.jpg", (100, 200))
    (tmp_path / "d.yaml").write_text("names:\n  0: plane\n  1: ship\n  2: helicopter\n")
    (tmp_path / "labels/val/p1.txt").write_text(
        "0 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5\n1 0 0 0.1 0 0.1 0.1 0 0.1\n2 0.5 0.5 0.6 0.5 0.6 0.6 0.5 0.6\n")
    items = read_yolo_obb(tmp_path)
    t = items[0].truth
    assert list(t.classes) == [GENERIC, HELI]  # the ship is not ours
    assert np.allclose(t.boxes[0, :4], [40, 30, 40, 40])
    coco = {"images": [{"id": 1, "file_name": "images/val/p1.jpg"}],
            "categories": [{"id": 7, "name": "airplane"}, {"id": 8, "name": "boat"}],
            "annotations": [{"image_id": 1, "category_id": 7, "bbox": [10, 20, 30, 40]},
                            {"image_id": 1, "category_id": 8, "bbox": [0, 0, 5, 5]}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    c = read_coco(tmp_path / "c.json")
    assert np.allclose(c[0].truth.envelopes, [[10, 20, 40, 60]])


def test_vector_truth_round_trip(tmp_path):
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine

    from detect.boxes import corners, transform_boxes
    from imagery.writers import write_vectors

    t = Affine(0.5, 0, 767000, 0, -0.5, 3923000)
    with rasterio.open(tmp_path / "s.tif", "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8",
                       crs="EPSG:32636", transform=t) as ds:
        ds.write(np.zeros((3, 64, 64), np.uint8))
    px = np.array([[20.0, 30.0, 24.0, 16.0, 120.0]])
    mp = transform_boxes(px, t)
    gdf = gpd.GeoDataFrame({"class": ["transport"], "state": ["nose_raised"]},
                           geometry=[shapely.Polygon(corners(mp, y_up=True)[0])], crs="EPSG:32636")
    write_vectors(tmp_path / "truth.geojson", {"truth": gdf})
    item = read_vector_truth(tmp_path / "truth.geojson", tmp_path / "s.tif")
    assert np.allclose(item.truth.boxes, px, atol=1e-4)
    assert list(item.truth.states) == [1] and list(item.truth.classes) == [TRANSPORT]


@pytest.mark.realdata
def test_real_label_sets_parse():
    if not DATA.is_dir():
        pytest.skip("../shared/data not present")
    airbus = load_dataset(DATA / "airbus_aircraft")
    assert len(airbus) == 14
    assert sum(len(it.truth) for it in airbus) == 427
    assert sum(int(it.truth.ignore.sum()) for it in airbus) == 12
    dota = load_dataset(DATA / "dota8")
    planes = sum(int((it.truth.classes == GENERIC).sum()) for it in dota)
    assert planes == 2


def test_synth_folder_reader_uses_the_manifest_and_per_image_truth(tmp_path):
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine

    from detect.boxes import corners, transform_boxes
    from imagery.writers import write_vectors

    t = Affine(0.5, 0, 767000, 0, -0.5, 3923000)
    for name in ("s_2024-12-01.tif", "s_2024-12-13.tif", "change_2024-12-01_2024-12-13.tif"):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8",
                           crs="EPSG:32636", transform=t) as ds:
            ds.write(np.zeros((1, 64, 64), np.uint8))
    px = np.array([[20.0, 30.0, 24.0, 16.0, 10.0], [40.0, 40.0, 20.0, 20.0, 200.0]])
    polys = [shapely.Polygon(c) for c in corners(transform_boxes(px, t), y_up=True)]
    gdf = gpd.GeoDataFrame({"class": ["transport", "helicopter"], "state": [None, "dismantled"],
                            "date": ["2024-12-01", "2024-12-13"],
                            "image": ["s_2024-12-01.tif", "s_2024-12-13.tif"]}, geometry=polys, crs="EPSG:32636")
    write_vectors(tmp_path / "truth.gpkg", {"truth": gdf})
    (tmp_path / "truth.geojson").write_text("{}")
    (tmp_path / "scene.json").write_text(json.dumps({"dates": [
        {"date": "2024-12-01", "image": "s_2024-12-01.tif"}, {"date": "2024-12-13", "image": "s_2024-12-13.tif"}]}))
    items = load_dataset(tmp_path)
    assert [it.image.name for it in items] == ["s_2024-12-01.tif", "s_2024-12-13.tif"]
    assert np.allclose(items[0].truth.boxes, px[:1], atol=1e-3) and list(items[0].truth.states) == [0]
    assert np.allclose(items[1].truth.boxes, px[1:], atol=1e-3) and list(items[1].truth.states) == [1]
