"""What every part of the object-level change stage works on: each date's detections as
sightings, their Hungarian matching and the presence check's notion of "something that could be
it", the site's zones, the signatures of the readers the pipeline hands in (evidence, states,
types, shadows) and NaN-aware figures. One module, so that the events (:mod:`detect.change.objects`),
the launchers' paired reading (:mod:`detect.change.launchers`) and the re-reads
(:mod:`detect.change.rereads`) gate on the same geometry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from shapely.geometry.base import BaseGeometry

from detect.change.posture_config import PostureConfig
from imagery.geometry import heading_difference
from imagery.taxonomy import AIRCRAFT_CLASSES, GROUND_CLASSES

# evidence(polygons) -> changed fraction in [0, 1] per polygon (NaN where unknown).
Evidence = Callable[[Sequence[BaseGeometry]], np.ndarray]


# state_reader(boxes, classes) -> (N, 2) probability of the non-nominal state of each map box
# (x, y, length, width, heading in degrees; y up) on the before and the after date, both read at
# that box; NaN where unknown (Detector.read_state_pairs).
StateReader = Callable[[np.ndarray, list[str]], np.ndarray]


# Reads the air-defence type at given map boxes (N, 5) on both dates: (N, len(AIR_DEFENCE_TYPES))
# probabilities, NaN rows where unread (Detector.read_air_defence_types).
TypeReader = Callable[[np.ndarray], np.ndarray]


# tall_shadow(polygons) -> (N, 2) shadow area (m^2) that only parts taller than a packed
# element can cast, on the before and the after date; NaN where unknown
# (detect.change.shadows.tall_shadow_areas).
ShadowReader = Callable[[Sequence[BaseGeometry]], np.ndarray]


STATE_EVENTS = {
    ("transport", "nose_raised"): ("nose_raised", "nose_lowered"),
    ("helicopter", "dismantled"): ("dismantled", "reassembled"),
    ("sam", "packed"): ("packed", "deployed"),
}


@dataclass(frozen=True)
class Sighting:
    """One detection of one date as the change stage compares it: map metres (y up), heading
    in degrees clockwise from north, the detector's state and its probability."""

    idx: int
    oid: str
    cls: str
    state: str | None
    score: float
    state_score: float | None
    x: float
    y: float
    heading: float
    length: float
    width: float
    geometry: BaseGeometry


def sightings(gdf: Any, prefix: str) -> list[Sighting]:
    out = []
    if gdf is None or len(gdf) == 0:
        return out
    cols = set(gdf.columns)
    records = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    for i, (rec, geom) in enumerate(zip(records, gdf.geometry, strict=True)):
        c = geom.centroid
        oid = rec.get("object_id") if "object_id" in cols else None
        if oid is None or (isinstance(oid, float) and math.isnan(oid)):
            oid = f"{prefix}{i}"
        state = rec.get("state")
        if state is not None and (isinstance(state, float) and math.isnan(state)):
            state = None
        st_score = rec.get("state_score") if "state_score" in cols else None
        if st_score is not None and isinstance(st_score, float) and math.isnan(st_score):
            st_score = None
        side = math.sqrt(max(geom.area, 1e-6))  # length and width of a box without them
        out.append(Sighting(i, str(oid), str(rec["class"]), state or None, float(rec.get("score", 1.0)),
                            None if st_score is None else float(st_score),
                            float(c.x), float(c.y), float(rec.get("heading_deg", 0.0)),
                            float(rec.get("length_m", side)), float(rec.get("width_m", side)), geom))
    return out


def _cost(a: Sighting, b: Sighting, cfg: PostureConfig) -> float:
    m = cfg.matching
    if not same_group(a.cls, b.cls):
        return math.inf
    gate = float(match_gate(a.length, b.length, cfg))
    d = math.hypot(a.x - b.x, a.y - b.y)
    if d > gate:
        return math.inf
    cost = d / gate
    cost += m.heading_weight * float(heading_difference(a.heading, b.heading)) / 180.0
    cost += m.size_weight * abs(math.log(max(a.length, 0.1) / max(b.length, 0.1)))
    if a.cls != b.cls:
        cost += m.cross_class_penalty
    return cost


def match_objects(a: list[Sighting], b: list[Sighting], cfg: PostureConfig
                  ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Hungarian assignment; returns matched (i, j) pairs and unmatched indexes of each date."""
    if not a or not b:
        return [], list(range(len(a))), list(range(len(b)))
    cost = np.full((len(a), len(b)), np.inf)
    for i, oa in enumerate(a):
        for j, ob in enumerate(b):
            cost[i, j] = _cost(oa, ob, cfg)
    big = 1e6
    finite = np.where(np.isfinite(cost), cost, big)
    rows, cols = linear_sum_assignment(finite)
    pairs = [(int(i), int(j)) for i, j in zip(rows, cols, strict=True)
             if finite[i, j] <= cfg.matching.max_cost]
    mi = {i for i, _ in pairs}
    mj = {j for _, j in pairs}
    return pairs, [i for i in range(len(a)) if i not in mi], [j for j in range(len(b)) if j not in mj]


def match_gate(length_a: Any, length_b: Any, cfg: PostureConfig) -> Any:
    """Centre distance within which two detections can be one object (scalars or arrays)."""
    m = cfg.matching
    return np.maximum(m.min_distance_m, m.distance_per_length * np.maximum(length_a, length_b))


def same_group(a: str, b: str) -> bool:
    return a == b or any(a in g and b in g for g in (AIRCRAFT_CLASSES, GROUND_CLASSES))


def _similar_size(o: Sighting, p: Sighting, ratio: float) -> bool:
    big, small = max(o.length, p.length), min(o.length, p.length)
    return small > 0 and big / small <= ratio


def unconfirmed(objs: list[Sighting], unmatched: list[int], other: list[Sighting], cfg: PostureConfig
                ) -> list[int]:
    """The unmatched objects with nothing that could be them near their place on the other
    date: a detection of their class group within ``presence_gate_scale`` x the matching gate,
    or one of another class of about their size (``presence_size_ratio``) within the gate.
    ``other`` holds all of that date's detections, reported and faint, matched or not: a
    second peak on one helicopter (rotor disc and fuselage read apart, headings at odds), a
    launcher scored 0.28 or read as a helicopter is still something there, not an arrival or
    a departure."""
    if not unmatched or not other:
        return unmatched
    return [i for i in unmatched if not supporters(objs[i], other, cfg).any()]


def supporters(o: Sighting, other: list[Sighting], cfg: PostureConfig) -> np.ndarray:
    """Which detections of ``other`` could be ``o``: its class group anywhere near, another
    class only right there and of its size."""
    if not other:
        return np.zeros(0, bool)
    d = np.hypot(np.array([p.x for p in other]) - o.x, np.array([p.y for p in other]) - o.y)
    gate = match_gate(o.length, np.array([p.length for p in other]), cfg)
    group = np.array([same_group(o.cls, p.cls) for p in other])
    size = np.array([_similar_size(o, p, cfg.presence_size_ratio) for p in other])
    return ((d <= cfg.presence_gate_scale * gate) & group) | ((d <= gate) & size)


def second_peak(o: Sighting, same_date: list[Sighting], cfg: PostureConfig) -> bool:
    return any(same_group(o.cls, p.cls)
               and math.hypot(p.x - o.x, p.y - o.y) <= match_gate(o.length, p.length, cfg) for p in same_date)


def unreported(objs: list[Sighting], reported: list[Sighting], kinds: list[str], zones: ZoneIndex,
               cfg: PostureConfig) -> list[Sighting]:
    """``objs`` in a zone of ``kinds``, but those where a ``reported`` one of their class group
    stands (the reported objects' own tracks read those)."""
    return [o for o in objs if zones.within_kinds(o.x, o.y, kinds) is True
            and not second_peak(o, reported, cfg)]


Track = tuple[list[int], list[int]]


class ZoneIndex:
    """Named zones in the pair's CRS: which zone an object stands in."""

    def __init__(self, zones: Sequence[tuple[str, str, float, BaseGeometry]] = ()) -> None:
        self.zones = list(zones)

    def name_at(self, x: float, y: float) -> str | None:
        from shapely.geometry import Point

        p = Point(x, y)
        best = None
        for name, _kind, _w, geom in self.zones:
            # The smallest containing zone is the most specific ("helipad" inside "apron").
            if geom.contains(p) and (best is None or geom.area < best[1]):
                best = (name, geom.area)
        return best[0] if best else None

    def within_kinds(self, x: float, y: float, kinds: Sequence[str]) -> bool | None:
        """Whether (x, y) lies in a zone of one of ``kinds``; None when no zone is of those
        kinds (nothing to say where such objects stand)."""
        from shapely.geometry import Point

        mine = [geom for _n, kind, _w, geom in self.zones if kind in kinds]
        if not mine:
            return None
        p = Point(x, y)
        return any(geom.contains(p) for geom in mine)

    def weight(self, name: str | None) -> float:
        for zname, _kind, w, _g in self.zones:
            if zname == name:
                return w
        return 1.0


def event_confidence(score: float, evidence: float | None, cfg: PostureConfig) -> float:
    if evidence is None or math.isnan(evidence):
        return score
    return score * min(1.0, 0.4 + 0.6 * evidence / cfg.evidence.full_confidence_fraction)


def mean_readings(reader: StateReader, groups: list[list[Sighting]], classes: list[list[str]]
                  ) -> list[tuple[float, float] | None]:
    """Each group's state probability on the before and the after date: its boxes read (as the
    given classes) on both dates in one call, averaged over the boxes read on both; None where
    none was."""
    rows = [(g, o, c) for g, (members, cls) in enumerate(zip(groups, classes, strict=True))
            for o, c in zip(members, cls, strict=True)]
    if not rows:
        return [None] * len(groups)
    boxes = np.array([[o.x, o.y, o.length, o.width, o.heading] for _, o, _ in rows], np.float64)
    probs = np.asarray(reader(boxes, [c for _, _, c in rows]), np.float64).reshape(-1, 2)
    owner = np.array([g for g, _, _ in rows])
    out: list[tuple[float, float] | None] = []
    for g in range(len(groups)):
        mine = probs[owner == g]
        mine = mine[~np.isnan(mine).any(axis=1)]
        out.append((float(mine[:, 0].mean()), float(mine[:, 1].mean())) if len(mine) else None)
    return out


def nanmax(*values: float) -> float:
    known = [float(v) for v in values if not math.isnan(v)]
    return max(known) if known else math.nan


def nanmean(values: Sequence[float]) -> float:
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    return sum(v) / len(v) if v else math.nan


def figures_at(fn: Evidence | None, polys: list[BaseGeometry]) -> np.ndarray:
    if fn is None or not polys:
        return np.full(len(polys), np.nan)
    return np.asarray(fn(polys), dtype=np.float64)


def similarity_field(value: float) -> dict[str, float]:
    return {} if math.isnan(value) else {"similarity": round(float(value), 3)}
