"""Sliced, batched inference over a whole scene: :class:`Detector`.

``Detector.run(scene, aoi=None) -> GeoDataFrame`` (map CRS) is what the pipeline calls:

1. one display stretch for the whole scene (DRA for 11/16-bit data, pass-through for 8-bit),
   and the RGB bands (a panchromatic band is used three times);
2. a grid at the model's GSD over the scene (or the AOI): inputs at another GSD are resampled
   on the fly by GDAL (``source_on_grid``), geographic CRSs are read onto a local UTM grid;
3. a :class:`~imagery.grid.TileGrid` whose cores partition that grid; tiles are read and
   stretched in background threads, stacked into batches (pinned memory, channels_last, AMP on
   CUDA) and run through the model;
4. peaks are decoded per tile and only detections whose centre lies in the tile's *core* are
   kept, so an object cut by a tile border is reported once, by the tile that sees it whole;
   a final rotated NMS removes the rare double where two tiles place the same centre on
   either side of their shared border;
5. boxes go from grid pixels to map coordinates through the grid's transform.

Memory is bounded by batch size x tile size x prefetch depth, never by the image size.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from affine import Affine
from pydantic import Field
from rasterio.enums import Resampling

from detect.boxes import corners, output_y_up, reproject_boxes, rotated_nms, transform_boxes
from detect.targets import Decoded, decode
from imagery.config import StrictModel, load_config
from imagery.errors import InputError
from imagery.grid import GridSpec, TileGrid
from imagery.radiometry import DisplayStretch, fit_stretch, rgb_bands
from imagery.reader import iter_tiles
from imagery.scene import Scene, open_scene
from imagery.sources import GridSource, source_on_grid
from imagery.taxonomy import CLASSES, state_of

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "detector.pt"
MULTIPLE = 32  # the model's input sides must be multiples of its coarsest stride


class DetectorConfig(StrictModel):
    """Inference settings (``configs/detector.yaml``); every threshold lives here."""

    weights: str | None = Field(None, description="weights file; empty = the shipped weights")
    tile_size: int = Field(1024, ge=128, description="preferred tile side in model pixels")
    overlap: int = Field(96, ge=0, description="context on each side of a tile core (>= half the "
                                               "largest object, An-124 = 146 px at 0.5 m)")
    batch_size_cpu: int = Field(2, ge=1)
    batch_size_cuda: int = Field(16, ge=1)
    score_threshold: float = Field(0.3, ge=0.0, le=1.0)
    class_score_thresholds: dict[str, float] = Field(default_factory=dict)
    state_threshold: float = Field(0.5, ge=0.0, le=1.0)
    state_min_length_m: dict[str, float] = Field(
        default_factory=lambda: {"transport": 50.0},
        description="a detection of this class shorter than this is reported in its nominal state: "
                    "of the transports only the An-124 (69 m) has a nose visor")
    grid_phase_px: int = Field(
        0, ge=0, lt=32,
        description="start the model grid this many pixels before the image's own 32 px lattice "
                    "(both axes): a diagnostic for how much the results depend on where objects "
                    "fall on the network's stride grid (benchmarks/posture_events.py --grid-phase)")
    heat_flips: list[Literal["h", "v"]] = Field(
        default_factory=list,
        description="also run each tile mirrored left-right (h) and/or upside down (v) and average the "
                    "class heat maps: slower by one model call per flip, more accurate (model card)")
    state_tta: bool = Field(True, description="average the second-stage classifier over nudged boxes and "
                                              "mirror images (detect.state_net.classify)")
    state_classifier: bool = Field(True, description="read states with the second-stage classifier "
                                                     "when the weights carry one (detect/state_net.py)")
    state_pair_classifier: bool = Field(True, description="read state changes with the two-date "
                                                          "classifier when the weights carry one "
                                                          "(detect/state_pair_train.py)")
    type_classifier: bool = Field(True, description="name each fixed-wing aircraft's kind (transport, "
                                                    "fighter, airliner) with the second-stage type "
                                                    "classifier when the weights carry one "
                                                    "(detect/type_net.py)")
    box_centring: bool = Field(True, description="move the centres of launcher and vehicle detections where "
                                                 "the second-stage box network sees the object, when the "
                                                 "weights carry one (detect/box_net.py)")
    heading_refinement: bool = Field(True, description="turn each helicopter detection's box to where the "
                                                       "second-stage heading network sees its axis, when the "
                                                       "weights carry one (detect/heading_net.py)")
    ground_check: bool = Field(True, description="name each launcher or vehicle detection with the "
                                                 "second-stage ground check, and demote those it sees "
                                                 "nothing in, when the weights carry one "
                                                 "(detect/ground_net.py)")
    ground_reject: float = Field(0.5, ge=0.0, le=1.0,
                                 description="a launcher or vehicle detection the ground check calls nothing "
                                             "with this probability or more drops to a faint detection")
    ground_rename: Literal["none", "to_vehicle", "both"] = Field(
        "to_vehicle", description="which detections the ground check may rename: launchers it finds "
                                  "likelier vehicles, both ways, or none (it still demotes those it "
                                  "sees nothing in)")
    presence_threshold: float = Field(0.2, ge=0.0, le=1.0,
                                      description="faint detections (this up to the operating "
                                                  "threshold) are kept apart for change hysteresis")
    nms_iou: float = Field(0.5, ge=0.0, le=1.0)
    max_objects_per_tile: int = Field(500, ge=1)
    resample_tolerance: float = Field(0.05, ge=0.0, description="relative GSD mismatch read as is")
    tile_stretch: float | None = Field(
        None, ge=0.0, le=1.0,
        description="fit the display stretch on each tile instead of the whole scene, blending the "
                    "bands' own clip points with their mean by this much (the training chips' "
                    "colour balance is 0.6-1.0); empty = one stretch per scene. An experiment: "
                    "each chip the network learnt from was stretched on its own 512 px, while a "
                    "scene's stretch spans groves and bright concrete alike (model card)")
    read_workers: int | None = Field(
        None, ge=1, description="tile-reading threads; empty = 2 on the CPU (the model needs the "
                                "cores) and up to 8 beside a GPU (reading is then the bottleneck)")


def load_detector_config(name_or_path: str | Path | None = None) -> DetectorConfig:
    return load_config(name_or_path or "detector", DetectorConfig)


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise InputError(f"unknown device {device!r} (use auto, cpu or cuda)")
    return device


@dataclass
class ModelGrid:
    """The grid a scene is read onto for the model: at the model's GSD, in a metric CRS."""

    grid: GridSpec
    gsd_m: float  # metres per pixel of this grid
    resampled: bool
    aoi: Any = None  # shapely geometry in the grid's CRS, or None


@dataclass
class SceneDetections:
    """Detections on a grid: boxes in grid pixels (y down) plus the grid to place them."""

    decoded: Decoded
    grid: ModelGrid
    timings: dict[str, float] = field(default_factory=dict)
    tiles: int = 0

    def map_boxes(self) -> tuple[np.ndarray, bool]:
        """(boxes in map coordinates, whether those coordinates are y-up)."""
        t = self.grid.grid.transform
        return transform_boxes(self.decoded.boxes, t), output_y_up(t)


class _StretchedSource:
    """A grid source whose reads come back as 8-bit RGB (stretched in the reader thread)."""

    def __init__(self, source: GridSource, stretch: DisplayStretch,
                 tile_balance: float | None = None) -> None:
        self.source = source
        self.stretch = stretch
        self.grid = source.grid
        self.bands = source.bands
        self.tile_balance = tile_balance

    def read(self, window, out_shape=None):
        data, valid = self.source.read(window, out_shape)
        stretch = self.stretch
        if self.tile_balance is not None and data.dtype != np.uint8:
            stretch = tile_stretch(data, valid, self.tile_balance) or stretch
        if data.dtype != np.uint8 or any(lo != 0.0 or hi != 255.0 for lo, hi in
                                         zip(stretch.low, stretch.high, strict=True)):
            data = stretch.apply(data)
        data[:, ~valid] = 0
        return data, valid


def tile_stretch(data: np.ndarray, valid: np.ndarray, balance: float, step: int = 2) -> DisplayStretch | None:
    """The DRA of one tile (imagery.radiometry.dra_limits on its valid pixels), each band's clip
    points blended with the bands' mean by ``balance``, as the training chips were stretched
    (imagery.synth.sensor.display_8bit); None where the tile has too few valid pixels."""
    from imagery.radiometry import dra_limits

    v = valid[::step, ::step]
    if np.count_nonzero(v) < 1024:
        return None
    lims = np.array([dra_limits(data[b, ::step, ::step][v]) for b in range(data.shape[0])])
    lo, hi = lims[:, 0], lims[:, 1]
    lo = (1 - balance) * lo + balance * lo.mean()
    hi = (1 - balance) * hi + balance * hi.mean()
    return DisplayStretch(low=tuple(map(float, lo)), high=tuple(map(float, hi)))


def choose_tiling(width: int, height: int, preferred: int, overlap: int) -> int:
    """The tile side (a multiple of 32) that processes the fewest pixels for this grid.

    A fixed tile size wastes up to a whole row and column of mostly-padding tiles (a 4096 px
    scene in 1024 px tiles with 96 px overlap needs 5 x 5 tiles of which the last row and
    column are 60 % padding); searching core sizes between half and 1.5 x the preferred tile
    finds e.g. 4 x 4 tiles of 1216 px instead. Small images get one small tile.
    """
    best, best_cost = None, math.inf
    low = max(MULTIPLE, 2 * overlap + 16)
    for tile in range(MULTIPLE * math.ceil(low / MULTIPLE), int(preferred * 1.5) + 1, MULTIPLE):
        core = tile - 2 * overlap
        if core < 16:
            continue
        cost = math.ceil(width / core) * math.ceil(height / core) * tile * tile
        # prefer sizes near the preferred one at (almost) equal cost: fewer model calls
        cost *= 1.0 + 0.02 * abs(math.log(tile / preferred))
        if cost < best_cost:
            best, best_cost = tile, cost
    return int(best or MULTIPLE * math.ceil((2 * overlap + 16) / MULTIPLE))


class Detector:
    """The trained detector, ready to run on scenes, arrays or chips.

    Parameters: ``weights`` (path; default the configured or shipped weights), ``device``
    (``auto|cpu|cuda``), ``batch_size`` (default from the config per device), ``config`` (a
    :class:`DetectorConfig`, a config name or path), and keyword overrides of config fields.
    Tests may pass ``model=`` and ``gsd_m=`` directly.
    """

    def __init__(self, weights: str | Path | None = None, *, device: str = "auto",
                 batch_size: int | None = None, config: DetectorConfig | str | Path | None = None,
                 model: Any = None, gsd_m: float | None = None, state_net: Any = None,
                 state_pair: Any = None, type_net: Any = None, box_net: Any = None,
                 ground_net: Any = None, air_defence_net: Any = None, heading_net: Any = None,
                 **overrides: Any) -> None:
        import torch

        cfg = config if isinstance(config, DetectorConfig) else load_detector_config(config)
        if overrides:
            cfg = DetectorConfig.model_validate({**cfg.model_dump(), **overrides})
        self.config = cfg
        self.device = resolve_device(device)
        if model is None:
            from detect.model import fuse_for_inference, load_weights

            path = Path(weights or cfg.weights or SHIPPED_WEIGHTS)
            loaded = load_weights(path)
            model = fuse_for_inference(loaded.model)
            self.gsd_m = loaded.gsd_m
            self.weights_path: Path | None = loaded.path
            self.weights_sha256: str | None = loaded.sha256
            self.detection_sha256: str | None = loaded.detection_sha256
            self.info = loaded.info
            from detect.state_net import state_net_from_payload

            if state_net is None and loaded.state_net is not None:
                state_net = state_net_from_payload(loaded.state_net)
            if state_pair is None and loaded.state_pair is not None:
                state_pair = state_net_from_payload(loaded.state_pair)
            if type_net is None and loaded.type_net is not None:
                type_net = state_net_from_payload(loaded.type_net)
            if box_net is None and loaded.box_net is not None:
                box_net = state_net_from_payload(loaded.box_net)
            if ground_net is None and loaded.ground_net is not None:
                ground_net = state_net_from_payload(loaded.ground_net)
            if air_defence_net is None and loaded.air_defence_net is not None:
                air_defence_net = state_net_from_payload(loaded.air_defence_net)
            if heading_net is None and loaded.heading_net is not None:
                heading_net = state_net_from_payload(loaded.heading_net)
        else:
            self.gsd_m = float(gsd_m or 0.5)
            self.weights_path, self.weights_sha256, self.info = None, None, {}
            self.detection_sha256 = None
        self.stride = int(getattr(getattr(model, "config", None), "stride", 4))
        self.batch_size = int(batch_size or (cfg.batch_size_cuda if self.device.startswith("cuda")
                                             else cfg.batch_size_cpu))
        model = model.eval().to(self.device)
        self.model = model.to(memory_format=torch.channels_last)
        self.state_net = (state_net.eval().to(self.device)
                          if state_net is not None and cfg.state_classifier else None)
        self.state_pair = (state_pair.eval().to(self.device)
                           if state_pair is not None and cfg.state_pair_classifier else None)
        self.type_net = (type_net.eval().to(self.device)
                         if type_net is not None and cfg.type_classifier else None)
        self.box_net = (box_net.eval().to(self.device)
                        if box_net is not None and cfg.box_centring else None)
        self.ground_net = (ground_net.eval().to(self.device)
                           if ground_net is not None and cfg.ground_check else None)
        self.heading_net = (heading_net.eval().to(self.device)
                            if heading_net is not None and cfg.heading_refinement else None)
        # read by the change stage only (read_air_defence_types), so no detector setting: the
        # detections of a run do not depend on it
        self.air_defence_net = air_defence_net.eval().to(self.device) if air_defence_net is not None else None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------
    # Arrays
    # ------------------------------------------------------------------------------------
    def predict_batch(self, images: np.ndarray) -> list[Decoded]:
        """Raw model + decode on a batch ``(B, 3, H, W)`` uint8 (H, W multiples of 32), all
        peaks above ``min(score thresholds)``; no core filtering, no NMS."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images))
        cuda = self.device.startswith("cuda")
        if cuda:
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast("cuda", dtype=torch.float16) if cuda else contextlib.nullcontext()
        with self._lock, torch.inference_mode(), autocast:
            out = self.forward(x)
            decoded = decode(out, stride=self.stride, max_objects=self.config.max_objects_per_tile,
                             score_threshold=min(self._min_threshold(), self.config.presence_threshold))
            if any(n is not None for n in (self.type_net, self.state_net, self.box_net, self.ground_net,
                                           self.heading_net)):
                from detect.box_net import refine_centres
                from detect.ground_net import check_ground
                from detect.heading_net import refine_headings
                from detect.state_net import classify
                from detect.type_net import refine_classes

                # Only detections at their class's operating score: the faint ones below it
                # serve the presence check alone, and on cluttered tiles they are hundreds
                # (a noise tile: 16-26 operating against 240-270 faint state-class peaks).
                # Launcher and vehicle boxes are centred, helicopter boxes turned to their
                # axis, then launchers and vehicles checked (launcher, truck or nothing) at the
                # centred box; the aircraft's kind is named before the state
                # is read, so that it is read as that kind's.
                for image, d in zip(x, decoded, strict=True):
                    op = np.flatnonzero(self._operating(d))
                    if not len(op):
                        continue
                    boxes = torch.from_numpy(d.boxes[op]).to(self.device)
                    classes = torch.from_numpy(d.classes[op]).to(self.device)
                    if self.box_net is not None:
                        boxes = refine_centres(self.box_net, image, boxes, classes, self.gsd_m)
                        d.boxes = d.boxes.copy()
                        d.boxes[op] = boxes.cpu().numpy()
                    if self.heading_net is not None:
                        boxes = refine_headings(self.heading_net, image, boxes, classes, self.gsd_m)
                        d.boxes = d.boxes.copy()
                        d.boxes[op] = boxes.cpu().numpy()
                    if self.ground_net is not None:
                        scores = torch.from_numpy(d.scores[op]).to(self.device)
                        classes, scores = check_ground(
                            self.ground_net, image, boxes, classes, scores, self.gsd_m,
                            reject=self.config.ground_reject, rename=self.config.ground_rename,
                            demoted_score=self.config.presence_threshold)
                        d.classes, d.scores = d.classes.copy(), d.scores.copy()
                        d.classes[op] = classes.cpu().numpy()
                        d.scores[op] = scores.cpu().numpy().astype(d.scores.dtype)
                    if self.type_net is not None:
                        classes = refine_classes(self.type_net, image, boxes, classes, self.gsd_m)
                        d.classes = d.classes.copy()
                        d.classes[op] = classes.cpu().numpy()
                    if self.state_net is not None:
                        prob = classify(self.state_net, image, boxes, classes, self.gsd_m,
                                        tta=self.config.state_tta)
                        d.state_prob = d.state_prob.copy()
                        d.state_prob[op] = prob.cpu().double().numpy()
            for d in decoded:
                self._gate_states_by_length(d)
            return decoded

    def forward(self, x: Any) -> dict[str, Any]:
        """The model's outputs for a batch; with ``heat_flips`` the class heat maps are the mean
        probability over the batch as it is and mirrored (each mirror flipped back), so a peak
        stands on more than one look at the object. Box geometry stays that of the plain pass."""
        import torch

        out = self.model(x)
        if not self.config.heat_flips:
            return out
        heat = out["heat"].float().sigmoid()
        for flip in self.config.heat_flips:
            dim = -1 if flip == "h" else -2
            heat = heat + self.model(x.flip(dim))["heat"].float().sigmoid().flip(dim)
        heat = (heat / (1 + len(self.config.heat_flips))).clamp(1e-6, 1 - 1e-6)
        return {**out, "heat": torch.logit(heat).to(out["heat"].dtype)}

    def _gate_states_by_length(self, d: Decoded) -> None:
        d.state_prob = self._length_gate(d.state_prob, d.boxes[:, 2] * self.gsd_m, d.classes)

    def _length_gate(self, prob: np.ndarray, length_m: np.ndarray, classes: np.ndarray) -> np.ndarray:
        for name, min_len in self.config.state_min_length_m.items():
            if name not in CLASSES:
                raise InputError(f"state_min_length_m: unknown class {name!r}")
            short = (np.asarray(classes) == CLASSES.index(name)) & (length_m < min_len)
            if short.any():
                prob = np.where(short, 0.0, prob)
        return prob

    def detect_array(self, image: np.ndarray, *, score_threshold: float | None = None) -> Decoded:
        """Detections on one in-memory 8-bit RGB image ``(H, W, 3)`` already at the model's
        GSD, tiled like a scene (so any size works); boxes in the image's pixels."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"expected an (H, W, 3) uint8 RGB array, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        grid = GridSpec(None, Affine.identity(), w, h)
        src = _ArraySource(image, grid)
        dets = self._detect_grid(ModelGrid(grid, self.gsd_m, False), src, progress=False)
        return self._threshold(dets.decoded, score_threshold)

    # ------------------------------------------------------------------------------------
    # Scenes
    # ------------------------------------------------------------------------------------
    def model_grid(self, scene: Scene, aoi: Any = None) -> ModelGrid:
        """Grid at the model GSD covering ``scene`` (cropped to ``aoi`` in the scene CRS)."""
        from imagery.pair import crop_grid

        m = self.meta_check(scene)
        ratio = m.gsd_m / self.gsd_m
        near = abs(ratio - 1.0) <= self.config.resample_tolerance
        if not m.georeferenced:
            if near:
                grid, gsd = GridSpec(None, Affine.identity(), m.width, m.height), m.gsd_m
            else:
                s = 1.0 / ratio  # source pixels per grid pixel
                grid = GridSpec(None, Affine.scale(s), max(1, math.ceil(m.width / s)),
                                max(1, math.ceil(m.height / s)))
                gsd = self.gsd_m
            crs_aoi = aoi
        else:
            from pyproj import CRS

            crs = CRS.from_user_input(m.crs)
            crs_aoi = aoi
            if crs.is_geographic:
                from imagery.aoi import reproject_geometry
                from imagery.pair import _footprint

                utm = _utm_for(scene)
                foot = reproject_geometry(_footprint(scene), m.crs, utm)
                grid, gsd = GridSpec.from_bounds(utm, foot.bounds, self.gsd_m), self.gsd_m
                if aoi is not None:
                    crs_aoi = reproject_geometry(aoi, m.crs, utm)
            elif near:
                grid, gsd = GridSpec(m.crs, m.transform, m.width, m.height), m.gsd_m
            else:
                unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
                grid = GridSpec.from_bounds(m.crs, m.bounds, self.gsd_m / unit)
                gsd = self.gsd_m
        if crs_aoi is not None:
            if crs_aoi.is_empty:
                raise InputError("the area of interest is empty")
            # On the uncropped grid's 32 px lattice: the same object, the same score, whatever
            # AOI is drawn (detections outside the AOI are dropped by the tiles' valid masks).
            grid = crop_grid(grid, crs_aoi, align=MULTIPLE)
        p = self.config.grid_phase_px
        if p:  # the pixels added before the image are read as padding, outside its valid mask
            grid = GridSpec(grid.crs, grid.transform @ Affine.translation(-p, -p), grid.width + p,
                            grid.height + p)
        return ModelGrid(grid, float(gsd), not near, crs_aoi)

    @staticmethod
    def meta_check(scene: Scene):
        m = scene.meta
        n = len(m.data_bands)
        if n == 2 or n == 0:
            raise InputError(f"{m.path}: {n} data band(s); the detector needs 1 (panchromatic) or "
                             "at least 3 (RGB / multispectral) bands")
        if n > 3 and not all(b in m.band_names for b in ("R", "G", "B")):
            warnings.warn(f"{Path(m.path).name}: {n} bands without R/G/B names; using bands 1-3 as RGB",
                          stacklevel=3)
        return m

    def detect_scene(self, scene: Scene | str | Path, aoi: Any = None, *, progress: bool = False,
                     gsd: float | None = None) -> SceneDetections:
        """Detections of a whole scene on its model grid (see :meth:`run` for map output)."""
        import time

        if not isinstance(scene, Scene):
            scene = open_scene(scene, gsd=gsd)
        if aoi is not None and not hasattr(aoi, "geom_type"):
            from imagery.aoi import load_aoi

            aoi = load_aoi(aoi, scene.meta.crs)
        t0 = time.perf_counter()
        mg = self.model_grid(scene, aoi)
        src = self._source(scene, mg)
        t1 = time.perf_counter()
        result = self._detect_grid(mg, src, progress=progress, label=Path(scene.path).name)
        result.timings["stretch_s"] = t1 - t0
        return result

    def _source(self, scene: Scene, mg: ModelGrid, *, tiles: bool = True) -> _StretchedSource:
        """The scene on its model grid, display-stretched to 8 bit (as the network was trained);
        ``tiles``: reads are detection tiles, which ``tile_stretch`` stretches each on its own
        (the second-stage windows around single boxes keep the scene's stretch)."""
        bands = rgb_bands(scene)
        stretch = fit_stretch(scene, bands)
        resampling = Resampling.bilinear if mg.gsd_m > scene.meta.gsd_m * 1.5 else Resampling.cubic
        src = source_on_grid(scene, mg.grid, bands, resampling=resampling) if mg.grid.crs == scene.meta.crs \
            else _warped(scene, mg.grid, bands)
        return _StretchedSource(src, stretch, self.config.tile_stretch if tiles else None)

    def read_states(self, scene: Scene | str | Path, boxes: np.ndarray, classes: Any, *,
                    crs: str | None = None) -> np.ndarray:
        """Non-nominal state probability of given objects in ``scene`` by the single-date
        classifier: map boxes ``(N, 5)`` (x, y, length and width in map units, heading in
        degrees, y up, as in the detections' GeoDataFrame) and their class names; NaN for classes
        without a state, for boxes off the image and where the weights carry no classifier.
        ``crs``: the boxes' CRS when it is not the scene's model grid (the scene's own CRS, or
        its UTM zone for a geographic scene)."""
        import torch

        from detect.state_net import classify

        boxes = np.asarray(boxes, np.float64).reshape(-1, 5)
        out = np.full(len(boxes), np.nan)
        if self.state_net is None or not len(boxes):
            return out
        reader = _BoxWindows(self, scene, self.state_net.config.min_side_m, crs)
        names = [CLASSES.index(c) if c in CLASSES else -1 for c in classes]
        for k, c in enumerate(names):
            win = reader.window(boxes[k]) if c >= 0 else None
            if win is not None:
                image, local = win
                cls = torch.tensor([c], device=self.device)
                with torch.inference_mode():
                    out[k] = float(classify(self.state_net, image, local, cls, reader.gsd_m,
                                            tta=self.config.state_tta)[0])
        return self._length_gate(out, reader.lengths_m(boxes), np.array(names))

    def read_state_pairs(self, before: Scene | str | Path, after: Scene | str | Path, boxes: np.ndarray,
                         classes: Any, *, crs: str | None = None) -> np.ndarray:
        """``(N, 2)`` non-nominal state probabilities of given objects on two dates, each box read
        at the same map position on both (boxes, classes and ``crs`` as in :meth:`read_states`;
        without ``crs`` the two dates' model grids must share one CRS).

        The change stage reads an object's state on both dates at one box, so that a detector
        miss or a class confusion on one date does not hide a state change. With the two-date
        classifier in the weights (``state_pair``) both crops go through it together: it was
        trained to tell a state that changed from a view that changed. Without it, each date
        is read by the single-date classifier on its own."""
        import torch

        from detect.state_net import classify_pair

        boxes = np.asarray(boxes, np.float64).reshape(-1, 5)
        if self.state_pair is None:
            return np.column_stack([self.read_states(before, boxes, classes, crs=crs),
                                    self.read_states(after, boxes, classes, crs=crs)]).reshape(-1, 2)
        out = np.full((len(boxes), 2), np.nan)
        side = self.state_pair.config.min_side_m
        ra, rb = _BoxWindows(self, before, side, crs), _BoxWindows(self, after, side, crs)
        names = [CLASSES.index(c) if c in CLASSES else -1 for c in classes]
        for k, c in enumerate(names):
            wa = ra.window(boxes[k]) if c >= 0 else None
            wb = rb.window(boxes[k]) if wa is not None else None
            if wb is not None:
                with torch.inference_mode():
                    p = classify_pair(self.state_pair, wa[0], wb[0], wa[1],
                                      torch.tensor([c], device=self.device), ra.gsd_m, boxes_b=wb[1])
                out[k] = p[0].cpu().double().numpy()
        gate = np.array(names)
        for d, r in enumerate((ra, rb)):
            out[:, d] = self._length_gate(out[:, d], r.lengths_m(boxes), gate)
        return out

    def read_air_defence_types(self, before: Scene | str | Path, after: Scene | str | Path | None,
                               boxes: np.ndarray, *, crs: str | None = None) -> np.ndarray:
        """``(N, len(AIR_DEFENCE_TYPES))`` type probabilities of air-defence equipment at given
        map boxes (as in :meth:`read_states`), the mean of the readings on both dates (each
        averaged with its mirror image; ``after`` None: one date); NaN rows where no date could
        be read or the weights carry no air-defence type classifier.

        Read at one box on both dates, like the launchers' states: the type does not change
        between the dates, and two views of one vehicle name it more surely than one. (Their
        normalised product instead of the mean found 1 more of 1050 staged events over every
        benchmark set and named the false ones more surely: RESULTS.md.)"""
        import torch

        from detect.type_net import AIR_DEFENCE_TYPES, crop_probs

        boxes = np.asarray(boxes, np.float64).reshape(-1, 5)
        out = np.full((len(boxes), len(AIR_DEFENCE_TYPES)), np.nan)
        if self.air_defence_net is None or not len(boxes):
            return out
        side = self.air_defence_net.config.min_side_m
        readers = [_BoxWindows(self, scene, side, crs) for scene in (before, after) if scene is not None]
        for k in range(len(boxes)):
            probs = []
            for reader in readers:
                win = reader.window(boxes[k])
                if win is not None:
                    with torch.inference_mode():
                        probs.append(crop_probs(self.air_defence_net, win[0], win[1], reader.gsd_m)[0])
            if probs:
                out[k] = torch.stack(probs).mean(0).cpu().double().numpy()
        return out

    def name_air_defence(self, gdf: Any, before: Scene | str | Path, after: Scene | str | Path | None = None,
                         *, crs: str | None = None) -> Any:
        """``gdf`` (detections, map CRS) with columns ``equipment`` and ``equipment_probability``:
        the air-defence type of each ``sam`` detection read at its box (on both dates when
        ``after`` is given), empty for the other classes; ``gdf`` unchanged when the weights
        carry no air-defence type classifier. What an analyst filters the launchers by."""
        from imagery.taxonomy import AIR_DEFENCE_TYPES

        if self.air_defence_net is None or gdf is None or not len(gdf) or "class" not in gdf:
            return gdf
        gdf = gdf.copy()
        sam = (gdf["class"] == "sam").to_numpy()
        names: list[str | None] = [None] * len(gdf)
        probs = np.full(len(gdf), np.nan)
        if sam.any():
            rows = gdf[sam]
            if crs is None and rows.crs is not None:
                if rows.crs.is_geographic:  # boxes in metres need a metric CRS
                    rows = rows.to_crs(rows.estimate_utm_crs())
                crs = rows.crs.to_string()
            c = rows.geometry.centroid
            boxes = np.column_stack([c.x, c.y, rows["length_m"], rows["width_m"], rows["heading_deg"]])
            p = self.read_air_defence_types(before, after, boxes, crs=crs)
            for k, i in enumerate(np.flatnonzero(sam)):
                if not np.isnan(p[k]).any():
                    names[i], probs[i] = AIR_DEFENCE_TYPES[int(p[k].argmax())], round(float(p[k].max()), 3)
        gdf["equipment"], gdf["equipment_probability"] = names, probs
        return gdf

    def run(self, scene: Scene | str | Path, aoi: Any = None, *, progress: bool = False,
            gsd: float | None = None) -> Any:
        """Detections as a GeoDataFrame in the scene's map CRS (pixel coordinates and no CRS
        for images without georeference). ``aoi``: shapely geometry in the scene CRS, or a
        GeoJSON path / site name (lon/lat)."""
        return self.run_with_faint(scene, aoi, progress=progress, gsd=gsd)[0]

    def run_with_faint(self, scene: Scene | str | Path, aoi: Any = None, *, progress: bool = False,
                       gsd: float | None = None) -> tuple[Any, Any]:
        """(detections, faint detections): the second holds peaks scored between
        ``presence_threshold`` and the operating threshold. They are never reported, but the
        change stage reads them as "something is still there" so that an object scored 0.31 on
        one date and 0.28 on the next is not announced as departed (threshold hysteresis)."""
        if not isinstance(scene, Scene):
            scene = open_scene(scene, gsd=gsd)
        dets = self.detect_scene(scene, aoi, progress=progress)
        everything = dets.decoded
        keep = self._operating(everything)
        faint_keep = ~keep & (everything.scores >= self.config.presence_threshold)
        dets.decoded = everything.select(keep)
        main = self.to_geodataframe(dets, scene)
        dets.decoded = everything.select(faint_keep)
        return main, self.to_geodataframe(dets, scene)

    # ------------------------------------------------------------------------------------
    def _min_threshold(self) -> float:
        return min([self.config.score_threshold, *self.config.class_score_thresholds.values()])

    def _threshold(self, d: Decoded, score_threshold: float | None) -> Decoded:
        if score_threshold is not None:
            return d.select(d.scores >= score_threshold)
        return d.select(self._operating(d))

    def _operating(self, d: Decoded) -> np.ndarray:
        """Which detections reach their class's operating threshold."""
        thr = np.full(len(CLASSES), self.config.score_threshold)
        for name, v in self.config.class_score_thresholds.items():
            if name not in CLASSES:
                raise InputError(f"class_score_thresholds: unknown class {name!r}")
            thr[CLASSES.index(name)] = v
        return d.scores >= thr[d.classes]

    def _read_workers(self) -> int:
        if self.config.read_workers:
            return self.config.read_workers
        return min(8, os.cpu_count() or 2) if self.device.startswith("cuda") else 2

    def _detect_grid(self, mg: ModelGrid, source: Any, *, progress: bool,
                     label: str = "") -> SceneDetections:
        import time

        grid = mg.grid
        tile = choose_tiling(grid.width, grid.height, self.config.tile_size, self.config.overlap)
        tiles = TileGrid(grid, tile, self.config.overlap, aoi=mg.aoi)
        bar = _progress(len(tiles), label, progress)
        parts: list[Decoded] = []
        t_model = 0.0
        t0 = time.perf_counter()
        for batch in _batches(iter_tiles(tiles, [source], workers=self._read_workers(),
                                         prefetch=2 * self.batch_size), self.batch_size):
            images = np.stack([td.arrays[0] for td in batch])
            tm = time.perf_counter()
            decoded = self.predict_batch(images)
            t_model += time.perf_counter() - tm
            for td, d in zip(batch, decoded, strict=True):
                parts.append(_keep_core(d, td.tile, td.valid))
            bar.update(len(batch))
        bar.close()
        merged = Decoded.concatenate(parts)
        if len(merged) > 1:
            merged = merged.select(rotated_nms(merged.boxes, merged.scores, self.config.nms_iou))
        return SceneDetections(merged, mg, {"tiles_s": time.perf_counter() - t0, "model_s": t_model,
                                            "tile_size": tile}, len(tiles))

    def to_geodataframe(self, dets: SceneDetections, scene: Scene | None = None) -> Any:
        """Features with the detection contract's properties (DESIGN section 9)."""
        import geopandas as gpd
        import shapely

        d = dets.decoded
        boxes, y_up = dets.map_boxes()
        polys = shapely.polygons(corners(boxes, y_up=y_up)) if len(boxes) else []
        gsd = dets.grid.gsd_m
        names = [CLASSES[c] for c in d.classes]
        states = []
        for name, p in zip(names, d.state_prob, strict=True):
            st = state_of(name)
            states.append(st if st is not None and p >= self.config.state_threshold else None)
        props: dict[str, Any] = {
            "class": names,
            "state": states,
            "score": np.round(d.scores, 4),
            "heading_deg": np.round(boxes[:, 4], 2) if len(boxes) else [],
            "length_m": np.round(d.boxes[:, 2] * gsd, 2),
            "width_m": np.round(d.boxes[:, 3] * gsd, 2),
            "state_score": [None if np.isnan(p) else round(float(p), 4) for p in d.state_prob],
        }
        acquired = scene.meta.acquired if scene is not None else None
        if acquired is not None:
            props["date"] = [acquired.isoformat()] * len(d)
        gdf = gpd.GeoDataFrame(props, geometry=list(polys), crs=dets.grid.grid.crs)
        return gdf.sort_values("score", ascending=False, ignore_index=True)


# ----------------------------------------------------------------------------------------------
def _keep_core(d: Decoded, tile: Any, valid: np.ndarray) -> Decoded:
    """Detections whose centre lies in the tile's core (and on valid pixels), in grid pixels."""
    rs, cs = tile.core_slices
    x, y = d.boxes[:, 0], d.boxes[:, 1]
    keep = (x >= cs.start) & (x < cs.stop) & (y >= rs.start) & (y < rs.stop)
    if keep.any():
        r = np.clip(y.astype(np.int64), 0, valid.shape[0] - 1)
        c = np.clip(x.astype(np.int64), 0, valid.shape[1] - 1)
        keep &= valid[r, c]
    out = d.select(keep)
    out.boxes = out.boxes.copy()
    out.boxes[:, 0] += tile.window.col_off
    out.boxes[:, 1] += tile.window.row_off
    return out


def _batches(it: Iterator[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in it:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


class _BoxWindows:
    """Windows of a scene, on the detector's model grid and display stretch, around map boxes:
    what the state classifiers read outside the tiled detection pass."""

    def __init__(self, det: Detector, scene: Scene | str | Path, min_side_m: float,
                 crs: str | None = None) -> None:
        if not isinstance(scene, Scene):
            scene = open_scene(scene)
        mg = det.model_grid(scene)
        self.source = det._source(scene, mg, tiles=False)
        self.grid, self.gsd_m, self.device = mg.grid, mg.gsd_m, det.device
        self.min_side_px = min_side_m / mg.gsd_m
        self.crs = mg.grid.crs if crs is None else crs  # the CRS the boxes come in

    def pixel_boxes(self, boxes: np.ndarray) -> np.ndarray:
        b = reproject_boxes(np.asarray(boxes, np.float64).reshape(-1, 5), self.crs, self.grid.crs)
        return transform_boxes(b, ~self.grid.transform, src_y_up=True)

    def lengths_m(self, boxes: np.ndarray) -> np.ndarray:
        return self.pixel_boxes(boxes)[:, 2] * self.gsd_m

    def window(self, box: np.ndarray) -> tuple[Any, Any] | None:
        """(image (3, h, w) float tensor, the box in its pixels (1, 5)), or None where the box
        is mostly off the image."""
        import torch
        from rasterio.windows import Window

        b = self.pixel_boxes(box)[0]
        half = int(math.ceil(max(b[2], b[3], self.min_side_px)))
        c0, r0 = int(math.floor(b[0])) - half, int(math.floor(b[1])) - half
        if c0 + 2 * half <= 0 or r0 + 2 * half <= 0 or c0 >= self.grid.width or r0 >= self.grid.height:
            return None
        data, valid = self.source.read(Window(c0, r0, 2 * half, 2 * half))
        if valid.mean() < 0.5:
            return None
        local = np.array([[b[0] - c0, b[1] - r0, b[2], b[3], b[4]]], np.float32)
        return (torch.from_numpy(np.ascontiguousarray(data)).to(self.device).float(),
                torch.from_numpy(local).to(self.device))


class _ArraySource:
    """An in-memory (H, W, 3) uint8 image as a grid source (zero padding outside)."""

    def __init__(self, image: np.ndarray, grid: GridSpec) -> None:
        self.image = image
        self.grid = grid
        self.bands = (1, 2, 3)

    def read(self, window, out_shape=None):
        h, w = self.image.shape[:2]
        r0, c0 = int(window.row_off), int(window.col_off)
        hh, ww = int(window.height), int(window.width)
        out = np.zeros((3, hh, ww), np.uint8)
        valid = np.zeros((hh, ww), bool)
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + hh, h), min(c0 + ww, w)
        if rr1 > rr0 and cc1 > cc0:
            out[:, rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0] = self.image[rr0:rr1, cc0:cc1].transpose(2, 0, 1)
            valid[rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0] = True
        return out, valid


def _warped(scene: Scene, grid: GridSpec, bands: tuple[int, ...]) -> GridSource:
    from imagery.sources import WarpedSource

    return WarpedSource(scene, grid, bands, resampling=Resampling.cubic)


def _utm_for(scene: Scene) -> str:
    """The UTM zone (EPSG code) of a geographic scene's centre."""
    from imagery.crs import metric_crs

    return metric_crs(scene.meta.crs, scene.meta.bounds)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, label: str, enabled: bool) -> Any:
    import os

    if not enabled or os.environ.get("POSTUREWATCH_QUIET"):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=f"detect {label}".strip(), unit="tile", leave=False)
