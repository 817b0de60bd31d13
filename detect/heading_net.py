"""The second-stage heading of helicopters: which way does this helicopter really point?

Why: the detector's heading is loose for one type. Over the helicopter detections of 32
synthetic Khmeimim pairs matched to the truth, Ka-52 boxes sat a median +15 degrees off (10th-90th
percentile -1 to +30), the Mi-8's, Mi-24's and Mi-28N's +2 to +3; the dark Ka-52 and its shadow
read as one blob whose axis the heat map follows. A dismantled Ka-52 read at a box turned 24-34
degrees reads 0.54-0.59 (a rotor state change must move 0.70), at its true box 0.99, so most of
the Ka-52 dismantlings the detector does report on both dates were lost to the heading. Reading
the state at several turns and keeping the surest read was tried and made nominal Ka-52s read
dismantled (MODEL_CARD.md); a box-aligned crop at 4x the image's resolution shows the fuselage
and tail boom, and a network can say how far the box must turn to lie along them.

The network is :class:`detect.state_net.StateNet` with one output, the turn from the box's
heading to the object's (clockwise, degrees / ``OUTPUT_SCALE``), read on the crop and its mirror
image (which turns the other way); the box's size in metres joins the features like for the type
classifier.
"""

from __future__ import annotations

import torch

from detect.state_net import StateNet, StateNetConfig, crop_sides, oriented_crops
from detect.type_net import size_inputs
from imagery.taxonomy import CLASSES

HEADING_CLASSES: tuple[str, ...] = ("helicopter",)
HEADING_INDEX = torch.tensor([CLASSES.index(c) for c in HEADING_CLASSES])
OUTPUT_SCALE = 10.0  # network outputs are tens of degrees (well-scaled targets)
MAX_TURN_DEG = 45.0  # the training boxes were turned at most this far: no larger turn is trusted


def heading_net_config(**kw: object) -> StateNetConfig:
    return StateNetConfig(**{**kw, "num_states": 1, "dates": 1, "fusion": "early", "extra_inputs": 2})


def wrap_deg(d: torch.Tensor) -> torch.Tensor:
    """Angles into [-180, 180)."""
    return (d + 180.0) % 360.0 - 180.0


@torch.no_grad()
def heading_turns(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, gsd_m: float) -> torch.Tensor:
    """(N,) turn in degrees (clockwise, within +-``MAX_TURN_DEG``) from each box's heading to the
    object's as the network sees it."""
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, device=boxes.device)
    sides = crop_sides(boxes, gsd_m, net.config)
    crops = oriented_crops(image.float(), boxes, sides, net.config.crop_px)
    sizes = size_inputs(boxes, gsd_m).to(crops.device)
    out = net(torch.cat([crops, crops.flip(-1)]), torch.cat([sizes, sizes])).float().reshape(2, n)
    turn = (out[0] - out[1]) / 2 * OUTPUT_SCALE  # the mirror image turns the other way
    return turn.clamp(-MAX_TURN_DEG, MAX_TURN_DEG)


@torch.no_grad()
def refine_headings(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor,
                    gsd_m: float) -> torch.Tensor:
    """Boxes with the headings of ``HEADING_CLASSES`` detections turned to where the network sees
    the object's axis; centre, size and other classes unchanged."""
    has = torch.isin(classes, HEADING_INDEX.to(classes.device))
    out = boxes.clone()
    if bool(has.any()):
        turn = heading_turns(net, image, boxes[has], gsd_m).to(out.dtype)
        out[has, 4] = (out[has, 4] + turn) % 360.0
    return out
