"""State changes the per-date states cannot compare: a helicopter whose class the detector
confused on one date (a Ka-52 without rotor blades reads as a jet), one seen on one date only
that the presence check kept, and, on the helicopter pad, sightings the detector reported as
another class or only faintly. Each is read again as its class at every box on both dates,
and a matched pair's change must still show with each date's box moved to the other
sighting's centre (``cross_read_classes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from detect.change.posture_config import PostureConfig
from detect.change.sightings import (
    STATE_EVENTS,
    Evidence,
    Sighting,
    StateReader,
    ZoneIndex,
    event_confidence,
    figures_at,
    match_objects,
    mean_readings,
    nanmax,
    nanmean,
    second_peak,
    similarity_field,
    supporters,
    unreported,
)
from imagery.taxonomy import STATES


@dataclass
class _RereadTrack:
    """Sightings read again as ``cls`` on both dates: the before and after one (None where a
    date has none), the best other sighting that kept a lone one, and the box evidence."""

    cls: str
    members: list[Sighting]
    before: Sighting | None
    after: Sighting | None
    support: float
    evidence: float


def reread_events(a: list[Sighting], b: list[Sighting], pairs: list[tuple[int, int]], kept_a: list[int],
                  kept_b: list[int], everything: tuple[list[Sighting], list[Sighting]], ev_a: np.ndarray,
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
        tracks += [_RereadTrack(cls, [a[i], b[j]], a[i], b[j], 0.0, nanmax(ev_a[i], ev_b[j]))
                   for i, j in pairs if a[i].cls != b[j].cls and cls in (a[i].cls, b[j].cls)]
        for lone, own, other, on_a in ((kept_a, a, everything[1], True), (kept_b, b, everything[0], False)):
            same_date = matched_a if on_a else matched_b
            for k in lone:
                o = own[k]
                if o.cls != cls or second_peak(o, same_date, cfg):
                    continue
                support = supporters(o, other, cfg)
                best = max((p.score for p, s_ in zip(other, support, strict=True) if s_), default=0.0)
                tracks.append(_RereadTrack(cls, [o], o if on_a else None, None if on_a else o, best,
                                           float((ev_a if on_a else ev_b)[k])))
    return _reread_track_events(tracks, reader, similarity, cfg)


def zone_reread_events(a: list[Sighting], b: list[Sighting],
                       everything: tuple[list[Sighting], list[Sighting]], evidence: Evidence | None,
                       reader: StateReader, similarity: Evidence | None, zones: ZoneIndex,
                       cfg: PostureConfig) -> list[tuple[Any, ...]]:
    """State events of ``cfg.zone_rereads`` classes at places in their zones where no date
    reports one: a sighting on each date (reported as another class, or faint), matched as if
    both were of that class, is read as it on both dates with the gates of :func:`reread_events`.
    Why: the Ka-52 on Khmeimim's helicopter pad is scored 0.20-0.27 (faint, as a fighter or a
    helicopter) on one or both dates of most withdrawal pairs, so its dismantling had no track;
    it is still seen on both dates, and the rotor state reads plainly at its boxes. With
    ``zone_reread_min_similarity`` its two boxes must also still look alike: a helicopter that
    landed where something faint stood reads `reassembled` there too, but its box changed."""
    out: list[tuple[Any, ...]] = []
    for cls, kinds in cfg.zone_rereads.items():
        reported = [o for o in a + b if o.cls == cls]
        fa, fb = (unreported([replace(o, cls=cls) for o in objs], reported, kinds, zones, cfg)
                  for objs in everything)
        pairs, _, _ = match_objects(fa, fb, cfg)
        if not pairs:
            continue
        figures = figures_at(evidence, [o.geometry for i, j in pairs for o in (fa[i], fb[j])]).reshape(-1, 2)
        tracks = [_RereadTrack(cls, [fa[i], fb[j]], fa[i], fb[j], 0.0, nanmax(*f))
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
    flat = figures_at(similarity, [o.geometry for t in tracks for o in t.members])
    kept = []
    for k, t in enumerate(tracks):
        state = STATES[t.cls][0]
        if not math.isnan(t.evidence) and t.evidence < cfg.evidence.min_fraction_for(state):
            continue
        sim = nanmean(list(flat[bounds[k]:bounds[k + 1]]))
        if floor is not None and not sim >= floor:
            continue  # not the same thing on both dates (NaN: unknown, not reported)
        if cfg.too_alike_for(state, sim):
            continue
        kept.append((t, state, sim))
    readings = mean_readings(reader, [t.members for t, _, _ in kept],
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
        kinds = STATE_EVENTS[(t.cls, state)]
        ref = next(o for o in t.members if o.cls == t.cls)
        extra = {"state_before": state if pa_ >= 0.5 else None, "state_after": state if pb_ >= 0.5 else None,
                 "state_score_before": round(pa_, 3), "state_score_after": round(pb_, 3),
                 "read_as": t.cls, **similarity_field(sim)}
        if zone_read:
            extra["zone_read"] = True
        out.append((kinds[0] if pb_ > pa_ else kinds[1], ref, None if math.isnan(ev) else ev,
                    event_confidence(seen * abs(pb_ - pa_), ev, cfg),
                    t.before.oid if t.before is not None else None,
                    t.after.oid if t.after is not None else None, extra))
    return out


def cross_read_holds(candidates: list[tuple[tuple[Any, ...], Sighting]], reader: StateReader | None,
                     cfg: PostureConfig) -> list[tuple[tuple[Any, ...], Sighting]]:
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
