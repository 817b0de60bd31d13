"""Scenes seen through a common grid: the per-date readers a :class:`~imagery.grid.TileGrid`
pulls tiles from.

``GridSource.read(window)`` returns the scene's pixels for a window of the *grid*, whatever the
scene's own CRS, resolution or extent. When the scene lies on the grid's lattice (same CRS and
pixel size, offset by whole pixels) the read is a plain windowed read; moved by a sub-pixel
co-registration shift as well, a separable cubic resamples the plain read
(:class:`ShiftedSource`); otherwise GDAL warps it through a ``WarpedVRT`` (one per thread), the
shift folded into the warp's transform, so resampling happens once.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from imagery.blocks import DEFAULT_CACHE_BYTES, BlockCache
from imagery.errors import InputError
from imagery.geometry import apply_affine
from imagery.grid import GridSpec
from imagery.scene import Scene, read_window
from imagery.vrt import GDAL_TYPES, simple_source, vrt_xml

SHIFT_EPS_PX = 1e-3


class GridSource(Protocol):
    """Anything that reads a window of a grid as ``(data, valid)``."""

    grid: GridSpec
    bands: tuple[int, ...]

    def read(self, window: Window, out_shape: tuple[int, int] | None = None
             ) -> tuple[np.ndarray, np.ndarray]: ...


class SceneSource:
    """A scene on the grid's lattice: windows map to the scene by a whole-pixel offset.

    Full-resolution reads go through a :class:`~imagery.blocks.BlockCache`, so overlapping
    tiles decode each block of the file once; decimated reads go straight to GDAL (overviews).
    """

    def __init__(self, scene: Scene, grid: GridSpec, bands: tuple[int, ...] | None = None,
                 offset: tuple[int, int] = (0, 0), cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.scene = scene
        self.grid = grid
        self.bands = tuple(bands or scene.meta.data_bands)
        self.offset = offset
        self._cache_bytes = cache_bytes
        self._cache: BlockCache | None = None
        self._cache_lock = threading.Lock()

    @property
    def cache(self) -> BlockCache:
        with self._cache_lock:
            if self._cache is None:
                self._cache = BlockCache.shared(self.scene, self.bands, self._cache_bytes)
            return self._cache

    def read(self, window: Window, out_shape: tuple[int, int] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        dc, dr = self.offset
        moved = Window(window.col_off + dc, window.row_off + dr, window.width, window.height)
        if out_shape is not None and out_shape != (int(window.height), int(window.width)):
            return self.scene.read(moved, bands=self.bands, out_shape=out_shape)
        try:
            return self.cache.read(moved)
        except (RasterioIOError, RasterioError) as exc:
            raise InputError(f"{self.scene.path}: cannot read pixels (corrupt or truncated?): "
                             f"{' '.join(str(exc).split())[:300]}") from None


class WarpedSource:
    """A scene resampled onto the grid (other CRS, resolution, extent or a sub-pixel shift).

    ``shift_px`` = (dx, dy): grid pixel (x, y) shows what the scene has at grid position
    (x + dx, y + dy), i.e. the shift measured by co-registration is undone here.
    """

    def __init__(self, scene: Scene, grid: GridSpec, bands: tuple[int, ...] | None = None,
                 shift_px: tuple[float, float] = (0.0, 0.0),
                 resampling: Resampling = Resampling.cubic, *, use_overviews: bool = False) -> None:
        self.scene = scene
        self.grid = grid
        self.bands = tuple(bands or scene.meta.data_bands)
        self.shift_px = shift_px
        self.resampling = resampling
        # Views for people (display frames) may warp from the file's overviews; the pixels the
        # change score and the detector see always come from full resolution.
        self.use_overviews = use_overviews
        self._local = threading.local()

    def _overview_level(self) -> int | None:
        """With ``use_overviews``, the coarsest overview of the scene that is still finer than
        the grid, when the grid is at least twice as coarse: GDAL's warper reads the level it is
        given, and from full resolution it averaged every pixel of a 10000^2 scene for a 1600 px
        view (7.6 s); None to warp from full resolution."""
        meta = self.scene.meta
        if not self.use_overviews or not meta.georeferenced:
            return None
        factors = self.scene.dataset().overviews(1)
        if not factors:
            return None
        from imagery.crs import same_crs, transformer

        left, bottom, right, top = self.grid.bounds
        if not same_crs(self.grid.crs, meta.crs):
            to_scene = transformer(self.grid.crs, meta.crs)
            xs, ys = to_scene(np.array([left, right, left, right]), np.array([bottom, bottom, top, top]))
            left, right, bottom, top = xs.min(), xs.max(), ys.min(), ys.max()
        grid_px = min((right - left) / self.grid.width, (top - bottom) / self.grid.height)
        scene_px = max(abs(meta.transform.a), abs(meta.transform.e))
        usable = [k for k, f in enumerate(factors) if f * scene_px <= grid_px]
        return usable[-1] if usable and grid_px >= 2 * scene_px else None

    def _vrt(self) -> WarpedVRT:
        vrt = getattr(self._local, "vrt", None)
        if vrt is None or vrt.closed:
            level = self._overview_level()
            ds = self.scene.dataset() if level is None else self.scene.overview_dataset(level)
            meta = self.scene.meta
            dx, dy = self.shift_px
            kwargs: dict[str, Any] = dict(
                crs=self.grid.crs if meta.georeferenced else None,
                transform=self.grid.transform @ Affine.translation(dx, dy),
                width=self.grid.width,
                height=self.grid.height,
                resampling=self.resampling,
                add_alpha=True,
            )
            if not meta.georeferenced:
                # Pixel mode: both images share identity transforms; GDAL still needs a CRS-free
                # warp, which it does from the geotransform alone.
                kwargs.pop("crs")
                kwargs["src_transform"] = Affine.identity()
            if meta.alpha_band is not None:
                kwargs["src_alpha"] = meta.alpha_band
            elif meta.nodata is not None:
                kwargs["src_nodata"] = meta.nodata
                kwargs["nodata"] = meta.nodata
            if meta.alpha_band is None and ColorInterp.alpha in ds.colorinterp:
                ds = self._untagged(ds, level)
            vrt = WarpedVRT(ds, **kwargs)
            self._local.vrt = vrt
        return vrt

    def _untagged(self, ds: Any, level: int | None) -> Any:
        """``ds`` with every band's alpha tag dropped, as this thread's open VRT.

        GDAL tags the 4th band of a 4-band 8-bit TIFF alpha by default, while the delivery's
        metadata (IMD: B, G, R, N) says it is data; rasterio's warper would take it as the
        source's alpha (and refuse to add the validity band we read), so the warp reads the
        file through a VRT whose bands carry no colour interpretation."""
        plain = getattr(self._local, "untagged", None)
        if plain is None or plain.closed:
            plain = self.scene.keep(rasterio.open(plain_bands_vrt(ds, overview_level=level)))
            self._local.untagged = plain
        return plain

    def read(self, window: Window, out_shape: tuple[int, int] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        vrt = self._vrt()
        alpha = vrt.count  # add_alpha appends the alpha band last
        fill = self.scene.meta.nodata if self.scene.meta.nodata is not None else 0
        try:
            return read_window(vrt, window, self.bands, fill, out_shape=out_shape,
                               mask_band=alpha)
        except (RasterioIOError, RasterioError) as exc:
            raise InputError(f"{self.scene.path}: cannot read pixels (corrupt or truncated?): "
                             f"{' '.join(str(exc).split())[:300]}") from None


def plain_bands_vrt(ds: Any, *, overview_level: int | None = None) -> str:
    """The XML of a VRT that shows every band of the file behind ``ds`` (full resolution, or
    ``overview_level``) as is, with no colour interpretation, its nodata kept."""
    gdal_type = GDAL_TYPES.get(ds.dtypes[0])
    if gdal_type is None:
        raise InputError(f"{ds.name}: bands of data type {ds.dtypes[0]} cannot be warped")
    options = ("" if overview_level is None else
               f'<OpenOptions><OOI key="OVERVIEW_LEVEL">{int(overview_level)}</OOI></OpenOptions>')
    bands = [[simple_source(ds.name, band, options)] for band in range(1, ds.count + 1)]
    return vrt_xml(ds.width, ds.height, ds.crs, ds.transform, gdal_type, ds.nodata, bands,
                   colour_interp="Undefined")


def cubic_weights(t: float, a: float = -0.5) -> np.ndarray:
    """The four taps (at -1, 0, 1, 2) of Keys' cubic convolution for a sample ``t`` (0 <= t < 1)
    past a pixel centre; a = -0.5 is GDAL's ``cubic``."""
    d = np.abs(np.array([t + 1.0, t, 1.0 - t, 2.0 - t]))
    near = (a + 2) * d**3 - (a + 3) * d**2 + 1
    far = a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return np.where(d <= 1.0, near, far).astype(np.float32)


class ShiftedSource:
    """A scene on the grid's lattice moved by a sub-pixel co-registration shift: the window,
    grown by the cubic kernel's reach, is read through the scene's block cache and resampled
    with a separable 4-tap cubic (GDAL's, a = -0.5) in OpenCV.

    Why not the warper: a pure translation needs no general warp. GDAL's WarpedVRT took 111 ms
    for a 1060^2 4-band uint16 tile that this reads in 57 (decoding included), and it decodes the file's
    blocks again for every overlapping tile; every real pair has a sub-pixel shift, so the
    AFTER date of each change and posture run went through it. A pixel is valid when all 16
    pixels it is made of are. Like :class:`SceneSource`, a window hanging over the grid's edge
    reads whatever the scene has there.
    """

    def __init__(self, scene: Scene, grid: GridSpec, bands: tuple[int, ...] | None,
                 base: tuple[int, int], shift_px: tuple[float, float]) -> None:
        self.scene = scene
        self.grid = grid
        self.bands = tuple(bands or scene.meta.data_bands)
        self.shift_px = shift_px
        dx, dy = shift_px
        ix, iy = int(np.floor(dx)), int(np.floor(dy))
        self._inner = SceneSource(scene, grid, self.bands, (base[0] + ix, base[1] + iy))
        self._kx, self._ky = cubic_weights(dx - ix), cubic_weights(dy - iy)
        # Decimated views (overviews for alignment and display) take the nearest whole-pixel
        # shift: at a tenth of the resolution the fraction left is a few hundredths of a pixel.
        self._nearest = SceneSource(scene, grid, self.bands, (base[0] + round(dx), base[1] + round(dy)))

    @property
    def cache(self) -> BlockCache:
        return self._inner.cache

    def read(self, window: Window, out_shape: tuple[int, int] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        h, w = int(window.height), int(window.width)
        if out_shape is not None and out_shape != (h, w):
            return self._nearest.read(window, out_shape=out_shape)
        grown = Window(window.col_off - 1, window.row_off - 1, w + 3, h + 3)
        data, valid = self._inner.read(grown)
        dtype = data.dtype
        out = np.empty((data.shape[0], h, w), dtype=dtype)
        info = np.iinfo(dtype) if dtype.kind in "ui" else None
        for b in range(data.shape[0]):
            band = cv2.sepFilter2D(data[b].astype(np.float32), cv2.CV_32F, self._kx, self._ky,
                                   anchor=(1, 1), borderType=cv2.BORDER_REPLICATE)[1:1 + h, 1:1 + w]
            if info is not None:
                np.clip(np.rint(band, out=band), info.min, info.max, out=band)
            out[b] = band
        whole = cv2.erode(valid.view(np.uint8), np.ones((4, 4), np.uint8), anchor=(1, 1),
                          borderType=cv2.BORDER_CONSTANT, borderValue=0)[1:1 + h, 1:1 + w]
        ok = whole.astype(bool)
        fill = self.scene.meta.nodata if self.scene.meta.nodata is not None else 0
        if not ok.all():
            out[:, ~ok] = np.asarray(fill).astype(dtype)
        return out, ok


def source_on_grid(scene: Scene, grid: GridSpec, bands: tuple[int, ...] | None = None,
                   shift_px: tuple[float, float] = (0.0, 0.0),
                   resampling: Resampling = Resampling.cubic) -> GridSource:
    """The cheapest correct reader of ``scene`` on ``grid``: a plain windowed read when the
    scene's lattice matches the grid and the shift is whole pixels, else a warp."""
    meta = scene.meta
    own = GridSpec(meta.crs, meta.transform, meta.width, meta.height)
    offset = own.same_lattice(grid)
    dx, dy = shift_px
    whole = abs(dx - round(dx)) < SHIFT_EPS_PX and abs(dy - round(dy)) < SHIFT_EPS_PX
    if offset is not None:
        # grid pixel (c, r) == own pixel (c - offset) ... same_lattice gives grid origin in own px.
        col, row = apply_affine(~own.transform, grid.transform.c, grid.transform.f)
        if whole:
            return SceneSource(scene, grid, bands, (round(col + dx), round(row + dy)))
        if resampling == Resampling.cubic:
            return ShiftedSource(scene, grid, bands, (round(col), round(row)), (dx, dy))
    return WarpedSource(scene, grid, bands, shift_px=shift_px, resampling=resampling)
