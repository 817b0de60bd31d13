"""Speed of the in-memory change kernels against the memory-bandwidth floor and naive numpy.

    python benchmarks/change_kernel.py [--size 10000] [--repeat 5]

All ratios come from one run:
* floor: a numba stream over the same bytes (read 2 x 3 B uint8, write 4 B float32 per pixel);
* naive: the float64 numpy reference (detect.change.reference) of the same score, timed on a
  1024 x 1024 crop (it needs ~40 GB on the full image) and quoted per pixel;
* basic: the normalised IR-MAD chi-square (raw, and through the score table);
* robust: search (+-1 px, two-way), structure (5 x 5), 3 x 3 box mean, score table (no sun or
  view metadata here, so no shadow or lean term);
* cuda: the torch kernel on batches of 1024 x 1024 tiles, when a GPU is present.
Start-up (a fresh process importing the CPU path and scoring a small pair from the numba
cache) is reported separately, with a check that torch was not imported.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, textured_rgb_block, timed

from detect.change import cpu
from detect.change.config import load_change_config
from detect.change.pixel import fit_arrays
from detect.change.reference import reference_score, reference_statistic


@njit(parallel=True, cache=True, nogil=True)
def stream_floor(x, y, out):  # pragma: no cover - compiled
    """The same bytes as the score, no maths: read 6 B, write 4 B per pixel."""
    _, h, w = x.shape
    for r in prange(h):
        x0, x1, x2 = x[0, r], x[1, r], x[2, r]
        y0, y1, y2 = y[0, r], y[1, r], y[2, r]
        o = out[r]
        for c in range(w):
            o[c] = np.float32(x0[c]) + x1[c] + x2[c] + y0[c] + y1[c] + y2[c]


def make_pair(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    block_a = textured_rgb_block(2048, seed=0)
    rng = np.random.default_rng(1)
    block_b = np.clip(block_a * 0.8 + 20 + rng.normal(0, 3, block_a.shape), 0, 255).astype(np.uint8)
    block_b[:, 500:700, 800:1100] = 230  # some change
    reps = size // 2048 + 1
    a = np.ascontiguousarray(np.tile(block_a, (1, reps, reps))[:, :size, :size])
    b = np.ascontiguousarray(np.tile(block_b, (1, reps, reps))[:, :size, :size])
    return a, b, np.ones((size, size), bool)


def startup_check() -> tuple[float, bool]:
    code = ("import time, sys; t = time.perf_counter(); import numpy as np; "
            "from detect.change.pixel import score_arrays; "
            "a = np.random.default_rng(0).integers(0, 255, (3, 64, 64)).astype(np.uint8); "
            "score_arrays(a, a // 2 + 10); "
            "print(time.perf_counter() - t, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    t, torch = out.stdout.split()
    # Interpreter start itself:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return float(t) + (time.perf_counter() - t0), torch == "True"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    n = args.size
    a, b, valid = make_pair(n)
    out = np.empty((n, n), np.float32)
    cfg = load_change_config()
    crop = (slice(None), slice(0, 2048), slice(0, 2048))
    basic = fit_arrays(a[crop], b[crop], valid[:2048, :2048], cfg.basic())
    robust = fit_arrays(a[crop], b[crop], valid[:2048, :2048], cfg)
    # Warm-up (compile or load from the numba cache) outside the timings.
    stream_floor(a[:, :64, :64], b[:, :64, :64], out[:64, :64])
    for m in (basic, robust):
        for raw in (True, False):
            cpu.score_tile(a[:, :128, :128], b[:, :128, :128], valid[:128, :128], m, raw=raw,
                           out=out[:128, :128])
    px = n * n
    # Interleaved: each repetition times the floor and every kernel back to back, and the
    # ratios are taken per repetition (other work on a shared machine drifts between them).
    kernels = {
        "basic chi-square (raw)": lambda: cpu.score_tile(a, b, valid, basic, raw=True, out=out),
        "basic significance": lambda: cpu.score_tile(a, b, valid, basic, out=out),
        "robust significance": lambda: cpu.score_tile(a, b, valid, robust, out=out),
    }
    times: dict[str, list[float]] = {k: [] for k in ["floor", *kernels]}
    ratios: dict[str, list[float]] = {k: [] for k in kernels}
    for _ in range(args.repeat):
        tf = timed(lambda: stream_floor(a, b, out), 1)
        times["floor"].append(tf)
        for name, fn in kernels.items():
            t = timed(fn, 1)
            times[name].append(t)
            ratios[name].append(tf / t)
    t_floor = float(np.median(times["floor"]))
    # Naive float64 numpy on a crop, per pixel.
    k = 1024
    cc = (slice(None), slice(0, k), slice(0, k))
    t0 = time.perf_counter()
    reference_statistic(a[cc], b[cc], valid[:k, :k], basic)
    naive_basic = (time.perf_counter() - t0) * px / (k * k)
    t0 = time.perf_counter()
    reference_score(a[cc], b[cc], valid[:k, :k], robust)
    naive_robust = (time.perf_counter() - t0) * px / (k * k)
    rows = [["floor (stream 10 B/px)", px / t_floor / 1e6, 1.0, float("nan")]]
    for name in kernels:
        t = float(np.median(times[name]))
        naive = naive_robust if name.startswith("robust") else naive_basic
        rows.append([name, px / t / 1e6, float(np.median(ratios[name])), naive / t])
    rows.append(["naive numpy basic (1024^2 crop)", px / naive_basic / 1e6, t_floor / naive_basic, 1.0])
    rows.append(["naive numpy robust (1024^2 crop)", px / naive_robust / 1e6, t_floor / naive_robust,
                 1.0])
    cuda_rows = cuda_benchmark(a, b, valid, robust, basic)
    print_table(f"Change kernels, {n} x {n} 3-band uint8 pair (medians of {args.repeat} interleaved runs; "
                "x floor = median of per-run ratios)",
                ["kernel", "Mpx/s", "x floor", "x naive"], rows + cuda_rows)
    t_start, torch = startup_check()
    print(f"\nstart-up (interpreter + imports + cached kernels + a 64x64 score): {t_start:.2f} s; "
          f"torch imported: {torch}")
    return 0


def cuda_benchmark(a, b, valid, robust, basic) -> list[list[object]]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    from detect.change.cuda import TorchScorer

    rows = []
    tile, batch = 1024, 8
    xa = torch.from_numpy(a[:, :tile * 4, :tile * 2]).cuda()
    xb = torch.from_numpy(b[:, :tile * 4, :tile * 2]).cuda()
    xs = xa.reshape(3, 4, tile, 2, tile).permute(1, 3, 0, 2, 4).reshape(batch, 3, tile, tile).contiguous()
    ys = xb.reshape(3, 4, tile, 2, tile).permute(1, 3, 0, 2, 4).reshape(batch, 3, tile, tile).contiguous()
    vs = torch.ones((batch, tile, tile), dtype=torch.bool, device="cuda")
    for name, m in (("basic", basic), ("robust", robust)):
        s = TorchScorer(m, device="cuda")

        def run(s=s):
            s.calibrated(s.statistic(xs, ys, vs))
            torch.cuda.synchronize()

        run()
        t = timed(run, 5)
        rows.append([f"cuda {name} (on device, batch {batch}x{tile}^2)", batch * tile * tile / t / 1e6,
                     float("nan"), float("nan")])
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
