"""The README's main job with the shipped detector: the demo finds every scripted event of the
Khmeimim withdrawal, and a steady pair of the same site (other sun, lean, misregistration and
radiometry, but no posture change) yields no event and a low score."""

from __future__ import annotations

import json

import pytest

from detect.infer import SHIPPED_WEIGHTS
from detect.pipeline import RunOptions, run_pair

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHIPPED_WEIGHTS.is_file(), reason="no shipped weights (test_detect_shipped fails)"),
]


def test_demo_finds_every_scripted_event(tmp_path):
    from detect.demo import run_demo

    result, check = run_demo(tmp_path, options=RunOptions(site="khmeimim", progress=False))
    assert check["truth"] >= 5, "the demo scenario stages several events"
    assert check["recall"] == 1.0, [(m["kind"], m.get("explanation")) for m in check["missed"]]
    assert check["precision"] >= 0.9, [(s["kind"], s["explanation"]) for s in check["spurious"]]
    kinds = {e["kind"] for e in result.report["events"]}
    assert {"nose_raised", "dismantled", "packed", "departed"} <= kinds
    assert result.report["posture_score"] >= 25
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "raised its nose" in html


def test_steady_pair_of_the_site_has_no_events(tmp_path):
    from imagery.synth import generate

    manifest = generate("steady", 11, tmp_path / "scene", dates=2, site="khmeimim")
    before, after = (tmp_path / "scene" / d["image"] for d in manifest["dates"])
    result = run_pair(before, after, tmp_path / "run", RunOptions(site="khmeimim", progress=False,
                                                                   report=False))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["events"] == [], [e["explanation"] for e in report["events"]]
    assert result.report["posture_score"] < 10
