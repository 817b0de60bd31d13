"""Training losses for :class:`detect.model.CenterNetOBB` against :func:`detect.targets.encode`.

* heat: CenterNet's penalty-reduced focal loss (alpha 2, beta 4), normalised by the number of
  objects; ignore regions (truncated/difficult labels) take no negative penalty.
* offset, log(length), log(width): L1, weighted per cell so each object counts once. Log sizes
  make the loss scale-invariant: 1 px off on a 7 m truck costs what 10 px cost on an An-124.
* heading: L1 on (sin h, cos h), a continuous 0-360 target with no wrap-around discontinuity,
  plus ``axis`` x L1 on (sin 2h, cos 2h), the orientation of the box whichever end is the nose
  (see :mod:`detect.targets`: the pair that stays sharp when front and back look alike).
* envelope: for labels that only give an axis-aligned box, L1 on the log extents of the
  predicted oriented box's envelope, so real AABB labels still teach size without a heading.
* state: binary cross-entropy of the state logit of the object's own class, at the object's
  cells only (classes without a state train nothing here).
All terms are computed in float32 whatever the autocast precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812


@dataclass(frozen=True)
class LossWeights:
    heat: float = 1.0
    offset: float = 1.0
    size: float = 1.0
    heading: float = 1.0
    axis: float = 1.0
    envelope: float = 1.0
    state: float = 1.0


def focal_loss(logits: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor,
               alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """Penalty-reduced focal loss summed over the batch (the caller normalises)."""
    pos = target.eq(1.0).float()
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    p = log_p.exp()
    pos_loss = -(log_p * (1 - p).pow(alpha) * pos)
    neg_weight = (1 - target).pow(beta) * (1 - pos) * (1 - ignore[:, None])
    neg_loss = -(log_not_p * p.pow(alpha) * neg_weight)
    return pos_loss.sum() + neg_loss.sum()


def detection_loss(out: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                   weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (python floats, for logging)."""
    heat = out["heat"].float()
    reg = out["reg"].float()
    state_logits = out["state"].float()
    n_obj = targets["num_objects"].float().sum().clamp(min=1.0)

    l_heat = focal_loss(heat, targets["heat"], targets["ignore"]) / n_obj

    w = targets["reg_weight"]
    ori = targets["oriented"]
    t = targets["reg"]
    l_off = ((reg[:, 0:2] - t[:, 0:2]).abs().sum(1) * w).sum() / n_obj
    l_size = ((reg[:, 2:4] - t[:, 2:4]).abs().sum(1) * w * ori).sum() / n_obj
    l_head = ((reg[:, 4:6] - t[:, 4:6]).abs().sum(1) * w * ori).sum() / n_obj
    l_axis = ((reg[:, 6:8] - t[:, 6:8]).abs().sum(1) * w * ori).sum() / n_obj

    env_w = w * (1 - ori)
    if bool(env_w.gt(0).any()):
        length, width = reg[:, 2].clamp(-4, 6).exp(), reg[:, 3].clamp(-4, 6).exp()
        # |sin h| and |cos h| of the predicted axis: cos^2 h = (1 + cos 2h) / 2
        cos_2h = reg[:, 7] / torch.sqrt(reg[:, 6] ** 2 + reg[:, 7] ** 2).clamp(min=1e-3)
        s = torch.sqrt(((1 - cos_2h) / 2).clamp(min=1e-6))
        c = torch.sqrt(((1 + cos_2h) / 2).clamp(min=1e-6))
        ex = torch.log(length * s + width * c + 1e-3)
        ey = torch.log(length * c + width * s + 1e-3)
        env = targets["env"]
        l_env = (((ex - env[:, 0]).abs() + (ey - env[:, 1]).abs()) * env_w).sum() / n_obj
    else:
        l_env = heat.new_zeros(())

    chan = targets["state_channel"]
    has_state = chan.ge(0)
    if bool(has_state.any()):
        logit = state_logits.gather(1, chan.clamp(min=0)[:, None])[:, 0]
        bce = F.binary_cross_entropy_with_logits(logit, targets["state"], reduction="none")
        sw = w * has_state.float()
        l_state = (bce * sw).sum() / sw.sum().clamp(min=1e-6)
    else:
        l_state = heat.new_zeros(())

    total = (weights.heat * l_heat + weights.offset * l_off + weights.size * l_size
             + weights.heading * l_head + weights.axis * l_axis + weights.envelope * l_env
             + weights.state * l_state)
    parts = {"heat": float(l_heat.detach()), "offset": float(l_off.detach()),
             "size": float(l_size.detach()), "heading": float(l_head.detach()),
             "axis": float(l_axis.detach()),
             "envelope": float(l_env.detach()), "state": float(l_state.detach())}
    return total, parts
