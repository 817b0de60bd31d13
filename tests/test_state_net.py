"""The second-stage state classifier: crop geometry, weights round trip, the Detector using it,
a tiny training run that learns, and the chip theme that feeds it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from detect.infer import SHIPPED_WEIGHTS
from detect.model import load_weights, save_weights
from detect.state_net import (
    StateNet,
    StateNetConfig,
    classify,
    crop_sides,
    oriented_crops,
    state_net_payload,
    tta_boxes,
)
from detect.state_train import (
    StateTrainConfig,
    _cached_crops,
    roc_auc,
    sampling_groups,
    sampling_weights,
    state_metrics,
    train_state,
)
from detect.targets import STATE_CHANNEL
from imagery.errors import InputError
from imagery.taxonomy import CLASSES

SHIPPED = SHIPPED_WEIGHTS


@pytest.mark.parametrize("heading", [0.0, 90.0, 137.0, 200.0, 270.0])
def test_crops_put_the_nose_up_whatever_the_heading(heading):
    """A bright dot at the nose end of a box lands at the top centre of its crop, a dark one at
    the right wing tip lands on the right."""
    h = w = 200
    img = np.full((3, h, w), 100.0, np.float32)
    cx, cy, length = 97.3, 104.6, 60.0
    rad = math.radians(heading)
    fwd = np.array([math.sin(rad), -math.cos(rad)])  # image x right, y down
    right = np.array([math.cos(rad), math.sin(rad)])
    nose = np.array([cx, cy]) + fwd * 0.4 * length
    wing = np.array([cx, cy]) + right * 0.4 * length
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    img[:, (xx - nose[0]) ** 2 + (yy - nose[1]) ** 2 < 9] = 255.0
    img[:, (xx - wing[0]) ** 2 + (yy - wing[1]) ** 2 < 9] = 0.0
    box = torch.tensor([[cx, cy, length, 20.0, heading]])
    crop = oriented_crops(torch.from_numpy(img), box, torch.tensor([80.0]), 40)[0, 0].numpy()
    r, c = np.unravel_index(np.argmax(crop), crop.shape)
    assert abs(c - 19.5) <= 1.5 and abs(r - (19.5 - 0.4 * 60 / 80 * 40)) <= 1.5
    r, c = np.unravel_index(np.argmin(crop), crop.shape)
    assert abs(r - 19.5) <= 1.5 and abs(c - (19.5 + 0.4 * 60 / 80 * 40)) <= 1.5


def test_crops_of_no_boxes_and_outside_the_image():
    img = torch.full((3, 50, 50), 200.0)
    assert oriented_crops(img, torch.zeros((0, 5)), torch.zeros(0), 16).shape == (0, 3, 16, 16)
    far = oriented_crops(img, torch.tensor([[500.0, 500.0, 10.0, 4.0, 0.0]]), torch.tensor([20.0]), 16)
    assert float(far.abs().max()) == 0.0  # zeros outside, never a smeared edge


def test_crop_side_follows_the_box_with_a_floor_in_metres():
    cfg = StateNetConfig(side_scale=1.3, min_side_m=20.0)
    sides = crop_sides(torch.tensor([[0, 0, 100.0, 80.0, 0], [0, 0, 10.0, 4.0, 0]]), 0.5, cfg)
    assert sides.tolist() == pytest.approx([130.0, 40.0])


def test_classify_gives_nan_for_classes_without_a_state():
    net = StateNet(StateNetConfig(crop_px=32)).eval()
    img = torch.rand(3, 128, 128) * 255
    boxes = torch.tensor([[60.0, 60.0, 40.0, 30.0, 10.0]] * 3)
    classes = torch.tensor([CLASSES.index("transport"), CLASSES.index("vehicle"), CLASSES.index("sam")])
    p = classify(net, img, boxes, classes, 0.5)
    assert math.isnan(float(p[1])) and 0 < float(p[0]) < 1 and 0 < float(p[2]) < 1


def test_nudged_boxes_move_along_the_axis_turn_and_grow():
    box = torch.tensor([[50.0, 60.0, 25.0, 5.0, 90.0]])  # pointing right (east)
    v = tta_boxes(box)
    assert v.shape == (4, 5) and torch.equal(v[0], box[0])
    assert v[1].tolist() == pytest.approx([51.0, 60.0, 25.0, 5.0, 94.0], abs=1e-5)
    assert v[2].tolist() == pytest.approx([49.0, 60.0, 25.0, 5.0, 86.0], abs=1e-5)
    assert v[3].tolist() == pytest.approx([50.0, 60.0, 27.5, 5.5, 90.0], abs=1e-5)


def test_test_time_augmentation_is_the_mean_of_the_eight_single_reads():
    from detect.state_net import state_net_from_payload

    torch.manual_seed(0)
    net = state_net_from_payload(load_weights(SHIPPED).state_net)
    img = torch.rand(3, 128, 128) * 255
    boxes = torch.tensor([[60.0, 60.0, 40.0, 12.0, 10.0], [70.0, 50.0, 30.0, 8.0, 200.0]])
    classes = torch.tensor([CLASSES.index("sam"), CLASSES.index("vehicle")])
    with torch.inference_mode():
        p = classify(net, img, boxes, classes, 0.5, tta=True)
        reads = []
        for b in tta_boxes(boxes[:1]):
            crop = oriented_crops(img, b[None], crop_sides(b[None], 0.5, net.config), net.config.crop_px)
            for c in (crop, crop.flip(-1)):
                reads.append(float(net(c)[0, STATE_CHANNEL[CLASSES.index("sam")]].sigmoid()))
    assert math.isnan(float(p[1]))
    assert float(p[0]) == pytest.approx(sum(reads) / 8, abs=1e-5)
    assert max(reads) - min(reads) > 0.01  # eight different reads


def _with_state_net(tmp_path, net):
    base = load_weights(SHIPPED)
    path = tmp_path / "detector.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, info=base.info,
                 state_net=state_net_payload(net))
    return path


def test_weights_carry_the_classifier_and_the_detector_uses_it(tmp_path):
    from detect.infer import Detector

    torch.manual_seed(0)
    net = StateNet(StateNetConfig(crop_px=32)).eval()
    with torch.no_grad():  # a classifier that always says "non-nominal"
        net.head[-1].bias.fill_(8.0)
    path = _with_state_net(tmp_path, net)
    loaded = load_weights(path)
    assert loaded.state_net is not None and loaded.state_net["config"]["crop_px"] == 32
    from imagery.synth.chips import ChipStream

    chip = ChipStream(384, seed=3, themes=(("state_study", 1.0),), gsd=(0.5, 0.5), p_gsd_wide=0.0).chip(0)
    # the classifier reads detections at their operating score (here 0.2 for all classes)
    on = Detector(path, device="cpu", score_threshold=0.2).detect_array(chip.image)
    has_state = np.array([CLASSES[c] in ("transport", "helicopter", "sam") for c in on.classes])
    short = (on.classes == CLASSES.index("transport")) & (on.boxes[:, 2] * 0.5 < 50.0)
    assert has_state.any()
    assert np.all(on.state_prob[has_state & ~short] > 0.99) and np.all(np.isnan(on.state_prob[~has_state]))
    assert np.all(on.state_prob[short] == 0.0)  # no transport shorter than 50 m has a visor
    off = Detector(path, device="cpu", score_threshold=0.2, state_classifier=False).detect_array(chip.image)
    assert np.allclose(off.scores, on.scores) and not np.all(off.state_prob[has_state & ~short] > 0.99)
    faint = Detector(path, device="cpu", score_threshold=0.9).predict_batch(
        np.ascontiguousarray(chip.image.transpose(2, 0, 1))[None])[0]
    low = np.isin(faint.classes, [CLASSES.index(c) for c in ("helicopter", "sam")]) & (faint.scores < 0.9)
    assert low.any() and not np.all(faint.state_prob[low] > 0.99)  # below the operating score: not read
    ungated = Detector(path, device="cpu", score_threshold=0.2,
                       state_min_length_m={}).detect_array(chip.image)
    assert np.all(ungated.state_prob[has_state] > 0.99)


def test_a_classifier_that_does_not_fit_its_config_is_refused(tmp_path):
    net = StateNet(StateNetConfig(crop_px=32))
    payload = state_net_payload(net)
    payload["config"]["hidden"] = 7
    base = load_weights(SHIPPED)
    path = tmp_path / "bad.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, state_net=payload)
    with pytest.raises(InputError, match="state classifier does not fit"):
        load_weights(path)


def _toy_crops(n, rng, size):
    """Transports whose 'visor' (a bright block at the top of the crop) shows when raised."""
    crops = rng.integers(60, 120, (n, 3, size, size)).astype(np.uint8)
    states = rng.integers(0, 2, n)
    crops[states == 1, :, 2:8, size // 2 - 3:size // 2 + 3] = 250
    classes = np.full(n, CLASSES.index("transport"))
    return {"crops": crops, "classes": classes, "states": states, "an124": np.ones(n, bool), "source": classes}


def test_a_tiny_training_run_learns_and_writes_loadable_weights(tmp_path, shipped_copy):
    rng = np.random.default_rng(0)
    cfg = StateTrainConfig(out=str(tmp_path / "run"), detector=str(tmp_path / "base.pt"), steps=60,
                           batch_size=32, net={"crop_px": 32, "widths": (8, 16, 24, 32), "hidden": 16})
    result = train_state(cfg, progress=False, export=tmp_path / "exported.pt",
                         crops=_toy_crops(256, rng, 32), val_crops=_toy_crops(128, rng, 32))
    assert result["val"]["transport.nose_raised"]["auc"] > 0.95
    loaded = load_weights(tmp_path / "exported.pt")
    assert loaded.state_net is not None
    base = load_weights(tmp_path / "base.pt")
    assert loaded.info["state_net"]["detector_sha256"] == base.sha256
    assert (loaded.type_net is None) == (base.type_net is None)  # the aircraft type classifier stays


def _constant_net(bias: float, **config) -> StateNet:
    net = StateNet(StateNetConfig(crop_px=32, widths=(8, 16, 24, 32), hidden=8, **config)).eval()
    with torch.no_grad():
        net.head[-1].weight.zero_()
        net.head[-1].bias.copy_(torch.tensor([bias, bias + 1.0, bias + 2.0]))
    return net


def test_a_state_network_per_class_reads_each_class_with_its_own_member():
    from detect.state_net import StateNetByClass, combine_by_class, state_net_from_payload
    from detect.targets import STATE_CLASSES

    base, heli, sam = _constant_net(-5.0), _constant_net(5.0), _constant_net(20.0)
    crops = torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8)
    both = combine_by_class(base, heli, ["helicopter"])
    h = STATE_CLASSES.index("helicopter")
    want = base(crops).detach()
    want[:, h] = heli(crops)[:, h].detach()
    assert torch.allclose(both(crops), want)
    from detect.state_net import own_state_logits

    channels = torch.tensor([h, 0, 2, h])  # each member reads only its classes' crops: same logits
    assert torch.allclose(own_state_logits(both, crops, channels), want[torch.arange(4), channels])
    back = state_net_from_payload(state_net_payload(both))  # the weights file's round trip
    assert isinstance(back, StateNetByClass) and torch.allclose(back(crops), want)
    three = combine_by_class(both, sam, ["sam"])  # a combined base keeps its members
    with torch.no_grad():
        assert len(three.members) == 3 and float(three(crops)[0, STATE_CLASSES.index("sam")]) == pytest.approx(22.0)
    assert len(combine_by_class(base, heli, list(STATE_CLASSES)).members) == 1  # nothing left to the base
    with pytest.raises(ValueError, match="no state"):
        combine_by_class(base, heli, ["fighter"])
    with pytest.raises(ValueError, match="same single-date crops"):
        combine_by_class(base, _constant_net(0.0, min_side_m=40.0), ["sam"])


def test_training_one_class_keeps_the_base_classifier_for_the_others(tmp_path, shipped_copy):
    from detect.state_net import StateNetByClass, state_net_from_payload
    from detect.targets import STATE_CLASSES

    base = state_net_from_payload(load_weights(tmp_path / "base.pt").state_net)
    rng = np.random.default_rng(0)
    small = {"widths": (8, 16, 24, 32), "hidden": 16}
    cfg = StateTrainConfig(out=str(tmp_path / "bad"), detector=str(tmp_path / "base.pt"), steps=5,
                           batch_size=8, replace_classes=["transport"], net={"crop_px": 32, **small})
    with pytest.raises(InputError, match="replace_classes"):  # crops the base does not read
        train_state(cfg, progress=False, crops=_toy_crops(16, rng, 32), val_crops=_toy_crops(16, rng, 32))
    cfg = StateTrainConfig(out=str(tmp_path / "run"), detector=str(tmp_path / "base.pt"), steps=60,
                           batch_size=32, replace_classes=["transport"], net=small)
    result = train_state(cfg, progress=False, crops=_toy_crops(256, rng, 80), val_crops=_toy_crops(128, rng, 80))
    assert result["val"]["transport.nose_raised"]["auc"] > 0.95
    assert result["val_trained_network"]["transport.nose_raised"]["auc"] > 0.95
    net = state_net_from_payload(load_weights(tmp_path / "run" / "detector.pt").state_net)
    assert isinstance(net, StateNetByClass)
    crops = torch.randint(0, 255, (6, 3, 80, 80), dtype=torch.uint8)
    with torch.no_grad():
        got, kept = net(crops), base(crops)
    others = [STATE_CLASSES.index(c) for c in STATE_CLASSES if c != "transport"]
    assert torch.allclose(got[:, others], kept[:, others])
    assert not torch.allclose(got[:, STATE_CLASSES.index("transport")], kept[:, STATE_CLASSES.index("transport")])


def test_roc_auc_and_state_metrics():
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.1, 0.2])))
    t = CLASSES.index("transport")
    m = state_metrics(np.array([0.9, 0.1, 0.8]), np.array([t, t, t]), np.array([1, 0, 0]),
                      np.array([True, True, False]))
    assert m["transport.nose_raised"]["f1"] == pytest.approx(2 / 3)
    assert m["An-124.nose_raised"]["auc"] == 1.0


def test_a_crop_cache_is_read_back_when_its_settings_hold_tuples(tmp_path):
    data = {k: np.zeros(2) for k in ("crops", "classes", "states", "an124", "source", "types")}
    key = {"net": {"widths": (24, 48, 96, 128)}}
    _cached_crops(tmp_path / "c.npz", key, lambda: data)

    def render_again():
        raise AssertionError("the cache was not used")

    assert set(_cached_crops(tmp_path / "c.npz", key, render_again)) == set(data)


def test_rare_types_named_for_balancing_get_sampling_groups_and_figures_of_their_own():
    sam = CLASSES.index("sam")
    types = np.array(["S-400 TEL", "S-400 TEL", "91N6E", "91N6E", "Pantsir-S1"])
    states = np.array([1, 0, 1, 0, 1])
    source = np.full(5, sam)
    groups = sampling_groups(source, states, types, ["An-124", "91N6E"])
    # a packed radar is drawn apart from a packed launcher; an unnamed type shares the class's group
    assert groups[0] != groups[2] and groups[1] != groups[3] and groups[0] == groups[4]
    assert len(set(sampling_groups(source, states, types, []).tolist())) == 2  # class and state only
    # class_state: naming types inside a class splits its share instead of adding to it
    t = CLASSES.index("transport")
    src, sts = np.r_[source, [t, t]], np.r_[states, [0, 1]]
    w = sampling_weights(src, sts, np.r_[types, ["Il-76MD", "Il-76MD"]], ["91N6E"], "class_state")
    share = {(c, st): w[(src == c) & (sts == st)].sum() for c in (sam, t) for st in (0, 1)}
    assert np.allclose(list(share.values()), share[(sam, 1)])
    m = state_metrics(np.array([0.9, 0.2, 0.3, 0.6, 0.5]), source, states, np.zeros(5, bool), types=types)
    assert m["sam.packed/S-400 TEL"]["auc"] == 1.0 and m["sam.packed/91N6E"]["auc"] == 0.0
    assert m["sam.packed/Pantsir-S1"]["n"] == 1


def test_state_study_chips_hold_both_states_of_state_bearing_types():
    from imagery.synth.chips import ChipStream

    s = ChipStream(384, seed=1, themes=(("state_study", 1.0),))
    classes, states = [], []
    for i in range(6):
        c = s.chip(i)
        classes += [CLASSES[k] for k in c.classes]
        states += list(c.states)
    stateful = [st for cl, st in zip(classes, states, strict=True) if cl in ("transport", "helicopter", "sam")]
    assert len(stateful) >= 8 and 0 < sum(stateful) < len(stateful)


def test_unknown_theme_lists_the_extra_themes():
    from imagery.synth.chips import ChipStream

    with pytest.raises(InputError, match="state_study"):
        ChipStream(128, themes=(("nope", 1.0),))


def test_transports_shorter_than_an_an124_are_reported_without_a_raised_visor():
    from detect.infer import Detector
    from detect.targets import Decoded

    det = Detector(device="cpu")  # model GSD 0.5 m: 100 px = 50 m
    t, h = CLASSES.index("transport"), CLASSES.index("helicopter")
    d = Decoded(np.array([[0, 0, 96.0, 90, 0], [0, 0, 138.0, 140, 0], [0, 0, 30.0, 30, 0]]),
                np.ones(3), np.array([t, t, h]), np.array([0.9, 0.9, 0.9]))
    det._gate_states_by_length(d)
    assert d.state_prob.tolist() == [0.0, 0.9, 0.9]
    with pytest.raises(InputError, match="unknown class"):
        Detector(device="cpu", state_min_length_m={"tank": 5.0})._gate_states_by_length(d)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_state_probabilities_agree_on_cpu_and_cuda():
    torch.manual_seed(0)
    net = StateNet(StateNetConfig()).eval()
    img = torch.rand(3, 256, 256) * 255
    boxes = torch.tensor([[128.0, 120.0, 90.0, 80.0, 33.0], [60.0, 70.0, 30.0, 10.0, 250.0]])
    classes = torch.tensor([CLASSES.index("transport"), CLASSES.index("sam")])
    cpu = classify(net, img, boxes, classes, 0.5)
    gpu_net = StateNet(StateNetConfig()).eval()
    gpu_net.load_state_dict(net.state_dict())
    with torch.autocast("cuda", dtype=torch.float16):  # as Detector.predict_batch runs it
        gpu = classify(gpu_net.cuda(), img.cuda(), boxes.cuda(), classes.cuda(), 0.5).cpu()
    assert torch.allclose(cpu, gpu, atol=2e-2)


def test_the_state_reads_benchmark_tells_false_readings_per_type():
    """benchmarks/state_reads.py: per (class, type, true state), the share read non-nominal."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "state_reads", Path(__file__).resolve().parents[1] / "benchmarks" / "state_reads.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    reads = [("helicopter", "Ka-52", "nominal", p, 0.0) for p in (0.1, 0.2, 0.9, 0.6)]
    reads += [("helicopter", "Ka-52", "dismantled", 0.99, 0.0), ("helicopter", "Mi-8", "nominal", 0.0, 0.0),
              ("helicopter", "Mi-8", "nominal", float("nan"), 0.0), ("helicopter", "Mi-8", "nominal", 0.7, 2.0)]
    rows = bench.summarise(reads, 0.5)
    assert [r[:6] for r in rows] == [["helicopter", "Ka-52", "dismantled", 0.0, 1, 1.0],
                                     ["helicopter", "Ka-52", "nominal", 0.0, 4, 0.5],
                                     ["helicopter", "Mi-8", "nominal", 0.0, 1, 0.0],
                                     ["helicopter", "Mi-8", "nominal", 2.0, 1, 1.0]]
    # a box moved 2 m in eight directions, along its axis first: heading 90 (east) moves x first
    moved = bench.shifted(np.array([[100.0, 200.0, 14.0, 7.0, 90.0]]), 2.0)
    assert moved.shape == (8, 5) and np.allclose(moved[0, :2], [102.0, 200.0])
    assert np.allclose(np.hypot(moved[:, 0] - 100, moved[:, 1] - 200), 2.0) and np.allclose(moved[:, 2:], [14, 7, 90])
    assert bench.shifted(moved[:1], 0.0) is not None and len(bench.shifted(moved[:1], 0.0)) == 1


def test_the_crop_jitter_can_be_set_per_class():
    """`jitter.centre_by_class`: the detector's helicopter boxes miss the centre by about twice the
    default jitter; other classes keep their draws to the bit, and a class name is checked."""
    from pydantic import ValidationError

    from detect.state_train import JitterSection, jitter_boxes

    boxes = np.tile([[100.0, 100.0, 20.0, 10.0, 30.0]], (400, 1))
    classes = np.array([CLASSES.index("helicopter"), CLASSES.index("sam")] * 200)
    plain = jitter_boxes(boxes, classes, np.random.default_rng(1), JitterSection())
    same = jitter_boxes(boxes, classes, np.random.default_rng(1), JitterSection(centre_by_class={"helicopter": 0.05}))
    wide = jitter_boxes(boxes, classes, np.random.default_rng(1), JitterSection(centre_by_class={"helicopter": 0.2}))
    assert np.array_equal(plain, same)
    heli = classes == CLASSES.index("helicopter")
    assert np.array_equal(wide[~heli], plain[~heli])
    moved = lambda b: np.hypot(b[heli, 0] - 100.0, b[heli, 1] - 100.0).mean()  # noqa: E731
    assert moved(wide) == pytest.approx(4 * moved(plain))
    with pytest.raises(ValidationError, match="unknown classes"):
        JitterSection(centre_by_class={"helicopters": 0.1})
    # `jitter.centre_by_type`: one type's boxes moved further, the rest drawn as before
    types = np.array(["Ka-52", ""] * 200)
    ka52 = JitterSection(centre_by_type={"Ka-52": 0.2})
    by_type = jitter_boxes(boxes, classes, np.random.default_rng(1), ka52, types)
    assert np.array_equal(by_type, wide)
    assert np.array_equal(jitter_boxes(boxes, classes, np.random.default_rng(1), ka52), plain)  # no types
    with pytest.raises(ValidationError, match="unknown types"):
        JitterSection(centre_by_type={"Ka52": 0.1})


def test_training_only_on_the_replaced_class_drops_the_other_crops(tmp_path, shipped_copy):
    rng = np.random.default_rng(1)
    small = {"widths": (8, 16, 24, 32), "hidden": 16}
    mixed = _toy_crops(256, rng, 80)
    heli = CLASSES.index("helicopter")
    mixed["classes"][::2] = heli  # half the crops are helicopters, their states noise
    mixed["source"] = mixed["classes"]
    cfg = StateTrainConfig(out=str(tmp_path / "run"), detector=str(tmp_path / "base.pt"), steps=60,
                           batch_size=32, replace_classes=["transport"], train_only_replaced=True, net=small)
    result = train_state(cfg, progress=False, crops=mixed, val_crops=_toy_crops(128, rng, 80))
    assert result["train_crops"] == 128  # the transports only
    assert result["val"]["transport.nose_raised"]["auc"] > 0.95
    only_heli = {**mixed, "classes": np.full(256, heli), "source": np.full(256, heli)}
    with pytest.raises(InputError, match="no crops of"):
        train_state(cfg, progress=False, crops=only_heli, val_crops=_toy_crops(16, rng, 80))


def test_a_class_can_be_read_by_the_mean_of_the_base_reader_and_a_new_one():
    from detect.state_net import StateNetByClass, StateNetMean, combine_by_class, state_net_from_payload
    from detect.targets import STATE_CLASSES

    base, heli, sam = _constant_net(-5.0), _constant_net(5.0), _constant_net(20.0)
    crops = torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8)
    two = combine_by_class(base, heli, ["helicopter"])
    three = combine_by_class(two, sam, ["sam"], mean=True)
    s, h = STATE_CLASSES.index("sam"), STATE_CLASSES.index("helicopter")
    with torch.no_grad():
        got, kept, new = three(crops), two(crops), sam(crops)
        assert torch.allclose(got[:, s], (kept[:, s] + new[:, s]) / 2)  # the base's sam reader and the new
        assert torch.allclose(got[:, h], kept[:, h])
        back = state_net_from_payload(state_net_payload(three))  # the weights file's round trip
        assert isinstance(back, StateNetByClass) and torch.allclose(back(crops), got)
    assert any(isinstance(m, StateNetMean) for m in back.members)
    with pytest.raises(ValueError, match="same single-date crops"):
        StateNetMean([base, _constant_net(0.0, min_side_m=40.0)])
