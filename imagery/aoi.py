"""Areas of interest: GeoJSON files, site configs, or geometries, brought into a grid's CRS.

A lon/lat AOI against a pixel-mode image is an error (there is no way to place it); an AOI in
the scene CRS or in pixel coordinates can be given as a geometry with ``crs``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from imagery.errors import InputError

if TYPE_CHECKING:
    from imagery.config import SiteConfig

WGS84 = "EPSG:4326"


def reproject_geometry(geom: BaseGeometry, src_crs: str | None, dst_crs: str | None) -> BaseGeometry:
    """Reproject a shapely geometry, or an array of them in one go (x/y order = lon/lat for
    geographic CRSs)."""
    if src_crs == dst_crs:
        return geom
    if src_crs is None or dst_crs is None:
        raise InputError("cannot place an AOI with a CRS on an image without one (pixel mode)")
    from imagery.crs import transformer

    f = transformer(src_crs, dst_crs)
    return shapely.transform(geom, lambda xy: np.column_stack(f(xy[:, 0], xy[:, 1])))


def _geojson_geometry(obj: Any, name: str) -> BaseGeometry:
    if not isinstance(obj, dict) or "type" not in obj:
        raise InputError(f"{name}: not a GeoJSON object")
    kind = obj["type"]
    try:
        if kind == "FeatureCollection":
            geoms = [shape(f["geometry"]) for f in obj.get("features", []) if f.get("geometry")]
            if not geoms:
                raise InputError(f"{name}: GeoJSON has no geometries")
            return shapely.union_all(geoms)
        if kind == "Feature":
            return shape(obj["geometry"])
        return shape(obj)
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        raise InputError(f"{name}: invalid GeoJSON geometry ({exc})") from None


def site_aoi(site: SiteConfig) -> BaseGeometry:
    return shapely.Polygon(site.aoi)


def load_aoi(spec: str | Path | BaseGeometry | SiteConfig, dst_crs: str | None, *,
             crs: str | None = WGS84) -> BaseGeometry:
    """An AOI in ``dst_crs``.

    ``spec`` is a GeoJSON path (lon/lat per RFC 7946), a site config name or path, a
    :class:`SiteConfig`, or a shapely geometry in ``crs`` (WGS84 unless told otherwise; pass the
    scene CRS, or ``None`` for pixel coordinates).
    """
    from imagery.config import SiteConfig, load_site

    if isinstance(spec, SiteConfig):
        geom, src = site_aoi(spec), WGS84
    elif isinstance(spec, BaseGeometry):
        geom, src = spec, crs
    else:
        p = Path(spec)
        if p.suffix.lower() in (".geojson", ".json"):
            if not p.is_file():
                raise InputError(f"{p}: no such AOI file")
            try:
                obj = json.loads(p.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise InputError(f"{p}: AOI file is not valid JSON") from None
            geom, src = _geojson_geometry(obj, str(p)), WGS84
        else:
            geom, src = site_aoi(load_site(spec)), WGS84
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if geom.is_empty or geom.area == 0:
        raise InputError("the area of interest is empty")
    return reproject_geometry(geom, src, dst_crs)


def site_zones(site: SiteConfig, dst_crs: str | None) -> list[tuple[str, str, float, BaseGeometry]]:
    """The site's zones as ``(name, kind, weight, geometry in dst_crs)``; empty in pixel mode
    (lon/lat zones cannot be placed on an image without a georeference)."""
    if dst_crs is None:
        return []
    return [(z.name, z.kind, z.weight, reproject_geometry(shapely.Polygon(z.polygon), WGS84, dst_crs))
            for z in site.zones]
