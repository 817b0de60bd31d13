"""Training the pair state classifier: one object's box on two dates -> its state on each.

``posturewatch train-state-pair --config configs/train_state_pair.yaml --export detect/weights/detector.pt``

Why a pair classifier: the single-date classifier (:mod:`detect.state_net`) reads each date on
its own, and a launcher's look swings with the view. On the synthetic steady pairs it read the
same deployed S-400 launcher 0.1 at 18 degrees off nadir and 0.98 at 6 (erected canisters seen
obliquely resemble lowered ones), so "state on date 2 minus state on date 1" fired on pairs where
nothing changed. Trained on *twin chips* (:meth:`imagery.synth.chips.ChipStream.twin`: one world
under two independent cameras, suns and sensors, with some objects put in their other state),
this network sees both crops at once and learns which differences are the state and which the
view.

1. Render twin chips in parallel processes; each returns, for the state-bearing objects inside
   both images, both dates' crops at *one* box (that of either date, jittered the way the
   detector's boxes err, plus a little misregistration between the dates), ``copies`` times.
2. Train a :class:`~detect.state_net.StateNet` with ``dates=2`` (six input channels, a state
   logit per date) with (class, state before, state after)-balanced sampling, a joint mirror,
   per-date photometric jitter and the dates swapped half of the time.
3. Validate on twins of another seed: per class, the ROC-AUC of ``p_after - p_before`` for
   "became non-nominal" and for "became nominal", and the F1 of the change rule the posture
   stage applies (``paired_states.min_shift``).
4. Write the detector's weights again with the pair classifier inside (``state_pair``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from detect.state_train import (
    STATE_CLASSES_WITH,
    JitterSection,
    NetSection,
    StateTrainConfig,
    StreamSection,
    _cached_crops,
    _inside,
    jitter_boxes,
    load_state_train_config,
    optimise,
    photometric,
    roc_auc,
)
from imagery.taxonomy import CLASSES

FIELDS = ("crops", "classes", "states_a", "states_b", "source", "view_zenith", "types")


class PairStreamSection(StreamSection):
    p_flip: float = Field(0.5, ge=0.0, le=1.0, description="chance an object changes state")


class StatePairTrainConfig(StateTrainConfig):
    out: str = "runs/state_pair"
    misregistration_m: float = Field(0.7, ge=0.0, description="sigma of the shift between dates")
    change_shift: float = Field(0.4, ge=0.0, le=1.0, description="the change rule scored in validation")
    fusion: str = Field("late", pattern="^(early|late)$",
                        description="late: one single-date network per date plus a cross term (PairStateNet)")
    init_from_single: bool = Field(True, description="late fusion: start from the detector file's "
                                                     "single-date classifier")
    stream: PairStreamSection = PairStreamSection(chips=1500, size=512,
                                                  themes={"state_study": 0.6, "sam_site": 0.4})
    val: PairStreamSection = PairStreamSection(seed=1_000_009, chips=300, size=512,
                                               themes={"state_study": 0.6, "sam_site": 0.4})


def load_state_pair_config(name_or_path: str | Path | None = None, **overrides: Any) -> StatePairTrainConfig:
    return load_state_train_config(name_or_path, kind=StatePairTrainConfig, default="train_state_pair",
                                   **overrides)


# ---------------------------------------------------------------------------------------------
# Crops
# ---------------------------------------------------------------------------------------------
def twin_crops(twin: Any, rng: np.random.Generator, net_cfg: Any, jitter: JitterSection, copies: int,
               misregistration_px: float, negatives: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Both dates' crops of a twin chip's state-bearing objects at one box each: uint8
    (n, 6, S, S), the first three channels the first date."""
    import torch

    from detect.state_net import crop_sides, oriented_crops
    from detect.targets import STATE_CHANNEL

    source = np.asarray(twin.classes, np.int64)
    remap = {CLASSES.index(k): CLASSES.index(v) for k, v in (negatives or {}).items()}
    classes = np.array([remap.get(int(c), int(c)) for c in source], np.int64)
    own = classes == source
    states_a = np.where(own, np.asarray(twin.states_a, np.int64), 0)
    states_b = np.where(own, np.asarray(twin.states_b, np.int64), 0)
    boxes_a = np.asarray(twin.boxes_a, np.float64).reshape(-1, 5)
    boxes_b = np.asarray(twin.boxes_b, np.float64).reshape(-1, 5)
    h, w = twin.image_a.shape[:2]
    keep = (np.asarray(STATE_CHANNEL)[classes] >= 0) & _inside(boxes_a, h, w) & _inside(boxes_b, h, w)
    size = net_cfg.crop_px
    n = int(keep.sum())
    views = np.tile(np.asarray(twin.view_zenith, np.float32)[None], (len(classes), 1))
    types = np.asarray(twin.types, dtype="U16").reshape(-1)  # type names, for per-type figures
    if not n:
        return {"crops": np.zeros((0, 6, size, size), np.uint8), "classes": classes[keep],
                "states_a": states_a[keep], "states_b": states_b[keep], "source": source[keep],
                "view_zenith": views[keep], "types": types[keep]}
    boxes_a, boxes_b, classes_k = boxes_a[keep], boxes_b[keep], classes[keep]
    img_a = torch.from_numpy(np.ascontiguousarray(twin.image_a.transpose(2, 0, 1))).float()
    img_b = torch.from_numpy(np.ascontiguousarray(twin.image_b.transpose(2, 0, 1))).float()
    crops = []
    for _ in range(copies):
        jb, jb_b = read_boxes(boxes_a, boxes_b, classes_k, rng, jitter, misregistration_px)
        ta, tb = torch.from_numpy(jb).float(), torch.from_numpy(jb_b).float()
        sides = crop_sides(ta, float(twin.gsd), net_cfg)
        ca = oriented_crops(img_a, ta, sides, size)
        cb = oriented_crops(img_b, tb, sides, size)
        crops.append(torch.cat([ca, cb], dim=1).round().clamp(0, 255).to(torch.uint8).numpy())
    per_object = {"classes": classes, "states_a": states_a, "states_b": states_b, "source": source,
                  "view_zenith": views, "types": types}
    return {"crops": np.concatenate(crops),
            **{k: np.tile(v[keep], (copies,) + (1,) * (v.ndim - 1)) for k, v in per_object.items()}}


def read_boxes(boxes_a: np.ndarray, boxes_b: np.ndarray, classes: np.ndarray, rng: np.random.Generator,
               jitter: JitterSection, misregistration_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each object of a twin is read on its two images: the box of one date (either, at
    random), as the posture stage reads a track at one box on both dates, jittered like a
    detection; on the second image shifted by a misregistration drawn with this sigma."""
    ref = np.where((rng.random(len(classes)) < 0.5)[:, None], boxes_a, boxes_b)
    box_a = jitter_boxes(ref, classes, rng, jitter)
    box_b = box_a.copy()
    box_b[:, :2] += rng.normal(0.0, misregistration_px, (len(classes), 2))
    return box_a, box_b


class _TwinJob:
    """Picklable: renders twin ``i`` of a stream and returns its crops (in a worker process)."""

    def __init__(self, stream: PairStreamSection, net: NetSection, jitter: JitterSection, copies: int,
                 misregistration_m: float, negatives: dict[str, str]) -> None:
        self.stream, self.net, self.jitter, self.copies = stream, net, jitter, copies
        self.misregistration_m, self.negatives = misregistration_m, negatives
        self._chips: Any = None

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        if self._chips is None:
            from imagery.synth.chips import ChipStream

            self._chips = ChipStream(self.stream.size, seed=self.stream.seed,
                                     themes=tuple(self.stream.themes.items()), **self.stream.overrides)
        twin = self._chips.twin(index, self.stream.p_flip)
        rng = np.random.default_rng([self.stream.seed, index, 0x7C0])
        return twin_crops(twin, rng, self.net, self.jitter, self.copies, self.misregistration_m / twin.gsd,
                          self.negatives)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_chips": None}


def render_twin_crops(stream: PairStreamSection, net: NetSection, jitter: JitterSection, copies: int,
                      misregistration_m: float, negatives: dict[str, str], *, progress: bool = True,
                      label: str = "twin crops") -> dict[str, np.ndarray]:
    from detect.train import process_map

    job = _TwinJob(stream, net, jitter, copies, misregistration_m, negatives)
    parts = list(process_map(job, range(stream.chips), total=stream.chips, workers=stream.workers,
                             desc=f"render {label}", progress=progress, ordered=True))
    return {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------
def pair_metrics(prob: np.ndarray, classes: np.ndarray, states_a: np.ndarray, states_b: np.ndarray,
                 source: np.ndarray, shift: float) -> dict[str, Any]:
    """Per state class (own objects only): AUC of ``p_b - p_a`` for "became non-nominal" (and of
    ``p_a - p_b`` for "became nominal") against every other object, and precision, recall and F1
    of the rule ``|p_b - p_a| >= shift`` (direction included) over the objects that changed."""
    from imagery.taxonomy import STATES

    out: dict[str, Any] = {}
    d = prob[:, 1] - prob[:, 0]
    change = states_b - states_a
    for c in STATE_CLASSES_WITH:
        m = (classes == CLASSES.index(c)) & (source == classes)
        if not m.any():
            continue
        y, dd = change[m], d[m]
        pred = np.where(dd >= shift, 1, np.where(dd <= -shift, -1, 0))
        tp = int(((pred == y) & (y != 0)).sum())
        fp = int(((pred != 0) & (pred != y)).sum())
        fn = int(((y != 0) & (pred != y)).sum())
        out[f"{c}.{STATES[c][0]}"] = {
            "n": int(m.sum()), "became": int((y > 0).sum()), "left": int((y < 0).sum()),
            "auc_became": roc_auc(y > 0, dd), "auc_left": roc_auc(y < 0, -dd),
            "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1),
            "f1": 2 * tp / max(2 * tp + fp + fn, 1),
            "false_changes_per_100_steady": 100.0 * int(((pred != 0) & (y == 0)).sum())
            / max(int((y == 0).sum()), 1),
        }
    return out


def format_pair_metrics(metrics: dict[str, Any]) -> str:
    lines = [f"{'state':<22} {'n':>6} {'+':>5} {'-':>5} {'AUC+':>6} {'AUC-':>6} {'P':>6} {'R':>6} {'F1':>6} "
             f"{'false/100':>9}"]
    for name, m in metrics.items():
        lines.append(f"{name:<22} {m['n']:>6} {m['became']:>5} {m['left']:>5} {m['auc_became']:>6.3f} "
                     f"{m['auc_left']:>6.3f} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} "
                     f"{m['false_changes_per_100_steady']:>9.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def predict_pairs(net: Any, crops: np.ndarray, classes: np.ndarray, batch: int = 512) -> np.ndarray:
    """(n, 2) state probabilities on each date."""
    import torch

    from detect.state_net import pair_logits, state_channels

    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), batch):
            c = state_channels(torch.from_numpy(classes[i:i + batch]))
            out.append(pair_logits(net, torch.from_numpy(crops[i:i + batch]), c).sigmoid().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2))


def _augment_pair(x: Any, gen: Any) -> tuple[Any, Any]:
    """Joint mirror, per-date photometric jitter, dates swapped half of the time; returns the
    crops and the swap mask."""
    import torch

    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    a, b = photometric(x[:, :3], gen), photometric(x[:, 3:], gen)
    swap = torch.rand(n, generator=gen) < 0.5
    s = swap[:, None, None, None]
    return torch.cat([torch.where(s, b, a), torch.where(s, a, b)], dim=1), swap


def train_state_pair(cfg: StatePairTrainConfig, *, progress: bool = True, export: str | Path | None = None,
                     crops: dict[str, np.ndarray] | None = None,
                     val_crops: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Train; write ``OUT/detector.pt`` (the detector's weights, its single-date classifier
    kept, with the pair classifier added) and ``OUT/metrics.json``; copy to ``export`` when
    given. ``crops``/``val_crops`` replace the rendered sets (tests)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from detect.state_net import (
        StateNetByClass,
        StateNetConfig,
        StateNetMean,
        build_state_net,
        pair_logits,
        state_channels,
        state_net_from_payload,
    )
    from detect.targets import STATE_CLASSES
    from imagery.errors import InputError

    out, base = cfg.start_run()
    t0 = time.perf_counter()

    def key(stream: PairStreamSection, copies: int) -> dict[str, Any]:
        return {"stream": stream.model_dump(), "net": cfg.net.model_dump(), "jitter": cfg.jitter.model_dump(),
                "copies": copies, "misregistration_m": cfg.misregistration_m, "negatives": cfg.negatives}

    if crops is None:
        crops = _cached_crops(out / "crops.npz", key(cfg.stream, cfg.copies),
                              lambda: render_twin_crops(cfg.stream, cfg.net, cfg.jitter, cfg.copies,
                                                        cfg.misregistration_m, cfg.negatives,
                                                        progress=progress, label="training twins"),
                              fields=FIELDS)
    if val_crops is None:
        val_crops = _cached_crops(out / "val_crops.npz", key(cfg.val, 1),
                                  lambda: render_twin_crops(cfg.val, cfg.net, cfg.jitter, 1,
                                                            cfg.misregistration_m, cfg.negatives,
                                                            progress=progress, label="validation twins"),
                                  fields=FIELDS)
    t_render = time.perf_counter() - t0
    if not len(crops["crops"]):
        raise InputError("no state-bearing objects in the training twins (check stream.themes)")

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = build_state_net(StateNetConfig(**cfg.net.model_dump(), dates=2, fusion=cfg.fusion))
    if cfg.fusion == "late" and cfg.init_from_single:
        if base.state_net is None:
            raise InputError(f"{cfg.detector}: no single-date state classifier to start the pair one from")
        single = state_net_from_payload(base.state_net)
        if isinstance(single, StateNetByClass):  # one network per class: start from the launchers' one,
            single = single.member_for(STATE_CLASSES.index("sam"))  # what the pair reading is for
        if isinstance(single, StateNetMean):  # a mean of readers: start from the first (the one
            single = single.members[0]          # the others were added to)
        if single.config.crop_px != net.config.crop_px or single.config.widths != net.config.widths:
            raise InputError("net: crop_px and widths must match the single-date classifier's "
                             "to start from it")
        net.single.load_state_dict(single.state_dict())
    x_all = torch.from_numpy(crops["crops"])
    cls_all = torch.from_numpy(crops["classes"])
    ya = torch.from_numpy(crops["states_a"]).float()
    yb = torch.from_numpy(crops["states_b"]).float()
    group = crops["source"] * 4 + crops["states_a"] * 2 + crops["states_b"]
    _, inv, counts = np.unique(group, return_inverse=True, return_counts=True)
    weights = torch.from_numpy(1.0 / counts[inv])

    def batch_loss() -> Any:
        idx = torch.multinomial(weights, cfg.batch_size, replacement=True, generator=gen)
        x, swap = _augment_pair(x_all[idx].float(), gen)
        target = torch.stack([torch.where(swap, yb[idx], ya[idx]), torch.where(swap, ya[idx], yb[idx])], 1)
        return F.binary_cross_entropy_with_logits(pair_logits(net, x, state_channels(cls_all[idx])), target)

    log = (out / "log.jsonl").open("w", encoding="utf-8")
    t_train = optimise(net, batch_loss, steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, log=log,
                       desc="train state pairs", progress=progress)
    prob = predict_pairs(net, val_crops["crops"], val_crops["classes"])
    metrics = pair_metrics(prob, val_crops["classes"], val_crops["states_a"], val_crops["states_b"],
                           val_crops["source"], cfg.change_shift)
    summary = {"steps": cfg.steps, "train_crops": int(len(crops["crops"])),
               "val_crops": int(len(val_crops["crops"])), "val": metrics,
               "render_s": round(t_render, 1), "train_s": round(t_train, 1),
               "config": json.loads(json.dumps(cfg.model_dump(), default=str))}
    log.write(json.dumps({"val": metrics}) + "\n")
    log.close()
    from detect.state_train import write_second_stage

    info = {"steps": cfg.steps, "seed": cfg.seed, "val": metrics, "train_crops": summary["train_crops"]}
    return write_second_stage(base, out, "state_pair", net, {"steps": cfg.steps, "val": metrics}, info,
                              summary, export)
