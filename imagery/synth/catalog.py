"""Every object type the generator knows: class, real dimensions, how to build it, its paint.

Dimensions come from ../shared/research/domain.md section 2 (military types; [U] there means an
estimate) and public type data for civil aircraft (length x span x height, metres). The builders
jitter proportions a few per cent per instance.

``make_object(type_name, state, rng)`` returns an :class:`ObjectSpec`: the compiled model, a paint
scheme, the truth box (length, width), the class and the state. ``state`` is ``None`` (nominal)
or the class's non-nominal state (imagery.taxonomy.STATES): ``nose_raised`` (An-124 only: visor
up, front ramp down; the rear ramp is lowered too), ``dismantled`` (helicopters) or ``packed``
(SAM launchers and radars).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from imagery.synth import paint
from imagery.synth.aircraft import Engine, Fighter, FixedWing, build_fighter, build_fixed_wing, jitter
from imagery.synth.model import CompiledModel, Model
from imagery.synth.rotorcraft import Heli, box_width, build_helicopter
from imagery.synth.structures import (
    building,
    canopy_shade,
    container,
    fuel_tank,
    hangar,
    jet_bridge,
    mast,
    revetment,
    shelter,
    tent,
    tower_block,
    tree,
)
from imagery.synth.vehicles import (
    Truck,
    build_armour,
    build_cart_train,
    build_launcher,
    build_pantsir,
    build_radar,
    build_truck,
)

E = Engine


@dataclass(frozen=True)
class TypeSpec:
    name: str
    cls: str | None  # taxonomy class, None for unlabelled distractors
    kind: str  # fixed | fighter | heli | truck | launcher | radar | ...
    params: object = None
    scheme: str = "airline"
    states: tuple[str, ...] = ()  # non-nominal states this type can show
    weight: float = 1.0  # relative frequency within its class in random chips
    ref_height: float = 1.5  # height whose lean the truth box follows


@dataclass(frozen=True)
class ObjectSpec:
    type: str
    cls: str | None
    state: str | None
    model: CompiledModel
    scheme: paint.Scheme
    length: float
    width: float
    ref_height: float


def _fw(
    name: str, cls: str, scheme: str, weight: float = 1.0, states: tuple[str, ...] = (), **kw: object
) -> TypeSpec:
    p = FixedWing(**kw)  # type: ignore[arg-type]
    ref = p.belly + (p.fus_height or p.fus_width * 1.05) * 0.5
    return TypeSpec(name, cls, "fixed", p, scheme, states, weight, ref)


NB = dict(nose=0.085, tail=0.22, nose_power=0.45)  # narrow-body proportions
WB = dict(nose=0.075, tail=0.2, nose_power=0.42)  # wide-body

TYPES: dict[str, TypeSpec] = {
    t.name: t
    for t in [
        # ---- military transports ---------------------------------------------------------------
        _fw(
            "An-124",
            "transport",
            "mil_transport",
            1.2,
            ("nose_raised",),
            length=69.1,
            span=73.3,
            height=21.1,
            fus_width=7.3,
            fus_height=8.0,
            belly=1.0,
            high_wing=True,
            wing_x=0.37,
            root_chord=13.5,
            tip_chord=4.0,
            sweep=33,
            engines=(E("pod", 10.4, 5.6, 3.0), E("pod", 18.6, 5.6, 3.0)),
            nose=0.09,
            nose_power=0.55,
            tail=0.3,
            tail_width=0.1,
            htail_span=25.0,
            htail_chord=0.12,
            htail_x=0.2,
            fin_chord=0.16,
            visor=True,
            rear_ramp=True,
        ),
        _fw(
            "Il-76MD",
            "transport",
            "mil_transport",
            1.5,
            length=46.6,
            span=50.5,
            height=14.76,
            fus_width=4.8,
            fus_height=5.3,
            belly=1.2,
            high_wing=True,
            wing_x=0.38,
            root_chord=9.0,
            tip_chord=3.0,
            sweep=28,
            engines=(E("pod", 7.6, 5.4, 1.9), E("pod", 13.6, 5.4, 1.9)),
            nose=0.08,
            nose_power=0.6,
            tail=0.27,
            t_tail=True,
            htail_span=17.4,
            htail_chord=0.1,
            glazed_nose=True,
            rear_ramp=True,
            fin_chord=0.17,
        ),
        _fw(
            "An-26",
            "transport",
            "mil_transport",
            1.0,
            length=23.8,
            span=29.2,
            height=8.58,
            fus_width=2.9,
            belly=0.9,
            high_wing=True,
            wing_x=0.38,
            root_chord=3.6,
            tip_chord=1.4,
            sweep=7,
            engines=(E("prop", 3.9, 6.0, 1.3, blades=4),),
            nose=0.1,
            nose_power=0.5,
            tail=0.3,
            htail_span=10.0,
            htail_chord=0.11,
            glazed_nose=True,
            rear_ramp=True,
            fin_chord=0.2,
        ),
        _fw(
            "An-72",
            "transport",
            "mil_transport",
            0.7,
            length=28.07,
            span=31.89,
            height=8.65,
            fus_width=3.1,
            belly=0.9,
            high_wing=True,
            wing_x=0.36,
            root_chord=4.6,
            tip_chord=1.6,
            sweep=17,
            engines=(E("top", 2.9, 5.6, 1.7),),
            nose=0.09,
            tail=0.3,
            t_tail=True,
            htail_span=10.3,
            rear_ramp=True,
            fin_chord=0.22,
        ),
        _fw(
            "An-148",
            "transport",
            "mil_transport",
            0.5,
            length=29.13,
            span=28.91,
            height=8.19,
            fus_width=3.35,
            belly=1.0,
            high_wing=True,
            wing_x=0.38,
            root_chord=4.7,
            tip_chord=1.4,
            sweep=26,
            engines=(E("pod", 5.0, 4.2, 1.8),),
            t_tail=True,
            htail_span=10.0,
            **NB,
        ),
        _fw(
            "An-12",
            "transport",
            "mil_transport",
            0.5,
            length=33.1,
            span=38.0,
            height=10.53,
            fus_width=3.5,
            belly=1.0,
            high_wing=True,
            wing_x=0.4,
            root_chord=4.7,
            tip_chord=1.7,
            sweep=8,
            engines=(E("prop", 4.8, 5.0, 1.3, blades=4), E("prop", 9.6, 5.0, 1.3, blades=4)),
            glazed_nose=True,
            tail=0.3,
            htail_span=12.2,
            fin_chord=0.19,
            rear_ramp=True,
        ),
        _fw(
            "Tu-154M",
            "transport",
            "airline",
            0.6,
            length=47.9,
            span=37.55,
            height=11.4,
            fus_width=3.8,
            belly=1.3,
            wing_x=0.45,
            root_chord=7.5,
            tip_chord=2.0,
            sweep=38,
            engines=(E("rear", 2.6, 5.5, 1.6, x=-13.5),),
            centre_engine=True,
            t_tail=True,
            htail_span=13.4,
            gear_pods=True,
            fin_chord=0.17,
            **NB,
        ),
        _fw(
            "Il-20M",
            "transport",
            "mil_transport",
            0.5,
            length=35.9,
            span=37.4,
            height=10.17,
            fus_width=3.5,
            belly=1.3,
            wing_x=0.4,
            root_chord=5.5,
            tip_chord=1.8,
            sweep=4,
            engines=(E("prop", 4.4, 5.2, 1.3, blades=4), E("prop", 9.3, 5.2, 1.3, blades=4)),
            htail_span=11.8,
            fin_chord=0.17,
            **NB,
        ),
        # ---- airliners, business and general aviation ------------------------------------------
        _fw(
            "A319",
            "airliner",
            "airline",
            0.8,
            length=33.84,
            span=35.8,
            height=11.76,
            fus_width=3.95,
            belly=1.25,
            wing_x=0.33,
            sweep=27,
            engines=(E("pod", 5.75, 4.3, 2.2),),
            htail_span=12.45,
            winglets=True,
            **NB,
        ),
        _fw(
            "A320",
            "airliner",
            "airline",
            2.0,
            length=37.57,
            span=35.8,
            height=11.76,
            fus_width=3.95,
            belly=1.25,
            wing_x=0.36,
            sweep=27,
            engines=(E("pod", 5.75, 4.3, 2.2),),
            htail_span=12.45,
            winglets=True,
            **NB,
        ),
        _fw(
            "A321",
            "airliner",
            "airline",
            1.0,
            length=44.51,
            span=35.8,
            height=11.76,
            fus_width=3.95,
            belly=1.25,
            wing_x=0.38,
            sweep=27,
            engines=(E("pod", 5.75, 4.4, 2.3),),
            htail_span=12.45,
            **NB,
        ),
        _fw(
            "B737-800",
            "airliner",
            "airline",
            2.0,
            length=39.5,
            span=35.8,
            height=12.5,
            fus_width=3.76,
            belly=1.05,
            wing_x=0.37,
            sweep=28,
            engines=(E("pod", 4.9, 4.0, 2.1),),
            htail_span=14.35,
            winglets=True,
            **NB,
        ),
        _fw(
            "B737-700",
            "airliner",
            "airline",
            0.8,
            length=33.6,
            span=35.8,
            height=12.5,
            fus_width=3.76,
            belly=1.05,
            wing_x=0.33,
            sweep=28,
            engines=(E("pod", 4.9, 4.0, 2.1),),
            htail_span=14.35,
            **NB,
        ),
        _fw(
            "B757-200",
            "airliner",
            "airline",
            0.5,
            length=47.32,
            span=38.05,
            height=13.6,
            fus_width=3.76,
            belly=1.5,
            wing_x=0.41,
            sweep=28,
            engines=(E("pod", 6.6, 5.2, 2.4),),
            htail_span=15.2,
            **NB,
        ),
        _fw(
            "B767-300",
            "airliner",
            "airline",
            0.6,
            length=54.94,
            span=47.57,
            height=15.85,
            fus_width=5.03,
            belly=1.7,
            wing_x=0.38,
            sweep=34,
            engines=(E("pod", 7.6, 6.0, 2.9),),
            htail_span=18.6,
            **WB,
        ),
        _fw(
            "A330-300",
            "airliner",
            "airline",
            0.9,
            length=63.66,
            span=60.3,
            height=16.79,
            fus_width=5.64,
            belly=1.9,
            wing_x=0.38,
            sweep=32,
            engines=(E("pod", 9.4, 7.0, 3.1),),
            htail_span=19.4,
            winglets=True,
            **WB,
        ),
        _fw(
            "A350-900",
            "airliner",
            "airline",
            0.6,
            length=66.8,
            span=64.75,
            height=17.05,
            fus_width=5.96,
            belly=1.9,
            wing_x=0.38,
            sweep=33,
            engines=(E("pod", 9.7, 7.5, 3.4),),
            htail_span=18.8,
            **WB,
        ),
        _fw(
            "B777-300ER",
            "airliner",
            "airline",
            0.9,
            length=73.86,
            span=64.8,
            height=18.5,
            fus_width=6.2,
            belly=2.0,
            wing_x=0.4,
            sweep=33,
            engines=(E("pod", 9.8, 7.3, 4.0),),
            htail_span=21.5,
            **WB,
        ),
        _fw(
            "B787-9",
            "airliner",
            "airline",
            0.7,
            length=62.81,
            span=60.12,
            height=17.02,
            fus_width=5.77,
            belly=1.9,
            wing_x=0.38,
            sweep=33,
            engines=(E("pod", 9.8, 7.0, 3.4),),
            htail_span=19.5,
            **WB,
        ),
        _fw(
            "B747-400",
            "airliner",
            "airline",
            0.4,
            length=70.66,
            span=64.44,
            height=19.41,
            fus_width=6.5,
            belly=2.1,
            wing_x=0.4,
            sweep=38,
            engines=(E("pod", 11.8, 6.5, 2.8), E("pod", 21.0, 6.5, 2.8)),
            htail_span=22.2,
            hump=0.33,
            winglets=True,
            **WB,
        ),
        _fw(
            "A380",
            "airliner",
            "airline",
            0.2,
            length=72.72,
            span=79.75,
            height=24.09,
            fus_width=7.14,
            belly=2.4,
            wing_x=0.36,
            sweep=34,
            root_chord=17.0,
            engines=(E("pod", 14.5, 7.0, 3.2), E("pod", 25.8, 7.0, 3.0)),
            htail_span=30.4,
            **WB,
        ),
        _fw(
            "A340-600",
            "airliner",
            "airline",
            0.2,
            length=75.36,
            span=63.45,
            height=17.22,
            fus_width=5.64,
            belly=1.9,
            wing_x=0.42,
            sweep=32,
            engines=(E("pod", 11.0, 6.5, 2.9), E("pod", 19.5, 6.5, 2.9)),
            htail_span=21.5,
            winglets=True,
            **WB,
        ),
        _fw(
            "Il-96",
            "airliner",
            "airline",
            0.2,
            length=55.35,
            span=60.11,
            height=17.55,
            fus_width=6.08,
            belly=1.9,
            wing_x=0.37,
            sweep=33,
            engines=(E("pod", 10.0, 6.0, 2.5), E("pod", 18.5, 6.0, 2.5)),
            htail_span=20.6,
            winglets=True,
            **WB,
        ),
        _fw(
            "Tu-204",
            "airliner",
            "airline",
            0.2,
            length=46.14,
            span=41.8,
            height=13.88,
            fus_width=3.8,
            belly=1.4,
            wing_x=0.4,
            sweep=30,
            engines=(E("pod", 7.0, 5.5, 2.4),),
            htail_span=15.0,
            winglets=True,
            **NB,
        ),
        _fw(
            "MD-82",
            "airliner",
            "airline",
            0.3,
            length=45.06,
            span=32.87,
            height=9.04,
            fus_width=3.35,
            belly=1.0,
            wing_x=0.47,
            sweep=28,
            engines=(E("rear", 2.7, 6.0, 1.7, x=-11.5),),
            t_tail=True,
            htail_span=12.2,
            **NB,
        ),
        _fw(
            "E190",
            "airliner",
            "airline",
            0.8,
            length=36.24,
            span=28.72,
            height=10.28,
            fus_width=3.01,
            belly=1.0,
            wing_x=0.4,
            sweep=27,
            engines=(E("pod", 4.6, 3.6, 1.7),),
            htail_span=12.1,
            winglets=True,
            **NB,
        ),
        _fw(
            "E175",
            "airliner",
            "airline",
            0.5,
            length=31.68,
            span=28.65,
            height=9.86,
            fus_width=3.01,
            belly=1.0,
            wing_x=0.38,
            sweep=27,
            engines=(E("pod", 4.6, 3.6, 1.7),),
            htail_span=12.1,
            **NB,
        ),
        _fw(
            "SSJ-100",
            "airliner",
            "airline",
            0.4,
            length=29.94,
            span=27.8,
            height=10.28,
            fus_width=3.46,
            belly=1.0,
            wing_x=0.38,
            sweep=27,
            engines=(E("pod", 4.7, 3.8, 1.9),),
            htail_span=11.5,
            **NB,
        ),
        _fw(
            "CRJ900",
            "airliner",
            "airline",
            0.6,
            length=36.2,
            span=24.85,
            height=7.51,
            fus_width=2.69,
            belly=0.8,
            wing_x=0.45,
            sweep=28,
            engines=(E("rear", 2.3, 3.4, 1.4, x=-10.5),),
            t_tail=True,
            htail_span=8.5,
            winglets=True,
            **NB,
        ),
        _fw(
            "ERJ145",
            "airliner",
            "airline",
            0.4,
            length=29.87,
            span=20.04,
            height=6.76,
            fus_width=2.28,
            belly=0.8,
            wing_x=0.42,
            sweep=22,
            engines=(E("rear", 2.0, 3.2, 1.2, x=-8.5),),
            t_tail=True,
            htail_span=7.6,
            **NB,
        ),
        _fw(
            "ATR72",
            "airliner",
            "airline",
            0.9,
            length=27.17,
            span=27.05,
            height=7.65,
            fus_width=2.87,
            belly=0.9,
            high_wing=True,
            wing_x=0.43,
            root_chord=2.6,
            tip_chord=1.4,
            sweep=3,
            engines=(E("prop", 4.1, 4.6, 1.2, blades=6),),
            t_tail=True,
            htail_span=7.3,
            **NB,
        ),
        _fw(
            "Q400",
            "airliner",
            "airline",
            0.5,
            length=32.83,
            span=28.42,
            height=8.34,
            fus_width=2.69,
            belly=1.1,
            high_wing=True,
            wing_x=0.4,
            root_chord=3.0,
            tip_chord=1.3,
            sweep=3,
            engines=(E("prop", 4.3, 6.0, 1.4, blades=6),),
            t_tail=True,
            htail_span=8.0,
            **NB,
        ),
        _fw(
            "G650",
            "airliner",
            "airline",
            0.4,
            length=30.41,
            span=30.36,
            height=7.82,
            fus_width=2.6,
            belly=0.8,
            wing_x=0.45,
            sweep=36,
            engines=(E("rear", 2.3, 4.0, 1.4, x=-8.0),),
            t_tail=True,
            htail_span=9.0,
            winglets=True,
            **NB,
        ),
        _fw(
            "Falcon 7X",
            "airliner",
            "airline",
            0.3,
            length=23.19,
            span=26.21,
            height=7.83,
            fus_width=2.5,
            belly=0.7,
            wing_x=0.45,
            sweep=34,
            engines=(E("rear", 1.9, 3.3, 1.1, x=-6.5),),
            centre_engine=True,
            htail_span=8.3,
            winglets=True,
            **NB,
        ),
        _fw(
            "Learjet 45",
            "airliner",
            "airline",
            0.3,
            length=17.68,
            span=14.58,
            height=4.3,
            fus_width=1.9,
            belly=0.6,
            wing_x=0.46,
            sweep=15,
            root_chord=2.7,
            tip_chord=1.0,
            engines=(E("rear", 1.6, 2.7, 0.9, x=-4.4),),
            t_tail=True,
            htail_span=5.5,
            winglets=True,
            **NB,
        ),
        _fw(
            "Citation XLS",
            "airliner",
            "airline",
            0.3,
            length=15.79,
            span=16.98,
            height=5.24,
            fus_width=1.8,
            belly=0.6,
            wing_x=0.45,
            sweep=5,
            root_chord=2.6,
            tip_chord=1.2,
            engines=(E("rear", 1.5, 2.5, 0.9, x=-3.5),),
            htail_span=6.0,
            **NB,
        ),
        _fw(
            "King Air 350",
            "airliner",
            "airline",
            0.3,
            length=14.22,
            span=17.65,
            height=4.37,
            fus_width=1.6,
            belly=0.6,
            wing_x=0.4,
            sweep=2,
            root_chord=2.6,
            tip_chord=1.0,
            engines=(E("prop", 2.6, 3.2, 0.8, blades=4),),
            t_tail=True,
            htail_span=5.6,
            **NB,
        ),
        _fw(
            "Cessna 172",
            "airliner",
            "airline",
            0.2,
            length=8.28,
            span=11.0,
            height=2.72,
            fus_width=1.1,
            belly=0.5,
            high_wing=True,
            wing_x=0.3,
            root_chord=1.6,
            tip_chord=1.1,
            sweep=0,
            engines=(),
            nose=0.15,
            tail=0.45,
            htail_span=3.4,
            htail_chord=0.16,
            fin_chord=0.2,
            cockpit=True,
        ),
        # ---- fast jets --------------------------------------------------------------------------
        TypeSpec(
            "Su-24M",
            "fighter",
            "fighter",
            Fighter("swing", 22.67, 17.64, 6.19, sweep=16.0, twin_fin=False),
            "grey",
            (),
            1.2,
            2.5,
        ),
        TypeSpec(
            "Su-34",
            "fighter",
            "fighter",
            Fighter("flanker", 23.34, 14.7, 6.09, canards=True, duckbill=True),
            "bluegrey",
            (),
            1.2,
            2.4,
        ),
        TypeSpec(
            "Su-35S", "fighter", "fighter", Fighter("flanker", 21.9, 15.3, 5.9), "bluegrey", (), 1.0, 2.3
        ),
        TypeSpec(
            "Su-30SM",
            "fighter",
            "fighter",
            Fighter("flanker", 21.94, 14.7, 6.36, canards=True),
            "bluegrey",
            (),
            0.8,
            2.3,
        ),
        TypeSpec(
            "MiG-29", "fighter", "fighter", Fighter("flanker", 17.32, 11.36, 4.73), "grey", (), 0.4, 2.0
        ),
        TypeSpec("Su-25", "fighter", "fighter", Fighter("straight", 15.33, 14.36, 4.8), "camo", (), 1.0, 2.1),
        # ---- helicopters ------------------------------------------------------------------------
        TypeSpec(
            "Ka-52",
            "helicopter",
            "heli",
            Heli(
                13.5,
                2.1,
                14.5,
                blades=3,
                coaxial=True,
                hub=4.0,
                cabin=0.62,
                stub_span=7.3,
                chord=0.45,
                tail_planes=3.4,
            ),
            "dark",
            ("dismantled",),
            1.3,
            1.6,
        ),
        TypeSpec(
            "Mi-8",
            "helicopter",
            "heli",
            Heli(18.3, 2.5, 21.29, blades=5, hub=4.5, cabin=0.55, tail_rotor=3.9, chord=0.52, tanks=True),
            "camo",
            ("dismantled",),
            1.5,
            1.8,
        ),
        TypeSpec(
            "Mi-24",
            "helicopter",
            "heli",
            Heli(
                17.5,
                1.7,
                17.3,
                blades=5,
                hub=4.0,
                cabin=0.52,
                stub_span=6.5,
                tail_rotor=3.9,
                chord=0.58,
                tandem=True,
            ),
            "camo",
            ("dismantled",),
            1.2,
            1.6,
        ),
        TypeSpec(
            "Mi-28N",
            "helicopter",
            "heli",
            Heli(
                17.0,
                1.9,
                17.2,
                blades=5,
                hub=3.9,
                cabin=0.5,
                stub_span=4.9,
                tail_rotor=3.8,
                chord=0.67,
                tandem=True,
            ),
            "dark",
            ("dismantled",),
            0.7,
            1.6,
        ),
        # ---- air defence ------------------------------------------------------------------------
        TypeSpec("S-400 TEL", "sam", "launcher", False, "military", ("packed",), 2.0, 1.6),
        TypeSpec("S-400 TEL towed", "sam", "launcher", True, "military", ("packed",), 0.6, 1.5),
        TypeSpec("92N6E", "sam", "radar", "92N6E", "military", ("packed",), 0.8, 1.6),
        TypeSpec("91N6E", "sam", "radar", "91N6E", "military", ("packed",), 0.5, 1.5),
        TypeSpec("Pantsir-S1", "sam", "pantsir", None, "military", ("packed",), 1.0, 1.6),
        # ---- vehicles ---------------------------------------------------------------------------
        TypeSpec(
            "KamAZ truck",
            "vehicle",
            "truck",
            Truck(7.9, 2.55, cab=2.3, load="tarp", load_h=3.3),
            "military",
            weight=2.0,
        ),
        TypeSpec(
            "Ural-4320",
            "vehicle",
            "truck",
            Truck(7.4, 2.5, cab=2.6, load="tarp", load_h=3.0),
            "military",
            weight=1.5,
        ),
        TypeSpec(
            "fuel truck", "vehicle", "truck", Truck(9.0, 2.5, cab=2.3, load="tank"), "military", weight=0.8
        ),
        TypeSpec(
            "MAZ-537 lowboy",
            "vehicle",
            "truck",
            Truck(22.0, 3.2, cab=2.8, cab_h=3.1, load="flat", trailer=15.0),
            "military",
            weight=0.4,
        ),
        TypeSpec("BTR-82A", "vehicle", "armour", (7.65, 2.9, "btr"), "military", weight=0.6),
        TypeSpec("Tigr", "vehicle", "armour", (5.7, 2.4, "tigr"), "military", weight=0.6),
        TypeSpec("UAZ", "vehicle", "truck", Truck(4.1, 1.9, load="car"), "military", weight=0.6),
        TypeSpec("car", "vehicle", "truck", Truck(4.6, 1.85, load="car"), "civil", weight=1.5),
        TypeSpec("van", "vehicle", "truck", Truck(5.6, 2.0, load="car"), "civil", weight=0.7),
        TypeSpec("apron bus", "vehicle", "truck", Truck(13.0, 2.9, load="bus"), "gse", weight=0.4),
        TypeSpec("tug", "vehicle", "truck", Truck(3.4, 1.7, load="gse_low"), "gse", weight=0.8),
        TypeSpec("pushback tug", "vehicle", "truck", Truck(6.4, 2.9, load="gse_low"), "gse", weight=0.5),
        TypeSpec("belt loader", "vehicle", "truck", Truck(7.5, 2.1, cab=0.0, load="belt"), "gse", weight=0.5),
        TypeSpec(
            "catering truck",
            "vehicle",
            "truck",
            Truck(8.5, 2.5, cab=2.2, load="box", load_h=3.6),
            "gse",
            weight=0.5,
        ),
        TypeSpec(
            "stairs truck", "vehicle", "truck", Truck(7.5, 2.4, cab=2.0, load="stairs"), "gse", weight=0.3
        ),
        TypeSpec(
            "fire truck",
            "vehicle",
            "truck",
            Truck(10.5, 2.6, cab=2.6, load="box", load_h=3.2),
            "gse",
            weight=0.2,
        ),
        # ---- unlabelled distractors -------------------------------------------------------------
        TypeSpec("building", None, "building"),
        TypeSpec("tower block", None, "tower"),
        TypeSpec("hangar", None, "hangar"),
        TypeSpec("greenhouse", None, "greenhouse"),
        TypeSpec("tree", None, "tree"),
        TypeSpec("shelter", None, "shelter"),
        TypeSpec("revetment", None, "revetment"),
        TypeSpec("fuel tank", None, "tank"),
        TypeSpec("jet bridge", None, "jetbridge"),
        TypeSpec("mast", None, "mast"),
        TypeSpec("container", None, "container"),
        TypeSpec("tent", None, "tent"),
        TypeSpec("sun shade", None, "shade"),
        TypeSpec("cart train", None, "carts"),
    ]
}

LABELLED = {n: t for n, t in TYPES.items() if t.cls is not None}


def types_of(cls: str) -> list[TypeSpec]:
    return [t for t in TYPES.values() if t.cls == cls]


def _scheme(t: TypeSpec, rng: np.random.Generator) -> paint.Scheme:
    if t.kind == "fixed":
        if t.scheme == "mil_transport":
            return paint.military_transport_scheme(rng)
        return paint.airliner_scheme(rng)
    if t.kind == "fighter":
        fam = t.scheme
        if fam != "camo" and rng.random() < 0.15:
            fam = "grey"
        return paint.fighter_scheme(rng, fam)
    if t.kind == "heli":
        fam = t.scheme if rng.random() < 0.7 else ("grey" if rng.random() < 0.4 else "camo")
        return paint.helicopter_scheme(rng, fam)
    if t.kind in ("truck", "armour", "launcher", "radar", "pantsir"):
        return paint.vehicle_scheme(rng, t.scheme if t.scheme in ("military", "gse", "civil") else "military")
    if t.kind == "greenhouse":
        return paint.greenhouse_scheme(rng)
    if t.kind == "tree":
        return paint.tree_scheme(rng)
    if t.kind == "jetbridge":
        return paint.jet_bridge_scheme(rng)
    return paint.structure_scheme(rng)


def build_model(
    t: TypeSpec,
    state: str | None,
    rng: np.random.Generator,
    size: tuple[float, float] | None = None,
    stowed_ok: bool = True,
) -> tuple[Model, float, float]:
    """(model, box length, box width). ``size`` overrides the size of distractors;
    ``stowed_ok=False`` keeps packed launchers in their road configuration (scenes)."""
    k = t.kind
    if k == "fixed":
        p = jitter(t.params, rng)  # type: ignore[arg-type]
        raised = state == "nose_raised"
        return build_fixed_wing(p, nose_raised=raised, ramp_down=raised), p.length, p.span
    if k == "fighter":
        f: Fighter = t.params  # type: ignore[assignment]
        s = 1.0 + rng.normal(0.0, 0.015)
        if f.kind == "swing":
            sweep = float(rng.choice([16.0, 16.0, 35.0, 45.0, 69.0]))
            span = _su24_span(sweep, f.span)
            f = replace(f, sweep=sweep, span=span)
        f = replace(f, length=f.length * s, span=f.span * s)
        return build_fighter(f, rng), f.length, f.span
    if k == "heli":
        h: Heli = t.params  # type: ignore[assignment]
        s = 1.0 + rng.normal(0.0, 0.015)
        h = replace(h, length=h.length * s)
        return build_helicopter(h, dismantled=state == "dismantled", rng=rng), h.length, box_width(h)
    if k == "launcher":
        towed = bool(t.params)
        stowed = state == "packed" and stowed_ok and rng.random() < 0.3
        model = build_launcher(packed=state == "packed", towed=towed, stowed=stowed)
        return model, (19.0 if towed else 13.0), 3.1
    if k == "radar":
        name = str(t.params)
        L = 20.5 if name == "91N6E" else 13.5
        return build_radar(name, packed=state == "packed"), L, 3.1
    if k == "pantsir":
        return build_pantsir(packed=state == "packed"), 10.5, 2.8
    if k == "truck":
        tr: Truck = t.params  # type: ignore[assignment]
        s = 1.0 + rng.normal(0.0, 0.03)
        tr = replace(tr, length=tr.length * s)
        return build_truck(tr, rng), tr.length, tr.width
    if k == "armour":
        L, W, kind = t.params  # type: ignore[misc]
        return build_armour(L, W, kind), L, W
    # distractors
    if k == "building":
        L, W = size or (rng.uniform(10, 60), rng.uniform(8, 30))
        return building(L, W, rng.uniform(3, 14), rng), L, W
    if k == "tower":
        L, W = size or (rng.uniform(20, 60), rng.uniform(12, 25))
        return tower_block(L, W, rng.uniform(12, 30), rng), L, W
    if k == "hangar":
        L, W = size or (rng.uniform(30, 70), rng.uniform(25, 60))
        return hangar(L, W, rng.uniform(9, 18)), L, W
    if k == "greenhouse":
        L, W = size or (rng.uniform(25, 70), rng.uniform(7, 10))
        return hangar(L, W, rng.uniform(2.8, 4.0)), L, W
    if k == "tree":
        c = size[0] if size else rng.uniform(3.0, 8.0)
        return tree(c, rng.uniform(max(3.0, c * 0.8), c * 1.6)), c, c
    if k == "shelter":
        L, W = size or (rng.uniform(26, 34), rng.uniform(18, 24))
        return shelter(L, W, rng.uniform(7, 10)), L, W
    if k == "revetment":
        L, W = size or (rng.uniform(24, 32), rng.uniform(20, 26))
        return revetment(L, W, rng.uniform(3, 5), rng.uniform(4, 6)), L, W
    if k == "tank":
        r = size[0] / 2 if size else rng.uniform(4, 14)
        return fuel_tank(r, rng.uniform(6, 15)), 2 * r, 2 * r
    if k == "jetbridge":
        L = size[0] if size else rng.uniform(15, 35)
        return jet_bridge(L, rng), L, 4.4
    if k == "mast":
        return mast(rng.uniform(15, 30)), 1.0, 1.0
    if k == "container":
        L = size[0] if size else float(rng.choice([6.06, 12.19]))
        return container(L), L, 2.44
    if k == "tent":
        L, W = size or (rng.uniform(6, 14), rng.uniform(4, 7))
        return tent(L, W), L, W
    if k == "shade":
        L, W = size or (rng.uniform(25, 40), rng.uniform(20, 30))
        return canopy_shade(L, W, rng.uniform(6, 9)), L, W
    if k == "carts":
        n = int(rng.integers(2, 6))
        return build_cart_train(n, rng), 3.5 * n, 1.6
    raise ValueError(f"no builder for kind {k!r}")


def _su24_span(sweep: float, span16: float) -> float:
    """Span of the Su-24 for an outer-panel sweep: 17.64 m at 16 deg, 10.37 m at 69 deg."""
    t = (sweep - 16.0) / (69.0 - 16.0)
    return span16 + (10.37 - span16) * t


def check_state(type_name: str, state: str | None) -> TypeSpec:
    try:
        t = TYPES[type_name]
    except KeyError:
        raise KeyError(f"unknown object type {type_name!r}") from None
    if state is not None and state not in t.states:
        raise ValueError(f"{type_name} has no state {state!r} (has: {', '.join(t.states) or 'none'})")
    return t


def make_object(
    type_name: str,
    state: str | None,
    rng: np.random.Generator,
    size: tuple[float, float] | None = None,
    paint_rng: np.random.Generator | None = None,
) -> ObjectSpec:
    """A fresh instance of a type: jittered model and its own paint. Give ``paint_rng`` to keep
    the paint independent of the geometry draws (an object that changes state keeps its paint)."""
    t = check_state(type_name, state)
    model, L, W = build_model(t, state, rng, size, stowed_ok=False)
    scheme = _scheme(t, paint_rng if paint_rng is not None else rng)
    return ObjectSpec(t.name, t.cls, state, model.compile(), scheme, float(L), float(W), t.ref_height)


@lru_cache(maxsize=4096)
def cached_model(type_name: str, state: str | None, variant: int) -> tuple[CompiledModel, float, float]:
    """A model variant built from a fixed seed: the chip stream draws from a pool of these so it
    does not rebuild geometry for every object (the paint is drawn fresh each time)."""
    t = check_state(type_name, state)
    rng = np.random.default_rng([variant, len(type_name), sum(map(ord, type_name)), len(state or "")])
    model, L, W = build_model(t, state, rng)
    return model.compile(), float(L), float(W)


SCHEME_POOL = 48


@lru_cache(maxsize=512)
def _scheme_pool(type_name: str) -> tuple[paint.Scheme, ...]:
    t = TYPES[type_name]
    rng = np.random.default_rng([sum(map(ord, type_name)), len(type_name), 0x5C4E])
    return tuple(_scheme(t, rng) for _ in range(SCHEME_POOL))


def scheme_for(type_name: str, rng: np.random.Generator) -> paint.Scheme:
    """A paint scheme for the chip stream: one of a pool of full random schemes per type, with
    a fresh brightness/tint jitter (building a scheme from scratch costs ~0.2 ms, and a chip
    holds dozens of objects)."""
    base = _scheme_pool(type_name)[int(rng.integers(SCHEME_POOL))]
    z = rng.normal(0.0, 1.0, 5)
    k = (1.0 + 0.06 * z[0]) * (1.0 + 0.02 * z[1:])
    return paint.Scheme(
        np.clip(base.a * k, 0.01, 0.95), np.clip(base.b * k, 0.01, 0.95), base.kind, base.name
    )
