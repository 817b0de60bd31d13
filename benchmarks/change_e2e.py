"""End to end, file to change.tif, against the I/O floor, plus start-up and peak memory.

    python benchmarks/change_e2e.py [--size 10000] [--repeat 2] [--basic] [--devices cpu,cuda]

The pair: two 3-band uint8 DEFLATE COGs (textured, compressing about as real 8-bit imagery
does), AFTER = a radiometrically different copy of BEFORE with planted changes; cached in
$POSTUREWATCH_BENCH_CACHE (default /tmp/pw_bench). All timings come from one run:
* I/O floor: GDAL alone, all threads (GDAL_NUM_THREADS=ALL_CPUS), decoding both inputs whole
  and encoding one output of the same size, band count and compression as change.tif (float32
  COG, ZSTD predictor 3 level 1 with overviews, from memory);
* posturewatch change: the CLI in a fresh process (includes start-up, alignment, the fit on
  samples, streaming, and also writing change_mask.tif and change_stats.json);
* start-up: from change_stats.json (process start until the command's work begins);
* peak memory: the child's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, print_table, textured_rgb_block


def make_pair(side: int) -> tuple[Path, Path]:
    """BEFORE and AFTER COGs of ``side`` px (written once, strip by strip, then converted)."""
    import rasterio
    import rasterio.shutil
    from affine import Affine

    out = []
    for name in ("before", "after"):
        path = CACHE / f"change_{name}_{side}.tif"
        out.append(path)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        block = textured_rgb_block(2048, 0)
        rng = np.random.default_rng(7)
        staging = path.with_suffix(".staging.tif")
        profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", crs="EPSG:32636",
                       transform=Affine(0.5, 0, 760_000.0, 0, -0.5, 3_930_000.0), tiled=True,
                       blockxsize=512, blockysize=512, compress="DEFLATE", interleave="pixel",
                       BIGTIFF="YES", NUM_THREADS="ALL_CPUS")
        with rasterio.open(staging, "w", **profile) as ds:
            for r0 in range(0, side, 1024):
                h = min(1024, side - r0)
                rows = np.arange(r0, r0 + h) % 2048
                strip = block[:, rows][:, :, np.arange(side) % 2048].astype(np.float32)
                strip += ((r0 // 1024) * 7) % 23 - 11
                if name == "after":
                    strip = strip * np.array([0.85, 0.9, 0.95])[:, None, None] + 12
                    strip += rng.normal(0, 2.0, strip.shape)
                    for _ in range(side // 1500):  # a few new bright objects per strip
                        c = int(rng.integers(0, side - 60))
                        rr = int(rng.integers(0, max(1, h - 30)))
                        strip[:, rr:rr + 30, c:c + 60] = 235
                ds.write(np.clip(strip, 0, 255).astype(np.uint8),
                         window=rasterio.windows.Window(0, r0, side, h))
        rasterio.shutil.copy(staging, path, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE="512",
                             NUM_THREADS="ALL_CPUS", BIGTIFF="YES", OVERVIEWS="AUTO")
        staging.unlink()
    return out[0], out[1]


def io_floor(a: Path, b: Path, out_dir: Path) -> dict[str, float]:
    import rasterio

    from detect.change.config import load_change_config
    from imagery.writers import write_cog

    o = load_change_config().output
    t = {}
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
        t0 = time.perf_counter()
        with rasterio.open(a) as ds:
            da = ds.read()
        with rasterio.open(b) as ds:
            db = ds.read()
            transform, crs = ds.transform, ds.crs
        t["decode_s"] = time.perf_counter() - t0
        score = (da[0].astype(np.float32) - db[0]) * np.float32(0.05)  # realistic entropy
        np.abs(score, out=score)
        del da, db
        t0 = time.perf_counter()
        write_cog(out_dir / "floor.tif", score[None], transform=transform, crs=str(crs), nodata=float("nan"),
                  compress=o.compress, predictor=o.predictor, level=o.level, overviews=o.overviews,
                  max_z_error=o.max_z_error)
        t["encode_s"] = time.perf_counter() - t0
    t["floor_s"] = t["decode_s"] + t["encode_s"]
    return t


def run_change(a: Path, b: Path, out_dir: Path, extra: list[str]) -> tuple[float, dict, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "detect", "--quiet", "change", str(a), str(b), "--out",
                        str(out_dir), *extra], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"posturewatch change failed: {r.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    stats = json.loads((out_dir / "change_stats.json").read_text())
    return wall, stats, max(peak, before) / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--basic", action="store_true", help="also time the basic score")
    ap.add_argument("--devices", default="cpu", help="comma-separated kernels to time: cpu, cuda")
    args = ap.parse_args(argv)
    a, b = make_pair(args.size)
    work = CACHE / f"e2e_{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    devices = [d for d in args.devices.split(",") if d]
    variants = [(f"robust {d}", ["--device", d]) for d in devices]
    variants += [(f"basic {d}", ["--basic", "--device", d]) for d in devices if args.basic]
    # Warm the numba cache for this dtype pair outside the timings.
    run_change(a, b, work / "warm", ["--tile-size", "256"])
    rows = []
    for k in range(args.repeat):
        floor = io_floor(a, b, work)
        for name, extra in variants:
            wall, stats, peak = run_change(a, b, work / f"{name}{k}", extra)
            t = stats["timings"]
            rows.append([f"{name} #{k + 1}", floor["floor_s"], floor["decode_s"], floor["encode_s"], wall,
                         floor["floor_s"] / wall, t.get("startup_s", float("nan")), t["align_s"], t["fit_s"],
                         t["stream_s"], t["compute_s"], t["encode_s"], peak])
    px = args.size * args.size
    print_table(f"End to end, {args.size} x {args.size} 3-band uint8 DEFLATE COG pair -> change.tif "
                f"(+ change_mask.tif); x floor = floor / ours, same repetition",
                ["run", "floor s", "decode", "encode", "ours s", "x floor", "start-up", "align", "fit",
                 "stream", "kernel", "final encode", "peak MB"], rows)
    print()
    for name, _ in variants:
        best = min(r[4] for r in rows if r[0].startswith(f"{name} #"))
        print(f"best end-to-end, {name}: {px / best / 1e6:.0f} Mpx/s ({best:.2f} s)")
    for p in work.rglob("*"):
        if p.is_file():
            p.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
