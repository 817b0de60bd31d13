"""``posturewatch synth --scenario NAME --seed N --out DIR``: write a synthetic Maxar-style
multi-date scene of an airbase with exact ground truth (images + IMDs, truth boxes, change masks,
posture events, manifest, preview). See :func:`imagery.synth.generate`."""

from __future__ import annotations

import argparse
import os
import sys
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="write a synthetic multi-date airbase scene with ground truth",
        description="Render a synthetic Maxar-style scene of a site (default Khmeimim) on N dates under a "
        "scripted scenario, with truth boxes, change masks and the posture events between dates.",
    )
    p.add_argument("--scenario", required=True, help="withdrawal, reinforcement or steady")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes; default 0)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="image side in pixels (default: just enough to cover the site's AOI)",
    )
    p.add_argument(
        "--gsd", type=float, default=0.5, help="ground sample distance in metres (0.25-0.8, default 0.5)"
    )
    p.add_argument("--dates", type=int, default=2, help="number of acquisition dates (default 2: one pair)")
    p.add_argument(
        "--site", default="khmeimim", help="shipped site name or a site YAML path (default khmeimim)"
    )
    p.add_argument(
        "--start-date", default=None, help="first acquisition date YYYY-MM-DD (default: the site's)"
    )
    p.add_argument(
        "--bands",
        default="bgrn",
        choices=("bgrn", "rgb", "pan"),
        help="bgrn: 4-band B,G,R,NIR (default); rgb; pan: panchromatic",
    )
    p.add_argument(
        "--8bit",
        dest="eight_bit",
        action="store_true",
        help="write DRA-stretched 8-bit images instead of 11-bit DN in uint16",
    )
    p.add_argument(
        "--jpeg",
        type=int,
        default=None,
        metavar="QUALITY",
        help="add JPEG compression artefacts at this quality (needs --8bit and rgb/pan)",
    )
    p.add_argument("--workers", type=int, default=None, help="render threads (default: CPU count, at most 4)")


def run(args: argparse.Namespace) -> int:
    from imagery.synth import generate

    quiet = bool(os.environ.get("POSTUREWATCH_QUIET"))
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr)

    workers = args.workers or min(4, os.cpu_count() or 1)
    manifest = generate(
        args.scenario,
        args.seed,
        args.out,
        size=args.size,
        gsd=args.gsd,
        dates=args.dates,
        site=args.site,
        bands=args.bands,
        eight_bit=args.eight_bit,
        jpeg_quality=args.jpeg,
        start_date=args.start_date,
        workers=workers,
        progress=progress,
    )
    n_ev = sum(t["n_events"] for t in manifest["transitions"])
    print(
        f"{args.out}: {len(manifest['dates'])} date(s) of {manifest['site']} ({manifest['size']} px at "
        f"{manifest['gsd']} m), scenario {manifest['scenario']}, "
        f"{manifest['truth']['features']} truth boxes, "
        f"{n_ev} posture event(s) in {time.perf_counter() - t0:.1f} s"
    )
    return 0
