"""``posturewatch change BEFORE AFTER --out DIR``: per-pixel change of two dates.

Writes ``change.tif`` (float32 score: -log10 false-alarm probability, NaN = no data),
``change_mask.tif`` (uint8: 1 change, 0 no change, 255 nodata) and ``change_stats.json``
(per-zone statistics, threshold, alignment report, timings, settings) into DIR.
"""

from __future__ import annotations

import argparse
import os
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("change", help="per-pixel change of two dates (change.tif + mask + stats)",
                       description="Co-register two dates, score every pixel's change (robust "
                                   "IR-MAD significance) and write change.tif, change_mask.tif "
                                   "and change_stats.json into --out.")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--site", default=None,
                   help="site name or config path: its zones get their own statistics")
    p.add_argument("--aoi", default=None,
                   help="area of interest: GeoJSON (lon/lat) or a site name/config")
    p.add_argument("--config", default=None,
                   help="change settings YAML (default: the shipped configs/change.yaml)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--gsd", type=float, default=None,
                   help="GSD in metres of inputs without georeference (default 0.5)")
    p.add_argument("--tile-size", type=int, default=None,
                   help="tile core size in pixels (default from the config, 1024)")
    p.add_argument("--basic", action="store_true",
                   help="plain IR-MAD chi-square significance, no robustness levers")
    p.add_argument("--json", action="store_true", help="print change_stats.json to stdout")


def _startup_s() -> float | None:
    """Seconds since this process started. On Linux from the kernel's own clocks (the start
    tick in /proc and CLOCK_BOOTTIME): psutil's create_time adds the boot time, which /proc
    gives in whole seconds, and so over-reported start-up by up to a second."""
    try:
        with open(f"/proc/{os.getpid()}/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):  # not Linux
        pass
    try:
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())
    except Exception:  # pragma: no cover - psutil missing
        return None


def run(args: argparse.Namespace) -> int:
    import json

    from detect.change.config import load_change_config
    from detect.change.pixel import compute_change, describe
    from imagery.blocks import DEFAULT_CACHE_BYTES
    from imagery.errors import InputError
    from imagery.pair import ScenePair

    startup = _startup_s()  # process start until everything the work needs is imported

    quiet = bool(getattr(args, "quiet", False) or os.environ.get("POSTUREWATCH_QUIET"))
    cfg = load_change_config(args.config)
    if args.basic:
        cfg = cfg.basic()
    if args.tile_size is not None and args.tile_size < 64:
        raise InputError(f"--tile-size {args.tile_size}: use at least 64 px")
    t0 = time.perf_counter()
    # The change model fits its own radiometric regression (on its IR-MAD no-change pixels), so
    # the pair's would be a second IR-MAD fit for nothing (about 3 s on a large pair).
    # While the pair aligns and the model fits (mostly one core), a thread decodes the top of
    # both dates for the stream: half of each date's block cache, so that the stream's own
    # working set never evicts warmed blocks before it reaches them.
    pair = ScenePair(args.before, args.after, aoi=args.aoi, pixel_gsd=args.gsd, normalise=False,
                     prefetch_bytes=DEFAULT_CACHE_BYTES // 2)
    align_s = time.perf_counter() - t0
    result = compute_change(pair, args.out, cfg, device=args.device, site=args.site,
                            progress=not quiet, tile_size=args.tile_size)
    result.timings["align_s"] = round(align_s, 4)
    if startup is not None:
        result.timings["startup_s"] = round(startup, 4)
    result.stats["timings"] = result.timings
    from imagery.atomic import atomic_write_text

    atomic_write_text(result.stats_path, json.dumps(result.stats, indent=2, default=str))
    if args.json:
        print(json.dumps(result.stats, indent=2, default=str))
    else:
        for line in describe(result):
            print(line)
    return 0
