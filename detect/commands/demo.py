"""``posturewatch demo --out DIR``: the README's main command."""

from __future__ import annotations

import argparse

from detect.commands._common import add_run_options, options_from_args, print_pair_summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthesise a Khmeimim withdrawal pair and run the whole pipeline",
                       description="Render a synthetic Khmeimim pair in the style of Maxar's 12 and 13 "
                                   "December 2024 images (two An-124s raise their noses, a Ka-52 is "
                                   "dismantled, S-400 elements pack up, aircraft depart), run detection, "
                                   "change and posture scoring with the shipped weights, and write the "
                                   "report. The scene is kept in OUT/scene and reused on rerun.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default: the whole AOI)")
    add_run_options(p, site_default="khmeimim")


def run(args: argparse.Namespace) -> int:
    from detect.demo import run_demo

    result, check = run_demo(args.out, seed=args.seed, size=args.size, options=options_from_args(args))
    print_pair_summary(result.report, args.out)
    print(f"staged events found: {check['matched']}/{check['truth']} "
          f"(recall {check['recall']:.2f}, precision {check['precision']:.2f})")
    return 0
