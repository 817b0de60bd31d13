"""``posturewatch batch CATALOG --out DIR [--scheduler local|ADDR]``: many pairs on Dask."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from detect.commands._common import add_run_options, options_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="process a catalog of dated images (CSV or STAC) on Dask",
                       description="Group a catalog's images by site, order them by date and run each "
                                   "consecutive pair as a task on a dask.distributed scheduler: in-process "
                                   "threads by default, a LocalCluster with 'local', or an existing cluster "
                                   "at tcp://host:port. Failed pairs are listed in OUT/batch.json; the "
                                   "others still run.")
    p.add_argument("catalog", help="CSV (columns path[, site, date]) or STAC catalog.json")
    p.add_argument("--out", required=True)
    p.add_argument("--scheduler", default=None, help="'local' or a scheduler address (tcp://host:8786)")
    p.add_argument("--workers", type=int, default=2, help="worker processes for --scheduler local")
    p.add_argument("--threads-per-worker", type=int, default=1)
    add_run_options(p)


def run(args: argparse.Namespace) -> int:
    from detect.batch import run_batch

    options = asdict(options_from_args(args))
    options["progress"] = False  # interleaved bars from parallel tasks help nobody
    summary = run_batch(args.catalog, args.out, options, scheduler=args.scheduler, workers=args.workers,
                        threads_per_worker=args.threads_per_worker)
    for r in summary["results"]:
        if r["status"] == "ok":
            print(f"ok      {r['site']}: {r['out_dir']}  score {r['posture_score']:.0f}, "
                  f"{r['events']} event(s)")
        else:
            print(f"FAILED  {r['site']}: {r['before']} -> {r['after']}: {r['error']}")
    for s in summary["skipped_rows"]:
        print(f"SKIPPED {s['site']}: {s['error']}")
    print(f"{summary['succeeded']}/{summary['pairs']} pairs succeeded; summary in {args.out}/batch.json")
    return 0 if not summary["failed"] and not summary["skipped_rows"] else 1
