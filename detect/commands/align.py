"""``posturewatch align BEFORE AFTER [--json]``: put two dates on one grid and report how they
line up (overlap, sub-pixel shift, radiometric fit)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="co-register two dates and report shift and radiometry",
                       description="Put AFTER on BEFORE's grid (warping if CRS or GSD differ), "
                                   "estimate the global sub-pixel shift and fit the radiometric "
                                   "normalisation of AFTER onto BEFORE.")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--aoi", default=None,
                   help="area of interest: GeoJSON (lon/lat) or a site name/config")
    p.add_argument("--crs", default=None, help="put both dates on a grid in this CRS")
    p.add_argument("--grid-gsd", type=float, default=None,
                   help="pixel size in metres of that common grid")
    p.add_argument("--gsd", type=float, default=None,
                   help="GSD in metres of inputs without georeference (default 0.5)")


def run(args: argparse.Namespace) -> int:
    from imagery.pair import ScenePair

    pair = ScenePair(args.before, args.after, aoi=args.aoi, crs=args.crs, gsd=args.grid_gsd,
                     pixel_gsd=args.gsd)
    d = pair.to_json_dict()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    g = d["grid"]
    r = d["radiometric"]
    unit = "m" if not d["pixel_mode"] else "m (assumed GSD)"
    print(f"grid          {g['crs'] or 'pixels'}  {g['width']} x {g['height']} px at "
          f"{g['res'][0]:.4g} x {g['res'][1]:.4g}")
    print(f"bands         {', '.join(d['bands'])}")
    print(f"overlap       {d['overlap_fraction']:.1%} of BEFORE")
    print(f"shift         dx {d['shift_px'][0]:+.3f} px  dy {d['shift_px'][1]:+.3f} px  "
          f"({d['shift_m'][0]:+.3f}, {d['shift_m'][1]:+.3f}) {unit}  quality {d['quality']:.2f}"
          f"{'' if d['shift_applied'] else '  (not applied)'}  from {d['shift_windows']} windows")
    print(f"radiometry    AFTER -> BEFORE ({r['method']}, {r['no_change_fraction']:.0%} of the "
          f"sample unchanged)")
    for name, gain, off, r2 in zip(r["bands"], r["gain"], r["offset"], r["r2"], strict=True):
        print(f"  {name:<6} gain {gain:8.4f}  offset {off:10.3f}  r2 {r2:.3f}")
    return 0
