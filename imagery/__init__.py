"""posturewatch ingest: scenes, metadata, tiling, two-date alignment and writers (no torch).

The names most users need::

    from imagery import open_scene, ScenePair, TileGrid

``imagery.synth`` is the synthetic Maxar-style scene generator.
"""

import os as _os

# GDAL's own block cache defaults to 5 % of RAM; the tile reader keeps its own bounded block
# cache, so a large GDAL cache only inflates memory. Users can still set GDAL_CACHEMAX.
_os.environ.setdefault("GDAL_CACHEMAX", "64")

from imagery.errors import InputError, NoOverlapError, PostureWatchError
from imagery.grid import GridSpec, Tile, TileGrid
from imagery.pair import ScenePair
from imagery.scene import PixelModeWarning, Scene, SceneMeta, open_scene

__all__ = [
    "GridSpec",
    "InputError",
    "NoOverlapError",
    "PixelModeWarning",
    "PostureWatchError",
    "Scene",
    "SceneMeta",
    "ScenePair",
    "Tile",
    "TileGrid",
    "open_scene",
]

__version__ = "0.1.0"
