"""Per-pixel change of a co-registered pair: ``change.tif``, ``change_mask.tif`` and zone
statistics in one streaming pass (DESIGN.md sections 2 and 5).

What the score is (``detect.change.reference`` has the exact definition): a chi-square of
BEFORE against AFTER (the band-to-band difference after the IR-MAD radiometric regression,
whitened by its no-change covariance; or the IR-MAD variates themselves), made robust by a
two-way search (+-1 px square, plus the line along which the two views' lean moves tall
objects), a structure term (illumination), a shadow term (sun geometry from the IMDs) and a
3x3 box mean (noise); then calibrated per pair to ``S = -log10 P(no-change statistic >= T)``,
so that S = 3 means a 0.1 % per-pixel false-alarm probability on every pair.

How it runs: everything whole-image (the IR-MAD fit, the null model, the threshold, a check of
the residual misregistration) is estimated on sample windows first; then tiles stream through
the fused kernel (numba on CPU, torch on CUDA) while reader threads decode the next tiles and
the writers store the previous ones. Memory is bounded by tile size and queue depth.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detect.change.calibration import choose_level
from detect.change.config import ChangeConfig, load_change_config
from detect.change.model import ChangeModel, PairGeometry, calibrate, fit_model, planned_halo
from imagery.errors import InputError

# Heavier modules (rasterio, shapely, GDAL writers, cv2) are imported where they are used:
# scoring arrays in a fresh process should cost numba's start-up, not GDAL's.
SCORE_CAP = 10.0  # detect.change.stats.SCORE_CAP, repeated to keep this import light

SCORE_DESCRIPTION = ("-log10 of the probability that an unchanged pixel reaches this change "
                     "statistic (scaled chi-square null fitted on the pair): 2 = 1 %, 3 = 0.1 % "
                     "false-alarm probability per pixel; NaN = no data")


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------

def cuda_available() -> bool:
    """True only when torch is installed and sees a CUDA device. Does not import torch on a
    machine without an NVIDIA driver (keeps the CPU path's start-up fast)."""
    if importlib.util.find_spec("torch") is None:
        return False
    if not (Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()):
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda":
        if not cuda_available():
            raise InputError("--device cuda: no CUDA GPU is available (torch with CUDA and an "
                             "NVIDIA driver are needed); use --device cpu")
        return "cuda"
    if device == "cpu":
        return "cpu"
    raise InputError(f"unknown device {device!r} (use auto, cpu or cuda)")


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------

def change_mask(score: np.ndarray, level: float, opening_radius: int = 1) -> np.ndarray:
    """uint8 mask: 1 where score >= level (after a morphological opening that removes specks
    smaller than the structuring element), 0 elsewhere, 255 where the score is NaN."""
    import cv2

    with np.errstate(invalid="ignore"):
        changed = (score >= level).view(np.uint8)  # NaN compares False
    if opening_radius > 0:
        k = 2 * opening_radius + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, kernel)
    changed[np.isnan(score)] = 255
    return changed


# --------------------------------------------------------------------------------------------
# Kernels by device
# --------------------------------------------------------------------------------------------

def _score_region(before: np.ndarray, after: np.ndarray, valid: np.ndarray, model: ChangeModel,
                  region: tuple[slice, slice] | None, raw: bool = False) -> np.ndarray:
    from detect.change.cpu import score_tile

    return score_tile(before, after, valid, model, core=region, raw=raw)


def fit_arrays(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None,
               config: ChangeConfig | str | Path | None = None, *,
               geometry: PairGeometry | None = None, bands: tuple[str, ...] | None = None,
               seed: int = 0) -> ChangeModel:
    """Fit and calibrate the change model on two in-memory arrays (bands, rows, cols).
    ``geometry`` (sun and view of both dates, GSD) switches on the shadow and lean levers."""
    cfg = load_change_config(config)
    before, after, valid = _check_arrays(before, after, valid)
    idx = np.flatnonzero(valid.ravel())
    if idx.size > cfg.sample.max_pixels:
        idx = np.sort(np.random.default_rng(seed).choice(idx, cfg.sample.max_pixels, replace=False))
    x = before.reshape(before.shape[0], -1)[:, idx]
    y = after.reshape(after.shape[0], -1)[:, idx]
    model = fit_model(x, y, cfg, bands=bands, geometry=geometry)
    stat = _score_region(before, after, valid, model, None, raw=True)
    return calibrate(model, stat, cfg)


def score_arrays(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None,
                 config: ChangeConfig | str | Path | None = None, *,
                 model: ChangeModel | None = None, raw: bool = False,
                 device: str = "cpu") -> np.ndarray:
    """The change score of two small in-memory arrays (bands, rows, cols) of one grid.

    Fits the model on the arrays themselves unless ``model`` is given; ``raw=True`` returns
    the uncalibrated statistic. float32, NaN where ``valid`` is False.
    """
    before, after, valid = _check_arrays(before, after, valid)
    if model is None:
        model = fit_arrays(before, after, valid, config)
    if resolve_device(device) == "cuda":
        from detect.change.cuda import score_batch

        return score_batch(before[None], after[None], valid[None], model, raw=raw)[0]
    return _score_region(before, after, valid, model, None, raw=raw)


def _check_arrays(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    before = np.asarray(before)
    after = np.asarray(after)
    if before.ndim == 2:
        before = before[None]
    if after.ndim == 2:
        after = after[None]
    if before.ndim != 3 or before.shape != after.shape:
        raise InputError(f"BEFORE and AFTER must be (bands, rows, cols) of one shape; got "
                         f"{before.shape} and {after.shape}")
    if valid is None:
        valid = np.ones(before.shape[1:], dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != before.shape[1:]:
        raise InputError(f"valid mask {valid.shape} does not match the images {before.shape[1:]}")
    return before, after, valid


# --------------------------------------------------------------------------------------------
# Fitting on a pair
# --------------------------------------------------------------------------------------------

@dataclass
class PairSample:
    """Sample windows of both dates (with the kernel halo around each core)."""

    before: list[np.ndarray]
    after: list[np.ndarray]
    valid: list[np.ndarray]
    halo: int


def _read_sample(pair: Any, cfg: ChangeConfig, halo: int) -> PairSample:
    from rasterio.features import geometry_mask
    from rasterio.windows import Window

    from imagery.radiometry import sample_windows
    from imagery.reader import thread_map

    g = pair.grid
    src_a, src_b = pair.sources
    size = int(min(cfg.sample.window_size, g.width, g.height))
    wins = sample_windows(g.width, g.height, n=cfg.sample.windows, size=size, seed=cfg.sample.seed)
    out = PairSample([], [], [], halo)

    def read(w: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        big = Window(w.col_off - halo, w.row_off - halo, w.width + 2 * halo, w.height + 2 * halo)
        da, va = src_a.read(big)
        db, vb = src_b.read(big)
        valid = va & vb
        if pair.aoi is not None:
            valid &= geometry_mask([pair.aoi], out_shape=valid.shape,
                                   transform=g.window_transform(big), invert=True)
        return da, db, valid

    for da, db, valid in thread_map(read, wins):
        if not valid[halo:halo + size, halo:halo + size].any():
            continue
        out.before.append(da)
        out.after.append(db)
        out.valid.append(valid)
    if not out.before:
        raise InputError("no sample window has pixels valid in both dates")
    return out


def residual_shift(sample: PairSample, max_windows: int = 8) -> dict[str, Any]:
    """Misregistration left after the pair's global shift, by phase correlation on the most
    textured sample windows: ``{"dx", "dy", "quality", "windows"}`` (px; quality 0..1)."""
    from imagery.coreg import combine_window_shifts, normalised_correlation, phase_shift, texture_score

    h = sample.halo
    cand = []
    for a, b, v in zip(sample.before, sample.after, sample.valid, strict=True):
        core = (slice(h, a.shape[1] - h), slice(h, a.shape[2] - h))
        vv = v[core]
        if vv.mean() < 0.9:
            continue
        ga = a[(slice(None), *core)].astype(np.float32).mean(axis=0)
        gb = b[(slice(None), *core)].astype(np.float32).mean(axis=0)
        if ga[vv].std() < 1e-3 or gb[vv].std() < 1e-3:
            continue
        cand.append((float(texture_score(ga)[vv].mean() / (ga[vv].std() + 1e-6)), ga, gb, vv))
    cand.sort(key=lambda c: -c[0])
    results = []
    for _, ga, gb, vv in cand[:max_windows]:
        dx, dy = phase_shift(ga, gb, ref_valid=vv, mov_valid=vv, upsample=4)
        results.append((dx, dy, normalised_correlation(ga, gb, dx, dy, vv)))
    if not results:
        return {"dx": 0.0, "dy": 0.0, "quality": 0.0, "windows": 0}
    dx, dy, q = combine_window_shifts(results)
    return {"dx": round(dx, 3), "dy": round(dy, 3), "quality": round(q, 3), "windows": len(results)}


@dataclass
class PairFit:
    model: ChangeModel
    level: float
    residual: dict[str, Any]
    sample_scores: np.ndarray
    warnings: list[str] = field(default_factory=list)


def fit_pair(pair: Any, config: ChangeConfig) -> PairFit:
    """Everything whole-image, from sample windows: model, null, threshold, residual shift."""
    cfg = config
    warnings: list[str] = []
    a, b = pair.before.meta, pair.after.meta
    geometry = PairGeometry.from_metas(a, b, gsd_m=a.gsd_m,
                                       transform=pair.grid.transform if not pair.pixel_mode else None)
    sample = _read_sample(pair, cfg, planned_halo(cfg, geometry))
    residual = residual_shift(sample)
    tol = cfg.levers["search_radius"] + cfg.checks.tolerance_px
    if residual["quality"] >= 0.25 and math.hypot(residual["dx"], residual["dy"]) > tol:
        msg = (f"{a.path} and {b.path} are misregistered by ({residual['dx']:+.2f}, "
               f"{residual['dy']:+.2f}) px after alignment, beyond the score's search range of "
               f"{tol:.2f} px (search_radius + tolerance_px in change.yaml)")
        if cfg.checks.misregistration == "error":
            raise InputError(msg + "; co-register the pair first or raise search_radius")
        warnings.append(msg)
    h = sample.halo
    xs, ys = [], []
    for da, db, v in zip(sample.before, sample.after, sample.valid, strict=True):
        core = (slice(h, v.shape[0] - h), slice(h, v.shape[1] - h))
        vv = v[core]
        xs.append(da[(slice(None), *core)][:, vv])
        ys.append(db[(slice(None), *core)][:, vv])
    x = np.concatenate(xs, axis=1)
    y = np.concatenate(ys, axis=1)
    if x.shape[1] > cfg.sample.max_pixels:
        idx = np.random.default_rng(cfg.sample.seed).choice(x.shape[1], cfg.sample.max_pixels,
                                                            replace=False)
        x, y = x[:, idx], y[:, idx]
    model = fit_model(x, y, cfg, bands=tuple(pair.bands.names), geometry=geometry,
                      names=(a.path, b.path))
    if a.dtype != b.dtype or a.bits_per_pixel != b.bits_per_pixel:
        warnings.append(f"bit depths differ ({a.dtype}/{a.bits_per_pixel} bit vs "
                        f"{b.dtype}/{b.bits_per_pixel} bit): scored on raw values, which the "
                        "MAD projection absorbs as long as both are linear in radiance")
    stats = []
    for da, db, v in zip(sample.before, sample.after, sample.valid, strict=True):
        core = (slice(h, v.shape[0] - h), slice(h, v.shape[1] - h))
        stats.append(_score_region(da, db, v, model, core, raw=True).ravel())
    model = calibrate(model, np.concatenate(stats), cfg)
    scores = model.null.score_lut(np.concatenate(stats))
    level = choose_level(cfg.threshold.method, cfg.threshold.level, cfg.threshold.min_level, scores)
    return PairFit(model, level, residual, scores, warnings)


# --------------------------------------------------------------------------------------------
# The streaming pass
# --------------------------------------------------------------------------------------------

@dataclass
class ChangeResult:
    """What :func:`compute_change` wrote and measured."""

    change_path: Path
    mask_path: Path
    stats_path: Path
    threshold: float
    zones: list[dict[str, Any]]
    timings: dict[str, float]
    model: ChangeModel
    stats: dict[str, Any]


def _writer_options(cfg: ChangeConfig) -> dict[str, Any]:
    o = cfg.output
    return dict(compress=o.compress, predictor=o.predictor, level=o.level, overviews=o.overviews,
                max_z_error=o.max_z_error)


def compute_change(pair: Any, out_dir: str | Path, config: ChangeConfig | str | Path | None = None,
                   device: str = "auto", *, site: Any = None, progress: bool = False,
                   tile_size: int | None = None) -> ChangeResult:
    """Score every pixel of ``pair`` (an :class:`imagery.pair.ScenePair`) and write
    ``change.tif``, ``change_mask.tif`` and ``change_stats.json`` into ``out_dir``.

    ``site`` (a SiteConfig, a name or a path) gives the zones of the statistics; without it
    there is one zone, "all". ``device`` is auto, cpu or cuda.
    """
    from detect.change.stats import zone_accumulators
    from imagery.atomic import atomic_write_text, make_out_dir
    from imagery.grid import TileGrid
    from imagery.writers import CogWriter

    t_start = time.perf_counter()
    cfg = load_change_config(config)
    dev = resolve_device(device)
    out_dir = make_out_dir(out_dir)
    timings: dict[str, float] = {}
    fit = fit_pair(pair, cfg)
    model = fit.model
    timings["fit_s"] = time.perf_counter() - t_start

    zones, zone_warnings = _zones(site, pair)
    accs = zone_accumulators(zones, pair.aoi)
    rad = cfg.threshold.opening_radius
    halo = model.halo + 2 * rad
    core = tile_size or cfg.tiling.tile_size
    grid = TileGrid(pair.grid, core + 2 * halo, halo, aoi=pair.aoi)
    g = pair.grid
    tags = {"score": SCORE_DESCRIPTION, "threshold": f"{fit.level:.6g}",
            "null_scale": f"{model.null.scale:.6g}", "null_dof": f"{model.null.dof:.6g}"}
    change_path = out_dir / "change.tif"
    mask_path = out_dir / "change_mask.tif"
    totals = {"valid": 0, "changed": 0, "write_s": 0.0}
    t_compute = 0.0
    bar = _progress(len(grid), progress)
    # A warm-up the pair ran during alignment and the fit ends here: from now on the stream's
    # readers use both cores.
    warmed = pair.stop_prefetch() if hasattr(pair, "stop_prefetch") else 0
    t_stream = time.perf_counter()
    wscore = CogWriter(change_path, width=g.width, height=g.height, count=1, dtype="float32",
                       crs=g.crs, transform=g.transform, nodata=float("nan"),
                       band_names=["change_score"], tags=tags, **_writer_options(cfg))
    wmask = CogWriter(mask_path, width=g.width, height=g.height, count=1, dtype="uint8",
                      crs=g.crs, transform=g.transform, nodata=255,
                      compress=cfg.output.mask_compress, level=cfg.output.mask_level,
                      overviews=cfg.output.overviews,
                      band_names=["change"], tags={"values": "1 change, 0 no change, 255 nodata",
                                                   "threshold": f"{fit.level:.6g}"})

    def record(core: Any, score: np.ndarray, mask: np.ndarray) -> None:
        t0 = time.perf_counter()
        wscore.write(core, score)
        wmask.write(core, mask)
        for acc in accs:
            acc.add(score, mask, g.transform, core)
        totals["valid"] += int(np.count_nonzero(mask != 255))
        totals["changed"] += int(np.count_nonzero(mask == 1))
        totals["write_s"] += time.perf_counter() - t0

    with contextlib.ExitStack() as guard:
        # If anything fails, both writers are closed with the error (nothing lands): the
        # recording thread is joined first (the pool's exit), then the writers.
        guard.enter_context(wscore)
        guard.enter_context(wmask)
        # Tiles are written and counted on a thread of their own, while the next tile is
        # scored: on the main thread that bookkeeping (0.55 s for 100 tiles) left the kernel's
        # threads idle. One thread keeps the writes in order; at most two tiles wait.
        recorder = guard.enter_context(ThreadPoolExecutor(1, thread_name_prefix="pw-write"))
        pending: deque[Future[None]] = deque()
        for tile, score, mask in _stream(pair, grid, model, fit.level, rad, cfg, dev):
            t_compute += tile.compute_s
            pending.append(recorder.submit(record, tile.core, score, mask))
            while len(pending) > 2:
                pending.popleft().result()
            if bar is not None:
                bar.update(tile.index + 1 - bar.n)
        while pending:
            pending.popleft().result()
        timings["stream_s"] = time.perf_counter() - t_stream
        t_enc = time.perf_counter()
        guard.pop_all()
    recorder.shutdown()
    n_valid, n_changed, t_write = totals["valid"], totals["changed"], totals["write_s"]
    # The two COGs are finished on two threads: their copies release the GIL, though GDAL's
    # overview builds hold it, so the overlap is small (no faster than one after the other in
    # 3 A/B runs on the 10000^2 pair).
    _finish_writers([wscore, wmask])
    timings["encode_s"] = time.perf_counter() - t_enc
    if bar is not None:
        bar.update(len(grid) - bar.n)
        bar.close()
    timings["compute_s"] = t_compute
    timings["write_s"] = t_write
    timings["total_s"] = time.perf_counter() - t_start
    timings = {k: round(v, 4) for k, v in timings.items()}
    zone_dicts = [a.to_json_dict() for a in accs]
    stats = {
        "score": SCORE_DESCRIPTION,
        "threshold": {"method": cfg.threshold.method, "level": round(fit.level, 4),
                      "opening_radius": rad},
        "valid_pixels": n_valid,
        "changed_pixels": n_changed,
        "change_fraction": round(n_changed / n_valid, 6) if n_valid else None,
        "zones": zone_dicts,
        "zone_score": f"mean of the score clipped at {SCORE_CAP:g}",
        "residual_shift_px": fit.residual,
        "alignment": _alignment(pair, model),
        "model": model.to_json_dict(),
        "device": dev,
        "tiles": {"core": core, "halo": halo, "count": len(grid), "prewarmed_blocks": warmed},
        "timings": timings,
        "settings": cfg.model_dump(),
        "warnings": fit.warnings + zone_warnings,
        "outputs": {"change": change_path.name, "mask": mask_path.name},
    }
    stats_path = atomic_write_text(out_dir / "change_stats.json", json.dumps(stats, indent=2,
                                                                             default=_json_default))
    return ChangeResult(change_path, mask_path, stats_path, fit.level, zone_dicts, timings, model,
                        stats)


def _alignment(pair: Any, model: ChangeModel) -> dict[str, Any]:
    """The pair's alignment report; its radiometry from the change model when the pair did not
    fit one (same keys: AFTER -> BEFORE gain and offset per band)."""
    d = pair.to_json_dict()
    if d.get("radiometric", {}).get("method") == "identity":
        d["radiometric"] = {"method": "irmad", "source": "change model", "bands": list(model.bands),
                            "gain": [round(v, 6) for v in model.gain],
                            "offset": [round(v, 6) for v in model.offset],
                            "no_change_fraction": round(model.no_change_fraction, 4)}
    return d


def _finish_writers(writers: list[Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(writers)) as pool:
        futures = [pool.submit(w.__exit__, None, None, None) for w in writers]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="tile", desc="change", leave=False)


def _zones(site: Any, pair: Any) -> tuple[list[tuple[str, str, float, Any]], list[str]]:
    if site is None:
        return [], []
    from imagery.aoi import site_zones
    from imagery.config import SiteConfig, load_site

    cfg = site if isinstance(site, SiteConfig) else load_site(site)
    if pair.pixel_mode:
        return [], [f"site {cfg.name}: zones are lon/lat and the images have no georeference; "
                    "reporting one zone 'all'"]
    if not cfg.zones:
        return [], [f"site {cfg.name} defines no zones; reporting one zone 'all'"]
    return site_zones(cfg, pair.grid.crs), []


@dataclass
class _TileOut:
    index: int
    core: Any  # rasterio Window of the core on the grid
    compute_s: float


def _stream(pair: Any, grid: Any, model: ChangeModel, level: float, rad: int,
            cfg: ChangeConfig, device: str):
    """Yield (tile info, core score, core mask) in grid order."""
    tiles = pair.tiles(grid=grid, normalised=False, workers=cfg.tiling.workers,
                       prefetch=cfg.tiling.prefetch)
    if device == "cuda":
        yield from _stream_cuda(tiles, model, level, rad, cfg.tiling.batch_size)
        return
    for pt in tiles:
        t0 = time.perf_counter()
        region, core_in_region = _regions(pt, rad)
        score = _score_region(pt.before, pt.after, pt.valid, model, region)
        out = _finish(score, core_in_region, level, rad)
        yield _TileOut(pt.tile.index, pt.tile.core, time.perf_counter() - t0), *out


def _regions(pt: Any, rad: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The region to score (core + what the mask opening needs) and the core inside it."""
    rs, cs = pt.tile.core_slices
    h, w = pt.valid.shape
    r0, r1 = max(0, rs.start - 2 * rad), min(h, rs.stop + 2 * rad)
    c0, c1 = max(0, cs.start - 2 * rad), min(w, cs.stop + 2 * rad)
    return ((slice(r0, r1), slice(c0, c1)),
            (slice(rs.start - r0, rs.stop - r0), slice(cs.start - c0, cs.stop - c0)))


def _finish(score: np.ndarray, core: tuple[slice, slice], level: float, rad: int
            ) -> tuple[np.ndarray, np.ndarray]:
    mask = change_mask(score, level, rad)
    return np.ascontiguousarray(score[core]), np.ascontiguousarray(mask[core])


def _stream_cuda(tiles, model: ChangeModel, level: float, rad: int, batch_size: int):
    from detect.change.cuda import TorchScorer

    scorer = TorchScorer(model)
    batch: list[Any] = []

    def flush():
        t0 = time.perf_counter()
        scores = scorer.score([p.before for p in batch], [p.after for p in batch],
                              [p.valid for p in batch])
        dt = (time.perf_counter() - t0) / len(batch)
        for p, s in zip(batch, scores, strict=True):
            region, core_in_region = _regions(p, rad)
            out = _finish(s[region], core_in_region, level, rad)
            yield _TileOut(p.tile.index, p.tile.core, dt), *out
        batch.clear()

    for pt in tiles:
        batch.append(pt)
        if len(batch) >= batch_size:
            yield from flush()
    if batch:
        yield from flush()


def describe(result: ChangeResult) -> Sequence[str]:
    """Human-readable summary lines of a result (what ``posturewatch change`` prints)."""
    s = result.stats
    lines = [f"change        {result.change_path}  (score: -log10 false-alarm probability)",
             f"mask          {result.mask_path}  (threshold {result.threshold:.2f}, "
             f"{(s['change_fraction'] or 0):.2%} of {s['valid_pixels']:,} valid px changed)"]
    rs = s["residual_shift_px"]
    lines.append(f"registration  residual ({rs['dx']:+.2f}, {rs['dy']:+.2f}) px, quality "
                 f"{rs['quality']:.2f}")
    for z in result.zones:
        frac = "n/a" if z["change_fraction"] is None else f"{z['change_fraction']:.2%}"
        score = "n/a" if z["score"] is None else f"{z['score']:.2f}"
        lines.append(f"zone {z['name']:<12} changed {frac:>8}  mean score {score}")
    t = result.timings
    lines.append(f"time          {t['total_s']:.2f} s (fit {t['fit_s']:.2f}, stream "
                 f"{t['stream_s']:.2f}, encode {t['encode_s']:.2f})")
    return lines


__all__: list[str] = ["ChangeResult", "change_mask", "compute_change", "describe", "fit_arrays",
                      "fit_pair", "resolve_device", "score_arrays"]
