"""Plotting helpers of detect/viz.py that the report and the notebooks share."""

from __future__ import annotations

import geopandas as gpd
import matplotlib
import numpy as np
import shapely
from affine import Affine

from detect import viz

matplotlib.use("Agg")


def test_boxes_and_events_beyond_the_image_do_not_widen_the_view():
    """An event chip draws every box within its size of the event; one that reaches past the
    chip's edge must not shrink the image into a corner of its panel."""
    import matplotlib.pyplot as plt

    t = Affine(0.5, 0, 767_000.0, 0, -0.5, 3_923_000.0)  # 100 x 80 px = 50 x 40 m
    image = viz.DisplayImage(np.zeros((80, 100, 3), np.uint8), t, "EPSG:32636")
    dets = gpd.GeoDataFrame(
        {"class": ["transport", "sam"], "state": ["nose_raised", None], "heading_deg": [0.0, 90.0]},
        geometry=[shapely.box(767_040, 3_922_950, 767_120, 3_923_030),  # mostly outside
                  shapely.box(767_010, 3_922_980, 767_014, 3_922_990)], crs="EPSG:32636")
    fig, ax = plt.subplots()
    ax.imshow(image.rgb)
    viz.draw_boxes(ax, image, dets)
    viz.draw_events(ax, image, [{"kind": "departed", "x": 767_200.0, "y": 3_922_900.0}])
    assert ax.get_xlim() == (-0.5, 99.5)
    assert ax.get_ylim() == (79.5, -0.5)
    plt.close(fig)


def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_the_report_embeds_imagery_as_jpeg_and_flat_figures_as_png():
    from detect.report import _img

    rng = np.random.default_rng(0)
    photo = _png(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    flat = _png(np.full((200, 300, 3), 255, np.uint8))
    assert 'src="data:image/jpeg;base64,' in _img(photo, "before", "overlay-before")
    assert 'id="overlay-before"' in _img(photo, "before", "overlay-before")
    assert 'src="data:image/png;base64,' in _img(flat, "timeline")
    assert "not available" in _img(None, "change")

