"""The ledger's Merkle tree (RFC 6962 / RFC 9162), usable by auditors on its own.

Only ``hashlib`` is needed, except for :func:`verify_signature` (``cryptography``,
imported when called). An auditor can copy this file and check proofs offline.

Leaves
------
The log is every stored event in log-position (``notification_id``) order; leaf
index ``i`` (0-based) is the ``i``-th event. A leaf's bytes are::

    position      8 bytes, unsigned big-endian   (the event's notification_id)
    aggregate id  16 bytes, the UUID's raw bytes (originator_id)
    version       8 bytes, unsigned big-endian   (originator_version)
    topic length  4 bytes, unsigned big-endian, then the topic in UTF-8
    state length  4 bytes, unsigned big-endian, then the stored state bytes

``leaf hash = SHA-256(0x00 || leaf bytes)``, ``node hash = SHA-256(0x01 || left || right)``,
and the tree hash of ``n`` leaves is RFC 6962's MTH (the empty tree's is SHA-256 of nothing).

Checkpoints
-----------
A checkpoint commits to the first ``tree_size`` leaves. Its Ed25519 signature is
over this UTF-8 text (each line ends in ``\\n``, no other whitespace)::

    export-ledger checkpoint v1
    tree_size <decimal>
    root <64 lowercase hex digits>
    position <decimal: notification_id of the last leaf>
    time <UTC time as YYYY-MM-DDTHH:MM:SS.ffffffZ>

A signing key's id is the first 16 hex digits of SHA-256 of its 32-byte raw public key.

That is the first format ("v1"), which checkpoints signed before a log had an origin keep.
Since then a checkpoint is a C2SP checkpoint (c2sp.org/tlog-checkpoint) in a C2SP signed
note (c2sp.org/signed-note, see domain/tlog/notes.py); the signed note text is::

    <origin>                    the log's name: a schema-less URL, no spaces, no '+'
    <decimal tree size>
    <base64 of the 32-byte root>
    position <decimal: notification_id of the last leaf>         (extension line)
    time <UTC time as YYYY-MM-DDTHH:MM:SS.ffffffZ>                (extension line)

and the note's signature line is ``— <origin> base64(key id || signature)`` with the 4-byte
key id ``SHA-256(origin || 0x0A || 0x01 || public key)[:4]``: the key name is the origin.
Witnesses (c2sp.org/tlog-witness) cosign the whole note text; what they vouch for is the
first three lines.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

EMPTY_ROOT = hashlib.sha256(b"").digest()
CHECKPOINT_HEADER = "export-ledger checkpoint v1"
_HEAD = struct.Struct(">Q16sQI")
_sha256 = hashlib.sha256

Range = tuple[int, int]  # (first leaf index, number of leaves)
Node = tuple[int, int]  # (level, index): the complete subtree of leaves [index << level, ...)
NodeSource = Callable[[int, int], bytes]  # (level, index) -> that subtree's hash


def leaf_bytes(position: int, aggregate_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    """The canonical encoding of one stored event (see the module docstring)."""
    if len(aggregate_id) != 16:
        raise ValueError("an aggregate id is 16 raw bytes")
    text = topic.encode()
    head = _HEAD.pack(position, aggregate_id, version, len(text))
    return b"".join((head, text, len(state).to_bytes(4), state))


def leaf_hash(position: int, aggregate_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    """SHA-256(0x00 || leaf_bytes(...)), in one expression: verify hashes every event."""
    if len(aggregate_id) != 16:
        raise ValueError("an aggregate id is 16 raw bytes")
    text = topic.encode()
    head = _HEAD.pack(position, aggregate_id, version, len(text))
    return _sha256(b"\x00" + head + text + len(state).to_bytes(4) + state).digest()


def hash_leaf(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves, in O(n) time and O(log n) memory."""
    peaks: list[bytes] = []
    for size, leaf in enumerate(leaf_hashes):
        append(peaks, size, leaf)
    return peaks_root(peaks)


def append(peaks: list[bytes], size: int, leaf: bytes) -> None:
    """Add a leaf to a tree of ``size`` leaves kept as its complete subtrees'
    hashes, largest first (one per bit set in ``size``)."""
    node = leaf
    while size & 1:
        node = _sha256(b"\x01" + peaks.pop() + node).digest()
        size >>= 1
    peaks.append(node)


def peaks_root(peaks: Sequence[bytes]) -> bytes:
    """MTH of a tree from its complete subtrees' hashes (largest first)."""
    if not peaks:
        return EMPTY_ROOT
    node = peaks[-1]
    for left in reversed(peaks[:-1]):
        node = hash_children(left, node)
    return node


# -- proofs as ranges of leaves --------------------------------------------------


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """RFC 6962 PATH(index, D[size]) as the leaf ranges whose MTHs it lists, leaf first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    ranges: list[Range] = []
    start = 0
    while size > 1:
        k = _split(size)
        if index < k:
            ranges.append((start + k, size - k))
            size = k
        else:
            ranges.append((start, k))
            index, start, size = index - k, start + k, size - k
    return ranges[::-1]


def consistency_ranges(size1: int, size2: int) -> list[Range]:
    """RFC 6962 PROOF(size1, D[size2]) as leaf ranges, in proof order."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from {size1} to {size2}")
    ranges: list[Range] = []
    start, m, n, whole = 0, size1, size2, True
    while m != n:
        k = _split(n)
        if m <= k:
            ranges.append((start + k, n - k))
            n = k
        else:
            ranges.append((start, k))
            start, m, n, whole = start + k, m - k, n - k, False
    if not whole:
        ranges.append((start, m))
    return ranges[::-1]


def range_nodes(start: int, size: int) -> list[Node]:
    """The complete subtrees that make up an aligned range, left to right."""
    nodes: list[Node] = []
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def nodes_needed(ranges: Iterable[Range]) -> set[Node]:
    return {node for start, size in ranges for node in range_nodes(start, size)}


def range_hash(start: int, size: int, node: NodeSource) -> bytes:
    return peaks_root([node(level, index) for level, index in range_nodes(start, size)])


def inclusion_path(index: int, size: int, node: NodeSource) -> list[bytes]:
    return [range_hash(s, n, node) for s, n in inclusion_ranges(index, size)]


def consistency_path(size1: int, size2: int, node: NodeSource) -> list[bytes]:
    return [range_hash(s, n, node) for s, n in consistency_ranges(size1, size2)]


def memory_nodes(leaf_hashes: Sequence[bytes]) -> NodeSource:
    """A node source over leaves held in memory (O(n) to build)."""
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([hash_children(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return lambda level, index: levels[level][index]


# -- verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) ---------------------------


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    if not 0 <= index < tree_size:
        return False
    fn, sn, node = index, tree_size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = hash_children(sibling, node)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hash_children(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and node == expected_root


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    if not 0 <= size1 <= size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof and root1 == EMPTY_ROOT
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, root1)
    if not path:
        return False
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first, second = hash_children(node, first), hash_children(node, second)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = hash_children(second, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and first == root1 and second == root2


# -- checkpoints -------------------------------------------------------------------


def checkpoint_text(tree_size: int, root_hash: bytes, position: int, time: datetime) -> bytes:
    """The signed text of a checkpoint (see the module docstring)."""
    lines = (
        CHECKPOINT_HEADER,
        f"tree_size {tree_size}",
        f"root {root_hash.hex()}",
        f"position {position}",
        f"time {checkpoint_time(time)}",
    )
    return "".join(line + "\n" for line in lines).encode()


def checkpoint_note_text(
    origin: str, tree_size: int, root_hash: bytes, position: int, time: datetime
) -> bytes:
    """The signed note text of a C2SP checkpoint (see the module docstring)."""
    lines = (
        origin,
        str(tree_size),
        base64.b64encode(root_hash).decode(),
        f"position {position}",
        f"time {checkpoint_time(time)}",
    )
    return "".join(line + "\n" for line in lines).encode()


def parse_checkpoint_note_text(text: bytes) -> tuple[str, int, bytes, list[str]]:
    """(origin, tree size, root, extension lines) of a C2SP checkpoint's note text;
    ValueError when it is not one."""
    lines = text.decode().split("\n")
    if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
        raise ValueError("a checkpoint is an origin, a size, a root and extension lines")
    origin, size, encoded = lines[:3]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise ValueError(f"a checkpoint's size is a decimal number, not {size[:30]!r}")
    root_hash = base64.b64decode(encoded, validate=True)
    if len(root_hash) != 32:
        raise ValueError("a checkpoint's root is 32 bytes")
    return origin, int(size), root_hash, lines[3:-1]


def checkpoint_time(time: datetime) -> str:
    """A checkpoint's time as it is signed: UTC, microseconds, ``Z``."""
    if time.tzinfo is None:
        raise ValueError("a checkpoint time must carry a timezone")
    return time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Ed25519 verification of ``message`` with a 32-byte raw public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
