"""Random and mutated manifests give a model or clear problems, never an escaping exception."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iter8.manifests import Document, ManifestError, parse_documents
from iter8.validation.documents import check_documents
from tests.validation.test_invalid import valid_canary

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


def mutated(
    manifest: Any, data: st.DataObject, values: st.SearchStrategy[Any], deletions: bool
) -> Any:
    """`manifest` with one to four of its fields replaced by `values` (or deleted)."""
    paths = paths_of(manifest)
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(paths))
        parent: Any = manifest
        try:
            for part in path[:-1]:
                parent = parent[part]
            if not deletions or data.draw(st.booleans()):
                parent[path[-1]] = data.draw(values)
            elif isinstance(parent, dict):
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return manifest


def paths_of(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths_of(value, (*prefix, index))
    return found


def assert_clear(manifest: Any) -> None:
    for found in check_documents([Document("f.yaml", 0, 1, manifest)]):
        assert found.problem.path and found.problem.message
        assert "Traceback" not in str(found)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_manifests_never_raise(data: st.DataObject) -> None:
    assert_clear(mutated(valid_canary(), data, json_values, deletions=True))


@settings(max_examples=200)
@given(spec=json_values)
def test_random_specs_never_raise(spec: Any) -> None:
    manifest = copy.deepcopy(valid_canary())
    manifest["spec"] = spec
    assert_clear(manifest)
    assert_clear({"apiVersion": "iter8.tools/v2alpha2", "kind": "Metric", "spec": spec})


@settings(max_examples=200)
@given(text=st.text(max_size=200))
def test_random_yaml_text_parses_or_reports_a_manifest_error(text: str) -> None:
    try:
        documents = parse_documents(text, "f.yaml")
    except ManifestError as error:
        assert str(error)
        return
    for document in documents:
        assert_clear(document.data)
