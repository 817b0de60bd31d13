"""Can the second-stage crop network name the air-defence type? A probe for per-type launcher
gates, not a shipped model.

    python benchmarks/air_defence_types.py [--chips 600] [--val-chips 150] [--steps 1200]

Why: most of the staged events the posture stage misses are air-defence packings, and most of
its false events sit on air-defence equipment, concentrated on the types whose state the reader
sees worst (Pantsir-S1, 92N6E; RESULTS.md, "what is missed and what is false"). A launcher's
state change leaves different evidence per type (an S-400's canisters cast a tall shadow, a
Pantsir's folding radar hardly anything), but the detector names only the class `sam`, and a
box's length does not tell the types apart. This trains the aircraft type classifier's network
(``detect.type_net``: 80 px box-aligned crops, the box size as two extra inputs) for the five
types on chips of the SAM-site and state-study themes, with boxes jittered like detections, and
prints its accuracy and confusion on chips of another seed. Nothing is written but the output.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SAM_TYPES = ("S-400 TEL", "S-400 TEL towed", "91N6E", "92N6E", "Pantsir-S1")
THEMES = {"sam_site": 0.7, "state_study": 0.3}
FIELDS = ("crops", "labels", "sizes")


def sam_type_crops(chip: Any, rng: np.random.Generator, net_cfg: Any, jitter: Any,
                   copies: int) -> dict[str, np.ndarray]:
    """Box-aligned crops of one chip's air-defence objects, labelled by index into ``SAM_TYPES``
    (as ``detect.type_train.chip_type_crops`` does for aircraft kinds)."""
    from detect.type_train import labelled_crops
    from imagery.taxonomy import CLASSES

    sam = CLASSES.index("sam")
    rows = np.array([SAM_TYPES.index(t) if c == sam and t in SAM_TYPES else -1
                     for c, t in zip(np.asarray(chip.classes), chip.types, strict=True)], np.int64)
    return labelled_crops(chip, rows, rng, net_cfg, jitter, copies)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chips", type=int, default=600, help="training chips (640 px)")
    ap.add_argument("--val-chips", type=int, default=150, help="validation chips, another seed")
    ap.add_argument("--steps", type=int, default=1200)
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F  # noqa: N812

    from detect.state_net import StateNet, StateNetConfig
    from detect.state_train import StreamSection, optimise, photometric
    from detect.type_train import CropJob, _predict, load_type_train_config, render_crop_set

    # the shipped type classifier's crop, network and box-jitter settings (configs/train_type.yaml)
    type_cfg = load_type_train_config()
    net_cfg, jitter = type_cfg.net, type_cfg.jitter
    sets = {}
    t0 = time.perf_counter()
    for name, seed, chips, copies in (("train", 7, args.chips, 2), ("val", 1_000_007, args.val_chips, 1)):
        stream = StreamSection(seed=seed, chips=chips, size=640, themes=THEMES, overrides={}, workers=2)
        sets[name] = render_crop_set(CropJob(sam_type_crops, stream, net_cfg, jitter, copies, 0x5A),
                                     FIELDS, progress=False)
    tr, va = sets["train"], sets["val"]
    print(f"rendered in {time.perf_counter() - t0:.0f} s: training crops per type "
          f"{np.bincount(tr['labels'], minlength=len(SAM_TYPES)).tolist()}, validation "
          f"{np.bincount(va['labels'], minlength=len(SAM_TYPES)).tolist()} ({', '.join(SAM_TYPES)})")

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = StateNet(StateNetConfig(**{**net_cfg.model_dump(), "num_states": len(SAM_TYPES), "dates": 1,
                                     "fusion": "early", "extra_inputs": 2}))
    x_all, y_all = torch.from_numpy(tr["crops"]), torch.from_numpy(tr["labels"]).long()
    s_all = torch.from_numpy(tr["sizes"]).float()
    _, inv, counts = np.unique(tr["labels"], return_inverse=True, return_counts=True)
    weights = torch.from_numpy(1.0 / counts[inv])  # types balanced

    def batch_loss() -> Any:
        idx = torch.multinomial(weights, 128, replacement=True, generator=gen)
        x = x_all[idx].float()
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = photometric(torch.where(flip[:, None, None, None], x.flip(3), x), gen)
        return F.cross_entropy(net(x, s_all[idx]), y_all[idx], label_smoothing=0.05)

    seconds = optimise(net, batch_loss, steps=args.steps, lr=0.002, weight_decay=0.001, log=io.StringIO(),
                       desc="air-defence types", progress=False)
    pred = _predict(net, va["crops"], va["sizes"]).argmax(1)
    y = va["labels"]
    confusion = np.zeros((len(SAM_TYPES),) * 2, int)
    np.add.at(confusion, (y, pred), 1)
    accuracy = float((pred == y).mean())
    print(f"trained {args.steps} steps in {seconds:.0f} s; validation accuracy {accuracy:.3f}")
    print(f"{'type':16} {'n':>5} {'recall':>7} {'precision':>9}  confusion row ({', '.join(SAM_TYPES)})")
    for i, t in enumerate(SAM_TYPES):
        recall = confusion[i, i] / max(confusion[i].sum(), 1)
        precision = confusion[i, i] / max(confusion[:, i].sum(), 1)
        print(f"{t:16} {confusion[i].sum():5d} {recall:7.3f} {precision:9.3f}  {confusion[i].tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
