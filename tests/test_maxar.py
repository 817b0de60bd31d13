"""Maxar metadata: the IMD grammar, XML, STAC quirks and file names."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagery.errors import InputError
from imagery.maxar import (
    acquired_from_name,
    find_metadata,
    format_imd,
    metadata_from_imd,
    metadata_from_stac,
    parse_imd_text,
    read_imd,
    read_maxar_xml,
    view_zenith_from_off_nadir,
)
from imagery.samples import SAMPLE_META

# Shaped like a real WorldView-2 L1B delivery (domain.md 1.4): quoted strings, tuple lists spread
# over lines, group markers without ';', BAND_* groups in B, G, R, N order, END; at the end.
WV02_IMD = """version = "28.4";
generationTime = 2018-10-01T05:33:08.000000Z;
productOrderId = "502541638020_01_P003";
productCatalogId = "A0100100D9B7A500";
childCatalogId = "20200100D9B7A600";
imageDescriptor = "Basic1B";
bandId = "MS1";
panSharpenAlgorithm = "None";
numRows = 6776;
numColumns = 8820;
productLevel = "LV1B";
productType = "Basic";
numberOfLooks = 1;
radiometricLevel = "Corrected";
radiometricEnhancement = "Off";
bitsPerPixel = 16;
compressionType = "JPEG2000";
jpegProfileName = "nga_npje_pan_nl";
outputFormat = "NITF21NCDRD";
BEGIN_GROUP = BAND_B
\tULLon = 104.64580139;
\tULLat = 1.39925402;
\tULHAE = 11.00;
\tabsCalFactor = 1.260825e-02;
\teffectiveBandwidth = 5.430000e-02;
\tTDILevel = 10;
END_GROUP = BAND_B
BEGIN_GROUP = BAND_G
\tabsCalFactor = 9.713071e-03;
\teffectiveBandwidth = 6.300000e-02;
\tTDILevel = 10;
END_GROUP = BAND_G
BEGIN_GROUP = BAND_R
\tabsCalFactor = 1.103623e-02;
\teffectiveBandwidth = 5.740000e-02;
\tTDILevel = 10;
END_GROUP = BAND_R
BEGIN_GROUP = BAND_N
\tabsCalFactor = 1.224380e-02;
\teffectiveBandwidth = 9.890000e-02;
\tTDILevel = 10;
END_GROUP = BAND_N
BEGIN_GROUP = IMAGE_1
\tsatId = "WV02";
\tCatId = "10300100841CB500";
\tmode = "FullSwath";
\tscanDirection = "Forward";
\tfirstLineTime = 2018-10-01T02:26:04.585850Z;
\tavgLineRate = 5000.00;
\texposureDuration = 0.00020000;
\tminCollectedRowGSD = 2.700;
\tmeanCollectedGSD = 2.824;
\tmeanProductGSD = 2.836;
\trowUncertainty = 53.58;
\tcolUncertainty = 47.45;
\tminSunAz = 96.3;
\tmaxSunAz = 96.5;
\tmeanSunAz = 96.4;
\tmeanSunEl = 68.9;
\tmeanSatAz = 41.4;
\tmeanSatEl = 48.1;
\tmeanInTrackViewAngle = 30.0;
\tmeanCrossTrackViewAngle = 22.0;
\tmeanOffNadirViewAngle = 36.6;
\tPNIIRS = 2.5;
\tcloudCover = 0.244;
\tresamplingKernel = "CC";
\tTLCList = (
\t\t(0, 0.000000),
\t\t(6775, 1.355000) );
\trevNumber = 47115;
END_GROUP = IMAGE_1
END;
"""


def test_wv02_imd_parses_to_the_right_values(tmp_path):
    p = tmp_path / "18OCT01022604-M1BS-502541638020_01_P003.IMD"
    p.write_text(WV02_IMD)
    m = read_imd(p)
    assert m.satellite == "WV02"
    assert m.catalog_id == "10300100841CB500"
    assert m.acquired == datetime(2018, 10, 1, 2, 26, 4, 585850, tzinfo=timezone.utc)
    assert m.mean_gsd == pytest.approx(2.836)
    assert (m.sun_azimuth, m.sun_elevation) == (96.4, 68.9)
    assert (m.sat_azimuth, m.sat_elevation) == (41.4, 48.1)
    assert m.off_nadir == 36.6
    assert m.cloud_cover == pytest.approx(0.244)
    assert m.band_ids == ("B", "G", "R", "N")  # file order, not eoreader's N,R,G,B
    assert m.bits_per_pixel == 16
    assert m.product_level == "LV1B"
    assert m.band_id == "MS1"
    # The view zenith recomputed from the off-nadir angle matches the IMD's satellite elevation.
    assert 90 - view_zenith_from_off_nadir(36.6, "WV02") == pytest.approx(48.1, abs=0.2)


def test_imd_lists_and_groups_keep_structure():
    parsed = parse_imd_text(WV02_IMD)
    image = dict(parsed["groups"])["IMAGE_1"]
    assert image["TLCList"] == [[0, 0.0], [6775, 1.355]]
    assert [g for g, _ in parsed["groups"]][:4] == ["BAND_B", "BAND_G", "BAND_R", "BAND_N"]


def test_format_imd_round_trips():
    text = format_imd(SAMPLE_META, num_rows=10, num_columns=20)
    m = metadata_from_imd(parse_imd_text(text))
    for field in ("satellite", "catalog_id", "acquired", "sun_azimuth", "sun_elevation", "sat_azimuth",
                  "sat_elevation", "off_nadir", "cloud_cover", "band_ids", "bits_per_pixel"):
        assert getattr(m, field) == getattr(SAMPLE_META, field), field


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "a = ;",
        "BEGIN_GROUP = X\n a = 1;",  # never closed
        "END_GROUP = X\n",
        'a = "unterminated;',
        "a = (1, 2;",
        "a = 1;\nEND;\nb = 2;",
        "1bad = 3;",
        "\x00\x01\x02 = 5;",
    ],
)
def test_garbage_imd_gives_a_clean_error(text):
    with pytest.raises(InputError, match="not a valid Maxar IMD"):
        parse_imd_text(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzzed_imd_text_never_raises_anything_but_input_error(text):
    try:
        metadata_from_imd(parse_imd_text(text))
    except InputError:
        pass


_imd_chars = st.sampled_from(list('abcXYZ_=;()",.- \n\t0123456789') + ["BEGIN_GROUP", "END_GROUP", "END"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_imd_chars, max_size=80).map("".join))
def test_fuzzed_imd_like_text_never_raises_anything_but_input_error(text):
    try:
        metadata_from_imd(parse_imd_text(text))
    except InputError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzzed_imd_files_never_raise_anything_but_input_error(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("fuzz") / "x.IMD"
    p.write_bytes(data)
    try:
        read_imd(p)
    except InputError:
        pass


def test_xml_isd_is_read_and_stops_at_imd(tmp_path):
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<isd><IMD><VERSION>AA</VERSION><BANDID>Multi</BANDID><BITSPERPIXEL>16</BITSPERPIXEL>
<PRODUCTLEVEL>LV3D</PRODUCTLEVEL>
<BAND_C><ABSCALFACTOR>0.01</ABSCALFACTOR></BAND_C><BAND_B/><BAND_G/><BAND_Y/><BAND_R/><BAND_RE/>
<BAND_N/><BAND_N2/>
<IMAGE><SATID>WV03</SATID><CATID>1040010051B60600</CATID>
<FIRSTLINETIME>2019-08-29T16:48:24.123456Z</FIRSTLINETIME><MEANSUNAZ>112.5</MEANSUNAZ>
<MEANSUNEL>71.6</MEANSUNEL><MEANSATAZ>168.1</MEANSATAZ><MEANSATEL>66.3</MEANSATEL>
<MEANOFFNADIRVIEWANGLE>21.5</MEANOFFNADIRVIEWANGLE><CLOUDCOVER>0.0</CLOUDCOVER>
<MEANPRODUCTGSD>1.3</MEANPRODUCTGSD></IMAGE></IMD>
<EPH><EPHEMLIST>broken <unclosed></EPH></isd>"""
    p = tmp_path / "x.XML"
    p.write_text(xml)
    m = read_maxar_xml(p)  # stops after IMD, so the broken EPH section is never parsed
    assert m is not None and m.source == "XML"
    assert m.satellite == "WV03"
    assert m.band_ids == ("C", "B", "G", "Y", "R", "RE", "N", "N2")
    assert m.sun_elevation == 71.6 and m.off_nadir == 21.5 and m.sat_elevation == 66.3
    assert m.bits_per_pixel == 16
    other = tmp_path / "other.xml"
    other.write_text("<root><a>1</a></root>")
    assert read_maxar_xml(other) is None


def test_stac_incidence_angle_quirk_is_not_trusted():
    # Maxar open-data row (domain.md 1.7): view:incidence_angle holds the satellite ELEVATION.
    item = {"type": "Feature", "stac_version": "1.0.0", "properties": {
        "datetime": "2019-08-29T16:48:24Z", "platform": "WV03", "gsd": 0.35, "catalog_id": "1040010051B60600",
        "view:off_nadir": 21.5, "view:azimuth": 168.1, "view:incidence_angle": 66.3,
        "view:sun_azimuth": 112.5, "view:sun_elevation": 71.6, "tile:clouds_percent": 7}}
    m = metadata_from_stac(item)
    assert m.sat_elevation == pytest.approx(66.3, abs=0.2)  # recomputed from off-nadir, not copied
    assert m.off_nadir == 21.5
    assert m.cloud_cover == pytest.approx(0.07)
    assert m.acquired == datetime(2019, 8, 29, 16, 48, 24, tzinfo=timezone.utc)
    # Without off_nadir a value above 45 degrees is read as an elevation (the quirk) ...
    del item["properties"]["view:off_nadir"]
    assert metadata_from_stac(item).sat_elevation == pytest.approx(66.3)
    # ... and a spec-conforming zenith as a zenith.
    item["properties"]["view:incidence_angle"] = 23.7
    assert metadata_from_stac(item).sat_elevation == pytest.approx(66.3)


def test_sidecars_are_merged_imd_first(tmp_path):
    img = tmp_path / "13DEC24083015-S3DS-000000000000_01_P001.tif"
    img.write_bytes(b"")
    (tmp_path / (img.stem + ".IMD")).write_text(WV02_IMD.replace("\tmeanSunAz = 96.4;\n", ""))
    (tmp_path / (img.stem + ".json")).write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0",
        "properties": {"datetime": "2030-01-01T00:00:00Z", "eo:cloud_cover": 50, "platform": "wv03",
                       "view:sun_azimuth": 200.0}}))
    m = find_metadata(img)
    assert m.satellite == "WV02"  # IMD wins where both speak
    assert m.acquired.year == 2018
    assert m.cloud_cover == pytest.approx(0.244)
    assert m.sun_azimuth == 200.0  # the gap is filled from the STAC item
    assert "IMD" in m.source and "STAC" in m.source


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("18OCT01022604-M1BS-502541638020_01_P003.TIF", datetime(2018, 10, 1, 2, 26, 4, tzinfo=timezone.utc)),
        ("WV01_20150410052955_102001003A7E9A00_15APR10052955-P1BS-502788423060_01_P005.NTF",
         datetime(2015, 4, 10, 5, 29, 55, tzinfo=timezone.utc)),
        ("khmeimim_2024-12-13.tif", datetime(2024, 12, 13, tzinfo=timezone.utc)),
        ("site_20241213T083015.tif", datetime(2024, 12, 13, 8, 30, 15, tzinfo=timezone.utc)),
        ("image.tif", None),
        ("run_2024-13-45.tif", None),
    ],
)
def test_acquisition_time_from_file_names(name, expected):
    assert acquired_from_name(name) == expected
