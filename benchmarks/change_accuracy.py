"""Accuracy of the pixel change score: ROC-AUC on real labelled pairs against plain
change-vector magnitude (CVA) and SSIM, each robustness lever on its own, and false alarms on
simulated mission pairs (moved shadows, tint, misregistration, JPEG).

    python benchmarks/change_accuracy.py [--data ../shared/data] [--sim-seeds 4] [--synth DIR]

Real data (../shared/data): LEVIR-CD (5 pairs, buildings only are labelled), DSIFN-CD (5 pairs),
OSCD (bercy, rennes; Sentinel-2 B02/B03/B04/B08 at 10 m). AUC is per pair, then averaged.
Simulated pairs (detect.change.simulate): AUC against the object footprints (their shadows
ignored) and the false-alarm fraction (unchanged pixels flagged by the automatic threshold),
plus "steady" pairs where nothing moves and every flagged pixel is a false alarm.
``--synth DIR``: a folder of ``posturewatch synth`` outputs (steady/, withdrawal/) to score too.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table

from detect.change.config import load_change_config
from detect.change.model import PairGeometry
from detect.change.pixel import change_mask, fit_arrays, score_arrays
from detect.change.simulate import SimSettings, simulate_pair

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney AUC of ``score`` for ``label`` (1 positive, 0 negative), ties averaged."""
    from scipy.stats import rankdata

    s = np.asarray(score, dtype=np.float64).ravel()
    y = np.asarray(label).ravel()
    keep = np.isfinite(s) & ((y == 0) | (y == 1))
    s, y = s[keep], y[keep]
    npos, nneg = int((y == 1).sum()), int((y == 0).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def cva(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Plain change-vector magnitude |after - before| on the raw bands."""
    d = after.astype(np.float64) - before.astype(np.float64)
    return np.sqrt((d * d).sum(axis=0))


def ssim_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """1 - SSIM map of the band-mean brightness (Wang et al. settings)."""
    from skimage.metrics import structural_similarity

    a = before.astype(np.float64).mean(axis=0)
    b = after.astype(np.float64).mean(axis=0)
    rng = float(max(a.max(), b.max()) - min(a.min(), b.min())) or 1.0
    _, smap = structural_similarity(a, b, data_range=rng, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True)
    return 1.0 - smap


def variants():
    c = load_change_config()
    off = {"structure": c.structure.model_copy(update={"radius": 0}), "search_radius": 0,
           "smooth_radius": 0, "shadow": c.shadow.model_copy(update={"enabled": False}),
           "lean": c.lean.model_copy(update={"enabled": False})}
    only = lambda **kw: c.model_copy(update={**off, **kw})  # noqa: E731
    irmad = c.model_copy(update={"projection": "irmad"})
    return [
        ("mad basic", irmad.basic()),
        ("mad robust", irmad),
        ("basic", c.basic()),
        ("+lean", only(lean=c.lean, search_radius=0)),
        ("+search", only(search_radius=c.search_radius)),
        ("+structure", only(structure=c.structure)),
        ("+shadow", only(shadow=c.shadow)),
        ("+smooth", only(smooth_radius=c.smooth_radius)),
        ("robust", c),
    ]


def load_png_pairs(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    from PIL import Image

    out = []
    for a in sorted((folder / "A").glob("*.png")):
        b = folder / "B" / a.name
        lab = folder / "label" / a.name
        if not (b.exists() and lab.exists()):
            continue
        ia = np.asarray(Image.open(a).convert("RGB")).transpose(2, 0, 1)
        ib = np.asarray(Image.open(b).convert("RGB")).transpose(2, 0, 1)
        y = (np.asarray(Image.open(lab).convert("L")) >= 128).astype(np.uint8)
        out.append((a.stem, ia, ib, y))
    return out


def load_oscd(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    import rasterio

    out = []
    for city in sorted(p for p in folder.iterdir() if p.is_dir()):
        cm = city / "cm" / f"{city.name}-cm.tif"
        if not cm.exists():
            continue
        bands = []
        for sub in ("imgs_1", "imgs_2"):
            stack = []
            for b in ("B02", "B03", "B04", "B08"):
                f = sorted((city / sub).glob(f"*_{b}.tif"))
                with rasterio.open(f[0]) as ds:
                    stack.append(ds.read(1))
            bands.append(np.stack(stack))
        with rasterio.open(cm) as ds:
            y = (ds.read(1) == 2).astype(np.uint8)
        h = min(bands[0].shape[1], bands[1].shape[1], y.shape[0])
        w = min(bands[0].shape[2], bands[1].shape[2], y.shape[1])
        out.append((city.name, bands[0][:, :h, :w], bands[1][:, :h, :w], y[:h, :w]))
    return out


def score_variants(before, after, valid, *, geometry=None):
    """{name: (score, threshold, opening radius)} for every variant."""
    res = {}
    for name, cfg in variants():
        model = fit_arrays(before, after, valid, cfg, geometry=geometry)
        res[name] = (score_arrays(before, after, valid, model=model), cfg.threshold.level,
                     cfg.threshold.opening_radius)
    return res


def real_data(data: Path) -> None:
    sets = []
    if (data / "levir_cd").is_dir():
        sets.append(("levir_cd", load_png_pairs(data / "levir_cd")))
    if (data / "dsifn_cd").is_dir():
        sets.append(("dsifn_cd", load_png_pairs(data / "dsifn_cd")))
    if (data / "oscd").is_dir():
        sets.append(("oscd", load_oscd(data / "oscd")))
    if not sets:
        print(f"no real data under {data}: skipped")
        return
    names = ["cva", "ssim"] + [n for n, _ in variants()]
    rows = []
    for ds_name, pairs in sets:
        aucs: dict[str, list[float]] = {n: [] for n in names}
        for _, a, b, y in pairs:
            valid = np.ones(y.shape, bool)
            aucs["cva"].append(roc_auc(cva(a, b), y))
            aucs["ssim"].append(roc_auc(ssim_change(a, b), y))
            for n, (s, _, _) in score_variants(a, b, valid).items():
                aucs[n].append(roc_auc(s, y))
        rows.append([ds_name, len(pairs)] + [float(np.nanmean(aucs[n])) for n in names])
    print_table("ROC-AUC on real labelled pairs (mean over pairs)", ["dataset", "pairs", *names], rows)


def simulated(seeds: int) -> None:
    names = [n for n, _ in variants()]
    rows_auc, rows_fa = [], []
    for label, steady in (("change", False), ("steady", True)):
        auc: dict[str, list[float]] = {n: [] for n in [*names, "cva", "ssim"]}
        fa: dict[str, list[float]] = {n: [] for n in names}
        det: dict[str, list[float]] = {n: [] for n in names}
        for seed in range(seeds):
            sim = simulate_pair(seed, SimSettings(), steady=steady)
            valid = np.ones(sim.truth.shape, bool)
            geometry = PairGeometry(sim.sun, gsd_m=sim.gsd_m)
            res = score_variants(sim.before, sim.after, valid, geometry=geometry)
            neg = sim.truth == 0
            for n, (s, level, rad) in res.items():
                m = change_mask(s, level, rad)
                fa[n].append(float((m[neg] == 1).mean()))
                if not steady:
                    auc[n].append(roc_auc(s, sim.truth))
                    det[n].append(float((m[sim.truth == 1] == 1).mean()))
            if not steady:
                auc["cva"].append(roc_auc(cva(sim.before, sim.after), sim.truth))
                auc["ssim"].append(roc_auc(ssim_change(sim.before, sim.after), sim.truth))
        if not steady:
            rows_auc.append(["simulated change", seeds] + [float(np.mean(auc[n])) for n in
                                                           ["cva", "ssim", *names]])
            rows_fa.append(["detected (change px)", seeds] + [float(np.mean(det[n])) for n in names])
        rows_fa.append([f"false alarms ({label})", seeds] + [float(np.mean(fa[n])) for n in names])
    print_table("ROC-AUC on simulated apron pairs (moved shadows, tint, 0.7 px shift, JPEG 85)",
                ["set", "seeds", "cva", "ssim", *names], rows_auc)
    print_table("Mask at the automatic threshold on simulated pairs (fraction of pixels)",
                ["what", "seeds", *names], rows_fa)


def synth_pairs(root: Path) -> list[tuple[str, Path, Path, Path]]:
    """(scenario, before, after, truth mask) for each ``posturewatch synth`` folder under root."""
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        masks = sorted(m for m in d.glob("change_*_*.tif")
                       if re.fullmatch(r"change_\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d", m.stem))
        if not masks:
            continue
        d1, d2 = masks[0].stem.split("_")[1:3]
        imgs = {p.stem.rsplit("_", 1)[-1]: p for p in d.glob("*.tif") if not p.name.startswith("change_")}
        if d1 in imgs and d2 in imgs:
            out.append((d.name, imgs[d1], imgs[d2], masks[0]))
    return out


def synthetic(root: Path) -> None:
    """False alarms (steady) and pixel ROC-AUC against the truth mask (withdrawal etc.) on
    ``posturewatch synth`` scenes, with the acquisition geometry of their IMDs."""
    import rasterio

    from imagery.scene import open_scene

    names = [n for n, _ in variants()]
    rows = []
    for scenario, pa, pb, pm in synth_pairs(root):
        sa, sb = open_scene(pa), open_scene(pb)
        a, va = sa.read()
        b, vb = sb.read()
        with rasterio.open(pm) as ds:
            truth = ds.read(1)
        valid = va & vb
        geom = PairGeometry.from_metas(sa.meta, sb.meta, gsd_m=sa.meta.gsd_m, transform=sa.meta.transform)
        res = score_variants(a, b, valid, geometry=geom)
        neg = valid & (truth == 0)
        fa = [float((change_mask(s, lv, rad)[neg] == 1).mean()) for s, lv, rad in res.values()]
        rows.append([scenario, "false-alarm fraction", float("nan"), float("nan"), *fa])
        if (truth == 1).any():
            det = [float((change_mask(s, lv, rad)[valid & (truth == 1)] == 1).mean())
                   for s, lv, rad in res.values()]
            auc = [roc_auc(np.where(valid, s, np.nan), truth) for s, _, _ in res.values()]
            rows.append([scenario, "detected fraction", float("nan"), float("nan"), *det])
            rows.append([scenario, "pixel ROC-AUC", roc_auc(cva(a, b), np.where(valid, truth, 255)),
                         roc_auc(ssim_change(a, b), np.where(valid, truth, 255)), *auc])
    if rows:
        print_table(f"posturewatch synth scenes in {root}", ["scenario", "metric", "cva", "ssim", *names],
                    rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--sim-seeds", type=int, default=4)
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--synth", type=Path, default=None,
                    help="folder with posturewatch synth outputs (one subfolder per scenario)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if not args.skip_real:
        real_data(args.data)
    if args.sim_seeds > 0:
        simulated(args.sim_seeds)
    if args.synth is not None:
        synthetic(args.synth)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
