"""The map's offline files: the bundled Weihai outlines (valid GeoJSON, the four county-level
divisions with the regions table's codes and names, every seeded town inside its district, in
GCJ-02) and the vendored Leaflet (nothing fetched from elsewhere)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from callcenter import geo
from callcenter.seed import REGIONS_CSV
from callcenter.seed_data import district_of, make_regions, parse_regions_csv

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
GEOJSON = STATIC / "data" / "weihai.geojson"
FOUR = {"371002": "环翠区", "371003": "文登区", "371082": "荣成市", "371083": "乳山市"}
Ring = list[list[float]]


def load() -> dict[str, Any]:
    return json.loads(GEOJSON.read_text("utf-8"))


def rings() -> dict[str, Ring]:
    return {f["properties"]["code"]: f["geometry"]["coordinates"][0] for f in load()["features"]}


def inside(lon: float, lat: float, ring: Ring) -> bool:
    """Even-odd ray casting."""
    found = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            found = not found
    return found


def _cross(o: list[float], a: list[float], b: list[float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: list[float], p2: list[float], q1: list[float], q2: list[float]) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def test_the_file_is_a_feature_collection_of_four_closed_polygons() -> None:
    doc = load()
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == 4
    for f in doc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Polygon"
        props = f["properties"]
        assert set(props) >= {"code", "name", "name_en", "label"}
        (ring,) = f["geometry"]["coordinates"]
        assert ring[0] == ring[-1] and len(ring) >= 12, props["code"]
        for lon, lat in ring:  # GeoJSON order; Weihai spans about 121.2-122.7 E, 36.7-37.6 N
            assert 121.1 < lon < 122.8 and 36.7 < lat < 37.65, (props["code"], lon, lat)
        edges = list(itertools.pairwise(ring))
        for (i, a), (j, b) in itertools.combinations(enumerate(edges), 2):
            if j - i > 1 and not (i == 0 and j == len(edges) - 1):
                assert not _segments_cross(*a, *b), (props["code"], i, j)
        area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in edges) / 2
        assert area > 0, "exterior rings run counter-clockwise (RFC 7946)"
        assert inside(*props["label"], ring), props["code"]


def test_codes_and_names_match_the_regions_table() -> None:
    districts = {d.code: d for d in parse_regions_csv(REGIONS_CSV.read_text("utf-8"))}
    seeded = {r.code: r for r in make_regions(list(districts.values()), 12349)}
    found = {f["properties"]["code"]: f["properties"] for f in load()["features"]}
    assert {c: p["name"] for c, p in found.items()} == FOUR
    for code, props in found.items():
        assert seeded[code].level == "district"
        assert (props["name"], props["name_en"]) == (seeded[code].name, seeded[code].name_en)
    # the zones without an outline of their own (and the city) have an anchor point
    anchors = load()["anchors"]
    others = {c for c, d in districts.items() if c not in FOUR}
    assert set(anchors) == others
    for lon, lat in anchors.values():
        assert any(inside(lon, lat, ring) for ring in rings().values())


def test_neighbours_share_their_border_vertices() -> None:
    """Tiled outlines: no gaps or overlaps between districts, so no town lies in two."""
    outlines = rings()
    for a, b in itertools.combinations(outlines, 2):
        for lon, lat in outlines[a][:-1]:
            assert not inside(lon, lat, outlines[b]) or [lon, lat] in outlines[b], (a, b)


@pytest.mark.parametrize("seed", [12349, 1, 2, 3])
def test_every_seeded_town_lies_in_its_district(seed: int) -> None:
    """Town centres (WGS-84 in the regions table) drawn in GCJ-02 fall inside their district;
    the development zones' towns inside Weihai."""
    outlines = rings()
    districts = parse_regions_csv(REGIONS_CSV.read_text("utf-8"))
    towns = [r for r in make_regions(districts, seed) if r.level == "town"]
    assert len(towns) > 60
    for town in towns:
        glat, glon = geo.wgs84_to_gcj02(town.center_lat, town.center_lon)
        home = district_of(town)
        hits = {code for code, ring in outlines.items() if inside(glon, glat, ring)}
        if home in outlines:
            assert hits == {home}, (town.code, town.name, hits)
        else:
            assert len(hits) == 1, (town.code, town.name, hits)


def test_the_test_world_lies_in_its_districts() -> None:
    from tests.factories import REGIONS

    outlines = rings()
    for code, _parent, level, name, *_rest, lat, lon in REGIONS:
        if level == "city":
            continue
        glat, glon = geo.wgs84_to_gcj02(lat, lon)
        assert inside(glon, glat, outlines[code[:6]]), (code, name)


def test_leaflet_is_vendored_and_nothing_points_elsewhere() -> None:
    vendor = STATIC / "vendor" / "leaflet"
    for name in ("leaflet.js", "leaflet.css", "LICENSE", "images/layers.png",
                 "images/marker-icon.png"):
        assert (vendor / name).is_file(), name
    assert "Leaflet 1.9.4" in (vendor / "leaflet.js").read_text("utf-8")[:200]
    for path in (STATIC / "map.js", STATIC / "map.css", vendor / "leaflet.css"):
        text = path.read_text("utf-8")
        assert not re.search(r"(?:url\(|import |fetch\()\s*[\"']?(?:https?:)?//", text), path
    readme = (STATIC / "data" / "README.md").read_text("utf-8")
    assert "simplified approximations" in readme and "not survey boundaries" in readme
