"""Helpers shared by the benchmark scripts: cached large test rasters and table printing."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("POSTUREWATCH_BENCH_CACHE", "/tmp/pw_bench"))


def textured_rgb_block(size: int = 2048, seed: int = 0) -> np.ndarray:
    """(3, size, size) uint8 with airbase-like texture (smooth fields, blocks, fine noise), so that
    DEFLATE compresses it about as well as real 8-bit imagery (roughly 2-3x)."""
    from imagery.samples import textured_field

    f = textured_field(size, size, seed=seed, bands=3)
    noise = np.random.default_rng(seed).normal(0, 0.02, f.shape)
    return np.clip((f + noise) * 230 + 10, 0, 255).astype(np.uint8)


def make_big_geotiff(path: Path, side: int, *, cog: bool, seed: int = 0, compress: str = "DEFLATE",
                     shift: tuple[int, int] = (0, 0)) -> Path:
    """Write a ``side`` x ``side`` 3-band uint8 GeoTIFF strip by strip (never all in memory).

    ``cog=True`` converts it to a COG with overviews afterwards (what a delivery looks like).
    Cached: an existing file is reused.
    """
    import rasterio
    import rasterio.shutil
    from affine import Affine

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    block = textured_rgb_block(2048, seed)
    staging = path.with_suffix(".staging.tif") if cog else path.with_suffix(".part.tif")
    profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", crs="EPSG:32636",
                   transform=Affine(0.5, 0, 760_000.0, 0, -0.5, 3_930_000.0), tiled=True,
                   blockxsize=512, blockysize=512, compress=compress, interleave="pixel",
                   BIGTIFF="YES", NUM_THREADS="ALL_CPUS")
    strip_h = 1024
    with rasterio.open(staging, "w", **profile) as ds:
        for r0 in range(0, side, strip_h):
            h = min(strip_h, side - r0)
            rows = (np.arange(r0, r0 + h) + shift[1]) % 2048
            cols = (np.arange(side) + shift[0]) % 2048
            strip = block[:, rows][:, :, cols]
            # Vary the content across the image so blocks are not identical.
            strip = (strip.astype(np.int16) + ((r0 // strip_h) * 7) % 23 - 11).clip(0, 255).astype(np.uint8)
            ds.write(strip, window=rasterio.windows.Window(0, r0, side, h))
    if cog:
        rasterio.shutil.copy(staging, path, driver="COG", COMPRESS=compress, BLOCKSIZE="512",
                             NUM_THREADS="ALL_CPUS", BIGTIFF="YES", OVERVIEWS="AUTO")
        staging.unlink()
    else:
        staging.rename(path)
    return path


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    """Median wall time of ``repeat`` runs (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    widths = [max(len(str(h)), *(len(_fmt(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(_fmt(v).ljust(w) for v, w in zip(r, widths, strict=True)))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)
