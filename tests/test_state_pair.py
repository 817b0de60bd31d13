"""The two-date state classifier: twin chips, pair crops, training, weights and reading."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from detect.infer import SHIPPED_WEIGHTS, Detector
from detect.model import load_weights, save_weights
from detect.state_net import StateNet, StateNetConfig, classify_pair, state_net_payload
from detect.state_pair_train import (
    PairStreamSection,
    StatePairTrainConfig,
    pair_metrics,
    render_twin_crops,
    train_state_pair,
    twin_crops,
)
from detect.state_train import JitterSection, NetSection
from imagery.errors import InputError
from imagery.synth.chips import ChipStream
from imagery.taxonomy import CLASSES

SAM = CLASSES.index("sam")


def test_a_twin_is_the_chip_plus_another_date_of_the_same_world():
    stream = ChipStream(256, seed=4, themes=(("state_study", 1.0),))
    chip = stream.chip(2)
    twin = stream.twin(2, p_flip=1.0)
    assert np.array_equal(twin.image_a, chip.image)
    assert not np.array_equal(twin.image_a, twin.image_b)
    stateful = np.isin(twin.classes, [CLASSES.index(c) for c in ("transport", "helicopter", "sam")])
    assert stateful.any()
    assert np.all(twin.states_a[stateful] != twin.states_b[stateful])  # p_flip 1: every one flipped
    assert np.all(twin.states_a[~stateful] == twin.states_b[~stateful])
    # same objects, moved by the other date's lean only (a few metres at most)
    shift_m = np.hypot(*(twin.boxes_a[:, :2] - twin.boxes_b[:, :2]).T) * twin.gsd
    assert len(twin.boxes_a) == len(twin.boxes_b) and shift_m.max() < 15
    same = stream.twin(2, p_flip=0.0)
    assert np.array_equal(same.states_a, same.states_b)
    assert np.array_equal(stream.twin(2, p_flip=1.0).image_b, twin.image_b)  # deterministic


def test_twin_crops_stack_both_dates_at_one_box():
    stream = ChipStream(384, seed=1, themes=(("sam_site", 1.0),))
    twin = stream.twin(0)
    net = NetSection(crop_px=32)
    c = twin_crops(twin, np.random.default_rng(0), net, JitterSection(), 2, 1.0)
    n = len(c["classes"])
    assert n and c["crops"].shape == (n, 6, 32, 32) and c["crops"].dtype == np.uint8
    assert {"states_a", "states_b", "source"} <= set(c)
    assert set(np.unique(c["classes"])) <= {CLASSES.index(x) for x in ("transport", "helicopter", "sam")}


def test_classify_pair_reads_each_date_and_skips_stateless_classes():
    torch.manual_seed(0)
    net = StateNet(StateNetConfig(crop_px=32, dates=2)).eval()
    img = torch.rand(3, 96, 96) * 255
    boxes = torch.tensor([[48.0, 48.0, 30.0, 8.0, 20.0]] * 2)
    p = classify_pair(net, img, img.flip(2), boxes, torch.tensor([SAM, CLASSES.index("vehicle")]), 0.5)
    assert p.shape == (2, 2) and torch.isnan(p[1]).all() and ((p[0] > 0) & (p[0] < 1)).all()


def _toy_pairs(n, rng, size=32):
    """SAM crops whose 'tubes' (a bright bar) show on a date when deployed; the background
    brightness differs between the dates like two acquisitions."""
    sa, sb = rng.integers(0, 2, n), rng.integers(0, 2, n)
    a = rng.integers(60, 120, (n, 3, size, size)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, (n, 1, 1, 1)), 0, 255).astype(np.uint8)
    a[sa == 0, :, 4:10, 10:22] = 250
    b[sb == 0, :, 4:10, 10:22] = 250
    cls = np.full(n, SAM)
    return {"crops": np.concatenate([a, b], 1), "classes": cls, "states_a": sa, "states_b": sb, "source": cls}


def test_a_tiny_pair_training_run_learns_and_keeps_the_single_date_classifier(tmp_path, shipped_copy):
    base = shipped_copy
    rng = np.random.default_rng(0)
    cfg = StatePairTrainConfig(out=str(tmp_path / "run"), detector=str(base), steps=80, batch_size=32,
                               net={"crop_px": 32, "widths": (8, 16, 24, 32), "hidden": 16},
                               init_from_single=False)  # toy widths: not the shipped classifier's
    result = train_state_pair(cfg, progress=False, export=tmp_path / "exported.pt",
                              crops=_toy_pairs(384, rng), val_crops=_toy_pairs(200, rng))
    m = result["val"]["sam.packed"]
    assert m["auc_became"] > 0.9 and m["auc_left"] > 0.9
    loaded = load_weights(tmp_path / "exported.pt")
    assert loaded.state_pair is not None and loaded.state_pair["config"]["dates"] == 2
    from detect.state_net import state_net_from_payload

    kept = state_net_from_payload(load_weights(base).state_net).state_dict()  # one network or one per class
    assert loaded.state_net is not None
    now = state_net_from_payload(loaded.state_net).state_dict()
    assert now.keys() == kept.keys() and all(torch.equal(now[k], v) for k, v in kept.items())


def test_late_fusion_starts_out_reading_as_the_single_date_classifier():
    from detect.state_net import PairStateNet

    torch.manual_seed(2)
    single = StateNet(StateNetConfig(crop_px=32)).eval()
    pair = PairStateNet(StateNetConfig(crop_px=32, dates=2, fusion="late")).eval()
    pair.single.load_state_dict(single.state_dict())
    x = torch.rand(5, 6, 32, 32) * 255
    torch.testing.assert_close(pair(x), torch.cat([single(x[:, :3]), single(x[:, 3:])], dim=1))


def test_starting_from_a_single_date_classifier_of_other_widths_is_refused(tmp_path, shipped_copy):
    cfg = StatePairTrainConfig(out=str(tmp_path / "run"), detector=str(shipped_copy), steps=2,
                               net={"crop_px": 32, "widths": (8, 16, 24, 32), "hidden": 16})
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="must match"):
        train_state_pair(cfg, progress=False, crops=_toy_pairs(16, rng), val_crops=_toy_pairs(8, rng))


def test_pair_metrics_score_the_change_rule():
    prob = np.array([[0.1, 0.9], [0.9, 0.1], [0.2, 0.3], [0.1, 0.8]])
    cls = np.full(4, SAM)
    m = pair_metrics(prob, cls, np.array([0, 1, 0, 0]), np.array([1, 0, 0, 0]), cls, 0.4)["sam.packed"]
    assert m["became"] == 1 and m["left"] == 1 and m["recall"] == 1.0 and m["precision"] == pytest.approx(2 / 3)
    assert m["false_changes_per_100_steady"] == pytest.approx(50.0)


def test_a_pair_classifier_that_does_not_fit_is_refused(tmp_path):
    payload = state_net_payload(StateNet(StateNetConfig(crop_px=32, dates=2)))
    payload["config"]["dates"] = 1
    base = load_weights(SHIPPED_WEIGHTS)
    path = tmp_path / "bad.pt"
    save_weights(path, base.model, gsd_m=base.gsd_m, target=base.target, state_pair=payload)
    with pytest.raises(InputError, match="state classifier does not fit"):
        load_weights(path)


def _scene(path, image):
    t = Affine(0.5, 0, 500000.0, 0, -0.5, 3920000.0)
    with rasterio.open(path, "w", driver="GTiff", width=image.shape[1], height=image.shape[0], count=3,
                       dtype="uint8", crs="EPSG:32636", transform=t) as ds:
        ds.write(image.transpose(2, 0, 1))
    return path, t


def test_detector_reads_states_at_map_boxes_on_both_dates(tmp_path):
    """The reading at a box equals the state the detection pass gave that box, and the pair
    reading without a pair classifier is the single-date reading of each date."""
    stream = ChipStream(512, seed=3, themes=(("state_study", 1.0),), gsd=(0.5, 0.5), p_gsd_wide=0.0)
    twin = stream.twin(1)
    pa, t = _scene(tmp_path / "a.tif", twin.image_a)
    pb, _ = _scene(tmp_path / "b.tif", twin.image_b)
    det = Detector(device="cpu", state_pair_classifier=False)
    gdf = det.run(pa)
    sel = gdf[gdf["class"].isin(["sam", "helicopter", "transport"]) & gdf["state_score"].notna()]
    assert len(sel)
    boxes = np.column_stack([sel.geometry.centroid.x, sel.geometry.centroid.y, sel.length_m, sel.width_m,
                             sel.heading_deg])
    own = det.read_states(pa, boxes, list(sel["class"]))
    np.testing.assert_allclose(own, sel["state_score"].astype(float), atol=0.02)
    pair = det.read_state_pairs(pa, pb, boxes, list(sel["class"]))
    np.testing.assert_allclose(pair[:, 0], own)
    np.testing.assert_allclose(pair[:, 1], det.read_states(pb, boxes, list(sel["class"])))
    off = det.read_state_pairs(pa, pb, np.array([[0.0, 0.0, 13, 3, 0]]), ["sam"])
    assert np.isnan(off).all()  # far off the image


def test_a_twin_crop_render_job_runs_in_worker_processes():
    stream = PairStreamSection(seed=2, chips=2, size=256, themes={"sam_site": 1.0}, workers=2)
    out = render_twin_crops(stream, NetSection(crop_px=32), JitterSection(), 1, 0.7, {}, progress=False)
    assert out["crops"].shape[1:] == (6, 32, 32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_pair_probabilities_agree_on_cpu_and_cuda():
    torch.manual_seed(1)
    net = StateNet(StateNetConfig(dates=2)).eval()
    img_a, img_b = torch.rand(3, 160, 160) * 255, torch.rand(3, 160, 160) * 255
    boxes = torch.tensor([[80.0, 80.0, 26.0, 6.0, 33.0], [60.0, 90.0, 30.0, 8.0, 200.0]])
    classes = torch.tensor([SAM, CLASSES.index("transport")])
    cpu = classify_pair(net, img_a, img_b, boxes, classes, 0.5)
    gpu = classify_pair(net.cuda(), img_a.cuda(), img_b.cuda(), boxes.cuda(), classes.cuda(), 0.5).cpu()
    torch.testing.assert_close(gpu, cpu, atol=2e-3, rtol=0)


def test_a_pair_classifier_starts_from_the_launchers_network_of_a_classifier_by_class(tmp_path, shipped_copy):
    """Shipped weights may read each class with its own network (StateNetByClass): the pair
    classifier, which is for launchers, starts from the network that reads them."""
    from detect.state_net import StateNetMean, combine_by_class, state_net_from_payload
    from detect.targets import STATE_CLASSES

    base = shipped_copy
    loaded = load_weights(base)
    single = state_net_from_payload(loaded.state_net)
    torch.manual_seed(0)
    both = combine_by_class(single, StateNet(single.config), ["helicopter"])
    save_weights(base, loaded.model, gsd_m=loaded.gsd_m, target=loaded.target, info=loaded.info,
                 state_net=state_net_payload(both))
    rng = np.random.default_rng(0)
    net = {k: v for k, v in both.config.to_dict().items() if k in ("crop_px", "side_scale", "min_side_m",
                                                                     "widths", "hidden")}
    cfg = StatePairTrainConfig(out=str(tmp_path / "run"), detector=str(base), steps=1, batch_size=4, lr=0.0,
                               net=net)  # lr 0: the parameters stay where they started
    train_state_pair(cfg, progress=False, crops=_toy_pairs(8, rng, both.config.crop_px),
                     val_crops=_toy_pairs(8, rng, both.config.crop_px))
    pair = state_net_from_payload(load_weights(tmp_path / "run" / "detector.pt").state_pair)
    launchers = both.member_for(STATE_CLASSES.index("sam"))
    if isinstance(launchers, StateNetMean):  # the shipped launchers' reader is a mean of two: its first
        launchers = launchers.members[0]
    sam = dict(launchers.named_parameters())
    assert all(torch.equal(p, sam[k]) for k, p in pair.single.named_parameters())
