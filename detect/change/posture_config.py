"""Pydantic model of ``configs/posture.yaml`` (object matching, evidence, posture score)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from imagery.config import StrictModel, load_config
from imagery.taxonomy import AIR_DEFENCE_TYPES, CLASSES, STATES

EVENT_KINDS = ("departed", "arrived", "nose_raised", "nose_lowered", "dismantled", "reassembled",
               "packed", "deployed")


class MatchingConfig(StrictModel):
    min_distance_m: float = Field(8.0, gt=0)
    distance_per_length: float = Field(0.35, ge=0)
    heading_weight: float = Field(0.25, ge=0)
    size_weight: float = Field(0.4, ge=0)
    cross_class_penalty: float = Field(0.45, ge=0)
    max_cost: float = Field(1.0, gt=0)


class EvidenceConfig(StrictModel):
    full_confidence_fraction: float = Field(0.25, gt=0, le=1)
    min_fraction_presence: float = Field(0.10, ge=0, le=1)
    min_fraction_state: float = Field(0.02, ge=0, le=1)
    # per state, overriding min_fraction_state: changes of the whole object (rotor blades off,
    # launcher tubes lowered) must change most of its box
    min_fraction_by_state: dict[str, float] = Field(default_factory=dict)
    max_similarity_presence: float = Field(0.45, ge=-1, le=1)
    lean_height_m: float = Field(4.0, ge=0, le=50)
    similarity_search_m: float = Field(2.0, ge=0, le=20)
    presence_line_height_m: float = Field(12.0, ge=0, le=50)
    # a departure (arrival) is also judged at the object's other sightings of that date (second
    # peaks of its class group within the matching gate, faint ones included): the box that
    # shows the change best counts
    similarity_at_peaks: bool = False

    def min_fraction_for(self, state: str) -> float:
        return self.min_fraction_by_state.get(state, self.min_fraction_state)


# The paired-state gates an air-defence type may set for itself (PairedStatesConfig.type_gates):
# thresholds on figures read once per track, never what changes the figures.
TYPE_GATE_FIELDS = ("min_shift", "min_fraction", "max_similarity", "max_similarity_sure",
                    "changed_fraction_sure", "max_similarity_changed", "packed_shadow_m2",
                    "shadow_backed_m2", "shadow_clear_m2", "backed_min_shift", "backed_min_fraction",
                    "backed_max_similarity", "backed_max_similarity_sure", "outside_zone_min_shift")


class PairedStatesConfig(StrictModel):
    """State changes read at one box on both dates (detect/change/launchers.py)."""

    classes: list[str] = Field(default_factory=lambda: ["sam"])
    min_shift: float = Field(0.4, ge=0, le=1)
    min_fraction: float = Field(0.3, ge=0, le=1)
    max_similarity: float = Field(0.6, ge=-1, le=1)
    # a state reading that moved this far rarely comes from a change of view alone, so its box
    # need only look somewhat different (NCC at most max_similarity_sure)
    sure_shift: float = Field(0.65, ge=0, le=1)
    max_similarity_sure: float = Field(0.75, ge=-1, le=1)
    # a box whose pixels changed nearly throughout (changed fraction at least
    # changed_fraction_sure) is evidence of the change the NCC misses: a search radar's array
    # folded onto its truck changes the whole box while the box still correlates 0.6-0.75;
    # such a box need only look somewhat different (NCC at most max_similarity_changed)
    changed_fraction_sure: float | None = Field(0.75, ge=0, le=1)
    max_similarity_changed: float = Field(0.68, ge=-1, le=1)
    # the similarity search also walks the line along which the image of a point this high
    # moves between the dates' views: an erect launcher's canisters and anything on a roof lean
    # further than the 4 m of evidence.lean_height_m (0: off)
    lean_line_height_m: float = Field(12.0, ge=0, le=50)

    # packed elements stand at most ~4.2 m; a date that still shows this much shadow of parts
    # between shadow_low_m and shadow_high_m tall (detect/change/shadows.py) is not a packed one
    packed_shadow_m2: float | None = Field(3.5, ge=0)
    shadow_low_m: float = Field(5.0, gt=0)
    shadow_high_m: float = Field(11.5, gt=0)
    # a tall shadow of at least shadow_backed_m2 on one date and at most shadow_clear_m2 on the
    # other backs the state change: these gates then replace min_shift, min_fraction and the
    # similarity limit
    shadow_backed_m2: float = Field(5.0, ge=0)
    shadow_clear_m2: float = Field(1.0, ge=0)
    backed_min_shift: float = Field(0.25, ge=0, le=1)
    backed_min_fraction: float = Field(0.2, ge=0, le=1)
    backed_max_similarity: float = Field(0.75, ge=-1, le=1)
    # backed, and the reading moved by sure_shift: two independent signs of the change, so the
    # box may look more alike still (a launcher's canisters lowered onto its own chassis)
    backed_max_similarity_sure: float = Field(0.85, ge=-1, le=1)
    # what the shadow alone says for the event: its confidence is the noisy-or of this and the
    # classifier's move, so a weak reading the shadow backs is still reported
    shadow_confidence: float = Field(0.5, ge=0, le=1)
    # A tall shadow of at least sure_shadow_m2 on one date gone entirely (shadow_clear_m2) on
    # the other, in a box that changed by sure_shadow_min_fraction: the sun says the launcher
    # was raised on one date and lowered on the other, whatever the classifier reads, so its
    # reading need only move the same way (any amount; the similarity limit stays the backed
    # one). Not for faint tracks or outside the zones. None: off.
    sure_shadow_m2: float | None = Field(None, ge=0)
    sure_shadow_min_fraction: float = Field(0.5, ge=0, le=1)
    # A launcher seen on one date only whose other date holds a sighting where its image would
    # be if it stood this many metres up (on the line along which the two views lean a tall
    # point, within 2 m of it): something on a roof, seen on both dates in two places, whose
    # state read on the other date at this date's box reads ground. Its state is not compared.
    # None: off (the pair's lean must be known: object_events' ``lean_per_metre``).
    lone_elevated_m: tuple[float, float] | None = None

    # Where the site says these classes stand: zones of these kinds (configs/sites, e.g. [sam]).
    # A launcher-like object outside all of them, on a site that has such zones, is more often
    # clutter (a tree, a roof's plant, a truck) whose reading and tall shadow move with the sun
    # than a launcher, so its state change needs the reading to move by outside_zone_min_shift
    # and the shadow does not back it. [] (or a site without such zones): no zone rule.
    zone_kinds: list[str] = Field(default_factory=list)
    outside_zone_min_shift: float = Field(0.65, ge=0, le=1)
    # Launchers the detector saw only faintly (below its operating score) on both dates, at one
    # place inside a zone of zone_kinds and away from every reported ground object, are tracked
    # too; their state change is reported only when the tall shadow backs it
    # (faint_needs_shadow; false is for benchmarks/launcher_gates.py, which reads every figure
    # with the gates open).
    faint_tracks: bool = False
    faint_needs_shadow: bool = True

    # Per air-defence type, the gates above that differ for it: a launcher track whose type the
    # second-stage classifier (read on both dates, detect/type_net.py) names with at least
    # type_min_probability is gated with them. Why: each type's state change leaves its own
    # evidence (a 91N6E's folding antenna changes little of its 20 m trailer, but the shadow of
    # its raised array goes). Only thresholds may differ: the figures are read once per track.
    type_gates: dict[str, dict[str, float]] = Field(default_factory=dict)
    type_min_probability: float = Field(0.8, ge=0, le=1)
    # Per air-defence type, the tall shadow (m^2, as packed_shadow_m2) a `deployed` one shows on
    # the date it is read deployed, where the type classifier reads that type likeliest (at any
    # probability: this only vetoes). Its raised parts cast it; an unchanged radar read as such
    # a launcher has less (detect/change/launchers.py paired_state_gate).
    deployed_shadow_m2: dict[str, float] = Field(default_factory=dict)
    # The same evidence asked of a `packed` one: the tall shadow (m^2) it shows on the date it is
    # read deployed (before), where the type classifier reads that type likeliest. A launcher
    # packs from erect, so an element read packed that cast no tall shadow before was never erect.
    packing_shadow_m2: dict[str, float] = Field(default_factory=dict)
    # Air-defence types whose state the classifier cannot read (validation AUC of `packed` near
    # chance): a launcher the type classifier reads likeliest as one of them (at any probability:
    # this only vetoes) changes state only where a tall shadow that went or came backs it.
    unreadable_types: list[str] = Field(default_factory=list)

    @field_validator("deployed_shadow_m2", "packing_shadow_m2", "type_gates", "unreadable_types")
    @classmethod
    def _known_types(cls, v: Any) -> Any:
        """Type names (a list, or a table's keys) the type classifier can name."""
        unknown = set(v) - set(AIR_DEFENCE_TYPES)
        if unknown:
            raise ValueError(f"unknown air-defence types {sorted(unknown)}; "
                             f"known: {', '.join(AIR_DEFENCE_TYPES)}")
        return v

    @field_validator("type_gates")
    @classmethod
    def _known_gates(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        bad = {g for gates in v.values() for g in gates} - set(TYPE_GATE_FIELDS)
        if bad:
            raise ValueError(f"type_gates may set only {', '.join(TYPE_GATE_FIELDS)}; not {sorted(bad)}")
        return v

    def for_type(self, name: str | None, probability: float = 1.0) -> PairedStatesConfig:
        """These gates for a track the type classifier names ``name`` with ``probability``:
        that type's ``type_gates`` over the others, or these unchanged."""
        gates = self.type_gates.get(name or "") if probability >= self.type_min_probability else None
        return self.model_copy(update=gates) if gates else self

    def min_shift_floor(self, *, shadows: bool, decided: bool = True) -> float:
        """The smallest reading move any gate lets through (a type's; with ``shadows`` read, the
        shadow-backed ones too, and with ``decided`` a shadow that decides, which asks for none):
        tracks that moved less are not examined further."""
        if shadows and decided and self.sure_shadow_m2 is not None:
            return 0.0
        keys = ("min_shift", "backed_min_shift") if shadows else ("min_shift",)
        typed = [g[k] for g in self.type_gates.values() for k in keys if k in g]
        return min([getattr(self, k) for k in keys] + typed)

    def shadow_backs(self, packed_m2: float, other_m2: float) -> bool:
        """A tall shadow on one date and none on the date the element is packed on."""
        return packed_m2 <= self.shadow_clear_m2 and other_m2 >= self.shadow_backed_m2

    def shadow_decides(self, packed_m2: float, other_m2: float, changed: float, *,
                       any_type: bool = False) -> bool:
        """A long tall shadow on one date, none on the date the element is packed on, and a box
        that changed by ``sure_shadow_min_fraction`` (NaN: unknown, not enough); ``any_type``:
        with the loosest ``shadow_clear_m2`` of any type's gates (before the type is read)."""
        clear = self.shadow_clear_m2
        if any_type:
            clear = max([clear] + [g["shadow_clear_m2"] for g in self.type_gates.values()
                                   if "shadow_clear_m2" in g])
        return (self.sure_shadow_m2 is not None and packed_m2 <= clear
                and other_m2 >= self.sure_shadow_m2 and changed >= self.sure_shadow_min_fraction)

    def similarity_limit(self, shift: float, *, backed: bool = False, changed: float = float("nan")) -> float:
        """The most a box may still look alike on both dates (NCC) for a state change whose
        reading moved by ``shift``, with the shadow evidence ``backed`` and ``changed`` the
        changed fraction of the box (NaN: unknown)."""
        sure = abs(shift) >= self.sure_shift
        if backed:
            limit = self.backed_max_similarity_sure if sure else self.backed_max_similarity
        else:
            limit = self.max_similarity_sure if sure else self.max_similarity
        if self.changed_fraction_sure is not None and changed >= self.changed_fraction_sure:
            limit = max(limit, self.max_similarity_changed)
        return limit


class PostureConfig(StrictModel):
    matching: MatchingConfig = MatchingConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    paired_states: PairedStatesConfig = PairedStatesConfig()
    min_confidence: float = Field(0.35, ge=0, le=1)
    # per class, overriding min_confidence: the detector's scores mean less for some classes
    # (a launcher scored 0.4 is a launcher far less often than a fighter scored 0.4)
    min_confidence_by_class: dict[str, float] = Field(
        default_factory=lambda: {"sam": 0.45, "vehicle": 0.45})
    # outside every zone of the site (fields, groves, buildings: not an apron, pad, revetment,
    # road or SAM site) an event needs this much; None: no rule. A site without zones, or an AOI
    # run, has none.
    outside_zones_min_confidence: float | None = Field(0.5, ge=0, le=1)
    state_min_shift: float = Field(0.25, ge=0, le=1)
    # per state, overriding state_min_shift: a classifier that reads its state sharply (rotor
    # blades off or on) makes a middling reading a doubtful one
    state_min_shift_by_state: dict[str, float] = Field(default_factory=dict)
    # per state, the most the two dates' boxes of an object may still look alike (their NCC, as
    # the launchers' similarity; unknown: no limit) for a change of that state to be reported:
    # a helicopter whose rotor blades came off (or went back on) changed much of its box
    state_max_similarity_by_state: dict[str, float] = Field(default_factory=dict)
    # classes whose state is read again, as that class, at both boxes of a cross-class match and
    # at the box of an object the presence check kept (detect/change/rereads.py reread_events)
    reread_classes: list[str] = Field(default_factory=list)
    # classes whose state change between two matched sightings must hold when each date is also
    # read with its box moved to the other sighting's centre (detect/change/rereads.py
    # cross_read_holds)
    cross_read_classes: list[str] = Field(default_factory=list)
    # class -> zone kinds (configs/sites) where a sighting on each date at one place, of any
    # class and reported or faint, is read as that class on both dates when neither date
    # reports one there (detect/change/rereads.py zone_reread_events)
    zone_rereads: dict[str, list[str]] = Field(default_factory=dict)
    # ... and such a re-read's two boxes must still look alike (their NCC, as the launchers'
    # similarity; unknown: not reported): a helicopter whose blades came off keeps its fuselage
    # where it stood, while a helicopter that arrived where something faint stood does not.
    zone_reread_min_similarity: float | None = Field(None, ge=-1, le=1)
    presence_check: bool = True
    presence_gate_scale: float = Field(1.5, ge=1)
    presence_size_ratio: float = Field(1.5, ge=1)
    event_classes: list[str] = Field(default_factory=lambda: ["transport", "fighter", "helicopter", "sam",
                                                              "airliner"])
    event_weights: dict[str, float]
    class_weights: dict[str, float]
    score_scale: float = Field(45.0, gt=0)
    pixel_points: float = Field(60.0, ge=0)
    pixel_floor: float = Field(0.03, ge=0, le=1)
    size_names: dict[str, list[tuple[float, str]]] = Field(default_factory=dict)

    def model_post_init(self, __context: object) -> None:
        unknown = set(self.event_weights) - set(EVENT_KINDS)
        if unknown:
            raise ValueError(f"unknown event kinds in event_weights: {sorted(unknown)}")
        for name, classes in (("reread_classes", self.reread_classes),
                              ("cross_read_classes", self.cross_read_classes),
                              ("zone_rereads", list(self.zone_rereads))):
            stateless = set(classes) - set(STATES)
            if stateless:
                raise ValueError(f"{name} without a state: {sorted(stateless)}")
        known_states = {s for v in STATES.values() for s in v}
        for name, by_state in (("state_min_shift_by_state", self.state_min_shift_by_state),
                               ("state_max_similarity_by_state", self.state_max_similarity_by_state)):
            unknown_states = set(by_state) - known_states
            if unknown_states:
                raise ValueError(f"unknown states in {name}: {sorted(unknown_states)}")
        unknown = (set(self.class_weights) | set(self.event_classes) | set(self.min_confidence_by_class)
                   | set(self.paired_states.classes) | set(self.reread_classes)
                   | set(self.cross_read_classes) | set(self.zone_rereads)) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown classes: {sorted(unknown)}")

    def min_shift_for(self, state: str) -> float:
        return self.state_min_shift_by_state.get(state, self.state_min_shift)

    def too_alike_for(self, state: str, similarity: float) -> bool:
        """Whether boxes that correlate ``similarity`` on both dates look too alike for a change
        of ``state`` (NaN: unknown, never)."""
        limit = self.state_max_similarity_by_state.get(state)
        return limit is not None and similarity > limit

    def min_confidence_for(self, cls: str) -> float:
        return self.min_confidence_by_class.get(cls, self.min_confidence)

    def size_name(self, cls: str, length_m: float) -> str:
        for max_len, name in self.size_names.get(cls, []):
            if length_m < max_len:
                return name
        return ""


def load_posture_config(name_or_path: str | Path = "posture") -> PostureConfig:
    return load_config(name_or_path, PostureConfig)
