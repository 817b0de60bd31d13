"""Calibration of the change score, automatic thresholds, and the sun/view geometry the shadow
and lean levers use."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from scipy import stats

from detect.change.calibration import build_null, choose_level, fit_null, kittler_level, otsu_level
from detect.change.model import SunGeometry, ViewGeometry, lean_offsets, shadow_offsets


@pytest.mark.parametrize("scale,dof", [(1.0, 3.0), (2.5, 5.0), (0.2, 20.0), (40.0, 0.7)])
def test_fit_null_recovers_a_scaled_chi_square(scale, dof):
    t = scale * stats.chi2.rvs(dof, size=400_000, random_state=1)
    null = fit_null(t, 0.5, 0.95)
    assert null.scale == pytest.approx(scale, rel=0.05) and null.dof == pytest.approx(dof, rel=0.05)
    # The score is a significance: P(S >= s) = 10^-s under the null.
    s = null.score(t)
    for level in (1.0, 2.0, 3.0):
        assert (s >= level).mean() == pytest.approx(10 ** -level, rel=0.15)


def test_score_table_and_tail_match_the_exact_score():
    null = build_null(0.7, 4.0)
    t = np.concatenate([np.linspace(0, 5, 500), np.geomspace(5, 1e6, 500), [np.nan]]).astype(np.float32)
    exact = null.score(t)
    ref = -stats.chi2.logsf(t[:-1].astype(np.float64) / 0.7, 4.0) / math.log(10)
    finite = np.isfinite(ref)
    np.testing.assert_allclose(exact[:-1][finite], ref[finite], rtol=1e-6, atol=1e-9)
    fast = null.score_lut(t)
    assert np.isnan(fast[-1]) and np.isnan(exact[-1])
    np.testing.assert_allclose(fast[:-1], exact[:-1], rtol=2e-3, atol=2e-3)
    assert np.all(np.diff(fast[:-1]) >= -1e-4)  # monotone, also across the table's end


def test_automatic_thresholds_split_a_bimodal_histogram():
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.gamma(1.0, 0.4, 90_000), rng.normal(12.0, 1.5, 10_000)])
    for level in (otsu_level(s), kittler_level(s)):
        assert 2.0 < level < 10.0
    assert choose_level("significance", 3.0, 1.3, s) == 3.0
    assert choose_level("otsu", 3.0, 1.3, np.zeros(1000)) >= 1.3


def test_shadow_and_lean_offsets_point_the_right_way():
    north_up = Affine(0.5, 0, 0, 0, -0.5, 0)
    # Sun in the south both times, lower after: AFTER's shadow of a point reaches further north,
    # so BEFORE's shadow of the same point lies south of it (row increasing), toward the caster.
    steps = shadow_offsets(SunGeometry(180, 60), SunGeometry(180, 30), gsd_m=0.5, transform=north_up,
                           max_height_m=10, max_px=50)
    assert len(steps) > 5 and np.all(steps[:, 1] > 0) and np.all(steps[:, 0] == 0)
    # Satellite to the east after, nadir before: tops move west (column decreasing).
    lean = lean_offsets(ViewGeometry(0, 0), ViewGeometry(90, 30), gsd_m=0.5, transform=north_up,
                        max_height_m=10, max_px=50)
    assert len(lean) >= 10 and np.all(lean[:, 0] < 0) and np.all(lean[:, 1] == 0)
    # Under a pixel of motion, or unknown geometry: no offsets.
    assert len(shadow_offsets(SunGeometry(180, 40), SunGeometry(180.1, 40), gsd_m=0.5, transform=north_up,
                              max_height_m=10, max_px=50)) == 0
    assert len(lean_offsets(None, ViewGeometry(90, 30), gsd_m=0.5, transform=north_up,
                            max_height_m=10, max_px=50)) == 0
