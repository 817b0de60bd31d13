"""The shipped weights: they load (checksum verified), stay within the size budget, and find the
objects of small generated scenes written as georeferenced GeoTIFFs."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from detect.boxes import rotated_iou_matrix, transform_boxes
from detect.infer import SHIPPED_WEIGHTS, Detector
from detect.model import checksum_path, load_weights
from imagery.taxonomy import CLASSES

UTM = Affine(0.5, 0.0, 767_000.0, 0.0, -0.5, 3_923_000.0)


def test_shipped_weights_load_and_fit_the_budget():
    assert SHIPPED_WEIGHTS.is_file(), "detect/weights/detector.pt must ship with the package"
    assert SHIPPED_WEIGHTS.stat().st_size <= 20 * 2**20
    assert checksum_path(SHIPPED_WEIGHTS).is_file()
    w = load_weights(SHIPPED_WEIGHTS)
    assert w.gsd_m == 0.5
    assert (SHIPPED_WEIGHTS.parent / "MODEL_CARD.md").is_file()


@pytest.mark.slow
def test_shipped_weights_find_the_objects_of_a_generated_scene(tmp_path):
    from imagery.synth.chips import ChipStream

    det = Detector(device="cpu")
    stream = ChipStream(size=640, seed=4242, gsd=(0.5, 0.5), p_gsd_wide=0.0)
    found = total = found_aircraft = total_aircraft = 0
    fixed_wing = [CLASSES.index(c) for c in ("transport", "fighter", "airliner")]
    for i in range(4):
        chip = stream.chip(i)
        path = tmp_path / f"chip{i}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=640, height=640, count=3, dtype="uint8",
                           crs="EPSG:32636", transform=UTM) as ds:
            ds.write(chip.image.transpose(2, 0, 1))
        gdf = det.run(str(path))
        assert gdf.crs.to_epsg() == 32636
        truth_map = transform_boxes(chip.boxes, UTM)
        inside = (chip.boxes[:, 0] > 40) & (chip.boxes[:, 0] < 600) & (chip.boxes[:, 1] > 40) & \
            (chip.boxes[:, 1] < 600)
        if not inside.any():
            continue
        from detect.boxes import boxes_from_corners

        pred = boxes_from_corners(np.stack([np.asarray(g.exterior.coords)[:4] for g in gdf.geometry]),
                                  y_up=True) if len(gdf) else np.zeros((0, 5))
        iou = rotated_iou_matrix(truth_map[inside], pred)
        same = np.array([[CLASSES[c] == name for name in gdf["class"]] for c in chip.classes[inside]])
        hit = ((iou >= 0.5) & same.reshape(iou.shape)).any(axis=1) if len(gdf) else np.zeros(inside.sum(), bool)
        found += int(hit.sum())
        total += int(inside.sum())
        plane = np.isin(chip.classes[inside], fixed_wing)
        found_aircraft += int(hit[plane].sum())
        total_aircraft += int(plane.sum())
    assert total >= 8 and total_aircraft >= 4
    # Measured with the shipped weights: 16 of 16 fixed-wing aircraft and 51 of 62 objects of
    # every class (vehicles and launchers are the misses); held as floors with some slack.
    assert found_aircraft / total_aircraft >= 0.9, (found_aircraft, total_aircraft)
    assert found / total >= 0.7, (found, total)
