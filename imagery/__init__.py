"""posturewatch ingest: scenes, metadata, tiling, two-date alignment and writers (no torch).

The names most users need::

    from imagery import open_scene, ScenePair, TileGrid

``imagery.synth`` is the synthetic Maxar-style scene generator. Attributes are imported on
first use, so that a command which only needs rasterio does not pay for scipy, scikit-image,
pyproj and pydantic at start-up.
"""

from __future__ import annotations

import importlib
import os as _os
from typing import Any

# GDAL's own block cache defaults to 5 % of RAM; the tile reader keeps its own bounded block
# cache, so a large GDAL cache only inflates memory. Users can still set GDAL_CACHEMAX.
_os.environ.setdefault("GDAL_CACHEMAX", "64")

from imagery.errors import InputError, NoOverlapError, PostureWatchError

_LAZY = {
    "GridSpec": "imagery.grid",
    "Tile": "imagery.grid",
    "TileGrid": "imagery.grid",
    "ScenePair": "imagery.pair",
    "PixelModeWarning": "imagery.scene",
    "Scene": "imagery.scene",
    "SceneMeta": "imagery.scene",
    "open_scene": "imagery.scene",
}

__all__ = ["InputError", "NoOverlapError", "PostureWatchError", *_LAZY]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'imagery' has no attribute {name!r}")
