"""The second-stage box centring of launchers and vehicles: the offset geometry (crop frame,
mirror image), only its classes move, the weights carry it and the Detector applies it, and a
tiny training run learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detect.box_net import OUTPUT_SCALE, box_net_config, centre_offsets, crop_axes, refine_centres
from detect.box_train import BoxTrainConfig, box_metrics, chip_box_crops, train_box
from detect.infer import SHIPPED_WEIGHTS, Detector
from detect.model import load_weights, save_weights
from detect.state_net import StateNet, crop_sides, state_net_payload
from imagery.taxonomy import CLASSES

SAM, VEH, TRA = (CLASSES.index(c) for c in ("sam", "vehicle", "transport"))


def _constant(a: float, b: float) -> StateNet:
    """A network that always answers (a, b) tenths of the crop side."""
    net = StateNet(box_net_config(crop_px=32)).eval()
    with torch.no_grad():
        net.head[-1].weight.zero_()
        net.head[-1].bias.copy_(torch.tensor([a, b]))
    return net


@pytest.mark.parametrize("heading", [0.0, 90.0, 200.0])
def test_offsets_follow_the_crop_frame_and_the_mirror_cancels_a_sideways_bias(heading):
    img = torch.rand(3, 200, 200) * 255
    box = torch.tensor([[100.0, 100.0, 26.0, 6.0, heading]])
    net = _constant(3.0, 5.0)  # 'right' answered the same for the crop and its mirror image: no signal
    off = centre_offsets(net, img, box, 0.5)[0]
    side = float(crop_sides(box, 0.5, net.config)[0])
    _, down = crop_axes(box)
    assert off.tolist() == pytest.approx((down[0] * side * 5.0 / OUTPUT_SCALE).tolist(), abs=1e-4)
    rad = np.deg2rad(heading)  # 'down' in the nose-up crop points to the tail
    assert down[0].tolist() == pytest.approx([-np.sin(rad), np.cos(rad)], abs=1e-6)


def test_only_launchers_and_vehicles_move():
    img = torch.rand(3, 200, 200) * 255
    boxes = torch.tensor([[100.0, 100.0, 26.0, 6.0, 0.0]] * 3)
    out = refine_centres(_constant(0.0, 2.0), img, boxes, torch.tensor([SAM, VEH, TRA]), 0.5)
    assert torch.equal(out[2], boxes[2]) and torch.equal(out[:, 2:], boxes[:, 2:])
    assert float(out[0, 1] - boxes[0, 1]) > 0 and float(out[1, 1] - boxes[1, 1]) > 0  # heading 0: tail is down


def test_the_detector_applies_it_and_can_be_switched_off(tmp_path):
    from imagery.synth.chips import ChipStream

    base = load_weights(SHIPPED_WEIGHTS)
    path = tmp_path / "detector.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, info=base.info, state_net=base.state_net,
                 type_net=base.type_net, box_net=state_net_payload(_constant(0.0, 4.0)))
    assert load_weights(path).box_net is not None
    chip = ChipStream(512, seed=5, themes=(("sam_site", 1.0),), gsd=(0.5, 0.5), p_gsd_wide=0.0).chip(0)
    off = Detector(path, device="cpu", box_centring=False).detect_array(chip.image)
    on = Detector(path, device="cpu").detect_array(chip.image)
    moved = np.isin(off.classes, [SAM, VEH])
    assert moved.any() and len(on) == len(off)
    order_on, order_off = np.lexsort(on.boxes[:, 2:].T), np.lexsort(off.boxes[:, 2:].T)
    a, b = on.boxes[order_on], off.boxes[order_off]
    shift = np.hypot(*(a[:, :2] - b[:, :2]).T)
    assert np.allclose(a[:, 2:], b[:, 2:]) and (shift > 1.0).sum() == moved.sum()


def _toy(n, rng, size):
    """A bright block whose row gives the target (down) and a sideways offset the mirror removes."""
    crops = rng.integers(60, 120, (n, 3, size, size)).astype(np.uint8)
    rows = rng.integers(4, size - 8, n)
    for k in range(n):
        crops[k, :, rows[k]:rows[k] + 4, size // 2 - 2:size // 2 + 2] = 250
    targets = np.stack([np.zeros(n), (rows + 2 - size / 2) / size * OUTPUT_SCALE], 1).astype(np.float32)
    return {"crops": crops, "targets": targets, "sizes": np.zeros((n, 2), np.float32),
            "classes": np.full(n, SAM)}


def test_a_tiny_training_run_learns_where_the_object_is(tmp_path, shipped_copy):
    rng = np.random.default_rng(0)
    cfg = BoxTrainConfig(out=str(tmp_path / "run"), detector=str(tmp_path / "base.pt"), steps=150, batch_size=32,
                         net={"crop_px": 32, "widths": (8, 16, 24, 32), "hidden": 16})
    result = train_box(cfg, progress=False, crops=_toy(300, rng, 32), val_crops=_toy(100, rng, 32))
    m = result["val"]["sam"]
    assert m["median_error_after"] < 0.5 * m["median_error_before"]
    loaded = load_weights(tmp_path / "run" / "detector.pt")
    assert loaded.box_net is not None and loaded.type_net is not None and loaded.state_net is not None


def test_chip_crops_hold_the_true_centre_in_the_crop_frame():
    from detect.state_train import JitterSection, NetSection
    from imagery.synth.chips import ChipStream

    chip = ChipStream(512, seed=6, themes=(("sam_site", 1.0),)).chip(0)
    none = chip_box_crops(chip, np.random.default_rng(0), NetSection(crop_px=40), JitterSection(centre=0.0,
                          size=0.0, heading_deg=0.0, flip={}), 1)
    assert len(none["targets"]) and np.allclose(none["targets"], 0.0, atol=1e-4)
    moved = chip_box_crops(chip, np.random.default_rng(0), NetSection(crop_px=40), JitterSection(centre=0.2), 1)
    assert np.median(np.hypot(*moved["targets"].T)) > 0.1
    assert box_metrics(moved["targets"], moved["targets"], moved["classes"])[CLASSES[int(moved["classes"][0])]][
        "median_error_after"] == 0.0
