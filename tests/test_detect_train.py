"""Training on hand-drawn toy chips: the loss goes down, runs are deterministic and resumable,
weights files are checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_detect_toys import toy_chip

from detect.model import CenterNetOBB, ModelConfig, load_weights, save_weights
from detect.train import TrainConfig, TrainingSet, train
from imagery.errors import InputError

TINY = {"stem": (8, 16), "widths": (24, 32, 48), "depths": (1, 1, 1, 1), "kernel": 3, "neck": 16, "head": 16}


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(out=str(tmp_path / "run"), steps=30, batch_size=4, chip_size=128, workers=0, log_every=5,
                warmup_steps=5, lr=3e-3, checkpoint_every=10, model=TINY, val={"chips": 0})
    base.update(kw)
    return TrainConfig.model_validate(base)


def _small_chip(i: int):
    return toy_chip(i, size=160, n_objects=(2, 4))


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine this is as fast and never stalls on a busy core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_tiny_training_run_lowers_the_loss(tmp_path):
    result = train(_cfg(tmp_path, steps=40), chip_source=_small_chip, progress=False)
    losses = [h["loss"] for h in result["history"]]
    heat = [h["heat"] for h in result["history"]]
    # 40 steps teach the heat maps first (the regression terms move later): the focal loss must
    # fall by a third, the total (which carries the slow terms too) by 15 %.
    assert heat[-1] < 0.75 * heat[0], heat
    assert losses[-1] < 0.85 * losses[0], losses
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "best.pt.sha256").is_file()
    w = load_weights(tmp_path / "run" / "best.pt")
    assert w.gsd_m == 0.5 and w.info["step"] == 40
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 40


def test_training_is_deterministic_and_resumes_where_it_stopped(tmp_path):
    train(_cfg(tmp_path / "a", steps=12), chip_source=_small_chip, progress=False)
    b1 = train(_cfg(tmp_path / "b", steps=12), chip_source=_small_chip, progress=False, max_steps=6)
    assert b1["step"] == 6
    b2 = train(_cfg(tmp_path / "b", steps=12), chip_source=_small_chip, progress=False, resume=True)
    assert b2["step"] == 12
    sa = torch.load(tmp_path / "a" / "run" / "last.pt", weights_only=False)["model"]
    sb = torch.load(tmp_path / "b" / "run" / "last.pt", weights_only=False)["model"]
    for k in sa:
        assert torch.allclose(sa[k].float(), sb[k].float(), atol=1e-5), k
    with pytest.raises(InputError, match="nothing to resume"):
        train(_cfg(tmp_path / "c"), chip_source=_small_chip, progress=False, resume=True)


def test_samples_are_reproducible_and_augmented_headings_stay_consistent(tmp_path):
    ds = TrainingSet(_cfg(tmp_path), _small_chip)
    a, b = ds.sample(7), ds.sample(7)
    assert np.array_equal(a.image, b.image) and np.allclose(a.boxes, b.boxes)
    image, targets = ds[7]
    assert image.shape == (3, 128, 128) and image.dtype == torch.uint8
    assert targets["heat"].shape == (6, 32, 32)
    # after flips/quarter turns the nose mark (darkest part of a toy aircraft) is still in front
    checked = 0
    for i in range(40):
        s = ds.sample(i)
        for box, cls in zip(s.boxes, s.classes, strict=True):
            if cls not in (0, 1, 5) or not (20 < box[0] < 108 and 20 < box[1] < 108):
                continue
            t = np.radians(box[4])
            fwd = np.array([np.sin(t), -np.cos(t)])
            nose = box[:2] + fwd * box[2] * 0.44
            back = box[:2] - fwd * box[2] * 0.44
            grey = s.image.mean(axis=2)

            def patch(p, g=grey):
                return g[int(p[1]) - 1:int(p[1]) + 2, int(p[0]) - 1:int(p[0]) + 2].mean()

            assert patch(nose) < patch(back), (i, box)
            checked += 1
    assert checked >= 5


def test_weights_files_are_verified(tmp_path):
    model = CenterNetOBB(ModelConfig(**TINY))
    path = save_weights(tmp_path / "w.pt", model, gsd_m=0.5, target={})
    assert load_weights(path).model is not None
    with pytest.raises(InputError, match="not found"):
        load_weights(tmp_path / "missing.pt")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "w.pt").write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum mismatch"):
        load_weights(path)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    (tmp_path / "junk.pt.sha256").write_text(
        __import__("hashlib").sha256(b"not a torch file").hexdigest() + "  junk.pt\n")
    with pytest.raises(InputError, match="not a readable weights file"):
        load_weights(tmp_path / "junk.pt")
    (tmp_path / "w.pt.sha256").unlink()
    with pytest.raises(InputError, match="no checksum file"):
        load_weights(path)


def test_format_1_weights_are_refused_for_inference_but_start_training(tmp_path):
    import hashlib

    model = CenterNetOBB(ModelConfig(**TINY))
    path = save_weights(tmp_path / "v1.pt", model, gsd_m=0.5, target={})
    payload = torch.load(path, weights_only=True)
    payload["version"] = 1  # what the first shipped model was: six regression channels
    payload["state_dict"]["reg.weight"] = payload["state_dict"]["reg.weight"][:6].clone()
    payload["state_dict"]["reg.bias"] = payload["state_dict"]["reg.bias"][:6].clone()
    torch.save(payload, path)
    (tmp_path / "v1.pt.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "  v1.pt\n")
    with pytest.raises(InputError, match="predates the box-axis head"):
        load_weights(path)
    up = load_weights(path, upgrade=True).model
    assert torch.equal(up.reg.weight[:6], payload["state_dict"]["reg.weight"])
    assert float(up.reg.weight[6:].abs().max()) == 0.0 and up.reg.bias[6:].tolist() == [0.0, 1.0]


def test_fine_tuning_keeps_the_state_classifier_of_the_starting_weights(tmp_path):
    from detect.state_net import StateNet, StateNetConfig, state_net_payload

    net = StateNet(StateNetConfig(crop_px=32)).eval()
    start = save_weights(tmp_path / "start.pt", CenterNetOBB(ModelConfig(**TINY)), gsd_m=0.5, target={},
                         state_net=state_net_payload(net))
    train(_cfg(tmp_path, steps=4, init_weights=str(start)), chip_source=_small_chip, progress=False)
    tuned = load_weights(tmp_path / "run" / "best.pt")
    assert tuned.state_net is not None and tuned.info["state_net_from"] == str(start)
    original = state_net_payload(net)["state_dict"]
    assert all(torch.equal(tuned.state_net["state_dict"][k], v) for k, v in original.items())


def test_chip_cache_renders_once_and_serves_the_same_chips(tmp_path):
    from detect.train import build_chip_cache

    key = {"what": "toys"}
    cache = build_chip_cache(tmp_path / "c", _small_chip, chips=5, size=160, key=key, workers=1, progress=False)
    assert len(cache) == 5
    for i in (0, 3, 7):
        ref, got = _small_chip(i % 5), cache(i)
        assert np.array_equal(ref.image, got.image)
        assert np.allclose(ref.boxes, got.boxes) and np.array_equal(ref.classes, got.classes)
    again = build_chip_cache(tmp_path / "c", _small_chip, chips=5, size=160, key=key, workers=1, progress=False)
    assert len(again) == 5
    with pytest.raises(Exception, match="other settings"):
        build_chip_cache(tmp_path / "c", _small_chip, chips=6, size=160, key=key, workers=1, progress=False)


def test_antialiased_model_takes_plain_weights_and_fuses_exactly(tmp_path):
    """The anti-aliased variant has the plain model's parameters (so it can start from shipped
    weights), survives a weights file round trip with its flag, folds its BatchNorms without
    changing its output, and its blur leaves a flat image flat."""
    from detect.model import BlurDown, fuse_for_inference

    torch.manual_seed(0)
    plain = CenterNetOBB(ModelConfig())
    aa = CenterNetOBB(ModelConfig(antialias=True))
    aa.load_state_dict(plain.state_dict())  # strict: same keys, same shapes
    assert any(isinstance(m, BlurDown) for m in aa.modules())
    assert not any(isinstance(m, BlurDown) for m in plain.modules())
    path = tmp_path / "aa.pt"
    save_weights(path, aa, gsd_m=0.5, target={})
    loaded = load_weights(path).model
    assert loaded.config.antialias
    x = torch.randint(0, 256, (1, 3, 128, 128)).float()
    loaded.eval()
    with torch.no_grad():
        ref = loaded(x)["heat"]
        fused = fuse_for_inference(loaded)(x)["heat"]
    assert ref.shape == (1, plain.config.num_classes, 32, 32)
    assert torch.allclose(ref, fused, atol=1e-4)
    flat = torch.full((1, 4, 16, 16), 7.0)
    assert torch.allclose(BlurDown(4)(flat), torch.full((1, 4, 8, 8), 7.0))
