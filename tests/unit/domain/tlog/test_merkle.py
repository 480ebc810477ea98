"""domain.tlog.merkle against the Certificate Transparency test vectors and against a
naive implementation written straight from RFC 6962's definitions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.tlog import merkle

# The eight leaves of the CT test suite, with the tree hash of each prefix.
CT_LEAVES = [
    bytes.fromhex(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {  # (leaf index, tree size): audit path
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CT_CONSISTENCY = {  # (size1, size2): proof
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CT_HASHES = [merkle.hash_leaf(leaf) for leaf in CT_LEAVES]
WRONG = hashlib.sha256(b"not a tree hash").digest()


# -- the naive reference: RFC 6962 section 2.1, recursion and all ---------------------


def naive_mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = largest_power_of_two_below(n)
    return hashlib.sha256(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:])).digest()


def naive_path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*naive_path(m, data[:k]), naive_mth(data[k:])]
    return [*naive_path(m - k, data[k:]), naive_mth(data[:k])]


def naive_proof(m: int, data: list[bytes]) -> list[bytes]:
    return naive_subproof(m, data, True)


def naive_subproof(m: int, data: list[bytes], whole: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if whole else [naive_mth(data)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*naive_subproof(m, data[:k], whole), naive_mth(data[k:])]
    return [*naive_subproof(m - k, data[k:], False), naive_mth(data[:k])]


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def data_of(size: int) -> list[bytes]:
    return [i.to_bytes(2, "big") * (i % 3) for i in range(size)]


# -- the CT vectors ---------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_ct_vectors(size: int) -> None:
    assert merkle.root(CT_HASHES[:size]).hex() == CT_ROOTS[size - 1]


def test_the_empty_tree_hashes_to_the_hash_of_nothing() -> None:
    assert merkle.root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("index", "size"), list(CT_INCLUSION))
def test_inclusion_paths_match_the_ct_vectors(index: int, size: int) -> None:
    path = merkle.inclusion_path(index, size, merkle.memory_nodes(CT_HASHES[:size]))
    assert [p.hex() for p in path] == CT_INCLUSION[index, size]
    root = bytes.fromhex(CT_ROOTS[size - 1])
    assert merkle.verify_inclusion(CT_HASHES[index], index, size, path, root)


@pytest.mark.parametrize(("size1", "size2"), list(CT_CONSISTENCY))
def test_consistency_proofs_match_the_ct_vectors(size1: int, size2: int) -> None:
    proof = merkle.consistency_path(size1, size2, merkle.memory_nodes(CT_HASHES[:size2]))
    assert [p.hex() for p in proof] == CT_CONSISTENCY[size1, size2]
    root1, root2 = (bytes.fromhex(CT_ROOTS[s - 1]) for s in (size1, size2))
    assert merkle.verify_consistency(size1, size2, proof, root1, root2)


# -- against the naive reference, every size to 64 -------------------------------------


def test_roots_and_inclusion_paths_match_the_reference_for_every_size_to_64() -> None:
    data = data_of(64)
    hashes = [merkle.hash_leaf(d) for d in data]
    for size in range(1, 65):
        nodes = merkle.memory_nodes(hashes[:size])
        root = naive_mth(data[:size])
        assert merkle.root(hashes[:size]) == root
        for index in range(size):
            path = merkle.inclusion_path(index, size, nodes)
            assert path == naive_path(index, data[:size]), (index, size)
            assert merkle.verify_inclusion(hashes[index], index, size, path, root)
            assert not merkle.verify_inclusion(hashes[index], index, size, path, WRONG)
            if size > 1:
                other = (index + 1) % size
                assert not merkle.verify_inclusion(hashes[index], other, size, path, root)
                assert not merkle.verify_inclusion(hashes[index], index, size, path[:-1], root)


def test_consistency_proofs_match_the_reference_for_every_pair_to_64() -> None:
    data = data_of(64)
    hashes = [merkle.hash_leaf(d) for d in data]
    roots = [naive_mth(data[:size]) for size in range(65)]
    for size2 in range(1, 65):
        nodes = merkle.memory_nodes(hashes[:size2])
        for size1 in range(1, size2 + 1):
            proof = merkle.consistency_path(size1, size2, nodes)
            assert proof == naive_proof(size1, data[:size2]), (size1, size2)
            assert merkle.verify_consistency(size1, size2, proof, roots[size1], roots[size2])
            if size1 < size2:
                wrong = WRONG
                assert not merkle.verify_consistency(size1, size2, proof, wrong, roots[size2])
                assert not merkle.verify_consistency(size1, size2, proof, roots[size1], wrong)


def test_every_needed_node_is_a_complete_subtree_inside_the_tree() -> None:
    for size in range(1, 70):
        for index in range(size):
            for level, node in merkle.nodes_needed(merkle.inclusion_ranges(index, size)):
                assert (node + 1) << level <= size


def test_out_of_range_proofs_are_refused() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(0, 3)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(4, 3)
    assert not merkle.verify_inclusion(CT_HASHES[0], 8, 8, [], CT_HASHES[0])
    assert not merkle.verify_consistency(5, 4, [], CT_HASHES[0], CT_HASHES[0])


def test_the_empty_and_equal_trees_need_no_consistency_proof() -> None:
    root = bytes.fromhex(CT_ROOTS[3])
    assert merkle.verify_consistency(0, 4, [], merkle.EMPTY_ROOT, root)
    assert not merkle.verify_consistency(0, 4, [root], merkle.EMPTY_ROOT, root)
    assert merkle.verify_consistency(4, 4, [], root, root)
    assert not merkle.verify_consistency(4, 4, [root], root, root)


# -- leaves and checkpoints --------------------------------------------------------------


def test_a_leaf_is_encoded_exactly_as_documented() -> None:
    aggregate = UUID("00112233-4455-6677-8899-aabbccddeeff")
    encoded = merkle.leaf_bytes(258, aggregate.bytes, 3, "t\u00e9", b"{}")
    assert encoded.hex() == (
        "0000000000000102"
        "00112233445566778899aabbccddeeff"
        "0000000000000003"
        "00000003" + "74c3a9" + "00000002" + "7b7d"
    )
    assert merkle.leaf_hash(258, aggregate.bytes, 3, "t\u00e9", b"{}") == (
        hashlib.sha256(b"\x00" + encoded).digest()
    )
    with pytest.raises(ValueError):
        merkle.leaf_bytes(1, b"short", 1, "", b"")


def test_the_checkpoint_text_is_canonical_whatever_the_timezone() -> None:
    moment = datetime(2026, 3, 3, 14, 0, 5, 120, tzinfo=UTC)
    text = merkle.checkpoint_text(8, bytes(32), 42, moment)
    assert text == (
        b"export-ledger checkpoint v1\ntree_size 8\nroot "
        + b"00" * 32
        + b"\nposition 42\ntime 2026-03-03T14:00:05.000120Z\n"
    )
    elsewhere = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert merkle.checkpoint_text(8, bytes(32), 42, elsewhere) == text
    with pytest.raises(ValueError):
        merkle.checkpoint_text(8, bytes(32), 42, datetime(2026, 3, 3))


def test_signatures_verify_only_with_the_signing_key_and_text() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    text = merkle.checkpoint_text(1, bytes(32), 1, datetime.now(UTC))
    signature = key.sign(text)
    assert merkle.verify_signature(public, signature, text)
    assert not merkle.verify_signature(public, signature, text + b" ")
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert not merkle.verify_signature(other, signature, text)
    assert not merkle.verify_signature(b"short", signature, text)
    assert merkle.key_id(public) == hashlib.sha256(public).hexdigest()[:16]
