"""The plain-language sentence of each event, as an analyst would say it: the object by its
size class or its air-defence type, the zone, what happened and between which dates, with the
sun-geometry evidence when it speaks clearly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from detect.change.posture_config import PostureConfig

_NOUNS = {"transport": "transport", "fighter": "combat jet", "helicopter": "helicopter",
          "sam": "air-defence launcher", "vehicle": "vehicle", "airliner": "airliner"}


# What an analyst calls each air-defence type the type classifier names (the event's subject
# when it names it surely; detect/type_net.py).
_EQUIPMENT_NOUNS = {"S-400 TEL": "S-400 launcher", "S-400 TEL towed": "towed S-400 launcher",
                    "91N6E": "91N6E acquisition radar", "92N6E": "92N6E fire-control radar",
                    "Pantsir-S1": "Pantsir-S1 air-defence system"}


_VERBS = {
    "departed": "left",
    "arrived": "appeared",
    "nose_raised": "raised its nose visor",
    "nose_lowered": "lowered its nose visor",
    "dismantled": "was dismantled (rotor blades off)",
    "reassembled": "had its rotors refitted",
    "packed": "was packed for road transport",
    "deployed": "was deployed",
}


def date_span(d1: datetime | None, d2: datetime | None) -> str:
    """'between 12 and 13 Dec' / 'between 30 Nov and 1 Dec' / 'between the two images'."""
    if d1 is None or d2 is None:
        return "between the two images"
    if d1.year != d2.year:
        return f"between {d1.day} {d1:%b %Y} and {d2.day} {d2:%b %Y}"
    if d1.month == d2.month:
        if d1.day == d2.day:
            return f"between {d1:%H:%M} and {d2:%H:%M} UTC on {d1.day} {d1:%b}"
        return f"between {d1.day} and {d2.day} {d2:%b}"
    return f"between {d1.day} {d1:%b} and {d2.day} {d2:%b}"


def explain(kind: str, cls: str, size_name: str, zone: str | None, span: str,
            equipment: str | None = None) -> str:
    """The event in one sentence; ``equipment``: the air-defence type, named instead of the class."""
    subject = (_EQUIPMENT_NOUNS.get(equipment or "")
               or " ".join(w for w in (size_name, _NOUNS.get(cls, cls)) if w))
    subject = subject[0].upper() + subject[1:]
    where = f" on the {zone.replace('_', ' ')}" if zone else ""
    return f"{subject}{where} {_VERBS[kind]} {span}."


def article(name: str) -> str:
    """"a" or "an" for an equipment name as it is read aloud: an S-400, a 91N6E, a Pantsir."""
    spelled = len(name) > 1 and (name[1] == "-" or name[1].isupper())  # an initialism: "ess-400"
    vowel_sound = name[:1] in ("AEFHILMNORSX" if spelled else "AEIOU")
    return "an" if vowel_sound else "a"


def shadow_note(kind: str, areas: Any, cfg: PostureConfig) -> str:
    """The sun-geometry evidence of a launcher's state change in words, when it speaks clearly:
    the shadow only its raised parts can cast went away (packed) or came (deployed)."""
    if not areas or None in areas:
        return ""
    before_m2, after_m2 = areas
    pc = cfg.paired_states
    if kind == "packed" and pc.shadow_backs(after_m2, before_m2):
        return f"the shadow of its raised parts ({before_m2:.0f} m\u00b2 before) is gone"
    if kind == "deployed" and pc.shadow_backs(before_m2, after_m2):
        return f"its raised parts now cast a shadow ({after_m2:.0f} m\u00b2)"
    return ""
