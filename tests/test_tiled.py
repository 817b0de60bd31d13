"""Maxar tiled deliveries: a .TIL tile map opens as one image, on the tiles' own georeference."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from imagery.errors import InputError
from imagery.scene import open_scene

STEM = "24DEC12083000-M2AS-000000000001_01_P001"


def _deliver_tiled(image: Path, folder: Path, rows: int = 2, cols: int = 3) -> Path:
    """``image`` cut into rows x cols GeoTIFF tiles with a .TIL map and its IMD, as Maxar ships
    a large order (only the fields a tile map always has: filename and corner offsets)."""
    folder.mkdir()
    lines = ['bandId = "Multi";', f"numTiles = {rows * cols};"]
    with rasterio.open(image) as src:
        hs = np.linspace(0, src.height, rows + 1).astype(int)
        ws = np.linspace(0, src.width, cols + 1).astype(int)
        k = 0
        for r in range(rows):
            for c in range(cols):
                k += 1
                win = Window(ws[c], hs[r], ws[c + 1] - ws[c], hs[r + 1] - hs[r])
                name = f"{STEM}_R{r + 1}C{c + 1}.TIF"
                prof = src.profile | {"width": int(win.width), "height": int(win.height),
                                      "transform": src.window_transform(win), "driver": "GTiff"}
                with rasterio.open(folder / name, "w", **prof) as dst:
                    dst.write(src.read(window=win))
                lines += [f"BEGIN_GROUP = TILE_{k}", f'\tfilename = "{name}";',
                          f"\tULColOffset = {ws[c]};", f"\tULRowOffset = {hs[r]};",
                          f"\tLRColOffset = {ws[c + 1] - 1};", f"\tLRRowOffset = {hs[r + 1] - 1};",
                          f"END_GROUP = TILE_{k}"]
    (folder / f"{STEM}.TIL").write_text("\n".join([*lines, "END;"]) + "\n")
    shutil.copy(image.with_suffix(".IMD"), folder / f"{STEM}.IMD")
    return folder / f"{STEM}.TIL"


def test_a_tile_map_opens_as_the_whole_image(sample_pair, tmp_path):
    whole = Path(sample_pair[0])
    til = _deliver_tiled(whole, tmp_path / "order")
    tiled, ref = open_scene(til), open_scene(whole)
    assert (tiled.meta.width, tiled.meta.height, tiled.meta.count) == (ref.meta.width, ref.meta.height,
                                                                       ref.meta.count)
    assert tiled.meta.transform == ref.meta.transform and tiled.meta.crs == ref.meta.crs
    assert tiled.meta.acquired == ref.meta.acquired and tiled.meta.band_names == ref.meta.band_names
    a, va = tiled.read()
    b, vb = ref.read()
    np.testing.assert_array_equal(a, b)
    assert va.all()
    # a window across four tiles, as the tile readers ask for it
    win = Window(ref.meta.width // 3 - 20, ref.meta.height // 2 - 20, 40, 40)
    np.testing.assert_array_equal(tiled.read(win)[0], ref.read(win)[0])


def test_a_tile_map_with_a_missing_tile_is_one_clear_error(sample_pair, tmp_path):
    til = _deliver_tiled(Path(sample_pair[0]), tmp_path / "order")
    (til.parent / f"{STEM}_R2C3.TIF").unlink()
    with pytest.raises(InputError, match="R2C3.TIF is missing"):
        open_scene(til)
