"""Ingest benchmark: tiled background reads vs one plain rasterio read, and peak memory.

    python benchmarks/ingest.py            # 10000^2 throughput + 30000^2 peak memory
    python benchmarks/ingest.py --quick    # 4000^2 and 12000^2 (a smoke run)

Targets (issue 2): tiled read throughput of a 10000x10000 3-band DEFLATE COG >= 0.9x a plain
rasterio full read with GDAL threads (same run); peak memory for a 30000x30000 image < 1 GB.
Test rasters are generated once into $POSTUREWATCH_BENCH_CACHE (default /tmp/pw_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, make_big_geotiff, print_table, timed


def plain_full_read(path: Path) -> None:
    import rasterio

    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(path) as ds:
        ds.read()


def tiled_read(path: Path, tile: int, overlap: int, workers: int, gdal_threads: str) -> int:
    import rasterio

    from imagery.grid import GridSpec, TileGrid
    from imagery.reader import iter_tiles
    from imagery.scene import open_scene
    from imagery.sources import source_on_grid

    with rasterio.Env(GDAL_NUM_THREADS=gdal_threads):
        s = open_scene(path)
        g = GridSpec(s.meta.crs, s.meta.transform, s.meta.width, s.meta.height)
        grid = TileGrid(g, tile, overlap)
        src = source_on_grid(s, g)
        n = 0
        for td in iter_tiles(grid, [src], workers=workers, prefetch=4):
            n += td.tile.core.width * td.tile.core.height
        s.close()
    return n


def memory_child(path: str, tile: int, overlap: int) -> None:
    """Run in a fresh process: stream every tile and report the peak RSS."""
    from _common import peak_rss_mb

    n = tiled_read(Path(path), tile, overlap, workers=2, gdal_threads="1")
    print(json.dumps({"pixels": n, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=3, metavar=("PATH", "TILE", "OVERLAP"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        memory_child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    side, big = (4000, 12000) if args.quick else (10000, 30000)
    path = make_big_geotiff(CACHE / f"rgb_{side}_deflate_cog.tif", side, cog=True)
    mpx = side * side / 1e6
    plain_full_read(path)  # warm the page cache so both contenders read from memory
    t_plain = timed(lambda: plain_full_read(path))
    rows = [["plain rasterio full read, GDAL_NUM_THREADS=ALL_CPUS", "-", t_plain, mpx / t_plain, 1.0]]
    for tile, overlap, workers, gthreads in [(1024, 0, 2, "1"), (1024, 64, 2, "1"), (1024, 64, 3, "1"),
                                             (512, 32, 3, "1"), (2048, 64, 3, "1")]:
        t = timed(lambda: tiled_read(path, tile, overlap, workers, gthreads))  # noqa: B023
        rows.append([f"iter_tiles tile {tile} overlap {overlap}, {workers} reader thread(s), "
                     f"GDAL threads {gthreads}", f"{tile}/{overlap}", t, mpx / t, t_plain / t])
    print_table(f"Tiled read of a {side}x{side} 3-band uint8 DEFLATE COG ({os.cpu_count()} cores)",
                ["reader", "tile/overlap", "seconds", "Mpx/s", "x plain read"], rows)

    big_path = make_big_geotiff(CACHE / f"rgb_{big}_deflate.tif", big, cog=False, seed=1)
    out = subprocess.run([sys.executable, __file__, "--child", str(big_path), "1024", "64"],
                         capture_output=True, text=True, check=True)
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    print_table(f"Peak memory streaming a {big}x{big} 3-band image ({big * big * 3 / 1e9:.1f} GB raw)",
                ["tile/overlap", "pixels read", "peak RSS MB", "target MB"],
                [["1024/64", f"{mem['pixels']:,}", mem["peak_rss_mb"], 1024]])


if __name__ == "__main__":
    main()
