"""``posturewatch series IMAGES... --out DIR``: N dates, N-1 transitions and a posture timeline."""

from __future__ import annotations

import argparse

from detect.commands._common import add_run_options, options_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("series", help="N dates of one site: each transition and a posture timeline",
                       description="Order the images by acquisition time (metadata, else a date in the "
                                   "file name), run every consecutive pair into its own folder and draw "
                                   "the posture timeline (series.json, timeline.png, report.html).")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True)
    add_run_options(p)


def run(args: argparse.Namespace) -> int:
    from detect.pipeline import run_series

    series = run_series(args.images, args.out, options_from_args(args))
    for t in series["transitions"]:
        print(f"{t['before_date'][:16]} -> {t['after_date'][:16]}: score {t['posture_score']:.0f}, "
              f"{len(t['events'])} event(s)  [{args.out}/{t['folder']}/report.html]")
    print(f"timeline: {args.out}/timeline.png, {args.out}/report.html")
    return 0
