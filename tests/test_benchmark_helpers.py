"""Helpers of the benchmarks whose figures go into the model card (a wrong sign there would
make a diagnostic say the opposite of the truth)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def _module(name: str):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_shadow_line_points_away_from_the_sun_and_ends_at_a_tall_objects_reach():
    fp = _module("detector_false_positives")
    s = fp.shadow_direction((180.0, 45.0))  # sun due south, 45 deg up: shadows fall north, 1 m per m
    np.testing.assert_allclose(s, [0.0, 1.0], atol=1e-12)
    truth = np.array([[100.0, 200.0]])
    assert fp.on_line(np.array([100.0, 205.0]), truth, s)  # 5 m north
    assert fp.on_line(np.array([101.0, 205.0]), truth, s)  # 11 deg off the line
    assert not fp.on_line(np.array([100.0, 195.0]), truth, s)  # towards the sun
    assert not fp.on_line(np.array([103.0, 205.0]), truth, s)  # 31 deg off
    assert not fp.on_line(np.array([100.0, 209.0]), truth, s)  # beyond an 8 m object's shadow
    assert not fp.on_line(np.array([100.0, 201.0]), truth, s)  # on the object itself
