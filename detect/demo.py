"""``posturewatch demo``: a synthetic Khmeimim withdrawal pair (12 and 13 Dec 2024 style) run
through the whole pipeline with the shipped weights, and checked against what was staged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from detect.pipeline import PairResult, RunOptions, run_pair


def demo_scene(out: Path, *, seed: int = 0, size: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Generate (or reuse) the demo scene in ``out/scene``."""
    from imagery.synth import khmeimim_withdrawal_pair

    scene_dir = out / "scene"
    manifest_path = scene_dir / "scene.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("seed") == seed and (size is None or manifest.get("size") == size):
            return manifest
    say = (lambda msg: print(f"posturewatch: synth: {msg}", flush=True)) if progress else None
    return khmeimim_withdrawal_pair(scene_dir, seed=seed, size=size, progress=say)


def run_demo(out_dir: str | Path, *, seed: int = 0, size: int | None = None,
             options: RunOptions | None = None) -> tuple[PairResult, dict[str, Any]]:
    """Synthesise the pair, run the pipeline, score the events against the script."""
    from detect.change.truth import load_truth_events, score_events

    out = Path(out_dir)
    options = options or RunOptions(site="khmeimim")
    if options.site is None:
        options.site = "khmeimim"
    manifest = demo_scene(out, seed=seed, size=size, progress=options.progress)
    scene_dir = out / "scene"
    before = scene_dir / manifest["dates"][0]["image"]
    after = scene_dir / manifest["dates"][1]["image"]
    result = run_pair(before, after, out, options)
    truth = load_truth_events(scene_dir / manifest["transitions"][0]["events"])
    check = score_events(result.report["events"], truth)
    return result, check
