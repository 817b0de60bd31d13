"""Training-chip throughput of ``imagery.synth.chips.ChipStream``: one process, and N processes
sharding chip indices the way DataLoader workers do.

    python benchmarks/synth_chips.py [--size 512] [--n 200] [--procs 2] [--warm 150]

Prints chips per second and the ratio to the 50 chips/s target. The first ``--warm`` chips of
each process are not timed: they fill the per-process caches (texture banks, numba, the pool of
object model variants) that a training run fills once. Each process uses one OpenCV thread so
that N processes on N cores do not oversubscribe. Timings on a shared 2-core machine are noisy:
compare ratios from one run, and rerun when the machine is busy (load average printed).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

TARGET = 50.0


def _worker(args: tuple[int, int, int, int, int]) -> tuple[int, float, float]:
    size, seed, start, n, warm = args
    import cv2

    cv2.setNumThreads(1)
    from imagery.synth.chips import ChipStream

    stream = ChipStream(size=size, seed=seed)
    for i in range(warm):
        stream.chip(10_000_000 + start + i)
    t = time.perf_counter()
    c = time.process_time()
    boxes = 0
    for i in range(start, start + n):
        boxes += len(stream.chip(i).boxes)
    return boxes, time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--n", type=int, default=200, help="timed chips per process")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--warm", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows = []
    boxes, wall, cpu = _worker((a.size, a.seed, 0, a.n, a.warm))
    rows.append(("1 process", a.n / wall, a.n, wall, cpu / a.n * 1000, boxes / a.n))
    ctx = mp.get_context("spawn")
    jobs = [(a.size, a.seed, k * a.n, a.n, a.warm) for k in range(a.procs)]
    with ctx.Pool(a.procs) as pool:
        # warm-up happens inside each worker before its own timer starts; the aggregate rate is
        # total chips over the slowest worker's timed span
        res = pool.map(_worker, jobs)
    wall_n = max(r[1] for r in res)
    total = a.n * a.procs
    rows.append(
        (
            f"{a.procs} processes",
            total / wall_n,
            total,
            wall_n,
            sum(r[2] for r in res) / total * 1000,
            sum(r[0] for r in res) / total,
        )
    )
    print(f"load average after:  {os.getloadavg()[0]:.2f}")
    print(f"\n{a.size}x{a.size} chips, target {TARGET:.0f} chips/s")
    head = ("mode", "chips/s", "x target", "chips", "wall s", "cpu ms/chip", "boxes/chip")
    print(f"{head[0]:<14}{head[1]:>9}{head[2]:>10}{head[3]:>7}{head[4]:>8}{head[5]:>13}{head[6]:>12}")
    for name, rate, n, wall, cpu_ms, bpc in rows:
        print(f"{name:<14}{rate:9.1f}{rate / TARGET:10.2f}{n:7d}{wall:8.1f}{cpu_ms:13.1f}{bpc:12.1f}")


if __name__ == "__main__":
    main()
