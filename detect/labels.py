"""Readers for labelled imagery: Airbus aircraft CSV, DOTA/YOLO-OBB text, COCO JSON, and our own
GeoJSON/GeoPackage truth (``posturewatch synth`` output, or detections reviewed by a person).

Every reader returns :class:`LabelledImage` items: an image path and a
:class:`~detect.evaluate.Truth` in that image's pixel coordinates. :func:`load_dataset` picks
the reader from what a path looks like, so ``posturewatch eval PATH`` and the training config
take any of them.

Class names from other vocabularies map onto ours through :data:`CLASS_ALIASES`; a generic
"plane/aircraft" label becomes ``GENERIC`` (an aircraft of unknown type), which only the
class-agnostic aircraft AP scores. Truncated aircraft (Airbus) are ignore regions.
"""

from __future__ import annotations

import ast
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detect.boxes import boxes_from_corners
from detect.evaluate import GENERIC, Truth
from imagery.errors import InputError
from imagery.taxonomy import CLASSES, STATES

IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".ntf", ".vrt", ".jp2")

# Other datasets' names -> our class index (GENERIC = some aircraft) or None (not ours: skipped).
CLASS_ALIASES: dict[str, int | None] = {
    **{c: i for i, c in enumerate(CLASSES)},
    "airplane": GENERIC, "aircraft": GENERIC, "plane": GENERIC,
    "truncated_airplane": GENERIC, "truncated_aircraft": GENERIC,
    "fixed-wing aircraft": GENERIC, "small aircraft": GENERIC,
    "passenger/cargo plane": GENERIC, "cargo plane": CLASSES.index("transport"),
    "helicopter": CLASSES.index("helicopter"),
    "small-vehicle": CLASSES.index("vehicle"), "large-vehicle": CLASSES.index("vehicle"),
    "small vehicle": CLASSES.index("vehicle"), "large vehicle": CLASSES.index("vehicle"),
}


@dataclass
class LabelledImage:
    image: Path
    truth: Truth
    gsd: float | None = None  # metres per pixel when the label set says so


def map_class(name: str) -> int | None:
    return CLASS_ALIASES.get(name.strip().lower())


def _aabb_truth(xyxy: list[tuple[float, float, float, float]], classes: list[int],
                ignore: list[bool]) -> Truth:
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    boxes = np.column_stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                             b[:, 3] - b[:, 1], b[:, 2] - b[:, 0], np.zeros(len(b))])
    return Truth(boxes, classes, np.zeros(len(b), np.int64), ignore, oriented=False)


def read_airbus_csv(csv_path: str | Path, images_dir: str | Path | None = None) -> list[LabelledImage]:
    """Airbus Aircraft Detection CSV: ``id,image_id,geometry,class`` with ``geometry`` a closed
    axis-aligned ring in pixels; ``Truncated_airplane`` becomes an ignore region."""
    csv_path = Path(csv_path)
    images_dir = Path(images_dir) if images_dir else csv_path.parent / "images"
    rows: dict[str, list] = {}
    try:
        with csv_path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"image_id", "geometry", "class"} - set(reader.fieldnames or ())
            if missing:
                raise InputError(f"{csv_path}: not an Airbus aircraft CSV "
                                 f"(missing {', '.join(sorted(missing))})")
            for line_no, row in enumerate(reader, start=2):
                try:
                    ring = np.asarray(ast.literal_eval(row["geometry"]), dtype=np.float64)
                except (ValueError, SyntaxError):
                    raise InputError(f"{csv_path}:{line_no}: geometry is not a list of points") from None
                name = row["class"].strip().lower()
                rows.setdefault(row["image_id"], []).append(
                    ((ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()),
                     "truncated" in name))
    except OSError as exc:
        raise InputError(f"{csv_path}: cannot read ({exc.strerror})") from None
    out = []
    for image_id, items in sorted(rows.items()):
        xyxy = [b for b, _ in items]
        ign = [t for _, t in items]
        out.append(LabelledImage(images_dir / image_id, _aabb_truth(xyxy, [GENERIC] * len(xyxy), ign)))
    return out


def _yaml_names(root: Path) -> dict[int, str]:
    import yaml

    for y in sorted(root.glob("*.yaml")):
        try:
            data = yaml.safe_load(y.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, dict):
            return {int(k): str(v) for k, v in names.items()}
        if isinstance(names, list):
            return dict(enumerate(map(str, names)))
    return {}


def read_yolo_obb(root: str | Path) -> list[LabelledImage]:
    """YOLO-OBB (ultralytics DOTA8 layout): ``images/<split>/*.jpg`` + ``labels/<split>/*.txt``
    with ``class x1 y1 ... x4 y4`` normalised to 0..1. Class names come from the dataset YAML.
    Quadrilaterals become their minimum-area rotated rectangle (heading along the long side,
    its 180-degree ambiguity harmless for IoU)."""
    import cv2

    root = Path(root)
    names = _yaml_names(root) or {0: "plane"}
    out = []
    for label in sorted(root.glob("labels/**/*.txt")):
        rel = label.relative_to(root / "labels").with_suffix("")
        image = next((p for p in (root / "images" / rel.parent).glob(rel.name + ".*")
                      if p.suffix.lower() in IMAGE_SUFFIXES), None)
        if image is None:
            continue
        h, w = cv2.imread(str(image), cv2.IMREAD_UNCHANGED).shape[:2]
        boxes, classes = [], []
        for line in label.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) < 9:
                continue
            cls = map_class(names.get(int(parts[0]), str(parts[0])))
            if cls is None:
                continue
            quad = np.asarray(parts[1:9], dtype=np.float64).reshape(4, 2) * (w, h)
            boxes.append(_quad_to_box(quad))
            classes.append(cls)
        truth = Truth(np.asarray(boxes).reshape(-1, 5), classes, np.zeros(len(boxes), np.int64),
                      np.zeros(len(boxes), bool), oriented=True)
        out.append(LabelledImage(image, truth))
    return out


def _quad_to_box(quad: np.ndarray) -> np.ndarray:
    """Minimum-area rectangle of four points as (cx, cy, length, width, heading) in pixels."""
    import cv2

    (cx, cy), (a, b), _ = cv2.minAreaRect(quad.astype(np.float32))
    pts = cv2.boxPoints(((cx, cy), (a, b), _)).astype(np.float64)
    e1, e2 = pts[1] - pts[0], pts[2] - pts[1]
    long_edge = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    length, width = max(a, b), min(a, b)
    heading = np.degrees(np.arctan2(long_edge[0], -long_edge[1])) % 360.0
    return np.array([cx, cy, length, width, heading])


def read_coco(json_path: str | Path, images_dir: str | Path | None = None) -> list[LabelledImage]:
    """COCO detection JSON (``bbox`` = x, y, w, h); ``iscrowd`` boxes become ignore regions.
    Category names map through :data:`CLASS_ALIASES`; unknown categories are skipped."""
    json_path = Path(json_path)
    images_dir = Path(images_dir) if images_dir else json_path.parent
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        cats = {c["id"]: map_class(c["name"]) for c in data["categories"]}
        anns: dict[int, list] = {}
        for a in data["annotations"]:
            anns.setdefault(a["image_id"], []).append(a)
        out = []
        for im in data["images"]:
            xyxy, classes, ign = [], [], []
            for a in anns.get(im["id"], []):
                cls = cats.get(a["category_id"])
                if cls is None:
                    continue
                x, y, w, h = a["bbox"]
                xyxy.append((x, y, x + w, y + h))
                classes.append(cls)
                ign.append(bool(a.get("iscrowd", 0)))
            out.append(LabelledImage(images_dir / im["file_name"], _aabb_truth(xyxy, classes, ign)))
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{json_path}: not a readable COCO detection file "
                         f"({type(exc).__name__}: {exc})") from None


def read_vector_truth(vector_path: str | Path, image: str | Path, *, layer: str | None = None,
                      gsd: float | None = None) -> LabelledImage:
    """Oriented-box truth (GeoJSON/GeoPackage, our corner order and properties) for one image.

    Map polygons are brought into the image's pixel grid through its transform, so headings
    survive; GeoJSON (WGS84) is reprojected to the image CRS first.
    """
    import geopandas as gpd

    from imagery.scene import open_scene

    scene = open_scene(image, gsd=gsd)
    try:
        gdf = gpd.read_file(vector_path, layer=layer) if layer else gpd.read_file(vector_path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"{vector_path}: cannot read vectors ({' '.join(str(exc).split())[:200]})") from None
    meta = scene.meta
    if meta.georeferenced and gdf.crs is not None:
        gdf = gdf.to_crs(meta.crs)
    inv = ~meta.transform
    boxes, classes, states = [], [], []
    for geom, cls_name, state in zip(gdf.geometry, gdf.get("class", [None] * len(gdf)),
                                     gdf.get("state", [None] * len(gdf)), strict=True):
        if geom is None or geom.is_empty or cls_name is None:
            continue
        cls = map_class(str(cls_name))
        if cls is None:
            continue
        ring = np.asarray(geom.exterior.coords)[:4] if geom.geom_type == "Polygon" else \
            np.asarray(max(geom.geoms, key=lambda g: g.area).exterior.coords)[:4]
        cols, rows = inv @ (ring[:, 0], ring[:, 1])
        boxes.append(boxes_from_corners(np.column_stack([cols, rows]), y_up=False)[0])
        classes.append(cls)
        known = STATES.get(CLASSES[cls], ()) if cls >= 0 else ()
        positive = state is not None and state == state and str(state) in known
        states.append(int(positive))
    truth = Truth(np.asarray(boxes).reshape(-1, 5), classes, states, np.zeros(len(boxes), bool),
                  oriented=True)
    return LabelledImage(Path(image), truth, meta.gsd_m)


def read_synth_scenes(folder: str | Path) -> list[LabelledImage]:
    """A ``posturewatch synth`` output folder: the images listed in ``scene.json`` (``dates[].image``;
    the folder also holds change masks, which are not images to detect on), each with the truth
    features of that image (``image`` property, else its date). Truth is read from
    ``truth.gpkg`` (native CRS) when present, else ``truth.geojson``."""
    import geopandas as gpd

    folder = Path(folder)
    manifest_path = folder / "scene.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            entries = [(d["image"], str(d.get("date", ""))) for d in manifest["dates"]]
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(f"{manifest_path}: not a posturewatch synth manifest") from None
    else:
        entries = [(p.name, "") for p in sorted(folder.glob("*.tif")) if not p.name.startswith("change_")]
    if not entries:
        raise InputError(f"{folder}: no image listed in scene.json or beside truth.geojson")
    truth_path = folder / "truth.gpkg" if (folder / "truth.gpkg").is_file() else folder / "truth.geojson"
    gdf = gpd.read_file(truth_path)
    out = []
    for name, day in entries:
        image = folder / name
        if not image.is_file():
            raise InputError(f"{image}: listed in scene.json but missing")
        if "image" in gdf.columns:
            sub = gdf[gdf["image"] == name]
        elif "date" in gdf.columns and day:
            sub = gdf[gdf["date"].astype(str).str.startswith(day)]
        else:
            sub = gdf
        out.append(_labelled_from_gdf(sub, image))
    return out


def _labelled_from_gdf(gdf, image: Path) -> LabelledImage:
    import tempfile

    from imagery.writers import write_vectors

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "truth.gpkg"
        write_vectors(path, {"truth": gdf})
        return read_vector_truth(path, image, layer="truth")


def load_dataset(path: str | Path) -> list[LabelledImage]:
    """Any supported label set by what ``path`` looks like:

    * a folder with ``annotations.csv`` (Airbus), or the CSV itself;
    * a folder with ``labels/`` and ``images/`` (YOLO-OBB / DOTA8);
    * a ``.json`` COCO file (images beside it);
    * a folder with ``truth.geojson`` and GeoTIFFs (``posturewatch synth`` output).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_file() and p.suffix.lower() == ".csv":
        return read_airbus_csv(p)
    if p.is_file() and p.suffix.lower() == ".json":
        return read_coco(p)
    if p.is_dir():
        if (p / "annotations.csv").is_file():
            return read_airbus_csv(p / "annotations.csv")
        if (p / "labels").is_dir() and (p / "images").is_dir():
            return read_yolo_obb(p)
        if (p / "truth.geojson").is_file():
            return read_synth_scenes(p)
    raise InputError(f"{p}: not a label set I know (Airbus CSV folder, YOLO-OBB folder with "
                     "images/ and labels/, COCO .json, or a synth folder with truth.geojson)")
