"""``posturewatch info IMAGE [--json]``: what an image is, like gdalinfo but Maxar-aware."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show an image's georeference and acquisition metadata",
                       description="Show an image's size, CRS, GSD, bands and, when a Maxar "
                                   "IMD/XML or STAC side-car is present, its acquisition geometry.")
    p.add_argument("image", help="GeoTIFF/COG, NITF, ENVI, VRT, PNG or JPEG")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--gsd", type=float, default=None,
                   help="GSD in metres to assume for images without georeference (default 0.5)")


def run(args: argparse.Namespace) -> int:
    from imagery.scene import open_scene

    scene = open_scene(args.image, gsd=args.gsd)
    d = scene.meta.to_json_dict()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(format_info(d))
    return 0


def _fmt(v: object, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}{unit}"
    return f"{v}{unit}"


def format_info(d: dict) -> str:
    crs = d["crs"] or "none (pixel coordinates)"
    if crs and len(crs) > 60:
        crs = crs[:57] + "..."
    left, bottom, right, top = d["bounds"]
    lines = [
        f"{d['path']}",
        f"  driver      {d['driver']}",
        f"  size        {d['width']} x {d['height']} px, {d['count']} band(s) "
        f"[{', '.join(d['band_names'])}], {d['dtype']} ({d['bits_per_pixel']} bits used)",
        f"  crs         {crs}",
        f"  gsd         {d['gsd_m']:.3f} m" + ("" if d["georeferenced"] else " (assumed)"),
        f"  bounds      left {left:.3f}  bottom {bottom:.3f}  right {right:.3f}  top {top:.3f}",
        f"  nodata      {_fmt(d['nodata'])}",
        f"  overviews   {', '.join(str(o) for o in d['overviews']) or '-'}",
    ]
    if d.get("metadata_source"):
        lines += [
            f"  metadata    from {d['metadata_source']}",
            f"  satellite   {_fmt(d['satellite'])}   catalog id {_fmt(d['catalog_id'])}",
            f"  acquired    {_fmt(d['acquired'])}",
            f"  sun         azimuth {_fmt(d['sun_azimuth'], ' deg')}  "
            f"elevation {_fmt(d['sun_elevation'], ' deg')}",
            f"  satellite   azimuth {_fmt(d['sat_azimuth'], ' deg')}  "
            f"elevation {_fmt(d['sat_elevation'], ' deg')}  off-nadir {_fmt(d['off_nadir'], ' deg')}",
            f"  cloud cover {_fmt(d['cloud_cover'])}",
        ]
    return "\n".join(lines)
