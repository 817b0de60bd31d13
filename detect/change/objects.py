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

The launchers' paired state reading lives in :mod:`detect.change.launchers`, the
state re-reads of confused or lone sightings in :mod:`detect.change.rereads`, the matching
and the figures they share in :mod:`detect.change.sightings`, the sentences in
:mod:`detect.change.wording`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from detect.change.launchers import faint_tracks, merge_tracks, paired_state_events, seen_up_the_lean_line
from detect.change.posture_config import PostureConfig
from detect.change.rereads import cross_read_holds, reread_events, zone_reread_events
from detect.change.sightings import (
    STATE_EVENTS,
    Evidence,
    ShadowReader,
    Sighting,
    StateReader,
    TypeReader,
    ZoneIndex,
    event_confidence,
    figures_at,
    match_objects,
    nanmean,
    same_group,
    second_peak,
    sightings,
    similarity_field,
    unconfirmed,
)
from detect.change.wording import article, date_span, explain, shadow_note
from imagery.taxonomy import AIRCRAFT_CLASSES, STATES


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
    object with one of them (or any detection that could be it, see :func:`unconfirmed`) at
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
    a, b = sightings(before, "b"), sightings(after, "a")
    pairs, lost, new = match_objects(a, b, cfg)
    paired_cls = set(cfg.paired_states.classes) if state_reader is not None else set()
    all_lost, all_new = lost, new
    faint_a, faint_b = faint if faint is not None else (None, None)
    everything_a, everything_b = a + sightings(faint_a, "fb"), b + sightings(faint_b, "fa")
    if cfg.presence_check:
        lost = unconfirmed(a, lost, everything_b, cfg)
        new = unconfirmed(b, new, everything_a, cfg)
    # unmatched objects the presence check kept from departing or arriving
    kept_a = sorted(set(all_lost) - set(lost))
    kept_b = sorted(set(all_new) - set(new))
    span = date_span(*dates)
    ev_a = evidence([o.geometry for o in a]) if evidence and a else np.full(len(a), np.nan)
    ev_b = evidence([o.geometry for o in b]) if evidence and b else np.full(len(b), np.nan)
    events: list[ObjectEvent] = []
    refs: list[Sighting] = []  # each event's object, for one event per object

    def add(kind: str, ref: Sighting, ev: float | None, conf: float, before_id: str | None,
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
        notes = [shadow_note(kind, extra.get("tall_shadow_m2"), cfg)]
        if extra.get("in_zone") is False:  # rare and worth a look: a launcher off the mapped site
            notes.append("it stands outside the site's air-defence zones")
        if extra.get("faint"):
            notes.append("the detector saw it only faintly on both dates")
        if extra.get("zone_read"):
            notes.append(f"read as a {ref.cls} where the detector reported none on either date")
        if extra.get("equipment"):
            name, p = extra["equipment"], extra["equipment_probability"]
            notes.append(f"named from its shape ({p:.2f})" if surely
                         else f"its shape reads most like {article(name)} {name} ({p:.2f})")
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
        kinds = STATE_EVENTS[(cls, state)]
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
        conf = event_confidence(seen * moved, ev, cfg)
        sim = nanmean(list(figures_at(similarity, [oa.geometry, ob.geometry])))
        if cfg.too_alike_for(state, sim):
            continue
        extra = {"state_before": oa.state, "state_after": ob.state, **similarity_field(sim)}
        candidates.append(((kind, oa, ev, conf, oa.oid, ob.oid, extra), ob))
    for args, _after in cross_read_holds(candidates, state_reader, cfg):
        add(*args)
    if paired_cls:
        # Tracks: matched pairs, and objects without a match that the presence check kept
        # from departing or arriving (something of their size is there on the other date).
        tracks = [(i if a[i].cls in paired_cls else None, j if b[j].cls in paired_cls else None)
                  for i, j in pairs if paired_cls & {a[i].cls, b[j].cls}]
        tracks += [(i, None) for i in kept_a if a[i].cls in paired_cls]
        tracks += [(None, j) for j in kept_b if b[j].cls in paired_cls]
        merged = merge_tracks(a, b, tracks, cfg)
        up = cfg.paired_states.lone_elevated_m if lean_per_metre is not None else None
        if up:
            # still one date only after merging (an erect launcher's own two boxes, each lone,
            # lie up the lean line from each other too: merged, each date reads its own box)
            everything = (everything_a, everything_b)
            merged = [t for t in merged
                      if not seen_up_the_lean_line(t, a, b, everything, lean_per_metre, up)]
        for t in paired_state_events(a, b, merged, ev_a, ev_b, state_reader,
                                     state_similarity or similarity, cfg, tall_shadow, zones,
                                     type_reader=type_reader):
            add(*t)
        if cfg.paired_states.faint_tracks and faint is not None and tall_shadow is not None:
            fa, fb, faint_pairs = faint_tracks(a, b, sightings(faint_a, "fb"), sightings(faint_b, "fa"),
                                               paired_cls, cfg, zones)
            if faint_pairs:
                for t in paired_state_events(fa, fb, [([i], [j]) for i, j in faint_pairs],
                                             figures_at(evidence, [o.geometry for o in fa]),
                                             figures_at(evidence, [o.geometry for o in fb]),
                                             state_reader, state_similarity or similarity, cfg,
                                             tall_shadow, zones, faint=True, type_reader=type_reader):
                    add(*t)
    if state_reader is not None and cfg.reread_classes:
        for t in reread_events(a, b, pairs, kept_a, kept_b, (everything_a, everything_b),
                               ev_a, ev_b, state_reader, similarity, cfg):
            add(*t)
    if state_reader is not None and cfg.zone_rereads:
        for t in zone_reread_events(a, b, (everything_a, everything_b), evidence, state_reader,
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
            conf = event_confidence(o.score, ev, cfg)
            if kind == "departed":
                add(kind, o, ev, conf, o.oid, None, {"state_before": o.state, **similarity_field(sims[k])})
            else:
                add(kind, o, ev, conf, None, o.oid, {"state_after": o.state, **similarity_field(sims[k])})
    return _one_per_object(events, refs, cfg)


def _presence_figures(presence: Evidence | None, objs: list[Sighting], same_date: list[Sighting],
                      cfg: PostureConfig) -> np.ndarray:
    """Each object's before/after NCC for a departure or arrival: at its own box, or with
    ``evidence.similarity_at_peaks`` the least over its box and its other sightings of the
    same date (second peaks of its class group within the matching gate, faint ones
    included). Why: a Su-25 in its revetment was reported at a box 5-8 m off, on the wall
    that still stands (NCC 0.51-0.64), while a faint peak 1-3 m from the jet saw it gone."""
    if not cfg.evidence.similarity_at_peaks:
        return figures_at(presence, [o.geometry for o in objs])
    groups = [[o] + [p for p in same_date if p is not o and second_peak(p, [o], cfg)] for o in objs]
    flat = figures_at(presence, [p.geometry for g in groups for p in g])
    out, k = np.full(len(objs), np.nan), 0
    for n, g in enumerate(groups):
        part = flat[k:k + len(g)]
        k += len(g)
        known = part[~np.isnan(part)]
        out[n] = known.min() if known.size else np.nan
    return out


def _one_per_object(events: list[ObjectEvent], refs: list[Sighting], cfg: PostureConfig,
                    overlap: float = 0.5) -> list[ObjectEvent]:
    """The events, surest first, one per object and kind. The detector keeps every peak, so one
    object can be two detections: a fighter read as two peaks 5 m apart (withdrawal seed 4:
    boxes of 18 and 21 m, scores 0.40 and 0.31) left twice, and a helicopter seen alone on each
    date, 6.5 m apart, was re-read and "dismantled" at both boxes. An event is dropped when a
    surer one of its kind and class group sits on the same object: a box covered by more than
    ``overlap`` of its area (trucks and launchers parked side by side do not overlap), or, for
    aircraft and helicopters, a centre within the matching gate (nothing that size parks closer)."""
    kept: list[tuple[str, Sighting]] = []
    out: list[ObjectEvent] = []
    for k in sorted(range(len(events)), key=lambda k: -events[k].confidence):
        e, o = events[k], refs[k]
        if any(kind == e.kind and same_group(p.cls, o.cls) and _same_object(o, p, cfg, overlap)
               for kind, p in kept):
            continue
        kept.append((e.kind, o))
        out.append(e)
    return out


def _same_object(o: Sighting, p: Sighting, cfg: PostureConfig, overlap: float) -> bool:
    if o.cls in AIRCRAFT_CLASSES and p.cls in AIRCRAFT_CLASSES and second_peak(o, [p], cfg):
        return True
    small = min(o.geometry.area, p.geometry.area)
    return small > 0 and o.geometry.intersection(p.geometry).area > overlap * small


def _still_there(changed: float | None, similarity: float, cfg: PostureConfig) -> bool:
    """Pixel evidence says the object did not come or go (unknown figures do not veto)."""
    if changed is not None and changed < cfg.evidence.min_fraction_presence:
        return True
    return not math.isnan(similarity) and similarity > cfg.evidence.max_similarity_presence


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
