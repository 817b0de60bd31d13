"""From a raw change statistic to a significance that means the same thing for every pair,
and the automatic threshold on it.

The IR-MAD chi-square of an unchanged pixel follows chi2(p) in theory. The robust statistic
(minimum over a search window, structure weighting, box mean) does not, and real pairs add
JPEG noise and residual misregistration, so the null is fitted on the pair itself: a scaled
chi-square ``T / s ~ chi2(k)`` whose ``low`` and ``high`` quantiles (default 50 % and 95 %) match
the sample's. Those quantiles fall among unchanged pixels as long as less than 5 % of the scene
changed (IR-MAD itself assumes a majority); with more change the scores come out lower, never
higher. The score is then

    S = -log10 P(T_null >= T)

so S = 2 is a 1 % and S = 3 a 0.1 % per-pixel false-alarm probability under "no change". The
kernels apply it through a table (linear interpolation in sqrt(T)) up to S = 40 and beyond that through the
asymptotic expansion of the upper incomplete gamma function (three terms; error < 0.01 there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

LUT_SIZE = 4096
LUT_MAX_SCORE = 40.0
LN10 = math.log(10.0)


def tail_score(t: np.ndarray, scale: float, dof: float) -> np.ndarray:
    """-log10 P(chi2(dof) >= t / scale) from the asymptotic series of Gamma(a, z), for the far
    tail where the regularised function underflows: z^(a-1) e^-z (1 + (a-1)/z + (a-1)(a-2)/z^2)."""
    a = dof / 2.0
    z = np.maximum(np.asarray(t, dtype=np.float64) / (2.0 * scale), 1e-300)
    series = 1.0 + (a - 1.0) / z + (a - 1.0) * (a - 2.0) / (z * z)
    return (z - (a - 1.0) * np.log(z) + special.gammaln(a) - np.log(np.maximum(series, 1e-300))) / LN10


@dataclass(frozen=True)
class NullModel:
    """``T / scale ~ chi2(dof)`` under no change, and its score table."""

    scale: float
    dof: float
    lut: np.ndarray  # float32 scores at T = (i * step)^2
    step: float  # in sqrt(T): even spacing in sqrt(T) resolves the steep start of small dof

    @property
    def t_end(self) -> float:
        """Where the table ends and the asymptotic tail takes over."""
        return ((self.lut.size - 1) * self.step) ** 2

    @property
    def tail_params(self) -> tuple[float, float, float]:
        """(a - 1, (a - 1)(a - 2) , lgamma(a)) with a = dof / 2: the kernels' tail constants."""
        a = self.dof / 2.0
        return a - 1.0, (a - 1.0) * (a - 2.0), float(special.gammaln(a))

    def score(self, statistic: np.ndarray) -> np.ndarray:
        """Exact significance (float64; NaN stays NaN; the asymptotic series only where the
        exact tail underflows): the reference the kernels match."""
        t = np.asarray(statistic, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = -chi2_logsf(np.maximum(t, 0.0) / self.scale, self.dof) / LN10
            far = ~np.isfinite(s) & ~np.isnan(t)
            if far.any():
                s[far] = tail_score(t[far], self.scale, self.dof)
        return s

    def score_lut(self, statistic: np.ndarray) -> np.ndarray:
        """What the kernels compute, in numpy (float32 table, float64 tail)."""
        t = np.asarray(statistic, dtype=np.float32)
        x = np.nan_to_num(np.sqrt(np.maximum(t, 0)) / np.float32(self.step), nan=0.0)
        n = self.lut.size
        i = np.clip(np.floor(x), 0, n - 2).astype(np.int64)
        f = np.minimum(x, n - 1) - i
        out = (self.lut[i] + f * (self.lut[i + 1] - self.lut[i])).astype(np.float32)
        far = x >= n - 1  # the few pixels beyond the table: the float64 series (logs) for them only
        if far.any():
            out[far] = tail_score(t[far], self.scale, self.dof)
        out[np.isnan(t)] = np.nan
        return out

    def to_json_dict(self) -> dict[str, Any]:
        return {"family": "scaled chi-square", "scale": round(self.scale, 6),
                "dof": round(self.dof, 4), "score": "-log10 P(no-change statistic >= observed)"}


def chi2_logsf(x: np.ndarray, dof: float) -> np.ndarray:
    """log P(chi2(dof) >= x) (scipy.special only: scipy.stats costs a quarter second to import)."""
    return np.log(special.gammaincc(dof / 2.0, np.asarray(x, dtype=np.float64) / 2.0))


def chi2_ppf(q: float, dof: float) -> float:
    return float(2.0 * special.gammaincinv(dof / 2.0, q))


def chi2_isf(p: float, dof: float) -> float:
    return float(2.0 * special.gammainccinv(dof / 2.0, p))


def _ratio(k: float, lo: float, hi: float) -> float:
    return chi2_ppf(hi, k) / chi2_ppf(lo, k)


def fit_null(values: np.ndarray, low: float = 0.5, high: float = 0.95, *,
             dof_hint: float = 3.0) -> NullModel:
    """Match a scaled chi-square to the ``low``/``high`` quantiles of the statistic."""
    q_lo, q_hi = (float(v) for v in np.quantile(values, [low, high]))
    q_lo = max(q_lo, 1e-9 * max(q_hi, 1e-30))
    target = q_hi / q_lo if q_hi > 0 else float("inf")
    k_min, k_max = 0.05, 4000.0
    if not math.isfinite(target) or target >= _ratio(k_min, low, high):
        dof = k_min
    elif target <= _ratio(k_max, low, high):
        dof = k_max
    else:
        # The quantile ratio falls monotonically with the degrees of freedom: bisect on log k.
        a, b = math.log(k_min), math.log(k_max)
        for _ in range(60):
            mid = (a + b) / 2
            if _ratio(math.exp(mid), low, high) > target:
                a = mid
            else:
                b = mid
        dof = math.exp((a + b) / 2)
    if q_hi <= 0:
        scale = 1.0
        dof = float(dof_hint)
    else:
        scale = q_hi / chi2_ppf(high, dof)
    return build_null(scale, dof)


def build_null(scale: float, dof: float) -> NullModel:
    """The score table of ``T / scale ~ chi2(dof)`` up to a score of LUT_MAX_SCORE."""
    t_max = scale * chi2_isf(10.0 ** -LUT_MAX_SCORE, dof)
    step = math.sqrt(t_max) / (LUT_SIZE - 1)
    t = (np.arange(LUT_SIZE, dtype=np.float64) * step) ** 2
    lut = -chi2_logsf(t / scale, dof) / LN10
    return NullModel(float(scale), float(dof), lut.astype(np.float32), float(step))


def theoretical_null(p: int) -> NullModel:
    """chi2(p): the textbook null of the plain MAD chi-square (no sample needed)."""
    return build_null(1.0, float(p))


# ------------------------------------------------------------------------------------------
# Automatic thresholds on the score
# ------------------------------------------------------------------------------------------

def otsu_level(scores: np.ndarray, bins: int = 512) -> float:
    """Otsu's between-class-variance maximiser on the score histogram."""
    s = scores[np.isfinite(scores)]
    hist, edges = np.histogram(s, bins=bins, range=(0.0, float(np.quantile(s, 0.999)) + 1e-6))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def kittler_level(scores: np.ndarray, bins: int = 512) -> float:
    """Kittler-Illingworth minimum-error threshold (two Gaussians) on the score histogram."""
    s = scores[np.isfinite(scores)]
    hist, edges = np.histogram(s, bins=bins, range=(0.0, float(np.quantile(s, 0.999)) + 1e-6))
    centres = (edges[:-1] + edges[1:]) / 2
    h = hist.astype(np.float64)
    c0 = np.cumsum(h)
    c1 = c0[-1] - c0
    m0 = np.cumsum(h * centres)
    s0 = np.cumsum(h * centres ** 2)
    best, best_j = np.inf, bins // 2
    for j in range(1, bins - 1):
        if c0[j] < 2 or c1[j] < 2:
            continue
        mu0 = m0[j] / c0[j]
        mu1 = (m0[-1] - m0[j]) / c1[j]
        v0 = max(s0[j] / c0[j] - mu0 ** 2, 1e-12)
        v1 = max((s0[-1] - s0[j]) / c1[j] - mu1 ** 2, 1e-12)
        p0, p1 = c0[j] / c0[-1], c1[j] / c0[-1]
        j_cost = p0 * math.log(v0) + p1 * math.log(v1) - 2 * (p0 * math.log(p0) + p1 * math.log(p1))
        if j_cost < best:
            best, best_j = j_cost, j
    return float(edges[best_j + 1])


def choose_level(method: str, level: float, min_level: float, sample_scores: np.ndarray) -> float:
    """The mask threshold on the score: a fixed significance, or Otsu / Kittler-Illingworth
    on the sample's scores (never below ``min_level``)."""
    if method == "significance":
        return float(level)
    s = np.asarray(sample_scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < 100:
        return float(level)
    fitted = otsu_level(s) if method == "otsu" else kittler_level(s)
    return float(max(fitted, min_level))
