"""``posturewatch synth`` / ``imagery.synth.generate``: files, georeference and metadata, truth,
scenario semantics, determinism and input errors. Runs on the compact shipped ``minibase`` site
so that a scene takes seconds."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio

from imagery.errors import ConfigError, InputError
from imagery.geometry import box_from_corners
from imagery.scene import open_scene
from imagery.synth import generate
from imagery.synth.solar import solar_position

EVENT_KINDS = {
    "departed",
    "arrived",
    "nose_raised",
    "nose_lowered",
    "dismantled",
    "reassembled",
    "packed",
    "deployed",
}


@pytest.fixture(scope="module")
def withdrawal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("withdrawal")
    return out, generate("withdrawal", 1, out, gsd=0.5, dates=2, site="minibase", workers=2)


@pytest.fixture(scope="module")
def steady(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("steady")
    return out, generate("steady", 2, out, gsd=0.8, dates=3, site="minibase", workers=2)


def _truth(out: Path):  # type: ignore[no-untyped-def]
    import geopandas as gpd

    gdf = gpd.read_file(out / "truth.gpkg", layer="truth")
    gdf["state"] = [v if isinstance(v, str) else "nominal" for v in gdf["state"]]
    return gdf


def test_files_are_named_by_date_and_listed_in_the_manifest(withdrawal: tuple[Path, dict]) -> None:
    out, m = withdrawal
    assert json.loads((out / "scene.json").read_text()) == m
    days = [d["date"] for d in m["dates"]]
    assert days == ["2024-12-12", "2024-12-13"]
    for d in m["dates"]:
        assert d["date"] in d["image"] and (out / d["image"]).is_file() and (out / d["imd"]).is_file()
        assert Path(d["imd"]).stem == Path(d["image"]).stem
    t = m["transitions"][0]
    assert (out / t["change_mask"]).is_file() and (out / t["events"]).is_file()
    for name in ("truth.geojson", "truth.gpkg", "preview.png"):
        assert (out / name).stat().st_size > 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_images_are_georeferenced_11bit_cogs_whose_imd_reads_back(withdrawal: tuple[Path, dict]) -> None:
    out, m = withdrawal
    for d in m["dates"]:
        scene = open_scene(out / d["image"])
        meta = scene.meta
        assert meta.crs == "EPSG:32636" and meta.width == meta.height == m["size"]
        assert meta.gsd_m == pytest.approx(0.5)
        assert meta.count == 4 and meta.dtype == "uint16" and meta.band_names == ("B", "G", "R", "N")
        mx = meta.maxar
        assert mx is not None and mx.source.startswith("IMD")
        acq = d["acquisition"]
        assert mx.acquired.date().isoformat() == d["date"]
        assert mx.satellite == acq["satellite"] and len(mx.catalog_id) == 16
        # sun angles are the sun's real position over the site at the acquisition time
        az, el = solar_position(mx.acquired, 35.4117, 35.945)
        assert mx.sun_azimuth == pytest.approx(az, abs=0.01) and mx.sun_elevation == pytest.approx(
            el, abs=0.01
        )
        assert mx.sat_elevation == pytest.approx(90.0 - acq["view_zenith"], abs=0.01)
        assert 0 < mx.off_nadir < 30 and mx.mean_gsd == pytest.approx(0.5)
        with rasterio.open(out / d["image"]) as ds:
            assert ds.driver == "GTiff" and ds.overviews(1)  # COG with overviews
            assert ds.block_shapes[0] == (512, 512)
            data = ds.read(out_shape=(4, 256, 256))
        assert data.max() <= 2047 and data.min() >= 0 and data.std() > 10


def test_info_command_reads_the_synthetic_metadata(
    withdrawal: tuple[Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    from detect.cli import main

    out, m = withdrawal
    assert main(["info", str(out / m["dates"][0]["image"]), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["crs"] == "EPSG:32636" and d["satellite"] == m["dates"][0]["acquisition"]["satellite"]
    assert d["acquired"].startswith("2024-12-12") and d["sun_elevation"] > 0 and d["off_nadir"] > 0


def test_truth_boxes_lie_in_the_image_and_ids_are_stable(withdrawal: tuple[Path, dict]) -> None:
    out, m = withdrawal
    gdf = _truth(out)
    assert str(gdf.crs).endswith("32636") and len(gdf) > 40
    x0, _, _, y0, *_ = m["transform"][2], 0, 0, m["transform"][5]
    side = m["size"] * m["gsd"]
    c = gdf.geometry.centroid
    assert ((c.x >= x0) & (c.x < x0 + side) & (c.y <= y0) & (c.y > y0 - side)).all()
    for col in ("class", "state", "score", "heading_deg", "length_m", "width_m", "object_id", "date", "type"):
        assert col in gdf.columns
    assert (gdf["score"] == 1.0).all()
    assert gdf["heading_deg"].between(0, 360, inclusive="left").all()
    # the polygon encodes the heading (nose edge last) and the sizes
    for _, row in gdf.head(20).iterrows():
        b = box_from_corners(np.asarray(row.geometry.exterior.coords))
        assert abs(((b.heading_deg - row["heading_deg"]) + 180) % 360 - 180) < 0.01
        assert b.length == pytest.approx(row["length_m"], abs=0.01)
        assert b.width == pytest.approx(row["width_m"], abs=0.01)
    for _, g in gdf.groupby("object_id"):
        assert g["type"].nunique() == 1 and g["class"].nunique() == 1 and g["date"].is_unique
    # WGS84 GeoJSON with the same features
    gj = json.loads((out / "truth.geojson").read_text())
    assert len(gj["features"]) == len(gdf) and "crs" not in gj
    lon, lat = gj["features"][0]["geometry"]["coordinates"][0][0]
    assert 35.9 < lon < 36.0 and 35.3 < lat < 35.5


def test_withdrawal_events_match_the_truth(withdrawal: tuple[Path, dict]) -> None:
    out, m = withdrawal
    t = m["transitions"][0]
    doc = json.loads((out / t["events"]).read_text())
    ev = doc["events"]
    kinds = [e["kind"] for e in ev]
    assert set(kinds) <= EVENT_KINDS
    # the 13 December 2024 story: two An-124 noses up, a Ka-52 dismantled, SAM packed, departures
    assert sum(1 for e in ev if e["kind"] == "nose_raised" and e["type"] == "An-124") == 2
    assert any(e["kind"] == "dismantled" and e["type"] == "Ka-52" for e in ev)
    assert any(e["kind"] == "packed" and e["class"] == "sam" for e in ev)
    assert "departed" in kinds
    assert all(e["class"] != "vehicle" for e in ev)
    assert doc["vehicle_changes"], "convoys and loading trucks appear in withdrawal"
    gdf = _truth(out)
    before = gdf[gdf["date"] == t["before"]].set_index("object_id")
    after = gdf[gdf["date"] == t["after"]].set_index("object_id")
    for e in ev:
        assert e["zone"] is not None and e["before"] == t["before"] and e["after"] == t["after"]
        oid = e["object_id"]
        if e["kind"] == "departed":
            assert oid in before.index and oid not in after.index
        elif e["kind"] == "arrived":
            assert oid not in before.index and oid in after.index
        else:
            assert before.loc[oid, "state"] != after.loc[oid, "state"]
            assert after.loc[oid, "state"] == {
                "nose_raised": "nose_raised",
                "dismantled": "dismantled",
                "packed": "packed",
            }.get(e["kind"], "nominal")
        if oid in before.index:  # x, y is the object's centre in the before image
            c = before.loc[oid].geometry.centroid
            assert math.hypot(c.x - e["x"], c.y - e["y"]) < 0.05
    # every unchanged posture object keeps its state: no event is missing
    common = before.index.intersection(after.index)
    changed = {e["object_id"] for e in ev}
    for oid in common:
        if oid not in changed:
            assert before.loc[oid, "state"] == after.loc[oid, "state"]
    assert set(before.index) - set(after.index) - {e["object_id"] for e in doc["vehicle_changes"]} <= changed


def test_change_mask_marks_the_changed_objects_only(withdrawal: tuple[Path, dict]) -> None:
    out, m = withdrawal
    t = m["transitions"][0]
    doc = json.loads((out / t["events"]).read_text())
    with rasterio.open(out / t["change_mask"]) as ds:
        mask = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.crs.to_string() == "EPSG:32636"
        inv = ~ds.transform
    assert set(np.unique(mask)) <= {0, 1}
    assert 0 < mask.mean() < 0.05
    for e in doc["events"]:
        col, row = inv @ (e["x"], e["y"])
        assert mask[int(row) - 3 : int(row) + 4, int(col) - 3 : int(col) + 4].any(), e


def test_steady_changes_nothing_but_the_acquisition(steady: tuple[Path, dict]) -> None:
    out, m = steady
    assert len(m["dates"]) == 3 and len(m["transitions"]) == 2
    for t in m["transitions"]:
        doc = json.loads((out / t["events"]).read_text())
        assert doc["events"] == [] and doc["vehicle_changes"] == []
        with rasterio.open(out / t["change_mask"]) as ds:
            assert ds.read(1).max() == 0
    acq = [d["acquisition"] for d in m["dates"]]
    # everything that makes false alarms does vary
    assert len({a["sun_azimuth"] for a in acq}) == 3 and len({a["off_nadir"] for a in acq}) == 3
    assert len({a["gain"][0] for a in acq}) == 3
    shifts = [math.hypot(*a["shift_px"]) for a in acq]
    assert shifts[0] == 0 and all(1.0 <= s <= 3.6 for s in shifts[1:])
    gdf = _truth(out)
    for _, g in gdf.groupby("object_id"):
        assert len(g) == 3 and g["state"].nunique(dropna=False) == 1
        c = g.geometry.centroid
        # the box moves only by lean and misregistration: a few metres at most
        assert np.hypot(c.x - c.x.iloc[0], c.y - c.y.iloc[0]).max() < 6.0


def test_same_seed_same_bytes(steady: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = steady
    again = tmp_path / "again"
    generate("steady", 2, again, gsd=0.8, dates=3, site="minibase", workers=1)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    other = tmp_path / "other"
    generate("steady", 3, other, gsd=0.8, dates=1, site="minibase")
    first = json.loads((out / "scene.json").read_text())["dates"][0]["image"]
    assert (other / first).read_bytes() != (out / first).read_bytes()


def test_reinforcement_runs_the_other_way(tmp_path: Path) -> None:
    m = generate("reinforcement", 4, tmp_path, gsd=0.8, dates=2, site="minibase")
    ev = json.loads((tmp_path / m["transitions"][0]["events"]).read_text())["events"]
    kinds = {e["kind"] for e in ev}
    assert {"arrived", "deployed", "reassembled", "nose_lowered"} <= kinds
    assert not kinds & {"departed", "packed", "dismantled", "nose_raised"}


@pytest.mark.parametrize(
    "kw,dtype,count",
    [
        (dict(bands="rgb", eight_bit=True, jpeg_quality=80), "uint8", 3),
        (dict(bands="pan"), "uint16", 1),
    ],
)
def test_band_and_product_options(tmp_path: Path, kw: dict, dtype: str, count: int) -> None:
    m = generate("steady", 5, tmp_path, gsd=0.8, dates=1, site="minibase", **kw)
    meta = open_scene(tmp_path / m["dates"][0]["image"]).meta
    assert meta.dtype == dtype and meta.count == count
    assert meta.maxar is not None and len(meta.maxar.band_ids) == count


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(scenario="retreat"), "unknown scenario"),
        (dict(gsd=2.0), "out of range"),
        (dict(gsd=0.1), "out of range"),
        (dict(size=512), "AOI needs"),
        (dict(dates=0), "--dates"),
        (dict(bands="bgrn", eight_bit=True, jpeg_quality=80), "--jpeg"),
        (dict(site="nowhere"), "no such config"),
        (dict(start_date="12/12/2024"), "YYYY-MM-DD"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, kw: dict, match: str) -> None:
    args = dict(scenario="steady", seed=0, out=tmp_path / "x", site="minibase", gsd=0.8) | kw
    scenario = args.pop("scenario")
    seed = args.pop("seed")
    out = args.pop("out")
    with pytest.raises(InputError, match=match) as exc:
        generate(scenario, seed, out, **args)
    assert "\n" not in str(exc.value)


def test_bad_layout_in_a_site_config_names_the_field(tmp_path: Path) -> None:
    import yaml

    from imagery.config import load_site

    data = load_site("minibase").model_dump(mode="json")
    data["layout"]["stands"][0]["kind"] = "battleship"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"layout at stands\.0\.kind"):
        generate("steady", 0, tmp_path / "o", site=str(bad), gsd=0.8)
    data["layout"]["stands"][0]["kind"] = "heavy"
    data["layout"]["stands"][0]["zone"] = "moon_base"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="moon_base"):
        generate("steady", 0, tmp_path / "o", site=str(bad), gsd=0.8)


def test_cli_prints_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from detect.cli import main

    rc = main(["synth", "--scenario", "nope", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "unknown scenario" in err


def test_acquisition_times_are_morning_passes(steady: tuple[Path, dict]) -> None:
    _, m = steady
    for d in m["dates"]:
        t = datetime.fromisoformat(d["acquisition"]["acquired"].replace("Z", "+00:00"))
        assert 7.5 <= t.hour + t.minute / 60 <= 9.5


@pytest.mark.parametrize("scenario", ["withdrawal", "reinforcement"])
def test_series_events_replay_the_truth(tmp_path: Path, scenario: str) -> None:
    """Over N dates, applying each transition's events to the objects of the first date gives
    exactly the posture objects (and states) of every later date."""
    m = generate(scenario, 7, tmp_path, gsd=0.8, dates=4, site="minibase")
    assert len(m["transitions"]) == 3
    gdf = _truth(tmp_path)
    posture = gdf[gdf["class"] != "vehicle"]
    state = {r.object_id: r.state for r in posture[posture["date"] == m["dates"][0]["date"]].itertuples()}
    after_state = {"nose_raised": "nose_raised", "dismantled": "dismantled", "packed": "packed"}
    n_events = 0
    for t in m["transitions"]:
        for e in json.loads((tmp_path / t["events"]).read_text())["events"]:
            assert e["kind"] in EVENT_KINDS
            n_events += 1
            if e["kind"] == "departed":
                del state[e["object_id"]]
            elif e["kind"] == "arrived":
                assert e["object_id"] not in state
                state[e["object_id"]] = e["state_after"] or "nominal"
            else:
                state[e["object_id"]] = after_state.get(e["kind"], "nominal")
        now = posture[posture["date"] == t["after"]]
        assert state == {r.object_id: r.state for r in now.itertuples()}
    assert n_events >= 10
