"""Settings of the per-pixel change score (``configs/change.yaml``), validated by pydantic.

Every threshold and weight of the score lives here so that an analyst can see and change them;
the shipped defaults are the ones the benchmarks in ``benchmarks/change_accuracy.py`` measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from imagery.config import StrictModel, load_config


class StructureConfig(StrictModel):
    radius: int = Field(2, ge=0, le=4)
    weight_floor: float = Field(0.4, ge=0.0, le=1.0)
    onset_per_band: float = Field(1.0, ge=0.0)
    texture_floor: float = Field(0.05, gt=0.0, le=10.0)
    add_weight: float = Field(0.0, ge=0.0)


class ShadowConfig(StrictModel):
    enabled: bool = True
    dark_quantile: float = Field(0.15, gt=0.0, lt=1.0)
    ratio_max: float = Field(0.7, gt=0.0, le=1.0)
    max_height_m: float = Field(25.0, gt=0.0)
    max_search_px: int = Field(48, ge=1, le=256)
    weight: float = Field(0.0, ge=0.0, le=1.0)


class LeanConfig(StrictModel):
    enabled: bool = True
    max_height_m: float = Field(20.0, gt=0.0)
    max_search_px: int = Field(12, ge=1, le=64)


class CalibrationConfig(StrictModel):
    low_quantile: float = Field(0.5, gt=0.0, lt=1.0)
    high_quantile: float = Field(0.95, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> CalibrationConfig:
        if self.low_quantile >= self.high_quantile:
            raise ValueError("low_quantile must be below high_quantile")
        return self


class ThresholdConfig(StrictModel):
    method: Literal["significance", "otsu", "kittler"] = "significance"
    level: float = Field(3.0, gt=0.0)
    min_level: float = Field(1.3, ge=0.0)
    opening_radius: int = Field(1, ge=0, le=5)


class SampleConfig(StrictModel):
    windows: int = Field(25, ge=1, le=400)
    window_size: int = Field(256, ge=32, le=4096)
    max_pixels: int = Field(50_000, ge=1000)
    seed: int = 0


class ChecksConfig(StrictModel):
    misregistration: Literal["error", "warn"] = "error"
    tolerance_px: float = Field(0.75, ge=0.0)
    min_correlation: float = Field(0.3, ge=0.0, lt=1.0)


class OutputConfig(StrictModel):
    compress: Literal["zstd", "deflate", "lzw", "lerc", "lerc_zstd", "lerc_deflate", "none"] = "lerc"
    predictor: int | None = Field(None, ge=1, le=3)
    level: int | None = Field(None, ge=1, le=22)
    max_z_error: float = Field(0.01, ge=0.0)
    overviews: bool = True
    mask_compress: Literal["zstd", "deflate", "lzw", "none"] = "zstd"
    mask_level: int | None = Field(1, ge=1, le=22)


class TilingConfig(StrictModel):
    tile_size: int = Field(1024, ge=64, le=8192)
    workers: int = Field(2, ge=1, le=64)
    prefetch: int = Field(8, ge=1, le=64)
    batch_size: int = Field(8, ge=1, le=256)


class ChangeConfig(StrictModel):
    """The whole ``change.yaml``."""

    score: Literal["basic", "robust"] = "robust"
    projection: Literal["irmad", "difference"] = "difference"
    noise_floor: float = Field(0.03, ge=0.0, le=1.0)
    search_radius: int = Field(1, ge=0, le=3)
    search_penalty_per_band: float = Field(1.0, ge=0.0)
    structure: StructureConfig = StructureConfig()
    shadow: ShadowConfig = ShadowConfig()
    lean: LeanConfig = LeanConfig()
    smooth_radius: int = Field(1, ge=0, le=3)
    calibration: CalibrationConfig = CalibrationConfig()
    threshold: ThresholdConfig = ThresholdConfig()
    sample: SampleConfig = SampleConfig()
    checks: ChecksConfig = ChecksConfig()
    output: OutputConfig = OutputConfig()
    tiling: TilingConfig = TilingConfig()

    def basic(self) -> ChangeConfig:
        """The same settings with every robustness lever off (the plain IR-MAD chi-square)."""
        return self.model_copy(update={"score": "basic"})

    @property
    def levers(self) -> dict[str, int | bool]:
        """The effective lever settings (all off for the basic score)."""
        robust = self.score == "robust"
        return {
            "search_radius": self.search_radius if robust else 0,
            "structure_radius": self.structure.radius if robust else 0,
            "shadow": bool(robust and self.shadow.enabled),
            "lean": bool(robust and self.lean.enabled),
            "smooth_radius": self.smooth_radius if robust else 0,
        }


def load_change_config(name_or_path: str | Path | ChangeConfig | None = None) -> ChangeConfig:
    """The shipped ``change`` defaults, a path to a YAML file, or a config object as is."""
    if isinstance(name_or_path, ChangeConfig):
        return name_or_path
    return load_config(name_or_path or "change", ChangeConfig)
