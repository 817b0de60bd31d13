"""The whole pipeline on synthetic pairs: outputs, resumability, series, batch on a real
LocalCluster, the HTML report in a headless browser, and the review notebooks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from detect.pipeline import RunOptions, run_pair, run_series

REPO = Path(__file__).resolve().parents[1]


def _pixels_only(**kw) -> RunOptions:
    return RunOptions(site="minibase", detect=False, progress=False, **kw)


def test_run_pair_writes_every_output_and_resumes(minibase, tmp_path):
    a, b = minibase["images"][:2]
    out = tmp_path / "run"
    res = run_pair(a, b, out, _pixels_only())
    for name in ("change.tif", "change_mask.tif", "detections.gpkg", "report.json", "report.html",
                 "item.json", "overlays/before.png", "overlays/after.png", "overlays/change.png"):
        assert (out / name).exists(), name
    rep = json.loads((out / "report.json").read_text())
    assert set(rep) >= {"before", "after", "posture_score", "events", "zones", "timings"}
    assert 0 <= rep["posture_score"] <= 100
    assert {z["name"] for z in rep["zones"]} >= {"north_apron", "helicopter_apron"}
    for z in rep["zones"]:
        assert set(z) >= {"name", "change_fraction", "score"}
    mtime = (out / "change.tif").stat().st_mtime_ns
    res2 = run_pair(a, b, out, _pixels_only())
    assert (out / "change.tif").stat().st_mtime_ns == mtime  # the change stage was skipped
    assert res2.timings["change"] < res.timings["change"]
    # A changed setting re-runs the stage.
    import yaml

    from detect.change.config import load_change_config

    custom = tmp_path / "change.yaml"
    custom.write_text(yaml.safe_dump(load_change_config().model_dump(mode="json")))
    run_pair(a, b, out, _pixels_only(change_config=str(custom)))
    assert (out / "change.tif").stat().st_mtime_ns != mtime
    # ...and so does an edit of the same config file: the key holds its settings, not its name
    mtime = (out / "change.tif").stat().st_mtime_ns
    run_pair(a, b, out, _pixels_only(change_config=str(custom)))
    assert (out / "change.tif").stat().st_mtime_ns == mtime
    doc = load_change_config(str(custom)).model_dump(mode="json")
    doc["noise_floor"] = doc["noise_floor"] * 1.5
    custom.write_text(yaml.safe_dump(doc))
    run_pair(a, b, out, _pixels_only(change_config=str(custom)))
    assert (out / "change.tif").stat().st_mtime_ns != mtime
    assert not list(out.glob("*.part*")) and not list(out.glob(".*staging*"))


def test_detections_are_reused_for_the_same_weights_and_settings_wherever_they_lie(minibase, tmp_path):
    """The detection stage is keyed by the weights' content and the detector's settings: a copy
    of the weights or of the config elsewhere (another checkout, a copied run folder) reuses
    the detections; an edit of the config redoes them."""
    import yaml

    from detect.infer import load_detector_config

    a, b = minibase["images"][:2]
    out = tmp_path / "run"
    shipped = Path(__file__).resolve().parents[1] / "detect" / "weights" / "detector.pt"
    opts = dict(site="minibase", progress=False, report=False)
    run_pair(a, b, out, RunOptions(**opts))
    cached = out / ".posturewatch" / "detections_before.gpkg"
    mtime = cached.stat().st_mtime_ns
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("detector.pt", "detector.pt.sha256"):
        shutil.copy(shipped.with_name(name), elsewhere / name)
    config = elsewhere / "detector.yaml"
    doc = load_detector_config().model_dump(mode="json")
    config.write_text(yaml.safe_dump(doc))
    run_pair(a, b, out, RunOptions(**opts, weights=str(elsewhere / "detector.pt"), detector_config=str(config)))
    assert cached.stat().st_mtime_ns == mtime
    doc["score_threshold"] = doc["score_threshold"] + 0.05
    config.write_text(yaml.safe_dump(doc))
    run_pair(a, b, out, RunOptions(**opts, weights=str(elsewhere / "detector.pt"), detector_config=str(config)))
    assert cached.stat().st_mtime_ns != mtime


def test_series_orders_dates_and_draws_a_timeline(minibase, tmp_path):
    images = list(reversed(minibase["images"]))  # order comes from the dates, not the arguments
    series = run_series(images, tmp_path / "series", _pixels_only())
    assert len(series["transitions"]) == 2
    dates = [t["before_date"] for t in series["transitions"]]
    assert dates == sorted(dates)
    assert (tmp_path / "series" / "timeline.png").exists()
    assert (tmp_path / "series" / "report.html").exists()
    assert len(series["timeline"]) == 2


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "detect", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)


def test_run_cli_bad_input_is_one_line(tmp_path):
    r = _cli("run", str(tmp_path / "nope1.tif"), str(tmp_path / "nope2.tif"), "--out", str(tmp_path / "o"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.strip()] == [f"posturewatch: error: {tmp_path / 'nope1.tif'}: no such file"]
    assert not (tmp_path / "o").exists()  # a mistyped input leaves no output folder behind


@pytest.mark.slow
def test_batch_on_a_local_cluster_equals_an_in_process_run(minibase, tmp_path):
    from detect.batch import run_batch

    cat = tmp_path / "catalog.csv"
    rows = ["path,site,date"] + [f"{p},minibase," for p in minibase["images"]]
    rows.append(f"{tmp_path / 'missing.tif'},minibase,2024-12-20")  # points nowhere
    rows.append(f"{minibase['images'][0]},other,not-a-date")  # unparsable date
    cat.write_text("\n".join(rows) + "\n")
    opts = {"site": "minibase", "detect": False, "progress": False, "report": False}
    local = run_batch(cat, tmp_path / "local", opts, scheduler="local", workers=2)
    inproc = run_batch(cat, tmp_path / "inproc", opts)
    assert local["pairs"] == inproc["pairs"] == 2
    assert local["succeeded"] == 2 and not local["failed"]
    assert len(local["skipped_rows"]) == 2
    assert any("no such file" in s["error"] for s in local["skipped_rows"])
    assert any("cannot parse date" in s["error"] for s in local["skipped_rows"])
    by_dir = {Path(r["out_dir"]).name: r for r in inproc["results"]}
    for r in local["results"]:
        other = by_dir[Path(r["out_dir"]).name]
        assert r["posture_score"] == other["posture_score"]
        import numpy as np
        import rasterio
        with rasterio.open(Path(r["out_dir"]) / "change_mask.tif") as x, \
                rasterio.open(Path(other["out_dir"]) / "change_mask.tif") as y:
            assert np.array_equal(x.read(), y.read())


def test_batch_reports_an_unreachable_scheduler(tmp_path, minibase):
    from detect.batch import run_batch
    from imagery.errors import InputError

    cat = tmp_path / "c.csv"
    cat.write_text("path\n" + "\n".join(str(p) for p in minibase["images"][:2]) + "\n")
    with pytest.raises(InputError, match="does not answer"):
        run_batch(cat, tmp_path / "o", {"detect": False}, scheduler="tcp://127.0.0.1:9")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_report_renders_in_a_headless_browser(minibase, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed")
    a, b = minibase["images"][:2]
    out = tmp_path / "run"
    run_pair(a, b, out, _pixels_only())
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    url = (out / "report.html").resolve().as_uri()
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for ident in ('id="posture-score"', 'id="events"', 'id="overlay-before"', 'id="overlay-after"',
                  'id="change-map"', 'id="zones"', 'id="run-metadata"'):
        assert ident in html, ident
    shot = tmp_path / "report.png"
    r = subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1400,2200", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.exists() and shot.stat().st_size > 20_000


@pytest.mark.slow
@pytest.mark.parametrize("name", ["review_pair", "posture_timeline"])
def test_notebooks_execute_with_images(minibase, tmp_path, name):
    import nbformat
    from nbclient import NotebookClient

    env_key = "POSTUREWATCH_RUN" if name == "review_pair" else "POSTUREWATCH_SERIES"
    target = tmp_path / "target"
    if name == "review_pair":
        run_pair(*minibase["images"][:2], target, _pixels_only())
    else:
        run_series(minibase["images"], target, _pixels_only())
    os.environ[env_key] = str(target)
    try:
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    finally:
        del os.environ[env_key]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2
