"""The second-stage box centring of small objects: where in its box does this launcher or
vehicle really sit?

Why: on the synthetic held-out chips the detector finds most launchers and vehicles but their
boxes sit a median 2.1 m (launchers) and 0.7 m (vehicles) off the object's centre, and on a
3 m wide box that fails IoU 0.5 even when size and axis are right. Moving the centre of each
near-miss to the truth ("oracle", 40 chips) lifted the launcher AP from 0.16 to 0.25 and the
vehicle AP from 0.38 to 0.55. The stride-4 heat map places a centre to a cell (2 m) and its
offset head sees the object at that resolution; a box-aligned crop at 4x the resolution sees
where the hull lies in it.

The network is :class:`detect.state_net.StateNet` with two outputs: the object's centre in
the crop's frame (right, down) as a fraction of the crop side, read on the crop and its mirror
image; the box's size in metres joins the features like for the type classifier.
"""

from __future__ import annotations

import torch

from detect.state_net import StateNet, StateNetConfig, crop_sides, oriented_crops
from detect.type_net import size_inputs
from imagery.taxonomy import CLASSES

BOX_CLASSES: tuple[str, ...] = ("sam", "vehicle")
BOX_INDEX = torch.tensor([CLASSES.index(c) for c in BOX_CLASSES])
OUTPUT_SCALE = 10.0  # network outputs are the offset in tenths of the crop side (well-scaled targets)


def box_net_config(**kw: object) -> StateNetConfig:
    return StateNetConfig(**{**kw, "num_states": 2, "dates": 1, "fusion": "early", "extra_inputs": 2})


def crop_axes(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors (N, 2) of each box's crop "right" and "down" in image pixels (x right, y
    down; heading clockwise from up), as :func:`detect.state_net.oriented_crops` lays them."""
    rad = torch.deg2rad(boxes[:, 4].float())
    cos, sin = torch.cos(rad), torch.sin(rad)
    return torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)


@torch.no_grad()
def centre_offsets(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, gsd_m: float) -> torch.Tensor:
    """(N, 2) predicted object centre minus box centre, in image pixels."""
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros((0, 2), device=boxes.device)
    sides = crop_sides(boxes, gsd_m, net.config)
    crops = oriented_crops(image.float(), boxes, sides, net.config.crop_px)
    sizes = size_inputs(boxes, gsd_m).to(crops.device)
    out = net(torch.cat([crops, crops.flip(-1)]), torch.cat([sizes, sizes])).float().reshape(2, n, 2)
    out = out / OUTPUT_SCALE
    a = (out[0, :, 0] - out[1, :, 0]) / 2  # the mirror image swaps right and left
    b = (out[0, :, 1] + out[1, :, 1]) / 2
    right, down = crop_axes(boxes)
    s = sides.to(a.dtype)
    return (a * s)[:, None] * right.to(a.dtype) + (b * s)[:, None] * down.to(a.dtype)


@torch.no_grad()
def refine_centres(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor,
                   gsd_m: float) -> torch.Tensor:
    """Boxes with the centres of ``BOX_CLASSES`` detections moved where the network sees the
    object; size, heading and other classes unchanged."""
    has = torch.isin(classes, BOX_INDEX.to(classes.device))
    out = boxes.clone()
    if bool(has.any()):
        out[has, :2] += centre_offsets(net, image, boxes[has], gsd_m).to(out.dtype)
    return out
