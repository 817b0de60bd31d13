"""Background tile reading with a bounded queue.

GDAL releases the GIL while it decodes, so a few reader threads keep the cores busy decoding
while the caller computes. At most ``prefetch`` tiles are read ahead, so memory is bounded by
tile size x prefetch x sources, never by image size. Tiles come out in grid order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

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
