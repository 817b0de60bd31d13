"""Peak memory of ``posturewatch change`` on a large pair (default 30000 x 30000).

    python benchmarks/change_memory.py [--side 30000]

The pair is a VRT mosaic of the 10000 x 10000 benchmark COGs of benchmarks/change_e2e.py (3 x 3
copies for 30000), so nothing that large is written to disk as input; the output (change.tif,
change_mask.tif) is written in full. Reports wall time and the child's maximum resident set
size; the target is under 1.5 GB, independent of image size (memory is bounded by tile size
and queue depth).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, print_table
from change_e2e import make_pair


def mosaic_vrt(src: Path, reps: int, side: int, out: Path) -> Path:
    """A VRT of reps x reps copies of a 3-band uint8 GeoTIFF of ``side`` px."""
    import rasterio

    with rasterio.open(src) as ds:
        t = ds.transform
        crs = ds.crs.to_wkt()
    size = side * reps
    bands = []
    for b in (1, 2, 3):
        srcs = []
        for i in range(reps):
            for j in range(reps):
                srcs.append(
                    f'<SimpleSource><SourceFilename relativeToVRT="0">{src}</SourceFilename>'
                    f"<SourceBand>{b}</SourceBand>"
                    f'<SrcRect xOff="0" yOff="0" xSize="{side}" ySize="{side}"/>'
                    f'<DstRect xOff="{j * side}" yOff="{i * side}" xSize="{side}" ySize="{side}"/>'
                    "</SimpleSource>")
        bands.append(f'<VRTRasterBand dataType="Byte" band="{b}">{"".join(srcs)}</VRTRasterBand>')
    gt = f"{t.c}, {t.a}, {t.b}, {t.f}, {t.d}, {t.e}"
    out.write_text(f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}"><SRS>{crs}</SRS>'
                   f'<GeoTransform>{gt}</GeoTransform>{"".join(bands)}</VRTDataset>')
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--side", type=int, default=30000)
    ap.add_argument("--basic", action="store_true")
    args = ap.parse_args(argv)
    base = 10000
    reps = max(1, round(args.side / base))
    a, b = make_pair(base)
    work = CACHE / f"memory_{args.side}"
    work.mkdir(parents=True, exist_ok=True)
    va = mosaic_vrt(a, reps, base, work / "before.vrt")
    vb = mosaic_vrt(b, reps, base, work / "after.vrt")
    out = work / "out"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "detect", "--quiet", "change", str(va), str(vb), "--out",
                        str(out), *(["--basic"] if args.basic else [])], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"posturewatch change failed: {r.stderr.strip()}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    stats = json.loads((out / "change_stats.json").read_text())
    t = stats["timings"]
    side = reps * base
    print_table(f"posturewatch change on a {side} x {side} pair ({side * side / 1e6:.0f} Mpx)",
                ["score", "wall s", "Mpx/s", "peak RSS MB", "stream s", "encode s", "tiles"],
                [["basic" if args.basic else "robust", wall, side * side / wall / 1e6, peak_mb,
                  t["stream_s"], t["encode_s"], stats["tiles"]["count"]]])
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
