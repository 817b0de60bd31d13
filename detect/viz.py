"""Pictures for analysts: before/after overlays with oriented boxes, change heat maps, event chip
pairs and posture timelines. The report and the notebooks both draw through these functions, so
what an analyst sees in Jupyter is what the HTML report shows.

Everything returns matplotlib figures (Agg-safe, no display needed) or uint8 arrays; saving goes
through :func:`save_png`, which writes atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.windows import Window

from detect.geoframe import detections_to_crs
from imagery.atomic import atomic_write_bytes
from imagery.crs import transformer
from imagery.geometry import apply_affine
from imagery.radiometry import DisplayStretch, fit_stretch, rgb_bands
from imagery.scene import Scene

CLASS_COLOURS = {
    "transport": "#e41a1c",
    "fighter": "#ff7f00",
    "helicopter": "#4daf4a",
    "sam": "#984ea3",
    "vehicle": "#f2d40a",
    "airliner": "#377eb8",
}
STATE_STYLE = {"linewidth": 2.6, "linestyle": "--"}
NOMINAL_STYLE = {"linewidth": 1.4, "linestyle": "-"}
EVENT_COLOURS = {
    "departed": "#ff3b30", "arrived": "#34c759", "nose_raised": "#ff9500", "nose_lowered": "#ffcc00",
    "dismantled": "#af52de", "reassembled": "#5ac8fa", "packed": "#ff2d55", "deployed": "#30b0c7",
}


class DisplayImage:
    """An RGB uint8 rendering of (part of) a scene with the affine from map to its pixels."""

    def __init__(self, rgb: np.ndarray, transform: Affine, crs: str | None) -> None:
        self.rgb = rgb
        self.transform = transform  # display pixel -> map
        self.crs = crs

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    def to_pixels(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return apply_affine(~self.transform, xs, ys)


def render_scene(scene: Scene, *, window: Window | None = None, max_side: int = 1600,
                 stretch: DisplayStretch | None = None) -> DisplayImage:
    """A display-stretched RGB view of a scene (or a window of it), decimated to ``max_side``.

    One stretch per scene (fitted on a whole-scene sample) keeps chips and overviews comparable.
    """
    meta = scene.meta
    window = window or Window(0, 0, meta.width, meta.height)
    bands = rgb_bands(scene)
    stretch = stretch or fit_stretch(scene, bands)
    f = max(1.0, max(window.width, window.height) / max_side)
    shape = (max(1, int(round(window.height / f))), max(1, int(round(window.width / f))))
    data, valid = scene.read(window, bands=bands, out_shape=shape)
    rgb = np.moveaxis(stretch.apply(data), 0, -1).copy()
    rgb[~valid] = 0
    t = meta.transform @ Affine.translation(window.col_off, window.row_off) @ Affine.scale(
        window.width / shape[1], window.height / shape[0])
    return DisplayImage(rgb, t, meta.crs)


def render_like(scene: Scene, like: DisplayImage, *, stretch: DisplayStretch | None = None) -> DisplayImage:
    """``scene`` drawn on the pixels of another display image (same frame for a before/after
    pair, whatever the two scenes' own grids): GDAL warps it, using overviews when it can."""
    from rasterio.enums import Resampling

    from imagery.grid import GridSpec
    from imagery.sources import WarpedSource, source_on_grid

    h, w = like.shape
    grid = GridSpec(like.crs, like.transform, w, h)
    bands = rgb_bands(scene)
    stretch = stretch or fit_stretch(scene, bands)
    src = source_on_grid(scene, grid, bands)
    if not isinstance(src, WarpedSource):  # same lattice but decimated: warp anyway (averaging)
        src = WarpedSource(scene, grid, bands, resampling=Resampling.average)
    else:
        src.resampling = Resampling.average
    src.use_overviews = True  # a view for people: from the overview nearest the frame's scale
    data, valid = src.read(Window(0, 0, w, h))
    rgb = np.moveaxis(stretch.apply(data), 0, -1).copy()
    rgb[~valid] = 0
    return DisplayImage(rgb, like.transform, like.crs)


def pair_images(before: Scene, after: Scene, *, window: Window | None = None, max_side: int = 1600,
                stretches: tuple[DisplayStretch | None, DisplayStretch | None] = (None, None)
                ) -> tuple[DisplayImage, DisplayImage]:
    """Before and after on one display frame (the before image's), for overlays and swipes."""
    img_a = render_scene(before, window=window, max_side=max_side, stretch=stretches[0])
    return img_a, render_like(after, img_a, stretch=stretches[1])


def _polygon_xy(geom: Any) -> np.ndarray:
    return np.asarray(geom.exterior.coords)


def draw_boxes(ax: Any, image: DisplayImage, detections: Any, *, classes: Iterable[str] | None = None,
               label: bool = True, alpha: float = 1.0) -> None:
    """Oriented boxes coloured by class; a dashed, thicker outline marks a non-nominal state;
    a short tick on the nose edge shows the heading."""
    if detections is None or len(detections) == 0:
        return
    detections = detections_to_crs(detections, image.crs)
    wanted = set(classes) if classes is not None else None
    for _, row in detections.iterrows():
        cls = row["class"]
        if wanted is not None and cls not in wanted:
            continue
        xy = _polygon_xy(row.geometry)
        px, py = image.to_pixels(xy[:, 0], xy[:, 1])
        state = row.get("state")
        has_state = isinstance(state, str) and state != ""
        style = STATE_STYLE if has_state else NOMINAL_STYLE
        colour = CLASS_COLOURS.get(cls, "#ffffff")
        ax.plot(px, py, color=colour, alpha=alpha, **style)
        if len(px) >= 4:  # corners 3 -> 0 are the nose edge
            ax.plot([px[3], px[0]], [py[3], py[0]], color="white", linewidth=style["linewidth"] + 0.6,
                    alpha=alpha)
        if label and has_state:
            ax.text(px.mean(), py.min() - 3, state.replace("_", " "), color=colour, fontsize=7,
                    ha="center", va="bottom", fontweight="bold", clip_on=True,
                    bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "linewidth": 0})
    _image_limits(ax, image)


def _image_limits(ax: Any, image: DisplayImage) -> None:
    """Keep the axes on the image: boxes of detections beyond its edge (an event chip draws
    every box within its size of the event) would otherwise widen the view and shrink the
    image into a corner of its panel."""
    h, w = image.shape
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


def class_legend(ax: Any, classes: Iterable[str] | None = None) -> None:
    from matplotlib.lines import Line2D

    names = list(classes) if classes is not None else list(CLASS_COLOURS)
    handles = [Line2D([0], [0], color=CLASS_COLOURS[c], lw=2, label=c) for c in names]
    handles.append(Line2D([0], [0], color="white", lw=2.6, ls="--", label="non-nominal state"))
    leg = ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.6)
    leg.get_frame().set_facecolor("#222222")
    for t in leg.get_texts():
        t.set_color("white")


def overlay_figure(image: DisplayImage, detections: Any = None, *, title: str = "",
                   events: Sequence[dict[str, Any]] | None = None, classes: Iterable[str] | None = None,
                   width_in: float = 8.0) -> Any:
    """One date with its detections (and, optionally, event markers)."""
    import matplotlib.pyplot as plt

    h, w = image.shape
    fig, ax = plt.subplots(figsize=(width_in, width_in * h / w), dpi=110)
    ax.imshow(image.rgb, interpolation="antialiased")
    draw_boxes(ax, image, detections, classes=classes)
    if events:
        draw_events(ax, image, events)
    class_legend(ax, classes)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def event_points(events: Sequence[dict[str, Any]], crs: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Event positions in ``crs``: from their lon/lat when they carry them (events are placed
    in the CRS the objects were compared in, which need not be an image's), else their x, y
    (pixel mode)."""
    xs = np.array([float(e["x"]) for e in events])
    ys = np.array([float(e["y"]) for e in events])
    if crs is None or not len(events) or any(e.get("lon") is None or e.get("lat") is None for e in events):
        return xs, ys
    return transformer("EPSG:4326", crs)(np.array([float(e["lon"]) for e in events]),
                                         np.array([float(e["lat"]) for e in events]))


def draw_events(ax: Any, image: DisplayImage, events: Sequence[dict[str, Any]], *,
                numbered: bool = True) -> None:
    xs, ys = event_points(events, image.crs)
    for k, e in enumerate(events, start=1):
        px, py = image.to_pixels(xs[k - 1:k], ys[k - 1:k])
        colour = EVENT_COLOURS.get(e["kind"], "white")
        ax.plot(px, py, marker="o", markersize=16, markerfacecolor="none", markeredgecolor=colour,
                markeredgewidth=2)
        if numbered:
            ax.text(px[0] + 10, py[0] - 10, str(k), color="white", fontsize=8, fontweight="bold",
                    clip_on=True, bbox={"facecolor": colour, "alpha": 0.85, "pad": 1.5, "linewidth": 0})
    _image_limits(ax, image)


def change_figure(image: DisplayImage, score: np.ndarray, *, title: str = "Change score",
                  vmax: float | None = None, events: Sequence[dict[str, Any]] | None = None,
                  width_in: float = 8.0) -> Any:
    """The change score as a heat map over a grey version of the before image."""
    import matplotlib.pyplot as plt

    h, w = image.shape
    grey = image.rgb.mean(axis=2)
    fig, ax = plt.subplots(figsize=(width_in, width_in * h / w), dpi=110)
    ax.imshow(grey, cmap="gray", interpolation="antialiased")
    s = np.ma.masked_invalid(score.astype(np.float32))
    if vmax is None:
        # The score is a significance (-log10 p): beyond ~12 every pixel is certain change, so
        # the colour scale stops there rather than at extreme tails.
        finite = s.compressed()
        vmax = float(np.clip(np.percentile(finite, 99.5), 3.0, 12.0)) if finite.size else 1.0
    heat = np.ma.masked_less(s, 0.05 * vmax)
    im = ax.imshow(heat, cmap="inferno", alpha=0.7, vmin=0, vmax=vmax, interpolation="nearest",
                   extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    if events:
        draw_events(ax, image, events)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="change score")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def read_change_for_display(change_tif: str | Path, image: DisplayImage) -> np.ndarray:
    """The change raster resampled onto a display image's pixels (NaN outside)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    out = np.full(image.shape, np.nan, dtype=np.float32)
    with rasterio.open(change_tif) as src:
        if src.crs is None or image.crs is None:
            # Pixel mode: one pixel frame, no CRS for GDAL's warper; the display image's
            # footprint is read as a window, decimated by its maximum.
            h, w = image.shape
            c0, r0 = ~src.transform @ (image.transform @ (0, 0))
            c1, r1 = ~src.transform @ (image.transform @ (w, h))
            win = Window(c0, r0, c1 - c0, r1 - r0)
            return src.read(1, window=win, out_shape=image.shape, resampling=Resampling.max,
                            boundless=True, fill_value=np.nan).astype(np.float32)
        reproject(rasterio.band(src, 1), out, dst_transform=image.transform, dst_crs=image.crs,
                  resampling=Resampling.max, dst_nodata=np.nan)
    return out


def chip_window(scene: Scene, x: float, y: float, size_m: float) -> Window:
    """A square window of ``size_m`` metres around map point (x, y) in a scene's pixels."""
    gsd = scene.meta.gsd_m
    col, row = apply_affine(~scene.meta.transform, x, y)
    half = max(16, int(math.ceil(size_m / gsd / 2)))
    return Window(int(col) - half, int(row) - half, 2 * half, 2 * half)


# Side of an event chip by the event's class, metres: about four times the object (an An-124
# is 69 m long, a launcher 13 m), so the object fills enough of the chip to see what changed
# and its neighbours still show where it stands. The chip figure is 3.4 in tall at 110 dpi,
# about 300 px: 140 m puts a launcher in 30 px, 60 m in 70.
CHIP_SIDE_M = {"transport": 140.0, "airliner": 140.0, "fighter": 80.0, "helicopter": 80.0,
               "sam": 60.0, "vehicle": 50.0}


def event_chip_figure(before: Scene, after: Scene, event: dict[str, Any], *, det_before: Any = None,
                      det_after: Any = None, size_m: float | None = None,
                      stretches: tuple[Any, Any] = (None, None),
                      titles: tuple[str, str] = ("before", "after")) -> Any:
    """Before/after chips centred on an event, with the boxes of both dates (``det_*`` in the
    CRS of the event's x, y: the one the objects were compared in). ``size_m``: the chip's
    side (default by the event's class, ``CHIP_SIDE_M``)."""
    import matplotlib.pyplot as plt

    if size_m is None:
        size_m = CHIP_SIDE_M.get(str(event.get("class")), 140.0)

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4), dpi=110)
    for ax, scene, dets, stretch, title in zip(axes, (before, after), (det_before, det_after), stretches,
                                               titles, strict=True):
        xs, ys = event_points([event], scene.meta.crs)
        win = chip_window(scene, float(xs[0]), float(ys[0]), size_m)
        img = _chip(scene, win, stretch)
        ax.imshow(img.rgb, interpolation="antialiased")
        if dets is not None and len(dets):
            near = dets.cx[event["x"] - size_m: event["x"] + size_m, event["y"] - size_m: event["y"] + size_m]
            draw_boxes(ax, img, near, label=True)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(event.get("explanation", event["kind"]), fontsize=8.5, wrap=True)
    fig.tight_layout()
    return fig


def _chip(scene: Scene, window: Window, stretch: DisplayStretch | None) -> DisplayImage:
    bands = rgb_bands(scene)
    stretch = stretch or fit_stretch(scene, bands)
    data, valid = scene.read(window, bands=bands)
    rgb = np.moveaxis(stretch.apply(data), 0, -1).copy()
    rgb[~valid] = 0
    t = scene.meta.transform @ Affine.translation(window.col_off, window.row_off)
    return DisplayImage(rgb, t, scene.meta.crs)


def timeline_figure(timeline: Sequence[dict[str, Any]], *, title: str = "Posture-change score") -> Any:
    """Posture score per transition with the event counts written under each point."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    labels = [str(t.get("after") or i + 1)[:10] for i, t in enumerate(timeline)]
    scores = [t.get("posture_score") or 0.0 for t in timeline]
    xs = np.arange(len(scores))
    ax.plot(xs, scores, marker="o", color="#d62728")
    ax.fill_between(xs, scores, alpha=0.15, color="#d62728")
    for x, t, s in zip(xs, timeline, scores, strict=True):
        counts = t.get("events") or {}
        txt = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items()))
        ax.annotate(txt or "no events", (x, s), textcoords="offset points", xytext=(0, 8), ha="center",
                    fontsize=7)
    ax.set_xticks(xs, labels, rotation=0, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("score (0-100)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def figure_png(fig: Any) -> bytes:
    """PNG bytes of a figure (and close it: reports draw hundreds).

    Drawn once at the figure's own size: ``bbox_inches="tight"`` drew every figure twice
    (images resampled twice), and the figures' ``tight_layout`` already trims them; zlib level
    3 instead of PIL's 6 packs these photographic PNGs about as small. With the images
    resampled "antialiased" instead of "lanczos", the demo's report took 6.0-6.3 -> 4.1-4.3 s
    (16 figures; /tmp script timing ``build_report_files`` twice per version, 2026-12-07;
    3.7-4.1 s before the event chips were made to fill their panels, which also grew the page
    6.6 -> 10.7 MB: they now show their whole image rather than a corner of it)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white", pil_kwargs={"compress_level": 3})
    plt.close(fig)
    return buf.getvalue()


def save_png(fig: Any, path: str | Path) -> Path:
    return atomic_write_bytes(path, figure_png(fig))


def swipe_widget(before: DisplayImage, after: DisplayImage, *, detections: tuple[Any, Any] = (None, None),
                 width_in: float = 8.0) -> Any:
    """An ipywidgets slider that wipes between the two dates (for notebooks)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    out = widgets.Output()
    slider = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="swipe",
                                 continuous_update=False, readout_format=".0%")

    def draw(frac: float) -> None:
        h, w = before.shape
        cut = int(round(frac * w))
        img = after.rgb.copy()
        img[:, :cut] = before.rgb[:, :cut]
        with out:
            out.clear_output(wait=True)
            _fig, ax = plt.subplots(figsize=(width_in, width_in * h / w), dpi=100)
            ax.imshow(img)
            ax.axvline(cut, color="white", lw=1)
            draw_boxes(ax, before, _left_of(detections[0], before, cut), label=False)
            draw_boxes(ax, after, _right_of(detections[1], after, cut), label=True)
            ax.set_axis_off()
            ax.set_title("before | after", fontsize=9)
            plt.show()

    slider.observe(lambda ch: draw(ch["new"]), names="value")
    draw(slider.value)
    return widgets.VBox([slider, out])


def _left_of(dets: Any, image: DisplayImage, cut: int) -> Any:
    if dets is None or len(dets) == 0:
        return dets
    dets = detections_to_crs(dets, image.crs)
    px, _ = image.to_pixels(dets.geometry.centroid.x.to_numpy(), dets.geometry.centroid.y.to_numpy())
    return dets[px < cut]


def _right_of(dets: Any, image: DisplayImage, cut: int) -> Any:
    if dets is None or len(dets) == 0:
        return dets
    dets = detections_to_crs(dets, image.crs)
    px, _ = image.to_pixels(dets.geometry.centroid.x.to_numpy(), dets.geometry.centroid.y.to_numpy())
    return dets[px >= cut]
