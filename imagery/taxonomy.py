"""The object vocabulary shared by the generator's truth, the detector and the change stage.

Kept in ``imagery`` (which never imports torch) because the synthetic generator writes truth
in these terms and the detector and posture stages read it back; a single list avoids the two
sides drifting apart. DESIGN.md section 6 is the source.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("transport", "fighter", "helicopter", "sam", "vehicle", "airliner")

# Non-nominal states each class can take. A state of ``None`` means nominal (nose down, rotors
# on, SAM deployed); classes absent here have no state.
STATES: dict[str, tuple[str, ...]] = {
    "transport": ("nose_raised",),
    "helicopter": ("dismantled",),
    "sam": ("packed",),
}

AIRCRAFT_CLASSES: frozenset[str] = frozenset({"transport", "fighter", "helicopter", "airliner"})
# A launcher is a truck seen from above: the detector's commonest confusion on the ground.
GROUND_CLASSES: frozenset[str] = frozenset({"sam", "vehicle"})

# The air-defence equipment the detector reports as the one class ``sam``, which the second-stage
# air-defence type classifier names (detect/type_net.py) and the posture stage's launcher gates
# may be set for (configs/posture.yaml ``paired_states.type_gates``).
AIR_DEFENCE_TYPES: tuple[str, ...] = ("S-400 TEL", "S-400 TEL towed", "91N6E", "92N6E", "Pantsir-S1")


def class_index(name: str) -> int:
    """Index of a class in :data:`CLASSES`; raises ``KeyError`` with the known names."""
    try:
        return CLASSES.index(name)
    except ValueError:
        raise KeyError(f"unknown class {name!r}; known: {', '.join(CLASSES)}") from None


def state_of(cls: str) -> str | None:
    """The one non-nominal state a class can take, or ``None`` if it has none."""
    states = STATES.get(cls, ())
    return states[0] if states else None
