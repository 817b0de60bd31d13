"""Object-level change: match the detections of two dates and name what happened to each object.

Matching is a Hungarian assignment (scipy ``linear_sum_assignment``) on a cost made of centre
distance (normalised by a gate that grows with the object's length, because off-nadir lean and
misregistration move tall parts by metres), heading difference, a weak size term (a dismantled
helicopter loses its rotor disc, so its outline shrinks) and a penalty for reading the same
object as another class of its group on one date (aircraft among aircraft, a launcher as a
truck); no state event is read across such a confusion. Pairs above ``max_cost`` stay unmatched.

Each match whose state differs yields a state event (nose_raised, dismantled, packed and their
reverses); each unmatched object yields departed/arrived. Two safeguards keep detector flicker
from becoming events:

* presence check with threshold hysteresis: an object reported on one date is not "departed"
  when the other date holds, at the same place, any detection of its class group (within
  ``presence_gate_scale`` x the matching gate) or one of another class of about its size
  (``presence_size_ratio``, within the gate: a launcher read as a helicopter), even a *faint*
  one (scored between the detector's ``presence_threshold`` and its operating threshold) or one
  already matched to a neighbour (two peaks on one helicopter). On the synthetic Khmeimim
  steady pair (seed 11) 13% of the aircraft reported on one date score below 0.3 on the
  other, and 99% of those still score 0.2 or more, while the fighters that leave in the demo
  pair score below 0.2 at their old place. A state event likewise needs the state
  probability to move by ``state_min_shift`` across the threshold, not to wobble around it
  (further for a sharply read state: ``state_min_shift_by_state``).
* pixel evidence: the changed fraction inside the object's box backs up (and scales the
  confidence of) each event; an object whose pixels did not change did not leave.

Paired state reading (``paired_states``, for launchers): the state classifier reads a launcher's
box on *both* dates, its own and the other (``StateReader``), so that a launcher missed on one
date, or read there as a truck, still has its state compared, and both states come from one box
geometry. The state must move by ``min_shift`` (mean over the boxes), most of the box must change
(``min_fraction``) and the box must look different (before/after NCC at most
``max_similarity``): on steady synthetic pairs the classifier's reading of a launcher swings
with the view (0.1 -> 0.98 between 18 and 6 degrees off nadir) while its box still correlates
0.7-0.9; a launcher whose tubes came down correlates 0.2-0.55. A move of ``sure_shift`` or more,
which view changes rarely cause, needs the box only somewhat different (``max_similarity_sure``).
Launcher boxes of either date within the matching gate of each other form one track, so that one
launcher is one event however the assignment split its boxes. Sun geometry checks the reading
(``tall_shadow``, :mod:`detect.change.shadows`): no packing on a date that still shows the shadow
of a part taller than a packed element, and a tall shadow that went away backs a weak reading.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from shapely.geometry.base import BaseGeometry

from detect.change.posture_config import PostureConfig
from imagery.geometry import heading_difference
from imagery.taxonomy import AIRCRAFT_CLASSES, GROUND_CLASSES, STATES

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

_STATE_EVENTS = {
    ("transport", "nose_raised"): ("nose_raised", "nose_lowered"),
    ("helicopter", "dismantled"): ("dismantled", "reassembled"),
    ("sam", "packed"): ("packed", "deployed"),
}

_NOUNS = {"transport": "transport", "fighter": "combat jet", "helicopter": "helicopter",
          "sam": "air-defence launcher", "vehicle": "vehicle", "airliner": "airliner"}

# What an analyst calls each air-defence type the type classifier names (the event's subject
# when it names it surely; detect/type_net.py).
_EQUIPMENT_NOUNS = {"S-400 TEL": "S-400 launcher", "S-400 TEL towed": "towed S-400 launcher",
                    "91N6E": "91N6E acquisition radar", "92N6E": "92N6E fire-control radar",
                    "Pantsir-S1": "Pantsir-S1 air-defence system"}

_VERBS = {
    "departed": "left",
    "arrived": "appeared",
    "nose_raised": "raised its nose visor",
    "nose_lowered": "lowered its nose visor",
    "dismantled": "was dismantled (rotor blades off)",
    "reassembled": "had its rotors refitted",
    "packed": "was packed for road transport",
    "deployed": "was deployed",
}


@dataclass
class ObjectEvent:
    """One change of one object between two dates (a ``report.json`` event)."""

    kind: str
    cls: str
    before_id: str | None
    after_id: str | None
    x: float
    y: float
    lon: float | None
    lat: float | None
    zone: str | None
    confidence: float
    explanation: str
    evidence: float | None = None
    size_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class"] = d.pop("cls")
        d.update(d.pop("extra"))
        d["confidence"] = round(self.confidence, 3)
        if self.evidence is not None:
            d["evidence"] = round(self.evidence, 3)
        return d


@dataclass(frozen=True)
class _Obj:
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


def _objects(gdf: Any, prefix: str) -> list[_Obj]:
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
        out.append(_Obj(i, str(oid), str(rec["class"]), state or None, float(rec.get("score", 1.0)),
                        None if st_score is None or (isinstance(st_score, float) and math.isnan(st_score))
                        else float(st_score),
                        float(c.x), float(c.y), float(rec.get("heading_deg", 0.0)),
                        float(rec.get("length_m", math.sqrt(max(geom.area, 1e-6)))),
                        float(rec.get("width_m", math.sqrt(max(geom.area, 1e-6)))), geom))
    return out


def _cost(a: _Obj, b: _Obj, cfg: PostureConfig) -> float:
    m = cfg.matching
    if not _compatible(a.cls, b.cls):
        return math.inf
    gate = float(_gate(a.length, b.length, cfg))
    d = math.hypot(a.x - b.x, a.y - b.y)
    if d > gate:
        return math.inf
    cost = d / gate
    cost += m.heading_weight * float(heading_difference(a.heading, b.heading)) / 180.0
    cost += m.size_weight * abs(math.log(max(a.length, 0.1) / max(b.length, 0.1)))
    if a.cls != b.cls:
        cost += m.cross_class_penalty
    return cost


def match_objects(a: list[_Obj], b: list[_Obj], cfg: PostureConfig
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


def _gate(length_a: Any, length_b: Any, cfg: PostureConfig) -> Any:
    """Centre distance within which two detections can be one object (scalars or arrays)."""
    m = cfg.matching
    return np.maximum(m.min_distance_m, m.distance_per_length * np.maximum(length_a, length_b))


def _compatible(a: str, b: str) -> bool:
    return a == b or any(a in g and b in g for g in (AIRCRAFT_CLASSES, GROUND_CLASSES))


def _similar_size(o: _Obj, p: _Obj, ratio: float) -> bool:
    big, small = max(o.length, p.length), min(o.length, p.length)
    return small > 0 and big / small <= ratio


def _unconfirmed(objs: list[_Obj], unmatched: list[int], other: list[_Obj], cfg: PostureConfig
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
    return [i for i in unmatched if not _supporters(objs[i], other, cfg).any()]


def _supporters(o: _Obj, other: list[_Obj], cfg: PostureConfig) -> np.ndarray:
    """Which detections of ``other`` could be ``o``: its class group anywhere near, another
    class only right there and of its size."""
    if not other:
        return np.zeros(0, bool)
    d = np.hypot(np.array([p.x for p in other]) - o.x, np.array([p.y for p in other]) - o.y)
    gate = _gate(o.length, np.array([p.length for p in other]), cfg)
    group = np.array([_compatible(o.cls, p.cls) for p in other])
    size = np.array([_similar_size(o, p, cfg.presence_size_ratio) for p in other])
    return ((d <= cfg.presence_gate_scale * gate) & group) | ((d <= gate) & size)


def date_span(d1: datetime | None, d2: datetime | None) -> str:
    """'between 12 and 13 Dec' / 'between 30 Nov and 1 Dec' / 'between the two images'."""
    if d1 is None or d2 is None:
        return "between the two images"
    if d1.year != d2.year:
        return f"between {d1.day} {d1:%b %Y} and {d2.day} {d2:%b %Y}"
    if d1.month == d2.month:
        if d1.day == d2.day:
            return f"between {d1:%H:%M} and {d2:%H:%M} UTC on {d1.day} {d1:%b}"
        return f"between {d1.day} and {d2.day} {d2:%b}"
    return f"between {d1.day} {d1:%b} and {d2.day} {d2:%b}"


def explain(kind: str, cls: str, size_name: str, zone: str | None, span: str,
            equipment: str | None = None) -> str:
    """The event in one sentence; ``equipment``: the air-defence type, named instead of the class."""
    subject = (_EQUIPMENT_NOUNS.get(equipment or "")
               or " ".join(w for w in (size_name, _NOUNS.get(cls, cls)) if w))
    subject = subject[0].upper() + subject[1:]
    where = f" on the {zone.replace('_', ' ')}" if zone else ""
    return f"{subject}{where} {_VERBS[kind]} {span}."


def _article(name: str) -> str:
    """"a" or "an" for an equipment name as it is read aloud: an S-400, a 91N6E, a Pantsir."""
    spelled = len(name) > 1 and (name[1] == "-" or name[1].isupper())  # an initialism: "ess-400"
    vowel_sound = name[:1] in ("AEFHILMNORSX" if spelled else "AEIOU")
    return "an" if vowel_sound else "a"


def _shadow_note(kind: str, areas: Any, cfg: PostureConfig) -> str:
    """The sun-geometry evidence of a launcher's state change in words, when it speaks clearly:
    the shadow only its raised parts can cast went away (packed) or came (deployed)."""
    if not areas or None in areas:
        return ""
    before_m2, after_m2 = areas
    pc = cfg.paired_states
    if kind == "packed" and pc.shadow_backs(after_m2, before_m2):
        return f"the shadow of its raised parts ({before_m2:.0f} m\u00b2 before) is gone"
    if kind == "deployed" and pc.shadow_backs(before_m2, after_m2):
        return f"its raised parts now cast a shadow ({after_m2:.0f} m\u00b2)"
    return ""


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


def _confidence(score: float, evidence: float | None, cfg: PostureConfig) -> float:
    if evidence is None or math.isnan(evidence):
        return score
    return score * min(1.0, 0.4 + 0.6 * evidence / cfg.evidence.full_confidence_fraction)


def object_events(
    before: Any,
    after: Any,
    cfg: PostureConfig,
    *,
    evidence: Evidence | None = None,
    zones: ZoneIndex | None = None,
    dates: tuple[datetime | None, datetime | None] = (None, None),
    to_lonlat: Callable[[float, float], tuple[float, float]] | None = None,
    faint: tuple[Any, Any] | None = None,
    similarity: Evidence | None = None,
    presence_similarity: Evidence | None = None,
    state_similarity: Evidence | None = None,
    state_reader: StateReader | None = None,
    tall_shadow: ShadowReader | None = None,
    type_reader: TypeReader | None = None,
    lean_per_metre: tuple[float, float] | None = None,
) -> list[ObjectEvent]:
    """Events between two dates' detections (GeoDataFrames in the same map CRS). ``faint``:
    each date's detections below the operating threshold (``Detector.run_with_faint``); an
    object with one of them (or any detection that could be it, see :func:`_unconfirmed`) at
    its place on the other date is still there, and yields no event. ``similarity``: the
    before/after NCC inside each polygon (``detect.change.persistence.box_similarity``); an
    object whose box still looks the same on the other date has not left or arrived.
    ``presence_similarity``: the same figure for departures and arrivals when they search
    further than the states do (the lean and shadow lines of tall things); default
    ``similarity``. ``state_similarity``: the figure the state changes of
    ``cfg.paired_states`` are gated on (the lean line of an erect launcher's canisters, or of
    a roof's plant read as a launcher); default ``similarity``.
    ``state_reader``: reads states at given boxes on both dates; with it the classes of
    ``cfg.paired_states`` have their state changes read at one box on both dates.
    ``tall_shadow``: with it a launcher is not reported packed on a date where it still casts
    the shadow of something taller than a packed element (``paired_states.packed_shadow_m2``).
    ``type_reader``: names the air-defence type of each launcher track, which the event carries
    (``equipment``) and whose ``paired_states.type_gates`` it is gated with.
    ``lean_per_metre``: how far (east, north, metres) the image of a point 1 m up moves from the
    before to the after view (``detect.change.persistence.geometry_lines``); with
    ``paired_states.lone_elevated_m`` a launcher seen on one date only whose other date has a
    sighting up that line (something on a roof) has no state compared."""
    zones = zones or ZoneIndex()
    a, b = _objects(before, "b"), _objects(after, "a")
    pairs, lost, new = match_objects(a, b, cfg)
    paired_cls = set(cfg.paired_states.classes) if state_reader is not None else set()
    all_lost, all_new = lost, new
    faint_a, faint_b = faint if faint is not None else (None, None)
    everything_a, everything_b = a + _objects(faint_a, "fb"), b + _objects(faint_b, "fa")
    if cfg.presence_check:
        lost = _unconfirmed(a, lost, everything_b, cfg)
        new = _unconfirmed(b, new, everything_a, cfg)
    # unmatched objects the presence check kept from departing or arriving
    kept_a = sorted(set(all_lost) - set(lost))
    kept_b = sorted(set(all_new) - set(new))
    span = date_span(*dates)
    ev_a = evidence([o.geometry for o in a]) if evidence and a else np.full(len(a), np.nan)
    ev_b = evidence([o.geometry for o in b]) if evidence and b else np.full(len(b), np.nan)
    events: list[ObjectEvent] = []
    refs: list[_Obj] = []  # each event's object, for one event per object

    def add(kind: str, ref: _Obj, ev: float | None, conf: float, before_id: str | None,
            after_id: str | None, extra: dict[str, Any]) -> None:
        if conf < cfg.min_confidence_for(ref.cls):
            return
        zone = zones.name_at(ref.x, ref.y)
        outside = zone is None and bool(zones.zones)
        if outside and cfg.outside_zones_min_confidence is not None \
                and conf < cfg.outside_zones_min_confidence:
            return
        size = cfg.size_name(ref.cls, ref.length)
        lon, lat = to_lonlat(ref.x, ref.y) if to_lonlat else (None, None)
        surely = (extra.get("equipment_probability") or 0.0) >= cfg.paired_states.type_min_probability
        text = explain(kind, ref.cls, size, zone, span, extra.get("equipment") if surely else None)
        notes = [_shadow_note(kind, extra.get("tall_shadow_m2"), cfg)]
        if extra.get("in_zone") is False:  # rare and worth a look: a launcher off the mapped site
            notes.append("it stands outside the site's air-defence zones")
        if extra.get("faint"):
            notes.append("the detector saw it only faintly on both dates")
        if extra.get("zone_read"):
            notes.append(f"read as a {ref.cls} where the detector reported none on either date")
        if extra.get("equipment"):
            name, p = extra["equipment"], extra["equipment_probability"]
            notes.append(f"named from its shape ({p:.2f})" if surely
                         else f"its shape reads most like {_article(name)} {name} ({p:.2f})")
        note = "; ".join(n for n in notes if n)
        if note:
            text = f"{text[:-1]}; {note}."
        refs.append(ref)
        events.append(ObjectEvent(kind, ref.cls, before_id, after_id, ref.x, ref.y, lon, lat, zone, conf,
                                  text,
                                  None if ev is None or math.isnan(ev) else float(ev), size, extra))

    candidates = []  # the matched pairs' state events, before the cross-read check
    for i, j in pairs:
        oa, ob = a[i], b[j]
        cls = oa.cls
        if paired_cls & {oa.cls, ob.cls}:
            continue  # read at one box on both dates, below
        if oa.cls != ob.cls or cls not in STATES or oa.state == ob.state:
            continue  # no state is compared across a class confusion
        state = STATES[cls][0]
        kinds = _STATE_EVENTS[(cls, state)]
        kind = kinds[0] if ob.state == state else kinds[1]
        if (oa.state_score is not None and ob.state_score is not None
                and abs(ob.state_score - oa.state_score) < cfg.min_shift_for(state)):
            continue
        ev = float(np.nanmax([ev_a[i], ev_b[j]])) if evidence else None
        if ev is not None and not math.isnan(ev) and ev < cfg.evidence.min_fraction_for(state):
            continue
        # Two sightings of one object at one place (their noisy-or: that it is there) times how
        # far its state moved, as for the paired launchers below; not the surer of the two state
        # reads, which rates a 0.63 -> 0.25 wobble like a 0.05 -> 0.99 change. Detections
        # without state probabilities (another tool's file) switched state outright.
        seen = 1.0 - (1.0 - oa.score) * (1.0 - ob.score)
        moved = (abs(ob.state_score - oa.state_score)
                 if oa.state_score is not None and ob.state_score is not None else 1.0)
        conf = _confidence(seen * moved, ev, cfg)
        sim = _nanmean(list(_figures(similarity, [oa.geometry, ob.geometry])))
        if cfg.too_alike_for(state, sim):
            continue
        candidates.append(((kind, oa, ev, conf, oa.oid, ob.oid,
                            {"state_before": oa.state, "state_after": ob.state, **_sim(sim)}), ob))
    for args, _after in _cross_read_holds(candidates, state_reader, cfg):
        add(*args)
    if paired_cls:
        # Tracks: matched pairs, and objects without a match that the presence check kept
        # from departing or arriving (something of their size is there on the other date).
        tracks = [(i if a[i].cls in paired_cls else None, j if b[j].cls in paired_cls else None)
                  for i, j in pairs if paired_cls & {a[i].cls, b[j].cls}]
        tracks += [(i, None) for i in kept_a if a[i].cls in paired_cls]
        tracks += [(None, j) for j in kept_b if b[j].cls in paired_cls]
        merged = _merge_tracks(a, b, tracks, cfg)
        up = cfg.paired_states.lone_elevated_m if lean_per_metre is not None else None
        if up:
            # still one date only after merging (an erect launcher's own two boxes, each lone,
            # lie up the lean line from each other too: merged, each date reads its own box)
            everything = (everything_a, everything_b)
            merged = [t for t in merged
                      if not _seen_up_the_lean_line(t, a, b, everything, lean_per_metre, up)]
        for t in _paired_state_events(a, b, merged, ev_a, ev_b, state_reader,
                                      state_similarity or similarity, cfg, tall_shadow, zones,
                                      type_reader=type_reader):
            add(*t)
        if cfg.paired_states.faint_tracks and faint is not None and tall_shadow is not None:
            fa, fb, faint_pairs = _faint_tracks(a, b, _objects(faint_a, "fb"), _objects(faint_b, "fa"),
                                                paired_cls, cfg, zones)
            if faint_pairs:
                for t in _paired_state_events(fa, fb, [([i], [j]) for i, j in faint_pairs],
                                              _figures(evidence, [o.geometry for o in fa]),
                                              _figures(evidence, [o.geometry for o in fb]),
                                              state_reader, state_similarity or similarity, cfg,
                                              tall_shadow, zones, faint=True, type_reader=type_reader):
                    add(*t)
    if state_reader is not None and cfg.reread_classes:
        for t in _reread_events(a, b, pairs, kept_a, kept_b, (everything_a, everything_b),
                                ev_a, ev_b, state_reader, similarity, cfg):
            add(*t)
    if state_reader is not None and cfg.zone_rereads:
        for t in _zone_reread_events(a, b, (everything_a, everything_b), evidence, state_reader,
                                     similarity, zones, cfg):
            add(*t)
    presence = presence_similarity or similarity
    for kind, objs, ids, evs, same_date in (("departed", a, lost, ev_a, everything_a),
                                            ("arrived", b, new, ev_b, everything_b)):
        sims = _presence_figures(presence, [objs[i] for i in ids], same_date, cfg)
        for k, i in enumerate(ids):
            o = objs[i]
            ev = None if math.isnan(evs[i]) else float(evs[i])
            if _still_there(ev, sims[k], cfg):
                continue
            conf = _confidence(o.score, ev, cfg)
            if kind == "departed":
                add(kind, o, ev, conf, o.oid, None, {"state_before": o.state, **_sim(sims[k])})
            else:
                add(kind, o, ev, conf, None, o.oid, {"state_after": o.state, **_sim(sims[k])})
    return _one_per_object(events, refs, cfg)


Track = tuple[list[int], list[int]]


def _presence_figures(presence: Evidence | None, objs: list[_Obj], same_date: list[_Obj],
                      cfg: PostureConfig) -> np.ndarray:
    """Each object's before/after NCC for a departure or arrival: at its own box, or with
    ``evidence.similarity_at_peaks`` the least over its box and its other sightings of the
    same date (second peaks of its class group within the matching gate, faint ones
    included). Why: a Su-25 in its revetment was reported at a box 5-8 m off, on the wall
    that still stands (NCC 0.51-0.64), while a faint peak 1-3 m from the jet saw it gone."""
    if not cfg.evidence.similarity_at_peaks:
        return _figures(presence, [o.geometry for o in objs])
    groups = [[o] + [p for p in same_date if p is not o and _second_peak(p, [o], cfg)] for o in objs]
    flat = _figures(presence, [p.geometry for g in groups for p in g])
    out, k = np.full(len(objs), np.nan), 0
    for n, g in enumerate(groups):
        part = flat[k:k + len(g)]
        k += len(g)
        known = part[~np.isnan(part)]
        out[n] = known.min() if known.size else np.nan
    return out


def _merge_tracks(a: list[_Obj], b: list[_Obj], tracks: list[tuple[int | None, int | None]],
                  cfg: PostureConfig) -> list[Track]:
    """Tracks whose boxes (of either date) lie within the matching gate of each other are one
    object: a launcher the assignment left as a lone box on each date (its two readings then
    "deployed" and "packed" 6 m apart), or read as two peaks on one date next to its matched
    pair, would otherwise count twice. Air-defence elements stand tens of metres apart (at least
    49 m in the synthetic Khmeimim scenes), well beyond the 8 m gate of a launcher."""
    members = [[o for o in ((a[i] if i is not None else None), (b[j] if j is not None else None))
                if o is not None] for i, j in tracks]
    boxes = [[(o.x, o.y, o.length) for o in m] for m in members]
    parent = list(range(len(tracks)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for s in range(len(tracks)):
        for t in range(s + 1, len(tracks)):
            if any(math.hypot(x1 - x2, y1 - y2) <= _gate(l1, l2, cfg)
                   for x1, y1, l1 in boxes[s] for x2, y2, l2 in boxes[t]):
                parent[root(t)] = root(s)
    groups: dict[int, Track] = {}
    for k, (i, j) in enumerate(tracks):
        g = groups.setdefault(root(k), ([], []))
        if i is not None and i not in g[0]:
            g[0].append(i)
        if j is not None and j not in g[1]:
            g[1].append(j)
    return list(groups.values())


def _unreported(objs: list[_Obj], reported: list[_Obj], kinds: list[str], zones: ZoneIndex,
                cfg: PostureConfig) -> list[_Obj]:
    """``objs`` in a zone of ``kinds``, but those where a ``reported`` one of their class group
    stands (the reported objects' own tracks read those)."""
    return [o for o in objs if zones.within_kinds(o.x, o.y, kinds) is True
            and not _second_peak(o, reported, cfg)]


def _faint_tracks(a: list[_Obj], b: list[_Obj], faint_a: list[_Obj], faint_b: list[_Obj],
                  classes: set[str], cfg: PostureConfig, zones: ZoneIndex
                  ) -> tuple[list[_Obj], list[_Obj], list[tuple[int, int]]]:
    """(faint before, faint after, matched pairs): the faint sightings of ``classes`` on each
    date inside a zone of ``paired_states.zone_kinds``, away from every reported ground object
    of either date (those are tracked already, or are trucks), matched across the dates. Why:
    a 91N6E acquisition radar, its array a thin plate on a semi-trailer, scores 0.22-0.30 as a
    launcher on both dates (withdrawal 0-15: 10 of 16), below the operating score, so it had no
    track and its packing no event; its 7.4 m mast's shadow still says when it was lowered."""
    reported = [o for o in a + b if o.cls in GROUND_CLASSES]
    fa, fb = (_unreported([o for o in objs if o.cls in classes], reported, cfg.paired_states.zone_kinds,
                          zones, cfg) for objs in (faint_a, faint_b))
    pairs, _, _ = match_objects(fa, fb, cfg)
    return fa, fb, pairs


def _track_shadows(objs: list[list[_Obj]], tall_shadow: ShadowReader) -> np.ndarray:
    """(N, 2) tall-shadow area of each track on each date: the largest over the track's boxes,
    each read on its own. Why not the hull of the boxes: two dates' boxes of one launcher are
    1-4 m apart, and the hull, swept towards the sun up to a packed element's height, covered
    the ground where a raised radar array's shadow falls (a 92N6E: 5.5 m^2 at its own box,
    0.5 at the hull of its two boxes)."""
    flat = [o.geometry for m in objs for o in m]
    each = np.asarray(tall_shadow(flat), np.float64).reshape(-1, 2)
    out = np.full((len(objs), 2), np.nan)
    k = 0
    for n, m in enumerate(objs):
        part = each[k:k + len(m)]
        k += len(m)
        for d in range(2):
            known = part[:, d][~np.isnan(part[:, d])]
            if known.size:
                out[n, d] = known.max()
    return out


def _paired_state_events(a: list[_Obj], b: list[_Obj], tracks: list[Track],
                         ev_a: np.ndarray, ev_b: np.ndarray, reader: StateReader,
                         similarity: Evidence | None, cfg: PostureConfig,
                         tall_shadow: ShadowReader | None = None,
                         zones: ZoneIndex | None = None, faint: bool = False,
                         type_reader: TypeReader | None = None) -> list[tuple[Any, ...]]:
    """Arguments of ``add`` for the state events of ``tracks`` ((before indices, after
    indices)): every box of a track is read on both dates, and the track's state on each date
    is the mean over its boxes. The tall shadow is read at each of a track's boxes (the largest
    counts): it vetoes a packing the shadows contradict, and one that went away backs one; the
    gates themselves are :func:`paired_state_gate` (``faint``: tracks of faint sightings), with
    the ``type_gates`` of the type ``type_reader`` names at the track's boxes."""
    pc = cfg.paired_states
    groups = [[a[i] for i in ii] + [b[j] for j in jj] for ii, jj in tracks]
    readings = _mean_readings(reader, groups, [[o.cls for o in g] for g in groups])
    shadows = tall_shadow is not None and pc.packed_shadow_m2 is not None
    floor = pc.min_shift_floor(shadows=shadows)
    candidates = [(ii, jj, *read) for (ii, jj), read in zip(tracks, readings, strict=True)
                  if read is not None and abs(read[1] - read[0]) >= floor]
    if not candidates:
        return []
    objs = [[a[i] for i in ii] + [b[j] for j in jj] for ii, jj, _, _ in candidates]
    areas = _track_shadows(objs, tall_shadow) if shadows else np.full((len(candidates), 2), np.nan)
    usual = pc.min_shift_floor(shadows=shadows, decided=False)
    if floor < usual:
        # Below every other gate's floor only a shadow that decides carries a track: drop the
        # others before the type classifier and the box figures are read for them.
        keep = []
        for k, (ii, jj, pa_, pb_) in enumerate(candidates):
            ev = _nanmax(*[ev_a[i] for i in ii], *[ev_b[j] for j in jj])
            packed_m2, other_m2 = _packed_first(pb_ - pa_, *areas[k])
            if abs(pb_ - pa_) >= usual or pc.shadow_decides(packed_m2, other_m2, ev, any_type=True):
                keep.append(k)
        candidates, objs, areas = [candidates[k] for k in keep], [objs[k] for k in keep], areas[keep]
        if not candidates:
            return []
    flat = _figures(similarity, [o.geometry for m in objs for o in m])
    bounds = np.cumsum([0] + [len(m) for m in objs])
    types = _track_types(type_reader, objs)
    out = []
    for k, ((ii, jj, pa_, pb_), mine_objs) in enumerate(zip(candidates, objs, strict=True)):
        ev = _nanmax(*[ev_a[i] for i in ii], *[ev_b[j] for j in jj])
        sim = _nanmean(list(flat[bounds[k]:bounds[k + 1]]))
        before_m2, after_m2 = (float(v) for v in areas[k])
        ref = mine_objs[0]
        in_zone = zones.within_kinds(ref.x, ref.y, pc.zone_kinds) if zones and pc.zone_kinds else None
        equipment, p_type = types[k]
        stopped, confidence, _ = paired_state_gate(pa_, pb_, ev, sim, (before_m2, after_m2),
                                                   _typed(cfg, equipment, p_type), in_zone=in_zone,
                                                   faint=faint, equipment=equipment)
        if stopped:
            continue
        shift = pb_ - pa_
        state = STATES[ref.cls][0]
        kinds = _STATE_EVENTS[(ref.cls, state)]
        kind = kinds[0] if shift > 0 else kinds[1]
        extra: dict[str, Any] = {"state_before": state if pa_ >= 0.5 else None,
                                 "state_after": state if pb_ >= 0.5 else None,
                                 "state_score_before": round(pa_, 3), "state_score_after": round(pb_, 3),
                                 **_sim(sim)}
        if shadows:
            extra["tall_shadow_m2"] = [None if math.isnan(v) else round(float(v), 1)
                                       for v in (before_m2, after_m2)]
        if in_zone is not None:
            extra["in_zone"] = in_zone
        if faint:
            extra["faint"] = True
        if equipment is not None:
            extra["equipment"], extra["equipment_probability"] = equipment, round(p_type, 3)
        out.append((kind, ref, None if math.isnan(ev) else ev, confidence,
                    ",".join(a[i].oid for i in ii) or None, ",".join(b[j].oid for j in jj) or None, extra))
    return out


def _track_types(reader: TypeReader | None, objs: list[list[_Obj]]) -> list[tuple[str | None, float]]:
    """(type name, probability) of each track: the type probabilities read at its boxes (both
    dates each), averaged; (None, nan) without a reader or where none was read."""
    from imagery.taxonomy import AIR_DEFENCE_TYPES

    none = (None, math.nan)
    if reader is None or not objs:
        return [none] * len(objs)
    boxes = np.array([[o.x, o.y, o.length, o.width, o.heading] for m in objs for o in m], np.float64)
    probs = np.asarray(reader(boxes), np.float64).reshape(len(boxes), -1)
    bounds = np.cumsum([0] + [len(m) for m in objs])
    out: list[tuple[str | None, float]] = []
    for k in range(len(objs)):
        mine = probs[bounds[k]:bounds[k + 1]]
        mine = mine[~np.isnan(mine).any(axis=1)]
        if not len(mine):
            out.append(none)
            continue
        mean = mine.mean(0)
        out.append((AIR_DEFENCE_TYPES[int(mean.argmax())], float(mean.max())))
    return out


def _typed(cfg: PostureConfig, equipment: str | None, probability: float) -> PostureConfig:
    """``cfg`` with the paired-state gates of the named air-defence type (``type_gates``)."""
    pc = cfg.paired_states
    typed = pc.for_type(equipment, probability) if equipment is not None else pc
    return cfg if typed is pc else cfg.model_copy(update={"paired_states": typed})


def _seen_up_the_lean_line(track: Track, a: list[_Obj], b: list[_Obj],
                           everything: tuple[list[_Obj], list[_Obj]], step: tuple[float, float],
                           heights_m: tuple[float, float]) -> bool:
    """Whether a track of one date only has a sighting on the other date up the lean line from
    one of its boxes (:func:`_up_the_lean_line`; ``step``: before -> after, per metre up)."""
    ii, jj = track
    if not jj:
        return any(_up_the_lean_line(a[i], everything[1], step, heights_m) for i in ii)
    if not ii:
        return any(_up_the_lean_line(b[j], everything[0], (-step[0], -step[1]), heights_m) for j in jj)
    return False


def _up_the_lean_line(o: _Obj, others: list[_Obj], step: tuple[float, float],
                      heights_m: tuple[float, float], *, off_m: float = 2.0, min_m: float = 3.0) -> bool:
    """Whether one of ``others`` (the other date's sightings) lies where ``o``'s image falls on
    that date if ``o`` stands ``heights_m`` up: ``step`` is how far (east, north, metres) the
    image of a point 1 m up moves from ``o``'s date to the other; within ``off_m`` of that
    line and at least ``min_m`` from ``o`` (nearer, it is ``o`` on the ground)."""
    n = math.hypot(*step)
    if n < 1e-6:
        return False
    ux, uy = step[0] / n, step[1] / n
    for p in others:
        dx, dy = p.x - o.x, p.y - o.y
        along = dx * ux + dy * uy
        if (abs(dy * ux - dx * uy) < off_m and along >= min_m
                and heights_m[0] <= along / n <= heights_m[1]):
            return True
    return False


def _packed_first(shift: float, before_m2: float, after_m2: float) -> tuple[float, float]:
    """The tall shadow on the date a launcher whose reading moved by ``shift`` (after - before,
    towards packed) is said to be packed on, and on the other date."""
    return (after_m2, before_m2) if shift > 0 else (before_m2, after_m2)


def paired_state_gate(before: float, after: float, changed: float, similarity: float,
                      shadow_m2: tuple[float, float], cfg: PostureConfig, *,
                      in_zone: bool | None = None, faint: bool = False,
                      equipment: str | None = None) -> tuple[str | None, float, bool]:
    """(the gate that stops it or None, confidence, backed by a tall shadow) for a launcher whose
    state read ``before`` -> ``after`` at one box. ``changed``: the largest changed fraction of
    its boxes; ``similarity``: their mean before/after NCC; ``shadow_m2``: the tall-shadow area
    on each date. NaN: unknown (no veto). ``in_zone``: whether it stands in a zone of
    ``paired_states.zone_kinds`` (None: the site has no such zone, no zone rule). ``faint``: a
    track of sightings below the detector's operating score, which only a zone of the site and
    a tall shadow that came or went make a launcher's state change. ``equipment``: the
    air-defence type the classifier reads likeliest (``paired_states.deployed_shadow_m2``). Apart from
    the track bookkeeping so that benchmarks/launcher_gates.py applies exactly these gates to
    figures read once with all of them open."""
    pc = cfg.paired_states
    shift = after - before
    before_m2, after_m2 = shadow_m2
    packed_m2, other_m2 = _packed_first(shift, before_m2, after_m2)
    shadows = pc.packed_shadow_m2 is not None
    # Packed on a date that still shows a tall part's shadow: the classifier misread the view
    # (an erect launcher seen along its axis looks like a packed one).
    if shadows and packed_m2 > pc.packed_shadow_m2:
        return "shadow", 0.0, False
    # Deployed without the shadow its raised parts cast: an unchanged element of another type
    # (a 92N6E read likeliest as an S-400 TEL) whose reading wandered.
    needed = pc.deployed_shadow_m2.get(equipment or "") if shadows else None
    if needed is not None and shift < 0 and other_m2 < needed:
        return "deployed_shadow", 0.0, False
    outside = in_zone is False
    if (outside and abs(shift) < pc.outside_zone_min_shift) or (faint and in_zone is not True):
        return "zone", 0.0, False
    # A tall shadow that went away (or came): evidence of the state independent of the
    # classifier and of the box's look, so a weaker reading and a less different box do.
    # Not outside the launchers' zones: a tree's shadow there grows and shrinks with the sun.
    backed = shadows and not outside and pc.shadow_backs(packed_m2, other_m2)
    if faint and pc.faint_needs_shadow and not backed:
        return "faint", 0.0, False
    if not backed and equipment in pc.unreadable_types:
        return "unreadable", 0.0, False
    min_shift, min_fraction = ((pc.backed_min_shift, pc.backed_min_fraction) if backed
                               else (pc.min_shift, pc.min_fraction))
    # The sun alone decides: the reading need only agree in direction (it does, or the date
    # read packed would hold the long shadow and the veto above would have stopped it).
    if backed and not faint and pc.shadow_decides(packed_m2, other_m2, changed):
        min_shift = 0.0
    if abs(shift) < min_shift:
        return "shift", 0.0, backed
    if not math.isnan(changed) and changed < min_fraction:
        return "fraction", 0.0, backed
    if not math.isnan(similarity) and similarity > pc.similarity_limit(shift, backed=backed, changed=changed):
        return "similarity", 0.0, backed
    confidence = _confidence(abs(shift), changed, cfg)
    if backed:
        confidence = 1.0 - (1.0 - confidence) * (1.0 - pc.shadow_confidence)
    return None, confidence, backed


@dataclass
class _RereadTrack:
    """Sightings read again as ``cls`` on both dates: the before and after one (None where a
    date has none), the best other sighting that kept a lone one, and the box evidence."""

    cls: str
    members: list[_Obj]
    before: _Obj | None
    after: _Obj | None
    support: float
    evidence: float


def _nanmax(*values: float) -> float:
    known = [float(v) for v in values if not math.isnan(v)]
    return max(known) if known else math.nan


def _reread_events(a: list[_Obj], b: list[_Obj], pairs: list[tuple[int, int]], kept_a: list[int],
                   kept_b: list[int], everything: tuple[list[_Obj], list[_Obj]], ev_a: np.ndarray,
                   ev_b: np.ndarray, reader: StateReader, similarity: Evidence | None,
                   cfg: PostureConfig) -> list[tuple[Any, ...]]:
    """State events of ``cfg.reread_classes`` objects the per-date states cannot compare: a
    match across a class confusion (a Ka-52 called a fighter on one date: a helicopter with its
    rotor blades off looks like a jet) and an object seen on one date only that the presence
    check kept (something is still there, but too faint or too changed to be detected as it).
    Each box of such a track is read as that class on both dates; the gates are those of a
    matched pair's state event, and so is the confidence, a lone object's second sighting being
    the best detection that kept it (faint ones included). A lone object next to a matched one
    of its class group on its own date is a second peak on that one: it is skipped."""
    matched_a = [a[i] for i, _ in pairs]
    matched_b = [b[j] for _, j in pairs]
    tracks: list[_RereadTrack] = []
    for cls in cfg.reread_classes:
        tracks += [_RereadTrack(cls, [a[i], b[j]], a[i], b[j], 0.0, _nanmax(ev_a[i], ev_b[j]))
                   for i, j in pairs if a[i].cls != b[j].cls and cls in (a[i].cls, b[j].cls)]
        for lone, own, other, on_a in ((kept_a, a, everything[1], True), (kept_b, b, everything[0], False)):
            same_date = matched_a if on_a else matched_b
            for k in lone:
                o = own[k]
                if o.cls != cls or _second_peak(o, same_date, cfg):
                    continue
                support = _supporters(o, other, cfg)
                best = max((p.score for p, s_ in zip(other, support, strict=True) if s_), default=0.0)
                tracks.append(_RereadTrack(cls, [o], o if on_a else None, None if on_a else o, best,
                                           float((ev_a if on_a else ev_b)[k])))
    return _reread_track_events(tracks, reader, similarity, cfg)


def _zone_reread_events(a: list[_Obj], b: list[_Obj], everything: tuple[list[_Obj], list[_Obj]],
                        evidence: Evidence | None, reader: StateReader, similarity: Evidence | None,
                        zones: ZoneIndex, cfg: PostureConfig) -> list[tuple[Any, ...]]:
    """State events of ``cfg.zone_rereads`` classes at places in their zones where no date
    reports one: a sighting on each date (reported as another class, or faint), matched as if
    both were of that class, is read as it on both dates with the gates of :func:`_reread_events`.
    Why: the Ka-52 on Khmeimim's helicopter pad is scored 0.20-0.27 (faint, as a fighter or a
    helicopter) on one or both dates of most withdrawal pairs, so its dismantling had no track;
    it is still seen on both dates, and the rotor state reads plainly at its boxes. With
    ``zone_reread_min_similarity`` its two boxes must also still look alike: a helicopter that
    landed where something faint stood reads `reassembled` there too, but its box changed."""
    out: list[tuple[Any, ...]] = []
    for cls, kinds in cfg.zone_rereads.items():
        reported = [o for o in a + b if o.cls == cls]
        fa, fb = (_unreported([replace(o, cls=cls) for o in objs], reported, kinds, zones, cfg)
                  for objs in everything)
        pairs, _, _ = match_objects(fa, fb, cfg)
        if not pairs:
            continue
        figures = _figures(evidence, [o.geometry for i, j in pairs for o in (fa[i], fb[j])]).reshape(-1, 2)
        tracks = [_RereadTrack(cls, [fa[i], fb[j]], fa[i], fb[j], 0.0, _nanmax(*f))
                  for (i, j), f in zip(pairs, figures, strict=True)]
        out += _reread_track_events(tracks, reader, similarity, cfg, zone_read=True)
    return out


def _reread_track_events(tracks: list[_RereadTrack], reader: StateReader, similarity: Evidence | None,
                         cfg: PostureConfig, *, zone_read: bool = False) -> list[tuple[Any, ...]]:
    """``add``'s arguments for the tracks whose state, read as their class at each member's box
    on both dates (the mean per date), moved by the state's ``min_shift`` with enough of the box
    changed; confidence as for a matched pair (sightings' noisy-or times the move). The gates
    that need no reading (the changed fraction, the boxes' similarity) go first: a helipad's
    sightings of every class are many, and each read costs the state network two crops."""
    floor = cfg.zone_reread_min_similarity if zone_read else None
    bounds = np.cumsum([0] + [len(t.members) for t in tracks])
    flat = _figures(similarity, [o.geometry for t in tracks for o in t.members])
    kept = []
    for k, t in enumerate(tracks):
        state = STATES[t.cls][0]
        if not math.isnan(t.evidence) and t.evidence < cfg.evidence.min_fraction_for(state):
            continue
        sim = _nanmean(list(flat[bounds[k]:bounds[k + 1]]))
        if floor is not None and not sim >= floor:
            continue  # not the same thing on both dates (NaN: unknown, not reported)
        if cfg.too_alike_for(state, sim):
            continue
        kept.append((t, state, sim))
    readings = _mean_readings(reader, [t.members for t, _, _ in kept],
                              [[t.cls] * len(t.members) for t, _, _ in kept])
    out = []
    for (t, state, sim), read in zip(kept, readings, strict=True):
        if read is None:
            continue
        pa_, pb_ = read
        if abs(pb_ - pa_) < cfg.min_shift_for(state):
            continue
        ev = t.evidence
        seen = 1.0 - float(np.prod([1.0 - o.score for o in t.members])) * (1.0 - t.support)
        kinds = _STATE_EVENTS[(t.cls, state)]
        ref = next(o for o in t.members if o.cls == t.cls)
        extra = {"state_before": state if pa_ >= 0.5 else None, "state_after": state if pb_ >= 0.5 else None,
                 "state_score_before": round(pa_, 3), "state_score_after": round(pb_, 3),
                 "read_as": t.cls, **_sim(sim)}
        if zone_read:
            extra["zone_read"] = True
        out.append((kinds[0] if pb_ > pa_ else kinds[1], ref, None if math.isnan(ev) else ev,
                    _confidence(seen * abs(pb_ - pa_), ev, cfg),
                    t.before.oid if t.before is not None else None,
                    t.after.oid if t.after is not None else None, extra))
    return out


def _cross_read_holds(candidates: list[tuple[tuple[Any, ...], _Obj]], reader: StateReader | None,
                      cfg: PostureConfig) -> list[tuple[tuple[Any, ...], _Obj]]:
    """The matched pairs' state events (``add``'s arguments, whose second is the before object,
    and the after object) that still
    show when each date is also read with its box moved to the other sighting's centre, for
    ``cfg.cross_read_classes``; the others pass as they are. Why: each date's state is read at
    that date's own box, and a box a few metres off a helicopter is read `dismantled` where the
    true one reads intact (steady 42, 2026-12-07: 0.81 at the detector's box 2-3 m off the
    Ka-52, 0.09 at its true box). Read at both centres, such a box misleads both dates alike
    and the change is gone, while a real change shows at either. Each date keeps its own box's
    heading and size: the detector turns a dismantled Ka-52's box by 80-160 degrees, and the
    dismantled one read along the intact one's axis reads intact (withdrawal 7 and 14 at grid
    phase 9: 0.50 and 0.62 with the other date's whole box, 1.00 with its own turned box)."""
    checked = [k for k, (args, _) in enumerate(candidates) if args[1].cls in cfg.cross_read_classes]
    if reader is None or not checked:
        return candidates
    boxes, classes = [], []
    for k in checked:
        (_, oa, *_), ob = candidates[k]
        for own, other in ((oa, ob), (ob, oa)):
            boxes += [[own.x, own.y, own.length, own.width, own.heading],
                      [other.x, other.y, own.length, own.width, own.heading]]
        classes += [oa.cls] * 4
    probs = np.asarray(reader(np.array(boxes, np.float64), classes), np.float64).reshape(-1, 4, 2)
    dropped = set()
    for k, p in zip(checked, probs, strict=True):
        pa_, pb_ = float(np.nanmean(p[:2, 0])), float(np.nanmean(p[2:, 1]))
        if math.isnan(pa_) or math.isnan(pb_):
            continue  # off the image on a date: the per-date states decide
        (_, oa, *_, extra), _ = candidates[k]
        extra["state_score_both_centres"] = [round(pa_, 3), round(pb_, 3)]
        state = STATES[oa.cls][0]
        went_on = extra["state_after"] == state
        if (pb_ - pa_ if went_on else pa_ - pb_) < cfg.min_shift_for(state):
            dropped.add(k)
    return [c for k, c in enumerate(candidates) if k not in dropped]


def _mean_readings(reader: StateReader, groups: list[list[_Obj]], classes: list[list[str]]
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


def _one_per_object(events: list[ObjectEvent], refs: list[_Obj], cfg: PostureConfig,
                    overlap: float = 0.5) -> list[ObjectEvent]:
    """The events, surest first, one per object and kind. The detector keeps every peak, so one
    object can be two detections: a fighter read as two peaks 5 m apart (withdrawal seed 4:
    boxes of 18 and 21 m, scores 0.40 and 0.31) left twice, and a helicopter seen alone on each
    date, 6.5 m apart, was re-read and "dismantled" at both boxes. An event is dropped when a
    surer one of its kind and class group sits on the same object: a box covered by more than
    ``overlap`` of its area (trucks and launchers parked side by side do not overlap), or, for
    aircraft and helicopters, a centre within the matching gate (nothing that size parks closer)."""
    kept: list[tuple[str, _Obj]] = []
    out: list[ObjectEvent] = []
    for k in sorted(range(len(events)), key=lambda k: -events[k].confidence):
        e, o = events[k], refs[k]
        if any(kind == e.kind and _compatible(p.cls, o.cls) and _same_object(o, p, cfg, overlap)
               for kind, p in kept):
            continue
        kept.append((e.kind, o))
        out.append(e)
    return out


def _same_object(o: _Obj, p: _Obj, cfg: PostureConfig, overlap: float) -> bool:
    if o.cls in AIRCRAFT_CLASSES and p.cls in AIRCRAFT_CLASSES and _second_peak(o, [p], cfg):
        return True
    small = min(o.geometry.area, p.geometry.area)
    return small > 0 and o.geometry.intersection(p.geometry).area > overlap * small


def _second_peak(o: _Obj, same_date: list[_Obj], cfg: PostureConfig) -> bool:
    return any(_compatible(o.cls, p.cls)
               and math.hypot(p.x - o.x, p.y - o.y) <= _gate(o.length, p.length, cfg) for p in same_date)


def _nanmean(values: Sequence[float]) -> float:
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    return sum(v) / len(v) if v else math.nan


def _figures(fn: Evidence | None, polys: list[BaseGeometry]) -> np.ndarray:
    if fn is None or not polys:
        return np.full(len(polys), np.nan)
    return np.asarray(fn(polys), dtype=np.float64)


def _still_there(changed: float | None, similarity: float, cfg: PostureConfig) -> bool:
    """Pixel evidence says the object did not come or go (unknown figures do not veto)."""
    if changed is not None and changed < cfg.evidence.min_fraction_presence:
        return True
    return not math.isnan(similarity) and similarity > cfg.evidence.max_similarity_presence


def _sim(value: float) -> dict[str, float]:
    return {} if math.isnan(value) else {"similarity": round(float(value), 3)}


def split_activity(events: list[ObjectEvent], cfg: PostureConfig
                   ) -> tuple[list[ObjectEvent], list[ObjectEvent]]:
    """(posture events, activity): changes of classes outside ``event_classes`` (vehicles) are
    activity, summarised per zone rather than reported one by one."""
    keep = set(cfg.event_classes)
    return [e for e in events if e.cls in keep], [e for e in events if e.cls not in keep]


def activity_by_zone(activity: list[ObjectEvent]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in activity:
        z = out.setdefault(e.zone or "elsewhere", {})
        z[e.kind] = z.get(e.kind, 0) + 1
    return out
