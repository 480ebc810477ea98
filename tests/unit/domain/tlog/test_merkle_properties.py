"""Property tests of domain.merkle: proofs verify, and any change breaks them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.tlog import merkle

leaves = st.lists(st.binary(max_size=40), min_size=1, max_size=300)


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    data = draw(leaves)
    return [merkle.hash_leaf(d) for d in data], draw(st.integers(0, len(data) - 1))


@st.composite
def tree_and_sizes(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    data = draw(leaves)
    size2 = len(data)
    return [merkle.hash_leaf(d) for d in data], draw(st.integers(1, size2)), size2


@settings(max_examples=200, deadline=None)
@given(tree_and_index(), st.data())
def test_inclusion_proofs_verify_and_any_changed_node_breaks_them(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    hashes, index = case
    size = len(hashes)
    root = merkle.root(hashes)
    path = merkle.inclusion_path(index, size, merkle.memory_nodes(hashes))
    assert len(path) <= (size - 1).bit_length()
    assert merkle.verify_inclusion(hashes[index], index, size, path, root)
    assert not merkle.verify_inclusion(merkle.hash_leaf(b"forged"), index, size, path, root)
    if path:
        at = data.draw(st.integers(0, len(path) - 1))
        changed = [*path[:at], bytes(32), *path[at + 1 :]]
        assert not merkle.verify_inclusion(hashes[index], index, size, changed, root)
        assert not merkle.verify_inclusion(hashes[index], index, size, [*path, path[0]], root)


@settings(max_examples=200, deadline=None)
@given(tree_and_sizes(), st.data())
def test_consistency_proofs_verify_and_any_changed_node_breaks_them(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    hashes, size1, size2 = case
    root1, root2 = merkle.root(hashes[:size1]), merkle.root(hashes)
    proof = merkle.consistency_path(size1, size2, merkle.memory_nodes(hashes))
    assert merkle.verify_consistency(size1, size2, proof, root1, root2)
    if size1 < size2:
        at = data.draw(st.integers(0, len(proof) - 1))
        changed = [*proof[:at], bytes(32), *proof[at + 1 :]]
        assert not merkle.verify_consistency(size1, size2, changed, root1, root2)
        assert not merkle.verify_consistency(size1, size2, proof, root1, bytes(32))


@settings(max_examples=100, deadline=None)
@given(leaves)
def test_appending_one_by_one_gives_the_tree_hash_of_every_prefix(data: list[bytes]) -> None:
    hashes = [merkle.hash_leaf(d) for d in data]
    peaks: list[bytes] = []
    for size, leaf in enumerate(hashes):
        merkle.append(peaks, size, leaf)
        assert len(peaks) == (size + 1).bit_count()
        assert merkle.peaks_root(peaks) == merkle.root(hashes[: size + 1])


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 2**63 - 1),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**63 - 1),
    st.text(max_size=50),
    st.binary(max_size=200),
    st.data(),
)
def test_different_events_have_different_leaf_bytes(
    position: int, aggregate: bytes, version: int, topic: str, state: bytes, data: st.DataObject
) -> None:
    """The encoding is injective: lengths prefix the variable fields."""
    event = (position, aggregate, version, topic, state)
    other = list(event)
    field = data.draw(st.integers(0, 4))
    other[field] = data.draw(
        [
            st.integers(0, 2**63 - 1),
            st.binary(min_size=16, max_size=16),
            st.integers(0, 2**63 - 1),
            st.text(max_size=50),
            st.binary(max_size=200),
        ][field]
    )
    if tuple(other) != event:
        assert merkle.leaf_bytes(*event) != merkle.leaf_bytes(*other)  # type: ignore[arg-type]
