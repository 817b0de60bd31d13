"""State *changes* on synthetic twin chips: how well does reading a box on two dates tell a state
that changed from a view that changed?

    python benchmarks/state_pairs.py [--twins 300] [--weights W ...]
    python benchmarks/state_pairs.py --tta [--twins 300]   # one box against nudged boxes (tta)

Twin chips (``imagery.synth.chips.ChipStream.twin``): one chip world on two "dates", each with its
own camera, sun and sensor, every state-bearing object put in its other state half of the time.
Both dates are cropped at one box per object (that of either date, jittered like a detection,
plus 0.7 m misregistration), as the posture stage reads launchers (``Detector.read_state_pairs``).
For each weights file: the shipped single-date classifier read on each date, and the two-date
classifier when the file carries one (``posturewatch train-state-pair``). Per class: ROC-AUC of
``p_after - p_before`` for "became non-nominal" and "became nominal", and precision, recall, F1
and false changes per 100 unchanged objects of the rule ``|p_after - p_before| >= shift``.
The validation twins of configs/train_state_pair.yaml (seed 1000009) are used, rendered once
into $POSTUREWATCH_BENCH_CACHE (default /tmp/pw_bench).

``--tta``: the same twins read through ``detect.state_net.classify`` at each object's jittered
box on both dates, once as the box is and once averaged over the nudged boxes and mirror images
of ``tta=True`` (the detector's ``state_tta``), so the two readings see the same boxes.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import CACHE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--twins", type=int, default=300)
    ap.add_argument("--shift", type=float, nargs="*", default=[0.4, 0.6])
    ap.add_argument("--weights", nargs="*", default=["detect/weights/detector.pt"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tta", action="store_true", help="compare one box with nudged boxes (state_tta)")
    args = ap.parse_args(argv)
    if args.tta:
        return tta_main(args)

    from detect.model import load_weights
    from detect.state_net import state_net_from_payload
    from detect.state_pair_train import (
        FIELDS,
        format_pair_metrics,
        load_state_pair_config,
        pair_metrics,
        predict_pairs,
        render_twin_crops,
    )
    from detect.state_train import _cached_crops, _predict

    cfg = load_state_pair_config()
    val = cfg.val.model_copy(update={"chips": args.twins, "workers": args.workers})
    key = {"stream": val.model_dump(), "net": cfg.net.model_dump(), "jitter": cfg.jitter.model_dump(),
           "copies": 1, "misregistration_m": cfg.misregistration_m, "negatives": cfg.negatives}
    CACHE.mkdir(parents=True, exist_ok=True)
    v = _cached_crops(CACHE / f"state_twins_{args.twins}.npz", key,
                      lambda: render_twin_crops(val, cfg.net, cfg.jitter, 1, cfg.misregistration_m,
                                                cfg.negatives, label="twins"), fields=FIELDS)
    print(f"{len(v['classes'])} objects on {args.twins} twin chips of {val.size} px "
          f"(seed {val.seed}); changed: {int((v['states_a'] != v['states_b']).sum())}")
    for path in args.weights:
        w = load_weights(path)
        readers = []
        if w.state_net is not None:
            single = state_net_from_payload(w.state_net)
            crops = v["crops"]
            prob = np.column_stack([_predict(single, np.ascontiguousarray(crops[:, :3]), v["classes"]),
                                    _predict(single, np.ascontiguousarray(crops[:, 3:]), v["classes"])])
            readers.append(("single-date classifier on each date", prob))
        if w.state_pair is not None:
            readers.append(("two-date classifier", predict_pairs(state_net_from_payload(w.state_pair),
                                                                 v["crops"], v["classes"])))
        for name, prob in readers:
            for shift in args.shift:
                print(f"\n{path}: {name}, change rule |p_after - p_before| >= {shift}")
                print(format_pair_metrics(pair_metrics(prob, v["classes"], v["states_a"], v["states_b"],
                                                       v["source"], shift)))
            print(f"\n{path}: {name}, launchers by the difference of the two view zeniths")
            print(view_table(prob, v, args.shift))
            print(f"\n{path}: {name}, air-defence elements by type")
            print(type_table(prob, v, args.shift))
    return 0


def tta_main(args: argparse.Namespace) -> int:
    from detect.model import load_weights
    from detect.state_net import state_net_from_payload
    from detect.state_pair_train import format_pair_metrics, load_state_pair_config, pair_metrics

    cfg = load_state_pair_config()
    for path in args.weights:
        net = state_net_from_payload(load_weights(path).state_net)
        v = box_readings(net, cfg, args.twins)
        print(f"{path}: {len(v['classes'])} objects on {args.twins} twin chips, "
              f"changed: {int((v['states_a'] != v['states_b']).sum())}")
        for name, key in (("one box", "plain"), ("nudged boxes and mirrors (state_tta)", "tta")):
            for shift in args.shift:
                print(f"\n{name}, change rule |p_after - p_before| >= {shift}")
                print(format_pair_metrics(pair_metrics(v[key], v["classes"], v["states_a"], v["states_b"],
                                                       v["source"], shift)))
    return 0


def box_readings(net, cfg, n_twins: int) -> dict[str, np.ndarray]:
    """Each state-bearing object of the validation twins read on both dates at one box (either
    date's, jittered like a detection, shifted by the misregistration on the second date), with
    ``tta`` off (``plain``) and on (``tta``): (n, 2) probabilities each."""
    import torch

    from detect.state_net import classify, state_channels
    from detect.state_pair_train import read_boxes
    from detect.state_train import _inside
    from imagery.synth.chips import ChipStream

    st = cfg.val
    stream = ChipStream(st.size, seed=st.seed, themes=tuple(st.themes.items()), **st.overrides)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("classes", "states_a", "states_b", "plain", "tta")}
    for i in range(n_twins):
        tw = stream.twin(i, st.p_flip)
        cls = np.asarray(tw.classes, np.int64)
        ba, bb = (np.asarray(b, np.float64).reshape(-1, 5) for b in (tw.boxes_a, tw.boxes_b))
        h, w = tw.image_a.shape[:2]
        keep = (state_channels(torch.from_numpy(cls)).numpy() >= 0) & _inside(ba, h, w) & _inside(bb, h, w)
        if not keep.any():
            continue
        rng = np.random.default_rng([st.seed, i, 0x7C0])
        boxes = read_boxes(ba[keep], bb[keep], cls[keep], rng, cfg.jitter, cfg.misregistration_m / tw.gsd)
        images = [torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).float()
                  for im in (tw.image_a, tw.image_b)]
        c = torch.from_numpy(cls[keep])
        with torch.inference_mode():
            for key, tta in (("plain", False), ("tta", True)):
                parts[key].append(np.column_stack([
                    classify(net, im, torch.from_numpy(bx).float(), c, tw.gsd, tta=tta).numpy()
                    for im, bx in zip(images, boxes, strict=True)]))
        parts["classes"].append(cls[keep])
        parts["states_a"].append(np.asarray(tw.states_a, np.int64)[keep])
        parts["states_b"].append(np.asarray(tw.states_b, np.int64)[keep])
    v = {k: np.concatenate(x) for k, x in parts.items()}
    v["source"] = v["classes"]
    return v


VIEW_BINS = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0)


def _change_reading(prob: np.ndarray, v: dict[str, np.ndarray], cls: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(objects of ``cls`` read as themselves, |p_after - p_before|, state changed)."""
    from detect.targets import CLASSES

    own = (v["classes"] == CLASSES.index(cls)) & (v["source"] == v["classes"])
    return own, np.abs(prob[:, 1] - prob[:, 0]), v["states_a"] != v["states_b"]


def _shift_columns(shifts: list[float]) -> str:
    return "  ".join(f"false/100 @{s:g}  recall @{s:g}" for s in shifts)


def _shift_cells(moved: np.ndarray, unchanged: np.ndarray, changed: np.ndarray,
                 shifts: list[float]) -> str:
    """False changes per 100 unchanged and recall of changed objects at each shift."""
    cells = []
    for s in shifts:
        fp = 100.0 * (moved[unchanged] >= s).mean() if unchanged.any() else float("nan")
        rec = (moved[changed] >= s).mean() if changed.any() else float("nan")
        cells.append(f"{fp:15.1f}  {rec:9.2f}")
    return "  ".join(cells)


def view_table(prob: np.ndarray, v: dict[str, np.ndarray], shifts: list[float], cls: str = "sam") -> str:
    """How a state change read at one box depends on how differently the two dates saw it:
    per bin of |view zenith difference|, false changes per 100 unchanged launchers and the
    recall of changed ones at each shift, and the shift that 95 % of unchanged ones stay
    below (what a view-dependent gate in the posture stage would have to follow)."""
    own, moved, changed = _change_reading(prob, v, cls)
    d = np.abs(v["view_zenith"][:, 0] - v["view_zenith"][:, 1])
    head = f"|dVZ| deg   unchanged  changed  {_shift_columns(shifts)}  p95 unchanged shift"
    rows = [head, "-" * len(head)]
    for lo, hi in itertools.pairwise(VIEW_BINS):
        sel = own & (d >= lo) & (d < hi) & ~np.isnan(moved)
        u, c = sel & ~changed, sel & changed
        p95 = float(np.percentile(moved[u], 95)) if u.sum() >= 5 else float("nan")
        rows.append(f"{lo:4.0f}-{hi:<4.0f}   {int(u.sum()):9d}  {int(c.sum()):7d}  "
                    + _shift_cells(moved, u, c, shifts) + f"  {p95:19.2f}")
    return "\n".join(rows)


def type_table(prob: np.ndarray, v: dict[str, np.ndarray], shifts: list[float], cls: str = "sam") -> str:
    """Per object type of ``cls``: change AUC (|shift| ranking changed above unchanged),
    recall and false changes per 100 unchanged at each shift: which elements the reading fails."""
    from detect.state_train import roc_auc

    own, moved, changed = _change_reading(prob, v, cls)
    head = f"type            unchanged  changed  change AUC  {_shift_columns(shifts)}"
    rows = [head, "-" * len(head)]
    for t in sorted(set(v["types"][own].tolist())):
        sel = own & (v["types"] == t) & ~np.isnan(moved)
        u, c = sel & ~changed, sel & changed
        auc = roc_auc(changed[sel], moved[sel])
        rows.append(f"{t:14s}  {int(u.sum()):9d}  {int(c.sum()):7d}  {auc:10.3f}  "
                    + _shift_cells(moved, u, c, shifts))
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
