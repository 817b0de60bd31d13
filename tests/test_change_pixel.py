"""Pixel change end to end: compute_change, its files, zone and box statistics, the CLI, and
bad input. Scenes are small generated Maxar-style GeoTIFFs (imagery.samples) with a planted
change, plus the simulated apron pairs of detect.change.simulate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer

from detect.change.config import load_change_config
from detect.change.pixel import change_mask, compute_change, fit_arrays, score_arrays
from detect.change.stats import box_change_stats, changed_fraction_evidence
from imagery.errors import ConfigError, InputError
from imagery.geometry import apply_affine
from imagery.pair import ScenePair
from imagery.samples import KHMEIMIM_UTM, write_sample_scene

BLOCK = (slice(200, 240), slice(100, 160))  # rows, cols of the planted change in AFTER


def plant(path: Path, value: int = 1900) -> Path:
    with rasterio.open(path, "r+") as ds:
        data = ds.read()
        data[:, BLOCK[0], BLOCK[1]] = value
        ds.write(data)
    return path


def _has_cuda() -> bool:
    from detect.change.pixel import cuda_available

    return cuda_available()


@pytest.fixture()
def changed_pair(tmp_path):
    a = write_sample_scene(tmp_path / "before_2024-12-12.tif", size=384, seed=5)
    b = plant(write_sample_scene(tmp_path / "after_2024-12-13.tif", size=384, seed=5,
                                 shift=(0.4, -0.3), gain=0.9, offset=0.03, noise=0.004))
    return a, b


def block_polygon(transform) -> shapely.Polygon:
    r, c = BLOCK
    x0, y0 = apply_affine(transform, c.start + 5, r.start + 5)
    x1, y1 = apply_affine(transform, c.stop - 5, r.stop - 5)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def test_a_pair_that_warms_its_caches_scores_exactly_the_same(changed_pair, tmp_path):
    """The warm-up of the change command (blocks decoded while the pair aligns) changes when
    blocks are decoded, never what is read: the same scores, and AFTER's aligning and
    shifted readers share one cache."""
    a, b = changed_pair
    plain = compute_change(ScenePair(a, b), tmp_path / "plain", device="cpu", tile_size=128)
    pair = ScenePair(a, b, prefetch_bytes=64 * 1024 * 1024)
    caches = [src.cache for src in pair.sources]
    assert pair._src_b0.cache is caches[1]
    assert pair._warmup.wait(timeout=60)  # the whole (small) image fits the budget
    assert all(len(c._blocks) == c.n_rows * c.n_cols for c in caches)
    warmed = compute_change(pair, tmp_path / "warmed", device="cpu", tile_size=128)
    assert all(c.decoded == c.n_rows * c.n_cols for c in caches)  # nothing decoded twice
    with rasterio.open(plain.change_path) as p1, rasterio.open(warmed.change_path) as p2:
        np.testing.assert_array_equal(p1.read(1), p2.read(1))
    assert pair.stop_prefetch() == 0  # already stopped by the stream


def test_compute_change_writes_the_contract(changed_pair, tmp_path):
    a, b = changed_pair
    pair = ScenePair(a, b)
    res = compute_change(pair, tmp_path / "out", device="cpu", tile_size=128)
    with rasterio.open(a) as src, rasterio.open(res.change_path) as ds, rasterio.open(res.mask_path) as dm:
        assert ds.count == 1 and ds.dtypes[0] == "float32" and np.isnan(ds.nodata)
        assert dm.count == 1 and dm.dtypes[0] == "uint8" and dm.nodata == 255
        for d in (ds, dm):
            assert d.crs == src.crs and d.transform == src.transform
            assert (d.width, d.height) == (src.width, src.height)
            assert d.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        score, mask = ds.read(1), dm.read(1)
        assert float(ds.tags()["threshold"]) == pytest.approx(res.threshold)
    assert set(np.unique(mask)) <= {0, 1, 255}
    assert np.array_equal(mask == 255, np.isnan(score))
    inner = (slice(BLOCK[0].start + 3, BLOCK[0].stop - 3), slice(BLOCK[1].start + 3, BLOCK[1].stop - 3))
    assert (mask[inner] == 1).mean() > 0.95
    outside = np.ones(mask.shape, bool)
    outside[BLOCK[0].start - 10:BLOCK[0].stop + 10, BLOCK[1].start - 10:BLOCK[1].stop + 10] = False
    assert (mask[outside] == 1).mean() < 0.01
    stats = json.loads(res.stats_path.read_text())
    assert stats["zones"][0]["name"] == "all"
    assert {"change_fraction", "score"} <= set(stats["zones"][0])
    assert 0 < stats["zones"][0]["change_fraction"] < 0.1
    assert stats["alignment"]["shift_px"] and stats["threshold"]["level"] == res.threshold
    assert {"fit_s", "stream_s", "encode_s", "total_s"} <= set(stats["timings"])
    assert stats["settings"]["score"] == "robust"
    # Box statistics, from the files and from arrays, agree and separate change from no change.
    with rasterio.open(res.change_path) as ds:
        t = ds.transform
    quiet = shapely.box(*apply_affine(t, 300, 60), *apply_affine(t, 360, 20))
    for boxes in (box_change_stats(res.change_path, [block_polygon(t), quiet]),
                  box_change_stats(score, [block_polygon(t), quiet], mask=mask, transform=t)):
        assert boxes[0].changed_fraction > 0.95 and boxes[0].mean_score > 5
        assert boxes[1].changed_fraction < 0.05 and boxes[1].mean_score < 2
    ev = changed_fraction_evidence(res.change_path)([block_polygon(t)])
    assert ev.shape == (1,) and ev[0] > 0.95


@pytest.mark.skipif(not _has_cuda(), reason="no CUDA GPU")
def test_compute_change_on_cuda_writes_what_the_cpu_writes(changed_pair, tmp_path):
    """The whole file-to-change.tif path with the torch kernel: same threshold, scores within
    the kernels' float32 tolerance, masks that differ only where a score sits on the threshold."""
    a, b = changed_pair
    res = {dev: compute_change(ScenePair(a, b), tmp_path / dev, device=dev, tile_size=128)
           for dev in ("cpu", "cuda")}
    with rasterio.open(res["cpu"].change_path) as c, rasterio.open(res["cuda"].change_path) as g:
        sc, sg = c.read(1), g.read(1)
    with rasterio.open(res["cpu"].mask_path) as c, rasterio.open(res["cuda"].mask_path) as g:
        mc, mg = c.read(1), g.read(1)
    assert res["cuda"].threshold == pytest.approx(res["cpu"].threshold, rel=1e-3)
    assert np.array_equal(np.isnan(sc), np.isnan(sg))
    ok = ~np.isnan(sc)
    np.testing.assert_allclose(sg[ok], sc[ok], rtol=1e-3, atol=1e-3)
    assert (mc != mg).mean() < 1e-3


def test_nodata_is_255_never_no_change(tmp_path):
    a = write_sample_scene(tmp_path / "a.tif", size=256, seed=2)
    b = write_sample_scene(tmp_path / "b.tif", size=256, seed=2, noise=0.003)
    with rasterio.open(b, "r+") as ds:
        ds.nodata = 0
        data = ds.read()
        data[:, :40, :] = 0
        ds.write(data)
    res = compute_change(ScenePair(a, b), tmp_path / "out", device="cpu")
    with rasterio.open(res.mask_path) as dm, rasterio.open(res.change_path) as ds:
        mask, score = dm.read(1), ds.read(1)
    assert (mask[:40] == 255).all() and np.isnan(score[:40]).all()
    assert (mask[45:] != 255).all()


def test_misregistration_beyond_the_search_is_an_error(tmp_path):
    a = write_sample_scene(tmp_path / "a.tif", size=384, seed=4)
    b = write_sample_scene(tmp_path / "b.tif", size=384, seed=4, shift=(3.0, 2.0))
    pair = ScenePair(a, b, coregister=False)
    with pytest.raises(InputError, match="misregistered"):
        compute_change(pair, tmp_path / "out", device="cpu")
    cfg = load_change_config()
    warn = cfg.model_copy(update={"checks": cfg.checks.model_copy(update={"misregistration": "warn"})})
    res = compute_change(pair, tmp_path / "out2", warn, device="cpu")
    assert any("misregistered" in w for w in res.stats["warnings"])
    # Co-registered by the pair, the same images are fine.
    compute_change(ScenePair(a, b), tmp_path / "out3", device="cpu")


def test_mixed_bit_depths_are_scored_and_reported(tmp_path):
    # 8-bit BEFORE, 11-bit AFTER (the same dtype pair as the kernel test: one compilation).
    a = write_sample_scene(tmp_path / "a.tif", size=256, seed=6, dtype="uint8")
    b = write_sample_scene(tmp_path / "b.tif", size=256, seed=6, noise=0.003)
    res = compute_change(ScenePair(a, b), tmp_path / "out", device="cpu")
    assert any("bit depths differ" in w for w in res.stats["warnings"])
    assert res.stats["change_fraction"] < 0.02


def test_site_zones(tmp_path, changed_pair):
    a, b = changed_pair
    to_ll = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)
    x0, y0 = KHMEIMIM_UTM[0] - 96, KHMEIMIM_UTM[1] + 96  # top-left of the image
    corners = [(x0 - 1, y0 - 20), (x0 + 60, y0 - 20), (x0 + 60, y0 - 61), (x0 - 1, y0 - 61)]
    changed = [to_ll.transform(x, y) for x, y in corners]  # rows 40..122, cols 0..120 of 0.5 m px
    site = tmp_path / "site.yaml"
    site.write_text(json.dumps({
        "name": "testsite", "crs": "EPSG:32636", "centre": list(to_ll.transform(*KHMEIMIM_UTM)),
        "aoi": [list(p) for p in changed],
        "zones": [{"name": "apron", "kind": "apron", "polygon": [list(p) for p in changed]}]}))
    res = compute_change(ScenePair(a, b), tmp_path / "out", device="cpu", site=site)
    (zone,) = res.zones
    assert zone["name"] == "apron" and zone["valid_pixels"] > 1000
    assert zone["change_fraction"] is not None and 0 <= zone["change_fraction"] <= 1


def test_score_arrays_on_a_simulated_apron_pair():
    """Objects that left or arrived rank far above everything else, although the sun moved the
    shadows, the tint changed, AFTER is 0.7 px off and both dates went through JPEG."""
    from scipy.stats import rankdata

    from detect.change.model import PairGeometry
    from detect.change.simulate import SimSettings, simulate_pair

    sim = simulate_pair(5, SimSettings(size=256, n_objects=8))
    valid = np.ones(sim.truth.shape, bool)
    model = fit_arrays(sim.before, sim.after, valid, geometry=PairGeometry(sim.sun, gsd_m=sim.gsd_m))
    s = score_arrays(sim.before, sim.after, valid, model=model)
    assert s.shape == sim.truth.shape and s.dtype == np.float32
    keep = sim.truth != 255
    ranks = rankdata(s[keep])
    pos = sim.truth[keep] == 1
    auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
    assert auc > 0.9
    m = change_mask(s, 3.0, 1)
    assert (m[sim.truth == 1] == 1).mean() > 0.3 and (m[sim.truth == 0] == 1).mean() < 0.01


def test_bad_inputs(tmp_path):
    a = write_sample_scene(tmp_path / "a.tif", size=256, seed=1)
    cloud = write_sample_scene(tmp_path / "cloud.tif", size=256, seed=1)
    with rasterio.open(cloud, "r+") as ds:
        ds.write(np.full((ds.count, ds.height, ds.width), 2000, np.uint16))
    with pytest.raises(InputError):
        compute_change(ScenePair(a, cloud, coregister=False, normalise=False), tmp_path / "o1",
                       device="cpu")
    with pytest.raises(InputError, match="CUDA"):
        compute_change(ScenePair(a, a), tmp_path / "o2", device="cuda") if not _has_cuda() else \
            (_ for _ in ()).throw(InputError("CUDA present: skipped"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("score: robust\nsearch_radius: 9\n")
    with pytest.raises(ConfigError, match="search_radius"):
        load_change_config(bad)
    bad.write_text("scroe: robust\n")
    with pytest.raises(ConfigError):
        load_change_config(bad)
    with pytest.raises(InputError, match="shape"):
        score_arrays(np.zeros((3, 8, 8)), np.zeros((3, 8, 9)))




def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detect", *args], capture_output=True, text=True,
                          timeout=600)


def test_cli_change(changed_pair, tmp_path):
    a, b = changed_pair
    r = run_cli("--quiet", "change", str(a), str(b), "--out", str(tmp_path / "o"), "--json")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["zones"][0]["name"] == "all" and "startup_s" in stats["timings"]
    assert (tmp_path / "o" / "change.tif").exists() and (tmp_path / "o" / "change_mask.tif").exists()
    assert json.loads((tmp_path / "o" / "change_stats.json").read_text())["timings"]["startup_s"] >= 0
    far = write_sample_scene(tmp_path / "far.tif", size=128, origin=(700_000.0, 3_800_000.0))
    r = run_cli("change", str(a), str(far), "--out", str(tmp_path / "o2"))
    assert r.returncode != 0 and "overlap" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o2" / "change.tif").exists()


def test_cpu_path_never_imports_torch(changed_pair, tmp_path):
    a, b = changed_pair
    code = ("import sys; from detect.cli import main; "
            f"rc = main(['--quiet', 'change', {str(a)!r}, {str(b)!r}, '--out', {str(tmp_path / 'o')!r}]); "
            "print(rc, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["0", "False"]


def test_startup_is_measured_from_the_process_start():
    """The start-up figure lies between a known sleep and the wall time seen from outside
    (psutil's create_time, which adds a boot time rounded to whole seconds, did not)."""
    import subprocess
    import sys
    import time

    code = ("import time; time.sleep(0.3); from detect.commands.change import _startup_s; "
            "print(_startup_s())")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    startup = float(out.stdout.strip())
    assert 0.3 <= startup <= wall + 0.02
