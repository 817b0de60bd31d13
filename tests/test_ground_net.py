"""The second-stage ground check of launcher and vehicle detections: the labels its training
takes from the truth, what it does to detections (rename, demote to faint, other classes
untouched), the weights carry it and the Detector applies it, and a tiny training run learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detect.ground_net import NOTHING, OUTPUT_NAMES, check_ground, ground_net_config
from detect.ground_train import GroundTrainConfig, ground_metrics, label_detections, train_ground
from detect.infer import SHIPPED_WEIGHTS, Detector
from detect.model import load_weights, save_weights
from detect.state_net import StateNet, state_net_payload
from imagery.taxonomy import CLASSES

SAM, VEH, TRA = (CLASSES.index(c) for c in ("sam", "vehicle", "transport"))


def _constant(logits: tuple[float, float, float]) -> StateNet:
    """A network that always answers these logits (launcher, vehicle, nothing)."""
    net = StateNet(ground_net_config(crop_px=32)).eval()
    with torch.no_grad():
        net.head[-1].weight.zero_()
        net.head[-1].bias.copy_(torch.tensor(logits))
    return net


def test_labels_come_from_the_object_a_detection_sits_on():
    truth = np.array([[100.0, 100.0, 13.0, 3.0, 0.0],    # launcher
                      [200.0, 100.0, 8.0, 2.5, 90.0],    # truck
                      [100.0, 300.0, 60.0, 60.0, 0.0]])  # an aircraft
    classes = np.array([SAM, VEH, TRA])
    dets = np.array([[100.5, 100.0, 13.0, 3.0, 2.0],   # on the launcher
                     [201.0, 100.0, 8.0, 2.5, 92.0],   # on the truck
                     [400.0, 400.0, 8.0, 2.5, 0.0],    # on nothing
                     [110.0, 300.0, 8.0, 2.5, 0.0],    # inside the aircraft: left out
                     [100.0, 108.0, 13.0, 3.0, 0.0]])  # beside the launcher, overlapping: left out
    labels = label_detections(dets, truth, classes, match_iou=0.25, empty_iou=0.05)
    assert labels.tolist() == [0, 1, NOTHING, -1, -1]
    assert label_detections(dets[:2], np.zeros((0, 5)), np.zeros(0, np.int64), 0.25, 0.05).tolist() == [NOTHING] * 2


@pytest.mark.parametrize("rename", ["none", "to_vehicle", "both"])
@pytest.mark.parametrize("logits,named,demoted", [((3.0, 0.0, 0.0), SAM, False),
                                                  ((0.0, 3.0, 0.0), VEH, False),
                                                  ((0.0, 0.5, 4.0), VEH, True)])
def test_the_check_renames_and_demotes_launchers_and_vehicles_only(logits, named, demoted, rename):
    img = torch.rand(3, 200, 200) * 255
    boxes = torch.tensor([[100.0, 100.0, 13.0, 3.0, 0.0]] * 3)
    classes = torch.tensor([SAM, VEH, TRA])
    scores = torch.tensor([0.8, 0.1, 0.9])
    c, s = check_ground(_constant(logits), img, boxes, classes, scores, 0.5, reject=0.5, demoted_score=0.2,
                        rename=rename)
    # a launcher may become a vehicle; a vehicle becomes a launcher only with "both"
    expected = {"none": [SAM, VEH], "to_vehicle": [named, VEH], "both": [named, named]}[rename]
    assert c.tolist() == [*expected, TRA]
    assert s[2] == pytest.approx(0.9)
    # demoted to the faint score, never raised (the 0.1 stays 0.1)
    assert s[:2].tolist() == pytest.approx([0.2, 0.1] if demoted else [0.8, 0.1])


def test_the_detector_applies_it_and_can_be_switched_off(tmp_path):
    from imagery.synth.chips import ChipStream

    base = load_weights(SHIPPED_WEIGHTS)
    path = tmp_path / "detector.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, info=base.info,
                 **{**base.second_stages(), "ground_net": state_net_payload(_constant((0.0, 0.0, 5.0)))})
    assert load_weights(path).ground_net is not None
    chip = ChipStream(512, seed=6, themes=(("mixed", 1.0),), gsd=(0.5, 0.5), p_gsd_wide=0.0).chip(0)
    off = Detector(path, device="cpu", ground_check=False).detect_array(chip.image)
    on = Detector(path, device="cpu").detect_array(chip.image)
    ground = np.isin(off.classes, [SAM, VEH])
    assert ground.any() and (~ground).any()
    # "nothing" everywhere: every launcher and vehicle drops below the operating score, the rest stays
    assert not np.isin(on.classes, [SAM, VEH]).any()
    assert sorted(on.scores.tolist()) == pytest.approx(sorted(off.scores[~ground].tolist()))
    # ...but stays a faint detection for the presence check
    faint = Detector(path, device="cpu").detect_array(chip.image, score_threshold=0.2)
    assert np.isin(faint.classes, [SAM, VEH]).sum() >= ground.sum()


def _toy(n, rng, size):
    """Label 0: a bright bar; 1: a dark bar; 2: plain ground."""
    crops = rng.integers(90, 130, (n, 3, size, size)).astype(np.uint8)
    labels = rng.integers(0, 3, n)
    for k in range(n):
        if labels[k] < 2:
            crops[k, :, size // 4: 3 * size // 4, size // 2 - 3:size // 2 + 3] = 240 if labels[k] == 0 else 10
    return {"crops": crops, "labels": labels, "sizes": np.zeros((n, 2), np.float32),
            "source": np.ones(n, np.int8)}


def test_a_tiny_training_run_learns_and_keeps_the_other_stages(tmp_path, shipped_copy):
    rng = np.random.default_rng(0)
    cfg = GroundTrainConfig(out=str(tmp_path / "run"), detector=str(tmp_path / "base.pt"), steps=120,
                            batch_size=32, net={"crop_px": 32, "widths": (8, 16, 24, 32), "hidden": 16})
    result = train_ground(cfg, progress=False, crops=_toy(300, rng, 32), val_crops=_toy(120, rng, 32))
    assert result["val"]["detections"]["accuracy"] > 0.9
    assert result["val"]["classes"] == list(OUTPUT_NAMES)
    loaded = load_weights(tmp_path / "run" / "detector.pt")
    assert loaded.ground_net is not None and loaded.type_net is not None and loaded.state_net is not None


def test_metrics_count_what_the_check_would_do():
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1]])
    labels = np.array([0, 0, NOTHING, NOTHING])
    m = ground_metrics(probs, labels, np.ones(4, np.int8), reject=0.5)
    assert (m["objects_demoted"], m["detections_on_objects"]) == (1, 2)
    assert (m["nothing_removed"], m["detections_on_nothing"]) == (1, 2)
    assert m["detections"]["accuracy"] == pytest.approx(0.5)
