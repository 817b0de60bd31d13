"""Object matching, events and the posture score."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from detect.change.objects import object_events
from detect.change.posture import posture_score
from detect.change.posture_config import load_posture_config
from detect.change.sightings import ZoneIndex
from detect.change.wording import date_span
from imagery.geometry import obb_corners

CFG = load_posture_config()
D1 = datetime(2024, 12, 12, 8, 30, tzinfo=timezone.utc)
D2 = datetime(2024, 12, 13, 8, 35, tzinfo=timezone.utc)


def dets(rows):
    """rows: (id, class, state, x, y, length, width, heading, score)."""
    geoms = [shapely.Polygon(obb_corners(x, y, ln, w, h)) for _, _, _, x, y, ln, w, h, _ in rows]
    return gpd.GeoDataFrame({
        "object_id": [r[0] for r in rows], "class": [r[1] for r in rows], "state": [r[2] for r in rows],
        "length_m": [r[5] for r in rows], "width_m": [r[6] for r in rows], "heading_deg": [r[7] for r in rows],
        "score": [r[8] for r in rows]}, geometry=geoms, crs="EPSG:32636")


ZONES = ZoneIndex([("north_apron", "apron", 1.0, shapely.box(0, 0, 500, 500)),
                   ("helipad", "helipad", 1.0, shapely.box(600, 0, 800, 200))])

BEFORE = dets([
    ("an124_1", "transport", None, 100, 100, 69, 73, 90, 0.95),
    ("an124_2", "transport", None, 100, 250, 69, 73, 90, 0.93),
    ("ka52_1", "helicopter", None, 700, 100, 16, 14.5, 180, 0.9),
    ("su24_1", "fighter", None, 300, 400, 23, 17, 0, 0.9),
])


def test_steady_pair_gives_no_events_despite_lean_and_jitter():
    # Same objects, shifted by lean/misregistration of a few metres, slightly different sizes.
    after = dets([
        ("x1", "transport", None, 104, 97, 68, 72, 91, 0.9),
        ("x2", "transport", None, 103, 248, 70, 74, 89, 0.92),
        ("x3", "helicopter", None, 702, 101, 15, 14, 178, 0.85),
        ("x4", "fighter", None, 301, 403, 22.5, 17, 2, 0.88),
    ])
    events = object_events(BEFORE, after, CFG, zones=ZONES, dates=(D1, D2))
    assert events == []
    score, zones = posture_score(events, {"all": 0.01, "north_apron": 0.01}, CFG, ZONES)
    assert score < 10


def test_withdrawal_events_and_explanations():
    after = dets([
        ("x1", "transport", "nose_raised", 102, 99, 69, 73, 90, 0.9),
        ("x2", "transport", "nose_raised", 101, 251, 69, 73, 90, 0.9),
        ("x3", "helicopter", "dismantled", 701, 100, 14, 3, 180, 0.85),
        # the Su-24 left
    ])
    events = object_events(BEFORE, after, CFG, zones=ZONES, dates=(D1, D2))
    kinds = sorted(e.kind for e in events)
    assert kinds == ["departed", "dismantled", "nose_raised", "nose_raised"]
    nose = next(e for e in events if e.kind == "nose_raised")
    assert nose.explanation == ("An-124-size transport on the north apron raised its nose visor "
                                "between 12 and 13 Dec.")
    heli = next(e for e in events if e.kind == "dismantled")
    assert heli.zone == "helipad" and heli.before_id == "ka52_1" and heli.after_id == "x3"
    dep = next(e for e in events if e.kind == "departed")
    assert dep.before_id == "su24_1" and dep.after_id is None
    score, zones = posture_score(events, {"all": 0.05}, CFG, ZONES)
    assert score > 60
    assert {z.name for z in zones} == {"north_apron", "helipad"}
    assert all(0 <= z.score <= 100 for z in zones)


def test_pixel_evidence_suppresses_a_detector_miss():
    after = dets([
        ("x1", "transport", None, 101, 99, 69, 73, 90, 0.9),
        ("x2", "transport", None, 101, 251, 69, 73, 90, 0.9),
        ("x3", "helicopter", None, 701, 100, 16, 14.5, 180, 0.85),
    ])  # the Su-24 was missed on date 2, but its pixels did not change

    def no_change(polys):
        return np.zeros(len(polys))

    assert object_events(BEFORE, after, CFG, evidence=no_change) == []

    def changed(polys):
        return np.full(len(polys), 0.5)

    events = object_events(BEFORE, after, CFG, evidence=changed)
    assert [e.kind for e in events] == ["departed"]
    assert events[0].confidence == pytest.approx(0.9)


def test_state_event_confidence_is_sighting_times_state_shift():
    # A Ka-52 seen faintly (0.35) on both dates: two sightings at one place make it likely there
    # (noisy-or 0.58); its dismantled probability 0.02 -> 0.97 is a change, 0.63 -> 0.25 a wobble.
    def heli(oid, state, p, score=0.35):
        g = dets([(oid, "helicopter", state, 700, 100, 14, 7, 90, score)])
        g["state_score"] = p
        return g

    changed = object_events(heli("a", None, 0.02), heli("b", "dismantled", 0.97), CFG)
    assert [e.kind for e in changed] == ["dismantled"]
    assert changed[0].confidence == pytest.approx((1 - 0.65 * 0.65) * 0.95, abs=1e-3)
    wobble = object_events(heli("a", "dismantled", 0.63, 0.42), heli("b", None, 0.25, 0.42), CFG)
    assert wobble == []  # 0.66 x 0.38 = 0.25, under min_confidence


def test_arrivals_and_reverse_states():
    before = dets([("t", "transport", "nose_raised", 0, 0, 69, 73, 0, 0.9),
                   ("s", "sam", "packed", 200, 0, 12, 3, 90, 0.8)])
    after = dets([("t", "transport", None, 1, 1, 69, 73, 0, 0.9),
                  ("s", "sam", None, 200, 1, 12, 3, 90, 0.8),
                  ("new", "transport", None, 400, 400, 46, 50, 180, 0.9)])
    kinds = {e.kind for e in object_events(before, after, CFG)}
    assert kinds == {"nose_lowered", "deployed", "arrived"}


def test_cross_class_reading_of_one_aircraft_is_not_two_events():
    before = dets([("a", "transport", None, 0, 0, 40, 38, 10, 0.8)])
    after = dets([("b", "airliner", None, 2, 1, 39, 37, 12, 0.7)])
    assert object_events(before, after, CFG) == []


def test_a_faint_detection_on_the_other_date_means_still_there():
    # The Su-24 drops to 0.25 on date 2: below the operating score, reported nowhere, but present.
    after = dets([("x1", "transport", None, 101, 99, 69, 73, 90, 0.9),
                  ("x2", "transport", None, 101, 251, 69, 73, 90, 0.9),
                  ("x3", "helicopter", None, 701, 100, 16, 14.5, 180, 0.85)])
    faint_after = dets([("f1", "fighter", None, 302, 401, 21, 16, 175, 0.25)])
    assert [e.kind for e in object_events(BEFORE, after, CFG)] == ["departed"]
    assert object_events(BEFORE, after, CFG, faint=(None, faint_after)) == []
    # A faint detection of an unrelated class group (a truck) does not count.
    truck = dets([("f1", "vehicle", None, 302, 401, 8, 3, 175, 0.25)])
    assert [e.kind for e in object_events(BEFORE, after, CFG, faint=(None, truck))] == ["departed"]


def test_a_second_peak_on_one_helicopter_is_not_an_arrival():
    before = dets([("h", "helicopter", None, 0, 0, 17, 5, 90, 0.6)])
    after = dets([("h1", "helicopter", None, 1, 0, 17, 5, 20, 0.5),
                  ("h2", "helicopter", None, -3, 2, 19, 6, 280, 0.4)])
    assert object_events(before, after, CFG) == []


def test_a_helicopter_the_dates_cannot_compare_is_read_again_as_one():
    """A Ka-52 with its blades off reads as a fighter (or too faint to report) on date 2: its
    boxes are read as a helicopter's on both dates; a second peak on a matched helicopter is
    not a helicopter of its own."""
    reader = _reader({(0, 0): (0.02, 0.98), (100, 0): (0.02, 0.99), (200, 0): (0.1, 0.1),
                      (205, 2): (0.0, 0.95)})
    changed = dict(evidence=_const(0.8), similarity=_const(0.3), state_reader=reader)
    before = dets([("k", "helicopter", None, 0, 0, 14, 13, 90, 0.6)])
    as_fighter = dets([("f", "fighter", None, 1, 1, 15, 12, 90, 0.5)])
    assert object_events(before, as_fighter, CFG, evidence=_const(0.8), similarity=_const(0.3)) == []
    (e,) = object_events(before, as_fighter, CFG, **changed)
    assert (e.kind, e.cls, e.before_id, e.after_id) == ("dismantled", "helicopter", "k", "f")
    assert e.confidence == pytest.approx((1 - 0.4 * 0.5) * 0.96)
    # seen once at 0.4, kept by a faint fighter-sized detection at 0.3 on date 2
    lone = dets([("k", "helicopter", None, 100, 0, 14, 13, 90, 0.4)])
    faint = dets([("f", "fighter", None, 101, 0, 15, 12, 90, 0.3)])
    (e,) = object_events(lone, dets([]), CFG, faint=(None, faint), **changed)
    assert e.kind == "dismantled" and e.confidence == pytest.approx((1 - 0.6 * 0.7) * 0.97)
    # a second peak next to a matched helicopter whose state did not change
    peaks = dets([("h", "helicopter", None, 200, 0, 14, 13, 90, 0.6),
                  ("h2", "helicopter", None, 205, 2, 12, 6, 10, 0.4)])
    again = dets([("a", "helicopter", None, 201, 0, 14, 13, 90, 0.6)])
    assert object_events(peaks, again, CFG, **changed) == []


def test_a_launcher_read_as_a_truck_on_one_date_is_no_event():
    before = dets([("v", "vehicle", None, 0, 0, 9.4, 3, 130, 0.33)])
    after = dets([("s", "sam", "packed", 2, 1, 12.6, 3.2, 250, 0.4)])
    assert object_events(before, after, CFG) == []


def test_a_box_that_still_looks_the_same_has_not_left():
    after = dets([("x1", "transport", None, 101, 99, 69, 73, 90, 0.9),
                  ("x2", "transport", None, 101, 251, 69, 73, 90, 0.9),
                  ("x3", "helicopter", None, 701, 100, 16, 14.5, 180, 0.85)])

    def changed(polys):
        return np.full(len(polys), 0.5)

    def same(polys):
        return np.full(len(polys), 0.8)

    def empty_now(polys):
        return np.full(len(polys), 0.2)

    assert object_events(BEFORE, after, CFG, evidence=changed, similarity=same) == []
    events = object_events(BEFORE, after, CFG, evidence=changed, similarity=empty_now)
    assert [e.kind for e in events] == ["departed"]
    assert events[0].to_json_dict()["similarity"] == pytest.approx(0.2)
    # Departures and arrivals take the wider presence search when one is given.
    assert object_events(BEFORE, after, CFG, evidence=changed, similarity=empty_now,
                         presence_similarity=same) == []


def test_a_state_probability_wobbling_across_the_threshold_is_no_event():
    def with_state_scores(rows, scores):
        g = dets(rows)
        g["state_score"] = scores
        return g

    before = with_state_scores([("t", "transport", None, 0, 0, 69, 73, 0, 0.9)], [0.45])
    wobble = with_state_scores([("t", "transport", "nose_raised", 1, 1, 69, 73, 0, 0.9)], [0.55])
    raised = with_state_scores([("t", "transport", "nose_raised", 1, 1, 69, 73, 0, 0.9)], [0.95])
    assert object_events(before, wobble, CFG) == []
    assert [e.kind for e in object_events(before, raised, CFG)] == ["nose_raised"]


def _reader(table):
    """A state reader answering (before, after) by the box centre nearest to a table key."""
    def read(boxes, classes):
        out = []
        for x, y, *_ in boxes:
            key = min(table, key=lambda k: (k[0] - x) ** 2 + (k[1] - y) ** 2)
            out.append(table[key])
        return np.array(out, float)
    return read


def _const(v):
    return lambda polys: np.full(len(polys), v)


def test_a_dismantling_needs_a_sharp_state_change():
    """The rotor state is read sharply (>= 0.85 dismantled, <= 0.05 intact): a middling move is
    flicker, not a dismantling, where the same move of a nose visor still counts."""
    def pair(cls, length, width, s_before, s_after, state):
        b, a = (dets([("o", cls, st, 0, 0, length, width, 0, 0.9)]) for st in (None, state))
        b["state_score"], a["state_score"] = [s_before], [s_after]
        return b, a

    assert object_events(*pair("helicopter", 16, 14.5, 0.1, 0.7, "dismantled"), CFG) == []
    assert [e.kind for e in object_events(*pair("helicopter", 16, 14.5, 0.05, 0.9, "dismantled"),
                                          CFG)] == ["dismantled"]
    assert [e.kind for e in object_events(*pair("transport", 69, 73, 0.1, 0.7, "nose_raised"),
                                          CFG)] == ["nose_raised"]


def test_a_rotor_state_change_needs_a_box_that_changed_its_look():
    """With ``state_max_similarity_by_state: {dismantled: 0.88}`` a helicopter whose two boxes
    still correlate above 0.88 was not dismantled, matched or read again on one date; below,
    and with the similarity unknown, it was; other states are not held to it."""
    limit = CFG.model_copy(update={"state_max_similarity_by_state": {"dismantled": 0.88}})

    def pair(cls, length, width, state):
        b, a = (dets([("o", cls, st, 0, 0, length, width, 0, 0.9)]) for st in (None, state))
        b["state_score"], a["state_score"] = [0.02], [0.98]
        return b, a

    def kinds(cfg, sim, objs=None, **kw):
        return [e.kind for e in object_events(*(objs or pair("helicopter", 16, 14.5, "dismantled")), cfg,
                                              evidence=_const(0.8), similarity=sim, **kw)]

    assert kinds(limit, _const(0.92)) == []
    off = CFG.model_copy(update={"state_max_similarity_by_state": {}})
    assert kinds(off, _const(0.92)) == ["dismantled"]
    assert kinds(limit, _const(0.80)) == ["dismantled"]
    assert kinds(limit, None) == ["dismantled"]
    assert kinds(limit, _const(0.92), pair("transport", 69, 73, "nose_raised")) == ["nose_raised"]
    # a helicopter seen on date 1 only, read again on both: the same limit
    lone = (dets([("k", "helicopter", None, 100, 0, 14, 13, 90, 0.4)]), dets([]))
    faint = dets([("f", "fighter", None, 101, 0, 15, 12, 90, 0.3)])
    reread = dict(faint=(None, faint), state_reader=_reader({(100, 0): (0.02, 0.98)}))
    assert kinds(limit, _const(0.92), lone, **reread) == []
    assert kinds(limit, _const(0.80), lone, **reread) == ["dismantled"]
    with pytest.raises(ValueError, match="unknown states in state_max_similarity_by_state"):
        type(CFG)(**{**CFG.model_dump(), "state_max_similarity_by_state": {"folded": 0.9}})


def test_a_rotor_state_change_must_hold_when_both_dates_are_read_at_both_centres():
    """The after date's box sits 3 m off the helicopter and reads `dismantled` there on either
    date, where the true centre reads intact on both: no event. A real dismantling reads at
    either centre and stays, even with the after box turned (each date keeps its own box's
    heading); without a state reader, or with the check off, the per-date states decide."""
    before = dets([("h", "helicopter", None, 0, 0, 16, 14.5, 90, 0.9)])
    after = dets([("h", "helicopter", "dismantled", 3, 0, 16, 14.5, 90, 0.9)])
    before["state_score"], after["state_score"] = [0.05], [0.85]
    common = dict(evidence=_const(0.8), similarity=_const(0.3))
    off_box = _reader({(0, 0): (0.05, 0.10), (3, 0): (0.6, 0.85)})
    assert object_events(before, after, CFG, state_reader=off_box, **common) == []
    real = _reader({(0, 0): (0.02, 0.97), (3, 0): (0.1, 0.95)})
    (e,) = object_events(before, after, CFG, state_reader=real, **common)
    assert e.kind == "dismantled" and e.extra["state_score_both_centres"] == [0.06, 0.96]
    assert [e.kind for e in object_events(before, after, CFG, **common)] == ["dismantled"]
    unchecked = CFG.model_copy(update={"cross_read_classes": []})
    assert [e.kind for e in object_events(before, after, unchecked, state_reader=off_box,
                                          **common)] == ["dismantled"]

    def by_heading(boxes, classes):  # reads `dismantled` on date 2 only along the 150 deg axis
        return np.array([(0.02, 0.97 if abs(h - 150) < 1 else 0.03) for *_, h in boxes])

    turned = dets([("h", "helicopter", "dismantled", 1, 0, 14, 6, 150, 0.9)])
    turned["state_score"] = [0.97]
    assert [e.kind for e in object_events(before, turned, CFG, state_reader=by_heading,
                                          **common)] == ["dismantled"]
    with pytest.raises(ValueError, match="cross_read_classes without a state"):
        type(CFG)(**{**CFG.model_dump(), "cross_read_classes": ["fighter"]})


def test_a_helicopter_on_its_pad_is_read_where_the_detector_reports_none():
    """The helicopter pad's Ka-52, seen as a faint fighter before and a reported truck after,
    has its rotor state read as a helicopter's at both sightings with `zone_rereads`: dismantled.
    Not outside the pad's zone kind, not where a helicopter is reported on either date (its own
    track reads it), not without a move of the state's min_shift, and not without the option;
    with ``zone_reread_min_similarity``, not unless the two boxes still look alike."""
    before = dets([("su", "fighter", None, 300, 400, 23, 17, 0, 0.9)])
    faint_before = dets([("f", "fighter", None, 700, 100, 15, 13, 80, 0.24)])
    after = dets([("su2", "fighter", None, 300, 400, 23, 17, 0, 0.9),
                  ("v", "vehicle", None, 701, 101, 9, 3, 100, 0.45)])
    faint_after = dets([])
    cfg = CFG.model_copy(update={"zone_rereads": {"helicopter": ["helipad"]}, "zone_reread_min_similarity": None})
    common = dict(evidence=_const(0.6), similarity=_const(0.4), zones=ZONES, dates=(D1, D2),
                  faint=(faint_before, faint_after))
    gone = _reader({(700, 100): (0.02, 0.98), (300, 400): (0.0, 0.0)})

    def helicopter_events(cfg, reader, after=after):
        return [e for e in object_events(before, after, cfg, state_reader=reader, **common) if e.cls == "helicopter"]

    (e,) = helicopter_events(cfg, gone)
    assert (e.kind, e.before_id, e.after_id, e.zone) == ("dismantled", "f", "v", "helipad")
    assert e.extra["zone_read"] and "where the detector reported none" in e.explanation
    assert helicopter_events(CFG.model_copy(update={"zone_rereads": {}}), gone) == []
    assert helicopter_events(cfg, _reader({(700, 100): (0.1, 0.7)})) == []
    assert helicopter_events(cfg.model_copy(update={"zone_rereads": {"helicopter": ["apron"]}}), gone) == []
    reported = dets([("su2", "fighter", None, 300, 400, 23, 17, 0, 0.9),
                     ("h", "helicopter", None, 701, 101, 15, 13, 100, 0.45)])
    assert all(not e.extra.get("zone_read") for e in helicopter_events(cfg, gone, after=reported))
    # with zone_reread_min_similarity the two boxes must still look alike: the fuselage stays
    alike = cfg.model_copy(update={"zone_reread_min_similarity": 0.5})  # as shipped
    assert helicopter_events(alike, gone) == []  # NCC 0.4: something else stands there
    common["similarity"] = _const(0.6)
    assert [e.kind for e in helicopter_events(alike, gone)] == ["dismantled"]
    common["similarity"] = None
    assert helicopter_events(alike, gone) == []  # unknown: not reported
    assert [e.kind for e in helicopter_events(cfg, gone)] == ["dismantled"]
    with pytest.raises(ValueError, match="zone_rereads without a state"):
        type(CFG)(**{**CFG.model_dump(), "zone_rereads": {"fighter": ["helipad"]}})


def test_boxes_of_one_launcher_are_read_as_one_track():
    """A second peak on one launcher next to its matched pair, and two lone boxes of one
    launcher that the assignment left apart (sizes too different), each make one event."""
    before = dets([("s", "sam", None, 0, 0, 13, 3, 90, 0.5),
                   ("t", "sam", None, 100, 0, 13, 3, 90, 0.5)])
    after = dets([("a", "sam", None, 1, 1, 13, 3, 90, 0.5),
                  ("a2", "sam", None, 2, -2, 13, 3, 90, 0.4),
                  ("u", "sam", None, 106, 0, 28, 3, 90, 0.5)])
    reader = _reader({(0, 0): (0.1, 0.9), (2, -2): (0.1, 0.8), (100, 0): (0.1, 0.9), (106, 0): (0.2, 0.9)})
    events = object_events(before, after, CFG, evidence=_const(0.8), similarity=_const(0.3),
                           state_reader=reader)
    assert sorted((e.kind, e.before_id, e.after_id) for e in events) == [
        ("packed", "s", "a,a2"), ("packed", "t", "u")]


def test_a_launcher_packed_is_read_at_one_box_on_both_dates():
    """Matched launchers, a launcher read as a truck on one date, and one missed on one date but
    with something of its size there: each has its state read at its box(es) on both dates."""
    before = dets([("s1", "sam", None, 0, 0, 13, 3, 90, 0.9),
                   ("v2", "vehicle", None, 100, 0, 9, 3, 90, 0.4),
                   ("s3", "sam", None, 200, 0, 13, 3, 90, 0.4)])
    after = dets([("a1", "sam", "packed", 1, 1, 13, 3, 90, 0.9),
                  ("a2", "sam", "packed", 101, 1, 13, 3, 90, 0.5),
                  ("a3", "vehicle", None, 201, 0, 12, 3, 90, 0.4)])
    reader = _reader({(0, 0): (0.1, 0.9), (100, 0): (0.05, 0.8), (200, 0): (0.2, 0.95)})
    events = object_events(before, after, CFG, evidence=_const(0.8), similarity=_const(0.3),
                           state_reader=reader)
    assert sorted(e.kind for e in events) == ["packed"] * 3
    e = next(e for e in events if e.before_id == "s1")
    assert e.after_id == "a1" and e.confidence == pytest.approx(0.8)
    assert e.to_json_dict()["state_score_before"] == pytest.approx(0.1)
    # without the reader: no state is compared across the class confusions
    assert [e.kind for e in object_events(before, after, CFG, evidence=_const(0.8),
                                          similarity=_const(0.3))] == ["packed"]


def test_no_packing_where_a_tall_shadow_stays():
    """A launcher read packed on a date whose ground still shows the shadow of a part taller
    than a packed element was misread, even where that shadow shrank (an erect S-400 seen along
    its axis on steady 57: 14 -> 4 m^2); one whose tall shadow went away was packed."""
    before = dets([("s", "sam", None, 0, 0, 13, 3, 90, 0.5)])
    after = dets([("a", "sam", None, 1, 1, 13, 3, 90, 0.5)])
    changed = dict(evidence=_const(0.8), similarity=_const(0.3))

    def kinds(reading, shadow):
        return [e.kind for e in object_events(before, after, CFG, state_reader=_reader({(0, 0): reading}),
                                              tall_shadow=lambda polys: np.tile(shadow, (len(polys), 1)),
                                              **changed)]

    assert kinds((0.1, 0.9), (20.0, 22.0)) == []
    assert kinds((0.1, 0.9), (20.0, 0.5)) == ["packed"]
    assert kinds((0.1, 0.9), (14.0, 4.0)) == []
    assert kinds((0.1, 0.9), (float("nan"), float("nan"))) == ["packed"]
    assert kinds((0.9, 0.1), (15.0, 16.0)) == []  # "deployed" from a date with canisters up
    assert kinds((0.9, 0.1), (0.0, 16.0)) == ["deployed"]
    # a tall shadow that went away backs a weaker reading of a box that changed less
    def weak(shadow):
        return [e.kind for e in object_events(before, after, CFG, state_reader=_reader({(0, 0): (0.2, 0.58)}),
                                              tall_shadow=lambda polys: np.tile(shadow, (len(polys), 1)),
                                              evidence=_const(0.25), similarity=_const(0.7))]

    assert weak((20.0, 0.0)) == ["packed"] and weak((6.0, 0.0)) == ["packed"]  # a radar's array
    assert weak((4.0, 0.0)) == [] and weak((20.0, 3.0)) == [] and weak((float("nan"), 0.0)) == []

    def backed(reading, similarity, shadow=(20.0, 0.0)):
        return object_events(before, after, CFG, state_reader=_reader({(0, 0): reading}),
                             tall_shadow=lambda polys: np.tile(shadow, (len(polys), 1)),
                             evidence=_const(0.5), similarity=_const(similarity))

    # a move of 0.3 alone is no event (confidence 0.3); with the shadow gone it is, its
    # confidence the noisy-or of the two: 1 - 0.7 x 0.5
    assert backed((0.3, 0.6), 0.5, (float("nan"), float("nan"))) == []
    (event,) = backed((0.3, 0.6), 0.5)
    assert event.kind == "packed" and event.confidence == pytest.approx(0.65)
    assert backed((0.4, 0.6), 0.5, (8.0, 0.0)) == []  # a move of 0.2 stays flicker...
    assert [e.kind for e in backed((0.4, 0.6), 0.5)] == ["packed"]  # ...unless 10 m^2 went (sure_shadow_m2)
    # a sure move and the shadow: the box may look alike up to NCC 0.85, not beyond
    assert [e.kind for e in backed((0.1, 0.85), 0.8)] == ["packed"]
    assert backed((0.1, 0.85), 0.9) == []
    assert backed((0.3, 0.6), 0.8) == []  # a weak move: 0.75 as before
    assert backed((0.1, 0.85), 0.8, (float("nan"), float("nan"))) == []
    event = object_events(before, after, CFG, state_reader=_reader({(0, 0): (0.1, 0.9)}),
                          tall_shadow=lambda polys: np.tile((20.0, 0.5), (len(polys), 1)), **changed)[0]
    assert event.to_json_dict()["tall_shadow_m2"] == [20.0, 0.5]
    assert event.explanation.endswith("between the two images; the shadow of its raised parts (20 m\u00b2 "
                                      "before) is gone.")


def test_a_tracks_tall_shadow_is_read_at_each_of_its_boxes():
    """Two dates' boxes of one launcher lie metres apart; read at the hull of both, the strip a
    packed element could not shade moved off a raised array's shadow. Each box is read on its
    own and the largest area counts, on each date."""
    before = dets([("s", "sam", None, 0, 0, 13, 3, 90, 0.5)])
    after = dets([("a", "sam", None, 3, 0, 13, 3, 90, 0.5)])
    seen = []

    def shadow(polys):
        seen.append(len(polys))
        # the before box (centre x 0) sees the array's shadow, the after box (x 3) does not
        return np.array([(6.0, 0.0) if p.centroid.x < 1.5 else (0.5, 0.0) for p in polys])

    (event,) = object_events(before, after, CFG, state_reader=_reader({(0, 0): (0.2, 0.58)}),
                             tall_shadow=shadow, evidence=_const(0.25), similarity=_const(0.7))
    assert seen == [2] and event.kind == "packed"
    assert event.to_json_dict()["tall_shadow_m2"] == [6.0, 0.0]


def test_paired_state_gates():
    before = dets([("s", "sam", None, 0, 0, 13, 3, 90, 0.5)])
    after = dets([("a", "sam", None, 1, 1, 13, 3, 90, 0.5)])
    changed = dict(evidence=_const(0.8), similarity=_const(0.3))
    assert object_events(before, after, CFG, state_reader=_reader({(0, 0): (0.3, 0.6)}), **changed) == []
    deployed = object_events(before, after, CFG, state_reader=_reader({(0, 0): (0.9, 0.1)}), **changed)
    assert [e.kind for e in deployed] == ["deployed"]
    swing = _reader({(0, 0): (0.1, 0.95)})  # a big swing, but the box looks the same: the view
    assert object_events(before, after, CFG, evidence=_const(0.8), similarity=_const(0.85),
                         state_reader=swing) == []
    assert object_events(before, after, CFG, evidence=_const(0.1), similarity=_const(0.3),
                         state_reader=swing) == []
    # a shift few view changes produce (>= sure_shift) needs the box only somewhat different...
    assert [e.kind for e in object_events(before, after, CFG, evidence=_const(0.8),
                                          similarity=_const(0.7), state_reader=swing)] == ["packed"]
    # ...a middling one still needs it clearly different (unless nearly all of it changed)
    middling = _reader({(0, 0): (0.2, 0.7)})
    assert object_events(before, after, CFG, evidence=_const(0.6), similarity=_const(0.7),
                         state_reader=middling) == []
    assert len(object_events(before, after, CFG, evidence=_const(0.8), similarity=_const(0.5),
                             state_reader=middling)) == 1
    off_image = _reader({(0, 0): (float("nan"), float("nan"))})
    assert object_events(before, after, CFG, state_reader=off_image, **changed) == []


def test_a_box_changed_throughout_may_still_correlate():
    """A search radar's array folded onto its truck changes nearly all of its box, which still
    correlates 0.6-0.7 (the truck and its ground): a middling move then passes up to
    max_similarity_changed; a box changed less keeps the plain limit."""
    before = dets([("s", "sam", None, 0, 0, 13, 3, 90, 0.5)])
    after = dets([("a", "sam", None, 1, 1, 13, 3, 90, 0.5)])
    pc = CFG.paired_states
    assert pc.changed_fraction_sure is not None and pc.max_similarity_changed > pc.max_similarity
    middling = _reader({(0, 0): (0.35, 0.35 + (pc.min_shift + pc.sure_shift) / 2)})
    between = (pc.max_similarity + pc.max_similarity_changed) / 2

    def kinds(changed, similarity, cfg=CFG):
        return [e.kind for e in object_events(before, after, cfg, evidence=_const(changed),
                                              similarity=_const(similarity), state_reader=middling)]

    thorough = min(1.0, pc.changed_fraction_sure + 0.05)
    partly = max(pc.min_fraction, pc.changed_fraction_sure - 0.1)
    assert kinds(thorough, between) == ["packed"]
    assert kinds(partly, between) == []
    assert kinds(thorough, pc.max_similarity_changed + 0.05) == []
    off = CFG.model_copy(update={"paired_states": pc.model_copy(update={"changed_fraction_sure": None})})
    assert kinds(thorough, between, off) == []
    assert pc.similarity_limit(0.5, changed=float("nan")) == pc.max_similarity


def _types(name, p):
    """A type reader naming every box ``name`` with probability ``p`` (the rest spread evenly)."""
    from imagery.taxonomy import AIR_DEFENCE_TYPES

    row = np.full(len(AIR_DEFENCE_TYPES), (1.0 - p) / (len(AIR_DEFENCE_TYPES) - 1))
    row[AIR_DEFENCE_TYPES.index(name)] = p
    return lambda boxes: np.tile(row, (len(boxes), 1))


def test_an_air_defence_types_own_gates_apply_where_its_type_is_read_surely():
    """A 91N6E's folding antenna changes little of its trailer and its raised array casts a
    small shadow: with the type read surely, its own gates (here: a smaller shadow gone backs
    the change, no changed fraction asked) decide; read unsurely, or as another type, the
    common gates do. The event names the type it was read as."""
    from pydantic import ValidationError

    from detect.change.posture_config import PairedStatesConfig

    before = dets([("s", "sam", None, 0, 0, 20, 3, 90, 0.5)])
    after = dets([("a", "sam", None, 1, 1, 20, 3, 90, 0.5)])
    gates = {"shadow_backed_m2": 2.0, "backed_min_shift": 0.2, "backed_min_fraction": 0.0}
    pc = CFG.paired_states.model_copy(update={"type_gates": {"91N6E": gates}, "type_min_probability": 0.8})
    cfg = CFG.model_copy(update={"paired_states": pc})
    weak = _reader({(0, 0): (0.05, 0.33)})  # below the common min_shift, changed fraction 0.15

    def events(types):
        return object_events(before, after, cfg, evidence=_const(0.15), similarity=_const(0.5),
                             state_reader=weak, type_reader=types,
                             tall_shadow=lambda polys: np.tile((4.0, 0.0), (len(polys), 1)))

    typed = events(_types("91N6E", 0.9))
    assert [e.kind for e in typed] == ["packed"]
    assert typed[0].to_json_dict()["equipment"] == "91N6E" and "91N6E" in typed[0].explanation
    assert typed[0].explanation.startswith("91N6E acquisition radar was packed")
    assert "named from its shape (0.90)" in typed[0].explanation
    unsure = object_events(before, after, cfg, evidence=_const(0.8), similarity=_const(0.3),
                           state_reader=_reader({(0, 0): (0.05, 0.9)}), type_reader=_types("S-400 TEL", 0.45))
    assert unsure[0].explanation.startswith("Air-defence launcher was packed")
    assert "reads most like an S-400 TEL (0.45)" in unsure[0].explanation
    from detect.change.wording import article

    assert [article(n) for n in ("S-400 TEL", "91N6E", "Pantsir-S1", "An-124")] == ["an", "a", "a", "an"]
    assert events(_types("91N6E", 0.6)) == []
    assert events(_types("S-400 TEL", 0.95)) == []
    assert events(None) == []
    no_sure = pc.model_copy(update={"sure_shadow_m2": None})
    assert no_sure.min_shift_floor(shadows=True) == pytest.approx(0.2)
    assert pc.min_shift_floor(shadows=False) == pytest.approx(pc.min_shift)
    with pytest.raises(ValidationError, match="unknown air-defence types"):
        PairedStatesConfig(type_gates={"SA-2": {"min_shift": 0.1}})
    with pytest.raises(ValidationError, match="may set only"):
        PairedStatesConfig(type_gates={"91N6E": {"lean_line_height_m": 5.0}})


def test_the_launcher_gate_names_what_stops_a_change():
    """benchmarks/launcher_gates.py re-applies these gates to figures read with all of them open."""
    from detect.change.launchers import paired_state_gate

    nan = float("nan")

    def stopped(*figures):
        return paired_state_gate(*figures, CFG)[0]

    assert stopped(0.1, 0.9, 0.8, 0.3, (nan, nan)) is None
    assert stopped(0.1, 0.9, 0.8, 0.3, (20.0, 22.0)) == "shadow"
    assert stopped(0.3, 0.5, 0.8, 0.3, (nan, nan)) == "shift"
    assert stopped(0.1, 0.9, 0.1, 0.3, (nan, nan)) == "fraction"
    assert stopped(0.1, 0.9, 0.5, 0.9, (nan, nan)) == "similarity"
    # a tall shadow gone backs a move the classifier alone would not carry
    assert stopped(0.3, 0.6, 0.8, 0.5, (nan, nan)) == "shift"
    gate, confidence, backed = paired_state_gate(0.3, 0.6, 0.8, 0.5, (20.0, 0.0), CFG)
    assert gate is None and backed and confidence > 0.6


def test_a_launcher_outside_the_sites_launcher_zones_needs_a_sure_reading():
    """A tree or a roof's plant read as a launcher outside the SAM site: its reading and tall
    shadow move with the sun, so a middling move, or a weak one a shadow backs, is no event
    there; inside the zone, or on a site without such zones, the same figures are."""
    from detect.change.launchers import paired_state_gate

    before = dets([("s", "sam", None, 0, 0, 13, 3, 90, 0.5)])
    after = dets([("a", "sam", None, 1, 1, 13, 3, 90, 0.5)])
    sam_here = ZoneIndex([("sam_site", "sam", 1.0, shapely.box(-100, -100, 100, 100))])
    sam_elsewhere = ZoneIndex([("sam_site", "sam", 1.0, shapely.box(500, 500, 700, 700)),
                               ("field", "apron", 1.0, shapely.box(-100, -100, 100, 100))])

    def kinds(zones, read):
        events = object_events(before, after, CFG, zones=zones, evidence=_const(0.99),
                               similarity=_const(0.54), state_reader=_reader({(0, 0): read}))
        return [(e.kind, e.extra.get("in_zone")) for e in events]

    middling = (0.37, 0.88)
    assert kinds(sam_here, middling) == [("packed", True)]
    assert kinds(ZONES, middling) == [("packed", None)]  # no zone says where launchers stand
    assert kinds(None, middling) == [("packed", None)]
    assert kinds(sam_elsewhere, middling) == []
    assert kinds(sam_elsewhere, (0.1, 0.9)) == [("packed", False)]
    off_site = object_events(before, after, CFG, zones=sam_elsewhere, evidence=_const(0.99),
                             similarity=_const(0.54), state_reader=_reader({(0, 0): (0.1, 0.9)}))
    assert off_site[0].explanation.endswith("stands outside the site's air-defence zones.")
    assert "outside" not in object_events(before, after, CFG, zones=sam_here, evidence=_const(0.99),
                                          similarity=_const(0.54),
                                          state_reader=_reader({(0, 0): middling}))[0].explanation
    assert sam_elsewhere.within_kinds(0, 0, ["sam"]) is False
    assert sam_elsewhere.within_kinds(600, 600, ["sam"]) is True
    assert sam_elsewhere.within_kinds(0, 0, ["radar"]) is None
    # a tall shadow gone backs a weak move in the zone, not outside it
    assert paired_state_gate(0.3, 0.6, 0.8, 0.5, (20.0, 0.0), CFG, in_zone=True)[0] is None
    assert paired_state_gate(0.3, 0.6, 0.8, 0.5, (20.0, 0.0), CFG, in_zone=False)[0] == "zone"
    off = CFG.model_copy(update={"paired_states": CFG.paired_states.model_copy(update={"zone_kinds": []})})
    assert [e.kind for e in object_events(before, after, off, zones=sam_elsewhere, evidence=_const(0.99),
                                          similarity=_const(0.54),
                                          state_reader=_reader({(0, 0): middling}))] == ["packed"]


def test_a_launcher_seen_only_faintly_on_both_dates_needs_its_zone_and_its_tall_shadow():
    """A 91N6E scores below the operating score on both dates: its faint sightings in the SAM
    site form a track, whose packing counts only when the tall shadow went away; nothing is
    read from faint sightings outside the zone, next to a reported launcher, or on one date."""
    on = CFG.model_copy(update={"paired_states": CFG.paired_states.model_copy(
        update={"faint_tracks": True, "zone_kinds": ["sam"]})})
    off = CFG.model_copy(update={"paired_states": CFG.paired_states.model_copy(
        update={"faint_tracks": False, "zone_kinds": ["sam"]})})
    faint_a = dets([("fb", "sam", None, 0, 0, 18, 4, 90, 0.27)])
    faint_b = dets([("fa", "sam", None, 2, 1, 18, 4, 90, 0.28)])
    sam_here = ZoneIndex([("sam_site", "sam", 1.0, shapely.box(-100, -100, 100, 100))])
    sam_elsewhere = ZoneIndex([("sam_site", "sam", 1.0, shapely.box(500, 500, 700, 700))])
    gone, kept = (lambda polys: np.tile([12.0, 0.0], (len(polys), 1)),
                  lambda polys: np.tile([12.0, 11.0], (len(polys), 1)))

    def events(cfg, zones, shadow, faint=(faint_a, faint_b), before=None, after=None):
        return object_events(before, after, cfg, zones=zones, faint=faint, evidence=_const(0.9),
                             similarity=_const(0.5), state_reader=_reader({(0, 0): (0.1, 0.6)}),
                             tall_shadow=shadow)

    found = events(on, sam_here, gone)
    assert [(e.kind, e.extra.get("faint")) for e in found] == [("packed", True)]
    assert found[0].explanation.endswith("the detector saw it only faintly on both dates.")
    assert events(off, sam_here, gone) == []
    assert events(on, sam_here, kept) == []             # no shadow backs it
    assert events(on, sam_elsewhere, gone) == []        # not where launchers stand
    assert events(on, None, gone) == []                 # no zones at all
    assert events(on, sam_here, gone, faint=(faint_a, faint_b.iloc[:0])) == []  # one date only
    truck = dets([("t", "vehicle", None, 3, 0, 9, 3, 90, 0.6)])
    assert events(on, sam_here, gone, after=truck) == []  # a reported truck is there
    from detect.change.launchers import paired_state_gate
    assert paired_state_gate(0.1, 0.6, 0.9, 0.5, (12.0, 0.0), on, in_zone=True, faint=True)[0] is None
    assert paired_state_gate(0.1, 0.6, 0.9, 0.5, (12.0, 8.0), on, in_zone=True, faint=True)[0] == "shadow"
    assert paired_state_gate(0.1, 0.9, 0.9, 0.5, (2.0, 0.0), on, in_zone=True, faint=True)[0] == "faint"
    assert paired_state_gate(0.1, 0.6, 0.9, 0.5, (12.0, 0.0), on, in_zone=None, faint=True)[0] == "zone"


def test_a_deployed_launcher_of_a_shadow_casting_type_must_show_its_shadow():
    """With ``deployed_shadow_m2`` an S-400 TEL read deployed needs that much tall shadow on its
    deployed date, whatever the probability its type was read with; other types, packings and
    unknown shadows are not held to it."""
    from detect.change.launchers import paired_state_gate

    pc = CFG.paired_states.model_copy(update={"deployed_shadow_m2": {"S-400 TEL": 10.0}})
    cfg = CFG.model_copy(update={"paired_states": pc})
    deployed = (0.9, 0.1, 0.8, 0.4)  # before, after, changed fraction, NCC

    def gate(shadows, equipment="S-400 TEL", figures=deployed, cfg=cfg):
        return paired_state_gate(*figures, shadows, cfg, in_zone=True, equipment=equipment)[0]

    assert gate((0.0, 3.2)) == "deployed_shadow"
    assert gate((0.0, 15.0)) is None
    assert gate((0.0, 3.2), equipment="92N6E") is None
    assert gate((0.0, 3.2), equipment=None) is None
    assert gate((0.0, float("nan"))) is None
    assert gate((3.2, 0.0), figures=(0.1, 0.9, 0.8, 0.4)) is None  # a packing
    off = CFG.model_copy(update={"paired_states": pc.model_copy(update={"deployed_shadow_m2": {}})})
    assert gate((0.0, 3.2), cfg=off) is None
    with pytest.raises(ValueError, match="unknown air-defence types"):
        CFG.paired_states.model_validate({**CFG.paired_states.model_dump(), "deployed_shadow_m2": {"S-300": 5.0}})


def test_a_packed_launcher_of_a_shadow_casting_type_must_have_shown_its_shadow_before():
    """With ``packing_shadow_m2`` an S-400 TEL read packed needs that much tall shadow on the date
    it was read deployed (before); other types, deployments and unknown shadows are not held to it."""
    from detect.change.launchers import paired_state_gate

    pc = CFG.paired_states.model_copy(update={"packing_shadow_m2": {"S-400 TEL": 4.0}})
    cfg = CFG.model_copy(update={"paired_states": pc})
    packed = (0.1, 0.9, 0.8, 0.4)  # before, after, changed fraction, NCC

    def gate(shadows, equipment="S-400 TEL", figures=packed, cfg=cfg):
        return paired_state_gate(*figures, shadows, cfg, in_zone=True, equipment=equipment)[0]

    assert gate((1.0, 0.0)) == "packing_shadow"
    assert gate((5.0, 0.0)) is None
    assert gate((1.0, 0.0), equipment="92N6E") is None
    assert gate((float("nan"), 0.0)) is None
    assert gate((0.0, 12.0), figures=(0.9, 0.1, 0.8, 0.4)) is None  # a deployment
    off = CFG.model_copy(update={"paired_states": pc.model_copy(update={"packing_shadow_m2": {}})})
    assert gate((1.0, 0.0), cfg=off) is None
    with pytest.raises(ValueError, match="unknown air-defence types"):
        CFG.paired_states.model_validate({**CFG.paired_states.model_dump(), "packing_shadow_m2": {"S-300": 5.0}})


def test_a_type_whose_state_cannot_be_read_changes_state_only_with_a_shadow_behind_it():
    """With ``unreadable_types`` a launcher read likeliest as a Pantsir-S1 gets no state change
    from its reading alone, however far it moved; a tall shadow gone still backs one, and other
    types are not touched."""
    from detect.change.launchers import paired_state_gate

    pc = CFG.paired_states.model_copy(update={"unreadable_types": ["Pantsir-S1"]})
    cfg = CFG.model_copy(update={"paired_states": pc})

    def gate(shadows, equipment="Pantsir-S1", cfg=cfg):
        return paired_state_gate(0.05, 0.95, 0.9, 0.3, shadows, cfg, in_zone=True, equipment=equipment)[0]

    assert gate((0.0, 0.0)) == "unreadable"
    assert gate((float("nan"), float("nan"))) == "unreadable"
    assert gate((12.0, 0.0)) is None  # the shadow of raised parts gone backs the packing
    assert gate((0.0, 0.0), equipment="S-400 TEL") is None
    off = CFG.model_copy(update={"paired_states": pc.model_copy(update={"unreadable_types": []})})
    assert gate((0.0, 0.0), cfg=off) is None
    with pytest.raises(ValueError, match="unknown air-defence types"):
        CFG.paired_states.model_validate({**CFG.paired_states.model_dump(), "unreadable_types": ["S-300"]})


def test_a_long_tall_shadow_gone_decides_a_launchers_state_whatever_the_reading():
    """An erect S-400's 10 m^2 or more of tall shadow gone entirely, in a box that changed by
    half: a packing even though the classifier barely moved (``sure_shadow_m2``). Not with a
    shorter shadow, a box that hardly changed, a reading that moved the other way, a faint
    track, outside the zones, or with the option off."""
    from detect.change.launchers import paired_state_gate

    pc = CFG.paired_states.model_copy(update={"sure_shadow_m2": 10.0, "sure_shadow_min_fraction": 0.5,
                                              "zone_kinds": ["sam"]})
    on = CFG.model_copy(update={"paired_states": pc})
    off = CFG.model_copy(update={"paired_states": pc.model_copy(update={"sure_shadow_m2": None})})

    def gate(before=0.50, after=0.56, changed=0.8, shadows=(20.0, 0.0), cfg=on, **kw):
        return paired_state_gate(before, after, changed, 0.5, shadows, cfg, **{"in_zone": True, **kw})[0]

    assert gate() is None
    assert gate(cfg=off) == "shift"
    assert gate(shadows=(8.0, 0.0)) == "shift"           # backed, not decided
    assert gate(shadows=(20.0, 1.5)) == "shift"          # not gone entirely
    assert gate(changed=0.4) == "shift"
    assert gate(changed=float("nan")) == "shift"
    assert gate(before=0.56, after=0.50) == "shadow"     # read the other way: packed in its shadow
    assert gate(in_zone=False) == "zone"
    assert gate(faint=True) == "shift"
    assert gate(shadows=(0.0, 20.0), before=0.56, after=0.50) is None  # a deployment likewise
    assert pc.min_shift_floor(shadows=True) == 0.0
    assert off.paired_states.min_shift_floor(shadows=True) > 0.0

    before = dets([("s", "sam", None, 0, 0, 13, 3, 90, 0.6)])
    after = dets([("s2", "sam", None, 1, 0, 13, 3, 90, 0.6)])
    sam_here = ZoneIndex([("sam_site", "sam", 1.0, shapely.box(-100, -100, 100, 100))])

    def events(cfg, shadow):
        return [e.kind for e in object_events(
            before, after, cfg, zones=sam_here, evidence=_const(0.8), similarity=_const(0.5),
            state_reader=_reader({(0, 0): (0.50, 0.56)}),
            tall_shadow=lambda polys: np.tile(shadow, (len(polys), 1)))]

    assert events(on, [20.0, 0.0]) == ["packed"]
    assert events(off, [20.0, 0.0]) == []
    assert events(on, [20.0, 18.0]) == []


def test_a_launcher_seen_once_with_its_other_sighting_up_the_lean_line_is_on_a_roof():
    """Roof plant read as a launcher on date 2 only, kept by a `vehicle` on date 1 8.4 m away
    where the two views put a point 9.6 m up (``lone_elevated_m``): its state, read on date 1 at
    the date-2 box, where it is not, is not compared. Without the pair's lean, or with the other
    sighting off that line, it is."""
    after = dets([("r", "sam", None, 0, 0, 10.7, 3.0, 173, 0.38)])
    before = dets([("v", "vehicle", None, 8.4, 0.6, 11.6, 2.9, 172, 0.34)])
    elsewhere = dets([("v", "vehicle", None, 0.6, 8.4, 11.6, 2.9, 172, 0.34)])
    lean = (-0.865, 0.084)  # after - before, per metre of height
    cfg = CFG.model_copy(update={"paired_states": CFG.paired_states.model_copy(
        update={"lone_elevated_m": (4.0, 30.0)})})

    def kinds(before, lean):
        return [e.kind for e in object_events(before, after, cfg, evidence=_const(0.99), similarity=_const(0.47),
                                              state_reader=_reader({(0, 0): (0.94, 0.15)}), lean_per_metre=lean)]

    assert kinds(before, lean) == []
    assert kinds(before, None) == ["deployed"]
    assert kinds(elsewhere, lean) == ["deployed"]
    assert kinds(before, (0.865, -0.084)) == ["deployed"]  # the other way: below the ground


def test_launcher_states_are_gated_on_their_own_similarity():
    """Roof plant read as a launcher looks different in the 4 m disc but realigns along the lean
    line (``state_similarity``): no state event; departures keep their own figure."""
    before = dets([("s", "sam", None, 0, 0, 13, 3, 90, 0.5)])
    after = dets([("a", "sam", None, 1, 1, 13, 3, 90, 0.5)])
    middling = _reader({(0, 0): (0.37, 0.88)})
    common = dict(evidence=_const(0.99), similarity=_const(0.54), state_reader=middling)
    assert [e.kind for e in object_events(before, after, CFG, **common)] == ["packed"]
    assert object_events(before, after, CFG, state_similarity=_const(0.74), **common) == []
    assert [e.kind for e in object_events(before, None, CFG, state_similarity=_const(0.9),
                                          evidence=_const(0.99), similarity=_const(0.2))] == ["departed"]


def test_empty_inputs():
    assert object_events(None, None, CFG) == []
    events = object_events(BEFORE, None, CFG)
    assert len(events) == 4 and all(e.kind == "departed" for e in events)


def test_date_spans():
    assert date_span(D1, D2) == "between 12 and 13 Dec"
    assert date_span(datetime(2024, 11, 30), datetime(2024, 12, 1)) == "between 30 Nov and 1 Dec"
    assert date_span(None, D2) == "between the two images"


def _utm_pair(tmp_path, before: np.ndarray, after: np.ndarray, sun: tuple[float, float] | None = None,
              views: tuple[dict, dict] = ({}, {})):
    """A ScenePair of two 3-band 0.5 m GeoTIFFs (UTM 36N) holding these arrays; with ``sun``
    (azimuth, elevation) an IMD beside each says so, with ``views`` (more IMD fields per date:
    sat_azimuth, sat_elevation) too."""
    import rasterio
    from affine import Affine

    from imagery.maxar import MaxarMetadata, format_imd
    from imagery.pair import ScenePair

    paths = []
    for k, (name, arr) in enumerate((("a.tif", before), ("b.tif", after))):
        path = tmp_path / name
        with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=3,
                           dtype="uint8", crs="EPSG:32636",
                           transform=Affine(0.5, 0, 767000, 0, -0.5, 3923000)) as ds:
            ds.write(arr)
        if sun is not None:
            meta = MaxarMetadata(source="IMD", satellite="WV03", acquired=[D1, D2][k], mean_gsd=0.5,
                                 sun_azimuth=sun[0], sun_elevation=sun[1], **views[k])
            path.with_suffix(".IMD").write_text(format_imd(meta, num_rows=arr.shape[1],
                                                           num_columns=arr.shape[2]))
        paths.append(path)
    return ScenePair(*paths)


def test_tall_shadow_areas_on_a_pair(tmp_path):
    """A launcher with its canisters erect casts a long shadow on date 1; packed on date 2 its
    shadow is a truck's: only date 1 has shadow in the strip only tall parts can reach."""
    from detect.change.shadows import tall_shadow_areas

    rng = np.random.default_rng(1)
    img = (rng.normal(180, 6, (3, 200, 200))).clip(0, 255).astype(np.uint8)
    box = shapely.Polygon(obb_corners(767050, 3922950, 13, 3, 0))  # axis north-south
    top = 3922950 + 6.5  # sun due south at 30 deg: shadows fall north, 1.73 m per m of height
    row = lambda y: int(round((3923000 - y) / 0.5))  # noqa: E731
    erect, packed = img.copy(), img.copy()
    for arr, height in ((erect, 11.2), (packed, 4.0)):
        arr[:, row(top + height * 3 ** 0.5):row(top), 98:102] = 60  # a 2 m wide streak
    pair = _utm_pair(tmp_path, erect, packed, sun=(180.0, 30.0))
    areas = tall_shadow_areas(pair, [box])
    assert areas[0, 0] == pytest.approx(2 * (11.2 - 5.0) * 3 ** 0.5, rel=0.15)  # ~21 m^2
    assert areas[0, 1] < 1.0
    for name, sun in (("no_sun", None), ("low_sun", (180.0, 8.0))):
        (tmp_path / name).mkdir()
        assert np.isnan(tall_shadow_areas(_utm_pair(tmp_path / name, erect, packed, sun=sun), [box])).all()


def test_box_similarity_on_a_pair(tmp_path):
    """NCC inside boxes on a real ScenePair: an unchanged textured patch correlates, a patch
    painted over on date 2 does not."""
    from detect.change.persistence import box_similarity

    rng = np.random.default_rng(0)
    img = (rng.random((3, 200, 200)) * 200 + 20).astype(np.uint8)
    img2 = img.copy()
    img2[:, 20:60, 20:60] = 90  # something left: the pavement is flat now
    pair = _utm_pair(tmp_path, img, img2)
    gone = shapely.box(767000 + 12, 3923000 - 28, 767000 + 28, 3923000 - 12)
    kept = shapely.box(767000 + 60, 3923000 - 90, 767000 + 80, 3923000 - 70)
    outside = shapely.box(768000, 3924000, 768010, 3924010)
    sim = box_similarity(pair, [gone, kept, outside])
    assert np.isnan(sim[0]) or sim[0] < 0.2  # flat after: no correlation (NaN when perfectly flat)
    assert sim[1] > 0.9
    assert np.isnan(sim[2])


def test_box_similarity_searches_for_lean(tmp_path):
    """Content moved 3 px between the dates (lean of a tall object): the plain NCC drops, the
    search (2 m = 4 px at 0.5 m) finds the pattern again; a flattened patch stays uncorrelated."""
    from detect.change.persistence import box_similarity

    rng = np.random.default_rng(1)
    img = (rng.random((3, 200, 200)) * 200 + 20).astype(np.uint8)
    img = np.repeat(np.repeat(img[:, ::2, ::2], 2, axis=1), 2, axis=2)  # 2-px texture
    img2 = img.copy()
    img2[:, 100:160, 103:163] = img[:, 100:160, 100:160]  # leaned 3 px east
    img2[:, 20:60, 20:60] = 90
    pair = _utm_pair(tmp_path, img, img2)
    leaned = shapely.box(767000 + 55, 3923000 - 75, 767000 + 75, 3923000 - 55)
    gone = shapely.box(767000 + 12, 3923000 - 28, 767000 + 28, 3923000 - 12)
    plain = box_similarity(pair, [leaned, gone])
    searched = box_similarity(pair, [leaned, gone], search_m=2.0)
    assert plain[0] < 0.3 and searched[0] > 0.9
    assert np.isnan(searched[1]) or searched[1] < 0.3


def test_box_similarity_walks_the_lean_line_of_tall_things(tmp_path):
    """A tree crown 8.7 m up, seen from nadir on date 1 and from 30 deg east on date 2, moves
    10 px (5 m) west: the 2 m square search misses it, the walk along the lean line to 12 m
    finds it. The same patch moved 10 px east is off that line and stays unmatched."""
    from detect.change.persistence import box_similarity, geometry_lines

    rng = np.random.default_rng(2)
    img = (rng.random((3, 200, 200)) * 200 + 20).astype(np.uint8)
    img = np.repeat(np.repeat(img[:, ::2, ::2], 2, axis=1), 2, axis=2)
    img2 = img.copy()
    img2[:, 100:160, 90:150] = img[:, 100:160, 100:160]  # crowns lean 10 px west
    img2[:, 20:60, 40:100] = img[:, 20:60, 30:90]  # a patch moved 10 px east
    views = ({"sat_azimuth": 0.0, "sat_elevation": 90.0}, {"sat_azimuth": 90.0, "sat_elevation": 60.0})
    pair = _utm_pair(tmp_path, img, img2, sun=(180.0, 40.0), views=views)
    lean, shadow = geometry_lines(pair)
    assert lean == pytest.approx((-3 ** -0.5, 0.0), abs=1e-9)  # west, tan(30 deg) per metre
    assert shadow == pytest.approx((0.0, 0.0), abs=1e-9)  # one sun: shadows stay
    crowns = shapely.box(767000 + 55, 3923000 - 75, 767000 + 70, 3923000 - 55)
    east = shapely.box(767000 + 20, 3923000 - 25, 767000 + 40, 3923000 - 15)
    square = box_similarity(pair, [crowns, east], 2.0)
    walked = box_similarity(pair, [crowns, east], 2.0, lines=[lean, shadow], line_height_m=12.0)
    assert square[0] < 0.3 and walked[0] > 0.9
    assert walked[1] < 0.3
    low = box_similarity(pair, [crowns], 2.0, lines=[lean, shadow], line_height_m=6.0)
    assert low[0] < 0.3  # 6 m lean 3.5 m: short of the crowns' 5 m


def test_geometry_lines_need_both_dates_angles(tmp_path):
    from detect.change.persistence import geometry_lines

    img = (np.random.default_rng(3).random((3, 120, 120)) * 200 + 20).astype(np.uint8)
    assert geometry_lines(_utm_pair(tmp_path, img, img, sun=(180.0, 40.0))) == []


def test_something_of_its_size_read_as_another_class_is_still_there():
    # A launcher read as a helicopter on date 2 (same place, same size) is no departure and no
    # arrival; a truck where an An-124 stood is not the An-124.
    launcher = dets([("s", "sam", None, 0, 0, 15.9, 3.3, 120, 0.57)])
    as_heli = dets([("h", "helicopter", None, 1.8, 0.5, 16.5, 3.1, 300, 0.35)])
    assert object_events(launcher, as_heli, CFG) == []
    an124 = dets([("t", "transport", None, 0, 0, 69, 73, 90, 0.9)])
    truck = dets([("v", "vehicle", None, 3, 2, 8, 3, 90, 0.6)])
    events = object_events(an124, truck, CFG)
    assert [(e.kind, e.cls) for e in events] == [("departed", "transport"), ("arrived", "vehicle")]
    # Another class stands in only right at the place: a faint 20 m "vehicle" (a shadow) 12 m
    # from where a 22 m fighter stood (gate 8 m) does not keep the fighter there.
    fighter = dets([("f", "fighter", None, 0, 0, 22, 15, 10, 0.64)])
    shadow = dets([("v", "vehicle", None, 12, 0, 19.9, 4, 10, 0.23)])
    assert [e.kind for e in object_events(fighter, None, CFG, faint=(None, shadow))] == ["departed"]


def test_the_presence_check_looks_beyond_the_matching_gate():
    # Box centres wander: the same helicopter 9 m off on date 2 (matching gate 8 m) is no event,
    # while a helicopter 30 m away is somebody else.
    before = dets([("h", "helicopter", None, 0, 0, 16, 5, 90, 0.6)])
    nearby = dets([("h2", "helicopter", None, 9, 0, 16, 5, 90, 0.5)])
    assert object_events(before, nearby, CFG) == []
    tight = CFG.model_copy(update={"presence_gate_scale": 1.0})
    assert sorted(e.kind for e in object_events(before, nearby, tight)) == ["arrived", "departed"]
    far = dets([("h3", "helicopter", None, 30, 0, 16, 5, 90, 0.5)])
    assert sorted(e.kind for e in object_events(before, far, CFG)) == ["arrived", "departed"]


def test_lean_search_follows_the_view_angles():
    import math
    from types import SimpleNamespace

    from detect.change.persistence import lean_search_m
    from imagery.maxar import MaxarMetadata

    def scene(zenith, azimuth):
        meta = MaxarMetadata(sat_elevation=90 - zenith, sat_azimuth=azimuth)
        return SimpleNamespace(meta=SimpleNamespace(maxar=meta))

    def pair(a, b):
        return SimpleNamespace(before=scene(*a), after=scene(*b))

    def lean(z, az, h=4.0):
        t = h * math.tan(math.radians(z))
        return (-t * math.sin(math.radians(az)), -t * math.cos(math.radians(az)))

    # steady seed 13: 30.3 deg at azimuth 172.6, then 7.3 deg at 280.5
    expected = math.dist(lean(30.3, 172.6), lean(7.3, 280.5))
    assert lean_search_m(pair((30.3, 172.6), (7.3, 280.5)), 4.0, fallback_m=2.0) == pytest.approx(expected)
    assert 2.0 < expected < 3.0
    assert lean_search_m(pair((5, 90), (5, 90)), 4.0, fallback_m=2.0) == 1.0  # floor: misregistration
    assert lean_search_m(pair((45, 0), (45, 180)), 4.0, fallback_m=2.0) == 4.0  # cap
    no_angles = SimpleNamespace(before=SimpleNamespace(meta=SimpleNamespace(maxar=None)), after=scene(5, 90))
    assert lean_search_m(no_angles, 4.0, fallback_m=2.0) == 2.0


def test_overall_pixel_term_reads_the_whole_aoi_not_the_busiest_zone():
    from detect.change.posture import pixel_fractions

    stats = {"change_fraction": 0.03, "zones": [{"name": "north_apron", "change_fraction": 0.12},
                                                 {"name": "helipad", "change_fraction": 0.02}]}
    fr = pixel_fractions(stats)
    assert fr == {"north_apron": 0.12, "helipad": 0.02, "all": 0.03}
    score, zones = posture_score([], fr, CFG, ZONES)
    assert score < 5  # lean and shadow in one zone are not a posture change of the base
    assert max(z.score for z in zones) > 0  # but the zone itself shows it


def test_two_peaks_on_one_departed_fighter_leave_once():
    # The detector keeps every peak: a fighter read twice, boxes 5 m apart, is one departure,
    # while two fighters parked wingtip to wingtip are two.
    before = dets([
        ("peak1", "fighter", None, 300, 400, 18, 14, 0, 0.40),
        ("peak2", "fighter", None, 304, 403, 21, 15, 10, 0.36),
        ("pair1", "fighter", None, 100, 100, 21, 15, 0, 0.9),
        ("pair2", "fighter", None, 117, 100, 21, 15, 0, 0.9),
    ])
    after = dets([("truck", "vehicle", None, 800, 800, 8, 3, 0, 0.9)])
    events = [e for e in object_events(before, after, CFG) if e.kind == "departed"]
    assert sorted(e.before_id for e in events) == ["pair1", "pair2", "peak1"]


def test_a_departure_can_be_seen_at_a_faint_peak_of_the_object():
    """A Su-25 reported at a box 6 m off, on its revetment's wall (which still correlates), and
    seen faintly right on the jet: with ``similarity_at_peaks`` the faint peak's box, where the
    jet is gone, says it left; a lone box that still correlates is no departure either way."""
    on = CFG.model_copy(update={"evidence": CFG.evidence.model_copy(update={"similarity_at_peaks": True})})
    off = CFG.model_copy(update={"evidence": CFG.evidence.model_copy(update={"similarity_at_peaks": False})})
    before = dets([("su25", "fighter", None, 306, 400, 17, 14, 0, 0.38)])
    faint_before = dets([("ghost", "fighter", None, 300, 400, 16, 14, 0, 0.29)])

    def ncc(polys):  # the wall under the off box correlates, the jet's own place does not
        return np.array([0.64 if p.centroid.x > 303 else 0.15 for p in polys])

    def departed(cfg, faint):
        return [e.before_id for e in object_events(before, None, cfg, evidence=_const(0.6), similarity=ncc,
                                                   faint=(faint, None)) if e.kind == "departed"]

    assert CFG.evidence.similarity_at_peaks  # shipped on
    assert departed(off, faint_before) == []
    assert departed(on, faint_before) == ["su25"]
    assert departed(on, None) == []


def test_event_floor_is_per_class():
    # A launcher's score means less than a fighter's: the same 0.4 departs a fighter, not a launcher.
    before = dets([
        ("su25", "fighter", None, 300, 400, 15.5, 14.4, 0, 0.40),
        ("s400", "sam", None, 100, 100, 13, 3.2, 0, 0.40),
    ])
    after = dets([("truck", "vehicle", None, 800, 800, 8, 3, 0, 0.9)])
    assert CFG.min_confidence_for("fighter") < 0.40 < CFG.min_confidence_for("sam")
    events = [e for e in object_events(before, after, CFG) if e.kind == "departed"]
    assert [e.before_id for e in events] == ["su25"]


@pytest.mark.parametrize("dy, width", [(1, 14), (6, 4)])
def test_a_helicopter_read_as_two_peaks_is_dismantled_once(dy, width):
    # Overlapping peaks, or two fuselage-sized peaks 6 m apart that do not overlap: no two
    # helicopters park that close.
    before = dets([
        ("h1", "helicopter", None, 700, 100, 16, width, 90, 0.9),
        ("h1b", "helicopter", None, 702, 100 + dy, 16, width, 90, 0.5),
    ])
    after = dets([
        ("x1", "helicopter", "dismantled", 701, 100, 14, 3, 90, 0.85),
        ("x1b", "helicopter", "dismantled", 703, 100 + dy, 14, 3, 90, 0.45),
    ])
    events = object_events(before, after, CFG, zones=ZONES, dates=(D1, D2))
    assert [(e.kind, e.before_id) for e in events] == [("dismantled", "h1")]


def test_two_runs_of_the_same_scenes_are_compared_event_by_event(tmp_path):
    """benchmarks/posture_events.py --compare: what one run found and the other did not."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "posture_events", Path(__file__).resolve().parents[1] / "benchmarks" / "posture_events.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    staged = [{"kind": "departed", "x": 0.0, "y": 0.0, "type": "Su-24M"},
              {"kind": "packed", "x": 100.0, "y": 0.0, "type": "S-400 TEL"}]
    runs = {"a": {"withdrawal_0": [staged[0], {"kind": "arrived", "x": 500.0, "y": 0.0}],
                  "steady_9": []},
            "b": {"withdrawal_0": [staged[1]], "steady_9": [staged[0]]}}
    scene = tmp_path / "a" / "withdrawal_0"
    scene.mkdir(parents=True)
    (scene / "scene.json").write_text(json.dumps({"transitions": [{"events": "events.json"}]}))
    (scene / "events.json").write_text(json.dumps({"events": staged}))
    for run, pairs in runs.items():
        for name, events in pairs.items():
            out = tmp_path / run / f"run_{name}"
            out.mkdir(parents=True)
            (out / "report.json").write_text(json.dumps({"events": events}))
    got = bench.compare_runs(tmp_path / "a", tmp_path / "b", "withdrawal", [0, 1], [9])
    assert got == {"only_here": ["withdrawal_0 departed Su-24M"],
                   "only_there": ["withdrawal_0 packed S-400 TEL"], "false_here": 1, "false_there": 1}
    # two grid phases of one work folder: phase 9's run folders are run_p9_NAME beside run_NAME
    for name in runs["b"]:
        (tmp_path / "b" / f"run_{name}").rename(tmp_path / "a" / f"{bench.run_prefix(9)}{name}")
    assert bench.compare_runs(tmp_path / "a", tmp_path / "a", "withdrawal", [0, 1], [9], (0, 9)) == got


def test_off_the_mapped_zones_an_event_needs_a_sure_detection():
    """Trees read as a helicopter, a building's shadow as a fighter: off every zone of the site
    only a sure detection makes an event (outside_zones_min_confidence)."""
    def departures(score, zones):
        before = dets([("su25", "fighter", None, 1500, 1500, 15, 14, 0, score)])
        return [e.kind for e in object_events(before, dets([]), CFG, zones=zones, dates=(D1, D2))]

    assert CFG.min_confidence_for("fighter") < 0.42 < CFG.outside_zones_min_confidence
    assert departures(0.42, ZONES) == []
    assert departures(0.42, ZoneIndex()) == ["departed"]  # no zones mapped: no rule
    assert departures(0.6, ZONES) == ["departed"]
    off = CFG.model_copy(update={"outside_zones_min_confidence": None})
    before = dets([("su25", "fighter", None, 1500, 1500, 15, 14, 0, 0.42)])
    assert [e.kind for e in object_events(before, dets([]), off, zones=ZONES, dates=(D1, D2))] == ["departed"]
    # in a zone the class floor alone applies
    inside = dets([("su24", "fighter", None, 300, 400, 23, 17, 0, 0.42)])
    assert [e.kind for e in object_events(inside, dets([]), CFG, zones=ZONES, dates=(D1, D2))] == ["departed"]
