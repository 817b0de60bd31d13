"""Object matching, events and the posture score."""

from __future__ import annotations

from datetime import datetime, timezone

import geopandas as gpd
import numpy as np
import pytest
import shapely

from detect.change.objects import ZoneIndex, date_span, object_events
from detect.change.posture import posture_score
from detect.change.posture_config import load_posture_config
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


def test_empty_inputs():
    assert object_events(None, None, CFG) == []
    events = object_events(BEFORE, None, CFG)
    assert len(events) == 4 and all(e.kind == "departed" for e in events)


def test_date_spans():
    assert date_span(D1, D2) == "between 12 and 13 Dec"
    assert date_span(datetime(2024, 11, 30), datetime(2024, 12, 1)) == "between 30 Nov and 1 Dec"
    assert date_span(None, D2) == "between the two images"
