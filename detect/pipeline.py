"""The whole pipeline on a pair of dates (and a series): align, detect, pixel change, object
events, posture score, report. Every file of DESIGN.md section 5 is written here, atomically,
and a rerun skips the stages whose inputs and settings did not change (:mod:`detect.stages`).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from detect.geoframe import detections_to_crs
from imagery.aoi import reproject_geometry
from imagery.atomic import atomic_write_text
from imagery.errors import InputError
from imagery.scene import Scene, open_scene

if False:  # pragma: no cover - typing only
    from imagery.pair import ScenePair


@dataclass
class RunOptions:
    """Settings of a run (they enter the stage keys, so changing one re-runs what it affects)."""

    site: str | None = None
    aoi: str | None = None
    device: str = "auto"
    batch_size: int | None = None
    weights: str | None = None
    detector_config: str | None = None
    change_config: str = "change"
    posture_config: str = "posture"
    pixel_gsd: float | None = None
    detect: bool = True
    progress: bool = True
    report: bool = True
    max_event_chips: int = 24

    def key_settings(self, *names: str) -> dict[str, Any]:
        d = asdict(self)
        return {n: d[n] for n in names}


@dataclass
class PairResult:
    out_dir: Path
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, name: str) -> Any:
        timer = self

        class _Ctx:
            def __enter__(self) -> None:
                self.t0 = time.perf_counter()

            def __exit__(self, *exc: object) -> None:
                spent = time.perf_counter() - self.t0
                timer.timings[name] = round(timer.timings.get(name, 0.0) + spent, 3)

        return _Ctx()


def _say(options: RunOptions, msg: str) -> None:
    if options.progress:
        print(f"posturewatch: {msg}", flush=True)


_DETECTORS: dict[tuple[Any, ...], Any] = {}


def _detector_key(options: RunOptions, config: Any = None) -> tuple[Any, ...]:
    """What makes a loaded detector the one ``options`` ask for: the weights file as it is now
    and the config's settings (``config``: already loaded), not its name (a notebook that edits
    detector.yaml or retrains the weights in place and runs again gets a fresh detector)."""
    from detect.infer import load_detector_config
    from detect.stages import file_identity

    settings = (config or load_detector_config(options.detector_config)).model_dump(mode="json")
    weights = json.dumps(file_identity(options.weights), sort_keys=True) if options.weights else None
    return (weights, options.device, options.batch_size, json.dumps(settings, sort_keys=True))


def get_detector(options: RunOptions) -> Any:
    """One detector per (weights, device, config) per process: loading costs a second."""
    from detect.infer import Detector, load_detector_config

    config = load_detector_config(options.detector_config)
    key = _detector_key(options, config)
    if key not in _DETECTORS:
        _DETECTORS[key] = Detector(options.weights, device=options.device, batch_size=options.batch_size,
                                   config=config)
    return _DETECTORS[key]


def detect_scene_cached(scene: Scene, aoi: Any, out_path: Path, options: RunOptions, record: Any,
                        stage: str) -> tuple[Any, Any]:
    """(detections, faint detections) of one scene, reused from ``out_path`` when nothing
    changed; see :meth:`detect.infer.Detector.run_with_faint`."""
    import geopandas as gpd

    from detect.stages import stage_key
    from imagery.writers import write_vectors

    det = get_detector(options)
    # Weights are known by their content (sha256) and the detector's config by its settings, not
    # by where either file lies: the same weights or config in another checkout, or a copy of a
    # run folder's config, reuse the detections, while an edit in place redoes them.
    # Weights that differ only by a network the change stage alone reads keep their detections
    # (LoadedWeights.detection_sha256).
    inputs = [scene.path] if det.weights_sha256 else [scene.path, det.weights_path or ""]
    key = stage_key(inputs,
                    {**options.key_settings("pixel_gsd", "site", "aoi"),
                     "detector_settings": det.config.model_dump(mode="json"),
                     "weights_sha256": det.detection_sha256, "layers": ["detections", "faint"],
                     # detections made before AOI crops kept the 32 px lattice are redone
                     "aoi_lattice": 32})
    if record.done(stage, key):
        return (gpd.read_file(out_path, layer="detections"), gpd.read_file(out_path, layer="faint"))
    gdf, faint = det.run_with_faint(scene, aoi, progress=options.progress)
    write_vectors(out_path, {"detections": gdf, "faint": faint})
    record.record(stage, key, [out_path], {"count": len(gdf), "faint": len(faint)})
    return gdf, faint


def _aoi_in(pair: Any, scene: Any) -> Any:
    """The pair's AOI (grid CRS) in a scene's own CRS, where the detector expects it."""
    if pair.aoi is None:
        return None
    return reproject_geometry(pair.aoi, pair.grid.crs, scene.meta.crs)


def _lonlat_fn(crs: str | None) -> Callable[[float, float], tuple[float, float]] | None:
    if crs is None:
        return None
    from imagery.crs import transformer

    to_lonlat = transformer(crs, "EPSG:4326")

    def f(x: float, y: float) -> tuple[float, float]:
        lon, lat = to_lonlat(np.array([x]), np.array([y]))
        return round(float(lon[0]), 7), round(float(lat[0]), 7)

    return f


def run_pair(before: str | os.PathLike[str], after: str | os.PathLike[str],
             out_dir: str | os.PathLike[str], options: RunOptions | None = None) -> PairResult:
    """BEFORE/AFTER -> every output file in ``out_dir``; returns the report dictionary."""

    from detect.change.objects import activity_by_zone, object_events, split_activity
    from detect.change.posture import pixel_fractions, posture_score
    from detect.change.posture_config import load_posture_config
    from detect.change.sightings import ZoneIndex
    from detect.stages import StageRecord
    from imagery.aoi import site_zones
    from imagery.atomic import make_out_dir
    from imagery.config import load_site
    from imagery.pair import ScenePair

    options = options or RunOptions()
    timer = _Timer()
    posture_cfg = load_posture_config(options.posture_config)
    site = load_site(options.site) if options.site else None

    with timer("align"):
        _say(options, "aligning the two dates")
        pair = ScenePair(before, after, aoi=site if site is not None else options.aoi,
                         pixel_gsd=options.pixel_gsd)
    # The folder is made once both inputs opened and overlap: a typo in a path leaves nothing.
    out = make_out_dir(out_dir)
    record = StageRecord(out)
    # Objects of both dates are compared in one projected CRS (the grid's, or its UTM zone when
    # the grid is geographic); each date's detections come in its own model grid's CRS.
    work_crs = pair.metric_crs
    zones = ZoneIndex(site_zones(site, work_crs) if site is not None else [])

    det_a = det_b = faint_a = faint_b = None
    if options.detect:
        with timer("detect_before"):
            _say(options, f"detecting objects in {Path(before).name}")
            det_a, faint_a = detect_scene_cached(pair.before, _aoi_in(pair, pair.before),
                                                 record.state_dir / "detections_before.gpkg",
                                                 options, record, "detect_before")
        with timer("detect_after"):
            _say(options, f"detecting objects in {Path(after).name}")
            det_b, faint_b = detect_scene_cached(pair.after, _aoi_in(pair, pair.after),
                                                 record.state_dir / "detections_after.gpkg",
                                                 options, record, "detect_after")
        det_a, faint_a, det_b, faint_b = (detections_to_crs(d, work_crs)
                                          for d in (det_a, faint_a, det_b, faint_b))

    with timer("change"):
        _say(options, "scoring pixel change")
        change = run_change_stage(pair, out, options, record, site)

    with timer("posture"):
        dates = (pair.before.meta.acquired, pair.after.meta.acquired)
        change_path = Path(change["change_path"])

        def on_grid(polys: Sequence[Any]) -> list[Any]:
            # work CRS -> the grid's (change.tif and the pair's sources live there), all at once
            return list(reproject_geometry(np.asarray(polys, dtype=object), work_crs, pair.grid.crs))

        def evidence(polys: Sequence[Any]) -> np.ndarray:
            from detect.change.stats import box_change_stats

            return np.array([b.changed_fraction for b in box_change_stats(change_path, on_grid(polys))])

        from detect.change.persistence import box_similarity, geometry_lines, lean_search_m

        search_m = lean_search_m(pair, posture_cfg.evidence.lean_height_m,
                                 fallback_m=posture_cfg.evidence.similarity_search_m)
        lines = geometry_lines(pair)

        def similarity(polys: Sequence[Any]) -> np.ndarray:
            return box_similarity(pair, on_grid(polys), search_m)

        def state_similarity(polys: Sequence[Any]) -> np.ndarray:
            return box_similarity(pair, on_grid(polys), search_m, lines=lines[:1],  # the lean line
                                  line_height_m=posture_cfg.paired_states.lean_line_height_m)

        def presence_similarity(polys: Sequence[Any]) -> np.ndarray:
            return box_similarity(pair, on_grid(polys), search_m, lines=lines,
                                  line_height_m=posture_cfg.evidence.presence_line_height_m)

        def tall_shadow(polys: Sequence[Any]) -> np.ndarray:
            from detect.change.shadows import tall_shadow_areas

            pc = posture_cfg.paired_states
            return tall_shadow_areas(pair, on_grid(polys), low_m=pc.shadow_low_m, high_m=pc.shadow_high_m)

        def read_states(boxes: np.ndarray, classes: list[str]) -> np.ndarray:
            return get_detector(options).read_state_pairs(pair.before, pair.after, boxes, classes,
                                                          crs=work_crs)

        def read_types(boxes: np.ndarray) -> np.ndarray:
            return get_detector(options).read_air_defence_types(pair.before, pair.after, boxes, crs=work_crs)

        to_lonlat = _lonlat_fn(work_crs)
        all_events = object_events(det_a, det_b, posture_cfg, evidence=evidence, zones=zones, dates=dates,
                                   to_lonlat=to_lonlat, faint=(faint_a, faint_b),
                                   similarity=similarity, presence_similarity=presence_similarity,
                                   state_similarity=state_similarity,
                                   state_reader=read_states,
                                   tall_shadow=tall_shadow, type_reader=read_types,
                                   lean_per_metre=lines[0] if lines else None) if options.detect else []
        events, activity = split_activity(all_events, posture_cfg)
        zone_change = pixel_fractions(change)
        score, zone_scores = posture_score(events, zone_change, posture_cfg, zones, activity)
        event_dicts = [e.to_json_dict() for e in events]
        if options.detect:  # each date's launchers named from that date's image
            det = get_detector(options)
            det_a = det.name_air_defence(det_a, pair.before, crs=work_crs)
            det_b = det.name_air_defence(det_b, pair.after, crs=work_crs)
        _write_detections(out / "detections.gpkg", det_a, det_b, event_dicts, work_crs)

    report = {
        "site": site.name if site else None,
        "before": pair.before.meta.to_json_dict(),
        "after": pair.after.meta.to_json_dict(),
        "posture_score": round(score, 1),
        "objects_crs": work_crs,  # of the events' x, y and of detections.gpkg
        "events": event_dicts,
        "zones": [z.to_json_dict() for z in zone_scores] or [
            {"name": "all", "change_fraction": zone_change.get("all"), "score": round(score, 1)}],
        "activity": activity_by_zone(activity),
        "timings": timer.timings,
        "alignment": {k: v for k, v in pair.to_json_dict().items() if k not in ("before", "after")},
        "change": {k: v for k, v in change.items() if k not in ("zones",)},
        "detections": {"before": None if det_a is None else len(det_a),
                       "after": None if det_b is None else len(det_b)},
        "inventory": {"before": inventory(det_a, posture_cfg.paired_states.type_min_probability),
                      "after": inventory(det_b, posture_cfg.paired_states.type_min_probability)},
        "settings": asdict(options),
        "versions": _versions(options),
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "outputs": ["change.tif", "change_mask.tif", "detections.gpkg", "report.json", "report.html",
                    "overlays/", "item.json"],
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=str))
    if options.report:
        with timer("report"):
            _say(options, "drawing the report")
            from detect.report_build import build_report_files

            build_report_files(out, report, pair, det_a, det_b, max_chips=options.max_event_chips)
        report["timings"] = timer.timings
        atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=str))
        _write_stac(out, report, pair)
    return PairResult(out, report, timer.timings)


def run_change_stage(pair: ScenePair, out: Path, options: RunOptions, record: Any,
                     site: Any) -> dict[str, Any]:
    """Pixel change (``change.tif``, ``change_mask.tif``, ``change_stats.json``), resumable."""
    from detect.change.config import load_change_config
    from detect.change.pixel import compute_change
    from detect.stages import stage_key

    key = stage_key([pair.before.path, pair.after.path],
                    {**options.key_settings("change_config", "site", "aoi", "pixel_gsd", "device"),
                     "change_settings": load_change_config(options.change_config).model_dump(mode="json")})
    stats_path = out / "change_stats.json"
    if record.done("change", key):
        return _change_summary(json.loads(stats_path.read_text()), out)
    result = compute_change(pair, out, config=options.change_config, device=options.device, site=site,
                            progress=options.progress)
    record.record("change", key, [result.change_path, result.mask_path, result.stats_path])
    return _change_summary(json.loads(result.stats_path.read_text()), out)


def _change_summary(stats: dict[str, Any], out: Path) -> dict[str, Any]:
    """What the report keeps of ``change_stats.json`` (the alignment is reported once)."""
    keep = {k: v for k, v in stats.items() if k not in ("alignment", "settings", "model")}
    keep["change_path"] = str(out / stats.get("outputs", {}).get("change", "change.tif"))
    keep["mask_path"] = str(out / stats.get("outputs", {}).get("mask", "change_mask.tif"))
    return keep


def inventory(gdf: Any, sure: float) -> dict[str, int] | None:
    """What the detector counts on one date: detections by class, the air-defence ones by the
    equipment named with at least ``sure`` (the rest as "sam, type unsure"). None: no detection
    run. An analyst compares the two dates' columns before reading the events."""
    if gdf is None:
        return None
    if not len(gdf):
        return {}
    names = gdf["class"].astype(str)
    if "equipment" in gdf:
        p = gdf["equipment_probability"].astype(float).fillna(0.0)
        named = (names == "sam") & (p >= sure) & gdf["equipment"].notna()
        names = names.where(names != "sam", "sam, type unsure").where(~named, gdf["equipment"].astype(str))
    return {str(k): int(v) for k, v in names.value_counts().sort_index().items()}


def _write_detections(path: Path, det_a: Any, det_b: Any, events: list[dict[str, Any]],
                      crs: str | None) -> None:
    """Both dates' detections and the events, in the CRS the objects were compared in."""
    import geopandas as gpd
    import shapely

    from imagery.writers import write_vectors
    empty = gpd.GeoDataFrame({"class": [], "state": [], "score": []}, geometry=[], crs=crs)
    layers = {"before": det_a if det_a is not None else empty,
              "after": det_b if det_b is not None else empty}
    ev = gpd.GeoDataFrame(
        [{k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
          for k, v in e.items() if k not in ("x", "y")}
         | {"x": e["x"], "y": e["y"]} for e in events],
        geometry=[shapely.Point(e["x"], e["y"]) for e in events], crs=crs) if events else \
        gpd.GeoDataFrame({"kind": [], "class": [], "confidence": [], "explanation": []}, geometry=[], crs=crs)
    layers["events"] = ev
    write_vectors(path, layers)


def _write_stac(out: Path, report: dict[str, Any], pair: Any) -> None:
    import shapely
    from pyproj import CRS

    from imagery.aoi import reproject_geometry
    from imagery.writers import stac_item, write_stac_item

    geom = bbox = None
    epsg = None
    if pair.grid.crs is not None:
        foot = reproject_geometry(pair.grid.footprint, pair.grid.crs, "EPSG:4326")
        geom, bbox = shapely.geometry.mapping(foot), list(foot.bounds)
        epsg = CRS.from_user_input(pair.grid.crs).to_epsg()
    when = pair.after.meta.acquired
    tiff = "image/tiff; application=geotiff; profile=cloud-optimized"
    assets = {
        "change": {"href": "change.tif", "type": tiff, "roles": ["data"], "title": "change score (float32)"},
        "change_mask": {"href": "change_mask.tif", "type": tiff, "roles": ["data"],
                        "title": "change mask (1 change, 0 none, 255 nodata)"},
        "detections": {"href": "detections.gpkg", "type": "application/geopackage+sqlite3",
                       "roles": ["data"]},
        "report": {"href": "report.html", "type": "text/html", "roles": ["overview"]},
        "report_json": {"href": "report.json", "type": "application/json", "roles": ["metadata"]},
    }
    props = {"posturewatch:posture_score": report["posture_score"],
             "posturewatch:events": len(report["events"]),
             "posturewatch:before": report["before"]["path"], "posturewatch:after": report["after"]["path"],
             "posturewatch:version": report["versions"].get("posturewatch"),
             "posturewatch:settings": report["settings"]}
    item_id = f"posturewatch-{Path(report['before']['path']).stem}-{Path(report['after']['path']).stem}"
    item = stac_item(item_id, geometry=geom, bbox=bbox, when=when, assets=assets, properties=props, epsg=epsg)
    write_stac_item(out / "item.json", item)


def _versions(options: RunOptions) -> dict[str, Any]:
    from detect import __version__

    v: dict[str, Any] = {"posturewatch": __version__}
    if options.detect:
        det = _DETECTORS.get(_detector_key(options))
        if det is not None:
            v["weights"] = str(det.weights_path) if det.weights_path else None
            v["weights_sha256"] = det.weights_sha256
            v["device"] = det.device
    return v


# ---------------------------------------------------------------------------------------------
# Series
# ---------------------------------------------------------------------------------------------

def date_of(path: str | os.PathLike[str], scene: Scene | None = None) -> datetime:
    """Acquisition time from metadata, else from the file name; an error names the file."""
    scene = scene or open_scene(path)
    if scene.meta.acquired is not None:
        return scene.meta.acquired
    raise InputError(f"{path}: cannot tell its date (no Maxar/STAC metadata and no date in the file name)")


def run_series(images: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
               options: RunOptions | None = None) -> dict[str, Any]:
    """N dates -> N-1 transitions (each a full pair run in its own folder) and a timeline."""
    from detect.change.posture import timeline

    options = options or RunOptions()
    if len(images) < 2:
        raise InputError("a series needs at least two images")
    dated = sorted(((date_of(p), Path(p)) for p in images), key=lambda t: t[0])
    out = Path(out_dir)
    transitions = []
    for (d1, p1), (d2, p2) in itertools.pairwise(dated):
        sub = out / f"{d1:%Y-%m-%d}_{d2:%Y-%m-%d}"
        res = run_pair(p1, p2, sub, options)
        transitions.append({"before": str(p1), "after": str(p2), "before_date": d1.isoformat(),
                            "after_date": d2.isoformat(), "folder": sub.name,
                            "posture_score": res.report["posture_score"], "events": res.report["events"]})
    tl = timeline(transitions)
    series = {"images": [str(p) for _, p in dated], "dates": [d.isoformat() for d, _ in dated],
              "transitions": transitions, "timeline": tl}
    atomic_write_text(out / "series.json", json.dumps(series, indent=2, default=str))
    if options.report:
        from detect.report_build import build_series_report

        build_series_report(out, series)
    return series


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
