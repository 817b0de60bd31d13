"""Synthetic generator: physics of the renderer, object models, the site config and the chip stream."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from imagery.config import load_site
from imagery.synth.catalog import LABELLED, TYPES, make_object
from imagery.synth.chips import Chip, ChipStream
from imagery.synth.model import ROLE_INDEX, Model, prism, rect
from imagery.synth.paint import structure_scheme
from imagery.synth.render import Canvas, Illumination, Placed, View, draw_objects, draw_shadows
from imagery.synth.solar import solar_position
from imagery.taxonomy import CLASSES, STATES

# --------------------------------------------------------------------------------------------
# Sun and geometry
# --------------------------------------------------------------------------------------------


def test_solar_position_matches_reference_values_for_khmeimim() -> None:
    """domain.md 4.1 (NOAA algorithm): 13 Dec 2024 08:00 UTC el 27.6 az 156.5; 11:00 el 27.7 az
    203.3; 21 Jun 08:30 UTC el 71."""
    lat, lon = 35.4117, 35.945
    az, el = solar_position(datetime(2024, 12, 13, 8, 0, tzinfo=timezone.utc), lat, lon)
    assert az == pytest.approx(156.5, abs=0.3) and el == pytest.approx(27.6, abs=0.3)
    az, el = solar_position(datetime(2024, 12, 13, 11, 0, tzinfo=timezone.utc), lat, lon)
    assert az == pytest.approx(203.3, abs=0.3) and el == pytest.approx(27.7, abs=0.3)
    _, el = solar_position(datetime(2024, 6, 21, 8, 30, tzinfo=timezone.utc), lat, lon)
    assert el == pytest.approx(71.0, abs=0.3)


def _mast(height: float) -> Placed:
    m = Model()
    prism(m, rect(-0.25, 0.25, -0.25, 0.25), 0.0, height, role="metal", walls=False)
    return Placed(m.compile(), structure_scheme(np.random.default_rng(0)), 0.0, 0.0, 0.0)


def _shadow_tip(sun_az: float, sun_el: float, height: float, gsd: float = 0.25) -> np.ndarray:
    """Map offset (E, N) of the far end of a mast's shadow, measured on the rendered mask."""
    n = 512
    view = View(-n * gsd / 2, n * gsd / 2, gsd, n, n, 1)
    canvas = Canvas(view, (0, 1, 2))
    draw_shadows(canvas, [_mast(height)], Illumination(sun_az, sun_el))
    rows, cols = np.nonzero(canvas.gshadow)
    e = view.x0 + (cols + 0.5) * gsd
    nn = view.y0 - (rows + 0.5) * gsd
    d = np.hypot(e, nn)
    i = int(np.argmax(d))
    return np.array([e[i], nn[i]])


@pytest.mark.parametrize("sun_el", [20.0, 35.0, 60.0])
@pytest.mark.parametrize("sun_az", [160.0, 250.0])
def test_shadow_length_is_height_over_tan_elevation(sun_az: float, sun_el: float) -> None:
    height = 15.0
    tip = _shadow_tip(sun_az, sun_el, height)
    expected = height / math.tan(math.radians(sun_el))
    assert np.hypot(*tip) == pytest.approx(expected, abs=0.6)  # mast half-width + a pixel
    # and it points away from the sun
    azimuth = math.degrees(math.atan2(tip[0], tip[1])) % 360.0
    assert abs(((azimuth - (sun_az + 180.0)) + 180.0) % 360.0 - 180.0) < 2.0


def test_tall_parts_lean_away_from_the_satellite() -> None:
    """The top of a 20 m mast moves 20 tan(zenith) m towards the azimuth opposite the satellite."""
    gsd, n = 0.25, 400
    for sat_az, zen in ((90.0, 25.0), (200.0, 15.0)):
        view = View(-n * gsd / 2, n * gsd / 2, gsd, n, n, 1, sat_az, zen)
        canvas = Canvas(view, (0, 1, 2))
        draw_objects(canvas, [_mast(20.0)], Illumination(180.0, 45.0))
        rows, cols = np.nonzero(canvas.ids)
        e = view.x0 + (cols.mean() + 0.5) * gsd
        nn = view.y0 - (rows.mean() + 0.5) * gsd
        lean = 20.0 * math.tan(math.radians(zen))
        a = math.radians(sat_az + 180.0)
        assert e == pytest.approx(lean * math.sin(a), abs=0.3)
        assert nn == pytest.approx(lean * math.cos(a), abs=0.3)


# --------------------------------------------------------------------------------------------
# Object models
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LABELLED))
def test_every_labelled_type_builds_in_every_state_with_its_true_size(name: str) -> None:
    t = TYPES[name]
    for state in (None, *t.states):
        o = make_object(name, state, np.random.default_rng(1))
        assert o.cls in CLASSES
        assert state is None or state in STATES[o.cls]
        assert len(o.model.fstart) > 2 and len(o.model.cstart) > 1
        # the model is centred on its box: most of its planform lies inside it
        v = o.model.fverts
        inside = (np.abs(v[:, 0]) <= o.length / 2 + 0.5) & (np.abs(v[:, 1]) <= o.width / 2 + 0.5)
        if t.kind not in ("heli", "radar"):  # rotors, laid-out blades, radar arrays: outside by design
            assert inside.mean() > 0.9, name  # (outriggers, mirrors and pylons may stick out)
    if t.kind == "fixed":
        p = t.params
        o = make_object(name, None, np.random.default_rng(2))
        assert o.length == pytest.approx(p.length, rel=0.08) and o.width == pytest.approx(p.span, rel=0.08)


def test_non_nominal_states_change_the_look() -> None:
    """A raised An-124 visor, a dismantled Ka-52 and packed S-400 launchers differ from their
    nominal models where it matters: the visor stands higher than the fuselage, the rotor blades
    leave the disc, the canisters come down."""
    rng = np.random.default_rng
    an_up = make_object("An-124", "nose_raised", rng(3))
    an = make_object("An-124", None, rng(3))
    front = lambda o: o.model.fverts[o.model.fverts[:, 0] > o.length / 2 - 8]  # noqa: E731
    assert front(an_up)[:, 2].max() > front(an)[:, 2].max() + 3.0
    ka = make_object("Ka-52", None, rng(4))
    ka_d = make_object("Ka-52", "dismantled", rng(4))
    rotor = ROLE_INDEX["rotor"]
    blades_up = lambda o: ((o.model.frole == rotor) & (o.model.flevel > 2.0)).sum()  # noqa: E731
    blades_down = lambda o: ((o.model.frole == rotor) & (o.model.flevel < 1.0)).sum()  # noqa: E731
    assert blades_up(ka) >= 6 and blades_up(ka_d) == 0 and blades_down(ka_d) >= 6
    tel = make_object("S-400 TEL", None, rng(5))
    tel_p = make_object("S-400 TEL", "packed", rng(5))
    assert tel.model.top > 10.0 and tel_p.model.top < 5.0


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="no state"):
        make_object("Su-34", "nose_raised", np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# Site configs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("site", ["khmeimim", "minibase"])
def test_site_config_validates_and_stands_lie_in_their_zones(site: str) -> None:
    import cv2

    from imagery.synth.layout import SiteFrame, parse_layout, stands

    cfg = load_site(site)
    names = {z.name for z in cfg.zones}
    assert {
        "runways",
        "north_apron",
        "helicopter_apron",
        "fighter_revetments",
        "sam_site",
        "civil_apron",
    } <= names
    assert all(n == n.lower() and " " not in n for n in names)
    spec = parse_layout(cfg)
    frame = SiteFrame(cfg, spec)
    polys = {}
    for z in cfg.zones:
        ring = np.asarray(z.polygon)
        x, y = frame.lonlat_to_map.transform(ring[:, 0], ring[:, 1])
        polys[z.name] = np.column_stack([x, y]).astype(np.float32).reshape(-1, 1, 2)
    for st in stands(spec, frame):
        assert cv2.pointPolygonTest(polys[st.zone], (st.x, st.y), False) >= 0, (st.zone, st.kind)


def test_khmeimim_runways_follow_the_published_heading() -> None:
    from imagery.synth.layout import SiteFrame, parse_layout

    cfg = load_site("khmeimim")
    frame = SiteFrame(cfg, parse_layout(cfg))
    assert cfg.crs == "EPSG:32636"
    assert frame.convergence == pytest.approx(1.71, abs=0.05)  # domain.md 3.1
    assert frame.grid_heading == pytest.approx(354.9, abs=0.1)  # runway 35 in grid terms


# --------------------------------------------------------------------------------------------
# Training chips
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chips() -> list[Chip]:
    stream = ChipStream(size=256, seed=7)
    return [stream.chip(i) for i in range(24)]


def test_chip_contract(chips: list[Chip]) -> None:
    for c in chips:
        assert c.image.shape == (256, 256, 3) and c.image.dtype == np.uint8
        assert c.boxes.dtype == np.float32 and c.boxes.shape == (len(c.classes), 5)
        assert c.classes.dtype == np.int64 and c.states.dtype == np.int64
        assert len(c.types) == len(c.classes) == len(c.states)
        assert 0.2 <= c.gsd <= 0.8
        assert 0 <= c.sun[0] < 360 and 20 <= c.sun[1] <= 75  # the stream's default sun range
        assert 0 <= c.view[0] < 360 and 0 <= c.view[1] <= 30
        if len(c.boxes):
            assert (c.boxes[:, :2] >= 0).all() and (c.boxes[:, :2] < 256).all()
            assert (c.boxes[:, 4] >= 0).all() and (c.boxes[:, 4] < 360).all()
            assert ((c.classes >= 0) & (c.classes < len(CLASSES))).all()
            for k, s in zip(c.classes, c.states, strict=True):
                assert s == 0 or CLASSES[k] in STATES
            # box sizes are the types' real sizes at the chip's GSD
            for b, t in zip(c.boxes, c.types, strict=True):
                assert b[2] * c.gsd == pytest.approx(_nominal_length(t), rel=0.12)
    n_boxes = sum(len(c.boxes) for c in chips)
    assert n_boxes > 24 * 3
    seen = {CLASSES[k] for c in chips for k in c.classes}
    assert {"airliner", "vehicle"} <= seen


def _nominal_length(type_name: str) -> float:
    o = make_object(type_name, None, np.random.default_rng(0))
    return o.length


def test_chips_are_deterministic_and_random_access() -> None:
    a = ChipStream(size=128, seed=3)
    b = ChipStream(size=128, seed=3)
    c5 = a.chip(5)
    for _ in range(2):
        b.chip(1)
    d5 = b.chip(5)
    assert np.array_equal(c5.image, d5.image) and np.array_equal(c5.boxes, d5.boxes)
    assert not np.array_equal(a.chip(6).image, c5.image)
    it = iter(ChipStream(size=128, seed=3))
    first = next(it)
    assert np.array_equal(first.image, a.chip(0).image)


def test_chip_overrides_and_bad_options() -> None:
    from imagery.errors import InputError

    s = ChipStream(size=128, seed=0, gsd=(0.5, 0.5), p_gsd_wide=0.0, themes=(("negative", 1.0),))
    c = s.chip(0)
    assert c.gsd == pytest.approx(0.5) and len(c.boxes) == 0
    with pytest.raises(InputError, match="unknown ChipStream option"):
        ChipStream(size=128, gsd_rnage=(0.3, 0.4))
    with pytest.raises(InputError, match="theme"):
        ChipStream(size=128, themes=(("moon", 1.0),))


def test_grove_chips_hold_trees_and_label_only_what_stands_among_them() -> None:
    """The grove theme: rows of tree crowns (unlabelled) cover much of the chip; what is
    labelled is helicopters and vehicles on a pad, never a tree."""
    from imagery.synth.chipworld import build_chip_world

    rng = np.random.default_rng(3)
    worlds = [build_chip_world(rng, 200.0, "grove") for _ in range(6)]
    unlabelled = [len(w.objects) - len(w.labels) for w in worlds]
    assert min(unlabelled) >= 10, unlabelled
    assert all(lb.cls in ("helicopter", "vehicle") for w in worlds for lb in w.labels)
    assert any(w.labels for w in worlds)  # half the chips have a pad with something on it
    c = ChipStream(size=192, seed=4, gsd=(0.5, 0.5), p_gsd_wide=0.0, themes=(("grove", 1.0),)).chip(0)
    assert c.image.shape == (192, 192, 3)
    assert {CLASSES[k] for k in c.classes.tolist()} <= {"helicopter", "vehicle"}


def test_rooftop_chips_hold_tall_blocks_with_rows_of_roof_plant() -> None:
    from imagery.synth.catalog import cached_model
    from imagery.synth.chipworld import build_chip_world

    model, length, width = cached_model("tower block", None, 0)
    assert 20 <= length <= 60 and 12 <= width <= 25
    rng = np.random.default_rng(5)
    worlds = [build_chip_world(rng, 200.0, "rooftops") for _ in range(4)]
    assert all(len(w.objects) > len(w.labels) for w in worlds)
    assert all(lb.cls == "vehicle" for w in worlds for lb in w.labels)


def test_chip_boxes_cover_rendered_aircraft() -> None:
    """Sanity of the targets: an aircraft box centre falls on pixels that differ from the local
    ground (the object is where the box says)."""
    s = ChipStream(
        size=256,
        seed=11,
        themes=(("civil_apron", 1.0),),
        p_jpeg=0.0,
        gsd=(0.4, 0.4),
        p_gsd_wide=0.0,
        view_zenith=(0.0, 0.0),
    )
    hits = total = 0
    for i in range(6):
        c = s.chip(i)
        grey = c.image.mean(axis=2)
        for b, k in zip(c.boxes, c.classes, strict=True):
            if CLASSES[k] != "airliner":
                continue
            x, y = int(b[0]), int(b[1])
            if not (8 <= x < 248 and 8 <= y < 248):
                continue
            total += 1
            centre = grey[y - 1 : y + 2, x - 1 : x + 2].mean()
            ring = np.median(np.concatenate([grey[max(0, y - 40), :], grey[min(255, y + 40), :]]))
            hits += abs(centre - ring) > 12
    assert total >= 4 and hits / total > 0.8
