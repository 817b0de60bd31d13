"""False detections in the groves around a synthetic Khmeimim: what a whole-image run (no site
AOI) reports among olive and citrus trees, where nothing labelled stands.

A tree crown with its sun shadow is helicopter-sized; the shipped detector of 2026-12-04 read
such crowns as helicopters on a 10000^2 whole-image run, and their shadows, which move with the
sun between dates, then made helicopter "events" (README). This benchmark renders Khmeimim
scenes (or reuses them), runs the detector over every pixel of each date, and counts the
detections of each class whose centre falls inside the site's grove polygons
(configs/sites/khmeimim.yaml ``layout.groves``), per square kilometre of grove. Every weights
file given is measured on the same images in one run.

    python benchmarks/grove_false_alarms.py --weights detect/weights/detector.pt runs/groves2/detector.pt
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table


def grove_polygons(site: str = "khmeimim"):
    """The site's grove polygons in its map CRS (shapely), and their total area in km^2."""
    import shapely

    from imagery.config import load_site
    from imagery.synth.layout import SiteFrame, parse_layout

    cfg = load_site(site)
    spec = parse_layout(cfg)
    frame = SiteFrame(cfg, spec)
    polys = [shapely.Polygon(frame.to_map(g.polygon)) for g in spec.groves]
    return polys, sum(p.area for p in polys) / 1e6


def scenes(work: Path, seeds: list[int], size: int) -> list[Path]:
    from imagery.synth import generate

    out = []
    for seed in seeds:
        d = work / f"steady_{seed}_{size}"
        if not (d / "scene.json").is_file():
            generate("steady", seed, d, dates=2, site="khmeimim", size=size, start_date="2024-12-12")
        manifest = json.loads((d / "scene.json").read_text())
        out += [d / x["image"] for x in manifest["dates"]]
    return out


def count_in_groves(weights: str | None, images: list[Path], polys) -> dict[str, int]:
    import shapely

    from detect.infer import Detector

    det = Detector(weights=weights, device="cpu")
    union = shapely.union_all(polys)
    counts: dict[str, int] = {}
    for img in images:
        gdf = det.run(img)
        inside = gdf[gdf.geometry.centroid.within(union)]
        for cls in inside["class"]:
            counts[cls] = counts.get(cls, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", nargs="+", default=["detect/weights/detector.pt"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    ap.add_argument("--size", type=int, default=6656,
                    help="scene side in pixels (6656 covers all four groves)")
    ap.add_argument("--work", default=None, help="keep the scenes here (default: a temp dir)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = Path(args.work or tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    polys, km2 = grove_polygons()
    images = scenes(work, args.seeds, args.size)
    rows, results = [], {}
    for w in args.weights:
        counts = count_in_groves(w, images, polys)
        total = sum(counts.values())
        results[w] = {"counts": counts, "images": len(images), "grove_km2": round(km2, 3)}
        rows.append([w, len(images), total, round(total / len(images) / km2, 1),
                     ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"])
    print_table(f"Detections inside the Khmeimim groves ({km2:.2f} km^2 per image, nothing labelled there; "
                f"steady seeds {args.seeds}, both dates)",
                ["weights", "images", "detections", "per km^2 per image", "by class"], rows)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
