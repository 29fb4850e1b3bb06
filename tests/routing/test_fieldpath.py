from __future__ import annotations

import jsonpointer
import pytest

from iter8.routing.fieldpath import FieldPathError, lookup, parse, to_pointer


@pytest.mark.parametrize(
    ("field_path", "pointer"),
    [
        (".spec.traffic[1].percent", "/spec/traffic/1/percent"),
        (".spec.http[0].route[1].weight", "/spec/http/0/route/1/weight"),
        ("{.spec.backends[0].weight}", "/spec/backends/0/weight"),
        ("$.spec.traffic[10].percent", "/spec/traffic/10/percent"),
        (
            ".metadata.annotations['iter8.tools/weight']",
            "/metadata/annotations/iter8.tools~1weight",
        ),
        ('.metadata.annotations["a~b/c"]', "/metadata/annotations/a~0b~1c"),
        (".data['~1']", "/data/~01"),  # `~` escaped first, so a literal "~1" stays itself
    ],
)
def test_field_path_to_json_pointer(field_path: str, pointer: str) -> None:
    assert to_pointer(field_path) == pointer


def test_the_pointer_reaches_the_value_the_path_names() -> None:
    obj = {"metadata": {"annotations": {"a/b~c": 7, "a": {"b~c": 9}}}}
    for field_path, expected in [(".metadata.annotations['a/b~c']", 7)]:
        keys = parse(field_path)
        assert lookup(obj, keys) == expected
        assert jsonpointer.resolve_pointer(obj, to_pointer(keys)) == expected


@pytest.mark.parametrize(
    "bad", ["spec.traffic[0].percent", ".", ".spec.traffic[x].percent", ".spec..a", ""]
)
def test_malformed_paths_are_refused(bad: str) -> None:
    with pytest.raises(FieldPathError):
        parse(bad)


def test_lookup_says_which_key_is_missing() -> None:
    obj = {"spec": {"traffic": [{"percent": 1}]}}
    with pytest.raises(FieldPathError, match=r"\.spec\.traffic\[3\] does not exist .*1 entries"):
        lookup(obj, parse(".spec.traffic[3].percent"))
    with pytest.raises(FieldPathError, match="is not a list"):
        lookup(obj, parse(".spec[0]"))
