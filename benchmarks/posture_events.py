"""Posture events end to end: does the pipeline report what the synthetic script staged, and
nothing on steady pairs?

For each seed it renders a Khmeimim withdrawal pair and a steady pair (``imagery.synth``), runs
the whole pipeline (``detect.pipeline.run_pair``, shipped weights, CPU) and scores the reported
events against the scenario's truth events (``detect.change.truth.score_events``: same kind
within 30 m). Prints recall per event kind, the staged events missed by kind and type,
precision, every false event, the events and score on the steady pairs, how many true and false
events a stricter ``min_confidence`` would keep, and the same figures with the presence
safeguards switched off (``--ablate``), so that what the hysteresis and persistence checks buy
is measured in the same run.

    python benchmarks/posture_events.py --seeds 0 1 2 --steady-seeds 11 12 13 14 --ablate [--json out.json]

Withdrawal seeds 0-10 and steady 11-22 were looked at while the posture thresholds were chosen;
withdrawal 11-15 and steady 23-27 only for the shadow check (its false events there were among
those it was designed on); the ``reinforcement`` scenario (launchers deployed, rotors refitted,
noses lowered, aircraft arriving) never. Withdrawal 16-23 and steady 28-35 were looked at in
later rounds (launcher floors, Ka-52 misses); withdrawal 24-39 and steady 36-51 were first
rendered on 2026-12-06, after every threshold was chosen (steady 44 then shaped the launchers'
lean-line search); withdrawal 40-47 and steady 52-59 later that day, before that search, which
was checked on them (steady 57 and 58 then shaped the 3.5 m^2 tall-shadow veto, and the trees of
56 and 58 the sure reading asked of a launcher outside the SAM site); withdrawal 60-67 and
steady 68-75 later still, before that veto and the changed-box NCC limit, which were checked on
them (``launcher_gates.py`` reads every launcher's gate figures); withdrawal 80-87 and steady
88-95 on 2026-12-07, after every shipped threshold, to judge rules tried that day (none
shipped); withdrawal 96-103 and steady 104-111 that afternoon, after the air-defence type
classifier and the 91N6E's gates were shipped. Every threshold up to 2026-12-06 evening was
chosen on detections made at the site AOI's old grid phase; since that night the detector's
grid sits on the image's 32 px lattice, a fresh draw of its errors on the same scenes
(RESULTS.md, grid-phase entry):

    python benchmarks/posture_events.py --seeds $(seq 0 15) --steady-seeds $(seq 11 27)
    python benchmarks/posture_events.py --seeds $(seq 24 39) --steady-seeds $(seq 36 51)
    python benchmarks/posture_events.py --seeds $(seq 40 47) --steady-seeds $(seq 52 59)
    python benchmarks/posture_events.py --seeds $(seq 60 67) --steady-seeds $(seq 68 75)
    python benchmarks/posture_events.py --seeds $(seq 80 87) --steady-seeds $(seq 88 95)
    python benchmarks/posture_events.py --seeds $(seq 96 103) --steady-seeds $(seq 104 111)
    python benchmarks/posture_events.py --scenario reinforcement --seeds 0 1 2 3 --steady-seeds

How much of a difference between two runs is noise? ``--grid-phase P`` starts the detector's
grid P px before the image's 32 px lattice, so every object falls elsewhere on the network's
stride grid (the same scenes, a fresh draw of the detector's errors); ``--compare OTHER_WORK``
lists the staged events found in one run and not the other, and the false events of each:

    python benchmarks/posture_events.py --work A --seeds $(seq 0 15) --steady-seeds $(seq 11 27)
    python benchmarks/posture_events.py --work B --grid-phase 16 --compare A \
        --seeds $(seq 0 15) --steady-seeds $(seq 11 27)

Judge a rule or a detector on two phases at once (phases 0 and 16 share their offsets at strides
2-16 and agree closely; an odd phase is an independent draw): ``--grid-phase 0 9`` runs every
pair at both (phase 9's run folders are ``run_p9_NAME`` in the same work folder), prints each,
then their sum and how many staged events the two phases disagree on:

    python benchmarks/posture_events.py --grid-phase 0 9 --seeds $(seq 0 15) --steady-seeds $(seq 11 27)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def scene_folder(work: Path, scenario: str, seed: int) -> Path:
    """``WORK/SCENARIO_SEED``, the Khmeimim pair of that scenario and seed, rendered when missing
    (benchmarks/state_reads.py reads the same folders)."""
    from imagery.synth import generate

    scene = work / f"{scenario}_{seed}"
    if not (scene / "scene.json").is_file():
        generate(scenario, seed, scene, dates=2, site="khmeimim", start_date="2024-12-12")
    return scene


def _run(scenario: str, seed: int, work: Path, posture: str | None, weights: str | None,
         detector_config: str | None = None, phase: int = 0) -> tuple[dict[str, Any], list[dict]]:
    from detect.change.truth import load_truth_events
    from detect.pipeline import RunOptions, run_pair

    scene = scene_folder(work, scenario, seed)
    manifest = json.loads((scene / "scene.json").read_text())
    before, after = (scene / d["image"] for d in manifest["dates"])
    # One run folder per pair: the ablated variant reuses its detections and change raster
    # (finished stages are skipped) and only redoes the posture stage.
    out = work / f"{run_prefix(phase)}{scenario}_{seed}"
    opts = RunOptions(site="khmeimim", progress=False, report=False, weights=weights,
                      detector_config=detector_config)
    if posture:
        opts.posture_config = posture
    result = run_pair(before, after, out, opts)
    truth = load_truth_events(scene / manifest["transitions"][0]["events"])
    return result.report, truth


def sits_on(scene: Path, points: list[tuple[float, float]]) -> list[tuple[str, float] | None]:
    """For each map point, the labelled object it sits on (type, distance): the nearest within
    15 m on either date of the scene's truth, else None. What the pipeline took for a change."""
    import geopandas as gpd
    import numpy as np

    if not points:
        return []
    truth = gpd.read_file(scene / "truth.gpkg")
    cx, cy = truth.geometry.centroid.x.to_numpy(), truth.geometry.centroid.y.to_numpy()
    out: list[tuple[str, float] | None] = []
    for x, y in points:
        d = np.hypot(cx - x, cy - y)
        k = int(d.argmin()) if len(d) else -1
        out.append((str(truth["type"].iloc[k]), float(d[k])) if k >= 0 and d[k] <= 15 else None)
    return out


def _label(pair: str, event: dict[str, Any], scene: Path) -> str:
    """A false event, and the labelled object it sits on (:func:`sits_on`)."""
    hit = sits_on(scene, [(event["x"], event["y"])])[0]
    on = f"on a {hit[0]} ({hit[1]:.0f} m)" if hit else "on nothing labelled"
    read = (f", read as {event['equipment']} ({event['equipment_probability']:.2f})"
            if event.get("equipment") else "")
    return (f"{pair}: {event['kind']} {event['class']} {event['confidence']:.2f}"
            f" ({event.get('zone') or 'no zone'}), {on}{read}")


def run_prefix(phase: int) -> str:
    """Run folders of grid phase 0 are ``run_NAME`` (as before phases existed), of phase P
    ``run_pP_NAME``: both phases' runs share one work folder and its scenes."""
    return "run_" if phase == 0 else f"run_p{phase}_"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95 % Wilson interval of a proportion k/n: with ~100 staged events a recall of 0.63 is
    0.53-0.72, so two detectors a few events apart are not told apart (events of one scene are
    not independent either, so the true interval is wider still)."""
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / d
    return round(c - h, 3), round(c + h, 3)


def _ablated_config(work: Path) -> str:
    """configs/posture.yaml without the presence safeguards (presence check, persistence veto,
    state-shift guards, shadow check): what object matching plus changed-fraction evidence
    alone gives."""
    import yaml

    from detect.change.posture_config import load_posture_config

    doc = load_posture_config().model_dump(mode="json")
    doc["presence_check"] = False
    doc["evidence"]["max_similarity_presence"] = 1.0
    doc["state_min_shift"] = 0.0
    doc["state_min_shift_by_state"] = {}
    doc["paired_states"]["packed_shadow_m2"] = None
    path = work / "posture_ablated.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _phase_config(work: Path, base: str | None, phase: int) -> str:
    """The detector settings of ``base`` with the model grid started ``phase`` px early."""
    import yaml

    from detect.infer import load_detector_config

    doc = load_detector_config(base).model_dump(mode="json")
    doc["grid_phase_px"] = phase
    path = work / f"detector_phase{phase}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def compare_runs(here: Path, there: Path, scenario: str, seeds: list[int],
                 steady_seeds: list[int], phases: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """Staged events found in one run set and not the other, and each one's false events, over
    the pairs both have run: what changes between two runs of the same scenes (``phases``: the
    grid phase of each set's run folders)."""
    from detect.change.truth import load_truth_events, score_events

    only_here: list[str] = []
    only_there: list[str] = []
    false_here = false_there = 0
    pairs = [(scenario, s) for s in seeds] + [("steady", s) for s in steady_seeds]
    for kind, seed in pairs:
        name = f"{kind}_{seed}"
        try:
            reports = [json.loads((w / f"{run_prefix(p)}{name}" / "report.json").read_text())
                       for w, p in zip((here, there), phases, strict=True)]
        except OSError:
            continue
        if kind == "steady":
            false_here += len(reports[0]["events"])
            false_there += len(reports[1]["events"])
            continue
        scene = here / name
        manifest = json.loads((scene / "scene.json").read_text())
        truth = load_truth_events(scene / manifest["transitions"][0]["events"])
        checks = [score_events(r["events"], truth) for r in reports]
        a, b = ([t not in c["missed"] for t in truth] for c in checks)
        for t, x, y in zip(truth, a, b, strict=True):
            label = f"{name} {t['kind']} {t.get('type') or t.get('class', '')}".strip()
            if x and not y:
                only_here.append(label)
            elif y and not x:
                only_there.append(label)
        false_here += len(checks[0]["spurious"])
        false_there += len(checks[1]["spurious"])
    return {"only_here": only_here, "only_there": only_there, "false_here": false_here,
            "false_there": false_there}


def _phases_summary(results: dict[str, Any], work: Path, args: Any, phases: list[int]) -> dict[str, Any]:
    """The default posture settings' figures summed over the grid phases, and which staged
    events the phases disagree on: a rule judged on one phase is judged within this noise."""
    runs = [r for r in results.values() if r.get("variant") == "default"]
    matched = sum(r["counts"]["matched"] for r in runs)
    staged = sum(r["counts"]["staged"] for r in runs)
    false_withdrawal = sum(r["counts"]["reported"] - r["counts"]["matched"] for r in runs)
    false_steady = sum(s["events"] for r in runs for s in r["steady"])
    flips = {p: compare_runs(work, work, args.scenario, args.seeds, args.steady_seeds, (phases[0], p))
             for p in phases[1:]}
    summary = {"phases": phases, "matched": matched, "staged": staged,
               "false_events": {"scenario": false_withdrawal, "steady": false_steady},
               "steady_pairs_with_events": [sum(s["events"] > 0 for s in r["steady"]) for r in runs],
               "found_at_one_phase_only": {str(p): len(c["only_here"]) + len(c["only_there"])
                                           for p, c in flips.items()}}
    print(f"== default, grid phases {' + '.join(map(str, phases))} together: {matched}/{staged} staged "
          f"events found, false events {false_withdrawal} on the {args.scenario} pairs and "
          f"{false_steady} on the steady pairs (pairs with one, per phase: "
          f"{', '.join(map(str, summary['steady_pairs_with_events']))}); staged events found at one "
          "phase and not the other: "
          + ", ".join(f"{phases[0]} vs {k}: {v}" for k, v in summary["found_at_one_phase_only"].items()))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="withdrawal", choices=["withdrawal", "reinforcement"],
                    help="the scripted pairs scored for recall and precision")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--steady-seeds", type=int, nargs="*", default=[11, 12, 13, 14])
    ap.add_argument("--ablate", action="store_true", help="also run without the presence safeguards")
    ap.add_argument("--work", default=None, help="keep scenes and runs here (default: a temp dir)")
    ap.add_argument("--weights", default=None, help="detector weights (default: the shipped ones)")
    ap.add_argument("--detector-config", default=None,
                    help="detector settings (default: configs/detector.yaml), e.g. one with heat_flips")
    ap.add_argument("--posture", default=None,
                    help="posture settings to score (default: configs/posture.yaml); the "
                         "detections and change rasters of --work are reused")
    ap.add_argument("--grid-phase", type=int, nargs="+", default=[0], metavar="P",
                    help="start the detector's grid P px (0-31) before the image's 32 px lattice; "
                         "several phases (e.g. 0 9) run every pair at each, a fresh draw of the "
                         "detector's errors, and are summed")
    ap.add_argument("--compare", default=None, metavar="OTHER_WORK",
                    help="list the staged events found here and not in OTHER_WORK's runs of the "
                         "same seeds, and back")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    phases = list(dict.fromkeys(args.grid_phase))
    if not all(0 <= p < 32 for p in phases):
        ap.error("--grid-phase must be 0-31")

    from detect.change.truth import score_events

    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = Path(args.work or tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    # The ablated variant runs first so that the run folders end with the default reports
    # (what --compare of a later run reads).
    variants = ([("ablated", _ablated_config(work))] if args.ablate else []) + [("default", args.posture)]
    results: dict[str, Any] = {}
    for phase, (variant, posture) in ((p, v) for p in phases for v in variants):
        det_config = _phase_config(work, args.detector_config, phase) if phase else args.detector_config
        name = variant if phases == [0] else f"{variant}, grid phase {phase}"
        per_kind_truth: Counter[str] = Counter()
        per_kind_found: Counter[str] = Counter()
        found = matched = 0
        # confidences of the true and the false events (every steady event is false): what a
        # stricter min_confidence would keep
        conf: dict[bool, list[float]] = {True: [], False: []}
        missed: Counter[str] = Counter()  # staged events not found, by kind and type
        false_events: list[str] = []
        for seed in args.seeds:
            report, truth = _run(args.scenario, seed, work, posture, args.weights, det_config, phase)
            check = score_events(report["events"], truth)
            found += check["found"]
            matched += check["matched"]
            per_kind_truth.update(t["kind"] for t in truth)
            per_kind_found.update(t["kind"] for t in truth if t not in check["missed"])
            spurious = {id(e) for e in check["spurious"]}
            missed.update(f"{t['kind']} {t.get('type') or t.get('class')}" for t in check["missed"])
            false_events += [_label(f"{args.scenario} {seed}", e, scene_folder(work, args.scenario, seed))
                             for e in check["spurious"]]
            for e in report["events"]:
                conf[id(e) not in spurious].append(e["confidence"])
        steady = []
        for seed in args.steady_seeds:
            report, _ = _run("steady", seed, work, posture, args.weights, det_config, phase)
            steady.append({"seed": seed, "events": len(report["events"]), "score": report["posture_score"]})
            conf[False] += [e["confidence"] for e in report["events"]]
            false_events += [_label(f"steady {seed}", e, scene_folder(work, "steady", seed))
                             for e in report["events"]]
        total = sum(per_kind_truth.values())
        results[name] = {
            "variant": variant,
            "grid_phase": phase,
            "scenario": args.scenario,
            "seeds": args.seeds,
            "recall": matched / total if total else None,
            "precision": matched / found if found else None,
            "counts": {"matched": matched, "staged": total, "reported": found},
            "recall_interval": wilson(matched, total),
            "precision_interval": wilson(matched, found),
            "recall_by_kind": {k: f"{per_kind_found[k]}/{n}" for k, n in sorted(per_kind_truth.items())},
            "steady": steady,
            "missed_by_type": dict(sorted(missed.items())),
            "false_events": false_events,
            "kept_at_min_confidence": {f"{t:.2f}": [sum(c >= t for c in conf[True]),
                                                    sum(c >= t for c in conf[False])]
                                       for t in (0.35, 0.40, 0.45, 0.50)},
        }
    order = sorted(results.items(), key=lambda kv: (kv[1]["variant"] != "default", kv[1]["grid_phase"]))
    for name, r in order:
        print(f"== {name}")
        c, ri, pi = r["counts"], r["recall_interval"], r["precision_interval"]
        if r["recall"] is not None:
            print(f"{r['scenario']} seeds {r['seeds']}: recall {r['recall']:.2f} "
                  f"({c['matched']}/{c['staged']}, 95 % interval {ri[0]:.2f}-{ri[1]:.2f}), precision "
                  + ("-" if r["precision"] is None else
                     f"{r['precision']:.2f} ({c['matched']}/{c['reported']}, {pi[0]:.2f}-{pi[1]:.2f})"))
        for k, v in r["recall_by_kind"].items():
            print(f"  {k:<12} {v}")
        for s in r["steady"]:
            print(f"steady seed {s['seed']}: {s['events']} event(s), posture score {s['score']}")
        if r["missed_by_type"]:
            print("missed: " + ", ".join(f"{k} {n}" for k, n in r["missed_by_type"].items()))
        for label in r["false_events"]:
            print(f"false: {label}")
        print("true / false events (steady included) kept at a stricter min_confidence: "
              + ", ".join(f"{t}: {k[0]}/{k[1]}" for t, k in r["kept_at_min_confidence"].items()))
    if len(phases) > 1:
        results["phases"] = _phases_summary(results, work, args, phases)
    if args.compare:
        cmp = compare_runs(work, Path(args.compare), args.scenario, args.seeds, args.steady_seeds,
                           (phases[0], phases[0]))
        results["compare"] = {"other": args.compare, **cmp}
        print(f"== against {args.compare} (same scenes): staged events found only here "
              f"{len(cmp['only_here'])}, only there {len(cmp['only_there'])}; false events here "
              f"{cmp['false_here']}, there {cmp['false_there']}")
        for label in cmp["only_here"]:
            print(f"  only here:  {label}")
        for label in cmp["only_there"]:
            print(f"  only there: {label}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
