"""The fast change kernels (numba, torch) against the float64 numpy reference.

Tolerances: the kernels compute in float32, so the raw statistic agrees to a relative 2e-3
(the local variances of the structure term lose the most), the calibrated score to 2e-3
relative + 2e-3 absolute; a pixel whose darkness sits exactly on the shadow threshold may flip
between float32 and float64 (and the 3x3 box mean spreads each flip over 9 pixels), so up to
0.2 % of pixels (1 % on the 48 x 48 float inputs) may differ more.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from detect.change import cpu
from detect.change.config import load_change_config
from detect.change.model import PairGeometry, SunGeometry, ViewGeometry, calibrate, fit_model
from detect.change.reference import reference_score, reference_statistic
from imagery.samples import textured_field

GEOMETRY = PairGeometry((SunGeometry(150.0, 30.0), SunGeometry(210.0, 45.0)),
                        (ViewGeometry(100.0, 25.0), ViewGeometry(250.0, 8.0)), gsd_m=0.5)
NO_OFFSETS = np.zeros((0, 2), np.int32)


def make_pair(size: int = 96, bands: int = 3, dtype: str = "uint8", seed: int = 1):
    rng = np.random.default_rng(seed)
    f = textured_field(size, size, seed=seed, bands=bands)
    full = 255.0 if dtype == "uint8" else 2047.0
    x = np.clip(f * 0.8 * full + 0.05 * full + rng.normal(0, 0.01 * full, f.shape), 0, full)
    y = np.clip(f * 0.6 * full + 0.15 * full + rng.normal(0, 0.01 * full, f.shape), 0, full)
    y[:, 20:30, 30:42] = 0.95 * full  # something new and bright (1.3 % of the pixels)
    y[:, 60:68, 10:20] *= 0.4  # a new shadow-like dark patch
    valid = np.ones((size, size), bool)
    valid[:4] = False
    valid[50:58, 50:58] = False
    return x.astype(dtype), y.astype(dtype), valid


def variants(model):
    off = dict(offsets=model.offsets[:1], structure_radius=0, smooth_radius=0, shadow=NO_OFFSETS,
               add_weight=0.0)
    return {
        "basic": dataclasses.replace(model, **off),
        "search": dataclasses.replace(model, **{**off, "offsets": model.offsets}),
        "structure": dataclasses.replace(model, **{**off, "structure_radius": model.structure_radius,
                                                   "add_weight": 0.5}),
        "shadow": dataclasses.replace(model, **{**off, "shadow": model.shadow}),
        "smooth": dataclasses.replace(model, **{**off, "smooth_radius": model.smooth_radius}),
        "full": model,
    }


@pytest.fixture(scope="module")
def fitted():
    x, y, valid = make_pair()
    cfg = load_change_config()
    model = fit_model(x[:, valid], y[:, valid], cfg, geometry=GEOMETRY)
    model = calibrate(model, reference_statistic(x, y, valid, model), cfg)
    return x, y, valid, model


def _close(fast: np.ndarray, ref: np.ndarray, rel: float, abs_: float = 0.0, flips: float = 0.002):
    assert np.array_equal(np.isnan(fast), np.isnan(ref))
    ok = np.isnan(ref) | (np.abs(fast - ref) <= rel * np.abs(ref) + abs_)
    assert (~ok).mean() <= flips, f"{(~ok).sum()} pixels differ, worst {np.nanmax(np.abs(fast - ref))}"


def test_model_has_every_lever(fitted):
    _, _, _, m = fitted
    assert len(m.offsets) > 9 and tuple(m.offsets[0]) == (0, 0)  # square + lean line
    assert len(m.shadow) > 0 and m.structure_radius > 0 and m.smooth_radius > 0
    assert m.halo >= m.search_reach + m.smooth_radius


@pytest.mark.parametrize("name", ["basic", "search", "structure", "shadow", "smooth", "full"])
def test_numba_statistic_matches_reference(fitted, name):
    x, y, valid, model = fitted
    m = variants(model)[name]
    ref = reference_statistic(x, y, valid, m)
    # Small, odd blocks too: every block edge (and the image edges) must join seamlessly.
    for rows, cols in ((32, 512), (7, 13)):
        fast = cpu.score_tile(x, y, valid, m, raw=True, block_rows=rows, block_cols=cols)
        assert fast.dtype == np.float32
        _close(fast, ref, rel=2e-3, abs_=1e-4, flips=0.002 if name in ("shadow", "full") else 0.0)


def test_numba_score_matches_reference_and_is_nan_only_where_invalid(fitted):
    x, y, valid, model = fitted
    ref = reference_score(x, y, valid, model)
    fast = cpu.score_tile(x, y, valid, model)
    _close(fast, ref, rel=2e-3, abs_=2e-3)
    assert np.isnan(fast[~valid]).all() and np.isfinite(fast[valid]).all()
    # The changed block scores far above the unchanged texture.
    assert np.nanmedian(fast[22:28, 32:40]) > 10 > 1 > np.nanmedian(fast[80:, 60:])


def test_core_region_equals_slice_of_full_result(fitted):
    x, y, valid, model = fitted
    full = cpu.score_tile(x, y, valid, model)
    core = (slice(17, 70), slice(5, 91))
    part = cpu.score_tile(x, y, valid, model, core=core, block_rows=7, block_cols=13)
    # Blocks differ, so float32 running sums restart at other rows: rounding-level differences.
    np.testing.assert_allclose(part, full[core], rtol=2e-4, atol=1e-5)


# Each new input dtype is a new numba compilation (~20 s cold); the fast set reuses the dtypes
# the other tests need, and 2 bands exercises the general band-count path.
@pytest.mark.parametrize("bands,dtype", [(3, "uint16"), (2, "uint8"),
                                         pytest.param(4, "uint8", marks=pytest.mark.slow),
                                         pytest.param(5, "float32", marks=pytest.mark.slow)])
def test_band_counts_and_dtypes(bands, dtype):
    x, y, valid = make_pair(size=48, bands=bands, dtype=dtype, seed=bands)
    cfg = load_change_config()
    for c in (cfg.basic(), cfg):
        m = fit_model(x[:, valid], y[:, valid], c, geometry=GEOMETRY)
        m = calibrate(m, reference_statistic(x, y, valid, m), c)
        _close(cpu.score_tile(x, y, valid, m), reference_score(x, y, valid, m), rel=2e-3, abs_=2e-3,
               flips=0.01)


def test_mixed_bit_depths_score_like_same_depth():
    """MAD is affine-invariant: an 11-bit AFTER scores like the same image in 8 bits."""
    x, y, valid = make_pair(size=64)
    y16 = (y.astype(np.uint16) * 8 + 3).astype(np.uint16)
    cfg = load_change_config().basic()
    s8, s16 = [], []
    for yy, out in ((y, s8), (y16, s16)):
        m = fit_model(x[:, valid], yy[:, valid], cfg)
        m = calibrate(m, cpu.score_tile(x, yy, valid, m, raw=True), cfg)
        out.append(cpu.score_tile(x, yy, valid, m))
    assert np.corrcoef(np.nan_to_num(s8[0]).ravel(), np.nan_to_num(s16[0]).ravel())[0, 1] > 0.98


def test_torch_maths_on_cpu_tensors(fitted):
    pytest.importorskip("torch")
    from detect.change.cuda import TorchScorer

    x, y, valid, model = fitted
    scorer = TorchScorer(model, device="cpu")
    raw = scorer.score(x[None], y[None], valid[None], raw=True)[0]
    _close(raw, reference_statistic(x, y, valid, model), rel=2e-3, abs_=1e-4, flips=0.002)
    s = scorer.score(x[None], y[None], valid[None])[0]
    _close(s, reference_score(x, y, valid, model), rel=2e-3, abs_=2e-3, flips=0.002)


def test_cuda_matches_cpu_when_a_gpu_is_present(fitted):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from detect.change.cuda import TorchScorer

    x, y, valid, model = fitted
    gpu = TorchScorer(model, device="cuda").score(np.stack([x, x]), np.stack([y, y]),
                                                  np.stack([valid, valid]))
    _close(gpu[1], cpu.score_tile(x, y, valid, model), rel=2e-3, abs_=2e-3, flips=0.002)
