"""Lazy access to one image on disk: :func:`open_scene` -> :class:`Scene` (+ :class:`SceneMeta`).

Opening reads headers and side-car metadata only; pixels are read on demand through
``Scene.read`` in whatever thread asks. GDAL dataset handles are not safe to share between
threads, so each thread gets its own handle (opening a GeoTIFF costs well under a millisecond).
"""

from __future__ import annotations

import math
import os
import threading
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window

from imagery.errors import InputError
from imagery.geometry import apply_affine
from imagery.maxar import MaxarMetadata, find_metadata
from imagery.tiled import dataset_name

# Anything larger than this is a corrupt or hostile header, not an image (a 1e6 x 1e6 x 16-band
# scene is already 16 TB of pixels).
MAX_SIDE_PX = 1_000_000
MAX_PIXELS = 2e11
DEFAULT_PIXEL_GSD = 0.5


class PixelModeWarning(UserWarning):
    """The image has no georeference; coordinates are pixels (x = column, y = row)."""


_COLOR_TO_BAND = {
    ColorInterp.red: "R",
    ColorInterp.green: "G",
    ColorInterp.blue: "B",
    ColorInterp.gray: "P",
    ColorInterp.alpha: "alpha",
}


@dataclass(frozen=True)
class SceneMeta:
    """Everything about a scene that is known without reading pixels."""

    path: str
    driver: str
    crs: str | None
    transform: Affine
    width: int
    height: int
    count: int
    dtype: str
    gsd_m: float
    nodata: float | None
    band_names: tuple[str, ...]
    bits_per_pixel: int
    georeferenced: bool
    maxar: MaxarMetadata | None = None
    alpha_band: int | None = None  # 1-based index of an alpha band used as the validity mask
    overviews: tuple[int, ...] = field(default=())

    # Convenience views on the acquisition record -------------------------------------------
    @property
    def acquired(self):
        return self.maxar.acquired if self.maxar else None

    @property
    def sun_azimuth(self) -> float | None:
        return self.maxar.sun_azimuth if self.maxar else None

    @property
    def sun_elevation(self) -> float | None:
        return self.maxar.sun_elevation if self.maxar else None

    @property
    def off_nadir(self) -> float | None:
        return self.maxar.off_nadir if self.maxar else None

    @property
    def data_bands(self) -> tuple[int, ...]:
        """1-based indexes of the bands that carry image data (the alpha band excluded)."""
        return tuple(i for i in range(1, self.count + 1) if i != self.alpha_band)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the scene CRS (pixels in pixel mode)."""
        xs, ys = apply_affine(
            self.transform,
            np.array([0, self.width, self.width, 0]),
            np.array([0, 0, self.height, self.height]),
        )
        return (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))

    def to_json_dict(self) -> dict[str, Any]:
        """The ``posturewatch info --json`` object (keys documented in the README)."""
        m = self.maxar
        d: dict[str, Any] = {
            "path": self.path,
            "driver": self.driver,
            "crs": self.crs,
            "georeferenced": self.georeferenced,
            "width": self.width,
            "height": self.height,
            "count": self.count,
            "dtype": self.dtype,
            "gsd_m": round(self.gsd_m, 6),
            "nodata": self.nodata,
            "transform": list(self.transform)[:6],
            "bounds": list(self.bounds),
            "band_names": list(self.band_names),
            "bits_per_pixel": self.bits_per_pixel,
            "overviews": list(self.overviews),
            "acquired": None,
            "satellite": None,
            "catalog_id": None,
            "sun_azimuth": None,
            "sun_elevation": None,
            "sat_azimuth": None,
            "sat_elevation": None,
            "off_nadir": None,
            "view_zenith": None,
            "cloud_cover": None,
            "metadata_source": None,
        }
        if m is not None:
            md = m.to_json_dict()
            for key in ("acquired", "satellite", "catalog_id", "sun_azimuth", "sun_elevation",
                        "sat_azimuth", "sat_elevation", "off_nadir", "view_zenith", "cloud_cover"):
                d[key] = md[key]
            d["metadata_source"] = m.source
            d["product_level"] = m.product_level
            d["band_id"] = m.band_id
        return d


class Scene:
    """A lazily read raster. Cheap to create; safe to read from several threads at once."""

    def __init__(self, meta: SceneMeta) -> None:
        self.meta = meta
        self._local = threading.local()
        self._handles: list[Any] = []
        self._lock = threading.Lock()
        # Decoded-block caches by band tuple (imagery.blocks.BlockCache.shared): every reader
        # of this scene alive at once decodes each block once. Weak: a cache goes with the
        # last reader that holds it (the detector's reader of a pipeline's scene, 256 MB, held
        # to the end of the run otherwise: the demo peaked 330 MB higher).
        self.block_caches: weakref.WeakValueDictionary[tuple[int, ...], Any] = weakref.WeakValueDictionary()

    def __repr__(self) -> str:
        m = self.meta
        return f"Scene({m.path!r}, {m.width}x{m.height}x{m.count} {m.dtype}, crs={m.crs})"

    @property
    def path(self) -> str:
        return self.meta.path

    def dataset(self) -> rasterio.DatasetReader:
        """This thread's open handle on the file."""
        ds = getattr(self._local, "ds", None)
        if ds is None or ds.closed:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                ds = rasterio.open(dataset_name(self.meta.path))
            self._local.ds = ds
            with self._lock:
                self._handles.append(ds)
        return ds

    def keep(self, ds: Any) -> Any:
        """Close ``ds`` (a handle opened on this scene's behalf, a VRT over it) with the scene."""
        with self._lock:
            self._handles.append(ds)
        return ds

    def overview_dataset(self, level: int) -> rasterio.DatasetReader:
        """This thread's open handle on overview ``level`` (0: the first, 2x reduced) as a
        dataset of its own (its transform scaled accordingly): what a warp to a much coarser
        grid should read."""
        key = f"ovr{level}"
        ds = getattr(self._local, key, None)
        if ds is None or ds.closed:
            ds = rasterio.open(dataset_name(self.meta.path), overview_level=level)
            setattr(self._local, key, ds)
            with self._lock:
                self._handles.append(ds)
        return ds

    def read(
        self,
        window: Window | None = None,
        *,
        bands: tuple[int, ...] | None = None,
        out_shape: tuple[int, int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read ``(data, valid)``: data (bands, rows, cols) in the native dtype, valid (rows, cols)
        bool. A window may hang over the image edge: the outside is filled with nodata (or 0)
        and marked invalid. ``out_shape`` decimates a window that lies inside the image (GDAL
        then uses overviews when the file has them)."""
        bands = tuple(bands or self.meta.data_bands)
        if window is None:
            window = Window(0, 0, self.meta.width, self.meta.height)
        try:
            return read_window(self.dataset(), window, bands, self._fill, out_shape=out_shape,
                               mask_band=self.meta.alpha_band, nodata=self.meta.nodata)
        except (RasterioIOError, RasterioError) as exc:
            raise InputError(f"{self.meta.path}: cannot read pixels (corrupt or truncated?): "
                             f"{_one_line(exc)}") from None

    @property
    def _fill(self) -> float:
        nod = self.meta.nodata
        return 0 if nod is None or math.isnan(nod) else nod

    def close(self) -> None:
        with self._lock:
            for ds in self._handles:
                ds.close()
            self._handles.clear()
        self._local = threading.local()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Scenes travel to dask workers as their metadata; handles are reopened there.
        return {"meta": self.meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["meta"])


def read_window(
    ds: Any,
    window: Window,
    bands: tuple[int, ...],
    fill: float,
    *,
    out_shape: tuple[int, int] | None = None,
    mask_band: int | None = None,
    nodata: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Windowed (optionally decimated) read from any open dataset, padding what lies outside.

    Done by hand (read the intersection, paste it) because rasterio's ``boundless=True`` goes
    through a temporary WarpedVRT, which is several times slower and refuses WarpedVRT inputs.
    ``valid`` comes from ``mask_band`` (alpha), else nodata, else everything inside the raster.
    """
    col0, row0 = int(window.col_off), int(window.row_off)
    h, w = int(window.height), int(window.width)
    oh, ow = out_shape or (h, w)
    sy, sx = oh / h, ow / w
    dtype = ds.dtypes[bands[0] - 1]
    c0, r0 = max(col0, 0), max(row0, 0)
    c1, r1 = min(col0 + w, ds.width), min(row0 + h, ds.height)
    valid = np.zeros((oh, ow), dtype=bool)
    if not (c1 > c0 and r1 > r0):
        return np.full((len(bands), oh, ow), fill, dtype=dtype), valid
    if (c0, r0, c1, r1) == (col0, row0, col0 + w, row0 + h):
        data = ds.read(list(bands), window=window, out_shape=(len(bands), oh, ow))
        rs, cs = slice(0, oh), slice(0, ow)
        inner, inner_shape = window, (oh, ow)
    else:
        data = np.full((len(bands), oh, ow), fill, dtype=dtype)
        rs = slice(round((r0 - row0) * sy), round((r1 - row0) * sy))
        cs = slice(round((c0 - col0) * sx), round((c1 - col0) * sx))
        inner_shape = (rs.stop - rs.start, cs.stop - cs.start)
        if inner_shape[0] <= 0 or inner_shape[1] <= 0:
            return data, valid
        inner = Window(c0, r0, c1 - c0, r1 - r0)
        data[:, rs, cs] = ds.read(list(bands), window=inner, out_shape=(len(bands), *inner_shape))
    if mask_band is not None:
        valid[rs, cs] = ds.read(mask_band, window=inner, out_shape=inner_shape) > 0
    else:
        valid[rs, cs] = _valid_from_nodata(data[:, rs, cs], nodata)
    return data, valid


def _valid_from_nodata(data: np.ndarray, nodata: float | None) -> np.ndarray:
    if nodata is None:
        return np.ones(data.shape[1:], dtype=bool)
    if math.isnan(nodata):
        return ~np.all(np.isnan(data), axis=0)
    return ~np.all(data == nodata, axis=0)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def crs_to_string(crs: CRS | None) -> str | None:
    """``EPSG:n`` when the CRS has an EPSG code, else WKT; ``None`` for no CRS."""
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def gsd_from_transform(transform: Affine, crs: CRS | None, width: int, height: int) -> float:
    """Ground sample distance in metres (geometric mean of the two pixel sides).

    Geographic CRSs are converted at the scene centre's latitude, so a Sentinel-2 tile in
    EPSG:4326 reports ~10 m, not 9e-5.
    """
    xres = math.hypot(transform.a, transform.d)
    yres = math.hypot(transform.b, transform.e)
    if crs is None:
        return math.sqrt(xres * yres)
    if crs.is_geographic:
        _, lat = apply_affine(transform, width / 2.0, height / 2.0)
        lat = float(lat)
        lat_r = math.radians(max(-89.9, min(89.9, lat)))
        m_per_deg_lat = 111132.92 - 559.82 * math.cos(2 * lat_r) + 1.175 * math.cos(4 * lat_r)
        m_per_deg_lon = 111412.84 * math.cos(lat_r) - 93.5 * math.cos(3 * lat_r)
        return math.sqrt(xres * m_per_deg_lon * yres * m_per_deg_lat)
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    return math.sqrt(xres * yres) * factor


def _band_names(ds: Any, maxar: MaxarMetadata | None) -> tuple[str, ...]:
    if maxar is not None and len(maxar.band_ids) == ds.count:
        return tuple(maxar.band_ids)
    names = []
    for i, ci in enumerate(ds.colorinterp, start=1):
        desc = (ds.descriptions[i - 1] or "").strip()
        names.append(_COLOR_TO_BAND.get(ci) or desc or f"band{i}")
    if ds.count == 1 and names[0] in ("band1", "P"):
        names = ["P"]
    if maxar is not None and maxar.band_ids and len(maxar.band_ids) == ds.count - names.count("alpha"):
        it = iter(maxar.band_ids)
        names = [n if n == "alpha" else next(it) for n in names]
    return tuple(names)


def open_scene(path: str | os.PathLike[str], *, gsd: float | None = None) -> Scene:
    """Open an image lazily: GeoTIFF/COG, NITF, ENVI, VRT, or a plain PNG/JPEG.

    ``gsd`` is the ground sample distance to assume for images without a georeference (pixel
    mode; default 0.5 m, or the Maxar metadata's mean GSD when a side-car gives one).
    Raises :class:`InputError` with one line for anything that is not a readable image.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            ds = rasterio.open(dataset_name(p))
    except RasterioIOError as exc:
        msg = _one_line(exc)
        if "not recognized as" in msg or "not a supported file format" in msg:
            raise InputError(f"{p}: not a raster image GDAL can read") from None
        raise InputError(f"{p}: cannot open as a raster ({msg})") from None
    except (RasterioError, OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot open as a raster ({_one_line(exc)})") from None
    with ds:
        if ds.count < 1 or ds.width < 1 or ds.height < 1:
            raise InputError(f"{p}: raster has no pixels ({ds.width}x{ds.height}x{ds.count})")
        if ds.width > MAX_SIDE_PX or ds.height > MAX_SIDE_PX or \
                float(ds.width) * ds.height * ds.count > MAX_PIXELS:
            raise InputError(
                f"{p}: header claims an absurd size {ds.width}x{ds.height}x{ds.count}; "
                "the file is corrupt or not an image")
        maxar = find_metadata(p)
        crs = crs_to_string(ds.crs)
        georeferenced = crs is not None
        transform = ds.transform
        if not georeferenced:
            warnings.warn(
                f"{p.name} has no georeference: working in pixel coordinates",
                PixelModeWarning, stacklevel=2)
            transform = Affine.identity()
            gsd_m = gsd or (maxar.mean_gsd if maxar and maxar.mean_gsd else DEFAULT_PIXEL_GSD)
        else:
            gsd_m = gsd_from_transform(transform, ds.crs, ds.width, ds.height)
        names = _band_names(ds, maxar)
        alpha = names.index("alpha") + 1 if "alpha" in names and ds.count > 1 else None
        nodata = ds.nodata
        bits = None
        if maxar is not None and maxar.bits_per_pixel:
            bits = maxar.bits_per_pixel
        nbits = ds.tags(1, ns="IMAGE_STRUCTURE").get("NBITS")
        if nbits and nbits.isdigit():
            bits = int(nbits)
        if bits is None:
            bits = np.dtype(ds.dtypes[0]).itemsize * 8
        meta = SceneMeta(
            path=str(p),
            driver=ds.driver,
            crs=crs,
            transform=transform,
            width=ds.width,
            height=ds.height,
            count=ds.count,
            dtype=ds.dtypes[0],
            gsd_m=float(gsd_m),
            nodata=None if nodata is None else float(nodata),
            band_names=names,
            bits_per_pixel=int(bits),
            georeferenced=georeferenced,
            maxar=maxar,
            alpha_band=alpha,
            overviews=tuple(ds.overviews(1)),
        )
    return Scene(meta)
