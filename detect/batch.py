"""Scale-out: many dated images of one or more sites, processed as per-pair tasks on Dask.

A CATALOG is a CSV (columns ``path``, optional ``site``, ``date``) or a STAC catalog (a
``catalog.json`` whose item links point at items with an image asset and a ``datetime``). Images
are grouped by site, ordered by date, and each consecutive pair becomes one task that runs
:func:`detect.pipeline.run_pair` into ``OUT/<site>/<date1>_<date2>/``. Tasks run on a
dask.distributed scheduler: in-process threads by default, a LocalCluster with ``local``, or an
existing cluster at ``tcp://host:port``. A failing pair never stops the others; the summary
(``batch.json``) says which failed and why, in one line each.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from imagery.atomic import atomic_write_text, make_out_dir
from imagery.errors import InputError
from imagery.maxar import acquired_from_name, parse_time


@dataclass(frozen=True)
class CatalogEntry:
    path: str
    site: str
    date: datetime | None
    problem: str | None = None  # why this row cannot be used (reported, not raised)


@dataclass(frozen=True)
class PairTask:
    site: str
    before: str
    after: str
    out_dir: str


def read_catalog(path: str | os.PathLike[str]) -> list[CatalogEntry]:
    """Rows of a CSV or STAC catalog; a row that points nowhere or has no usable date is kept
    with a ``problem`` so the summary can name it."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such catalog")
    if p.suffix.lower() == ".csv":
        return _read_csv(p)
    if p.suffix.lower() == ".json":
        return _read_stac(p)
    raise InputError(f"{p}: a catalog is a .csv or a STAC catalog.json")


def _entry(path: str, site: str, date_text: str | None, base: Path) -> CatalogEntry:
    full = Path(path) if Path(path).is_absolute() else (base / path)
    if not full.exists():
        return CatalogEntry(str(full), site, None, f"{full}: no such file")
    when = parse_time(date_text) if date_text else None
    if date_text and when is None:
        try:
            when = datetime.fromisoformat(date_text)
        except ValueError:
            return CatalogEntry(str(full), site, None, f"{full}: cannot parse date {date_text!r}")
    if when is None:
        try:
            from imagery.scene import open_scene

            when = open_scene(full).meta.acquired
        except InputError as exc:
            return CatalogEntry(str(full), site, None, str(exc))
    if when is None:
        when = acquired_from_name(full.name)
    if when is None:
        return CatalogEntry(str(full), site, None, f"{full}: cannot tell its date (give a date column)")
    return CatalogEntry(str(full), site, when)


def _read_csv(p: Path) -> list[CatalogEntry]:
    try:
        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{p}: cannot read the catalog ({exc})") from None
    if not rows or "path" not in rows[0]:
        raise InputError(f"{p}: the catalog needs a 'path' column (and optionally 'site', 'date')")
    return [_entry(r["path"].strip(), (r.get("site") or "site").strip() or "site",
                   (r.get("date") or "").strip() or None, p.parent) for r in rows]


def _read_stac(p: Path) -> list[CatalogEntry]:
    try:
        cat = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not a readable STAC catalog ({exc})") from None
    entries = []
    for link in cat.get("links", []):
        if link.get("rel") != "item":
            continue
        ip = (p.parent / link["href"]).resolve()
        try:
            item = json.loads(ip.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            entries.append(CatalogEntry(str(ip), "site", None, f"{ip}: missing or unreadable STAC item"))
            continue
        props = item.get("properties", {})
        site = str(props.get("posturewatch:site") or props.get("site") or item.get("collection") or "site")
        asset = _image_asset(item)
        if asset is None:
            entries.append(CatalogEntry(str(ip), site, None, f"{ip}: item has no image asset"))
            continue
        entries.append(_entry(asset, site, props.get("datetime"), ip.parent))
    if not entries:
        raise InputError(f"{p}: the STAC catalog links no items")
    return entries


def _image_asset(item: dict[str, Any]) -> str | None:
    assets = item.get("assets", {})
    for key in ("visual", "image", "data", "ms", "pan"):
        if key in assets and "href" in assets[key]:
            return assets[key]["href"]
    for a in assets.values():
        if "image/" in str(a.get("type", "")) and "href" in a:
            return a["href"]
    return None


def plan_pairs(entries: list[CatalogEntry], out_dir: str | os.PathLike[str]) -> list[PairTask]:
    by_site: dict[str, list[CatalogEntry]] = {}
    for e in entries:
        if e.problem is None:
            by_site.setdefault(e.site, []).append(e)
    tasks = []
    for site, items in sorted(by_site.items()):
        items.sort(key=lambda e: e.date)  # type: ignore[arg-type, return-value]
        for a, b in itertools.pairwise(items):
            sub = Path(out_dir) / _safe(site) / f"{a.date:%Y-%m-%dT%H%M}_{b.date:%Y-%m-%dT%H%M}"
            tasks.append(PairTask(site, a.path, b.path, str(sub)))
    return tasks


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "site"


def run_pair_task(task: PairTask, options: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    """One pair, never raising: the outcome is a small dict the scheduler can ship back."""
    import time

    if threads:
        _limit_threads(threads)
    from detect.cli import describe_error
    from detect.pipeline import RunOptions, run_pair

    t0 = time.perf_counter()
    try:
        res = run_pair(task.before, task.after, task.out_dir, RunOptions(**options))
        return {**asdict(task), "status": "ok", "posture_score": res.report["posture_score"],
                "events": len(res.report["events"]), "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as exc:  # a failed pair is reported, the batch goes on
        return {**asdict(task), "status": "failed", "error": describe_error(exc),
                "seconds": round(time.perf_counter() - t0, 2)}


def _limit_threads(n: int) -> None:
    """Workers share cores: pin each library's thread pool instead of letting each take all."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except Exception:
        pass
    try:
        import cv2

        cv2.setNumThreads(n)
    except Exception:
        pass
    try:
        import torch

        torch.set_num_threads(n)
    except Exception:
        pass


def make_client(scheduler: str | None, *, workers: int = 2, threads_per_worker: int = 1) -> Any:
    """A dask.distributed Client: in-process threads (None), a LocalCluster ('local'), or an
    existing scheduler address; a scheduler that does not answer is a one-line error."""
    from dask.distributed import Client, LocalCluster

    if scheduler in (None, "", "threads"):
        return Client(processes=False, n_workers=1, threads_per_worker=max(1, threads_per_worker),
                      dashboard_address=None)
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                               dashboard_address=None)
        return Client(cluster)
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"scheduler {scheduler} does not answer ({type(exc).__name__})") from None


def run_batch(catalog: str | os.PathLike[str], out_dir: str | os.PathLike[str],
              options: dict[str, Any], *, scheduler: str | None = None, workers: int = 2,
              threads_per_worker: int = 1) -> dict[str, Any]:
    """Plan the pairs, run them on the scheduler, write ``batch.json`` and return it."""
    entries = read_catalog(catalog)
    tasks = plan_pairs(entries, out_dir)
    problems = [{"path": e.path, "site": e.site, "error": e.problem} for e in entries if e.problem]
    results: list[dict[str, Any]] = []
    if tasks:
        client = make_client(scheduler, workers=workers, threads_per_worker=threads_per_worker)
        try:
            futures = [client.submit(run_pair_task, t, options, threads_per_worker, pure=False)
                       for t in tasks]
            results = client.gather(futures)
        finally:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None and scheduler == "local":
                cluster.close()
    summary = {
        "catalog": str(catalog),
        "scheduler": scheduler or "threads",
        "pairs": len(tasks),
        "succeeded": sum(r["status"] == "ok" for r in results),
        "failed": [r for r in results if r["status"] != "ok"],
        "skipped_rows": problems,
        "results": results,
    }
    atomic_write_text(make_out_dir(out_dir) / "batch.json", json.dumps(summary, indent=2, default=str))
    return summary
