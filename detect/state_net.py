"""The second-stage state classifier: is this transport's nose visor raised, this helicopter
dismantled, this launcher packed?

Why a second stage: the one-stage detector reads an object's state at its centre cell, and for
an An-124 the raised visor is 35 m (70 px at 0.5 m) from that cell. Measured on the held-out
chips, the shipped one-stage state logit separated raised from lowered An-124 visors with
ROC-AUC 0.46: it had learnt "An-124 -> 0.4" from the type, not the visor. Here every detection
of a state-bearing class is resampled into a small crop *aligned with its box*: nose up, the
object filling a fixed fraction of the crop. The visor, the rotor blades or the launcher tubes
then always sit at the same place in the input, which a small CNN learns from a few thousand
examples in minutes on a CPU.

The crop is taken with ``grid_sample`` from the tile tensor the detector already holds, on
whatever device it runs, for all detections of a tile in one call. Training
(:mod:`detect.state_train`) and inference use the same :func:`oriented_crops`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from detect.model import INPUT_MEAN, INPUT_STD, SepBlock, conv_bn
from detect.targets import NUM_STATES, STATE_CHANNEL, STATE_CLASSES


@dataclass(frozen=True)
class StateNetConfig:
    """Crop geometry and network widths; stored with the weights."""

    crop_px: int = 80  # side of the square crop given to the network
    side_scale: float = 1.3  # crop side = side_scale x the box's longer side ...
    min_side_m: float = 20.0  # ... but at least this many metres (launchers: their shadows)
    widths: tuple[int, int, int, int] = (24, 48, 96, 128)
    hidden: int = 96
    num_states: int = NUM_STATES
    dates: int = 1  # 2: the pair classifier (detect/state_pair_train.py): both dates' crops stacked
    fusion: str = "early"  # pair classifier: "early" (six input channels) or "late" (PairStateNet)
    extra_inputs: int = 0  # scalars per crop joining the flattened features (the type net: box size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StateNetConfig:
        d = dict(d)
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return cls(**d)


class StateNet(nn.Module):
    """(N, 3 x dates, S, S) crops in 0..255 -> (N, num_states x dates) logits (date-major). The
    head flattens a coarse map instead of pooling it: *where* in the nose-up crop a feature is
    (visor at the top) matters. With ``extra_inputs`` the head also reads that many scalars per
    crop (``extras``): what the crop's normalised scale hides, like the box's size in metres."""

    def __init__(self, config: StateNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or StateNetConfig()
        w1, w2, w3, w4 = c.widths
        self.features = nn.Sequential(
            conv_bn(3 * c.dates, w1, 3, 2),  # S/2
            SepBlock(w1, w1),
            SepBlock(w1, w2, 2),  # S/4
            SepBlock(w2, w2),
            SepBlock(w2, w3, 2),  # S/8
            SepBlock(w3, w3),
            SepBlock(w3, w4, 2),  # S/16
            conv_bn(w4, 32, 1),
        )
        cells = math.ceil(c.crop_px / 16) ** 2
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(32 * cells + c.extra_inputs, c.hidden),
                                  nn.ReLU(inplace=True), nn.Linear(c.hidden, c.num_states * c.dates))
        self.register_buffer("mean", torch.tensor(INPUT_MEAN * 255.0), persistent=False)
        self.register_buffer("inv_std", torch.tensor(1.0 / (INPUT_STD * 255.0)), persistent=False)

    def forward(self, crops: torch.Tensor, extras: torch.Tensor | None = None) -> torch.Tensor:
        x = (crops.float() - self.mean) * self.inv_std
        f = self.features(x)
        if self.config.extra_inputs:
            if extras is None or extras.shape != (crops.shape[0], self.config.extra_inputs):
                raise ValueError(f"this network reads {self.config.extra_inputs} extra inputs per crop")
            f = torch.cat([f.flatten(1), extras.to(f.dtype)], dim=1)  # the head's Flatten is then a no-op
        return self.head(f)


class PairStateNet(nn.Module):
    """The two-date classifier by late fusion: (N, 6, S, S) crop pairs -> (N, 2 x num_states)
    logits. Each date goes through one single-date :class:`StateNet` (its own state, as that
    network reads it), and a cross term reads both dates' feature maps together and corrects
    each date's logits. The cross term starts at zero, so a pair network initialised from the
    shipped single-date one starts out reading exactly as it does and learns only what the
    pairing adds (a state that changed against a view that changed)."""

    def __init__(self, config: StateNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or StateNetConfig(dates=2, fusion="late")
        self.single = StateNet(StateNetConfig(**{**c.to_dict(), "dates": 1, "fusion": "early"}))
        cells = math.ceil(c.crop_px / 16) ** 2
        self.cross = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(2 * 32 * cells, c.hidden),
                                   nn.ReLU(inplace=True), nn.Linear(c.hidden, 2 * c.num_states))
        nn.init.zeros_(self.cross[-1].weight)
        nn.init.zeros_(self.cross[-1].bias)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        n = crops.shape[0]
        both = torch.cat([crops[:, :3], crops[:, 3:]], dim=0)  # one pass over both dates
        x = (both.float() - self.single.mean) * self.single.inv_std
        feats = self.single.features(x)
        own = self.single.head(feats)  # (2N, num_states)
        own = torch.cat([own[:n], own[n:]], dim=1)
        return own + self.cross(torch.cat([feats[:n], feats[n:]], dim=1))


class StateNetByClass(nn.Module):
    """Single-date state networks that each read the states of their own classes: the state of
    a class whose channel ``route`` gives to member k is member k's logit. All members read the
    same crops (their crop geometry must agree), so :func:`classify` uses it like one network.

    Why: the three states share nothing (a visor, rotor blades, launcher tubes), yet one network
    reads them all, and retraining it to mend one class redraws the errors of the others, which
    the posture gates were chosen on (a retrain of the shipped recipe alone moved the design
    pairs' packings found by 6-11). Replacing the helicopter channel alone (``replace_classes``
    of ``posturewatch train-state``) mends the Ka-52 and leaves the visors and launchers as they
    were read."""

    def __init__(self, members: list[nn.Module], route: list[int]) -> None:
        super().__init__()
        first = members[0].config
        single_date = (*_crop_geometry(first)[:4], 1, 0)
        for m in members:
            if _crop_geometry(m.config) != single_date:
                raise ValueError("state networks combined by class must read the same single-date crops")
        if len(route) != first.num_states or not all(0 <= k < len(members) for k in route):
            raise ValueError(f"route: one member index per state channel ({first.num_states})")
        self.members = nn.ModuleList(members)
        self.config = first
        self.route = list(route)

    def member_for(self, channel: int) -> nn.Module:
        return self.members[self.route[channel]]

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        outs = [m(crops) for m in self.members]
        return torch.stack([outs[k][:, ch] for ch, k in enumerate(self.route)], dim=1)


class StateNetMean(nn.Module):
    """Several readers of the same crops, their logits averaged. Why: a retrained reader redraws
    its errors, and the launcher gates were chosen on the shipped one's; averaging the two keeps
    part of a better reader's gain with steadier readings (the launchers, MODEL_CARD.md)."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        first = members[0].config
        if any(_crop_geometry(m.config) != _crop_geometry(first) for m in members):
            raise ValueError("state networks averaged must read the same single-date crops")
        self.members = nn.ModuleList(members)
        self.config = first

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(crops) for m in self.members]).mean(0)


def _crop_geometry(c: StateNetConfig) -> tuple:
    return c.crop_px, c.side_scale, c.min_side_m, c.num_states, c.dates, c.extra_inputs


def combine_by_class(base: nn.Module, new: nn.Module, classes: list[str], *,
                     mean: bool = False) -> StateNetByClass:
    """``base`` reading every state but those of ``classes``, which ``new`` reads (a base that is
    itself combined keeps its own members for the other classes); with ``mean``, ``classes`` are
    read by the mean logit of ``base``'s reader for them and ``new``."""
    unknown = sorted(set(classes) - set(STATE_CLASSES))
    if unknown:
        raise ValueError(f"replace_classes: {unknown} have no state (state classes: {list(STATE_CLASSES)})")
    members = list(base.members) if isinstance(base, StateNetByClass) else [base]
    route = list(base.route) if isinstance(base, StateNetByClass) else [0] * len(STATE_CLASSES)
    if not mean:
        members.append(new)
    for c in classes:
        ch = STATE_CLASSES.index(c)
        if mean:
            members.append(StateNetMean([members[route[ch]], new]))
        route[ch] = len(members) - 1
    used = sorted(set(route))  # drop members that no longer read anything
    return StateNetByClass([members[k] for k in used], [used.index(k) for k in route])


def build_state_net(config: StateNetConfig) -> nn.Module:
    return PairStateNet(config) if config.dates == 2 and config.fusion == "late" else StateNet(config)


def crop_sides(boxes: torch.Tensor, gsd_m: float, config: StateNetConfig) -> torch.Tensor:
    """Crop side in pixels for each box (pixels at ``gsd_m``)."""
    longer = torch.maximum(boxes[:, 2], boxes[:, 3])
    return torch.clamp(longer * config.side_scale, min=config.min_side_m / gsd_m)


def oriented_crops(image: torch.Tensor, boxes: torch.Tensor, sides: torch.Tensor, size: int) -> torch.Tensor:
    """Square crops of ``image`` (3, H, W), one per box (cx, cy, length, width, heading_deg in
    continuous pixel coordinates, heading clockwise from up), rotated so the heading points up,
    ``sides`` pixels across, resampled bilinearly to ``size`` px; zeros outside the image.
    All boxes go through one ``grid_sample`` call (the grids are stacked along the height)."""
    n = boxes.shape[0]
    if n == 0:
        return image.new_zeros((0, image.shape[0], size, size))
    _, h, w = image.shape
    dev, dt = image.device, image.dtype
    b = boxes.to(device=dev, dtype=dt)
    s = sides.to(device=dev, dtype=dt)
    rad = torch.deg2rad(b[:, 4])
    cos, sin = torch.cos(rad), torch.sin(rad)
    # crop (a right, b down) in [-1, 1] -> image: x = cx + s/2 (a cos - b sin), y = cy + s/2 (a sin + b cos)
    theta = torch.stack([
        torch.stack([s * cos / w, -s * sin / w, 2 * b[:, 0] / w - 1], dim=1),
        torch.stack([s * sin / h, s * cos / h, 2 * b[:, 1] / h - 1], dim=1),
    ], dim=1)  # (n, 2, 3)
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)  # (n, S, S, 2)
    out = F.grid_sample(image[None], grid.reshape(1, n * size, size, 2), mode="bilinear",
                        padding_mode="zeros", align_corners=False)  # (1, 3, n*S, S)
    return out[0].reshape(image.shape[0], n, size, size).permute(1, 0, 2, 3)


def state_channels(classes: torch.Tensor) -> torch.Tensor:
    """The state channel of each class index (-1 for classes without a state)."""
    return torch.as_tensor(STATE_CHANNEL, device=classes.device)[classes]


@torch.no_grad()
def classify(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor,
             gsd_m: float, tta: bool = False) -> torch.Tensor:
    """Probability of the non-nominal state for each box of ``image`` (3, H, W); NaN for
    classes without a state.

    ``tta``: average the probability over the box nudged the way detections err (``tta_boxes``)
    and over each crop's mirror image (8 reads per box). The classifier's reading of one box
    swings with a metre of centre or a few degrees of heading; on 300 twin chips (one box read on
    two dates, the box jittered like a detection) averaging cut false state changes per 100
    unchanged objects at a shift of 0.4 from 18.5 to 11.1 for launchers and 10.8 to 3.9 for
    transports, at about the same recall (detect/weights/MODEL_CARD.md)."""
    chan = state_channels(classes)
    prob = torch.full((boxes.shape[0],), float("nan"), device=boxes.device)
    has = chan >= 0
    if bool(has.any()):
        sel = boxes[has]
        n = sel.shape[0]
        if tta:
            sel = tta_boxes(sel)
        crops = oriented_crops(image.float(), sel, crop_sides(sel, gsd_m, net.config), net.config.crop_px)
        if tta:
            crops = torch.cat([crops, crops.flip(-1)])  # the mirror image across the box's axis
        ch = chan[has].repeat(crops.shape[0] // n)
        p = own_state_logits(net, crops, ch).sigmoid()
        prob[has] = p.reshape(-1, n).mean(0).to(prob.dtype)
    return prob


def own_state_logits(net: nn.Module, crops: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """(N,) float logit of each crop's own state channel; a :class:`StateNetByClass` runs each
    member on the crops of its classes only, so reading by class costs what one network does."""
    if isinstance(net, StateNetByClass):
        member = torch.as_tensor(net.route, device=channels.device)[channels]
        out = torch.empty(crops.shape[0], device=crops.device)
        for k, m in enumerate(net.members):
            sel = member == k
            if bool(sel.any()):
                out[sel] = m(crops[sel]).float().gather(1, channels[sel][:, None])[:, 0]
        return out
    return net(crops).float().gather(1, channels[:, None])[:, 0]


def tta_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """(4N, 5): each box as given, moved 4 % of its length forward and turned 4 degrees, moved
    back and turned the other way, and 10 % larger (about the detector's median errors; see
    ``JitterSection`` in detect/state_train.py), stacked version by version."""
    rad = torch.deg2rad(boxes[:, 4])
    step = 0.04 * boxes[:, 2:3] * torch.stack([torch.sin(rad), -torch.cos(rad)], dim=1)
    fwd, back, big = boxes.clone(), boxes.clone(), boxes.clone()
    fwd[:, :2] += step
    fwd[:, 4] += 4.0
    back[:, :2] -= step
    back[:, 4] -= 4.0
    big[:, 2:4] *= 1.1
    return torch.cat([boxes, fwd, back, big])


@torch.no_grad()
def classify_pair(net: StateNet, image_a: torch.Tensor, image_b: torch.Tensor, boxes: torch.Tensor,
                  classes: torch.Tensor, gsd_m: float, boxes_b: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 2) probabilities of the non-nominal state on each date for each box, read by the pair
    classifier (``dates=2``) from both dates' crops at the same place; NaN for classes without a
    state. ``image_a``/``image_b``: the two dates, (3, H, W) each; ``boxes_b``: the boxes in
    ``image_b``'s pixels when they differ from ``boxes`` (two windows of different offsets)."""
    chan = state_channels(classes)
    prob = torch.full((boxes.shape[0], 2), float("nan"), device=boxes.device)
    has = chan >= 0
    if bool(has.any()):
        sel = boxes[has]
        sel_b = sel if boxes_b is None else boxes_b[has]
        sides = crop_sides(sel, gsd_m, net.config)
        size = net.config.crop_px
        crops = torch.cat([oriented_crops(image_a.float(), sel, sides, size),
                           oriented_crops(image_b.float(), sel_b, sides, size)], dim=1)
        prob[has] = pair_logits(net, crops, chan[has]).float().sigmoid().to(prob.dtype)
    return prob


def pair_logits(net: nn.Module, crops: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """(N, 2) logits of each crop pair's state channel on the first and the second date."""
    out = net(crops).reshape(crops.shape[0], 2, net.config.num_states)
    return out.gather(2, channels[:, None, None].expand(-1, 2, 1))[..., 0]


def state_net_payload(net: nn.Module, info: dict | None = None) -> dict:
    """What goes into a detector weights file under ``state_net`` (a :class:`StateNetByClass`:
    its members' payloads and the route)."""
    if isinstance(net, StateNetMean):
        return {"mean": [state_net_payload(m) for m in net.members], "info": dict(info or {})}
    if isinstance(net, StateNetByClass):
        return {"members": [state_net_payload(m) for m in net.members], "route": list(net.route),
                "info": dict(info or {})}
    return {"config": net.config.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
            "info": dict(info or {})}


def state_net_from_payload(payload: dict) -> nn.Module:
    if "mean" in payload:
        try:
            return StateNetMean([state_net_from_payload(m) for m in payload["mean"]]).eval()
        except ValueError as exc:
            raise TypeError(str(exc)) from None
    if "members" in payload:
        try:
            return StateNetByClass([state_net_from_payload(m) for m in payload["members"]],
                                   list(payload["route"])).eval()
        except ValueError as exc:
            raise TypeError(str(exc)) from None  # the loader reports a network that does not fit
    net = build_state_net(StateNetConfig.from_dict(payload["config"]))
    net.load_state_dict(payload["state_dict"])
    return net.eval()
