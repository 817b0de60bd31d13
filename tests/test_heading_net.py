"""The second-stage heading of helicopters: the turn's sign and the mirror image, only
helicopters turn, the weights carry it and the Detector applies it, the training crops hold the
true turn, and a tiny training run learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detect.heading_net import MAX_TURN_DEG, OUTPUT_SCALE, heading_net_config, heading_turns, refine_headings
from detect.heading_train import (
    HeadingJitter,
    HeadingTrainConfig,
    chip_heading_crops,
    heading_metrics,
    train_heading,
)
from detect.infer import SHIPPED_WEIGHTS, Detector
from detect.model import load_weights, save_weights
from detect.state_net import StateNet, state_net_payload
from imagery.taxonomy import CLASSES

HEL, SAM, TRA = (CLASSES.index(c) for c in ("helicopter", "sam", "transport"))


def _constant(turn_tens: float) -> StateNet:
    """A network that always answers ``turn_tens`` tens of degrees."""
    net = StateNet(heading_net_config(crop_px=32)).eval()
    with torch.no_grad():
        net.head[-1].weight.zero_()
        net.head[-1].bias.fill_(turn_tens)
    return net


def test_a_constant_answer_is_no_signal_and_turns_are_bounded():
    """What the crop and its mirror image answer alike cancels: only a turn the mirror reverses
    counts; turns beyond what training showed are clipped."""
    img = torch.rand(3, 200, 200) * 255
    boxes = torch.tensor([[100.0, 100.0, 30.0, 28.0, 40.0]])
    assert float(heading_turns(_constant(2.0), img, boxes, 0.5)[0]) == pytest.approx(0.0, abs=1e-4)

    class Turned(torch.nn.Module):  # answers +t for the crop, -t for its mirror image
        config = heading_net_config(crop_px=32)

        def __init__(self, t: float) -> None:
            super().__init__()
            self.t = t

        def forward(self, crops, extras):
            n = crops.shape[0] // 2
            return torch.cat([torch.full((n, 1), self.t), torch.full((n, 1), -self.t)])

    assert float(heading_turns(Turned(1.5), img, boxes, 0.5)[0]) == pytest.approx(15.0)
    assert float(heading_turns(Turned(9.0), img, boxes, 0.5)[0]) == pytest.approx(MAX_TURN_DEG)
    out = refine_headings(Turned(1.5), img, boxes.repeat(3, 1), torch.tensor([HEL, SAM, TRA]), 0.5)
    assert out[:, 4].tolist() == pytest.approx([55.0, 40.0, 40.0])
    assert torch.equal(out[:, :4], boxes.repeat(3, 1)[:, :4])
    wrapped = refine_headings(Turned(-2.0), img, torch.tensor([[100.0, 100.0, 30.0, 28.0, 10.0]]),
                              torch.tensor([HEL]), 0.5)
    assert float(wrapped[0, 4]) == pytest.approx(350.0)


def test_chip_crops_hold_the_turn_back_to_the_truth():
    """Turned by a known angle, the crop of a helicopter at its true box turned back by the
    target is the crop at its true box."""
    from detect.state_train import NetSection
    from imagery.synth.chips import ChipStream

    chip = ChipStream(512, seed=3, themes=(("helipads", 1.0),)).chip(0)
    still = HeadingJitter(centre=0.0, size=0.0, heading_deg=0.0, flip={}, max_turn_deg=1e-6)
    none = chip_heading_crops(chip, np.random.default_rng(0), NetSection(crop_px=40), still, 1)
    assert len(none["targets"]) and np.allclose(none["targets"], 0.0, atol=1e-6)
    assert set(none["types"]) <= {"Ka-52", "Mi-8", "Mi-24", "Mi-28N"}
    turned = chip_heading_crops(chip, np.random.default_rng(0),
                                NetSection(crop_px=40), HeadingJitter(centre=0.0, size=0.0, heading_deg=0.0, flip={},
                                                                      max_turn_deg=40.0), 1)
    assert np.abs(turned["targets"]).max() * OUTPUT_SCALE <= 40.0 and np.abs(turned["targets"]).max() > 0.5
    m = heading_metrics(turned["targets"], turned["targets"], turned["types"])
    assert m["all"]["median_error_after"] == 0.0 and m["all"]["median_error_before"] > 0.0


def _toy(n, rng, size):
    """A bright bar through the crop's centre, turned by the target: its angle is the answer."""
    turns = rng.uniform(-4.0, 4.0, n).astype(np.float32)  # tens of degrees
    crops = rng.integers(60, 90, (n, 3, size, size)).astype(np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    for k in range(n):
        a = np.deg2rad(turns[k] * OUTPUT_SCALE)  # clockwise from up, image y down
        along = xx * np.sin(a) - yy * np.cos(a)
        across = xx * np.cos(a) + yy * np.sin(a)
        crops[k, :, (np.abs(across) < 1.5) & (np.abs(along) < size * 0.4)] = 240
    return {"crops": crops, "targets": turns, "sizes": np.zeros((n, 2), np.float32),
            "types": np.full(n, "Ka-52")}


def test_a_tiny_training_run_learns_the_turn(tmp_path, shipped_copy):
    rng = np.random.default_rng(0)
    cfg = HeadingTrainConfig(out=str(tmp_path / "run"), detector=str(tmp_path / "base.pt"), steps=200,
                             batch_size=32, net={"crop_px": 32, "widths": (8, 16, 24, 32), "hidden": 16})
    result = train_heading(cfg, progress=False, crops=_toy(400, rng, 32), val_crops=_toy(100, rng, 32))
    m = result["val"]["Ka-52"]
    assert m["median_error_after"] < 0.5 * m["median_error_before"]
    loaded = load_weights(tmp_path / "run" / "detector.pt")
    assert loaded.heading_net is not None and loaded.state_net is not None
    assert loaded.detection_sha256 == loaded.sha256  # new detections: not a change-stage-only network


def test_the_detector_applies_it_and_can_be_switched_off(tmp_path):
    from imagery.synth.chips import ChipStream

    class Turned(torch.nn.Module):
        config = heading_net_config(crop_px=32)

        def forward(self, crops, extras):
            n = crops.shape[0] // 2
            return torch.cat([torch.full((n, 1), 1.0), torch.full((n, 1), -1.0)])

    base = load_weights(SHIPPED_WEIGHTS)
    path = tmp_path / "detector.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, info=base.info,
                 **{**base.second_stages(), "heading_net": state_net_payload(_constant(0.0))})
    assert load_weights(path).heading_net is not None
    chip = ChipStream(512, seed=3, themes=(("helipads", 1.0),), gsd=(0.5, 0.5), p_gsd_wide=0.0).chip(0)
    off = Detector(path, device="cpu", heading_refinement=False).detect_array(chip.image)
    on = Detector(path, device="cpu", heading_net=Turned()).detect_array(chip.image)
    helis = off.classes == HEL
    assert helis.any()
    # boxes at one centre are one detection (turning helicopters may change which overlaps win)
    key = {(round(float(b[0]), 3), round(float(b[1]), 3)): (b, c) for b, c in zip(off.boxes, off.classes)}
    pairs = [(b, *key[(round(float(b[0]), 3), round(float(b[1]), 3))], c) for b, c in zip(on.boxes, on.classes)
             if (round(float(b[0]), 3), round(float(b[1]), 3)) in key]
    assert len(pairs) >= len(off) - 1
    for b_on, b_off, c_off, _ in pairs:
        turn = abs((b_on[4] - b_off[4] + 180) % 360 - 180)
        assert np.allclose(b_on[:4], b_off[:4])
        assert turn == pytest.approx(10.0 if c_off == HEL else 0.0, abs=1e-3)
