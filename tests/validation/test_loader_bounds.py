"""The manifest loader's bounds: hostile YAML is refused with its line, quickly, never expanded."""

from __future__ import annotations

from pathlib import Path

import pytest

from iter8.manifests import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_DOCUMENTS,
    ManifestError,
    parse_document,
    parse_documents,
    read_documents,
)


def billion_laughs(indent: str = "") -> str:
    """Nine levels of ten aliases each: 10^9 strings once expanded, 100 nodes as written."""
    lines = [f"{indent}a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"{indent}a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def refused(text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        parse_documents(text, "f.yaml")
    return str(caught.value)


def test_alias_expansion_is_bounded() -> None:
    message = refused("kind: Experiment\nunknown:\n" + billion_laughs("  "))
    assert message.startswith("line 1: YAML refused: aliases expand")


def test_a_few_aliases_are_fine() -> None:
    text = "base: &base {a: 1, b: [1, 2]}\none: *base\ntwo:\n  <<: *base\n  a: 3\n"
    (document,) = parse_documents(text)
    assert document.data["one"] == {"a": 1, "b": [1, 2]}
    assert document.data["two"] == {"a": 3, "b": [1, 2]}  # a merge key may override


def test_an_alias_to_its_own_node_is_refused() -> None:
    assert "refers to its own node" in refused("a: &a [1, *a]\n")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 10_000])
def test_deep_nesting_is_refused_with_its_line(depth: int) -> None:
    assert f"nested deeper than {MAX_DEPTH} levels" in refused("a: " + "[" * depth + "]" * depth)
    block = "".join("  " * i + "k:\n" for i in range(depth if depth < 1000 else 1000))
    assert refused(block).startswith(f"line {MAX_DEPTH}: YAML refused: nested deeper")


def test_aliases_cannot_nest_deeper_than_written() -> None:
    half = MAX_DEPTH // 2 + 5
    text = f"a: &deep {'[' * half}{']' * half}\nb: {'[' * half}*deep{']' * half}\n"
    assert "aliases expanded" in refused(text)


def test_duplicate_keys_are_refused_not_last_wins() -> None:
    message = refused("metadata:\n  name: a\n  name: b\n")
    assert (
        message == "line 3: YAML refused: duplicate key 'name' (a key may appear once in a mapping)"
    )


def test_huge_integers_are_refused_not_a_traceback() -> None:
    assert "an integer longer than 100 characters" in refused("n: " + "9" * 5000)
    assert "an integer longer than" in refused("n: 0x" + "f" * 5000)
    assert parse_document("n: " + "9" * 100)["n"] == int("9" * 100)


def test_too_many_documents_are_refused() -> None:
    assert refused("---\na: 1\n" * (MAX_DOCUMENTS + 1)) == f"more than {MAX_DOCUMENTS} documents"


def test_unquoted_timestamps_stay_the_strings_written() -> None:
    data = parse_document("a: 2021-01-02\nb: 2021-01-02T03:04:05Z\nc: !!str 1\n")
    assert data == {"a": "2021-01-02", "b": "2021-01-02T03:04:05Z", "c": "1"}


def test_text_and_files_are_bounded_in_size(tmp_path: Path) -> None:
    assert refused("#" * (MAX_BYTES + 1)) == "larger than 4 MiB"
    big = tmp_path / "big.yaml"
    big.write_text("#" * (MAX_BYTES + 1))
    with pytest.raises(ManifestError, match="larger than 4 MiB"):
        read_documents(big)
    with pytest.raises(ManifestError, match="larger than 4 MiB"):
        read_documents("/dev/zero")  # read no further than the bound: it ends


def test_more_than_one_document_where_one_is_expected() -> None:
    with pytest.raises(ManifestError, match="holds 2 documents, expected one"):
        parse_document("a: 1\n---\nb: 2\n")
