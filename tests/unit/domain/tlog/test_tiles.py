"""domain.tiles: the tile paths of c2sp.org/tlog-tiles and entry bundles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.tlog import tiles


def test_paths_follow_the_spec_examples() -> None:
    assert tiles.index_path(1234067) == "x001/x234/067"
    assert tiles.index_path(0) == "000"
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(1, 5, 112) == "tile/1/005.p/112"
    assert tiles.tile_path("entries", 5, 256) == "tile/entries/005"
    assert tiles.parse_index("x001/x234/067") == (1234067, None)
    assert tiles.parse_index("067.p/17") == (67, 17)
    assert tiles.parse_index("x001/067.p/255") == (1067, 255)


@given(st.integers(min_value=0, max_value=2**63), st.none() | st.integers(1, 255))
def test_paths_round_trip(index: int, width: int | None) -> None:
    path = tiles.tile_path(0, index, width)
    assert tiles.parse_index(path.removeprefix("tile/0/")) == (index, width)


@pytest.mark.parametrize(
    "bad", ["", "67", "0067", "x000/067", "001/067", "x1/067", "067.p/0", "067.p/256", "067.p/07"]
)
def test_malformed_indexes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        tiles.parse_index(bad)


@pytest.mark.parametrize("bad", ["", "01", "64", "-1", "a"])
def test_malformed_levels_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        tiles.parse_level(bad)


def test_a_tree_of_70000_has_the_spec_tiles() -> None:
    size = 70_000
    assert [tiles.nodes_at(level, size) % 256 for level in range(3)] == [112, 17, 1]
    assert tiles.available(0, 272, None, size) and not tiles.available(0, 273, None, size)
    assert tiles.available(0, 273, 112, size) and not tiles.available(0, 273, 113, size)
    assert tiles.available(1, 1, 17, size) and tiles.available(2, 0, 1, size)


def test_entry_bundles_round_trip() -> None:
    entries = [b"", b"a", bytes(300)]
    assert list(tiles.parse_entry_bundle(tiles.entry_bundle(entries))) == entries
    with pytest.raises(ValueError):
        tiles.entry_bundle([bytes(70_000)])
    with pytest.raises(ValueError):
        list(tiles.parse_entry_bundle(b"\x00\x05abc"))
