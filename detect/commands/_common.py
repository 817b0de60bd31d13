"""Arguments shared by the pipeline commands (run, series, demo, batch)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_run_options(p: argparse.ArgumentParser, *, site_default: str | None = None) -> None:
    p.add_argument("--site", default=site_default,
                   help="site config: a shipped name (khmeimim) or a YAML path; gives the AOI and zones")
    p.add_argument("--aoi", default=None, help="area of interest (GeoJSON, lon/lat) when no --site is given")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the detector (and the CUDA change kernel) run (default: auto)")
    p.add_argument("--batch-size", type=int, default=None, help="detector tiles per batch")
    p.add_argument("--weights", default=None, help="detector weights (default: the shipped ones)")
    p.add_argument("--gsd", type=float, default=None,
                   help="GSD in metres of inputs without georeference (PNG/JPEG; default 0.5)")
    p.add_argument("--change-config", default="change", help="change settings: name or YAML path")
    p.add_argument("--posture-config", default="posture", help="posture settings: name or YAML path")
    p.add_argument("--no-detect", action="store_true", help="pixel change only (no detector)")
    p.add_argument("--no-report", action="store_true", help="skip overlays and report.html")


def options_from_args(args: argparse.Namespace) -> Any:
    from detect.pipeline import RunOptions

    return RunOptions(site=args.site, aoi=args.aoi, device=args.device, batch_size=args.batch_size,
                      weights=args.weights, change_config=args.change_config,
                      posture_config=args.posture_config, pixel_gsd=args.gsd, detect=not args.no_detect,
                      progress=not (args.quiet or os.environ.get("POSTUREWATCH_QUIET")),
                      report=not args.no_report)


def print_pair_summary(report: dict[str, Any], out_dir: Any) -> None:
    events = report["events"]
    print(f"posture-change score {report['posture_score']:.0f}/100, {len(events)} event(s)")
    for k, e in enumerate(events, start=1):
        print(f"  {k:2d}. [{e['kind']}] {e['explanation']} (confidence {e['confidence']:.2f})")
    t = report.get("timings", {})
    if t:
        print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()))
    print(f"report: {out_dir}/report.html")
