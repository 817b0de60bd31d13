"""Acquisition geometry and radiometry for each date of a scene: time, sun, satellite, sensor.

Every date gets a physically consistent record: the acquisition time is a morning pass over the
site, the sun azimuth/elevation are computed for that instant and place
(:mod:`imagery.synth.solar`), the view zenith follows from the off-nadir angle and the platform's
orbit height (imagery.maxar), and the product GSD is the scene's. Between dates everything that
causes false alarms in change detection varies: sun angle, off-nadir angle and satellite azimuth
(tall things lean differently), a misregistration of a few pixels, radiometric gain/offset, haze
and the season tint of vegetation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import numpy as np

from imagery.maxar import MaxarMetadata, view_zenith_from_off_nadir
from imagery.synth.render import Illumination
from imagery.synth.sensor import Sensor
from imagery.synth.solar import solar_position


@dataclass(frozen=True)
class Acquisition:
    index: int
    acquired: datetime
    satellite: str
    catalog_id: str
    sun_azimuth: float
    sun_elevation: float
    sat_azimuth: float
    off_nadir: float
    view_zenith: float
    gsd: float
    shift_px: tuple[float, float]  # misregistration: content displaced by (dx, dy) px on this date
    greenness: float  # season tint of vegetation, -1 dry .. +1 green
    illumination: Illumination
    sensor: Sensor

    @property
    def sat_elevation(self) -> float:
        return 90.0 - self.view_zenith

    @property
    def day(self) -> str:
        return self.acquired.date().isoformat()

    def metadata(self, band_ids: tuple[str, ...], bits: int, band_id: str) -> MaxarMetadata:
        return MaxarMetadata(
            source="IMD",
            satellite=self.satellite,
            catalog_id=self.catalog_id,
            acquired=self.acquired,
            mean_gsd=self.gsd,
            sun_azimuth=round(self.sun_azimuth, 4),
            sun_elevation=round(self.sun_elevation, 4),
            sat_azimuth=round(self.sat_azimuth, 4),
            sat_elevation=round(self.sat_elevation, 4),
            off_nadir=round(self.off_nadir, 4),
            cloud_cover=0.0,
            band_ids=band_ids,
            bits_per_pixel=bits,
            product_level="LV3D",
            band_id=band_id,
            extra={"productOrderId": f"{int(self.catalog_id[-8:], 16) % 10**12:012d}_01_P001"},
        )

    def to_json_dict(self) -> dict[str, object]:
        return {
            "date": self.day,
            "acquired": self.acquired.isoformat().replace("+00:00", "Z"),
            "satellite": self.satellite,
            "catalog_id": self.catalog_id,
            "sun_azimuth": round(self.sun_azimuth, 3),
            "sun_elevation": round(self.sun_elevation, 3),
            "sat_azimuth": round(self.sat_azimuth, 3),
            "sat_elevation": round(self.sat_elevation, 3),
            "off_nadir": round(self.off_nadir, 3),
            "view_zenith": round(self.view_zenith, 3),
            "gsd": self.gsd,
            "shift_px": [round(v, 3) for v in self.shift_px],
            "greenness": round(self.greenness, 3),
            "gain": [round(v, 2) for v in self.sensor.gain],
            "offset": [round(v, 2) for v in self.sensor.offset],
            "mtf_sigma_px": round(self.sensor.mtf_sigma, 3),
        }


SAT_DIGIT = {"WV01": "2", "WV02": "3", "WV03": "4", "GE01": "5", "LG01": "6", "LG02": "6"}


def season_greenness(day: date) -> float:
    """Mediterranean vegetation: greenest in early spring, driest in late summer."""
    doy = day.timetuple().tm_yday
    return float(math.cos(2 * math.pi * (doy - 80) / 365.0))


def make_acquisitions(
    n: int,
    *,
    start: date,
    interval_days: int,
    lat: float,
    lon: float,
    gsd: float,
    hour_utc: tuple[float, float],
    off_nadir: tuple[float, float],
    satellites: list[str],
    rng: np.random.Generator,
    misregister: bool = True,
) -> list[Acquisition]:
    out = []
    for i in range(n):
        day = start + timedelta(days=i * interval_days)
        hours = rng.uniform(*hour_utc)
        t = datetime.combine(day, time(0, 0), tzinfo=timezone.utc) + timedelta(hours=hours)
        t = t.replace(microsecond=int(rng.integers(0, 1000)) * 1000)
        sun_az, sun_el = solar_position(t, lat, lon)
        sat = satellites[int(rng.integers(len(satellites)))]
        ona = float(rng.uniform(*off_nadir))
        vz = view_zenith_from_off_nadir(ona, sat)
        sat_az = float(rng.uniform(0, 360))
        cat = f"10{SAT_DIGIT.get(sat, '4')}001{int(rng.integers(1 << 40)):010X}"[:16]
        if i == 0 or not misregister:
            shift = (0.0, 0.0)
        else:
            mag = rng.uniform(1.0, 3.5)
            ang = rng.uniform(0, 2 * math.pi)
            shift = (float(mag * math.cos(ang)), float(mag * math.sin(ang)))
        green = float(np.clip(season_greenness(day) + rng.normal(0, 0.15), -1, 1))
        haze = float(rng.uniform(0.0, 1.0))
        gain_k = float(rng.uniform(0.9, 1.1))
        gain = tuple(float(g * gain_k * rng.uniform(0.97, 1.03)) for g in Sensor().gain)
        offset = tuple(float(o * (0.6 + 0.8 * haze) + rng.normal(0, 4)) for o in Sensor().offset)
        diffuse = tuple(float(d * (0.85 + 0.5 * haze)) for d in Illumination(0, 0).diffuse)
        sensor = Sensor(
            gain=gain,
            offset=offset,
            mtf_sigma=float(rng.uniform(0.5, 0.7)),
            chroma_sigma=float(rng.uniform(0.8, 1.5)),
            sharpen=float(rng.uniform(0.15, 0.4)),
            shot=float(rng.uniform(0.08, 0.2)),
            read=float(rng.uniform(1.5, 3.0)),
        )
        out.append(
            Acquisition(
                i,
                t,
                sat,
                cat,
                sun_az,
                sun_el,
                sat_az,
                ona,
                vz,
                gsd,
                shift,
                green,
                Illumination(sun_az, sun_el, diffuse=diffuse),
                sensor,
            )
        )
    return out
