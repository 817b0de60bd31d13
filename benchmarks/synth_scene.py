"""Time to write a synthetic scene with ``imagery.synth.generate``: an 8192 x 8192 Khmeimim image
(0.5 m, 4-band 11-bit COG + IMD + truth + preview), phase by phase.

    python benchmarks/synth_scene.py [--size 8192] [--gsd 0.5] [--dates 1] [--workers 2] [--out DIR]

Prints seconds per phase (setup, render, COG write per date, masks/events, truth, preview) and the
ratio of the per-date time (render + write) to the 30 s target. Rendering runs in tiles on
``--workers`` threads (the numba kernel and OpenCV release the GIL). On the shared 2-core machine
timings are noisy: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

TARGET_S = 30.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--gsd", type=float, default=0.5)
    ap.add_argument("--dates", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scenario", default="withdrawal")
    ap.add_argument("--site", default="khmeimim")
    ap.add_argument("--out", default=None, help="output folder (default: a temporary one, removed)")
    a = ap.parse_args()
    from imagery.synth import generate
    from imagery.synth.ground import texture_bank

    texture_bank(0)  # a per-process cache a long run pays once; not part of a scene's cost
    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    c0 = time.process_time()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or os.path.join(tmp, "scene")
        m = generate(
            a.scenario,
            0,
            out,
            size=a.size,
            gsd=a.gsd,
            dates=a.dates,
            site=a.site,
            workers=a.workers,
            progress=lambda msg: marks.append((msg, time.perf_counter() - t0)),
        )
        total = time.perf_counter() - t0
        cpu = time.process_time() - c0
        sizes = {p: os.path.getsize(os.path.join(out, p)) for p in os.listdir(out)}
    print(f"load average after:  {os.getloadavg()[0]:.2f}")
    print(
        f"\n{a.site} {m['size']}x{m['size']} px at {a.gsd} m, {a.dates} date(s), {a.workers} render threads"
    )
    print(f"{'phase':<34}{'seconds':>9}")
    prev = ("setup", 0.0)
    per_date: dict[str, float] = {}
    for msg, t in marks:
        dt = t - prev[1]
        print(f"{prev[0]:<34}{dt:9.2f}")
        day = prev[0].split()[1] if prev[0].startswith(("rendering", "writing 2")) else None
        if day:
            per_date[day] = per_date.get(day, 0.0) + dt
        prev = (msg, t)
    print(f"{'total':<34}{total:9.2f}")
    print(f"{'CPU seconds, all threads':<34}{cpu:9.2f}  (idle machine: wall ~ CPU / {a.workers} threads)")
    for day, s in per_date.items():
        print(f"date {day}: render + COG write {s:.1f} s = {s / TARGET_S:.2f} x the {TARGET_S:.0f} s target")
    big = sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    print("largest files: " + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in big))


if __name__ == "__main__":
    main()
