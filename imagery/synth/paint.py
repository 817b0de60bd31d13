"""Paint schemes and surface reflectances in the four Maxar VNIR bands (B, G, R, NIR).

Values are broadband surface reflectances (0..1). They need to be right relative to each other
more than absolutely: white paint well above weathered concrete, asphalt dark, military greens
dark in the visible and bright in the NIR (infrared-reflective paints and vegetation), shadows
lit only by the blue sky. Each object gets a scheme by sampling a family and jittering it, so no
two aircraft of one type are the same colour, as on a real apron.

A scheme maps every paint role of :mod:`imagery.synth.model` to two colours and a pattern kind:
the renderer mixes the two colours with a texture fixed on the ground: kind 0 a smooth noise
(weathering, streaks: colour b is a slightly dirtier colour a), kind 1 hard two-tone blotches and
kind 2 three-tone blotches (camouflage: b is the second colour, the mix the third).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imagery.synth.model import ROLE_INDEX, ROLES

BANDS = ("B", "G", "R", "N")

# Reflectance (B, G, R, N).
WHITE = (0.80, 0.81, 0.80, 0.78)
OFF_WHITE = (0.68, 0.70, 0.70, 0.70)
LIGHT_GREY = (0.52, 0.54, 0.54, 0.54)
MID_GREY = (0.34, 0.35, 0.35, 0.37)
DARK_GREY = (0.13, 0.13, 0.13, 0.16)
BLACK = (0.04, 0.04, 0.04, 0.05)
GLASS = (0.06, 0.07, 0.07, 0.06)
ALUMINIUM = (0.46, 0.47, 0.46, 0.45)
BLUE_GREY = (0.40, 0.39, 0.35, 0.38)
DARK_BLUE_GREY = (0.24, 0.23, 0.20, 0.26)
OLIVE = (0.07, 0.11, 0.10, 0.32)
DARK_GREEN = (0.05, 0.08, 0.06, 0.28)
BROWN = (0.08, 0.11, 0.15, 0.30)
SAND = (0.22, 0.31, 0.39, 0.46)
KHAKI = (0.14, 0.20, 0.24, 0.36)
TARP = (0.09, 0.13, 0.13, 0.30)

LIVERY = (
    (0.06, 0.06, 0.42, 0.48),  # red
    (0.36, 0.14, 0.05, 0.30),  # blue
    (0.18, 0.07, 0.03, 0.20),  # navy
    (0.05, 0.24, 0.58, 0.60),  # orange
    (0.08, 0.50, 0.60, 0.60),  # yellow
    (0.10, 0.30, 0.10, 0.32),  # green
    (0.30, 0.30, 0.07, 0.30),  # teal
    (0.25, 0.08, 0.22, 0.30),  # purple
    (0.08, 0.08, 0.08, 0.10),  # black
    (0.55, 0.45, 0.20, 0.45),  # light blue
    (0.10, 0.20, 0.40, 0.45),  # gold/brown
)

WEATHER, CAMO2, CAMO3 = 0, 1, 2


@dataclass(frozen=True)
class Scheme:
    """Colours per role: ``a`` and ``b`` (n_roles, 4 bands) and the pattern kind per role."""

    a: np.ndarray
    b: np.ndarray
    kind: np.ndarray
    name: str = ""


def _jitter(rng: np.random.Generator, colour: tuple[float, ...], amount: float) -> np.ndarray:
    c = np.asarray(colour, dtype=np.float64)
    z = rng.normal(0.0, 1.0, size=5)
    out = c * (1.0 + amount * z[0]) * (1.0 + amount * 0.4 * z[1:])
    return np.minimum(np.maximum(out, 0.01), 0.95)


_DEFAULTS = {
    "canopy": GLASS,
    "radome": DARK_GREY,
    "dark": BLACK,
    "rotor": DARK_GREY,
    "metal": MID_GREY,
    "cab": MID_GREY,
    "cargo": TARP,
    "canister": OLIVE,
    "array": DARK_GREY,
    "roof": LIGHT_GREY,
    "wall": MID_GREY,
    "berm": (0.12, 0.16, 0.21, 0.30),
    "accent": LIGHT_GREY,
}
DEFAULT_COLOURS = np.array([_DEFAULTS.get(r, MID_GREY) for r in ROLES], dtype=np.float64)
_DIRT_TINT = np.array([0.02, 0.03, 0.04, 0.05])


class SchemeBuilder:
    """Accumulates role colours; unspecified roles get sensible defaults."""

    def __init__(self, rng: np.random.Generator, name: str, dirt: float = 0.12) -> None:
        self.rng = rng
        self.name = name
        self.dirt = dirt
        n = len(ROLES)
        bright = 1.0 + rng.normal(0.0, 0.05, size=(n, 1))
        tint = 1.0 + rng.normal(0.0, 0.02, size=(n, 4))
        self.a = np.clip(DEFAULT_COLOURS * bright * tint, 0.01, 0.95)
        d = rng.uniform(0.3, 1.0, size=(n, 1)) * dirt
        self.b = np.clip(self.a * (1 - d) + _DIRT_TINT * d, 0.01, 0.95)
        self.kind = np.zeros(n, dtype=np.int64)

    def set(
        self,
        role: str,
        colour: tuple[float, ...] | np.ndarray,
        *,
        jitter: float = 0.06,
        camo: tuple[float, ...] | None = None,
        three: bool = False,
    ) -> SchemeBuilder:
        i = ROLE_INDEX[role]
        a = _jitter(self.rng, tuple(colour), jitter)
        self.a[i] = a
        if camo is not None:
            self.b[i] = _jitter(self.rng, camo, jitter)
            self.kind[i] = CAMO3 if three else CAMO2
        else:
            # weathering: a dirtier, slightly darker/browner version of the same paint
            dirt = self.rng.uniform(0.3, 1.0) * self.dirt
            self.b[i] = np.clip(a * (1 - dirt) + _DIRT_TINT * dirt, 0.01, 0.95)
            self.kind[i] = WEATHER
        return self

    def same(self, role: str, like: str) -> SchemeBuilder:
        i, j = ROLE_INDEX[role], ROLE_INDEX[like]
        self.a[i], self.b[i], self.kind[i] = self.a[j], self.b[j], self.kind[j]
        return self

    def build(self) -> Scheme:
        return Scheme(self.a.copy(), self.b.copy(), self.kind.copy(), self.name)


def airliner_scheme(rng: np.random.Generator) -> Scheme:
    """White (most), grey or coloured fuselages, a coloured tail, grey wings."""
    s = SchemeBuilder(rng, "airline", dirt=0.10)
    r = rng.random()
    livery = LIVERY[rng.integers(len(LIVERY))]
    if r < 0.68:
        s.set("body", WHITE, jitter=0.04)
    elif r < 0.82:
        s.set("body", LIGHT_GREY if rng.random() < 0.5 else OFF_WHITE, jitter=0.05)
    elif r < 0.92:
        s.set("body", LIVERY[rng.integers(len(LIVERY) - 2)], jitter=0.08)
    else:
        s.set("body", ALUMINIUM, jitter=0.05)
    s.set("wing", (OFF_WHITE, LIGHT_GREY, MID_GREY)[rng.choice(3, p=[0.4, 0.45, 0.15])], jitter=0.06)
    s.set("engine", WHITE if rng.random() < 0.5 else livery if rng.random() < 0.5 else LIGHT_GREY)
    s.set("tail", livery if rng.random() < 0.85 else WHITE, jitter=0.08)
    s.set("stripe", livery if rng.random() < 0.08 else tuple(s.a[ROLE_INDEX["body"]]), jitter=0.03)
    s.set("radome", DARK_GREY if rng.random() < 0.3 else tuple(s.a[ROLE_INDEX["body"]]), jitter=0.04)
    s.set("accent", livery)
    return s.build()


def military_transport_scheme(rng: np.random.Generator) -> Scheme:
    """Russian Aerospace Forces transports: grey/white, some with a blue cheatline, a few
    two-tone grey."""
    s = SchemeBuilder(rng, "mil_transport", dirt=0.16)
    top = (WHITE, OFF_WHITE, LIGHT_GREY, MID_GREY)[rng.choice(4, p=[0.3, 0.3, 0.3, 0.1])]
    s.set("body", top, jitter=0.05)
    s.set("wing", LIGHT_GREY if rng.random() < 0.6 else MID_GREY)
    s.set("engine", LIGHT_GREY)
    s.set("tail", top if rng.random() < 0.6 else (0.30, 0.14, 0.06, 0.30))
    s.set("stripe", top)
    s.set("radome", DARK_GREY if rng.random() < 0.5 else top)
    s.set("metal", ALUMINIUM)
    s.set("canopy", GLASS)
    return s.build()


def fighter_scheme(rng: np.random.Generator, family: str) -> Scheme:
    s = SchemeBuilder(rng, f"fighter_{family}", dirt=0.18)
    if family == "bluegrey":  # Su-35, Su-30SM, Su-34 two-tone blue/grey
        s.set("body", BLUE_GREY, camo=DARK_BLUE_GREY, jitter=0.07)
        s.same("wing", "body").same("tail", "body")
    elif family == "grey":
        s.set("body", MID_GREY if rng.random() < 0.5 else LIGHT_GREY, jitter=0.06)
        s.same("wing", "body").same("tail", "body")
    elif family == "camo":  # Su-25, older Su-24: brown/green/sand
        s.set("body", BROWN, camo=OLIVE if rng.random() < 0.5 else SAND, three=rng.random() < 0.5)
        s.same("wing", "body").same("tail", "body")
    else:
        raise ValueError(family)
    s.set("engine", DARK_GREY)
    s.set("radome", (0.30, 0.30, 0.28, 0.32) if rng.random() < 0.5 else DARK_GREY)
    s.set("canopy", GLASS)
    s.set("dark", BLACK)
    s.set("stripe", tuple(s.a[ROLE_INDEX["body"]]))
    return s.build()


def helicopter_scheme(rng: np.random.Generator, family: str) -> Scheme:
    s = SchemeBuilder(rng, f"heli_{family}", dirt=0.18)
    if family == "dark":  # Ka-52, Mi-28N: dark grey/green
        s.set("body", (0.10, 0.12, 0.11, 0.22) if rng.random() < 0.5 else DARK_GREY, jitter=0.08)
    elif family == "camo":
        s.set("body", OLIVE, camo=BROWN if rng.random() < 0.5 else SAND, three=rng.random() < 0.4)
    elif family == "grey":
        s.set("body", MID_GREY if rng.random() < 0.5 else BLUE_GREY)
    else:
        raise ValueError(family)
    s.same("wing", "body").same("tail", "body").same("engine", "body").same("stripe", "body")
    s.set("rotor", DARK_GREY if rng.random() < 0.7 else BLACK)
    s.set("canopy", GLASS)
    return s.build()


def vehicle_scheme(rng: np.random.Generator, family: str) -> Scheme:
    s = SchemeBuilder(rng, f"vehicle_{family}", dirt=0.2)
    if family == "military":
        base = (OLIVE, KHAKI, SAND, DARK_GREEN)[rng.integers(4)]
        if rng.random() < 0.35:
            s.set("body", base, camo=(BROWN, SAND, BLACK)[rng.integers(3)], three=rng.random() < 0.4)
        else:
            s.set("body", base)
        s.same("cab", "body")
        s.set("cargo", TARP if rng.random() < 0.6 else base)
        s.same("canister", "body")
        s.set("array", DARK_GREY)
    elif family == "gse":  # airport ground support: yellow, white, orange, grey
        colour = (
            (0.08, 0.50, 0.60, 0.60),
            WHITE,
            (0.05, 0.24, 0.58, 0.60),
            LIGHT_GREY,
            (0.06, 0.06, 0.42, 0.48),
        )[rng.choice(5, p=[0.3, 0.4, 0.1, 0.15, 0.05])]
        s.set("body", colour)
        s.same("cab", "body")
        s.set("cargo", (WHITE, LIGHT_GREY, ALUMINIUM, colour)[rng.integers(4)])
    elif family == "civil":  # cars, vans, buses, trucks
        colour = (WHITE, LIGHT_GREY, MID_GREY, BLACK, DARK_GREY, *LIVERY)[rng.integers(5 + len(LIVERY))]
        s.set("body", colour)
        s.same("cab", "body")
        s.set("cargo", (WHITE, LIGHT_GREY, colour)[rng.integers(3)])
    else:
        raise ValueError(family)
    s.set("canopy", GLASS)
    s.set("metal", DARK_GREY)
    return s.build()


def structure_scheme(rng: np.random.Generator) -> Scheme:
    s = SchemeBuilder(rng, "structure", dirt=0.15)
    roof = (
        LIGHT_GREY,
        MID_GREY,
        OFF_WHITE,
        ALUMINIUM,
        (0.12, 0.16, 0.24, 0.30),
        (0.30, 0.28, 0.24, 0.3),
        (0.20, 0.22, 0.30, 0.34),
        (0.06, 0.09, 0.30, 0.35),
    )
    s.set("roof", roof[rng.integers(len(roof))], jitter=0.08)
    s.set("wall", (LIGHT_GREY, MID_GREY, (0.28, 0.31, 0.34, 0.36))[rng.integers(3)])
    s.set("body", (WHITE, LIGHT_GREY, OFF_WHITE, MID_GREY)[rng.integers(4)])
    s.set("metal", (LIGHT_GREY, MID_GREY, ALUMINIUM)[rng.integers(3)])
    s.set("canopy", GLASS)
    s.set(
        "berm",
        ((0.12, 0.16, 0.21, 0.30), (0.16, 0.22, 0.28, 0.34), (0.10, 0.13, 0.16, 0.26))[rng.integers(3)],
    )
    s.set("dark", DARK_GREY)
    s.set("cargo", LIVERY[rng.integers(len(LIVERY))])
    s.set("accent", (WHITE, (0.08, 0.50, 0.60, 0.60), (0.06, 0.06, 0.42, 0.48))[rng.integers(3)])
    return s.build()


def greenhouse_scheme(rng: np.random.Generator) -> Scheme:
    """Plastic-film greenhouses: bright, slightly translucent white, very common around Latakia."""
    s = SchemeBuilder(rng, "greenhouse", dirt=0.25)
    s.set("roof", (0.55, 0.58, 0.58, 0.60) if rng.random() < 0.7 else (0.40, 0.44, 0.44, 0.50), jitter=0.08)
    return s.build()


def tree_scheme(rng: np.random.Generator) -> Scheme:
    """Foliage: dark in the visible, bright in the NIR, with a rough two-tone texture."""
    s = SchemeBuilder(rng, "tree", dirt=0.0)
    leaf = ((0.04, 0.07, 0.05, 0.38), (0.05, 0.08, 0.07, 0.33), (0.05, 0.07, 0.06, 0.28))[rng.integers(3)]
    s.set("body", leaf, camo=(0.03, 0.05, 0.04, 0.30), jitter=0.12)
    return s.build()


def jet_bridge_scheme(rng: np.random.Generator) -> Scheme:
    """Passenger boarding bridges: light grey or white metal roofs, grey glazed sides."""
    s = SchemeBuilder(rng, "jet_bridge", dirt=0.15)
    s.set("roof", (LIGHT_GREY, OFF_WHITE, ALUMINIUM)[rng.integers(3)], jitter=0.05)
    s.set("wall", (0.22, 0.24, 0.26, 0.25), jitter=0.08)
    s.set("metal", MID_GREY)
    return s.build()
