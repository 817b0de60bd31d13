"""The posture-change score: object events and pixel change rolled up per zone and overall, 0-100.

Points accumulate from events (event weight x class weight x confidence x zone weight) and from
pixel change above a floor that a steady pair reaches through shadows, lean and noise alone. The
score saturates, ``100 * (1 - exp(-points / scale))``, so a single An-124 raising its visor is a
clear signal (~40) and a full withdrawal approaches 100 without a ceiling effect on one zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from detect.change.objects import ObjectEvent
from detect.change.posture_config import PostureConfig
from detect.change.sightings import ZoneIndex


def saturate(points: float, scale: float) -> float:
    return 100.0 * (1.0 - math.exp(-max(points, 0.0) / scale))


def event_points(event: ObjectEvent, cfg: PostureConfig, zone_weight: float = 1.0) -> float:
    return (cfg.event_weights.get(event.kind, 0.0) * cfg.class_weights.get(event.cls, 1.0)
            * event.confidence * zone_weight)


@dataclass(frozen=True)
class ZoneScore:
    name: str
    change_fraction: float | None
    score: float
    events: int

    def to_json_dict(self) -> dict[str, Any]:
        return {"name": self.name,
                "change_fraction": None if self.change_fraction is None else round(self.change_fraction, 5),
                "score": round(self.score, 1), "events": self.events}


def pixel_fractions(change_stats: dict[str, Any]) -> dict[str, float]:
    """Changed fraction per zone and over the whole AOI (``all``) from ``change_stats.json``.

    The overall pixel term reads the AOI-wide fraction, not the busiest zone's: on the steady
    Khmeimim pairs single zones reach 0.08-0.12 from lean and shadow alone (seed 13, the
    revetments) while the AOI as a whole stays at 0.025-0.041."""
    out = {z["name"]: z.get("change_fraction") for z in change_stats.get("zones", [])}
    if change_stats.get("change_fraction") is not None:
        out.setdefault("all", change_stats["change_fraction"])
    return out


def posture_score(events: Sequence[ObjectEvent], zone_change: dict[str, float], cfg: PostureConfig,
                  zones: ZoneIndex | None = None, activity: Sequence[ObjectEvent] = ()
                  ) -> tuple[float, list[ZoneScore]]:
    """Overall score and one :class:`ZoneScore` per zone.

    ``zone_change`` maps zone name -> changed pixel fraction (from the pixel stage); a zone
    called ``all`` (the whole AOI) is used for the pixel term of the overall score.
    ``activity`` (vehicle comings and goings) adds points like events, without being listed.
    """
    zones = zones or ZoneIndex()
    names = [z[0] for z in zones.zones]
    per_zone_points = {n: 0.0 for n in names}
    per_zone_events = {n: 0 for n in names}
    total = 0.0
    for e in [*events, *activity]:
        w = zones.weight(e.zone)
        pts = event_points(e, cfg, w)
        total += pts
        if e.zone in per_zone_points:
            per_zone_points[e.zone] += pts
            per_zone_events[e.zone] += e in events

    def pixel_points(fraction: float | None) -> float:
        if fraction is None or math.isnan(fraction):
            return 0.0
        return cfg.pixel_points * max(0.0, fraction - cfg.pixel_floor)

    scores = []
    for name, _kind, weight, _geom in zones.zones:
        frac = zone_change.get(name)
        pts = per_zone_points[name] + pixel_points(frac) * weight
        scores.append(ZoneScore(name, frac, saturate(pts, cfg.score_scale), per_zone_events[name]))
    overall_pixels = zone_change.get("all")
    if overall_pixels is None and zone_change:
        overall_pixels = max(zone_change.values())
    total += pixel_points(overall_pixels)
    return saturate(total, cfg.score_scale), scores


def timeline(transitions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A series' posture timeline: one entry per transition (dates, score, event counts)."""
    out = []
    for t in transitions:
        counts: dict[str, int] = {}
        for e in t.get("events", []):
            counts[e["kind"]] = counts.get(e["kind"], 0) + 1
        out.append({"before": t.get("before_date"), "after": t.get("after_date"),
                    "posture_score": t.get("posture_score"), "events": counts})
    return out
