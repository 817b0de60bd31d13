"""YAML configs validated by pydantic, with defaults that ship inside the installed package.

The repo's top-level ``configs/`` folder is reachable as ``imagery/defaults`` (a symlink that the
wheel build turns into package data, see pyproject), so ``--site khmeimim`` works from a wheel
with no checkout beside it, and a path works for a user's own site. Every threshold the
pipeline uses lives in one of these files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imagery.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

LonLat = tuple[float, float]


class StrictModel(BaseModel):
    """Configs reject unknown keys: a typo must fail loudly, not be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_ring(ring: list[LonLat]) -> list[LonLat]:
    if len(ring) < 3:
        raise ValueError("a polygon needs at least 3 vertices")
    for lon, lat in ring:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"({lon}, {lat}) is not a lon/lat pair")
    return ring


class Zone(StrictModel):
    """A named part of the site (apron, helipad, SAM site...) used to group events and scores."""

    name: str
    kind: str = "other"
    polygon: list[LonLat] = Field(description="lon/lat ring, WGS84")
    weight: float = 1.0

    _ring = field_validator("polygon")(classmethod(lambda cls, v: _check_ring(v)))


class SiteConfig(StrictModel):
    """An airbase: where it is, its area of interest, its zones, and the synthetic layout."""

    name: str
    title: str = ""
    crs: str = Field(description="projected CRS the site is processed in, e.g. EPSG:32636")
    centre: LonLat
    aoi: list[LonLat] = Field(description="lon/lat ring, WGS84")
    zones: list[Zone] = Field(default_factory=list)
    layout: dict[str, Any] = Field(default_factory=dict,
                                   description="synthetic-scene layout, read by imagery.synth")

    _ring = field_validator("aoi")(classmethod(lambda cls, v: _check_ring(v)))


def default_config_path(kind: str, name: str) -> Path | None:
    """Path of a shipped default config (``kind`` is a subfolder such as ``sites``, or '')."""
    root = resources.files("imagery").joinpath("defaults")
    candidate = root.joinpath(kind, f"{name}.yaml") if kind else root.joinpath(f"{name}.yaml")
    path = Path(str(candidate))
    return path if path.is_file() else None


def load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None


def load_config(name_or_path: str | Path, model: type[M], *, kind: str = "") -> M:
    """Load a config by shipped name (``khmeimim``) or by path, and validate it."""
    p = Path(name_or_path)
    if not p.is_file():
        shipped = default_config_path(kind, str(name_or_path))
        if shipped is None:
            known = ", ".join(list_configs(kind)) or "none"
            raise ConfigError(f"{name_or_path}: no such config file or shipped {kind or 'config'} "
                              f"name (shipped: {known})")
        p = shipped
    data = load_yaml(p)
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: config must be a YAML mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ConfigError(f"{p}: invalid config at {loc}: {err['msg']}") from None


def list_configs(kind: str = "") -> list[str]:
    root = Path(str(resources.files("imagery").joinpath("defaults")))
    folder = root / kind if kind else root
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_site(name_or_path: str | Path) -> SiteConfig:
    return load_config(name_or_path, SiteConfig, kind="sites")
