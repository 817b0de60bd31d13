"""``posturewatch sample OUT.tif``: write a small Maxar-style georeferenced sample image (an
11-bit 4-band GeoTIFF with its IMD) to try ``info`` and ``align`` on."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="write a small Maxar-style sample image (+ .IMD)")
    p.add_argument("out", help="output GeoTIFF path")
    p.add_argument("--size", type=int, default=512, help="side in pixels (default 512)")
    p.add_argument("--shift", type=float, nargs=2, default=(0.0, 0.0), metavar=("DX", "DY"),
                   help="displace the content by DX, DY pixels (to try align)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from imagery.errors import InputError
    from imagery.samples import write_sample_scene

    if not 64 <= args.size <= 16384:
        raise InputError(f"--size must be between 64 and 16384 (got {args.size})")
    path = write_sample_scene(args.out, size=args.size, shift=tuple(args.shift), seed=args.seed)
    print(path)
    return 0
