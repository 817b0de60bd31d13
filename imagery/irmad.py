"""Iteratively re-weighted MAD (Nielsen 2007) on a pixel sample, and the relative radiometric
normalisation it enables (domain.md 5.1-5.2).

MAD variates are differences of canonical variates, so they are invariant to any affine change
of either date's bands (gain, offset, band mixing). That makes them the right tool to find
pixels that did *not* change although the two images look different (sun, season, sensor
gain): IR-MAD re-weights each pixel by its no-change probability until the canonical
correlations settle, and those pixels then anchor an orthogonal regression per band.
Everything here works on a sample (a few hundred thousand pixels); applying the result to a
whole scene is a cheap per-pixel affine map done later, tile by tile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imagery.errors import InputError


def chi2_sf(z: np.ndarray, dof: int) -> np.ndarray:
    """P(chi2_dof > z): the no-change probability of a pixel with MAD chi-square ``z``."""
    from scipy.special import gammaincc

    return gammaincc(dof / 2.0, np.maximum(z, 0.0) / 2.0)


@dataclass(frozen=True)
class MadModel:
    """Canonical vectors and statistics of a fitted (IR-)MAD transform.

    ``a``/``b`` have one column per MAD variate, ordered by ascending canonical correlation
    (variate 0 carries the most change). ``chi2`` of unchanged pixels follows chi2(p).
    """

    a: np.ndarray
    b: np.ndarray
    rho: np.ndarray
    mean_x: np.ndarray
    mean_y: np.ndarray
    sigma: np.ndarray  # std of each MAD variate: sqrt(2 (1 - rho))
    iterations: int
    converged: bool

    @property
    def bands(self) -> int:
        return self.a.shape[0]

    def mad(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """MAD variates (p, n) of pixel columns x, y (p, n)."""
        u = self.a.T @ (x - self.mean_x[:, None])
        v = self.b.T @ (y - self.mean_y[:, None])
        return u - v

    def chi2(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        m = self.mad(x, y) / self.sigma[:, None]
        return np.sum(m * m, axis=0)

    def projection(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(wx, wy, c) with chi2 = sum_i (wx[i] . x + wy[i] . y + c[i])**2: the whole score as
        two small matrices and a constant, which is what a fused per-pixel kernel wants."""
        wx = (self.a / self.sigma).T
        wy = -(self.b / self.sigma).T
        c = -(wx @ self.mean_x) - (wy @ self.mean_y)
        return wx, wy, c


def _weighted_moments(x: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float):
    sw = w.sum()
    mx = (x * w).sum(axis=1) / sw
    my = (y * w).sum(axis=1) / sw
    xc = x - mx[:, None]
    yc = y - my[:, None]
    xw = xc * w
    sxx = xw @ xc.T / sw
    syy = (yc * w) @ yc.T / sw
    sxy = xw @ yc.T / sw
    p = x.shape[0]
    scale_x = max(np.trace(sxx) / p, 1e-12)
    scale_y = max(np.trace(syy) / p, 1e-12)
    sxx += np.eye(p) * ridge * scale_x
    syy += np.eye(p) * ridge * scale_y
    return mx, my, sxx, syy, sxy


def fit_irmad(x: np.ndarray, y: np.ndarray, *, max_iter: int = 30, tol: float = 1e-4,
              ridge: float = 1e-6) -> tuple[MadModel, np.ndarray]:
    """Fit IR-MAD on pixel samples ``x``, ``y`` of shape (bands, n).

    Returns the model and the final no-change probabilities of the sample pixels.
    """
    from scipy import linalg

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"x and y must both be (bands, n); got {x.shape} and {y.shape}")
    p, n = x.shape
    if n < 10 * p + 10:
        raise InputError(f"too few valid pixels shared by both dates ({n}) to fit radiometry")
    w = np.ones(n)
    rho_old = np.zeros(p)
    model: MadModel | None = None
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        mx, my, sxx, syy, sxy = _weighted_moments(x, y, w, ridge)
        # Generalised symmetric eigenproblem: sxy syy^-1 syx a = rho^2 sxx a.
        c = sxy @ linalg.solve(syy, sxy.T, assume_a="pos")
        c = (c + c.T) / 2.0
        try:
            lam, a = linalg.eigh(c, sxx)
        except linalg.LinAlgError:
            raise InputError("radiometric fit failed: the bands are degenerate (constant image?)") from None
        lam = np.clip(lam, 0.0, 1.0)
        rho = np.sqrt(lam)  # ascending
        # Unit variance for U and matching V.
        a = a / np.sqrt(np.maximum(np.einsum("ij,jk,ki->i", a.T, sxx, a), 1e-300))
        b = linalg.solve(syy, sxy.T @ a, assume_a="pos")
        b = b / np.sqrt(np.maximum(np.einsum("ij,jk,ki->i", b.T, syy, b), 1e-300))
        # Positive correlation between each U_i and V_i.
        sign = np.sign(np.einsum("ij,jk,ki->i", a.T, sxy, b))
        sign[sign == 0] = 1.0
        b = b * sign
        sigma = np.sqrt(np.maximum(2.0 * (1.0 - rho), 1e-12))
        model = MadModel(a, b, rho, mx, my, sigma, it, False)
        z = model.chi2(x, y)
        w = chi2_sf(z, p)
        if w.sum() < 1e-6 * n:
            break
        if np.max(np.abs(rho - rho_old)) < tol:
            converged = True
            break
        rho_old = rho
    assert model is not None
    model = MadModel(model.a, model.b, model.rho, model.mean_x, model.mean_y, model.sigma, it,
                     converged)
    return model, w


@dataclass(frozen=True)
class RadiometricModel:
    """Per-band affine map of AFTER onto BEFORE: ``before ~= gain * after + offset``."""

    bands: tuple[str, ...]
    gain: tuple[float, ...]
    offset: tuple[float, ...]
    r2: tuple[float, ...]
    no_change_fraction: float  # share of the sample consistent with no change (1 % level)
    n_pixels: int  # invariant pixels the regression used
    method: str = "irmad"

    @classmethod
    def identity(cls, bands: tuple[str, ...]) -> RadiometricModel:
        p = len(bands)
        return cls(bands, (1.0,) * p, (0.0,) * p, (1.0,) * p, 1.0, 0, "identity")

    def apply(self, data: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(bands, ...) -> float32 on BEFORE's radiometric scale."""
        g = np.asarray(self.gain, dtype=np.float32).reshape(-1, *([1] * (data.ndim - 1)))
        o = np.asarray(self.offset, dtype=np.float32).reshape(g.shape)
        if out is None:
            out = np.empty(data.shape, dtype=np.float32)
        np.multiply(data, g, out=out, casting="unsafe")
        out += o
        return out

    def to_json_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "bands": list(self.bands),
            "gain": [round(v, 6) for v in self.gain],
            "offset": [round(v, 6) for v in self.offset],
            "r2": [round(v, 4) for v in self.r2],
            "no_change_fraction": round(self.no_change_fraction, 4),
            "n_pixels": self.n_pixels,
        }


def orthogonal_regression(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None
                          ) -> tuple[float, float, float]:
    """Fit ``y = gain * x + offset`` minimising perpendicular distances (both dates are noisy,
    so ordinary least squares would bias the gain toward zero). Returns (gain, offset, r2)."""
    if w is None:
        w = np.ones_like(x)
    sw = w.sum()
    mx, my = (w * x).sum() / sw, (w * y).sum() / sw
    dx, dy = x - mx, y - my
    sxx = (w * dx * dx).sum() / sw
    syy = (w * dy * dy).sum() / sw
    sxy = (w * dx * dy).sum() / sw
    if abs(sxy) < 1e-12:
        return 1.0, float(my - mx), 0.0
    gain = (syy - sxx + np.sqrt((syy - sxx) ** 2 + 4 * sxy * sxy)) / (2 * sxy)
    offset = my - gain * mx
    r2 = sxy * sxy / max(sxx * syy, 1e-300)
    return float(gain), float(offset), float(r2)


def fit_radiometric_normalisation(before: np.ndarray, after: np.ndarray, bands: tuple[str, ...], *,
                                  no_change_p: float = 0.9, max_iter: int = 30
                                  ) -> tuple[RadiometricModel, MadModel]:
    """IR-MAD on the sample, then per-band orthogonal regression of BEFORE on AFTER over the
    pixels with no-change probability above ``no_change_p`` (pseudo-invariant features)."""
    mad, w = fit_irmad(after, before, max_iter=max_iter)
    # Unchanged pixels have uniform p-values, so "p > no_change_p" keeps the most invariant
    # (1 - no_change_p) of them as anchors; the reported fraction is the share of the sample
    # consistent with no change at the 1 % level.
    consistent = float((w > 0.01).mean())
    keep = w > no_change_p
    if keep.sum() < 100:
        # Very different images: fall back to the most invariant 10 %.
        keep = w >= np.quantile(w, 0.9)
    gains, offsets, r2s = [], [], []
    for i in range(before.shape[0]):
        g, o, r2 = orthogonal_regression(after[i, keep].astype(np.float64),
                                         before[i, keep].astype(np.float64))
        gains.append(g)
        offsets.append(o)
        r2s.append(r2)
    model = RadiometricModel(tuple(bands), tuple(gains), tuple(offsets), tuple(r2s),
                             consistent, int(keep.sum()))
    return model, mad
