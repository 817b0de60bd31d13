"""VRT documents written by hand: the XML GDAL opens as a dataset of its own.

Two readers need one: a ``.TIL`` tile map mosaicked from its tiles' own georeference
(:mod:`imagery.tiled`), and a file whose bands GDAL tags alpha while the delivery's metadata
calls them data, shown to the warper untagged (:mod:`imagery.sources`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

GDAL_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
              "int32": "Int32", "float32": "Float32", "float64": "Float64"}


def simple_source(path: str, band: int, extra: str = "") -> str:
    """A ``SimpleSource`` reading ``band`` of the file at ``path``; ``extra``: more of its XML
    (open options, source and destination rectangles)."""
    return (f'<SimpleSource><SourceFilename relativeToVRT="0">{html.escape(path)}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand>{extra}</SimpleSource>")


def vrt_xml(width: int, height: int, crs: Any, transform: Any, gdal_type: str,
            nodata: float | None, bands: Sequence[Sequence[str]], *,
            colour_interp: str | None = None) -> str:
    """The document: ``bands`` lists each band's sources (:func:`simple_source`); every band
    gets ``nodata`` and, when given, ``colour_interp``."""
    gt = ", ".join(repr(float(v)) for v in transform.to_gdal())
    parts = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if crs is not None:
        parts.append(f"<SRS>{html.escape(crs.to_wkt())}</SRS>")
    parts.append(f"<GeoTransform>{gt}</GeoTransform>")
    for band, sources in enumerate(bands, start=1):
        parts.append(f'<VRTRasterBand dataType="{gdal_type}" band="{band}">')
        if colour_interp is not None:
            parts.append(f"<ColorInterp>{colour_interp}</ColorInterp>")
        if nodata is not None:
            parts.append(f"<NoDataValue>{nodata!r}</NoDataValue>")
        parts.extend(sources)
        parts.append("</VRTRasterBand>")
    parts.append("</VRTDataset>")
    return "".join(parts)
