"""The command line: JSON contracts and one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from imagery.samples import write_sample_scene


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detect", *args], capture_output=True, text=True,
                          timeout=120)


def test_info_json(tmp_path):
    p = write_sample_scene(tmp_path / "13DEC24083112-M1BS-000000000000_01_P001.tif", size=128)
    r = run_cli("info", str(p), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["crs"] == "EPSG:32636" and d["width"] == 128 and d["height"] == 128
    assert d["count"] == 4 and d["dtype"] == "uint16" and d["gsd_m"] == pytest.approx(0.5)
    assert d["satellite"] == "WV03" and d["acquired"].startswith("2024-12-13T08:31")
    assert d["sun_azimuth"] == pytest.approx(160.4) and d["off_nadir"] == pytest.approx(17.1)


def test_info_text(tmp_path):
    p = write_sample_scene(tmp_path / "a.tif", size=64)
    r = run_cli("info", str(p))
    assert r.returncode == 0 and "EPSG:32636" in r.stdout and "WV03" in r.stdout


def test_align_json(tmp_path, sample_pair):
    a, b = sample_pair
    r = run_cli("align", str(a), str(b), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["shift_px"][0] == pytest.approx(1.37, abs=0.1)
    assert d["shift_px"][1] == pytest.approx(-0.62, abs=0.1)
    assert 0 <= d["quality"] <= 1 and d["quality"] > 0.8
    assert d["overlap_fraction"] == pytest.approx(1.0, abs=0.02)
    assert len(d["shift_m"]) == 2
    assert set(d["radiometric"]) >= {"gain", "offset", "bands"}
    assert len(d["radiometric"]["gain"]) == 4


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (lambda t: t / "missing.tif", "no such file"),
        (lambda t: (t / "junk.tif").write_text("not an image") and t / "junk.tif", "not a raster"),
        (lambda t: t, "folder"),
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, make, expect):
    r = run_cli("info", str(make(tmp_path)))
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr and expect in lines[0]
    assert lines[0].startswith("posturewatch: error:")


def test_align_without_overlap(tmp_path):
    a = write_sample_scene(tmp_path / "a.tif", size=128)
    b = write_sample_scene(tmp_path / "b.tif", size=128, origin=(800_000.0, 3_900_000.0))
    r = run_cli("align", str(a), str(b))
    assert r.returncode != 0 and "do not overlap" in r.stderr and "Traceback" not in r.stderr


def test_sample_command(tmp_path):
    r = run_cli("sample", str(tmp_path / "s.tif"), "--size", "96")
    assert r.returncode == 0 and (tmp_path / "s.tif").exists() and (tmp_path / "s.IMD").exists()
    r = run_cli("sample", str(tmp_path / "t.tif"), "--size", "5")
    assert r.returncode != 0 and "--size" in r.stderr


def test_module_and_console_script_agree():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("posturewatch ")
