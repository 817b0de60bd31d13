"""``generate()``: write a synthetic multi-date scene of a site with exact ground truth.

Output folder (``out``), for a site ``S`` and dates ``D1..Dn``:

* ``S_<Dk>.tif``: georeferenced COG in the site CRS, uint16 11-bit B,G,R,N by default (or RGB,
  panchromatic, or 8-bit DRA-stretched); ``S_<Dk>.IMD`` beside it (Maxar-style, read back by
  ``posturewatch info`` / ``open_scene``).
* ``truth.geojson`` (WGS84, RFC 7946) and ``truth.gpkg`` (native CRS, layer ``truth``): one
  oriented box per object per date (``class``, ``state``, ``score`` 1, ``heading_deg``,
  ``length_m``, ``width_m``, ``object_id`` stable across dates, ``date``, ``type``, ``zone``,
  ``image``). Boxes are where each object *appears* in that image: its ground footprint moved by
  the off-nadir lean of its body height and by that date's deliberate misregistration.
* ``change_<D1>_<D2>.tif`` per transition: uint8 COG on the earlier image's grid, 1 where an object
  appeared, disappeared, changed state or moved (silhouettes as seen on either date, registered
  to the earlier grid, without shadows), else 0.
* ``events_<D1>_<D2>.json`` per transition: the posture events (``kind``, ``object_id``,
  ``class``, ``type``, ``x``, ``y`` in the site CRS, ``lon``, ``lat``, ``zone``, ``before``,
  ``after``) and, separately, ``vehicle_changes``.
* ``scene.json``: the manifest (settings, per-date acquisition, files); ``preview.png``.

Same arguments, same bytes: every random draw comes from a generator seeded by ``seed`` and a
fixed stream number (and the date, tile or object where it applies).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from affine import Affine

from imagery.atomic import atomic_write_bytes, atomic_write_text, make_out_dir
from imagery.config import SiteConfig, load_site
from imagery.errors import InputError
from imagery.geometry import obb_corners
from imagery.maxar import format_imd
from imagery.synth import SCENARIOS
from imagery.synth.acquisition import Acquisition, make_acquisitions
from imagery.synth.catalog import ObjectSpec, cached_model, make_object, scheme_for
from imagery.synth.ground import GroundLook, LowField
from imagery.synth.layout import (
    LayoutSpec,
    SiteFrame,
    Stand,
    ground_layout,
    parse_layout,
    row_fill,
    stand_leadin,
    stand_markings,
    stands,
)
from imagery.synth.render import SHIFT, Placed, View
from imagery.synth.scenario import Timeline, Track, add_ground_support, changes, populate, script
from imagery.synth.sensor import (
    bank_noise,
    blur_and_sharpen,
    display_8bit,
    jpeg_roundtrip,
    pan_from_bands,
    to_dn,
)
from imagery.synth.window import World, render_radiance
from imagery.writers import write_cog, write_vectors

GSD_RANGE = (0.25, 0.8)
MAX_SIZE = 16384
MAX_DATES = 30
BANDS = {
    "bgrn": (("B", "G", "R", "N"), (0, 1, 2, 3), "BGRN"),
    "rgb": (("R", "G", "B"), (2, 1, 0), "RGB"),
    "pan": (("P",), (0, 1, 2, 3), "P"),
}
TILE = 1024
MARGIN = 12
CLASS_COLOURS = {
    "transport": (255, 80, 80),
    "fighter": (255, 200, 0),
    "helicopter": (0, 220, 255),
    "sam": (255, 0, 255),
    "vehicle": (120, 255, 120),
    "airliner": (255, 255, 255),
}


@dataclass(frozen=True)
class SceneGrid:
    crs: str
    x0: float
    y0: float
    size: int
    gsd: float

    @property
    def transform(self) -> Affine:
        return Affine(self.gsd, 0.0, self.x0, 0.0, -self.gsd, self.y0)

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x < self.x0 + self.size * self.gsd and self.y0 - self.size * self.gsd < y <= self.y0


def _check_args(
    scenario: str,
    seed: int,
    size: int | None,
    gsd: float,
    dates: int,
    bands: str,
    jpeg_quality: int | None,
    eight_bit: bool,
) -> None:
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {scenario!r} (choose from: {', '.join(SCENARIOS)})")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"--seed must be a non-negative integer (got {seed!r})")
    if not (GSD_RANGE[0] <= gsd <= GSD_RANGE[1]) or not math.isfinite(gsd):
        raise InputError(
            f"--gsd {gsd} m is out of range: the generator models {GSD_RANGE[0]}-{GSD_RANGE[1]} m "
            "(Maxar-class imagery)"
        )
    if not 1 <= dates <= MAX_DATES:
        raise InputError(f"--dates must be between 1 and {MAX_DATES} (got {dates})")
    if size is not None and not 256 <= size <= MAX_SIZE:
        raise InputError(f"--size must be between 256 and {MAX_SIZE} px (got {size})")
    if bands not in BANDS:
        raise InputError(f"unknown band set {bands!r} (choose from: {', '.join(BANDS)})")
    if jpeg_quality is not None:
        if not 10 <= jpeg_quality <= 100:
            raise InputError(f"--jpeg quality must be between 10 and 100 (got {jpeg_quality})")
        if not eight_bit:
            raise InputError("--jpeg needs --8bit (JPEG artefacts are made on the 8-bit product)")
        if bands == "bgrn":
            raise InputError("--jpeg needs --bands rgb or pan (JPEG has no 4-band colour)")


def scene_grid(site: SiteConfig, frame: SiteFrame, size: int | None, gsd: float) -> SceneGrid:
    """A square north-up grid centred on the site's AOI that covers all of it."""
    ring = np.asarray(site.aoi, dtype=np.float64)
    xs, ys = frame.lonlat_to_map.transform(ring[:, 0], ring[:, 1])
    xmin, xmax, ymin, ymax = min(xs), max(xs), min(ys), max(ys)
    need = max(xmax - xmin, ymax - ymin) + 2 * 20.0
    need_px = int(math.ceil(need / gsd))
    if size is None:
        size = int(math.ceil(need_px / 256.0) * 256)
        if size > MAX_SIZE:
            raise InputError(
                f"site {site.name} needs {need_px} px at --gsd {gsd}; that exceeds {MAX_SIZE} px "
                "(use a coarser --gsd)"
            )
    elif size < need_px:
        raise InputError(
            f"--size {size} px at --gsd {gsd} m covers {size * gsd:.0f} m, but site {site.name}'s "
            f"AOI needs {need:.0f} m: use --size {int(math.ceil(need_px / 256) * 256)} or a "
            "coarser --gsd"
        )
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    # snap the origin to whole metres so grids are easy to reason about
    x0 = math.floor(cx - size * gsd / 2)
    y0 = math.ceil(cy + size * gsd / 2)
    return SceneGrid(site.crs, float(x0), float(y0), size, gsd)


# --------------------------------------------------------------------------------------------
# Static world: ground and structures
# --------------------------------------------------------------------------------------------


def _static_structures(
    spec: LayoutSpec, frame: SiteFrame, stand_list: list[Stand], rng: np.random.Generator
) -> list[Placed]:
    out: list[Placed] = []

    def put(
        type_name: str, x: float, y: float, heading: float, size: tuple[float, float] | None = None
    ) -> None:
        o = make_object(type_name, None, rng, size=size)
        out.append(Placed(o.model, o.scheme, float(x), float(y), float(heading) % 360.0))

    for s in spec.structures:
        for i in range(s.count):
            x, y = frame.to_map([(s.centre[0] + i * s.step[0], s.centre[1] + i * s.step[1])])[0]
            put(s.type, x, y, frame.heading(s.heading), s.size)
    for st in stand_list:
        if st.revetment:
            put("revetment", st.x, st.y, st.heading)
        if st.jet_bridge:
            h = math.radians(st.heading)
            f = np.array([math.sin(h), math.cos(h)])
            r = np.array([math.cos(h), -math.sin(h)])
            rot = np.array([st.x, st.y]) + f * 34.0 - r * 9.0
            door = np.array([st.x, st.y]) + f * 13.0 - r * 2.5
            v = door - rot
            length = float(np.hypot(*v)) - 3.0
            heading = math.degrees(math.atan2(v[0], v[1]))
            put("jet bridge", rot[0], rot[1], heading, (length, 4.4))
    for sc in spec.scatter:
        poly = np.asarray(sc.polygon, dtype=np.float64)
        lo, hi = poly.min(axis=0), poly.max(axis=0)
        path = poly.reshape(-1, 1, 2).astype(np.float32)
        placed = 0
        tries = 0
        while placed < sc.count and tries < sc.count * 20:
            tries += 1
            p = rng.uniform(lo, hi)
            if cv2.pointPolygonTest(path, (float(p[0]), float(p[1])), False) < 0:
                continue
            x, y = frame.to_map([tuple(p)])[0]
            hd = (
                frame.heading(float(rng.choice([0.0, 90.0])) + rng.normal(0, 3))
                if sc.aligned
                else rng.uniform(0, 360)
            )
            put(sc.types[int(rng.integers(len(sc.types)))], x, y, hd)
            placed += 1
    for gv in spec.groves:
        poly = np.asarray(gv.polygon, dtype=np.float64)
        path = poly.reshape(-1, 1, 2).astype(np.float32)
        lo, hi = poly.min(axis=0), poly.max(axis=0)
        a = math.radians(gv.angle)
        ca, sa = math.cos(a), math.sin(a)
        c = (lo + hi) / 2
        reach = float(np.hypot(*(hi - lo))) / 2
        steps = np.arange(-reach, reach + gv.spacing, gv.spacing)
        for u in steps:
            for v in steps:
                if rng.random() > gv.fill:
                    continue
                p = c + np.array([u * ca - v * sa, u * sa + v * ca]) + rng.normal(0, gv.spacing * 0.06, 2)
                if cv2.pointPolygonTest(path, (float(p[0]), float(p[1])), False) < 0:
                    continue
                model, _, _ = cached_model("tree", None, int(rng.integers(12)))
                x, y = frame.to_map([tuple(p)])[0]
                out.append(
                    Placed(model, scheme_for("tree", rng), float(x), float(y), float(rng.uniform(0, 360)))
                )
    return out


# --------------------------------------------------------------------------------------------
# Objects on each date
# --------------------------------------------------------------------------------------------


class ObjectModels:
    """One model per (object, state), built from the object's own seed: an object looks the
    same on every date it is in the same state, and keeps its paint when its state changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str | None], ObjectSpec] = {}

    def get(self, track: Track, state: str | None) -> ObjectSpec:
        key = (track.object_id, state)
        if key not in self._cache:
            self._cache[key] = make_object(
                track.type,
                state,
                np.random.default_rng([track.seed, 1]),
                paint_rng=np.random.default_rng([track.seed, 2]),
            )
        return self._cache[key]


def _lean(acq: Acquisition) -> tuple[float, float]:
    return View(0, 0, acq.gsd, 1, 1, 1, acq.sat_azimuth, acq.view_zenith).lean()


def apparent_centre(
    spec: ObjectSpec, x: float, y: float, acq: Acquisition, frame_acq: Acquisition | None = None
) -> tuple[float, float]:
    """Where an object's box centre appears in an image (map metres, nominal georeference):
    ground position + off-nadir lean of its body height + the image's misregistration.
    ``frame_acq`` gives the misregistration to use (default: the same acquisition)."""
    le, ln = _lean(acq)
    fa = frame_acq or acq
    dx, dy = fa.shift_px
    return (x + le * spec.ref_height + dx * fa.gsd, y + ln * spec.ref_height - dy * fa.gsd)


# --------------------------------------------------------------------------------------------
# Rendering a date
# --------------------------------------------------------------------------------------------


def render_image(
    world: World, acq: Acquisition, grid: SceneGrid, bands: str, seed: int, workers: int = 2
) -> np.ndarray:
    """(bands, size, size) uint16 DN for one date, rendered in tiles (threads)."""
    names, idx, _ = BANDS[bands]
    n_out = len(names)
    out = np.empty((n_out, grid.size, grid.size), np.uint16)
    dx, dy = acq.shift_px
    ox, oy = grid.x0 - dx * grid.gsd, grid.y0 + dy * grid.gsd
    tiles = [(r, c) for r in range(0, grid.size, TILE) for c in range(0, grid.size, TILE)]

    def job(k: int) -> None:
        r0, c0 = tiles[k]
        h, w = min(TILE, grid.size - r0), min(TILE, grid.size - c0)
        view = View(
            ox + (c0 - MARGIN) * grid.gsd,
            oy - (r0 - MARGIN) * grid.gsd,
            grid.gsd,
            w + 2 * MARGIN,
            h + 2 * MARGIN,
            2,
            acq.sat_azimuth,
            acq.view_zenith,
        )
        rad = render_radiance(world, view, acq.illumination, bands=idx)
        band_index = idx
        if bands == "pan":
            rad = pan_from_bands(rad, idx)
            band_index = (1,)
        rad = blur_and_sharpen(rad, acq.sensor)
        rng = np.random.default_rng([seed, 7, acq.index, k])
        core = rad[:, MARGIN : MARGIN + h, MARGIN : MARGIN + w]
        noise = bank_noise(core.shape, rng)
        out[:, r0 : r0 + h, c0 : c0 + w] = to_dn(core, acq.sensor, None, band_index, noise=noise)

    if workers <= 1:
        for k in range(len(tiles)):
            job(k)
    else:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(job, range(len(tiles))))
    return out


def fill_silhouettes(mask: np.ndarray, view: View, objects: list[Placed]) -> None:
    """Set mask pixels covered by the objects' facets (as leaned in ``view``) to 1."""
    lean = view.lean()
    s = view.scale
    one = float(1 << SHIFT)
    for o in objects:
        m = o.model
        h = math.radians(o.heading)
        sh, ch = math.sin(h), math.cos(h)
        f, r, z = m.fverts[:, 0], m.fverts[:, 1], m.fverts[:, 2]
        e = o.x + f * sh + r * ch + z * lean[0]
        n = o.y + f * ch - r * sh + z * lean[1]
        px = np.column_stack([(e - view.x0) * s, (view.y0 - n) * s])
        fx = np.round(px * one).astype(np.int32)
        polys = [fx[m.fstart[i] : m.fstart[i + 1]] for i in range(len(m.fstart) - 1)]
        cv2.fillPoly(mask, polys, 1, lineType=cv2.LINE_8, shift=SHIFT)


# --------------------------------------------------------------------------------------------
# The public entry point
# --------------------------------------------------------------------------------------------


def generate(
    scenario: str,
    seed: int,
    out: str | os.PathLike[str],
    size: int | None = None,
    gsd: float = 0.5,
    dates: int = 2,
    *,
    site: str | os.PathLike[str] = "khmeimim",
    bands: str = "bgrn",
    eight_bit: bool = False,
    jpeg_quality: int | None = None,
    start_date: str | None = None,
    workers: int = 2,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write a synthetic scene (images, IMDs, truth, change masks, events, manifest, preview)
    and return the manifest (the content of ``scene.json``).

    ``scenario``: ``withdrawal`` | ``reinforcement`` | ``steady``. ``size``: image side in
    pixels (default: just enough to cover the site's AOI). ``gsd``: metres per pixel.
    ``dates``: number of acquisition dates (N dates give N-1 transitions). ``site``: a shipped
    site name or a YAML path. ``bands``: ``bgrn`` (uint16 11-bit, default), ``rgb`` or ``pan``;
    ``eight_bit`` writes DRA-stretched uint8; ``jpeg_quality`` adds JPEG artefacts (8-bit only).
    """
    _check_args(scenario, seed, size, gsd, dates, bands, jpeg_quality, eight_bit)
    say = progress or (lambda _msg: None)
    site_cfg = load_site(site)
    spec = parse_layout(site_cfg)
    frame = SiteFrame(site_cfg, spec)
    grid = scene_grid(site_cfg, frame, size, gsd)
    out = make_out_dir(out)
    try:
        start = date.fromisoformat(start_date or spec.acquisition.start_date)
    except ValueError:
        raise InputError(
            f"start date {start_date or spec.acquisition.start_date!r} is not YYYY-MM-DD"
        ) from None

    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, k])

    stand_list = stands(spec, frame)
    bounds = (grid.x0, grid.y0 - grid.size * gsd, grid.x0 + grid.size * gsd, grid.y0)
    rng_ground = stream(1)
    ground = ground_layout(spec, frame, rng_ground, bounds)
    stand_markings(ground, stand_list, stand_leadin(spec), rng_ground)
    look = GroundLook.make(rng_ground)
    lowfield = LowField.make(rng_ground, grid.x0, grid.y0, grid.size * gsd, grid.size * gsd)
    static = _static_structures(spec, frame, stand_list, stream(2))

    tl = Timeline(dates)
    force: dict[int, str] = {}
    if scenario in ("withdrawal", "reinforcement"):
        heavy = [s.index for s in stand_list if s.kind == "heavy"]
        force = {i: "An-124" for i in heavy[:2]}
        kas = [s.index for s in stand_list if s.kind == "helicopter"]
        force.update({i: "Ka-52" for i in kas[:2]})
    exclude = frozenset({"An-124"}) if force else frozenset()
    by_stand = populate(tl, stand_list, row_fill(spec), stream(3), force=force, exclude=exclude)
    routes = [frame.to_map(r) for r in spec.convoys]
    script(scenario, tl, by_stand, stand_list, routes, stream(4))
    add_ground_support(tl, stream(5))
    lat, lon = site_cfg.centre[1], site_cfg.centre[0]
    acqs = make_acquisitions(
        dates,
        start=start,
        interval_days=spec.acquisition.interval_days,
        lat=lat,
        lon=lon,
        gsd=gsd,
        hour_utc=spec.acquisition.hour_utc,
        off_nadir=spec.acquisition.off_nadir,
        satellites=list(spec.acquisition.satellites),
        rng=stream(6),
    )
    models = ObjectModels()
    zones = _zone_polygons(site_cfg, frame)
    names, _, band_id = BANDS[bands]
    truth_rows: list[dict[str, Any]] = []
    date_entries = []
    placed_by_date: list[dict[str, Placed]] = []
    for acq in acqs:
        say(f"rendering {acq.day} ({grid.size}x{grid.size} px)")
        objs: dict[str, Placed] = {}
        for tr, pose in tl.at(acq.index):
            o = models.get(tr, pose.state)
            objs[tr.object_id] = Placed(o.model, o.scheme, pose.x, pose.y, pose.heading)
        placed_by_date.append(objs)
        world = World(
            ground,
            look.seasonal(acq.greenness),
            look.texture,
            look.slabs,
            lowfield,
            list(objs.values()) + static,
            bank_seed=seed,
        )
        dn = render_image(world, acq, grid, bands, seed, workers)
        say(f"writing {acq.day}")
        stem = f"{site_cfg.name}_{acq.day}"
        img_path = out / f"{stem}.tif"
        bits = 16
        data: np.ndarray = dn
        if eight_bit:
            data = display_8bit(dn, balance=0.5)
            bits = 8
            if jpeg_quality is not None:
                data = _jpeg_tiles(data, jpeg_quality)
        write_image_cog(
            img_path,
            data,
            grid,
            list(names),
            {"POSTUREWATCH_SYNTH": f"{scenario} seed={seed} date={acq.day}"},
        )
        meta = acq.metadata(tuple(names), bits, band_id)
        atomic_write_text(
            img_path.with_suffix(".IMD"), format_imd(meta, num_rows=grid.size, num_columns=grid.size)
        )
        for tr, pose in tl.at(acq.index):
            o = models.get(tr, pose.state)
            cx, cy = apparent_centre(o, pose.x, pose.y, acq)
            if not grid.contains(cx, cy):
                continue
            truth_rows.append(
                dict(
                    track=tr,
                    spec=o,
                    cx=cx,
                    cy=cy,
                    heading=pose.heading,
                    date=acq.day,
                    image=img_path.name,
                    zone=_zone_of(zones, cx, cy) or tr.zone,
                )
            )
        date_entries.append(
            {
                "date": acq.day,
                "image": img_path.name,
                "imd": img_path.with_suffix(".IMD").name,
                "acquisition": acq.to_json_dict(),
            }
        )

    transitions = []
    if dates > 1:
        say("change masks and events")
    for d in range(dates - 1):
        a, b = acqs[d], acqs[d + 1]
        ev, veh = changes(tl, d)
        mask = np.zeros((grid.size, grid.size), np.uint8)
        changed_ids = {c.track.object_id for c in ev + veh}
        for acq_k, objs in ((a, placed_by_date[d]), (b, placed_by_date[d + 1])):
            view = View(
                grid.x0 - a.shift_px[0] * gsd,
                grid.y0 + a.shift_px[1] * gsd,
                gsd,
                grid.size,
                grid.size,
                1,
                acq_k.sat_azimuth,
                acq_k.view_zenith,
            )
            fill_silhouettes(mask, view, [p for oid, p in objs.items() if oid in changed_ids])
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        mask_name = f"change_{a.day}_{b.day}.tif"
        write_cog(
            out / mask_name,
            mask,
            transform=grid.transform,
            crs=grid.crs,
            band_names=["change"],
            compress="deflate",
        )
        doc = {
            "before": a.day,
            "after": b.day,
            "before_image": date_entries[d]["image"],
            "after_image": date_entries[d + 1]["image"],
            "scenario": scenario,
            "crs": grid.crs,
            "events": [_event_json(c, models, a, b, frame, zones) for c in ev],
            "vehicle_changes": [_event_json(c, models, a, b, frame, zones) for c in veh],
        }
        ev_name = f"events_{a.day}_{b.day}.json"
        atomic_write_text(out / ev_name, json.dumps(doc, indent=1))
        transitions.append(
            {
                "before": a.day,
                "after": b.day,
                "change_mask": mask_name,
                "events": ev_name,
                "n_events": len(doc["events"]),
                "n_vehicle_changes": len(doc["vehicle_changes"]),
            }
        )

    say("truth")
    gdf = _truth_frame(truth_rows, grid.crs)
    write_vectors(out / "truth.geojson", gdf)
    _write_gpkg(out / "truth.gpkg", gdf, acqs[0].day)
    manifest = {
        "generator": "posturewatch synth",
        "site": site_cfg.name,
        "scenario": scenario,
        "seed": seed,
        "crs": grid.crs,
        "size": grid.size,
        "gsd": gsd,
        "transform": list(grid.transform)[:6],
        "bands": list(names),
        "dtype": "uint8" if eight_bit else "uint16",
        "bits": 8 if eight_bit else 11,
        "jpeg_quality": jpeg_quality,
        "dates": date_entries,
        "transitions": transitions,
        "truth": {"geojson": "truth.geojson", "gpkg": "truth.gpkg", "features": len(gdf)},
        "conventions": {
            "heading": "degrees clockwise from grid north (image up), direction of the nose/cab front",
            "box": "apparent footprint: ground position + off-nadir lean at body height + misregistration",
            "helicopter_box": "fuselage (nose to tail end) x max(stub-wing span, fuselage width), "
            "both states; rotor blades and parts laid on the ground are outside it",
            "sam_box": "vehicle chassis (and trailer) footprint in both states",
            "change_mask": "1 = silhouette of an object that appeared, departed, changed state or moved, "
            "on either date, on the earlier image's grid; shadows excluded",
            "shift_px": "content of that date displaced by (dx, dy) px against the nominal georeference",
        },
        "preview": "preview.png",
    }
    say("writing preview")
    _preview(out / "preview.png", out, date_entries, truth_rows, grid, eight_bit)
    atomic_write_text(out / "scene.json", json.dumps(manifest, indent=1))
    say("done")
    return manifest


def write_image_cog(
    path: Path, data: np.ndarray, grid: SceneGrid, band_names: list[str], tags: dict[str, str]
) -> Path:
    """The date's image as a ZSTD COG with averaged overviews (written atomically).

    ZSTD decodes about twice as fast as DEFLATE (DESIGN.md section 8); level 1 keeps writing
    cheaper than rendering.
    """
    from rasterio.enums import Resampling

    return write_cog(path, data, transform=grid.transform, crs=grid.crs, compress="zstd", predictor=2,
                     level=1, band_names=band_names, tags=tags, resampling=Resampling.average)


def _jpeg_tiles(data: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip in 2048 px blocks (8-bit RGB or pan)."""
    out = np.empty_like(data)
    n = data.shape[1]
    for r in range(0, n, 2048):
        for c in range(0, data.shape[2], 2048):
            block = data[:, r : r + 2048, c : c + 2048]
            if block.shape[0] == 1:
                _, buf = cv2.imencode(".jpg", block[0], [cv2.IMWRITE_JPEG_QUALITY, quality])
                out[0, r : r + 2048, c : c + 2048] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
            else:
                rgb = np.ascontiguousarray(block.transpose(1, 2, 0))
                out[:, r : r + 2048, c : c + 2048] = jpeg_roundtrip(rgb, quality).transpose(2, 0, 1)
    return out


def _zone_polygons(site: SiteConfig, frame: SiteFrame) -> list[tuple[str, np.ndarray]]:
    zs = []
    for z in site.zones:
        ring = np.asarray(z.polygon, dtype=np.float64)
        x, y = frame.lonlat_to_map.transform(ring[:, 0], ring[:, 1])
        zs.append((z.name, np.column_stack([x, y]).astype(np.float32)))
    return zs


def _zone_of(zones: list[tuple[str, np.ndarray]], x: float, y: float) -> str | None:
    for name, poly in zones:
        if cv2.pointPolygonTest(poly.reshape(-1, 1, 2), (float(x), float(y)), False) >= 0:
            return name
    return None


def _event_json(
    c: Any,
    models: ObjectModels,
    a: Acquisition,
    b: Acquisition,
    frame: SiteFrame,
    zones: list[tuple[str, np.ndarray]],
) -> dict[str, Any]:
    pose = c.before if c.before is not None else c.after
    spec = models.get(c.track, pose.state)
    # the object's centre as it appears (or would appear) in the earlier image
    x, y = apparent_centre(spec, pose.x, pose.y, a if c.before is not None else b, frame_acq=a)
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(frame.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return {
        "kind": c.kind,
        "object_id": c.track.object_id,
        "class": c.track.cls,
        "type": c.track.type,
        "x": round(float(x), 2),
        "y": round(float(y), 2),
        "lon": round(float(lon), 7),
        "lat": round(float(lat), 7),
        "zone": _zone_of(zones, x, y) or c.track.zone,
        "before": a.day,
        "after": b.day,
        "state_before": c.before.state if c.before is not None else None,
        "state_after": c.after.state if c.after is not None else None,
    }


def _truth_frame(rows: list[dict[str, Any]], crs: str) -> Any:
    import geopandas as gpd
    from shapely.geometry import Polygon

    recs, geoms = [], []
    for r in rows:
        o: ObjectSpec = r["spec"]
        tr: Track = r["track"]
        corners = obb_corners(r["cx"], r["cy"], o.length, o.width, r["heading"], y_up=True)
        geoms.append(Polygon(np.round(corners, 3)))
        recs.append(
            {
                "class": o.cls,
                "state": o.state,
                "score": 1.0,
                "heading_deg": round(float(r["heading"]), 3),
                "length_m": round(o.length, 3),
                "width_m": round(o.width, 3),
                "object_id": tr.object_id,
                "date": r["date"],
                "type": o.type,
                "zone": r["zone"],
                "image": r["image"],
            }
        )
    return gpd.GeoDataFrame(recs, geometry=geoms, crs=crs)


def _write_gpkg(path: Path, gdf: Any, fixed_date: str) -> None:
    """GeoPackage with a fixed content timestamp, so equal scenes give equal bytes."""
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": f"{fixed_date}T00:00:00.000Z"})
    try:
        write_vectors(path, {"truth": gdf})
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _preview(
    path: Path,
    out: Path,
    entries: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    grid: SceneGrid,
    eight_bit: bool,
) -> None:
    """Each date downsampled to <= 1024 px, DRA-stretched, truth boxes drawn, side by side."""
    import rasterio

    side = min(1024, grid.size)
    panels = []
    for e in entries:
        with rasterio.open(out / e["image"]) as ds:
            data = ds.read(out_shape=(ds.count, side, side), resampling=rasterio.enums.Resampling.average)
            names = [d or "" for d in ds.descriptions]
        if data.shape[0] == 1:
            rgb = np.repeat(data, 3, axis=0)
        else:
            rgb = np.stack([data[names.index(n)] for n in ("R", "G", "B")])
        img = rgb if eight_bit else display_8bit(rgb.astype(np.uint16), balance=0.5)
        img = np.ascontiguousarray(img.transpose(1, 2, 0)[:, :, ::-1])
        k = side / grid.size
        for r in rows:
            if r["date"] != e["date"]:
                continue
            o: ObjectSpec = r["spec"]
            c = obb_corners(r["cx"], r["cy"], o.length, o.width, r["heading"], y_up=True)
            px = np.column_stack([(c[:, 0] - grid.x0) / grid.gsd * k, (grid.y0 - c[:, 1]) / grid.gsd * k])
            col = CLASS_COLOURS.get(o.cls or "", (200, 200, 200))
            cv2.polylines(img, [np.round(px * 8).astype(np.int32)], True, col[::-1], 1, cv2.LINE_AA, shift=3)
        cv2.putText(img, e["date"], (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 255), 2, cv2.LINE_AA)
        panels.append(img)
    sheet = np.hstack(panels) if len(panels) <= 4 else _grid_sheet(panels)
    _, buf = cv2.imencode(".png", sheet, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    atomic_write_bytes(path, buf.tobytes())


def _grid_sheet(panels: list[np.ndarray]) -> np.ndarray:
    cols = 4
    blank = np.zeros_like(panels[0])
    rows = []
    for i in range(0, len(panels), cols):
        row = panels[i : i + cols] + [blank] * (cols - len(panels[i : i + cols]))
        rows.append(np.hstack(row))
    return np.vstack(rows)
