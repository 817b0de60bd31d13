"""Detection tables (GeoDataFrames of oriented boxes) moved between CRSs.

A detection's polygon is reprojected exactly; its ``heading_deg`` is turned with grid north of
the new projection (from the reprojected box corners), so that matching by heading across two
dates delivered in different projections compares like with like. ``length_m``/``width_m``
stay: they are ground sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detect.boxes import reproject_boxes
from imagery.crs import same_crs


def frame_crs(gdf: Any) -> str | None:
    """The CRS of a GeoDataFrame as a string (None for pixel coordinates)."""
    return None if gdf is None or gdf.crs is None else gdf.crs.to_string()


def detections_to_crs(gdf: Any, crs: str | None) -> Any:
    """``gdf`` in ``crs`` (the same object when it is already there, has no CRS, or is None)."""
    src = frame_crs(gdf)
    if gdf is None or src is None or crs is None or same_crs(src, crs):
        return gdf
    out = gdf.to_crs(crs)
    if len(gdf) and "heading_deg" in gdf.columns:
        c = gdf.geometry.centroid
        size = np.ones(len(gdf))  # a unit box: only its turn is wanted
        heading = np.nan_to_num(gdf["heading_deg"].to_numpy(np.float64))
        boxes = np.column_stack([c.x, c.y, size, size, heading])
        turned = reproject_boxes(boxes, src, crs)[:, 4]
        out["heading_deg"] = np.round(turned, 2)
    return out
