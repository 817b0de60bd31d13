"""Paired state reading (``paired_states``, for launchers): the state classifier reads a launcher's
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
from typing import Any

import numpy as np

from detect.change.posture_config import PostureConfig
from detect.change.sightings import (
    STATE_EVENTS,
    Evidence,
    ShadowReader,
    Sighting,
    StateReader,
    Track,
    TypeReader,
    ZoneIndex,
    event_confidence,
    figures_at,
    match_gate,
    match_objects,
    mean_readings,
    nanmax,
    nanmean,
    similarity_field,
    unreported,
)
from imagery.taxonomy import GROUND_CLASSES, STATES


def merge_tracks(a: list[Sighting], b: list[Sighting], tracks: list[tuple[int | None, int | None]],
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
            if any(math.hypot(x1 - x2, y1 - y2) <= match_gate(l1, l2, cfg)
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


def faint_tracks(a: list[Sighting], b: list[Sighting], faint_a: list[Sighting], faint_b: list[Sighting],
                 classes: set[str], cfg: PostureConfig, zones: ZoneIndex
                 ) -> tuple[list[Sighting], list[Sighting], list[tuple[int, int]]]:
    """(faint before, faint after, matched pairs): the faint sightings of ``classes`` on each
    date inside a zone of ``paired_states.zone_kinds``, away from every reported ground object
    of either date (those are tracked already, or are trucks), matched across the dates. Why:
    a 91N6E acquisition radar, its array a thin plate on a semi-trailer, scores 0.22-0.30 as a
    launcher on both dates (withdrawal 0-15: 10 of 16), below the operating score, so it had no
    track and its packing no event; its 7.4 m mast's shadow still says when it was lowered."""
    reported = [o for o in a + b if o.cls in GROUND_CLASSES]
    fa, fb = (unreported([o for o in objs if o.cls in classes], reported, cfg.paired_states.zone_kinds,
                         zones, cfg) for objs in (faint_a, faint_b))
    pairs, _, _ = match_objects(fa, fb, cfg)
    return fa, fb, pairs


def _track_shadows(objs: list[list[Sighting]], tall_shadow: ShadowReader) -> np.ndarray:
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


def paired_state_events(a: list[Sighting], b: list[Sighting], tracks: list[Track],
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
    readings = mean_readings(reader, groups, [[o.cls for o in g] for g in groups])
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
            ev = nanmax(*[ev_a[i] for i in ii], *[ev_b[j] for j in jj])
            packed_m2, other_m2 = _packed_first(pb_ - pa_, *areas[k])
            if abs(pb_ - pa_) >= usual or pc.shadow_decides(packed_m2, other_m2, ev, any_type=True):
                keep.append(k)
        candidates, objs, areas = [candidates[k] for k in keep], [objs[k] for k in keep], areas[keep]
        if not candidates:
            return []
    flat = figures_at(similarity, [o.geometry for m in objs for o in m])
    bounds = np.cumsum([0] + [len(m) for m in objs])
    types = _track_types(type_reader, objs)
    out = []
    for k, ((ii, jj, pa_, pb_), mine_objs) in enumerate(zip(candidates, objs, strict=True)):
        ev = nanmax(*[ev_a[i] for i in ii], *[ev_b[j] for j in jj])
        sim = nanmean(list(flat[bounds[k]:bounds[k + 1]]))
        before_m2, after_m2 = (float(v) for v in areas[k])
        ref = mine_objs[0]
        in_zone = zones.within_kinds(ref.x, ref.y, pc.zone_kinds) if zones and pc.zone_kinds else None
        equipment, p_type = types[k]
        stopped, confidence, _ = paired_state_gate(pa_, pb_, ev, sim, (before_m2, after_m2),
                                                   typed_config(cfg, equipment, p_type), in_zone=in_zone,
                                                   faint=faint, equipment=equipment)
        if stopped:
            continue
        shift = pb_ - pa_
        state = STATES[ref.cls][0]
        kinds = STATE_EVENTS[(ref.cls, state)]
        kind = kinds[0] if shift > 0 else kinds[1]
        extra: dict[str, Any] = {"state_before": state if pa_ >= 0.5 else None,
                                 "state_after": state if pb_ >= 0.5 else None,
                                 "state_score_before": round(pa_, 3), "state_score_after": round(pb_, 3),
                                 **similarity_field(sim)}
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


def _track_types(reader: TypeReader | None, objs: list[list[Sighting]]) -> list[tuple[str | None, float]]:
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


def typed_config(cfg: PostureConfig, equipment: str | None, probability: float) -> PostureConfig:
    """``cfg`` with the paired-state gates of the named air-defence type (``type_gates``)."""
    pc = cfg.paired_states
    typed = pc.for_type(equipment, probability) if equipment is not None else pc
    return cfg if typed is pc else cfg.model_copy(update={"paired_states": typed})


def seen_up_the_lean_line(track: Track, a: list[Sighting], b: list[Sighting],
                          everything: tuple[list[Sighting], list[Sighting]], step: tuple[float, float],
                          heights_m: tuple[float, float]) -> bool:
    """Whether a track of one date only has a sighting on the other date up the lean line from
    one of its boxes (:func:`_up_the_lean_line`; ``step``: before -> after, per metre up)."""
    ii, jj = track
    if not jj:
        return any(_up_the_lean_line(a[i], everything[1], step, heights_m) for i in ii)
    if not ii:
        return any(_up_the_lean_line(b[j], everything[0], (-step[0], -step[1]), heights_m) for j in jj)
    return False


def _up_the_lean_line(o: Sighting, others: list[Sighting], step: tuple[float, float],
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
    air-defence type the classifier reads likeliest (``paired_states.deployed_shadow_m2``,
    ``packing_shadow_m2``). Apart from
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
    # The date read deployed (after a deployment, before a packing) without the shadow its
    # raised parts cast: an unchanged element of another type (a 92N6E read likeliest as an
    # S-400 TEL) whose reading wandered, or one that was never erect.
    by_type, gate = ((pc.deployed_shadow_m2, "deployed_shadow") if shift < 0
                     else (pc.packing_shadow_m2, "packing_shadow"))
    needed = by_type.get(equipment or "") if shadows else None
    if needed is not None and shift != 0 and other_m2 < needed:
        return gate, 0.0, False
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
    confidence = event_confidence(abs(shift), changed, cfg)
    if backed:
        confidence = 1.0 - (1.0 - confidence) * (1.0 - pc.shadow_confidence)
    return None, confidence, backed
