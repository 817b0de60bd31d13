"""Synthetic Maxar-style airbase scenes and training chips.

* :func:`generate` writes a multi-date scene of a site under a scenario (``withdrawal``,
  ``reinforcement``, ``steady``): GeoTIFF/COG + IMD per date, truth boxes, change masks, posture
  events, a manifest and a preview (``posturewatch synth``).
* :class:`ChipStream` yields random training chips with oriented-box targets, in memory.

Both use one set of 2.5D object models (:mod:`imagery.synth.catalog`) and one renderer
(:mod:`imagery.synth.window`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["SCENARIOS", "Chip", "ChipStream", "generate", "khmeimim_withdrawal_pair"]

SCENARIOS = ("withdrawal", "reinforcement", "steady")

if TYPE_CHECKING:
    from imagery.synth.chips import Chip, ChipStream


def generate(
    scenario: str,
    seed: int,
    out: Any,
    size: int | None = None,
    gsd: float = 0.5,
    dates: int = 2,
    **kwargs: Any,
) -> dict[str, Any]:
    """See :func:`imagery.synth.scene.generate` (imported lazily: rendering pulls in numba)."""
    from imagery.synth.scene import generate as _generate

    return _generate(scenario, seed, out, size=size, gsd=gsd, dates=dates, **kwargs)


def khmeimim_withdrawal_pair(
    out: Any, seed: int = 0, size: int | None = None, gsd: float = 0.5, **kwargs: Any
) -> dict[str, Any]:
    """The "12 and 13 December 2024" pair: on the second date two An-124s have their noses
    raised, a Ka-52 is being dismantled, the S-400 elements are packed and some aircraft have
    left (Maxar's description, domain.md 3.3)."""
    kwargs.setdefault("start_date", "2024-12-12")
    return generate("withdrawal", seed, out, size=size, gsd=gsd, dates=2, site="khmeimim", **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("Chip", "ChipStream"):
        from imagery.synth import chips

        return getattr(chips, name)
    raise AttributeError(name)
