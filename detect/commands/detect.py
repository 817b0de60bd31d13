"""``posturewatch detect IMAGE... --out FILE(.gpkg|.geojson)``: find aircraft, helicopters,
air defence and vehicles, with their heading and state, as oriented boxes."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="detect aircraft, helicopters, SAM and vehicles in images",
                       description="Sliced, batched detection over whole scenes. Output: one oriented "
                                   "box polygon per object with class, state, score, heading_deg, "
                                   "length_m, width_m (and date when known). GeoPackage keeps the "
                                   "image CRS (one layer per image); GeoJSON is WGS84 (one collection "
                                   "with an 'image' property). Images without georeference give "
                                   "pixel coordinates and no CRS.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="GeoTIFF/COG, NITF, JPEG, PNG ...")
    p.add_argument("--out", required=True, help="output .gpkg or .geojson")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")
    p.add_argument("--config", default=None, help="detector config (default: configs/detector.yaml)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=int, default=None, help="tiles per model call")
    p.add_argument("--tile-size", type=int, default=None, help="preferred tile side in model pixels")
    p.add_argument("--score-threshold", type=float, default=None)
    p.add_argument("--aoi", default=None, help="area of interest: GeoJSON (lon/lat) or a site name/config")
    p.add_argument("--gsd", type=float, default=None,
                   help="GSD in metres of images without georeference (default 0.5)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the model")


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from imagery.errors import InputError

    out = Path(args.out)
    if out.suffix.lower() not in (".gpkg", ".geojson", ".json"):
        raise InputError(f"{out}: output must end in .gpkg or .geojson")
    from detect.infer import Detector  # first: it sets the OpenMP wait policy before torch loads
    from imagery.scene import open_scene

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    overrides = {}
    if args.tile_size:
        overrides["tile_size"] = args.tile_size
    if args.score_threshold is not None:
        overrides["score_threshold"] = args.score_threshold
    detector = Detector(args.weights, device=args.device, batch_size=args.batch_size,
                        config=args.config, **overrides)
    quiet = bool(os.environ.get("POSTUREWATCH_QUIET"))
    frames = {}
    for image in args.images:
        scene = open_scene(image, gsd=args.gsd)
        gdf = detector.name_air_defence(detector.run(scene, aoi=args.aoi, progress=not quiet), scene)
        name = Path(image).stem
        base, k = name, 1
        while name in frames:
            k += 1
            name = f"{base}_{k}"
        frames[name] = gdf
        if not quiet:
            print(f"{image}: {len(gdf)} detection(s)", file=sys.stderr)
    write_detections(out, frames)
    print(out)
    return 0


def write_detections(out, frames: dict) -> None:
    """GeoPackage: a layer per image, native CRS. GeoJSON: one WGS84 collection, with the
    image name as a property (pixel-mode images cannot be mixed with georeferenced ones)."""
    import geopandas as gpd
    import pandas as pd

    from imagery.errors import InputError
    from imagery.writers import write_vectors

    if out.suffix.lower() == ".gpkg":
        write_vectors(out, frames)
        return
    crss = {gdf.crs is None for gdf in frames.values()}
    if len(crss) > 1:
        raise InputError("cannot put georeferenced and pixel-coordinate detections in one GeoJSON; "
                         "use .gpkg (a layer per image) or run them separately")
    parts = []
    for name, gdf in frames.items():
        g = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
        g = g.copy()
        g["image"] = name
        parts.append(g)
    crs = parts[0].crs if parts else None
    merged = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    write_vectors(out, {"detections": merged})
