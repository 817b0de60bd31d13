"""The second-stage aircraft type classifier: is this fixed-wing aircraft a military transport,
a fighter or an airliner?

Why a second stage: the one-stage detector finds aircraft well but often names the wrong kind.
On the synthetic held-out chips (``benchmarks/detector_accuracy.py``) 96 % of its aircraft boxes
fit at IoU 0.5, yet 22 of 60 airliners and 9 of 53 transports had only a detection of another
aircraft class on them; handing every aircraft box its true class ("oracle", 40 chips) lifted
the transport AP from 0.70 to 0.94 and the airliner AP from 0.59 to 0.97. The heat map decides
the class at one cell of a 70 m aircraft; what tells an Il-76 from an A320 (high wing and
T-tail, engines on pylons, the paint) lies along the whole airframe. So, as for the states
(:mod:`detect.state_net`), each aircraft detection is resampled into a crop aligned with its
box, nose up, and a small CNN names its kind from the whole shape.

The network is :class:`detect.state_net.StateNet` with one output per class of
``TYPE_CLASSES`` (softmax), read on the crop and its mirror image. The crop is scaled to the box
(a fighter and an airliner fill it alike), so the box's length and width in metres join the
flattened features as two extra inputs: a first version without them turned 24-28 m transports
and 18-20 m business jets into fighters on the held-out chips and lowered the fighter AP from
0.70 to 0.61 while it raised the transport and airliner APs (model card).
"""

from __future__ import annotations

import numpy as np
import torch

from detect.state_net import StateNet, StateNetConfig, crop_sides, oriented_crops
from imagery.taxonomy import AIR_DEFENCE_TYPES, CLASSES

# The aircraft classes the detector confuses among themselves. Helicopters are left out: the
# detector rarely mistakes them (held-out helicopter AP does not move with their true class).
TYPE_CLASSES: tuple[str, ...] = ("transport", "fighter", "airliner")
TYPE_INDEX = torch.tensor([CLASSES.index(c) for c in TYPE_CLASSES])


def type_net_config(names: tuple[str, ...] = TYPE_CLASSES, **kw: object) -> StateNetConfig:
    """A :class:`StateNetConfig` with one output per entry of ``names`` (default the aircraft
    kinds) and the box size as two extra inputs."""
    return StateNetConfig(**{**kw, "num_states": len(names), "dates": 1, "fusion": "early",
                             "extra_inputs": 2})


def size_inputs(boxes: torch.Tensor, gsd_m: float) -> torch.Tensor:
    """(N, 2) log of each box's length and width over 20 m (boxes in pixels of ``gsd_m``)."""
    return torch.log(torch.clamp(boxes[:, 2:4].float() * gsd_m, min=1.0) / 20.0)


def type_rows(classes: torch.Tensor) -> torch.Tensor:
    """Index into ``TYPE_CLASSES`` of each class index (-1 for classes the network does not name)."""
    lut = torch.full((len(CLASSES),), -1, dtype=torch.long)
    lut[TYPE_INDEX] = torch.arange(len(TYPE_CLASSES))
    return lut.to(classes.device)[classes]


@torch.no_grad()
def crop_probs(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, gsd_m: float) -> torch.Tensor:
    """(N, outputs) softmax probabilities of a sized crop classifier (box size as extra inputs) on
    boxes of ``image`` (3, H, W), averaged over each crop and its mirror image across the box axis
    (the objects are symmetric about it, their shadows and paint are not)."""
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros((0, net.config.num_states), device=boxes.device)
    crops = oriented_crops(image.float(), boxes, crop_sides(boxes, gsd_m, net.config), net.config.crop_px)
    sizes = size_inputs(boxes, gsd_m).to(crops.device)
    logits = net(torch.cat([crops, crops.flip(-1)]), torch.cat([sizes, sizes])).float()
    return logits.softmax(1).reshape(2, n, -1).mean(0)


def type_probs(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, gsd_m: float) -> torch.Tensor:
    """(N, len(TYPE_CLASSES)) class probabilities of aircraft boxes (:func:`crop_probs`)."""
    return crop_probs(net, image, boxes, gsd_m)


@torch.no_grad()
def refine_classes(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor,
                   gsd_m: float) -> torch.Tensor:
    """The class of each detection with its aircraft kind as the type network names it; other
    classes unchanged. The detection's score (that an aircraft is there) stays the detector's."""
    rows = type_rows(classes)
    has = rows >= 0
    out = classes.clone()
    if bool(has.any()):
        p = type_probs(net, image, boxes[has], gsd_m)
        out[has] = TYPE_INDEX.to(classes.device)[p.argmax(1)].to(classes.dtype)
    return out


# The air-defence equipment the detector reports as one class, `sam`. Why a name matters: a
# launcher's state change leaves different evidence per type (an S-400 TEL's erect canisters
# cast a long shadow and change most of its box; a 91N6E's folding antenna changes a small part
# of a 20 m trailer but its shadow goes; a Pantsir-S1's radar hardly shows), so the posture
# stage's launcher gates may be set per type (``paired_states.type_gates``), and the analyst
# reads "a 91N6E packed" rather than "a sam packed".
AIR_DEFENCE_CLASS = "sam"


def air_defence_net_config(**kw: object) -> StateNetConfig:
    """:func:`type_net_config` with one output per ``AIR_DEFENCE_TYPES`` entry."""
    return type_net_config(AIR_DEFENCE_TYPES, **kw)


def air_defence_rows(classes: object, types: object) -> np.ndarray:
    """Index into ``AIR_DEFENCE_TYPES`` of each labelled object (class indices and type names),
    -1 for objects of another class or type."""
    sam = CLASSES.index(AIR_DEFENCE_CLASS)
    return np.array([AIR_DEFENCE_TYPES.index(t) if int(c) == sam and t in AIR_DEFENCE_TYPES else -1
                     for c, t in zip(np.asarray(classes), types, strict=True)], np.int64)
