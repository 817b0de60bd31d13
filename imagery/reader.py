"""Background tile reading with a bounded queue.

GDAL releases the GIL while it decodes, so a few reader threads keep the cores busy decoding
while the caller computes. At most ``prefetch`` tiles are read ahead, so memory is bounded by
tile size x prefetch x sources, never by image size. Tiles come out in grid order.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from imagery.grid import Tile, TileGrid
from imagery.sources import GridSource


@dataclass
class TileData:
    """One tile read from every source: ``arrays[i]`` is (bands, rows, cols) of source i and
    ``valid`` marks pixels valid in every source (and inside the AOI when the grid has one)."""

    tile: Tile
    arrays: tuple[np.ndarray, ...]
    valid: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays) + self.valid.nbytes


def _read_tile(grid: TileGrid, sources: Sequence[GridSource], tile: Tile,
               use_aoi: bool) -> TileData:
    arrays = []
    valid = grid.aoi_mask(tile) if (use_aoi and grid.aoi is not None) else None
    for src in sources:
        data, v = src.read(tile.window)
        arrays.append(data)
        valid = v if valid is None else (valid & v)
    return TileData(tile, tuple(arrays), valid)


T = TypeVar("T")
R = TypeVar("R")


def thread_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on a few threads, in order. For scattered window reads (the
    change model's sample): GDAL releases the GIL, so the windows decode side by side where a
    plain loop left the second core idle (fit of a 10000^2 pair 0.98-1.04 -> 0.89-0.95 s in 4
    A/B runs; alignment's windows, threaded the same way, gained nothing: their phase
    correlation is mostly Python and small-array numpy, which hold the GIL)."""
    items = list(items)
    workers = min(len(items), workers or min(4, os.cpu_count() or 1))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pw-map") as pool:
        return list(pool.map(fn, items))


def iter_tiles(grid: TileGrid, sources: Sequence[GridSource], *, workers: int = 2,
               prefetch: int = 4, skip_empty: bool = True, use_aoi: bool = True,
               tiles: Sequence[Tile] | None = None) -> Iterator[TileData]:
    """Yield :class:`TileData` for each tile of ``grid`` (or the given subset), in order.

    ``skip_empty`` drops tiles with no valid pixel (nodata-only, or outside the AOI), so
    consumers must treat missing tiles as nodata.
    """
    todo = iter(tiles if tiles is not None else grid)
    pending: deque[Future[TileData]] = deque()
    prefetch = max(1, prefetch)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pw-read") as pool:
        try:
            for tile in todo:
                pending.append(pool.submit(_read_tile, grid, sources, tile, use_aoi))
                if len(pending) >= prefetch:
                    break
            while pending:
                result = pending.popleft().result()
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append(pool.submit(_read_tile, grid, sources, nxt, use_aoi))
                if skip_empty and not result.valid.any():
                    continue
                yield result
        finally:
            for f in pending:
                f.cancel()
