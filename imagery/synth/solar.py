"""Where the sun is, for a place and an instant: the synthetic IMDs must carry sun angles that a
real acquisition over the site could have had, because shadow length and direction are what a
detector (and an analyst) reads heights and headings from.

This is the NOAA solar-position algorithm (the spreadsheet formulation of Meeus' low-precision
theory): accurate to about 0.01 deg in elevation for dates within a few centuries of 2000, which
is far below what a shadow at 0.3 m GSD can show. Refraction is ignored (it matters only within a
few degrees of the horizon, where nobody images).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone


def _julian_day(t: datetime) -> float:
    t = t.astimezone(timezone.utc)
    return t.timestamp() / 86400.0 + 2440587.5


def solar_position(when: datetime, lat_deg: float, lon_deg: float) -> tuple[float, float]:
    """(azimuth, elevation) of the sun in degrees: azimuth clockwise from true north.

    ``when`` must be timezone-aware (naive datetimes are taken as UTC).
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    jc = (_julian_day(when) - 2451545.0) / 36525.0
    geom_mean_long = math.radians((280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0)
    geom_mean_anom = math.radians(357.52911 + jc * (35999.05029 - 0.0001537 * jc))
    eccent = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    centre = math.radians(
        math.sin(geom_mean_anom) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + math.sin(2 * geom_mean_anom) * (0.019993 - 0.000101 * jc)
        + math.sin(3 * geom_mean_anom) * 0.000289
    )
    true_long = geom_mean_long + centre
    omega = math.radians(125.04 - 1934.136 * jc)
    app_long = true_long - math.radians(0.00569 + 0.00478 * math.sin(omega))
    mean_obliq = 23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60.0) / 60.0
    obliq = math.radians(mean_obliq + 0.00256 * math.cos(omega))
    declination = math.asin(math.sin(obliq) * math.sin(app_long))
    y = math.tan(obliq / 2.0) ** 2
    eq_time_min = 4.0 * math.degrees(
        y * math.sin(2 * geom_mean_long)
        - 2 * eccent * math.sin(geom_mean_anom)
        + 4 * eccent * y * math.sin(geom_mean_anom) * math.cos(2 * geom_mean_long)
        - 0.5 * y * y * math.sin(4 * geom_mean_long)
        - 1.25 * eccent * eccent * math.sin(2 * geom_mean_anom)
    )
    t = when.astimezone(timezone.utc)
    minutes = t.hour * 60.0 + t.minute + (t.second + t.microsecond / 1e6) / 60.0
    true_solar_min = (minutes + eq_time_min + 4.0 * lon_deg) % 1440.0
    hour_angle = math.radians(true_solar_min / 4.0 - 180.0)
    lat = math.radians(lat_deg)
    cos_zen = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(declination) * math.cos(
        hour_angle
    )
    zenith = math.acos(max(-1.0, min(1.0, cos_zen)))
    elevation = 90.0 - math.degrees(zenith)
    # Azimuth from the zenith angle, measured clockwise from north.
    denom = math.cos(lat) * math.sin(zenith)
    if abs(denom) < 1e-12:
        azimuth = 180.0
    else:
        cos_az = (math.sin(lat) * math.cos(zenith) - math.sin(declination)) / denom
        az = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
        azimuth = (az + 180.0) % 360.0 if hour_angle > 0 else (540.0 - az) % 360.0
    return azimuth, elevation
