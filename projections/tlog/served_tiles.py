"""Tiles of the sealed tree (c2sp.org/tlog-tiles, see domain/tlog/tiles.py), read from what
the sealer stores: level-0 tiles are ``ledger_leaves``' hashes, a level-L tile the
``ledger_nodes`` of height 8L, an entry bundle the stored events' leaf bytes. A tile is
served only when every hash of it is stored; a stored hash never changes."""

from __future__ import annotations

from typing import Any

import psycopg

from domain.tlog import merkle, tiles
from sql import statement

Connection = psycopg.Connection[Any]


def read_tile(conn: Connection, level: int, index: int, width: int | None) -> bytes | None:
    """The tile's hashes, concatenated (None: the tree does not have them all yet)."""
    height, first, count = tiles.tile_range(level, index, width)
    params = {"first": first, "count": count}
    if height == 0:
        rows = conn.execute(statement("seal", "tile_leaves"), params).fetchall()
    else:
        rows = conn.execute(statement("seal", "tile_nodes"), {**params, "level": height}).fetchall()
    if len(rows) != count:
        return None
    return b"".join(bytes(r[0]) for r in rows)


def read_entries(conn: Connection, index: int, width: int | None) -> bytes | None:
    """The entry bundle of leaves ``index*256`` on (None: not all sealed yet). The
    connection must read the stored events (the admin role)."""
    _, first, count = tiles.tile_range(0, index, width)
    rows = conn.execute(
        statement("seal", "tile_entries"), {"first": first, "count": count}, binary=True
    ).fetchall()
    if len(rows) != count:
        return None
    return tiles.entry_bundle(
        [merkle.leaf_bytes(r[0], r[1], r[2], r[3] or "", r[4] or b"") for r in rows]
    )
