"""Draw a run's overlays (``overlays/*.png``) and write ``report.html`` from its outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from detect import viz
from detect.report import write_report_html
from imagery.atomic import atomic_write_bytes


def build_report_files(out: Path, report: dict[str, Any], pair: Any, det_a: Any, det_b: Any, *,
                       max_chips: int = 24, max_side: int = 1000) -> dict[str, Path]:
    """overlays/before.png, after.png, change.png, event_NN.png and report.html.

    ``max_side``: of the rendered views. The overlay figures are 8 in at 110 dpi (880 px), so
    1000 px gives them every pixel they show; 1600 cost 60 % more time in matplotlib's
    resampling (10000^2 pair: 17.6 -> 11.0 s for the whole report)."""
    import matplotlib

    matplotlib.use("Agg")
    from imagery.radiometry import fit_stretch, rgb_bands

    ov = out / "overlays"
    ov.mkdir(exist_ok=True)
    g = pair.grid
    win_a = _grid_window(pair.before, g)
    st_a = fit_stretch(pair.before, rgb_bands(pair.before))
    st_b = fit_stretch(pair.after, rgb_bands(pair.after))
    img_a, img_b = viz.pair_images(pair.before, pair.after, window=win_a, max_side=max_side,
                                   stretches=(st_a, st_b))
    events = report["events"]
    d1 = str(report["before"].get("acquired") or "before")[:16]
    d2 = str(report["after"].get("acquired") or "after")[:16]
    pngs: dict[str, bytes | None] = {}
    pngs["before"] = viz.figure_png(viz.overlay_figure(img_a, det_a, title=f"Before ({d1})"))
    pngs["after"] = viz.figure_png(viz.overlay_figure(img_b, det_b, title=f"After ({d2})", events=events))
    change_path = out / "change.tif"
    if change_path.exists():
        score = viz.read_change_for_display(change_path, img_a)
        pngs["change"] = viz.figure_png(viz.change_figure(img_a, score, events=events,
                                                          title="Change score over the before image"))
    paths = {}
    for name, data in pngs.items():
        if data:
            paths[name] = atomic_write_bytes(ov / f"{name}.png", data)
    chips: list[bytes | None] = []
    for k, e in enumerate(events[:max_chips], start=1):
        data = viz.figure_png(viz.event_chip_figure(pair.before, pair.after, e, det_before=det_a,
                                                    det_after=det_b, stretches=(st_a, st_b),
                                                    titles=(f"before {d1}", f"after {d2}")))
        paths[f"event_{k:02d}"] = atomic_write_bytes(ov / f"event_{k:02d}.png", data)
        chips.append(data)
    chips += [None] * (len(events) - len(chips))
    paths["report"] = write_report_html(out / "report.html", report, pngs, chips)
    return paths


def _grid_window(scene: Any, grid: Any) -> Any:
    """The window of ``scene`` that the pair's grid covers (same lattice for BEFORE)."""
    from rasterio.windows import Window

    from imagery.geometry import apply_affine

    col, row = apply_affine(~scene.meta.transform, grid.transform.c, grid.transform.f)
    res_ratio = grid.res[0] / max(abs(scene.meta.transform.a), 1e-12)
    w = grid.width * res_ratio
    h = grid.height * res_ratio
    c0, r0 = max(0, int(round(float(col)))), max(0, int(round(float(row))))
    w = min(int(round(w)), scene.meta.width - c0)
    h = min(int(round(h)), scene.meta.height - r0)
    if w <= 0 or h <= 0:
        return Window(0, 0, scene.meta.width, scene.meta.height)
    return Window(c0, r0, w, h)


def build_series_report(out: Path, series: dict[str, Any]) -> Path:
    """timeline.png and a series page linking each transition's report."""
    import html

    import matplotlib

    matplotlib.use("Agg")
    from imagery.atomic import atomic_write_text

    png = viz.figure_png(viz.timeline_figure(series["timeline"]))
    atomic_write_bytes(out / "timeline.png", png)
    import base64

    rows = "".join(
        f'<tr><td>{html.escape(t["before_date"][:16])}</td><td>{html.escape(t["after_date"][:16])}</td>'
        f'<td>{t["posture_score"]:.0f}</td><td>{len(t["events"])}</td>'
        f'<td><a href="{html.escape(t["folder"])}/report.html">report</a></td></tr>'
        for t in series["transitions"])
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>posturewatch series</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px}} td,th{{padding:4px 10px;border-bottom:1px solid #ddd}}</style>
</head><body><h1>Posture timeline</h1>
<img id="timeline" alt="timeline" style="max-width:100%" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<table id="transitions"><tr><th>before</th><th>after</th><th>score</th><th>events</th><th></th></tr>{rows}</table>
<pre>{html.escape(json.dumps(series["timeline"], indent=1))}</pre></body></html>"""
    return atomic_write_text(out / "report.html", page)
