"""Resumable runs: a stage is skipped when its inputs, settings and code version are unchanged
and its outputs still exist.

The record lives in ``OUT/.posturewatch/stages.json``. A stage's key hashes the identity of its
input files (path, size, modification time), its settings and the posturewatch version, so
editing a config, replacing an image or upgrading re-runs exactly the stages affected.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from imagery.atomic import atomic_write_text

STATE_DIR = ".posturewatch"


def file_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return {"path": str(p.resolve()), "missing": True}
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def stage_key(inputs: Iterable[str | os.PathLike[str]], settings: Mapping[str, Any]) -> str:
    from detect import __version__

    blob = json.dumps({"inputs": [file_identity(p) for p in inputs], "settings": settings,
                       "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class StageRecord:
    """What has been done in one output folder."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.state_dir = self.out_dir / STATE_DIR
        self.path = self.state_dir / "stages.json"
        self._lock = threading.Lock()
        try:
            self._data: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            self._data = {}

    def done(self, stage: str, key: str) -> bool:
        rec = self._data.get(stage)
        if not rec or rec.get("key") != key:
            return False
        return all((self.out_dir / o).exists() for o in rec.get("outputs", []))

    def record(self, stage: str, key: str, outputs: Iterable[str | os.PathLike[str]],
               info: Mapping[str, Any] | None = None) -> None:
        rel = [os.path.relpath(o, self.out_dir) for o in outputs]
        with self._lock:
            self._data[stage] = {"key": key, "outputs": rel, "info": dict(info or {})}
            self.state_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(self._data, indent=1, default=str))

    def info(self, stage: str) -> dict[str, Any]:
        return dict(self._data.get(stage, {}).get("info", {}))
