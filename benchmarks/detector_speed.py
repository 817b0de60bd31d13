"""Detector speed: end to end from a GeoTIFF on disk to a GeoPackage, and peak memory.

    python benchmarks/detector_speed.py                  # 4096^2 at 0.5 m, CPU (and CUDA if present)
    python benchmarks/detector_speed.py --device cuda --batch-size 32 --side 8192
    python benchmarks/detector_speed.py --quick          # 2048^2 smoke run

Targets (issue 4): >= 5 Mpx/s end to end on the 2-core CPU for a 4096 x 4096 scene at 0.5 m;
>= 300 Mpx/s on a CUDA GPU with batching (GPU utilisation reported); peak memory bounded by
batch and tile size, not image size (measured in fresh processes on two image sizes).

Rows: "end to end" = open + DRA fit + tiled read + model + decode + NMS + GeoPackage write;
"model only" = the network on batches of tiles already in memory (tile pixels/s, so the ratio of
the two rows shows the cost of tiling overlap and I/O). Test rasters are generated once into
$POSTUREWATCH_BENCH_CACHE (default /tmp/pw_bench) by benchmarks/_common.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, make_big_geotiff, peak_rss_mb, print_table


def build_detector(device: str, batch_size: int | None, weights: str | None,
                   heat_flips: list[str] | None = None):
    from detect.infer import SHIPPED_WEIGHTS, Detector

    path = weights or str(SHIPPED_WEIGHTS)
    extra = {} if heat_flips is None else {"heat_flips": heat_flips}
    if Path(path).is_file():
        det = Detector(path, device=device, batch_size=batch_size, **extra)
        return det, "shipped" if not weights else path
    from detect.model import CenterNetOBB, ModelConfig, fuse_for_inference

    model = fuse_for_inference(CenterNetOBB(ModelConfig()))
    det = Detector(model=model, gsd_m=0.5, device=device, batch_size=batch_size, **extra)
    return det, "untrained (no weights file)"


def end_to_end(det, path: Path, out: Path) -> dict:
    from imagery.scene import open_scene
    from imagery.writers import write_vectors

    t0 = time.perf_counter()
    scene = open_scene(path)
    dets = det.detect_scene(scene)
    dets.decoded = det._threshold(dets.decoded, None)
    gdf = det.to_geodataframe(dets, scene)
    write_vectors(out, {"detections": gdf})
    total = time.perf_counter() - t0
    scene.close()
    return {"total_s": total, "n": len(gdf), **dets.timings, "tiles": dets.tiles}


def model_only(det, tile: int, batches: int = 4) -> float:
    import numpy as np

    x = np.random.default_rng(0).integers(0, 255, (det.batch_size, 3, tile, tile), dtype=np.uint8)
    det.predict_batch(x)  # warm-up (oneDNN primitives, CUDA kernels)
    _sync(det.device)
    t0 = time.perf_counter()
    for _ in range(batches):
        det.predict_batch(x)
    _sync(det.device)
    return batches * det.batch_size * tile * tile / (time.perf_counter() - t0) / 1e6


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class GpuSampler:
    """Samples nvidia-smi's utilisation every 0.1 s while running."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
                out = subprocess.run(query,
                                     capture_output=True, text=True, timeout=2)
                self.samples.append(float(out.stdout.split()[0]))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                return
            time.sleep(0.1)

    def __enter__(self) -> GpuSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(timeout=3)

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else float("nan")


def memory_child(args: argparse.Namespace, path: str) -> None:
    """Fresh process: one end-to-end run, then report peak RSS (and CUDA peak)."""
    det, _ = build_detector(args.device, args.batch_size, args.weights, args.heat_flips)
    with tempfile.TemporaryDirectory() as tmp:
        r = end_to_end(det, Path(path), Path(tmp) / "d.gpkg")
    gpu = None
    if det.device.startswith("cuda"):
        import torch

        gpu = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "cuda_peak_mb": gpu, "total_s": r["total_s"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--memory-sides", default="4096,8192", help="image sides for the peak-memory rows")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--heat-flips", nargs="*", default=None, choices=["h", "v"],
                    help="test-time flips (detector.yaml heat_flips); default: the config's")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    import torch

    import detect.infer  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args, args.memory_child)
        return
    if args.quick:
        args.side, args.repeat, args.memory_sides = 2048, 1, "2048,4096"
    path = make_big_geotiff(CACHE / f"det_{args.side}.tif", args.side, cog=False)
    det, weights_note = build_detector(args.device, args.batch_size, args.weights, args.heat_flips)
    name = torch.cuda.get_device_name(0) if det.device.startswith("cuda") else "CPU"
    print(f"device {det.device} ({name}), "
          f"torch threads {torch.get_num_threads()}, batch {det.batch_size}, weights: {weights_note}, "
          f"heat flips {det.config.heat_flips or 'none'}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        end_to_end(det, path, Path(tmp) / "warm.gpkg")  # warm-up: oneDNN/cuDNN kernels, file cache
        runs = []
        with GpuSampler() if det.device.startswith("cuda") else _Null() as sampler:
            for k in range(args.repeat):
                runs.append(end_to_end(det, path, Path(tmp) / f"d{k}.gpkg"))
        runs.sort(key=lambda r: r["total_s"])
        r = runs[len(runs) // 2]
        mpx = args.side * args.side / 1e6
        tile = int(r["tile_size"])
        rows.append([f"end to end {args.side}^2 -> .gpkg", f"{r['total_s']:.2f}", f"{mpx / r['total_s']:.1f}",
                     f"{r['tiles']} tiles of {tile}, {r['n']} detections"])
        rows.append(["  of which model calls", f"{r['model_s']:.2f}", f"{mpx / r['model_s']:.1f}",
                     f"{r['model_s'] / r['total_s']:.0%} of the time"])
        mo = model_only(det, tile)
        rows.append([f"model only, batches of {tile}^2 tiles", "-", f"{mo:.1f}", "tile pixels/s"])
        if det.device.startswith("cuda"):
            rows.append(["GPU utilisation (nvidia-smi mean)", "-", "-", f"{sampler.mean:.0f} %"])
    print_table(f"Detector speed, {args.side} x {args.side} x 3 uint8 DEFLATE GeoTIFF at 0.5 m",
                ["what", "seconds (median)", "Mpx/s", "notes"], rows)
    mem_rows: list[list[object]] = []
    for side in [int(s) for s in args.memory_sides.split(",") if s]:
        p = make_big_geotiff(CACHE / f"det_{side}.tif", side, cog=False)
        cmd = [sys.executable, __file__, "--memory-child", str(p), "--device", args.device]
        if args.batch_size:
            cmd += ["--batch-size", str(args.batch_size)]
        if args.weights:
            cmd += ["--weights", args.weights]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.heat_flips is not None:
            cmd += ["--heat-flips", *args.heat_flips]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        d = json.loads(out.stdout.strip().splitlines()[-1])
        mem_rows.append([f"{side} x {side}", f"{side * side / 1e6:.0f}", f"{d['peak_rss_mb']:.0f}",
                         "-" if d["cuda_peak_mb"] is None else f"{d['cuda_peak_mb']:.0f}",
                         f"{side * side / 1e6 / d['total_s']:.1f}"])
    if mem_rows:
        print_table("Peak memory of one end-to-end run in a fresh process",
                    ["image", "Mpx", "peak RSS MB", "CUDA peak MB", "Mpx/s"], mem_rows)


class _Null:
    mean = float("nan")

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


if __name__ == "__main__":
    main()
