"""Atomic file output: write to a temporary name beside the target, then rename.

A reader (a person, QGIS, a resumed run) must never see a half-written file, and a crash must
not leave one behind. ``os.replace`` is atomic on POSIX when source and target share a folder,
which is why the temporary file lives next to the destination rather than in /tmp.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from imagery.errors import InputError


def make_out_dir(path: str | os.PathLike[str]) -> Path:
    """Create an output folder (and its parents), or say in one line why it cannot be: a
    bare ``FileNotFoundError`` from ``mkdir`` reads as if an *input* were missing."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from exc
    return out


@contextlib.contextmanager
def atomic_path(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dst``; on success rename it onto ``dst``.

    The temporary name keeps the suffix of ``dst`` so that GDAL/OGR pick the right driver.
    On any exception the temporary file (and GDAL side-cars such as ``.aux.xml``) are removed.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=f".part{dst.suffix}", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers (GDAL, OGR) want to create the file themselves
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"writer did not create {tmp}")
        os.replace(tmp, dst)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".aux.xml")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def atomic_write_text(dst: str | os.PathLike[str], text: str) -> Path:
    """Write a small text file atomically (JSON reports, STAC items, sidecars)."""
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return dst


def atomic_write_bytes(dst: str | os.PathLike[str], data: bytes) -> Path:
    """Write a small binary file atomically (PNG overlays, checkpoints)."""
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)
    return dst
