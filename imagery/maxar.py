"""Maxar (DigitalGlobe) product metadata: the ``.IMD`` grammar, the ``.XML`` (isd) form, STAC items
and file names, reduced to the few acquisition facts the pipeline needs.

Why these fields: the sun azimuth/elevation predict where shadows fall, the satellite azimuth and
off-nadir angle predict how tall objects lean, the acquisition time orders a series, and the band
ids say which band is red (band order differs between deliveries, so it is read from the order of
the ``BAND_*`` groups, never assumed). See ../shared/research/domain.md section 1.

Every parser here either returns :class:`MaxarMetadata` or raises :class:`InputError` with a
message naming the file and the line; arbitrary garbage must never raise anything else.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from imagery.errors import InputError

EARTH_RADIUS_KM = 6371.0
# Orbit heights (km) used to turn an off-nadir angle at the spacecraft into a view zenith angle
# at the target (domain.md 1.1 and 1.4). Unknown platforms fall back to WorldView-3's.
ORBIT_HEIGHT_KM = {
    "WV01": 496.0,
    "WV02": 770.0,
    "WV03": 617.0,
    "WV04": 617.0,
    "GE01": 681.0,
    "QB02": 450.0,
    "LG01": 518.0,
    "LG02": 518.0,
}
_DEFAULT_ORBIT_KM = 617.0

IMD_BAND_NAMES = ("C", "B", "G", "Y", "R", "RE", "N", "N2", "P")


@dataclass(frozen=True)
class MaxarMetadata:
    """Acquisition facts from a Maxar delivery; ``None`` where the source does not say."""

    source: str = ""  # "IMD", "XML", "STAC", "filename", "GDAL"
    satellite: str | None = None
    catalog_id: str | None = None
    acquired: datetime | None = None
    mean_gsd: float | None = None
    sun_azimuth: float | None = None
    sun_elevation: float | None = None
    sat_azimuth: float | None = None
    sat_elevation: float | None = None
    off_nadir: float | None = None
    cloud_cover: float | None = None  # fraction 0..1
    band_ids: tuple[str, ...] = ()
    bits_per_pixel: int | None = None
    product_level: str | None = None
    band_id: str | None = None  # product band combination: P, Multi, MS1, BGRN, RGB...
    extra: dict[str, Any] = field(default_factory=dict)

    def merged_with(self, other: MaxarMetadata) -> MaxarMetadata:
        """Fill this record's gaps from ``other`` (the better source goes first)."""
        updates = {}
        for name, value in asdict(other).items():
            if name in ("source", "extra"):
                continue
            mine = getattr(self, name)
            if (mine is None or mine == ()) and value not in (None, ()):
                updates[name] = getattr(other, name)
        if not updates:
            return self
        source = "+".join(s for s in (self.source, other.source) if s)
        return replace(self, source=source, **updates)

    @property
    def view_zenith(self) -> float | None:
        """View zenith angle at the target (degrees): what makes tall objects lean."""
        if self.sat_elevation is not None:
            return 90.0 - self.sat_elevation
        if self.off_nadir is not None:
            return view_zenith_from_off_nadir(self.off_nadir, self.satellite)
        return None

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["acquired"] = self.acquired.isoformat().replace("+00:00", "Z") if self.acquired else None
        d["band_ids"] = list(self.band_ids)
        d["view_zenith"] = self.view_zenith
        return d


def view_zenith_from_off_nadir(off_nadir_deg: float, satellite: str | None = None) -> float:
    """sin(zenith) = (R + H) / R * sin(off-nadir): the Earth's curvature widens the angle."""
    h = ORBIT_HEIGHT_KM.get((satellite or "").upper(), _DEFAULT_ORBIT_KM)
    s = (EARTH_RADIUS_KM + h) / EARTH_RADIUS_KM * math.sin(math.radians(off_nadir_deg))
    return math.degrees(math.asin(min(1.0, max(-1.0, s))))


def off_nadir_from_view_zenith(zenith_deg: float, satellite: str | None = None) -> float:
    h = ORBIT_HEIGHT_KM.get((satellite or "").upper(), _DEFAULT_ORBIT_KM)
    s = EARTH_RADIUS_KM / (EARTH_RADIUS_KM + h) * math.sin(math.radians(zenith_deg))
    return math.degrees(math.asin(s))


# --------------------------------------------------------------------------------------------
# IMD grammar
# --------------------------------------------------------------------------------------------

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_MAX_IMD_BYTES = 64 * 1024 * 1024


class _ImdSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")


def _split_statements(text: str) -> list[tuple[int, str]]:
    """Split on ``;`` outside quotes and parentheses; return (line number, statement)."""
    statements: list[tuple[int, str]] = []
    buf: list[str] = []
    depth = 0
    in_quote = False
    line = 1
    start_line = 1
    for ch in text:
        if ch == "\n":
            line += 1
        if not buf and ch.isspace():
            start_line = line
            continue
        if ch == '"':
            in_quote = not in_quote
        elif not in_quote:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    raise _ImdSyntaxError(line, "unbalanced ')'")
            elif ch == ";" and depth == 0:
                statements.append((start_line, "".join(buf).strip()))
                buf = []
                continue
        if not buf:
            start_line = line
        buf.append(ch)
    rest = "".join(buf).strip()
    if in_quote:
        raise _ImdSyntaxError(start_line, "unterminated string")
    if depth != 0:
        raise _ImdSyntaxError(start_line, "unbalanced '('")
    # Group markers have no trailing ';' in the grammar: "BEGIN_GROUP = X\n ... END_GROUP = X".
    if rest:
        statements.append((start_line, rest))
    return statements


def _split_group_markers(statements: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Group markers end at the line break, not at ``;``: break them out of statements."""
    out: list[tuple[int, str]] = []
    for line, stmt in statements:
        parts = stmt.split("\n")
        pending: list[str] = []
        pending_line = line
        for offset, part in enumerate(parts):
            stripped = part.strip()
            if re.match(r"^(BEGIN_GROUP|END_GROUP)\s*=", stripped):
                if pending:
                    out.append((pending_line, "\n".join(pending).strip()))
                    pending = []
                out.append((line + offset, stripped))
                pending_line = line + offset + 1
            elif stripped:
                if not pending:
                    pending_line = line + offset
                pending.append(part)
        if pending:
            out.append((pending_line, "\n".join(pending).strip()))
    return out


def _parse_value(raw: str, line: int) -> Any:
    raw = raw.strip()
    if not raw:
        raise _ImdSyntaxError(line, "empty value")
    if raw.startswith('"'):
        if not raw.endswith('"') or len(raw) < 2:
            raise _ImdSyntaxError(line, f"bad string {raw[:40]!r}")
        return raw[1:-1]
    if raw.startswith("("):
        if not raw.endswith(")"):
            raise _ImdSyntaxError(line, f"bad list {raw[:40]!r}")
        return _parse_list(raw[1:-1], line)
    if _NUMBER_RE.match(raw):
        try:
            return int(raw)
        except ValueError:
            return float(raw)
    if any(c in raw for c in "()=;\"") or "\n" in raw:
        raise _ImdSyntaxError(line, f"bad value {raw[:40]!r}")
    return raw  # bare words and ISO times


def _parse_list(inner: str, line: int) -> list[Any]:
    items: list[Any] = []
    depth = 0
    in_quote = False
    buf: list[str] = []
    for ch in inner + ",":
        if ch == '"':
            in_quote = not in_quote
        if not in_quote:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 0:
                token = "".join(buf).strip()
                if token:
                    items.append(_parse_value(token, line))
                buf = []
                continue
        buf.append(ch)
    return items


def parse_imd_text(text: str, *, name: str = "IMD") -> dict[str, Any]:
    """Parse IMD text into nested dicts; groups keep file order (band order lives there).

    Returns ``{"key": value, ..., "groups": [(group_name, {...}), ...]}``.
    """
    try:
        statements = _split_group_markers(_split_statements(text))
        root: dict[str, Any] = {"groups": []}
        stack: list[tuple[str, dict[str, Any]]] = []
        n_keys = 0
        ended = False
        for line, stmt in statements:
            if ended:
                raise _ImdSyntaxError(line, "text after END")
            if stmt == "END":
                ended = True
                continue
            if "=" not in stmt:
                raise _ImdSyntaxError(line, f"expected 'key = value', got {stmt[:40]!r}")
            key, _, value = stmt.partition("=")
            key = key.strip()
            if not _KEY_RE.match(key):
                raise _ImdSyntaxError(line, f"bad key {key[:40]!r}")
            if key == "BEGIN_GROUP":
                gname = value.strip()
                if not _KEY_RE.match(gname):
                    raise _ImdSyntaxError(line, f"bad group name {gname[:40]!r}")
                group: dict[str, Any] = {}
                stack.append((gname, group))
                continue
            if key == "END_GROUP":
                gname = value.strip()
                if not stack or stack[-1][0] != gname:
                    raise _ImdSyntaxError(line, f"END_GROUP = {gname[:40]} does not close a group")
                closed_name, closed = stack.pop()
                parent = stack[-1][1] if stack else root
                parent.setdefault("groups", []).append((closed_name, closed))
                continue
            target = stack[-1][1] if stack else root
            target[key] = _parse_value(value, line)
            n_keys += 1
        if stack:
            raise _ImdSyntaxError(len(text.splitlines()), f"group {stack[-1][0]} is never closed")
        if n_keys == 0:
            raise _ImdSyntaxError(1, "no 'key = value;' statements")
        return root
    except _ImdSyntaxError as exc:
        raise InputError(f"{name}: not a valid Maxar IMD ({exc})") from None
    except RecursionError:
        raise InputError(f"{name}: not a valid Maxar IMD (nesting too deep)") from None


def _group(parsed: dict[str, Any], prefix: str) -> dict[str, Any]:
    for gname, g in parsed.get("groups", []):
        if gname == prefix or gname.startswith(prefix):
            return g
    return {}


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, (list, dict)):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f) or f <= -999:  # -999 is Maxar's "unknown"
        return None
    return f


def _int(value: Any) -> int | None:
    f = _float(value)
    return int(f) if f is not None and f == int(f) else None


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 with trailing Z and optional microseconds -> aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    v = value.strip().replace("Z", "+00:00")
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _cloud_fraction(value: Any) -> float | None:
    f = _float(value)
    if f is None or f < 0:
        return None
    return f / 100.0 if f > 1.0 else f


def metadata_from_imd(parsed: dict[str, Any]) -> MaxarMetadata:
    image = _group(parsed, "IMAGE_")
    mapped = _group(parsed, "MAP_PROJECTED_PRODUCT")
    band_ids = tuple(
        gname[len("BAND_") :]
        for gname, _ in parsed.get("groups", [])
        if gname.startswith("BAND_") and gname[len("BAND_") :] in IMD_BAND_NAMES
    )
    acquired = (
        parse_time(image.get("firstLineTime"))
        or parse_time(image.get("TLCTime"))
        or parse_time(mapped.get("earliestAcqTime"))
    )
    extra = {
        k: parsed[k]
        for k in ("productType", "imageDescriptor", "radiometricEnhancement", "productOrderId")
        if k in parsed
    }
    return MaxarMetadata(
        source="IMD",
        satellite=_str(image.get("satId")),
        catalog_id=_str(image.get("CatId"))
        or _str(parsed.get("childCatalogId"))
        or _str(parsed.get("productCatalogId")),
        acquired=acquired,
        mean_gsd=_float(image.get("meanProductGSD"))
        or _float(mapped.get("productGSD"))
        or _float(image.get("meanCollectedGSD")),
        sun_azimuth=_float(image.get("meanSunAz")),
        sun_elevation=_float(image.get("meanSunEl")),
        sat_azimuth=_float(image.get("meanSatAz")),
        sat_elevation=_float(image.get("meanSatEl")),
        off_nadir=_float(image.get("meanOffNadirViewAngle")),
        cloud_cover=_cloud_fraction(image.get("cloudCover")),
        band_ids=band_ids,
        bits_per_pixel=_int(parsed.get("bitsPerPixel")),
        product_level=_str(parsed.get("productLevel")),
        band_id=_str(parsed.get("bandId")),
        extra=extra,
    )


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (list, dict)):
        return None
    s = str(value).strip()
    return s or None


def read_imd(path: str | Path) -> MaxarMetadata:
    path = Path(path)
    if path.stat().st_size > _MAX_IMD_BYTES:
        raise InputError(f"{path}: IMD file is implausibly large ({path.stat().st_size} bytes)")
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a valid Maxar IMD (not text)") from None
    return metadata_from_imd(parse_imd_text(text, name=str(path)))


def format_imd(meta: MaxarMetadata, *, num_rows: int, num_columns: int) -> str:
    """Write a Maxar-style IMD (the synthetic generator ships one beside each image)."""

    def q(v: Any) -> str:
        return f'"{v}"'

    lines = [
        'version = "28.3";',
        f"generationTime = {_iso(meta.acquired)};",
        f'productOrderId = "{meta.extra.get("productOrderId", "000000000000_01_P001")}";',
        f"productCatalogId = {q(meta.catalog_id or 'UNKNOWN')};",
        f'imageDescriptor = "{meta.extra.get("imageDescriptor", "OrthoRectified3")}";',
        f'bandId = "{meta.band_id or "Multi"}";',
        'panSharpenAlgorithm = "None";',
        f"numRows = {num_rows};",
        f"numColumns = {num_columns};",
        f'productLevel = "{meta.product_level or "LV3D"}";',
        f'productType = "{meta.extra.get("productType", "Ortho")}";',
        "numberOfLooks = 1;",
        'radiometricLevel = "Corrected";',
        f'radiometricEnhancement = "{meta.extra.get("radiometricEnhancement", "Off")}";',
        f"bitsPerPixel = {meta.bits_per_pixel or 16};",
        'compressionType = "None";',
        'outputFormat = "GeoTIFF";',
    ]
    for band in meta.band_ids:
        lines += [f"BEGIN_GROUP = BAND_{band}", "\tabsCalFactor = 1.0e-02;",
                  "\teffectiveBandwidth = 5.0e-02;", "\tTDILevel = 10;", f"END_GROUP = BAND_{band}"]
    image = [
        f"\tsatId = {q(meta.satellite or 'WV03')};",
        f"\tCatId = {q(meta.catalog_id or 'UNKNOWN')};",
        '\tmode = "FullSwath";',
        '\tscanDirection = "Forward";',
        f"\tfirstLineTime = {_iso(meta.acquired)};",
        "\tavgLineRate = 20000.00;",
        "\texposureDuration = 0.00005000;",
    ]
    for key, value in (
        ("meanProductGSD", meta.mean_gsd),
        ("meanSunAz", meta.sun_azimuth),
        ("meanSunEl", meta.sun_elevation),
        ("meanSatAz", meta.sat_azimuth),
        ("meanSatEl", meta.sat_elevation),
        ("meanOffNadirViewAngle", meta.off_nadir),
        ("cloudCover", meta.cloud_cover),
    ):
        image.append(f"\t{key} = {value if value is not None else -999.0:.4f};")
    lines += ["BEGIN_GROUP = IMAGE_1", *image, "END_GROUP = IMAGE_1", "END;"]
    return "\n".join(lines) + "\n"


def _iso(t: datetime | None) -> str:
    if t is None:
        return "1970-01-01T00:00:00.000000Z"
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------------------------
# XML (isd) and STAC
# --------------------------------------------------------------------------------------------

_XML_FIELDS = {
    "SATID": "satId",
    "CATID": "CatId",
    "FIRSTLINETIME": "firstLineTime",
    "MEANPRODUCTGSD": "meanProductGSD",
    "MEANCOLLECTEDGSD": "meanCollectedGSD",
    "MEANSUNAZ": "meanSunAz",
    "MEANSUNEL": "meanSunEl",
    "MEANSATAZ": "meanSatAz",
    "MEANSATEL": "meanSatEl",
    "MEANOFFNADIRVIEWANGLE": "meanOffNadirViewAngle",
    "CLOUDCOVER": "cloudCover",
}


def read_maxar_xml(path: str | Path) -> MaxarMetadata | None:
    """Stream-parse an isd XML and stop after the IMD section (EPH/ATT lists can be large).

    Returns ``None`` when the XML is not a Maxar isd document (any other XML side-car).
    """
    path = Path(path)
    parsed: dict[str, Any] = {"groups": []}
    image: dict[str, Any] = {}
    mapped: dict[str, Any] = {}
    saw_isd = False
    try:
        for event, elem in ET.iterparse(str(path), events=("start", "end")):
            tag = elem.tag.split("}")[-1].upper()
            if event == "start":
                if tag == "ISD":
                    saw_isd = True
                continue
            if not saw_isd:
                return None
            text = (elem.text or "").strip()
            if tag.startswith("BAND_") and tag[5:] in IMD_BAND_NAMES:
                parsed["groups"].append((tag, {}))
            elif tag in _XML_FIELDS:
                image[_XML_FIELDS[tag]] = _xml_scalar(text)
            elif tag == "BANDID" and "bandId" not in parsed:
                parsed["bandId"] = text
            elif tag == "BITSPERPIXEL":
                parsed["bitsPerPixel"] = _xml_scalar(text)
            elif tag == "PRODUCTLEVEL":
                parsed["productLevel"] = text
            elif tag == "PRODUCTCATALOGID":
                parsed["productCatalogId"] = text
            elif tag == "PRODUCTGSD":
                mapped["productGSD"] = _xml_scalar(text)
            elif tag == "EARLIESTACQTIME":
                mapped["earliestAcqTime"] = text
            elif tag == "IMD":
                break
            elem.clear()
    except ET.ParseError as exc:
        raise InputError(f"{path}: malformed XML metadata ({exc})") from None
    if not saw_isd:
        return None
    parsed["groups"] += [("IMAGE_1", image), ("MAP_PROJECTED_PRODUCT", mapped)]
    meta = metadata_from_imd(parsed)
    return replace(meta, source="XML")


def _xml_scalar(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


_STAC_BAND_ALIASES = {
    "blue": "B", "green": "G", "red": "R", "nir": "N", "nir08": "N", "nir1": "N", "coastal": "C",
    "yellow": "Y", "rededge": "RE", "nir2": "N2", "pan": "P", "b": "B", "g": "G", "r": "R", "n": "N",
}


def metadata_from_stac(item: dict[str, Any], *, name: str = "STAC item") -> MaxarMetadata:
    """Read a STAC item's view/eo properties.

    ``view:incidence_angle`` is not trusted: Maxar's open-data items put the satellite
    *elevation* there (domain.md 1.7). The satellite elevation is recomputed from
    ``view:off_nadir`` and the platform's orbit height instead.
    """
    if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
        raise InputError(f"{name}: not a STAC item (no 'properties' object)")
    p = item["properties"]
    satellite = _str(p.get("platform"))
    if satellite:
        satellite = satellite.upper()
    off_nadir = _float(p.get("view:off_nadir"))
    sat_el = None
    if off_nadir is not None:
        sat_el = 90.0 - view_zenith_from_off_nadir(off_nadir, satellite)
    else:
        inc = _float(p.get("view:incidence_angle"))
        if inc is not None:
            # Spec: zenith at the target. Maxar quirk: elevation. Elevations of VHR collects are
            # above 45 degrees and zeniths below, which tells the two apart.
            sat_el = inc if inc > 45.0 else 90.0 - inc
            off_nadir = off_nadir_from_view_zenith(90.0 - sat_el, satellite)
    cloud = _float(p.get("eo:cloud_cover"))
    if cloud is None:
        cloud = _float(p.get("tile:clouds_percent"))
    bands: tuple[str, ...] = ()
    eo_bands = p.get("eo:bands") or _first_asset_bands(item)
    if isinstance(eo_bands, list):
        names = []
        for b in eo_bands:
            if isinstance(b, dict):
                key = str(b.get("common_name") or b.get("name") or "").lower()
                names.append(_STAC_BAND_ALIASES.get(key, key.upper() or "?"))
        bands = tuple(names)
    return MaxarMetadata(
        source="STAC",
        satellite=satellite,
        catalog_id=_str(p.get("catalog_id")) or _str(p.get("maxar:catalog_id")),
        acquired=parse_time(p.get("datetime")),
        mean_gsd=_float(p.get("gsd")),
        sun_azimuth=_float(p.get("view:sun_azimuth")),
        sun_elevation=_float(p.get("view:sun_elevation")),
        sat_azimuth=_float(p.get("view:azimuth")),
        sat_elevation=sat_el,
        off_nadir=off_nadir,
        cloud_cover=None if cloud is None else (cloud / 100.0),
        band_ids=bands,
    )


def _first_asset_bands(item: dict[str, Any]) -> list[Any] | None:
    assets = item.get("assets")
    if isinstance(assets, dict):
        for asset in assets.values():
            if isinstance(asset, dict) and isinstance(asset.get("eo:bands"), list):
                return asset["eo:bands"]
    return None


def read_stac_item(path: str | Path) -> MaxarMetadata | None:
    """Read a STAC item side-car; ``None`` when the JSON is not a STAC item."""
    path = Path(path)
    try:
        item = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: malformed JSON metadata ({exc})") from None
    if not isinstance(item, dict) or item.get("type") != "Feature" or "stac_version" not in item:
        return None
    return metadata_from_stac(item, name=str(path))


# --------------------------------------------------------------------------------------------
# File names
# --------------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
_MAXAR_NAME_RE = re.compile(
    r"(?P<yy>\d{2})(?P<mon>JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(?P<dd>\d{2})"
    r"(?P<hh>\d{2})(?P<mi>\d{2})(?P<ss>\d{2})-(?P<kind>[PMS])(?P<n>\d)(?P<level>[A-Z0-9]{2})"
)
_ISO_NAME_RE = re.compile(
    r"(?<!\d)(?P<y>(19|20)\d{2})-?(?P<m>0[1-9]|1[0-2])-?(?P<d>0[1-9]|[12]\d|3[01])"
    r"(?:[T_](?P<H>[01]\d|2[0-3])(?P<M>[0-5]\d)(?P<S>[0-5]\d)?)?(?!\d)"
)


def acquired_from_name(name: str) -> datetime | None:
    """Acquisition time from a Maxar product name (``13DEC24083015-M1BS-...``) or an ISO-like
    date in a file name (``khmeimim_2024-12-13.tif``, ``20241213T0830``)."""
    m = _MAXAR_NAME_RE.search(name.upper())
    if m:
        try:
            return datetime(
                2000 + int(m["yy"]), _MONTHS[m["mon"]], int(m["dd"]),
                int(m["hh"]), int(m["mi"]), int(m["ss"]), tzinfo=timezone.utc,
            )
        except ValueError:
            pass
    m = _ISO_NAME_RE.search(name)
    if m:
        try:
            return datetime(
                int(m["y"]), int(m["m"]), int(m["d"]),
                int(m["H"] or 0), int(m["M"] or 0), int(m["S"] or 0), tzinfo=timezone.utc,
            )
        except ValueError:
            return None
    return None


def metadata_from_name(name: str) -> MaxarMetadata | None:
    acquired = acquired_from_name(name)
    if acquired is None:
        return None
    m = _MAXAR_NAME_RE.search(name.upper())
    band_id = None
    level = None
    if m:
        band_id = {"P": "P", "M": "Multi", "S": "Pansharpened"}[m["kind"]]
        level = "LV" + m["level"]
    return MaxarMetadata(source="filename", acquired=acquired, band_id=band_id, product_level=level)


# --------------------------------------------------------------------------------------------
# Side-car discovery
# --------------------------------------------------------------------------------------------

_ARD_SUFFIXES = ("-visual", "-ms", "-pan", "-clouds")


def _sidecar_candidates(image: Path, suffixes: tuple[str, ...]) -> list[Path]:
    stems = [image.stem, image.name]
    for s in _ARD_SUFFIXES:
        if image.stem.endswith(s):
            stems.append(image.stem[: -len(s)])
    if image.suffix.lower() == ".vrt" or image.suffix == "":
        stems.append(image.name)
    try:
        siblings = {p.name.lower(): p for p in image.parent.iterdir() if p.is_file()}
    except OSError:
        return []
    found = []
    for stem in stems:
        for suffix in suffixes:
            p = siblings.get((stem + suffix).lower())
            if p is not None and p != image and p not in found:
                found.append(p)
    return found


def find_metadata(image: str | Path) -> MaxarMetadata | None:
    """Collect Maxar metadata from side-cars of ``image``; the richest source wins per field.

    Order of trust: IMD, then isd XML, then STAC item, then the file name.
    """
    image = Path(image)
    meta: MaxarMetadata | None = None

    def merge(new: MaxarMetadata | None) -> None:
        nonlocal meta
        if new is not None:
            meta = new if meta is None else meta.merged_with(new)

    for p in _sidecar_candidates(image, (".imd",)):
        merge(read_imd(p))
    for p in _sidecar_candidates(image, (".xml",)):
        if p.name.lower().endswith(".aux.xml"):
            continue
        merge(read_maxar_xml(p))
    for p in _sidecar_candidates(image, (".json", ".stac.json")):
        merge(read_stac_item(p))
    merge(metadata_from_name(image.name))
    return meta
