"""Object-level change on synthetic scenes with the truth boxes as detections (an oracle
detector): what is left to test is matching, pixel evidence, events and the posture score."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

from detect.change.objects import object_events, split_activity
from detect.change.pixel import compute_change
from detect.change.posture import pixel_fractions, posture_score
from detect.change.posture_config import load_posture_config
from detect.change.sightings import ZoneIndex
from detect.change.stats import box_change_stats
from detect.change.truth import score_events
from imagery.aoi import site_zones
from imagery.config import load_site
from imagery.pair import ScenePair

CFG = load_posture_config()


def _oracle(scene: dict, tmp_path, t: int = 0):
    m = scene["manifest"]
    tr = m["transitions"][t]
    truth = gpd.read_file(scene["dir"] / "truth.gpkg", layer="truth")
    det_a = truth[truth["date"] == tr["before"]].reset_index(drop=True)
    det_b = truth[truth["date"] == tr["after"]].reset_index(drop=True)
    det_a, det_b = det_a.drop(columns="object_id"), det_b.drop(columns="object_id")  # ids are not known
    site = load_site("minibase")
    pair = ScenePair(scene["images"][t], scene["images"][t + 1], aoi=site)
    res = compute_change(pair, tmp_path / "change", site=site)
    zones = ZoneIndex(site_zones(site, pair.grid.crs))

    def evidence(polys):
        return np.array([b.changed_fraction for b in box_change_stats(res.change_path, polys)])

    events = object_events(det_a, det_b, CFG, evidence=evidence, zones=zones,
                           dates=(pair.before.meta.acquired, pair.after.meta.acquired))
    events, activity = split_activity(events, CFG)
    zone_change = pixel_fractions(res.stats)
    score, _ = posture_score(events, zone_change, CFG, zones, activity)
    truth_events = json.loads((scene["dir"] / tr["events"]).read_text())["events"]
    return events, score, truth_events


@pytest.mark.slow
@pytest.mark.parametrize("transition", [0, 1])
def test_withdrawal_events_are_found_with_oracle_detections(minibase, tmp_path, transition):
    events, score, truth = _oracle(minibase, tmp_path, transition)
    assert truth, "the scripted withdrawal has events in every transition"
    check = score_events([e.to_json_dict() for e in events], truth)
    assert check["recall"] >= 0.9, check["missed"]
    assert check["precision"] >= 0.9, check["spurious"]
    assert score > 25
    truth_zones = {t["zone"] for t in truth}
    assert {e.zone for e in events} == truth_zones


@pytest.mark.slow
def test_steady_pair_has_no_events_and_a_low_score(minibase_steady, tmp_path):
    events, score, truth = _oracle(minibase_steady, tmp_path)
    assert truth == []
    assert events == []
    assert score < 10
