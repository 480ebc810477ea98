"""Tiles of the Merkle tree (c2sp.org/tlog-tiles), usable by auditors on their own.

A tile at level ``L``, index ``N`` is up to 256 consecutive hashes of complete subtrees of
``256**L`` leaves: hash ``i`` is ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])``,
which is the tree node at height ``8 * L``, index ``N*256 + i`` (level 0: the leaf hashes).
A full tile is 256 hashes (8,192 bytes); the rightmost tile of a level is partial, of
width ``floor(size / 256**L) mod 256``. Paths::

    tile/<L>/<N>[.p/<W>]          L: 0..63, W: 1..255, decimal without leading zeroes
    tile/entries/<N>[.p/<W>]      the leaves' bytes (domain/tlog/merkle.py), as an entry bundle

``<N>`` is written in 3-digit groups, all but the last prefixed with ``x``: 1234067 is
``x001/x234/067``. An entry bundle is each leaf's bytes after a 2-byte big-endian length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

WIDTH = 256
HEIGHT = 8
MAX_LEVEL = 63
_GROUP = re.compile(r"^x\d{3}$")
_LAST = re.compile(r"^\d{3}$")
_WIDTH = re.compile(r"^[1-9]\d{0,2}$")


def index_path(index: int) -> str:
    """``N`` as path elements: 1234067 -> ``x001/x234/067``."""
    if index < 0:
        raise ValueError("a tile index is not negative")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    return "/".join(["x" + g for g in reversed(groups[1:])] + [groups[0]])


def tile_path(level: int | str, index: int, width: int | None = None) -> str:
    """The path of a tile (``level`` "entries": an entry bundle); ``width`` below 256: partial."""
    suffix = "" if width is None or width == WIDTH else f".p/{width}"
    return f"tile/{level}/{index_path(index)}{suffix}"


def parse_index(text: str) -> tuple[int, int | None]:
    """(N, W) of ``<N>[.p/<W>]`` (W None: a full tile); ValueError when malformed."""
    parts = text.split("/")
    width: int | None = None
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not _WIDTH.match(parts[-1]) or int(parts[-1]) >= WIDTH:
            raise ValueError(f"a partial tile's width is 1 to 255, not {parts[-1][:10]!r}")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    *groups, last = parts
    if not _LAST.match(last) or not all(_GROUP.match(g) for g in groups):
        raise ValueError(f"not a tile index: {text[:40]!r}")
    if groups and groups[0] == "x000":
        raise ValueError(f"a tile index has no leading zero groups: {text[:40]!r}")
    index = 0
    for group in [*(g[1:] for g in groups), last]:
        index = index * 1000 + int(group)
    return index, width


def parse_level(text: str) -> int:
    if not re.fullmatch(r"0|[1-9]\d?", text) or int(text) > MAX_LEVEL:
        raise ValueError(f"a tile level is 0 to {MAX_LEVEL}, not {text[:10]!r}")
    return int(text)


def nodes_at(level: int, tree_size: int) -> int:
    """How many complete subtrees of ``256**level`` leaves a tree of ``tree_size`` has."""
    return tree_size >> (HEIGHT * level)


def tile_range(level: int, index: int, width: int | None) -> tuple[int, int, int]:
    """(tree height, first node index, count) of the hashes of a tile."""
    return HEIGHT * level, index * WIDTH, WIDTH if width is None else width


def available(level: int, index: int, width: int | None, tree_size: int) -> bool:
    """Whether a tree of ``tree_size`` has every hash of the tile (it never changes then)."""
    _, first, count = tile_range(level, index, width)
    return first + count <= nodes_at(level, tree_size)


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    for entry in entries:
        if len(entry) > 0xFFFF:
            raise ValueError(f"an entry of {len(entry)} bytes does not fit an entry bundle")
    return b"".join(len(e).to_bytes(2) + e for e in entries)


def parse_entry_bundle(data: bytes) -> Iterator[bytes]:
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError("an entry bundle ends inside a length")
        size = int.from_bytes(data[at : at + 2])
        if at + 2 + size > len(data):
            raise ValueError("an entry bundle ends inside an entry")
        yield data[at + 2 : at + 2 + size]
        at += 2 + size
