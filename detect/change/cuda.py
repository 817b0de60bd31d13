"""The change score in torch, for CUDA GPUs: batches of tiles, the whole statistic as a few
tensor operations (shifted slices for the search, average pooling for the box sums).

The only module of ``detect.change`` that imports torch. It runs on CPU tensors too, which is
how the tests check its maths on machines without a GPU. Same definition as
:mod:`detect.change.reference`; float32 throughout (float64 for the far tail of the score).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from detect.change.model import ChangeModel

LOG10E = 0.4342944819032518


def _shift(t: torch.Tensor, dy: int, dx: int, pad: int, fill: float) -> torch.Tensor:
    """``out[..., y, x] = t[..., y + dy, x + dx]``, ``fill`` outside (``|dy|, |dx| <= pad``)."""
    h, w = t.shape[-2:]
    p = F.pad(t, (pad, pad, pad, pad), value=fill)
    return p[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w]


def _box(t: torch.Tensor, r: int) -> torch.Tensor:
    """Sum over (2r+1)^2 windows, zero outside; ``t`` is (N, C, H, W)."""
    k = 2 * r + 1
    return F.avg_pool2d(t, k, stride=1, padding=r, count_include_pad=True) * float(k * k)


class TorchScorer:
    """A fitted model moved to a device once, scoring batches of equally sized tiles."""

    def __init__(self, model: ChangeModel, device: str | torch.device | None = None) -> None:
        self.model = model
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        d = self.device

        def f32(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.float32), device=d)

        self.wx, self.wy = f32(model.wx), f32(model.wy)
        self.cx, self.cy = f32(model.cx), f32(model.cy)
        self.ga, self.gb = f32(model.ga), f32(model.gb)
        self.lut = f32(model.null.lut) if model.null is not None else None

    def _to(self, arrays: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        arr = np.stack(arrays) if not isinstance(arrays, np.ndarray) else arrays
        t = torch.from_numpy(np.ascontiguousarray(arr))
        if self.device.type == "cuda":
            t = t.pin_memory().to(self.device, non_blocking=True)
        return t

    @torch.no_grad()
    def statistic(self, before: torch.Tensor, after: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Raw statistic T (N, H, W), NaN where invalid; inputs (N, p, H, W) any dtype."""
        m = self.model
        vm = valid.to(torch.float32)
        x = before.to(torch.float32)
        y = after.to(torch.float32)
        u = (torch.einsum("ij,njhw->nihw", self.wx, x) + self.cx[None, :, None, None]) * vm[:, None]
        v = (torch.einsum("ij,njhw->nihw", self.wy, y) + self.cy[None, :, None, None]) * vm[:, None]
        inf = float("inf")
        pen = torch.where(valid, 0.0, inf)
        reach = m.search_reach
        if len(m.offsets) <= 1:
            t = ((u + v) ** 2).sum(1)
        else:
            z_ab = torch.full_like(pen, inf)
            z_ba = torch.full_like(pen, inf)
            for dcol, drow in m.offsets:
                dx, dy = int(dcol), int(drow)
                k = m.search_penalty if (dx, dy) != (0, 0) else 0.0
                z_ab = torch.minimum(z_ab, ((u + _shift(v, dy, dx, reach, 0.0)) ** 2).sum(1)
                                     + _shift(pen, dy, dx, reach, inf) + k)
                z_ba = torch.minimum(z_ba, ((_shift(u, -dy, -dx, reach, 0.0) + v) ** 2).sum(1)
                                     + _shift(pen, -dy, -dx, reach, inf) + k)
            t = torch.maximum(z_ab, z_ba)
        ga = (torch.einsum("j,njhw->nhw", self.ga, x) + m.ga0) * vm
        gb = (torch.einsum("j,njhw->nhw", self.gb, y) + m.gb0) * vm
        w = m.structure_radius
        if w > 0:
            mom = _box(torch.stack([vm, ga, gb, ga * ga, gb * gb, ga * gb], 1), w)
            n = mom[:, 0].clamp_min(1.0)
            ma, mb = mom[:, 1] / n, mom[:, 2] / n
            va = (mom[:, 3] / n - ma * ma).clamp_min(0.0)
            vb = (mom[:, 4] / n - mb * mb).clamp_min(0.0)
            cov = mom[:, 5] / n - ma * mb
            sd = torch.sqrt(va * vb)
            rho = torch.where(sd > 0, cov / torch.where(sd > 0, sd, 1.0), 0.0).clamp(-1.0, 1.0)
            tau = sd / (sd + m.structure_c)
            f = 1.0 - (1.0 - m.weight_floor) * tau * rho.clamp_min(0.0)
            z0 = m.structure_onset
            t = torch.where(t > z0, z0 + (t - z0) * f, t) + m.add_weight * tau * (1.0 - rho) * 0.5
        if len(m.shadow):
            dark = m.dark_level
            gm = m.grey_mean
            dark_a = valid & (ga < dark)
            dark_b = valid & (gb < dark)
            cand_b = dark_b & ~dark_a & (gb + gm < m.ratio_max * (ga + gm))
            cand_a = dark_a & ~dark_b & (ga + gm < m.ratio_max * (gb + gm))
            reach = int(np.abs(m.shadow).max())
            fa = dark_a.to(torch.float32)
            fb = dark_b.to(torch.float32)
            found_b = torch.zeros_like(fa)
            found_a = torch.zeros_like(fa)
            for dcol, drow in m.shadow:
                found_b = torch.maximum(found_b, _shift(fa, int(drow), int(dcol), reach, 0.0))
                found_a = torch.maximum(found_a, _shift(fb, -int(drow), -int(dcol), reach, 0.0))
            shadow = (cand_b & (found_b > 0)) | (cand_a & (found_a > 0))
            t = torch.where(shadow, t * m.shadow_weight, t)
        b = m.smooth_radius
        if b > 0:
            tm = torch.where(valid, t, 0.0)
            sums = _box(torch.stack([tm, vm], 1), b)
            t = sums[:, 0] / sums[:, 1].clamp_min(1.0)
        return torch.where(valid, t, float("nan"))

    @torch.no_grad()
    def calibrated(self, t: torch.Tensor) -> torch.Tensor:
        """The score table (and the asymptotic tail beyond it) applied to T."""
        nl = self.model.null
        assert nl is not None and self.lut is not None
        n = self.lut.numel()
        x = torch.nan_to_num(torch.sqrt(t.clamp_min(0.0)) / nl.step, nan=0.0)
        i = x.clamp_max(n - 1).floor().to(torch.int64).clamp_max(n - 2)
        f = x.clamp_max(n - 1) - i.to(torch.float32)
        inside = self.lut[i] + f * (self.lut[i + 1] - self.lut[i])
        a1, a12, lg = nl.tail_params
        z = t.to(torch.float64) / (2.0 * nl.scale)
        series = 1.0 + a1 / z + a12 / (z * z)
        tail = ((z - a1 * torch.log(z) + lg - torch.log(series.clamp_min(1e-300))) * LOG10E)
        out = torch.where(x >= n - 1, tail.to(torch.float32), inside)
        return torch.where(torch.isnan(t), t, out)

    def score(self, before: Sequence[np.ndarray] | np.ndarray, after: Sequence[np.ndarray] | np.ndarray,
              valid: Sequence[np.ndarray] | np.ndarray, raw: bool = False) -> np.ndarray:
        """Score a batch of tiles (lists or stacked arrays); returns (N, H, W) float32 numpy."""
        x, y, v = self._to(before), self._to(after), self._to(valid).to(torch.bool)
        t = self.statistic(x, y, v)
        if not raw:
            t = self.calibrated(t)
        return t.cpu().numpy()


def score_batch(before: np.ndarray, after: np.ndarray, valid: np.ndarray, model: ChangeModel, *,
                raw: bool = False, device: str | None = None) -> np.ndarray:
    """One-shot convenience: (N, p, H, W) arrays -> (N, H, W) score."""
    return TorchScorer(model, device).score(before, after, valid, raw=raw)
