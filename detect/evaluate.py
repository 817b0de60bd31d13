"""Detection metrics: per-class rotated mAP, state accuracy/F1, class-agnostic aircraft AP.

Conventions (written into the model card; chosen to match DOTA/VOC practice, domain.md 6):

* AP is the area under the all-point interpolated precision/recall curve (VOC 2010+, what the
  DOTA devkit computes without ``use_07_metric``), at one IoU threshold (0.5 by default).
* Matching is greedy by descending score within each image; a detection whose best match is
  an *ignore* truth (Airbus ``Truncated_airplane``, DOTA "difficult", objects cut by the image
  edge) counts as neither a true nor a false positive, and ignore truths are not in the
  recall denominator.
* mAP averages AP over the classes that have at least one truth object.
* State metrics use the class's one non-nominal state as the positive label:
  ``f1`` is end to end (a true positive is a detection of the right class, IoU >= 0.5, whose
  state is positive on a positive truth; missed positive truths are false negatives), and
  ``f1_matched`` / ``accuracy`` only look at correctly detected objects (the state classifier
  on its own).
* The class-agnostic aircraft AP compares the axis-aligned envelope of every fixed-wing
  detection (transport, fighter, airliner) with axis-aligned truth. Helicopters are left out:
  the real sets we score against (Airbus "Airplane", DOTA "plane") do not label them as planes,
  and DOTA labels them as a separate class.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from detect.boxes import aabb_iou_matrix, as_boxes, envelopes, rotated_iou_matrix
from imagery.taxonomy import CLASSES, STATES

FIXED_WING = ("transport", "fighter", "airliner")
FIXED_WING_IDX = tuple(CLASSES.index(c) for c in FIXED_WING)
GENERIC = -1  # class index of truth that says "aircraft" without a type


@dataclass
class Truth:
    """Ground truth of one image in pixel coordinates."""

    boxes: np.ndarray  # (N, 5) cx, cy, length, width, heading (heading 0 when not oriented)
    classes: np.ndarray  # (N,) int64 index into CLASSES, or GENERIC
    states: np.ndarray  # (N,) int64 0/1
    ignore: np.ndarray  # (N,) bool
    oriented: bool = True  # False: boxes are axis-aligned envelopes (length = height)

    def __post_init__(self) -> None:
        self.boxes = as_boxes(self.boxes)
        n = len(self.boxes)
        self.classes = np.asarray(self.classes, dtype=np.int64).reshape(n)
        self.states = np.asarray(self.states, dtype=np.int64).reshape(n)
        self.ignore = np.asarray(self.ignore, dtype=bool).reshape(n)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def envelopes(self) -> np.ndarray:
        return envelopes(self.boxes)


def average_precision(scores: np.ndarray, tp: np.ndarray, n_truth: int) -> float:
    """All-point interpolated AP from detection scores and true-positive flags."""
    if n_truth == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.asarray(tp, dtype=np.float64)[order]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    recall = ctp / n_truth
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def greedy_match(iou: np.ndarray, scores: np.ndarray, ignore: np.ndarray,
                 threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match detections (rows of ``iou``) to truths (columns) greedily by score.

    Returns ``tp`` (bool), ``skip`` (bool: matched an ignore truth) and ``match`` (truth index
    or -1) per detection. Real truths are preferred over ignore truths at equal eligibility.
    """
    n_det, n_gt = iou.shape
    tp = np.zeros(n_det, bool)
    skip = np.zeros(n_det, bool)
    match = np.full(n_det, -1, np.int64)
    if n_det == 0 or n_gt == 0:
        return tp, skip, match
    taken = np.zeros(n_gt, bool)
    for d in np.argsort(-scores, kind="stable"):
        cand = iou[d].copy()
        cand[taken & ~ignore] = -1.0  # a real truth is matched once; ignore regions absorb many
        real = np.where(ignore, -1.0, cand)
        j = int(np.argmax(real))
        if real[j] >= threshold:
            tp[d], match[d], taken[j] = True, j, True
            continue
        j = int(np.argmax(np.where(ignore, cand, -1.0)))
        if ignore.any() and cand[j] >= threshold:
            skip[d], match[d] = True, j
    return tp, skip, match


@dataclass
class _Curve:
    scores: list = field(default_factory=list)
    tp: list = field(default_factory=list)
    n_truth: int = 0

    def add(self, scores: np.ndarray, tp: np.ndarray, skip: np.ndarray, n_truth: int) -> None:
        self.scores.append(np.asarray(scores)[~skip])
        self.tp.append(np.asarray(tp)[~skip])
        self.n_truth += int(n_truth)

    def ap(self) -> float:
        s = np.concatenate(self.scores) if self.scores else np.zeros(0)
        t = np.concatenate(self.tp) if self.tp else np.zeros(0, bool)
        return average_precision(s, t, self.n_truth)

    def recall_at(self, score_threshold: float) -> tuple[float, float]:
        """(precision, recall) of the detections scoring at least ``score_threshold``."""
        s = np.concatenate(self.scores) if self.scores else np.zeros(0)
        t = np.concatenate(self.tp) if self.tp else np.zeros(0, bool)
        keep = s >= score_threshold
        tp = float(t[keep].sum())
        n = int(keep.sum())
        return (tp / n if n else float("nan"), tp / self.n_truth if self.n_truth else float("nan"))


@dataclass
class _StateCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    m_tp: int = 0
    m_fp: int = 0
    m_fn: int = 0
    m_tn: int = 0

    def as_dict(self) -> dict[str, float]:
        def f1(tp: int, fp: int, fn: int) -> float:
            return 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else float("nan")

        matched = self.m_tp + self.m_fp + self.m_fn + self.m_tn
        return {
            "f1": f1(self.tp, self.fp, self.fn),
            "precision": self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan"),
            "recall": self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan"),
            "f1_matched": f1(self.m_tp, self.m_fp, self.m_fn),
            "accuracy": (self.m_tp + self.m_tn) / matched if matched else float("nan"),
            "positives": self.tp + self.fn,
            "matched": matched,
        }


class DetectionEvaluator:
    """Accumulates detections and truth image by image; :meth:`summary` gives every metric.

    ``score_threshold`` is the operating point at which the end-to-end state F1 and the
    precision/recall figures are taken (AP uses every detection).
    """

    def __init__(self, *, iou_threshold: float = 0.5, score_threshold: float = 0.3,
                 state_threshold: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.score_threshold = score_threshold
        self.state_threshold = state_threshold
        self.curves: dict[int, _Curve] = defaultdict(_Curve)
        self.states: dict[int, _StateCounts] = defaultdict(_StateCounts)
        self.agnostic = _Curve()
        self.images = 0

    def add(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, state_prob: np.ndarray,
            truth: Truth) -> None:
        """One image: detections (pixel boxes, scores, class indexes, state probabilities)."""
        boxes = as_boxes(boxes)
        scores = np.asarray(scores, np.float64)
        classes = np.asarray(classes, np.int64)
        state_prob = np.asarray(state_prob, np.float64)
        self.images += 1
        if truth.oriented:
            self._add_classwise(boxes, scores, classes, state_prob, truth)
        self._add_agnostic(boxes, scores, classes, truth)

    def _add_classwise(self, boxes, scores, classes, state_prob, truth: Truth) -> None:
        for c in range(len(CLASSES)):
            dm = classes == c
            gm = truth.classes == c
            if not dm.any() and not gm.any():
                continue
            iou = rotated_iou_matrix(boxes[dm], truth.boxes[gm])
            tp, skip, match = greedy_match(iou, scores[dm], truth.ignore[gm], self.iou_threshold)
            self.curves[c].add(scores[dm], tp, skip, int((~truth.ignore[gm]).sum()))
            if CLASSES[c] not in STATES:
                continue
            counts = self.states[c]
            g_state = truth.states[gm] > 0
            g_real = ~truth.ignore[gm]
            operating = scores[dm] >= self.score_threshold
            d_state = state_prob[dm] >= self.state_threshold
            found_pos = np.zeros(gm.sum(), bool)
            for k in np.nonzero(tp & operating)[0]:
                j = match[k]
                counts.m_tp += int(d_state[k] and g_state[j])
                counts.m_fp += int(d_state[k] and not g_state[j])
                counts.m_fn += int(not d_state[k] and g_state[j])
                counts.m_tn += int(not d_state[k] and not g_state[j])
                if d_state[k] and g_state[j]:
                    found_pos[j] = True
                elif d_state[k]:
                    counts.fp += 1
            counts.fp += int((d_state & operating & ~tp & ~skip).sum())
            counts.tp += int(found_pos.sum())
            counts.fn += int((g_state & g_real & ~found_pos).sum())

    def _add_agnostic(self, boxes, scores, classes, truth: Truth) -> None:
        dm = np.isin(classes, FIXED_WING_IDX)
        gm = np.isin(truth.classes, (*FIXED_WING_IDX, GENERIC))
        iou = aabb_iou_matrix(envelopes(boxes[dm]), truth.envelopes[gm])
        tp, skip, _ = greedy_match(iou, scores[dm], truth.ignore[gm], self.iou_threshold)
        self.agnostic.add(scores[dm], tp, skip, int((~truth.ignore[gm]).sum()))

    def summary(self) -> dict:
        per_class = {}
        for c, curve in sorted(self.curves.items()):
            if curve.n_truth == 0:
                continue
            p, r = curve.recall_at(self.score_threshold)
            per_class[CLASSES[c]] = {"ap": curve.ap(), "truth": curve.n_truth,
                                     "precision": p, "recall": r}
        aps = [v["ap"] for v in per_class.values()]
        states = {f"{CLASSES[c]}.{STATES[CLASSES[c]][0]}": counts.as_dict()
                  for c, counts in sorted(self.states.items())}
        ap_agn = self.agnostic.ap()
        p, r = self.agnostic.recall_at(self.score_threshold)
        return {
            "images": self.images,
            "iou_threshold": self.iou_threshold,
            "score_threshold": self.score_threshold,
            "map": float(np.mean(aps)) if aps else float("nan"),
            "per_class": per_class,
            "states": states,
            "aircraft_ap": ap_agn,
            "aircraft_truth": self.agnostic.n_truth,
            "aircraft_precision": p,
            "aircraft_recall": r,
        }


def format_summary(s: dict) -> str:
    """A small plain-text table of :meth:`DetectionEvaluator.summary`."""
    lines = [f"images {s['images']}, IoU {s['iou_threshold']}, operating score {s['score_threshold']}"]
    if s["per_class"]:
        lines.append(f"mAP@{s['iou_threshold']} (rotated) {s['map']:.3f}")
        lines.append(f"  {'class':<12}{'AP':>7}{'truth':>7}{'prec':>7}{'recall':>7}")
        for name, v in s["per_class"].items():
            lines.append(f"  {name:<12}{v['ap']:7.3f}{v['truth']:7d}{v['precision']:7.3f}{v['recall']:7.3f}")
    for name, v in s["states"].items():
        lines.append(f"state {name:<24} F1 {v['f1']:.3f} (P {v['precision']:.3f} R {v['recall']:.3f}, "
                     f"{v['positives']} positives)  on matched: F1 {v['f1_matched']:.3f} "
                     f"accuracy {v['accuracy']:.3f}")
    if s["aircraft_truth"]:
        lines.append(f"aircraft AP@{s['iou_threshold']} (class-agnostic, axis-aligned) "
                     f"{s['aircraft_ap']:.3f} "
                     f"on {s['aircraft_truth']} aircraft; at the operating score: precision "
                     f"{s['aircraft_precision']:.3f} recall {s['aircraft_recall']:.3f}")
    return "\n".join(lines)


def evaluate_dataset(detector, items, *, iou_threshold: float = 0.5, score_threshold: float | None = None,
                     gsd: float | None = None, progress: bool = False) -> dict:
    """Run ``detector`` (a :class:`detect.infer.Detector` built with a low score threshold) over
    labelled images (:func:`detect.labels.load_dataset`) and score it. Images are read like
    any scene: non-georeferenced ones at ``gsd`` (or the label set's GSD, else 0.5 m) and
    resampled to the model GSD; boxes come back in each image's own pixels."""
    import warnings

    from detect.boxes import transform_boxes
    from imagery.scene import open_scene

    op = detector.config.score_threshold if score_threshold is None else score_threshold
    ev = DetectionEvaluator(iou_threshold=iou_threshold, score_threshold=op,
                            state_threshold=detector.config.state_threshold)
    per_image = []
    for item in items:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scene = open_scene(item.image, gsd=gsd or item.gsd)
        dets = detector.detect_scene(scene, progress=progress)
        d = dets.decoded
        to_src = ~scene.meta.transform * dets.grid.grid.transform
        boxes = transform_boxes(d.boxes, to_src) if len(d) else d.boxes
        ev.add(boxes, d.scores, d.classes, d.state_prob, item.truth)
        per_image.append({"image": item.image.name, "detections": int((d.scores >= op).sum()),
                          "truth": int((~item.truth.ignore).sum())})
    summary = ev.summary()
    summary["per_image"] = per_image
    return summary
