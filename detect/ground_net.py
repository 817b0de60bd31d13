"""The second-stage check of ground-equipment detections: is this a launcher, a truck, or
nothing at all?

Why: on the synthetic held-out chips (``benchmarks/detector_accuracy.py``, 40 chips) only 13
of the detector's 82 launcher (``sam``) detections at the operating score sat on a launcher: 32
were trucks and other vehicles, 19 bare ground or clutter; of its 502 vehicle detections 176
lay on nothing labelled (roof plant, baggage carts, containers, marks). Handing each of them its
true class, and removing those on nothing ("oracle"), lifted the launcher AP from 0.16 to 0.27
and the vehicle AP from 0.39 to 0.48. In the Khmeimim pairs the same confusions make posture
events: a rooftop unit read as a launcher that "departed", an arriving truck read as a launcher
(MODEL_CARD.md). The heat map decides at one stride-4 cell; a box-aligned crop at four times
the resolution shows the hull, the canisters or the radar, and their shadow.

The network is :class:`detect.state_net.StateNet` with three outputs (launcher, vehicle,
nothing; softmax), read on the crop and its mirror image, with the box's length and width in
metres as two extra inputs, like the aircraft type classifier (:mod:`detect.type_net`). It is
trained on the detector's own detections of synthetic chips, labelled by the truth they
overlap, so its negatives are what the detector actually mistakes (``detect/ground_train.py``).
"""

from __future__ import annotations

from typing import Literal

import torch

from detect.state_net import StateNet, StateNetConfig
from detect.type_net import crop_probs
from imagery.taxonomy import CLASSES

GROUND_CLASSES: tuple[str, ...] = ("sam", "vehicle")
GROUND_INDEX = torch.tensor([CLASSES.index(c) for c in GROUND_CLASSES])
VEHICLE = CLASSES.index("vehicle")
NOTHING = len(GROUND_CLASSES)  # index of the "nothing there" output
Rename = Literal["none", "to_vehicle", "both"]
OUTPUT_NAMES: tuple[str, ...] = (*GROUND_CLASSES, "nothing")


def ground_net_config(**kw: object) -> StateNetConfig:
    return StateNetConfig(**{**kw, "num_states": len(OUTPUT_NAMES), "dates": 1, "fusion": "early",
                             "extra_inputs": 2})


@torch.no_grad()
def check_ground(net: StateNet, image: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor,
                 scores: torch.Tensor, gsd_m: float, *, reject: float,
                 demoted_score: float, rename: Rename = "to_vehicle") -> tuple[torch.Tensor, torch.Tensor]:
    """(classes, scores) of detections after the check. ``rename``: "to_vehicle" renames a
    launcher detection the network finds likelier a vehicle, "both" also renames a vehicle one
    likelier a launcher, "none" keeps every class. A detection it calls nothing with probability
    ``reject`` or more gets ``demoted_score`` (if lower than its own): below the operating score,
    so it is not reported, but still a faint detection for the change stage's presence check (a
    real launcher the check got wrong on one date is then not announced as departed). Other
    classes unchanged.

    Why a vehicle is not renamed launcher by default: a launcher is a posture object and a truck
    is not, so a truck renamed launcher on one date is an "arrived" or "departed" launcher. On
    the withdrawal pairs the trucks that come to load the transports were, and precision fell
    from 0.98 to 0.87 (MODEL_CARD.md); the check may veto a launcher, not create one."""
    has = torch.isin(classes, GROUND_INDEX.to(classes.device))
    out_c, out_s = classes.clone(), scores.clone()
    if bool(has.any()):
        p = crop_probs(net, image, boxes[has], gsd_m)  # launcher, vehicle, nothing
        named = GROUND_INDEX.to(classes.device)[p[:, :NOTHING].argmax(1)].to(classes.dtype)
        if rename == "to_vehicle":
            named = torch.where(classes[has] == VEHICLE, classes[has], named)
        if rename != "none":
            out_c[has] = named
        s = out_s[has]
        out_s[has] = torch.where(p[:, NOTHING] >= reject, torch.clamp(s, max=demoted_score), s)
    return out_c, out_s
