"""Load a run folder back for review (notebooks, scripts): the report, both scenes, the
detections and events as GeoDataFrames, and the change raster."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagery.errors import InputError
from imagery.scene import Scene, open_scene


@dataclass
class RunBundle:
    folder: Path
    report: dict[str, Any]
    before: Scene
    after: Scene
    detections_before: Any
    detections_after: Any
    events: Any
    change_path: Path | None

    @property
    def classes(self) -> list[str]:
        found: set[str] = set()
        for d in (self.detections_before, self.detections_after):
            if d is not None and len(d):
                found |= set(d["class"])
        return sorted(found)


def load_run(folder: str | Path) -> RunBundle:
    """Everything a reviewer needs from ``posturewatch run``/``demo`` output."""
    import geopandas as gpd

    folder = Path(folder)
    rj = folder / "report.json"
    if not rj.exists():
        raise InputError(f"{folder}: not a posturewatch run folder (no report.json)")
    report = json.loads(rj.read_text())
    gsd = report.get("settings", {}).get("pixel_gsd")
    before = open_scene(report["before"]["path"], gsd=gsd)
    after = open_scene(report["after"]["path"], gsd=gsd)
    gp = folder / "detections.gpkg"
    layers = {}
    for name in ("before", "after", "events"):
        try:
            layers[name] = gpd.read_file(gp, layer=name) if gp.exists() else None
        except Exception:  # an empty layer written without geometry type
            layers[name] = None
    change = folder / "change.tif"
    return RunBundle(folder, report, before, after, layers["before"], layers["after"], layers["events"],
                     change if change.exists() else None)


def events_frame(bundle: RunBundle) -> Any:
    """The events as a GeoDataFrame with the report's columns (kind, class, zone, confidence,
    explanation) in the run's CRS."""
    import geopandas as gpd
    import shapely

    ev = bundle.report.get("events", [])
    crs = bundle.report.get("objects_crs", bundle.report.get("alignment", {}).get("grid", {}).get("crs"))
    cols = ["kind", "class", "zone", "confidence", "explanation", "before_id", "after_id", "lon", "lat"]
    data = {c: [e.get(c) for e in ev] for c in cols}
    return gpd.GeoDataFrame(data, geometry=[shapely.Point(e["x"], e["y"]) for e in ev], crs=crs)
