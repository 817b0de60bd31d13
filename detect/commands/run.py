"""``posturewatch run BEFORE AFTER --out DIR``: the whole pipeline on a pair of dates."""

from __future__ import annotations

import argparse

from detect.commands._common import add_run_options, options_from_args, print_pair_summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="full pipeline on two dates: detections, change, events, report",
                       description="Align two dates, detect objects on both, score pixel change, match "
                                   "objects into events, compute the posture-change score and write every "
                                   "output (change.tif, change_mask.tif, detections.gpkg, report.json, "
                                   "report.html, overlays/, item.json). Rerunning skips finished stages.")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--out", required=True, help="output folder")
    add_run_options(p)


def run(args: argparse.Namespace) -> int:
    from detect.pipeline import run_pair

    res = run_pair(args.before, args.after, args.out, options_from_args(args))
    print_pair_summary(res.report, args.out)
    return 0
