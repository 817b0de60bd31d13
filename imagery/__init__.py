"""posturewatch ingest: scenes, metadata, tiling, two-date alignment and writers (no torch).

The names most users need::

    from imagery import open_scene, ScenePair, TileGrid

``imagery.synth`` is the synthetic Maxar-style scene generator.
"""

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
