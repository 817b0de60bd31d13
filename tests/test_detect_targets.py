"""Targets, decoding, the model's shapes and the losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from detect.losses import detection_loss
from detect.model import CenterNetOBB, ModelConfig, count_parameters, fuse_for_inference
from detect.targets import NUM_STATES, STATE_CHANNEL, TargetConfig, decode, encode
from imagery.taxonomy import CLASSES


def _perfect_output(t, n_states: int = NUM_STATES) -> dict[str, torch.Tensor]:
    """What a perfect model would predict for these targets."""
    heat = np.clip(t.heat, 1e-6, 1 - 1e-6)
    heat_logit = np.log(heat / (1 - heat))
    state = np.zeros((n_states, *t.state.shape), np.float32)
    for c in range(n_states):
        state[c] = np.where(t.state_channel == c, np.where(t.state > 0, 8.0, -8.0), 0.0)
    return {"heat": torch.from_numpy(heat_logit[None]).float(), "reg": torch.from_numpy(t.reg[None]),
            "state": torch.from_numpy(state[None])}


def _random_objects(rng, n: int, size: int):
    boxes, classes, states, taken = [], [], [], set()
    while len(boxes) < n:
        cx, cy = rng.uniform(8, size - 8, 2)
        cell = (int(cx // 4), int(cy // 4))
        if any(abs(cell[0] - a) < 10 and abs(cell[1] - b) < 10 for a, b in taken):
            continue
        taken.add(cell)
        c = int(rng.integers(len(CLASSES)))
        boxes.append((cx, cy, rng.uniform(10, 60), rng.uniform(4, 40), rng.uniform(0, 360)))
        classes.append(c)
        states.append(int(rng.random() < 0.5) if STATE_CHANNEL[c] >= 0 else 0)
    return np.array(boxes), np.array(classes), np.array(states)


def test_encode_then_decode_gives_back_the_boxes():
    rng = np.random.default_rng(0)
    boxes, classes, states = _random_objects(rng, 12, 256)
    t = encode(boxes, classes, states, (256, 256))
    assert t.num_objects == 12
    assert t.heat.max() == 1.0 and (t.heat == 1.0).sum() == 12
    assert t.reg_weight.sum() == pytest.approx(12, rel=1e-4)
    d = decode(_perfect_output(t), score_threshold=0.5)[0]
    assert len(d) == 12
    order = np.lexsort((d.boxes[:, 1], d.boxes[:, 0]))
    ref = np.lexsort((boxes[:, 1], boxes[:, 0]))
    got, exp = d.boxes[order], boxes[ref]
    assert np.allclose(got[:, :4], exp[:, :4], atol=1e-3)
    dh = np.abs((got[:, 4] - exp[:, 4] + 180) % 360 - 180)
    assert dh.max() < 1e-3
    assert np.array_equal(d.classes[order], classes[ref])
    sp = d.state_prob[order]
    has_state = np.array([STATE_CHANNEL[c] >= 0 for c in classes[ref]])
    assert np.isnan(sp[~has_state]).all()
    assert np.array_equal(sp[has_state] > 0.5, states[ref][has_state] == 1)


def test_axis_survives_a_heading_whose_nose_end_is_unknown():
    # A model that cannot tell front from back predicts (sin h, cos h) ~ (0, 0): the plain pair
    # then decodes to noise, but the axis pair still gives the box its orientation (mod 180).
    from detect.targets import decode_heading

    h = torch.deg2rad(torch.tensor([10.0, 75.0, 130.0, 200.0, 300.0]))
    tiny = 1e-4 * torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
    got = decode_heading(tiny, tiny, torch.sin(2 * h), torch.cos(2 * h))
    axis_err = ((got - torch.rad2deg(h)) + 90) % 180 - 90
    assert float(axis_err.abs().max()) < 1e-3
    exact = decode_heading(torch.sin(h), torch.cos(h), torch.sin(2 * h), torch.cos(2 * h))
    full_err = ((exact - torch.rad2deg(h)) + 180) % 360 - 180
    assert float(full_err.abs().max()) < 1e-3  # and the nose end when the direction is known


def test_small_objects_get_a_minimum_footprint_and_offsets_are_sub_cell():
    t = encode(np.array([[101.3, 57.9, 6.0, 2.5, 45.0]]), np.array([4]), np.array([0]), (128, 128),
               config=TargetConfig(min_sigma=0.6))
    i, j = np.unravel_index(np.argmax(t.heat[4]), t.heat[4].shape)
    assert (i, j) == (57 // 4, 101 // 4)
    assert (t.heat[4] > 0.2).sum() >= 5  # more than the centre cell
    assert t.reg[0, i, j] == pytest.approx(101.3 / 4 - (j + 0.5), abs=1e-5)
    assert t.reg[1, i, j] == pytest.approx(57.9 / 4 - (i + 0.5), abs=1e-5)
    assert t.reg[4, i, j] == pytest.approx(math.sin(math.radians(45)), abs=1e-6)


def test_objects_outside_or_ignored_become_ignore_regions():
    boxes = np.array([[-10.0, 50.0, 40.0, 30.0, 0.0], [60.0, 60.0, 40.0, 30.0, 0.0]])
    t = encode(boxes, np.array([0, 1]), np.array([0, 0]), (128, 128), ignore=np.array([False, True]))
    assert t.num_objects == 0
    assert t.heat.max() == 0.0
    assert t.ignore[15, 15] == 1.0  # the ignored object's centre
    assert t.ignore[12, 0] == 1.0 and t.ignore[12, 3] == 0.0  # the part of the outside object that shows


def test_model_shapes_size_and_fusion():
    model = CenterNetOBB(ModelConfig()).eval()
    x = torch.randint(0, 256, (2, 3, 128, 96), dtype=torch.uint8)
    with torch.inference_mode():
        out = model(x)
        fused = fuse_for_inference(CenterNetOBB(ModelConfig()).eval().load_state_dict(model.state_dict())
                                   and model)
        out2 = fused(x)
    assert out["heat"].shape == (2, len(CLASSES), 32, 24)
    assert out["reg"].shape == (2, 8, 32, 24)
    assert out["state"].shape == (2, NUM_STATES, 32, 24)
    for k in out:
        assert torch.allclose(out[k], out2[k], atol=1e-4)
    assert count_parameters(model) * 4 < 20e6  # the shipped file must stay <= 20 MB
    assert float(torch.sigmoid(out["heat"]).mean()) == pytest.approx(0.01, abs=0.01)  # focal prior


def test_loss_is_small_for_a_perfect_prediction_and_large_for_a_wrong_one():
    rng = np.random.default_rng(1)
    boxes, classes, states = _random_objects(rng, 6, 128)
    t = encode(boxes, classes, states, (128, 128))
    targets = {k: torch.as_tensor(v)[None] for k, v in t.as_dict().items()}
    perfect = _perfect_output(t)
    good, parts = detection_loss(perfect, targets)
    wrong = {k: v.clone() for k, v in perfect.items()}
    wrong["reg"][:, 4:6] *= -1  # every heading flipped by 180 degrees
    wrong["state"] *= -1
    bad, bad_parts = detection_loss(wrong, targets)
    assert parts["offset"] < 1e-5 and parts["size"] < 1e-5 and parts["heading"] < 1e-5
    assert bad_parts["heading"] > 1.0 and bad_parts["state"] > 5.0
    assert float(bad) > float(good) + 5


def test_envelope_loss_teaches_size_from_axis_aligned_labels():
    box = np.array([[64.0, 64.0, 40.0, 16.0, 30.0]])
    t = encode(box, np.array([5]), np.array([0]), (128, 128), oriented=np.array([False]))
    targets = {k: torch.as_tensor(v)[None] for k, v in t.as_dict().items()}
    out = _perfect_output(t)
    _, right = detection_loss(out, targets)
    out["reg"][:, 2] += 0.5  # predicted length too long by 65 %
    _, wrong = detection_loss(out, targets)
    assert right["size"] == 0.0 and right["heading"] == 0.0  # not supervised for such labels
    assert right["envelope"] < 1e-3 < 0.1 < wrong["envelope"]
