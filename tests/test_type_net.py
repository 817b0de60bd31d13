"""The second-stage aircraft type classifier: it renames only fixed-wing aircraft, travels in
the weights file beside the state classifier, the Detector applies it (and reads states as the
new class), it can be switched off, and a tiny training run learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detect.infer import SHIPPED_WEIGHTS, Detector
from detect.model import load_weights, save_weights
from detect.state_net import StateNet, state_net_payload
from detect.type_net import TYPE_CLASSES, refine_classes, type_net_config, type_probs, type_rows
from detect.type_train import TypeTrainConfig, chip_type_crops, train_type, type_metrics
from imagery.errors import InputError
from imagery.taxonomy import CLASSES

T, F_, A, H, S = (CLASSES.index(c) for c in ("transport", "fighter", "airliner", "helicopter", "sam"))


def _always(kind: str, crop_px: int = 32) -> StateNet:
    """A type network that names every aircraft ``kind``."""
    torch.manual_seed(0)
    net = StateNet(type_net_config(crop_px=crop_px)).eval()
    with torch.no_grad():
        net.head[-1].bias.zero_()
        net.head[-1].bias[TYPE_CLASSES.index(kind)] = 20.0
    return net


def test_only_fixed_wing_aircraft_are_renamed():
    img = torch.rand(3, 128, 128) * 255
    boxes = torch.tensor([[60.0, 60.0, 40.0, 30.0, 10.0]] * 5)
    classes = torch.tensor([T, F_, A, H, S])
    out = refine_classes(_always("airliner"), img, boxes, classes, 0.5)
    assert out.tolist() == [A, A, A, H, S]
    assert type_rows(classes).tolist() == [0, 1, 2, -1, -1]
    p = type_probs(_always("fighter"), img, boxes[:2], 0.5)
    assert p.shape == (2, 3) and torch.allclose(p.sum(1), torch.ones(2)) and bool((p[:, 1] > 0.99).all())
    assert refine_classes(_always("fighter"), img, boxes[3:], classes[3:], 0.5).tolist() == [H, S]


def _with_type_net(tmp_path, net):
    base = load_weights(SHIPPED_WEIGHTS)
    path = tmp_path / "detector.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, info=base.info,
                 state_net=base.state_net, type_net=state_net_payload(net))
    return path


def test_the_detector_applies_it_and_reads_states_as_the_new_class(tmp_path):
    from imagery.synth.chips import ChipStream

    path = _with_type_net(tmp_path, _always("airliner"))
    loaded = load_weights(path)
    assert loaded.type_net is not None and loaded.state_net is not None
    chip = ChipStream(512, seed=2, themes=(("military_apron", 1.0),), gsd=(0.5, 0.5), p_gsd_wide=0.0).chip(0)
    plain = Detector(path, device="cpu", type_classifier=False).detect_array(chip.image)
    renamed = Detector(path, device="cpu").detect_array(chip.image)
    fixed_wing = np.isin(plain.classes, [T, F_, A])
    assert fixed_wing.any() and np.isin(plain.classes, [T, F_]).any()
    assert np.allclose(plain.scores, renamed.scores) and np.allclose(plain.boxes, renamed.boxes)
    assert np.all(renamed.classes[fixed_wing] == A)
    assert np.array_equal(renamed.classes[~fixed_wing], plain.classes[~fixed_wing])
    assert np.all(np.isnan(renamed.state_prob[fixed_wing]))  # airliners have no state to read


def test_a_type_classifier_that_does_not_fit_its_config_is_refused(tmp_path):
    payload = state_net_payload(StateNet(type_net_config(crop_px=32)))
    payload["config"]["hidden"] = 7
    base = load_weights(SHIPPED_WEIGHTS)
    path = tmp_path / "bad.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, type_net=payload)
    with pytest.raises(InputError, match="type classifier does not fit"):
        load_weights(path)


def _toy_crops(n, rng, size):
    """Three kinds: the first two told apart by where a bright block sits (top or middle of the
    crop), the third looks like the second but is larger (only the size inputs tell)."""
    crops = rng.integers(60, 120, (n, 3, size, size)).astype(np.uint8)
    labels = rng.integers(0, 3, n)
    for k, r in ((0, 2), (1, size // 2), (2, size // 2)):
        crops[labels == k, :, r:r + 6, size // 2 - 3:size // 2 + 3] = 250
    sizes = np.where(labels[:, None] == 2, 1.0, 0.0) + rng.normal(0, 0.1, (n, 2))
    return {"crops": crops, "labels": labels, "sizes": sizes.astype(np.float32)}


def test_a_tiny_training_run_learns_and_keeps_the_state_classifier(tmp_path, shipped_copy):
    rng = np.random.default_rng(0)
    cfg = TypeTrainConfig(out=str(tmp_path / "run"), detector=str(tmp_path / "base.pt"), steps=160,
                          batch_size=32, net={"crop_px": 32, "widths": (8, 16, 24, 32), "hidden": 16})
    result = train_type(cfg, progress=False, export=tmp_path / "exported.pt",
                        crops=_toy_crops(300, rng, 32), val_crops=_toy_crops(150, rng, 32))
    assert result["val"]["accuracy"] > 0.9
    loaded = load_weights(tmp_path / "exported.pt")
    base = load_weights(tmp_path / "base.pt")
    assert loaded.type_net is not None and loaded.info["type_net"]["detector_sha256"] == base.sha256
    assert loaded.state_net is not None
    from detect.state_net import state_net_from_payload

    kept = state_net_from_payload(base.state_net).state_dict()  # one network or one per class
    now = state_net_from_payload(loaded.state_net).state_dict()
    assert now.keys() == kept.keys() and all(torch.equal(now[k], v) for k, v in kept.items())


def test_type_metrics_and_chip_crops():
    m = type_metrics(np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3]]), np.array([0, 1, 2]))
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["confusion"] == [[1, 0, 0], [0, 1, 0], [1, 0, 0]]
    assert m["per_class"]["airliner"]["accuracy"] == 0.0
    from detect.state_train import JitterSection, NetSection
    from imagery.synth.chips import ChipStream

    chip = ChipStream(512, seed=4, themes=(("civil_apron", 1.0),)).chip(0)
    out = chip_type_crops(chip, np.random.default_rng(0), NetSection(crop_px=40), JitterSection(), 2)
    n_air = int(np.isin(chip.classes, [T, F_, A]).sum())
    assert 0 < len(out["labels"]) <= 2 * n_air and out["crops"].shape[1:] == (3, 40, 40)
    assert out["sizes"].shape == (len(out["labels"]), 2) and np.all(np.abs(out["sizes"]) < 2.5)
    assert set(out["labels"].tolist()) <= {0, 1, 2}


def test_the_box_size_reaches_the_network():
    """Two boxes with the same pixels around them but different sizes read differently once the
    size inputs carry weight (the crop alone is scaled to the box)."""
    from detect.type_net import size_inputs

    net = _always("fighter")
    with torch.no_grad():
        net.head[2].weight.zero_()
        net.head[2].weight[:, -2] = 1.0  # hidden units follow log(length / 20 m)
        net.head[2].bias.zero_()
        net.head[-1].weight.zero_()
        net.head[-1].bias.zero_()
        net.head[-1].weight[TYPE_CLASSES.index("airliner")] = 1.0
    img = torch.full((3, 256, 256), 120.0)
    small = torch.tensor([[128.0, 128.0, 30.0, 28.0, 0.0]])
    big = small.clone()
    big[0, 2:4] *= 4
    assert size_inputs(small, 0.5)[0, 0] == pytest.approx(float(np.log(15 / 20)))
    p_small, p_big = type_probs(net, img, small, 0.5)[0], type_probs(net, img, big, 0.5)[0]
    assert p_big[TYPE_CLASSES.index("airliner")] > p_small[TYPE_CLASSES.index("airliner")] + 0.2
    with pytest.raises(ValueError, match="extra inputs"):
        net(torch.zeros((1, 3, 32, 32)))
