"""The README's main job with the shipped detector, on the Khmeimim withdrawal demo and a steady
pair of the same site (other sun, lean, misregistration and radiometry, no posture change).

The goal (issue 6) is every scripted event found and nothing on a steady pair. The shipped
weights find the raised An-124 visors, the dismantled helicopters and 3 of the 4 departed
fighters, but only 7 of the 10 packed launchers (14 of 18; benchmarks/RESULTS.md; `python
benchmarks/posture_events.py` measures recall per event kind). These tests hold what is measured
so that a regression fails: what the demo reports is real (precision), the December 2024
headline events are found, and the steady pair stays silent with a posture score under 10."""

from __future__ import annotations

import json

import pytest

from detect.infer import SHIPPED_WEIGHTS
from detect.pipeline import RunOptions, run_pair

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHIPPED_WEIGHTS.is_file(), reason="no shipped weights (test_detect_shipped fails)"),
]


def test_demo_reports_real_events_and_finds_the_departures(tmp_path):
    from detect.demo import run_demo

    result, check = run_demo(tmp_path, options=RunOptions(site="khmeimim", progress=False))
    assert check["truth"] >= 5, "the demo scenario stages several events"
    assert check["precision"] >= 0.9, [(s["kind"], s["explanation"]) for s in check["spurious"]]
    departed = [m for m in check["missed"] if m["kind"] == "departed"]
    n_departed = sum(1 for e in result.report["events"] if e["kind"] == "departed")
    assert n_departed >= 3 and len(departed) <= 1, departed  # measured: 3 of the 4 fighters
    missed = {m["kind"] for m in check["missed"]}
    assert not missed & {"nose_raised", "dismantled"}, check["missed"]  # measured: 2/2 and 2/2
    assert check["recall"] >= 0.7  # measured 13/18 (14 before the AOI lattice); the goal is 1.0 (see the module docstring)
    assert result.report["posture_score"] >= 25
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "left between 12 and 13 Dec" in html


def test_steady_pair_of_the_site_has_no_events(tmp_path):
    from imagery.synth import generate

    manifest = generate("steady", 11, tmp_path / "scene", dates=2, site="khmeimim")
    before, after = (tmp_path / "scene" / d["image"] for d in manifest["dates"])
    result = run_pair(before, after, tmp_path / "run", RunOptions(site="khmeimim", progress=False,
                                                                   report=False))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["events"] == [], [e["explanation"] for e in report["events"]]
    # Measured 0.7 (the goal: < 10): no event, a little vehicle activity, and pixel
    # change over the whole AOI below the floor.
    assert result.report["posture_score"] < 10
