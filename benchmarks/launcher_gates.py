"""Every launcher state change the posture stage could report, and which gate stops each.

The launchers' state gates (``configs/posture.yaml`` ``paired_states``: the reading's move, the
changed fraction of the box, its before/after NCC, the tall shadow on each date, the stronger
move asked outside the launchers' zones) are chosen by reading those figures for every
launcher track against the scripted events. This script runs the posture stage of
``posture_events.py``'s pairs once with every one of those gates open
(detections and change rasters of ``--work`` are reused, or made), labels each launcher event
with the scripted event it answers (same kind within 30 m), and applies the gates of each
``--posture`` config to those figures with the stage's own code
(``detect.change.launchers.paired_state_gate``) and its event floor. It prints, per config, the
true and false launcher events, which gate stopped the true ones by air-defence type, and the
false ones that pass. Only the gates' thresholds may differ between the configs compared:
settings that change the figures themselves (``lean_line_height_m``, ``shadow_low_m``, the
matching gates) need a run of their own (``posture_events.py --posture``).

    python benchmarks/launcher_gates.py --work W --seeds $(seq 0 15) --steady-seeds $(seq 11 27) \\
        --posture configs/posture.yaml my_posture.yaml [--list] [--json rows.json]
    python benchmarks/launcher_gates.py --rows rows.json --posture configs/posture.yaml other.yaml

``--grid-phase 0 9`` reads every pair at both grid phases (as ``posture_events.py``; a phase's
rows are labelled ``@pP``): gates chosen on one draw of the detector's errors fit that draw.

The run folders' ``report.json`` then hold the open-gate events; ``posture_events.py`` redoes
the posture stage (always rerun, it takes seconds) on its next pass over ``--work``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

MAX_DISTANCE_M = 30.0  # as detect.change.truth.score_events


def open_gates(cfg: Any) -> Any:
    """``cfg`` with every paired-state gate open and the launchers' event floor at 0; the tall
    shadow is still read (a veto threshold no shadow reaches), so its figure is in each event."""
    pc = cfg.paired_states.model_copy(update={
        "min_shift": 0.0, "backed_min_shift": 0.0, "min_fraction": 0.0, "backed_min_fraction": 0.0,
        "max_similarity": 1.0, "max_similarity_sure": 1.0, "backed_max_similarity": 1.0,
        "backed_max_similarity_sure": 1.0, "changed_fraction_sure": None, "packed_shadow_m2": 1e9,
        "outside_zone_min_shift": 0.0, "faint_tracks": True, "faint_needs_shadow": False,
        "type_gates": {}})
    floors = {**cfg.min_confidence_by_class, **{c: 0.0 for c in pc.classes}}
    return cfg.model_copy(update={"paired_states": pc, "min_confidence_by_class": floors})


def _nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def launcher_rows(report: dict[str, Any], truth: list[dict[str, Any]], classes: list[str],
                  pair: str) -> list[dict[str, Any]]:
    """The launcher state events of one pair's open-gate report, each with its figures and the
    scripted event it answers (None: a false one); then the scripted launcher state events
    that no event of their kind answers even with the gates open (``missing``)."""
    from detect.change.sightings import STATE_EVENTS

    kinds = {k for (cls, _), ks in STATE_EVENTS.items() if cls in classes for k in ks}
    events = [e for e in report["events"] if e["class"] in classes and e["kind"] in kinds]
    scripted = [t for t in truth if t["kind"] in kinds]
    rows = []
    for e in events:
        near = [(math.hypot(e["x"] - t["x"], e["y"] - t["y"]), k) for k, t in enumerate(scripted)
                if t["kind"] == e["kind"]]
        d, k = min(near, default=(math.inf, None))
        hit = scripted[k] if k is not None and d <= MAX_DISTANCE_M else None
        shadow = e.get("tall_shadow_m2") or [None, None]
        rows.append({"pair": pair, "kind": e["kind"], "class": e["class"], "x": e["x"], "y": e["y"],
                     "zone": e.get("zone"), "before": e["state_score_before"],
                     "after": e["state_score_after"], "changed": _nan(e.get("evidence")),
                     "similarity": _nan(e.get("similarity")),
                     "shadow_m2": [_nan(shadow[0]), _nan(shadow[1])],
                     "in_zone": e.get("in_zone"), "faint": bool(e.get("faint", False)),
                     "truth": None if hit is None else f"{pair}:{k}",
                     "type": None if hit is None else hit.get("type"),
                     "equipment": e.get("equipment"),
                     "equipment_probability": e.get("equipment_probability")})
    answered = {r["truth"] for r in rows}
    rows += [{"pair": pair, "kind": t["kind"], "type": t.get("type"), "truth": f"{pair}:{k}",
              "missing": True} for k, t in enumerate(scripted) if f"{pair}:{k}" not in answered]
    return rows


def label_false(rows: list[dict[str, Any]], scene: Path) -> None:
    """The ``type`` of each false row: the labelled object it sits on ("nothing" if none), as
    posture_events.py's false lines say."""
    from posture_events import sits_on

    false = [r for r in rows if not r.get("missing") and not r["truth"]]
    for r, hit in zip(false, sits_on(scene, [(r["x"], r["y"]) for r in false]), strict=True):
        r["type"] = hit[0] if hit else "nothing"


def verdict(row: dict[str, Any], cfg: Any) -> str:
    """"pass", or the gate that stops the row's event under ``cfg`` (with the gates of the
    air-defence type the row's track was read as, ``paired_states.type_gates``)."""
    from detect.change.launchers import paired_state_gate, typed_config

    if row.get("faint") and not cfg.paired_states.faint_tracks:
        return "faint"
    p = row.get("equipment_probability")
    cfg = typed_config(cfg, row.get("equipment"), math.nan if p is None else float(p))
    stopped, confidence, _ = paired_state_gate(row["before"], row["after"], row["changed"],
                                               row["similarity"], tuple(row["shadow_m2"]), cfg,
                                               in_zone=row.get("in_zone"), faint=bool(row.get("faint")),
                                               equipment=row.get("equipment"))
    if stopped:
        return stopped
    return "floor" if confidence < cfg.min_confidence_for(row["class"]) else "pass"


def summarise(rows: list[dict[str, Any]], cfg: Any) -> dict[str, Any]:
    events = [r for r in rows if not r.get("missing")]
    scripted = {r["truth"]: r["type"] for r in rows if r["truth"]}
    verdicts = [verdict(r, cfg) for r in events]
    found = {r["truth"] for r, v in zip(events, verdicts, strict=True) if r["truth"] and v == "pass"}
    false = [r for r, v in zip(events, verdicts, strict=True) if not r["truth"] and v == "pass"]
    named = [r for r in events if r["truth"] and r.get("equipment")]
    # why each scripted event not found was lost: the gate that stopped its event (the first,
    # where several answer it), or no event of its kind at all
    lost: dict[str, Counter[str]] = {}
    for t, typ in scripted.items():
        if t in found:
            continue
        gates = [v for r, v in zip(events, verdicts, strict=True) if r["truth"] == t]
        lost.setdefault(gates[0] if gates else "no event", Counter())[typ or "?"] += 1
    return {"scripted": len(scripted), "found": len(found),
            "found_by_type": dict(Counter(scripted[t] or "?" for t in found)),
            "scripted_by_type": dict(Counter(v or "?" for v in scripted.values())),
            "lost": {g: dict(c) for g, c in lost.items()},
            "named": len(named), "named_right": sum(r["equipment"] == r["type"] for r in named),
            "false": [{k: r.get(k) for k in ("pair", "kind", "zone", "before", "after", "changed",
                                             "similarity", "shadow_m2", "faint", "type", "equipment",
                                             "equipment_probability")} for r in false]}


def _fmt(row: dict[str, Any]) -> str:
    b, a = row["shadow_m2"]
    named = (f"  read {row['equipment']} {row['equipment_probability']:.2f}" if row.get("equipment")
             else "")
    return (f"{row['pair']:>14} {row['kind']:9} {row['before']:.2f} -> {row['after']:.2f}"
            f"  changed {row['changed']:.2f}  NCC {row['similarity']:.3f}  shadow {b:.1f} / {a:.1f} m^2"
            f"  {row.get('zone') or '-'}{'  faint' if row.get('faint') else ''}"
            f"  on {row.get('type') or '?'}{named}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=None, help="posture_events.py's work folder (made if absent)")
    ap.add_argument("--scenario", default="withdrawal", choices=["withdrawal", "reinforcement"])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--steady-seeds", type=int, nargs="*", default=[11, 12, 13, 14])
    ap.add_argument("--weights", default=None, help="detector weights (default: the shipped ones)")
    ap.add_argument("--grid-phase", type=int, nargs="+", default=[0], metavar="P",
                    help="detector grid phases to read every pair at (run folders as posture_events.py)")
    ap.add_argument("--posture", nargs="+", default=[None],
                    help="posture configs whose gates are compared (default: configs/posture.yaml); "
                         "the first also gives the figures' own settings")
    ap.add_argument("--rows", default=None,
                    help="the rows of an earlier --json instead of running the pairs (compare "
                         "other gates in seconds)")
    ap.add_argument("--list", action="store_true", help="print every launcher event with its figures")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    phases = list(dict.fromkeys(args.grid_phase))
    if not all(0 <= p < 32 for p in phases):
        ap.error("--grid-phase must be 0-31")

    import yaml
    from posture_events import _phase_config, _run

    from detect.change.posture_config import load_posture_config

    configs = [(p or "configs/posture.yaml", load_posture_config(p or "posture")) for p in args.posture]
    base = configs[0][1]
    rows: list[dict[str, Any]] = json.loads(Path(args.rows).read_text())["rows"] if args.rows else []
    pairs = [] if args.rows else ([(args.scenario, s) for s in args.seeds]
                                  + [("steady", s) for s in args.steady_seeds])
    if pairs:
        if not args.work:
            ap.error("--work is needed unless --rows is given")
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
        opened = work / "launcher_gates_open.yaml"
        opened.write_text(yaml.safe_dump(open_gates(base).model_dump(mode="json"), sort_keys=False))
    for phase in phases if pairs else []:
        det_config = _phase_config(work, None, phase) if phase else None
        for scenario, seed in pairs:
            report, truth = _run(scenario, seed, work, str(opened), args.weights, det_config, phase)
            pair = f"{scenario} {seed}" + (f"@p{phase}" if phase else "")
            mine = launcher_rows(report, truth, base.paired_states.classes, pair)
            label_false(mine, work / f"{scenario}_{seed}")
            rows += mine
            print(f"{pair}: {sum(1 for r in rows if r['pair'] == pair)} launcher rows", file=sys.stderr)
    if args.list:
        for r in rows:
            if not r.get("missing"):
                print(f"{_fmt(r)}  {'TRUE' if r['truth'] else 'FALSE'}  "
                      + "  ".join(verdict(r, c) for _, c in configs))
    results = {}
    for name, cfg in configs:
        s = summarise(rows, cfg)
        results[name] = s
        print(f"== {name}")
        by_type = ", ".join(f"{t} {s['found_by_type'].get(t, 0)}/{n}"
                            for t, n in sorted(s["scripted_by_type"].items()))
        print(f"scripted launcher events found {s['found']}/{s['scripted']} ({by_type}); "
              f"false {len(s['false'])}")
        if s["named"]:
            print(f"  air-defence type read right on {s['named_right']}/{s['named']} true launcher rows")
        for gate, c in sorted(s["lost"].items()):
            print(f"  lost to {gate}: " + ", ".join(f"{t} {n}" for t, n in sorted(c.items())))
        for f in s["false"]:
            print(f"  FALSE {_fmt(f)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "results": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
