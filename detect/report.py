"""``report.html``: one self-contained page (images embedded) that an analyst can open or mail.

The page leads with the headline posture score and the events in plain language, then shows
the evidence: before/after overlays, the change heat map, a chip pair per event, the zone table,
and the run's metadata and timings. It is built from ``report.json`` plus PNG bytes, so it can be
regenerated from a run folder without recomputing anything.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from imagery.atomic import atomic_write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d1d1f}
header{background:#1d2430;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#c7ccd6;font-size:13px}
main{padding:18px 28px;max-width:1400px}
.headline{display:flex;gap:24px;align-items:center;background:#fff;border-radius:10px;padding:16px 20px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
.score{font-size:54px;font-weight:700;min-width:120px;text-align:center;border-radius:10px;padding:6px 14px;color:#fff}
.low{background:#2e7d32}.mid{background:#ef6c00}.high{background:#c62828}
section{background:#fff;border-radius:10px;padding:14px 20px;margin-top:16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:17px;margin:4px 0 12px}
ol.events li{margin:6px 0} .kind{font-weight:600;text-transform:uppercase;font-size:11px;letter-spacing:.05em;
padding:1px 6px;border-radius:4px;background:#eceff4;margin-right:6px}
.conf{color:#666;font-size:12px;margin-left:6px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px} img{max-width:100%;border-radius:6px}
.chips{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
figure{margin:0} figcaption{font-size:12px;color:#444;margin-top:4px}
table{border-collapse:collapse;font-size:13px} td,th{padding:4px 10px;border-bottom:1px solid #e3e5e8;text-align:left}
pre{font-size:11.5px;background:#f6f8fa;padding:10px;border-radius:6px;overflow-x:auto}
.muted{color:#666;font-size:12px}
"""


def _img(data: bytes | None, alt: str, ident: str = "") -> str:
    if not data:
        return f'<p class="muted">({html.escape(alt)}: not available)</p>'
    mime, data = _embeddable(data)
    b64 = base64.b64encode(data).decode("ascii")
    id_attr = f' id="{ident}"' if ident else ""
    return f'<img{id_attr} alt="{html.escape(alt)}" src="data:{mime};base64,{b64}">'


def _embeddable(png: bytes, quality: int = 88) -> tuple[str, bytes]:
    """The figure as the page embeds it: JPEG when that is smaller. The figures are mostly
    imagery, which PNG packs poorly: the demo's page held 8.0 MB of PNG, 1.1 MB as JPEG at
    quality 88 (0.2 s to convert; the thin box outlines stay sharp). ``overlays/*.png`` keep
    the lossless originals."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(png)) as im:
            buf = io.BytesIO()
            im.convert("RGB").save(buf, "JPEG", quality=quality)
    except OSError:  # not an image PIL reads: embed as given
        return "image/png", png
    jpeg = buf.getvalue()
    return ("image/jpeg", jpeg) if len(jpeg) < len(png) else ("image/png", png)


def score_level(score: float) -> str:
    return "low" if score < 20 else ("mid" if score < 50 else "high")


def summary_sentence(report: Mapping[str, Any]) -> str:
    events = report.get("events", [])
    score = report.get("posture_score", 0.0)
    if not events:
        return ("No posture event was found between the two images"
                + (" and pixel change stays at the noise level." if score < 10 else
                   "; some pixel change remains (see the heat map)."))
    counts: dict[str, int] = {}
    for e in events:
        counts[e["kind"]] = counts.get(e["kind"], 0) + 1
    parts = [f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return f"{len(events)} posture event{'s' if len(events) != 1 else ''}: " + ", ".join(parts) + "."


def render_html(report: Mapping[str, Any], images: Mapping[str, bytes | None],
                event_images: list[bytes | None] | None = None, *, title: str | None = None) -> str:
    """The whole page as a string. ``images`` keys: before, after, change, timeline (optional)."""
    before, after = report.get("before", {}), report.get("after", {})
    d1, d2 = before.get("acquired") or "?", after.get("acquired") or "?"
    score = float(report.get("posture_score", 0.0))
    site = report.get("site") or "site"
    title = title or f"posturewatch: {site}, {str(d1)[:10]} to {str(d2)[:10]}"
    events = report.get("events", [])
    ev_items = []
    for e in events:
        ev_items.append(
            f'<li class="event" data-kind="{html.escape(e["kind"])}"><span class="kind">'
            f'{html.escape(e["kind"].replace("_", " "))}</span>{html.escape(e.get("explanation", ""))}'
            f'<span class="conf">confidence {float(e.get("confidence", 0)):.2f}'
            f'{" · zone " + html.escape(str(e["zone"])) if e.get("zone") else ""}</span></li>')
    events_html = (f'<ol class="events" id="events">{"".join(ev_items)}</ol>' if ev_items
                   else '<p id="events" class="muted">No posture events.</p>')
    chips = []
    for k, (e, png) in enumerate(zip(events, event_images or [None] * len(events), strict=False), start=1):
        chips.append(f'<figure class="chip">{_img(png, "event " + str(k))}'
                     f'<figcaption>{k}. {html.escape(e.get("explanation", ""))}</figcaption></figure>')
    zones = report.get("zones", [])
    zone_rows = "".join(
        f"<tr><td>{html.escape(str(z['name']))}</td><td>{_pct(z.get('change_fraction'))}</td>"
        f"<td>{float(z.get('score', 0)):.0f}</td><td>{z.get('events', '')}</td></tr>" for z in zones)
    inv = report.get("inventory") or {}
    inv_b, inv_a = inv.get("before") or {}, inv.get("after") or {}
    inv_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{inv_b.get(k, 0)}</td><td>{inv_a.get(k, 0)}</td></tr>"
        for k in sorted(set(inv_b) | set(inv_a)))
    inventory_html = (f'<section><h2>What the detector counts</h2><p class="muted">Detections at its '
                      f'operating score on each date, air-defence equipment by the type named from its '
                      f'shape. A count that differs is not an event by itself: the events above are '
                      f'what was matched and checked (a launcher is detected more surely packed than '
                      f'erect, a fighter in a revetment not at all).</p><table id="inventory"><tr><th>class '
                      f'or equipment</th><th>before</th><th>after</th></tr>{inv_rows}</table></section>'
                      if inv_rows else "")
    timings = report.get("timings", {})
    timing_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.2f} s</td></tr>" for k, v in timings.items()
                          if isinstance(v, (int, float)))
    meta = {k: report.get(k) for k in ("before", "after", "alignment", "settings", "versions") if k in report}
    generated = report.get("generated") or datetime.now(timezone.utc).isoformat(timespec="seconds")
    timeline = images.get("timeline")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body><header><h1>{html.escape(title)}</h1>
<p>before {html.escape(str(d1))} · after {html.escape(str(d2))} · generated {html.escape(str(generated))}</p>
</header><main>
<div class="headline"><div id="posture-score" class="score {score_level(score)}" data-score="{score:.1f}">{score:.0f}</div>
<div><h2 style="margin:0">Posture-change score (0-100)</h2><p id="summary">{html.escape(summary_sentence(report))}</p></div></div>
<section><h2>Events</h2>{events_html}</section>
<section><h2>Before and after</h2><div class="pair">
<figure>{_img(images.get("before"), "before overlay", "overlay-before")}<figcaption>Before: detections by class (dashed = non-nominal state)</figcaption></figure>
<figure>{_img(images.get("after"), "after overlay", "overlay-after")}<figcaption>After, with the events numbered</figcaption></figure>
</div></section>
<section><h2>Change heat map</h2>{_img(images.get("change"), "change heat map", "change-map")}</section>
{f'<section><h2>Timeline</h2>{_img(timeline, "timeline", "timeline")}</section>' if timeline else ""}
<section><h2>Event chips</h2><div class="chips" id="event-chips">{"".join(chips) or '<p class="muted">No events.</p>'}</div></section>
{inventory_html}
<section><h2>Zones</h2><table id="zones"><tr><th>zone</th><th>changed pixels</th><th>score</th><th>events</th></tr>{zone_rows}</table></section>
<section id="run-metadata"><h2>Run</h2><table>{timing_rows}</table>
<pre>{html.escape(json.dumps(meta, indent=2, default=str))}</pre></section>
</main></body></html>
"""


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100.0 * float(v):.2f} %"


def write_report_html(path: str | Path, report: Mapping[str, Any], images: Mapping[str, bytes | None],
                      event_images: list[bytes | None] | None = None) -> Path:
    return atomic_write_text(path, render_html(report, images, event_images))
