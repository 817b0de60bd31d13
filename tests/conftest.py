"""Shared test fixtures: generated sample scenes and the optional real data beside the repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real imagery, research-only); tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture()
def sample_pair(tmp_path: Path):
    """Before/after Maxar-style GeoTIFFs whose content differs by a known sub-pixel shift."""
    from imagery.samples import write_sample_scene

    a = write_sample_scene(tmp_path / "before_2024-12-12.tif", size=384)
    b = write_sample_scene(tmp_path / "after_2024-12-13.tif", size=384, shift=(1.37, -0.62))
    return a, b


@pytest.fixture(scope="session")
def minibase(tmp_path_factory) -> dict:
    """A three-date withdrawal series of the small test site (rendered once per session)."""
    from imagery.synth import generate

    out = tmp_path_factory.mktemp("minibase")
    manifest = generate("withdrawal", 3, out, dates=3, site="minibase")
    return {"dir": out, "images": [out / d["image"] for d in manifest["dates"]], "manifest": manifest}


@pytest.fixture(scope="session")
def minibase_steady(tmp_path_factory) -> dict:
    """A steady pair of the small test site: nothing moves, everything else differs."""
    from imagery.synth import generate

    out = tmp_path_factory.mktemp("minibase_steady")
    manifest = generate("steady", 4, out, dates=2, site="minibase")
    return {"dir": out, "images": [out / d["image"] for d in manifest["dates"]], "manifest": manifest}


@pytest.fixture()
def shipped_copy(tmp_path: Path) -> Path:
    """The shipped weights copied to ``tmp_path/base.pt`` with their checksum file: the base a
    second-stage trainer extends in a test."""
    from detect.infer import SHIPPED_WEIGHTS
    from detect.model import checksum_path

    dst = tmp_path / "base.pt"
    shutil.copy(SHIPPED_WEIGHTS, dst)
    checksum_path(dst).write_text(checksum_path(SHIPPED_WEIGHTS).read_text().replace(SHIPPED_WEIGHTS.name, dst.name))
    return dst
