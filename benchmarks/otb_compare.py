"""posturewatch change against the Orfeo ToolBox MAD (``otbcli_MultivariateAlterationDetector``).

    apt-get install otb-bin   # Debian's Orfeo ToolBox 8.1
    python benchmarks/otb_compare.py [--size 10000] [--synth DIR]

Speed: both tools, file to file, on the 3-band uint8 DEFLATE COG pair of change_e2e.py (same
run). OTB writes its MAD variates (float32, one band per input band); posturewatch writes the
robust score, the mask and the statistics.

False alarms: on the ``posturewatch synth`` minibase scenes (steady: nothing moved; withdrawal:
truth change mask), OTB's MAD variates become a chi-square the textbook way (each variate over
its sample standard deviation) and are thresholded at the same significance as ours (0.1 %,
then the same 3x3 opening); we also report each method's false alarms on steady at the
threshold where it detects as much of the withdrawal as ours does, and the pixel ROC-AUC.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, print_table
from change_accuracy import roc_auc, synth_pairs
from change_e2e import make_pair

OTB = "otbcli_MultivariateAlterationDetector"


def run_otb(a: Path, b: Path, out: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([OTB, "-in1", str(a), "-in2", str(b), "-out", str(out), "float", "-ram", "1024"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"OTB failed: {r.stderr.strip()[-500:]}")
    return time.perf_counter() - t0


def run_ours(a: Path, b: Path, out: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "detect", "--quiet", "change", str(a), str(b), "--out",
                        str(out)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"posturewatch change failed: {r.stderr.strip()}")
    return time.perf_counter() - t0


def otb_chi2(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as ds:
        m = ds.read().astype(np.float64)
    sd = m.reshape(m.shape[0], -1).std(axis=1)
    return ((m / np.maximum(sd, 1e-12)[:, None, None]) ** 2).sum(axis=0), m.shape[0]


def otb_significance(path: Path) -> np.ndarray:
    from detect.change.calibration import LN10, chi2_logsf

    chi2, p = otb_chi2(path)
    return -chi2_logsf(chi2, p) / LN10


def flagged(score: np.ndarray, level: float) -> np.ndarray:
    from detect.change.pixel import change_mask

    return change_mask(score.astype(np.float32), level, 1) == 1


def level_for_detection(score: np.ndarray, truth: np.ndarray, target: float) -> float:
    """The threshold at which ``score`` flags ``target`` of the changed pixels (bisection)."""
    lo, hi = 0.0, float(np.nanmax(score))
    for _ in range(40):
        mid = (lo + hi) / 2
        if flagged(score, mid)[truth == 1].mean() > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--synth", type=Path, default=CACHE / "synth_minibase")
    args = ap.parse_args(argv)
    if shutil.which(OTB) is None:
        print(f"{OTB} not found (apt-get install otb-bin): skipped")
        return 0
    import rasterio

    work = CACHE / "otb"
    work.mkdir(parents=True, exist_ok=True)
    a, b = make_pair(args.size)
    t_otb = run_otb(a, b, work / "otb_mad.tif")
    t_ours = run_ours(a, b, work / "ours")
    print_table(f"Speed, {args.size} x {args.size} 3-band uint8 DEFLATE COG pair, file to file (same run)",
                ["tool", "wall s", "Mpx/s", "ours faster by"],
                [["OTB MultivariateAlterationDetector", t_otb, args.size ** 2 / t_otb / 1e6, 1.0],
                 ["posturewatch change (robust)", t_ours, args.size ** 2 / t_ours / 1e6, t_otb / t_ours]])
    if not args.synth.is_dir():
        from imagery.synth import generate

        for scen, seed in (("steady", 4), ("withdrawal", 3)):
            generate(scen, seed, args.synth / scen, dates=2, site="minibase")
    pairs = {scen: (pa, pb, pm) for scen, pa, pb, pm in synth_pairs(args.synth)}
    scores = {}
    for scen, (pa, pb, pm) in pairs.items():
        run_otb(pa, pb, work / f"{scen}_otb.tif")
        run_ours(pa, pb, work / f"{scen}_ours")
        with rasterio.open(work / f"{scen}_ours" / "change.tif") as ds:
            ours = ds.read(1)
        with rasterio.open(pm) as ds:
            truth = ds.read(1)
        scores[scen] = {"otb": otb_significance(work / f"{scen}_otb.tif"), "ours": ours, "truth": truth}
    rows = []
    if "withdrawal" in scores and "steady" in scores:
        w, s = scores["withdrawal"], scores["steady"]
        det_ours = flagged(w["ours"], 3.0)[w["truth"] == 1].mean()
        for name in ("otb", "ours"):
            fa_nominal = flagged(s[name], 3.0)[s["truth"] == 0].mean()
            det_nominal = flagged(w[name], 3.0)[w["truth"] == 1].mean()
            lvl = level_for_detection(w[name], w["truth"], det_ours)
            fa_matched = flagged(s[name], lvl)[s["truth"] == 0].mean()
            auc = roc_auc(w[name], w["truth"])
            rows.append(["OTB MAD (chi-square of its variates)" if name == "otb" else "posturewatch robust",
                         fa_nominal, det_nominal, fa_matched, auc])
        print_table("synth minibase: false alarms on steady (fraction of unchanged pixels flagged)",
                    ["method", "FA steady @0.1%", "detected withdrawal @0.1%",
                     f"FA steady @ detection {det_ours:.3f}", "pixel ROC-AUC withdrawal"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
