"""A decoded-block cache shared by every reader thread of one scene.

Tiles overlap (each tile reads ``overlap`` pixels of context around its core), and a compressed
GeoTIFF can only be decoded a whole block at a time. Reading tile windows straight from GDAL
therefore decodes the blocks along every tile border twice or more (measured: 1024 px tiles with
64 px overlap on 512 px blocks cost 2x the decode of a plain read). Here each block is decoded
once, by whichever thread first needs it, kept in a bounded LRU, and tiles are assembled from
blocks with plain copies. Memory is bounded by ``max_bytes``, not by the image; a tile order that
walks the grid row by row keeps the working set (about one row of blocks) inside it.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections import OrderedDict

import numpy as np
from rasterio.windows import Window

from imagery.scene import Scene, _valid_from_nodata

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
MIN_CHUNK_ROWS = 256  # strip-organised files are grouped into chunks at least this tall
# Tiled files with small blocks (a VRT reports 128 x 128) are read in chunks of whole blocks at
# least this wide and tall: per-block overhead made a 10000^2 pair read through VRTs stream in
# 5.3 s against 2.8 s from the files themselves.
MIN_CHUNK_SIDE = 512


class BlockCache:
    """Read windows of ``scene`` (bands ``bands``) through a cache of decoded blocks."""

    def __init__(self, scene: Scene, bands: tuple[int, ...], max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.scene = scene
        self.bands = tuple(bands)
        meta = scene.meta
        self._read_bands = self.bands + ((meta.alpha_band,) if meta.alpha_band else ())
        ds = scene.dataset()
        bh, bw = ds.block_shapes[0]
        if bw >= meta.width or bh < 64:
            # Striped or untiled file: group strips into full-width chunks.
            bw = meta.width
            bh = max(bh, MIN_CHUNK_ROWS) // bh * bh if bh < MIN_CHUNK_ROWS else bh
            bh = min(bh, meta.height)
        elif bh < MIN_CHUNK_SIDE or bw < MIN_CHUNK_SIDE:
            bh = min(math.ceil(MIN_CHUNK_SIDE / bh) * bh, meta.height)
            bw = min(math.ceil(MIN_CHUNK_SIDE / bw) * bw, meta.width)
        self.block_h, self.block_w = int(bh), int(bw)
        self.n_rows = math.ceil(meta.height / self.block_h)
        self.n_cols = math.ceil(meta.width / self.block_w)
        itemsize = np.dtype(meta.dtype).itemsize
        self.block_bytes = self.block_h * self.block_w * len(self._read_bands) * itemsize
        self.max_blocks = max(4, max_bytes // max(self.block_bytes, 1))
        self._lock = threading.Lock()
        self._blocks: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._pins: dict[tuple[int, int], int] = {}
        self._free: list[np.ndarray] = []  # buffers of evicted blocks, decoded into again
        self._inflight: dict[tuple[int, int], threading.Event] = {}
        self._shape = (len(self._read_bands), self.block_h, self.block_w)
        self.decoded = 0  # blocks decoded (a diagnostic: ideally each block once)

    @classmethod
    def shared(cls, scene: Scene, bands: tuple[int, ...], max_bytes: int = DEFAULT_CACHE_BYTES
               ) -> BlockCache:
        """The one cache of ``scene``'s ``bands``, whichever reader asks: a pair reads AFTER
        through one source while it measures the shift and another once the shift is known,
        and both (and a warm-up) should decode each block once. The first caller sets the size."""
        key = tuple(bands)
        with scene._lock:
            cache = scene.block_caches.get(key)
        if cache is None:
            made = cls(scene, key, max_bytes)  # opens the file: outside the scene's lock
            with scene._lock:
                cache = scene.block_caches.setdefault(key, made)
        return cache

    def warm(self, window: Window, max_bytes: int, stop: threading.Event) -> int:
        """Decode the blocks under ``window`` (scene pixels), row by row from the top, until
        ``max_bytes`` of them are cached or ``stop`` is set; returns how many it decoded.

        Why: before a stream starts, its process spends seconds on one core (alignment, the
        fit); a thread decoding the blocks the first tiles will need uses the other. The
        budget must leave room for the stream's working set, or the LRU would evict warmed
        blocks before the stream reaches them."""
        meta = self.scene.meta
        c0, r0 = max(int(window.col_off), 0), max(int(window.row_off), 0)
        c1 = min(int(window.col_off + window.width), meta.width)
        r1 = min(int(window.row_off + window.height), meta.height)
        if c1 <= c0 or r1 <= r0:
            return 0
        limit = min(max_bytes // max(self.block_bytes, 1), self.max_blocks)
        done = 0
        for br in range(r0 // self.block_h, (r1 - 1) // self.block_h + 1):
            for bc in range(c0 // self.block_w, (c1 - 1) // self.block_w + 1):
                with self._lock:
                    if len(self._blocks) >= limit:
                        return done
                    present = (br, bc) in self._blocks
                if stop.is_set():
                    return done
                if present:
                    continue
                self._acquire(br, bc)
                self._release(br, bc)
                done += 1
        return done

    def _acquire(self, br: int, bc: int) -> np.ndarray:
        """The decoded block, pinned until :meth:`_release` (a pinned block is never evicted,
        so its buffer cannot be reused under a reader's feet)."""
        key = (br, bc)
        while True:
            with self._lock:
                blk = self._blocks.get(key)
                if blk is not None:
                    self._blocks.move_to_end(key)
                    self._pins[key] = self._pins.get(key, 0) + 1
                    return blk
                event = self._inflight.get(key)
                owner = event is None
                if owner:
                    event = threading.Event()
                    self._inflight[key] = event
                buf = self._free.pop() if (owner and self._free) else None
            if not owner:
                event.wait()
                continue
            try:
                meta = self.scene.meta
                r0, c0 = br * self.block_h, bc * self.block_w
                h, w = min(self.block_h, meta.height - r0), min(self.block_w, meta.width - c0)
                if buf is None:
                    buf = np.empty(self._shape, dtype=meta.dtype)
                # Decoding into a recycled buffer spares the page faults of a fresh array,
                # which is what made per-block reads slower than one whole-image read.
                blk = self.scene.dataset().read(list(self._read_bands), window=Window(c0, r0, w, h),
                                                out=buf[:, :h, :w])
                with self._lock:
                    self._blocks[key] = blk
                    self._pins[key] = self._pins.get(key, 0) + 1
                    self.decoded += 1
                    self._evict()
                return blk
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
                event.set()

    def _release(self, br: int, bc: int) -> None:
        with self._lock:
            key = (br, bc)
            n = self._pins.get(key, 0) - 1
            if n > 0:
                self._pins[key] = n
            else:
                self._pins.pop(key, None)
            self._evict()

    def _evict(self) -> None:
        """Drop least recently used unpinned blocks beyond the budget (lock held)."""
        if len(self._blocks) <= self.max_blocks:
            return
        for key in list(self._blocks):
            if len(self._blocks) <= self.max_blocks:
                break
            if self._pins.get(key):
                continue
            blk = self._blocks.pop(key)
            base = blk.base if blk.base is not None else blk
            if isinstance(base, np.ndarray) and base.shape == self._shape and len(self._free) < 8:
                self._free.append(base)

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`Scene.read` for a window that may hang over the edge."""
        meta = self.scene.meta
        col0, row0 = int(window.col_off), int(window.row_off)
        h, w = int(window.height), int(window.width)
        nb = len(self._read_bands)
        c0, r0 = max(col0, 0), max(row0, 0)
        c1, r1 = min(col0 + w, meta.width), min(row0 + h, meta.height)
        if (c0, r0, c1, r1) == (col0, row0, col0 + w, row0 + h):
            out = np.empty((nb, h, w), dtype=meta.dtype)  # every pixel is copied below
        else:
            fill = 0 if meta.nodata is None or math.isnan(meta.nodata) else meta.nodata
            out = np.full((nb, h, w), fill, dtype=meta.dtype)
        inside = np.zeros((h, w), dtype=bool)
        if c1 > c0 and r1 > r0:
            for br in range(r0 // self.block_h, (r1 - 1) // self.block_h + 1):
                for bc in range(c0 // self.block_w, (c1 - 1) // self.block_w + 1):
                    blk = self._acquire(br, bc)
                    try:
                        by0, bx0 = br * self.block_h, bc * self.block_w
                        ya, yb = max(r0, by0), min(r1, by0 + blk.shape[1])
                        xa, xb = max(c0, bx0), min(c1, bx0 + blk.shape[2])
                        out[:, ya - row0:yb - row0, xa - col0:xb - col0] = \
                            blk[:, ya - by0:yb - by0, xa - bx0:xb - bx0]
                    finally:
                        self._release(br, bc)
            inside[r0 - row0:r1 - row0, c0 - col0:c1 - col0] = True
        if meta.alpha_band:
            valid = inside & (out[-1] > 0)
            return out[:-1], valid
        if meta.nodata is not None:
            return out, inside & _valid_from_nodata(out, meta.nodata)
        return out, inside


class Warmup:
    """Decode the top block rows of several caches (one row of each in turn) on a thread of its
    own, up to ``max_bytes`` per cache, until :meth:`stop`.

    A change run spends its first seconds on one core (alignment, the fit on sample windows);
    the blocks this decodes meanwhile on the other are blocks the stream then finds decoded.
    A failing read only ends the warm-up: the reader that needs the block reports the error."""

    def __init__(self, jobs: list[tuple[BlockCache, Window]], max_bytes: int) -> None:
        self.decoded = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(jobs, max_bytes),
                                        name="pw-warmup", daemon=True)
        self._thread.start()

    def _run(self, jobs: list[tuple[BlockCache, Window]], max_bytes: int) -> None:
        # Idle cycles only: at normal priority this thread took the cores alignment reads
        # with, and what the stream gained (-0.3 s on a 10000^2 pair) alignment lost (+0.27 s
        # in 3 A/B runs); at nice 19 alignment keeps its time. On Linux the call renices this
        # thread alone; elsewhere it runs at normal priority.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        rows = []
        for cache, win in jobs:
            r0 = max(int(win.row_off), 0)
            r1 = min(int(win.row_off + win.height), cache.scene.meta.height)
            rows.append(range(r0 // cache.block_h, max(r1 - 1, r0) // cache.block_h + 1))
        try:
            for i in range(max((len(r) for r in rows), default=0)):
                for (cache, win), rr in zip(jobs, rows, strict=True):
                    if self._stop.is_set():
                        return
                    if i < len(rr):
                        band = Window(win.col_off, rr[i] * cache.block_h, win.width, cache.block_h)
                        self.decoded += cache.warm(band, max_bytes, self._stop)
        except Exception:  # the reader that needs the block reports it
            return

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the warm-up ends by itself (budget reached, rows done); True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> int:
        """Stop (after the block being decoded) and return the number of blocks decoded."""
        self._stop.set()
        self._thread.join()
        return self.decoded
