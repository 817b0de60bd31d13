"""The detector network: a small anchor-free CenterNet-style model for oriented objects.

Design constraints (research/environment.md): it must train from scratch in a few CPU hours and
run at several Mpx/s on two CPU cores, so

* the full-resolution part is two plain strided 3x3 convolutions (few channels: the stride-2
  map is the most expensive tensor in the network);
* deeper stages (stride 8 to 32) use residual depthwise-separable blocks, cheap per pixel but
  wide enough to recognise an aircraft type, with a 5x5 depthwise kernel to widen the
  receptive field (an An-124 at 0.5 m is 146 px: the centre cell must see both wing tips);
* an FPN-lite top-down path (nearest upsampling + 1x1 laterals) brings context back to
  stride 4, where the heads predict class heat maps, box regression and state logits.

On CPU, channels_last memory format makes oneDNN run these convolutions 1.5-3x faster
(measured in benchmarks/detector_speed.py); the Detector sets it. BatchNorm is folded into the
convolutions for inference by :func:`fuse_for_inference`.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from detect.targets import NUM_CLASSES, NUM_STATES, REG_CHANNELS, STRIDE
from imagery.taxonomy import CLASSES

# ImageNet-like statistics are meaningless for 8-bit DRA products; these are the mean/std of
# display-stretched VHR scenes (about mid-grey, wide spread), fixed so that the model's input
# contract never changes.
INPUT_MEAN = 0.45
INPUT_STD = 0.25


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters; stored inside every weights file."""

    stem: tuple[int, int] = (16, 32)  # channels at stride 2 and 4
    widths: tuple[int, int, int] = (64, 112, 160)  # stride 8, 16, 32
    depths: tuple[int, int, int, int] = (1, 2, 3, 2)  # residual blocks at stride 4, 8, 16, 32
    kernel: int = 5  # depthwise kernel at strides 8-32
    neck: int = 32  # FPN channels (stride-4 maps dominate the cost: keep them narrow)
    head: int = 32
    num_classes: int = NUM_CLASSES
    num_states: int = NUM_STATES
    stride: int = STRIDE
    # blur before each stride-2 subsampling of stages 8-32 (anti-aliasing, Zhang 2019): the plain
    # strided convolutions make a score depend on the object's position on the stride grid
    # (benchmarks/detector_shift.py)
    antialias: bool = False
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        for key in ("stem", "widths", "depths"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
            act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BlurDown(nn.Module):
    """Fixed [1 2 1] x [1 2 1] / 16 blur per channel, then every second pixel: a stride-2
    subsampling that does not alias (no parameters, so weights files keep their keys)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        kernel = (k[:, None] * k[None, :] / 16.0).expand(channels, 1, 3, 3).contiguous()
        self.register_buffer("kernel", kernel, persistent=False)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=self.channels)


class SepBlock(nn.Module):
    """Depthwise kxk + pointwise 1x1, residual when the shape allows it. ``antialias``: a
    stride-2 block runs its depthwise convolution at stride 1 and subsamples through
    :class:`BlurDown`."""

    def __init__(self, cin: int, cout: int, stride: int = 1, k: int = 3, antialias: bool = False) -> None:
        super().__init__()
        if stride == 2 and antialias:
            self.dw = nn.Sequential(*conv_bn(cin, cin, k, 1, groups=cin), BlurDown(cin))
        else:
            self.dw = conv_bn(cin, cin, k, stride, groups=cin)
        self.pw = conv_bn(cin, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return F.relu(y + x if self.residual else y, inplace=True)


class CenterNetOBB(nn.Module):
    """Input: (B, 3, H, W) uint8 or float in 0..255 (H, W multiples of 32). Output: dict of
    ``heat`` (B, C, H/4, W/4) logits, ``reg`` (B, 8, H/4, W/4), ``state`` (B, S, H/4, W/4) logits."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ModelConfig()
        s2, s4 = c.stem
        w8, w16, w32 = c.widths
        d4, d8, d16, d32 = c.depths
        self.stem = nn.Sequential(conv_bn(3, s2, 3, 2), conv_bn(s2, s4, 3, 2),
                                  *[SepBlock(s4, s4) for _ in range(d4)])
        k = c.kernel
        aa = c.antialias
        self.stage8 = nn.Sequential(SepBlock(s4, w8, 2, antialias=aa),
                                    *[SepBlock(w8, w8, k=k) for _ in range(d8)])
        self.stage16 = nn.Sequential(SepBlock(w8, w16, 2, antialias=aa),
                                     *[SepBlock(w16, w16, k=k) for _ in range(d16)])
        self.stage32 = nn.Sequential(SepBlock(w16, w32, 2, antialias=aa),
                                     *[SepBlock(w32, w32, k=k) for _ in range(d32)])
        n = c.neck
        self.lat32 = conv_bn(w32, n, 1)
        self.lat16 = conv_bn(w16, n, 1)
        self.lat8 = conv_bn(w8, n, 1)
        self.lat4 = conv_bn(s4, n, 1)
        self.smooth16 = SepBlock(n, n)
        self.smooth8 = SepBlock(n, n)
        self.smooth4 = SepBlock(n, c.head)
        self.heat_branch = SepBlock(c.head, c.head)
        self.reg_branch = SepBlock(c.head, c.head)
        self.heat = nn.Conv2d(c.head, c.num_classes, 1)
        self.reg = nn.Conv2d(c.head, REG_CHANNELS, 1)
        self.state = nn.Conv2d(c.head, c.num_states, 1)
        self.register_buffer("mean", torch.tensor(INPUT_MEAN * 255.0), persistent=False)
        self.register_buffer("inv_std", torch.tensor(1.0 / (INPUT_STD * 255.0)), persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Zero-init the last BN of each residual block: every block starts as the identity,
        # which trains from scratch more stably.
        for m in self.modules():
            if isinstance(m, SepBlock) and m.residual:
                nn.init.zeros_(m.pw[1].weight)
        # Focal-loss prior (RetinaNet): heat starts at p = 0.01 everywhere.
        nn.init.normal_(self.heat.weight, std=0.01)
        nn.init.constant_(self.heat.bias, -math.log((1 - 0.01) / 0.01))
        nn.init.normal_(self.reg.weight, std=0.01)
        with torch.no_grad():
            self.reg.bias.copy_(torch.tensor([0.0, 0.0, 2.0, 1.5, 0.0, 1.0, 0.0, 1.0]))
        nn.init.normal_(self.state.weight, std=0.01)
        nn.init.zeros_(self.state.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x.to(self.mean.dtype) - self.mean) * self.inv_std if not x.is_floating_point() else \
            (x - self.mean.to(x.dtype)) * self.inv_std.to(x.dtype)
        c4 = self.stem(x)
        c8 = self.stage8(c4)
        c16 = self.stage16(c8)
        c32 = self.stage32(c16)
        p = self.lat32(c32)
        p = self.smooth16(F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat16(c16))
        p = self.smooth8(F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat8(c8))
        p = self.smooth4(F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat4(c4))
        hb = self.heat_branch(p)
        rb = self.reg_branch(p)
        return {"heat": self.heat(hb), "reg": self.reg(rb), "state": self.state(hb)}


def fuse_for_inference(model: CenterNetOBB) -> CenterNetOBB:
    """Fold every BatchNorm into the convolution before it (eval mode, in place)."""
    model.eval()

    def _fuse(module: nn.Module) -> None:
        for name, child in list(module.named_children()):
            if (isinstance(child, nn.Sequential) and len(child) >= 2 and isinstance(child[0], nn.Conv2d)
                    and isinstance(child[1], nn.BatchNorm2d)):
                fused = torch.nn.utils.fusion.fuse_conv_bn_eval(child[0], child[1])
                module._modules[name] = nn.Sequential(fused, *list(child)[2:])
            else:
                _fuse(child)

    _fuse(model)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# Weights files: a torch state dict + everything needed to rebuild and use the model, with a
# sha256 checksum beside it (``<name>.sha256``, the format ``sha256sum -c`` reads).
# --------------------------------------------------------------------------------------------

WEIGHTS_FORMAT = "posturewatch-detector"
# 2: the box-axis pair (sin 2h, cos 2h) joined the regression head (REG_CHANNELS 6 -> 8).
WEIGHTS_VERSION = 2


def sha256_of(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksum_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".sha256")


def save_weights(path: str | os.PathLike[str], model: CenterNetOBB, *, gsd_m: float,
                 target: dict, info: dict | None = None, state_net: dict | None = None,
                 state_pair: dict | None = None, type_net: dict | None = None,
                 box_net: dict | None = None, ground_net: dict | None = None,
                 air_defence_net: dict | None = None, heading_net: dict | None = None) -> Path:
    """Write weights (half-size float16 tensors would save little here: the model is ~1 MB)
    atomically, then the checksum file. ``state_net`` is the optional second-stage state
    classifier, ``state_pair`` the optional two-date one, ``type_net`` the optional aircraft type
    classifier, ``box_net`` the optional box centring of small objects, ``ground_net`` the
    optional check of launcher and vehicle detections, ``air_defence_net`` the optional
    air-defence equipment type classifier, ``heading_net`` the optional heading of helicopters
    (each a
    :func:`detect.state_net.state_net_payload`)."""
    from imagery.atomic import atomic_path, atomic_write_text

    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "model": model.config.to_dict(),
               "state_dict": state, "gsd_m": float(gsd_m), "target": dict(target),
               "classes": list(CLASSES), "info": dict(info or {})}
    if state_net is not None:
        payload["state_net"] = state_net
    if state_pair is not None:
        payload["state_pair"] = state_pair
    if type_net is not None:
        payload["type_net"] = type_net
    if box_net is not None:
        payload["box_net"] = box_net
    if ground_net is not None:
        payload["ground_net"] = ground_net
    if air_defence_net is not None:
        payload["air_defence_net"] = air_defence_net
    if heading_net is not None:
        payload["heading_net"] = heading_net
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    atomic_write_text(checksum_path(path), f"{sha256_of(path)}  {path.name}\n")
    return path


@dataclass
class LoadedWeights:
    model: CenterNetOBB
    gsd_m: float
    target: dict
    info: dict
    path: Path
    sha256: str
    state_net: dict | None = None  # the second-stage state classifier's payload, when present
    state_pair: dict | None = None  # the two-date state classifier's payload, when present
    type_net: dict | None = None  # the aircraft type classifier's payload, when present
    box_net: dict | None = None  # the box centring network's payload, when present
    ground_net: dict | None = None  # the launcher/vehicle check's payload, when present
    air_defence_net: dict | None = None  # the air-defence type classifier's payload, when present
    heading_net: dict | None = None  # the helicopters' heading network's payload, when present

    @property
    def detection_sha256(self) -> str:
        """What the detections made with these weights are known by: the sha256 of the file
        whose detection networks these are. A file that differs from it only by networks the
        change stage alone reads (``CHANGE_STAGE_ONLY``) records that file's sha256 in its info
        (``detection_sha256``), so runs made before it was written keep their detections."""
        return str(self.info.get("detection_sha256") or self.sha256)

    def second_stages(self) -> dict[str, dict | None]:
        """The second-stage payloads by ``save_weights`` keyword: a trainer that replaces one
        writes the others back unchanged (each reads image crops, not the others' outputs)."""
        return {name: getattr(self, name) for name in SECOND_STAGES}


# Second-stage networks a weights file may carry, and what an error message calls each.
SECOND_STAGES = {"state_net": "state", "state_pair": "two-date state", "type_net": "type",
                 "box_net": "box centring", "ground_net": "ground check",
                 "air_defence_net": "air-defence type", "heading_net": "helicopter heading"}
# The second stages that only the change stage reads (a launcher's state on two dates, its
# air-defence type): replacing one leaves every detection as it was.
CHANGE_STAGE_ONLY = frozenset({"state_pair", "air_defence_net"})


def _upgrade_v1(state: dict) -> dict:
    """Format 1 -> 2: append the (sin 2h, cos 2h) rows to the regression conv."""
    state = dict(state)
    w, b = state["reg.weight"], state["reg.bias"]
    if w.shape[0] == 6:
        state["reg.weight"] = torch.cat([w, torch.zeros_like(w[:2])])
        state["reg.bias"] = torch.cat([b, torch.tensor([0.0, 1.0], dtype=b.dtype)])
    return state


def load_weights(path: str | os.PathLike[str], *, verify: bool = True,
                 upgrade: bool = False) -> LoadedWeights:
    """Rebuild a model from a weights file; one-line :class:`InputError` when the file is
    missing, fails its checksum, or is not a posturewatch detector.

    ``upgrade`` accepts format-1 files (no axis pair) as a *starting point for training*: their
    regression head gets the two axis channels, initialised to "no preference" (weights 0, the
    bias of the fresh model). Such a model is not fit for inference until trained."""
    from imagery.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: weights file not found (train one with `posturewatch train`, "
                         "or reinstall to get the shipped weights)")
    digest = sha256_of(path)
    side = checksum_path(path)
    if verify:
        if not side.is_file():
            raise InputError(f"{path}: no checksum file {side.name} beside the weights; refusing to load "
                             f"unverified weights (create it with `sha256sum {path.name} > {side.name}`)")
        expected = side.read_text(encoding="utf-8").split()[:1]
        if not expected or expected[0].lower() != digest:
            raise InputError(f"{path}: checksum mismatch (file is corrupt or was replaced; expected "
                             f"{expected[0][:12] if expected else '?'}..., got {digest[:12]}...)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for garbage input
        raise InputError(f"{path}: not a readable weights file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise InputError(f"{path}: not a posturewatch detector weights file")
    if payload.get("version", 0) > WEIGHTS_VERSION:
        raise InputError(f"{path}: weights format version {payload['version']} is newer than this "
                         f"posturewatch understands ({WEIGHTS_VERSION}); upgrade posturewatch")
    if payload.get("version", 0) < 2:
        if not upgrade:
            raise InputError(f"{path}: weights format version {payload.get('version')} predates the "
                             "box-axis head of this posturewatch; retrain (`posturewatch train`), or "
                             "fine-tune from it with init_weights")
        payload["state_dict"] = _upgrade_v1(payload["state_dict"])
    if tuple(payload.get("classes", ())) != CLASSES:
        raise InputError(f"{path}: trained for classes {payload.get('classes')}, "
                         f"this version uses {list(CLASSES)}")
    model = CenterNetOBB(ModelConfig.from_dict(payload["model"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError:
        raise InputError(f"{path}: weights do not fit the model they describe (corrupt file?)") from None
    model.eval()
    from detect.state_net import state_net_from_payload

    for name, what in SECOND_STAGES.items():
        if payload.get(name) is not None:
            try:
                state_net_from_payload(payload[name])
            except (RuntimeError, KeyError, TypeError):
                raise InputError(f"{path}: its {what} classifier does not fit the network it describes "
                                 "(corrupt file?)") from None
    return LoadedWeights(model, float(payload["gsd_m"]), dict(payload.get("target", {})),
                         dict(payload.get("info", {})), path, digest,
                         **{name: payload.get(name) for name in SECOND_STAGES})
