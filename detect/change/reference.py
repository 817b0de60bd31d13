"""The change statistic in plain float64 numpy: the definition the fast kernels must match.

Written for clarity, not speed (it is also the "naive numpy" baseline of the benchmarks).
For BEFORE ``X`` and AFTER ``Y`` (bands, rows, cols), ``valid`` (rows, cols) and a fitted
:class:`~detect.change.model.ChangeModel`:

1. The model's projection split by date: ``u = wx X + cx`` and ``v = wy Y + cy``
   (``cx + cy = c``); ``|u(x) + v(x)|^2`` is the plain chi-square (whitened normalised
   difference, or IR-MAD variates, see detect.change.model).
2. Search: ``z_ab(x) = min_d |u(x) + v(x + d)|^2 + k [d != 0]`` and
   ``z_ba(x) = min_d |u(x - d) + v(x)|^2 + k [d != 0]`` over the model's displacements d
   (``|dx|, |dy| <= r``, plus the lean line from the view geometries) and valid neighbours;
   ``z = max(z_ab, z_ba)``. Two-way, so an object keeps its full extent whether it
   appeared or left, while a pixel or two of misregistration or lean finds its match. The
   penalty ``k`` for a shifted match keeps flat areas (where any neighbour matches noise) from
   scoring far below textured ones: unchanged pixels keep about the plain chi-square there.
3. Structure: local correlation ``rho`` of the two dates' brightness over a (2w+1)^2 window
   (valid pixels), texture confidence ``tau = sd_a sd_b / (sd_a sd_b + C)``, damping
   ``f = 1 - (1 - floor) tau max(rho, 0)`` applied to the excess over the onset ``z0`` only
   (unchanged pixels keep their statistic, so the null does not depend on texture):
   ``T = z`` if ``z <= z0`` else ``z0 + (z - z0) f``; plus ``add tau (1 - rho) / 2``.
4. Shadows: a pixel dark in one date only (darker/brighter < ratio_max) whose dark counterpart
   lies along the predicted shadow displacement in the other date: ``T *= shadow_weight``.
5. Box mean of ``T`` over the valid pixels of a (2b+1)^2 window.
6. Score ``S = -log10 P(T_null >= T)`` (see :mod:`detect.change.calibration`).

Pixels outside the arrays count as invalid. Invalid pixels get NaN.
"""

from __future__ import annotations

import numpy as np

from detect.change.model import ChangeModel


def _shift(a: np.ndarray, dy: int, dx: int, fill: float | bool) -> np.ndarray:
    """``out[..., y, x] = a[..., y + dy, x + dx]`` inside the array, ``fill`` outside."""
    out = np.full_like(a, fill)
    h, w = a.shape[-2:]
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[..., yd, xd] = a[..., ys, xs]
    return out


def _box(a: np.ndarray, r: int) -> np.ndarray:
    """Sum over the (2r+1)^2 window, zero outside the array."""
    out = np.zeros_like(a)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out += _shift(a, dy, dx, 0.0)
    return out


def reference_statistic(before: np.ndarray, after: np.ndarray, valid: np.ndarray,
                        model: ChangeModel) -> np.ndarray:
    """The raw statistic ``T`` (float64, NaN where invalid)."""
    x = before.astype(np.float64)
    y = after.astype(np.float64)
    valid = np.asarray(valid, dtype=bool)
    u = np.einsum("ij,jhw->ihw", model.wx.astype(np.float64), x) + model.cx.astype(np.float64)[:, None, None]
    v = np.einsum("ij,jhw->ihw", model.wy.astype(np.float64), y) + model.cy.astype(np.float64)[:, None, None]
    pen = np.where(valid, 0.0, np.inf)
    z_ab = np.full(valid.shape, np.inf)
    z_ba = np.full(valid.shape, np.inf)
    for dcol, drow in model.offsets:
        dx, dy = int(dcol), int(drow)
        k = model.search_penalty if (dx, dy) != (0, 0) else 0.0
        z_ab = np.minimum(z_ab, ((u + _shift(v, dy, dx, 0.0)) ** 2).sum(0)
                          + _shift(pen, dy, dx, np.inf) + k)
        z_ba = np.minimum(z_ba, ((_shift(u, -dy, -dx, 0.0) + v) ** 2).sum(0)
                          + _shift(pen, -dy, -dx, np.inf) + k)
    t = np.maximum(z_ab, z_ba)
    vm = valid.astype(np.float64)
    ga = np.tensordot(model.ga.astype(np.float64), x, axes=1) + model.ga0
    gb = np.tensordot(model.gb.astype(np.float64), y, axes=1) + model.gb0
    w = model.structure_radius
    if w > 0:
        n = _box(vm, w)
        n = np.maximum(n, 1.0)
        ma, mb = _box(vm * ga, w) / n, _box(vm * gb, w) / n
        var_a = np.maximum(_box(vm * ga * ga, w) / n - ma * ma, 0.0)
        var_b = np.maximum(_box(vm * gb * gb, w) / n - mb * mb, 0.0)
        cov = _box(vm * ga * gb, w) / n - ma * mb
        sd = np.sqrt(var_a * var_b)
        rho = np.clip(np.where(sd > 0, cov / np.where(sd > 0, sd, 1.0), 0.0), -1.0, 1.0)
        tau = sd / (sd + model.structure_c)
        f = 1.0 - (1.0 - model.weight_floor) * tau * np.maximum(rho, 0.0)
        z0 = model.structure_onset
        t = np.where(t > z0, z0 + (t - z0) * f, t) + model.add_weight * tau * (1.0 - rho) * 0.5
    if len(model.shadow):
        dark = model.dark_level
        dark_a = valid & (ga < dark)
        dark_b = valid & (gb < dark)
        m = model.grey_mean
        cand_b = valid & dark_b & ~dark_a & (gb + m < model.ratio_max * (ga + m))
        cand_a = valid & dark_a & ~dark_b & (ga + m < model.ratio_max * (gb + m))
        found_b = np.zeros_like(valid)
        found_a = np.zeros_like(valid)
        for dcol, drow in model.shadow:
            found_b |= _shift(dark_a, int(drow), int(dcol), False)
            found_a |= _shift(dark_b, -int(drow), -int(dcol), False)
        shadow = (cand_b & found_b) | (cand_a & found_a)
        with np.errstate(invalid="ignore"):  # inf * 0 at invalid pixels, replaced below
            t = np.where(shadow, t * model.shadow_weight, t)
    b = model.smooth_radius
    if b > 0:
        tm = np.where(valid, t, 0.0)
        t = _box(tm, b) / np.maximum(_box(vm, b), 1.0)
    return np.where(valid, t, np.nan)


def reference_score(before: np.ndarray, after: np.ndarray, valid: np.ndarray,
                    model: ChangeModel) -> np.ndarray:
    """The calibrated score ``S`` (float64, NaN where invalid)."""
    if model.null is None:
        raise ValueError("the model is not calibrated (run detect.change.model.calibrate)")
    return model.null.score(reference_statistic(before, after, valid, model))
