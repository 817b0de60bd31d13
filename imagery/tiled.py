"""Maxar tiled deliveries: a ``.TIL`` file listing the ``..._R1C1.TIF``-style tiles of one image.

A large order is delivered as several GeoTIFF (or NITF) tiles plus a ``.TIL`` tile map in the IMD
grammar (``BEGIN_GROUP = TILE_n``: ``filename``, ``ULColOffset``, ``ULRowOffset``,
``LRColOffset``, ``LRRowOffset``...). GDAL's TIL driver mosaics them but takes the georeference
from fields a delivery may lack (it put a synthetic delivery at the map origin), so the mosaic is
built here as a VRT from the tiles' own georeference: every tile is a complete GeoTIFF, and the
tile map only says where it sits.
"""

from __future__ import annotations

import functools
from pathlib import Path

from imagery.errors import InputError
from imagery.vrt import GDAL_TYPES, simple_source, vrt_xml


def is_tile_map(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".til"


def dataset_name(path: str | Path) -> str:
    """What to hand ``rasterio.open`` for ``path``: the path itself, or for a ``.TIL`` tile map
    the XML of a VRT mosaic of its tiles."""
    return tile_map_vrt(str(Path(path).resolve())) if is_tile_map(path) else str(path)


@functools.lru_cache(maxsize=16)
def tile_map_vrt(path: str) -> str:
    import rasterio

    from imagery.maxar import parse_imd_text

    til = Path(path)
    try:
        parsed = parse_imd_text(til.read_text(errors="replace"), name=str(til))
    except OSError as exc:
        raise InputError(f"{til}: cannot read the tile map ({exc.strerror})") from None
    tiles = [g for name, g in parsed.get("groups", []) if name.upper().startswith("TILE_")]
    if not tiles:
        raise InputError(f"{til}: a .TIL tile map without TILE groups")
    placed = []
    for g in tiles:
        name = str(g.get("filename", "")).strip('"')
        src = til.parent / name
        if not name or not src.is_file():
            raise InputError(f"{til}: tile {name or '(no filename)'} is missing")
        try:
            c0, r0 = int(g["ULColOffset"]), int(g["ULRowOffset"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{til}: tile {name} has no ULColOffset/ULRowOffset") from None
        placed.append((src, c0, r0))
    first, c0, r0 = min(placed, key=lambda t: (t[2], t[1]))
    with rasterio.open(first) as ds:
        count, dtype, crs = ds.count, ds.dtypes[0], ds.crs
        origin = ds.transform * ds.transform.translation(-c0, -r0)
        nodata = ds.nodata
    width = height = 0
    sources: list[tuple[Path, int, int, int, int]] = []
    for src, c0, r0 in placed:
        with rasterio.open(src) as ds:
            if ds.count != count or ds.dtypes[0] != dtype:
                raise InputError(f"{til}: tile {src.name} has {ds.count} {ds.dtypes[0]} bands, "
                                 f"{first.name} {count} {dtype}")
            w, h = ds.width, ds.height
        sources.append((src, c0, r0, w, h))
        width, height = max(width, c0 + w), max(height, r0 + h)
    gdal_type = GDAL_TYPES.get(dtype)
    if gdal_type is None:
        raise InputError(f"{til}: tiles of data type {dtype} are not supported")
    bands = [[simple_source(str(src), band, f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
                                            f'<DstRect xOff="{c0}" yOff="{r0}" xSize="{w}" ySize="{h}"/>')
              for src, c0, r0, w, h in sources] for band in range(1, count + 1)]
    return vrt_xml(width, height, crs, origin, gdal_type, nodata, bands)
