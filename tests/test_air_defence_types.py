"""The second-stage air-defence type classifier: a tiny training run learns and writes it into
the weights file without touching the detection networks (so runs keep their detections), the
change stage's reader averages both dates, and crops are labelled by type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detect.infer import SHIPPED_WEIGHTS, Detector
from detect.model import load_weights, save_weights
from detect.state_net import StateNet, state_net_payload
from detect.type_net import air_defence_net_config, air_defence_rows
from detect.type_train import TypeTrainConfig, chip_air_defence_crops, train_type
from imagery.taxonomy import AIR_DEFENCE_TYPES, CLASSES

SAM, VEH = CLASSES.index("sam"), CLASSES.index("vehicle")


def _toy(n, rng, size):
    """Five types told apart by where a bright block sits along the crop."""
    crops = rng.integers(60, 120, (n, 3, size, size)).astype(np.uint8)
    labels = rng.integers(0, len(AIR_DEFENCE_TYPES), n)
    for k in range(len(AIR_DEFENCE_TYPES)):
        r = 2 + k * (size - 8) // len(AIR_DEFENCE_TYPES)
        crops[labels == k, :, r:r + 5, size // 2 - 3:size // 2 + 3] = 250
    return {"crops": crops, "labels": labels, "sizes": rng.normal(0, 0.1, (n, 2)).astype(np.float32)}


def test_a_tiny_training_run_learns_and_keeps_the_detections(tmp_path, shipped_copy):
    base_path = shipped_copy
    rng = np.random.default_rng(0)
    cfg = TypeTrainConfig(family="air_defence", out=str(tmp_path / "run"), detector=str(base_path),
                          steps=200, batch_size=32, net={"crop_px": 32, "widths": (8, 16, 24, 32), "hidden": 16})
    result = train_type(cfg, progress=False, crops=_toy(400, rng, 32), val_crops=_toy(150, rng, 32))
    assert result["val"]["classes"] == list(AIR_DEFENCE_TYPES)
    assert result["val"]["accuracy"] > 0.9
    assert all(0.0 <= v["precision"] <= 1.0 for v in result["val"]["per_class"].values())
    base, loaded = load_weights(base_path), load_weights(tmp_path / "run" / "detector.pt")
    assert loaded.air_defence_net is not None and loaded.type_net is not None and loaded.state_net is not None
    # a network only the change stage reads: the file is new, its detections are the base's
    assert loaded.sha256 != base.sha256 and loaded.detection_sha256 == base.detection_sha256
    # a second stage the detections depend on makes them the new file's own again
    from detect.state_train import write_second_stage

    again = write_second_stage(loaded, tmp_path / "again", "type_net",
                               StateNet(air_defence_net_config(crop_px=32)), {}, {}, {}, None)
    redone = load_weights(again["weights"])
    assert redone.detection_sha256 == redone.sha256 != base.detection_sha256


def _scene(path, image):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=image.shape[1], height=image.shape[0], count=3,
                       dtype="uint8", crs="EPSG:32636", transform=from_origin(500000.0, 3920000.0, 0.5, 0.5)) as ds:
        ds.write(image.transpose(2, 0, 1))
    return path


def test_the_change_stage_reader_averages_both_dates(tmp_path):
    """The type read at a map box is the mean of each date's reading; NaN off the image, and
    for weights without the network."""
    from imagery.synth.chips import ChipStream

    base = load_weights(SHIPPED_WEIGHTS)
    torch.manual_seed(1)
    net = StateNet(air_defence_net_config(crop_px=32)).eval()  # untrained: its readings differ by crop
    path = tmp_path / "detector.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, info=base.info,
                 **{**base.second_stages(), "air_defence_net": state_net_payload(net)})
    det = Detector(path, device="cpu")
    twin = ChipStream(256, seed=3, themes=(("state_study", 1.0),), gsd=(0.5, 0.5), p_gsd_wide=0.0).twin(1)
    a, b = _scene(tmp_path / "a.tif", twin.image_a), _scene(tmp_path / "b.tif", twin.image_b)
    boxes = np.array([[500000 + 64.0, 3920000 - 64.0, 13.0, 3.1, 30.0],   # on the image
                      [400000.0, 3800000.0, 13.0, 3.1, 0.0]])             # far off it
    pair = det.read_air_defence_types(a, b, boxes)
    assert pair.shape == (2, len(AIR_DEFENCE_TYPES)) and pair[0].sum() == pytest.approx(1.0)
    one_a, one_b = det.read_air_defence_types(a, a, boxes[:1]), det.read_air_defence_types(b, b, boxes[:1])
    assert not np.allclose(one_a, one_b)
    np.testing.assert_allclose(pair[:1], (one_a + one_b) / 2, atol=1e-6)
    assert np.isnan(pair[1]).all()
    np.testing.assert_allclose(det.read_air_defence_types(a, None, boxes[:1]), one_a, atol=1e-6)
    # detections: each launcher named from its own date, other classes left empty
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame({"class": ["sam", "transport"], "length_m": [13.0, 40.0], "width_m": [3.1, 40.0],
                            "heading_deg": [30.0, 0.0]},
                           geometry=[shapely.Point(boxes[0, 0], boxes[0, 1]).buffer(3.0),
                                     shapely.Point(boxes[0, 0] + 40, boxes[0, 1]).buffer(3.0)], crs="EPSG:32636")
    named = det.name_air_defence(gdf, a)
    assert named["equipment"].iloc[0] == AIR_DEFENCE_TYPES[int(one_a[0].argmax())]
    assert named["equipment_probability"].iloc[0] == pytest.approx(one_a[0].max(), abs=1e-3)
    assert named[["equipment", "equipment_probability"]].iloc[1].isna().all()
    assert "equipment" not in gdf  # a copy
    without = tmp_path / "without.pt"
    save_weights(without, base.model, gsd_m=base.gsd_m, target=base.target, info=base.info,
                 **{**base.second_stages(), "air_defence_net": None})
    plain = Detector(without, device="cpu")
    assert np.isnan(plain.read_air_defence_types(a, b, boxes[:1])).all()
    assert "equipment" not in plain.name_air_defence(gdf, a)


def test_crops_are_labelled_by_air_defence_type():
    from detect.state_train import JitterSection, NetSection
    from imagery.synth.chips import ChipStream

    assert air_defence_rows([SAM, SAM, VEH, SAM], ["91N6E", "truck", "91N6E", "Pantsir-S1"]).tolist() == [
        AIR_DEFENCE_TYPES.index("91N6E"), -1, -1, AIR_DEFENCE_TYPES.index("Pantsir-S1")]
    chip = ChipStream(512, seed=1, themes=(("sam_site", 1.0),)).chip(0)
    out = chip_air_defence_crops(chip, np.random.default_rng(0), NetSection(crop_px=40), JitterSection(), 2)
    n_sam = int((np.asarray(chip.classes) == SAM).sum())
    assert 0 < len(out["labels"]) <= 2 * n_sam and out["crops"].shape[1:] == (3, 40, 40)
    assert set(out["labels"].tolist()) <= set(range(len(AIR_DEFENCE_TYPES)))


def test_chips_without_air_defence_equipment_are_one_clear_error(tmp_path, shipped_copy):
    from imagery.errors import InputError

    empty = {"crops": np.zeros((0, 3, 32, 32), np.uint8), "labels": np.zeros(0, np.int64),
             "sizes": np.zeros((0, 2), np.float32)}
    cfg = TypeTrainConfig(family="air_defence", out=str(tmp_path / "run"), detector=str(shipped_copy),
                          steps=1, net={"crop_px": 32})
    with pytest.raises(InputError, match="no air-defence equipment in the training chips"):
        train_type(cfg, progress=False, crops=empty, val_crops=empty)


def test_the_report_counts_each_class_and_the_surely_named_equipment():
    import geopandas as gpd

    from detect.pipeline import inventory
    from detect.report import render_html

    gdf = gpd.GeoDataFrame({"class": ["sam", "sam", "sam", "transport"],
                            "equipment": ["91N6E", "91N6E", "S-400 TEL", None],
                            "equipment_probability": [0.9, 0.4, 0.7, np.nan]}, geometry=[None] * 4)
    counts = inventory(gdf, 0.5)
    assert counts == {"91N6E": 1, "S-400 TEL": 1, "sam, type unsure": 1, "transport": 1}
    assert inventory(gdf.drop(columns=["equipment", "equipment_probability"]), 0.5) == {"sam": 3, "transport": 1}
    assert inventory(None, 0.5) is None and inventory(gdf.iloc[:0], 0.5) == {}
    page = render_html({"inventory": {"before": counts, "after": {"transport": 2}}}, {})
    assert 'id="inventory"' in page and "<td>91N6E</td><td>1</td><td>0</td>" in page
    assert 'id="inventory"' not in render_html({}, {})
