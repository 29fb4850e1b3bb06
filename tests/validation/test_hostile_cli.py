"""Hostile input through the command line: `iter8 validate` (and `describe FILE`) on random YAML,
mutated manifests, deep nesting, aliases and huge numbers never raise; they exit 0 or 2, and
every line of a refusal names the file and what is wrong (a line, or a field and its problem)."""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iter8.cli.main import cli
from tests.validation.test_fuzz import mutated
from tests.validation.test_invalid import valid_canary

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hostile_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**99)
    | st.floats()  # nan and infinities included
    | st.text(max_size=12)
    | st.sampled_from(
        ["1e999999999", "-1e9999", "9" * 120, "2021-01-02", "0x" + "f" * 40, "((((", "\x00", "*a"]
    )
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
yaml_fragments = st.sampled_from(
    [
        "&a [1, 2]",
        "*a",
        "<<: *a",
        "[" * 150,
        "]" * 150,
        "{a: " * 120,
        "9" * 5000,
        "!!python/object:os.system",
        "? [x]\n: y",
        "a: 1\na: 2",
        "---",
        "%YAML 1.1",
        "\t",
        "'unterminated",
        "2021-01-02T03:04:05Z",
        ".nan",
        "-.inf",
    ]
)


def validate(text: str, *, command: str = "validate") -> tuple[int, list[str], str]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "hostile.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = CliRunner().invoke(cli, [command, str(path)])
        output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2), (result.exit_code, output)
    assert "Traceback" not in output
    lines = output.replace(str(path), "FILE").splitlines()
    return result.exit_code, lines, output


def assert_clear_refusal(code: int, lines: list[str]) -> None:
    if code == 0:
        return
    assert lines
    for line in lines:
        assert line.startswith("FILE: "), line
        rest = line.removeprefix("FILE: ")
        assert ": " in rest or rest.startswith(("larger than", "more than", "holds no")), line


def assert_validate_is_clear(text: str) -> None:
    code, lines, _ = validate(text)
    assert_clear_refusal(code, lines)


@FUZZ
@given(text=st.text(max_size=300))
def test_random_text(text: str) -> None:
    assert_validate_is_clear(text)


@FUZZ
@given(
    parts=st.lists(yaml_fragments | st.text(max_size=20), min_size=1, max_size=8),
    glue=st.sampled_from(["\n", " ", "\n  ", ": "]),
)
def test_random_yaml_fragments(parts: list[str], glue: str) -> None:
    assert_validate_is_clear("kind: Experiment\n" + glue.join(parts))


@FUZZ
@given(data=st.data())
def test_mutated_manifests(data: st.DataObject) -> None:
    manifest = mutated(valid_canary(), data, hostile_values, deletions=False)
    text = yaml.safe_dump(manifest, allow_unicode=True)
    code, lines, _ = validate(text)
    assert_clear_refusal(code, lines)
    code, lines, output = validate(text, command="describe")  # errors go to stderr, mixed in
    assert code == 0 or all(line.startswith("FILE") for line in lines), output


@settings(FUZZ, max_examples=40)
@given(
    depth=st.integers(1, 1500),
    flow=st.booleans(),
    key=st.sampled_from(["spec", "unknown", "metadata"]),
)
def test_deep_nesting(depth: int, flow: bool, key: str) -> None:
    block = "".join("  " * i + "k:\n" for i in range(min(depth, 300)))  # 300 levels: 90,000 bytes
    nested = "[" * depth + "]" * depth if flow else block
    text = yaml.safe_dump(valid_canary()).replace(f"{key}:", f"{key}_:", 1)
    assert_validate_is_clear(
        text + f"{key}:\n  " + nested.replace("\n", "\n  ")
        if not flow
        else text + f"{key}: {nested}\n"
    )


@FUZZ
@given(
    number=st.integers(min_value=-(10**150), max_value=10**150) | st.floats(),
    field=st.sampled_from(["intervalSeconds", "iterationsPerLoop", "maxLoops"]),
)
def test_huge_numbers_in_bounded_fields(number: int | float, field: str) -> None:
    manifest = copy.deepcopy(valid_canary())
    manifest["spec"]["duration"][field] = number
    manifest["spec"]["criteria"]["objectives"][0]["upperLimit"] = number
    code, lines, _ = validate(yaml.safe_dump(manifest))
    assert_clear_refusal(code, lines)
    highest = {"intervalSeconds": 86_400, "iterationsPerLoop": 10_000, "maxLoops": 2_000}[field]
    whole = isinstance(number, int) or (math.isfinite(number) and number == int(number))
    assert code == (0 if whole and 1 <= number <= highest else 2), lines


@FUZZ
@given(levels=st.integers(2, 12), width=st.integers(2, 12))
def test_alias_bombs(levels: int, width: int) -> None:
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    bomb = "\n".join("  " + line for line in lines)
    code, found, _ = validate(yaml.safe_dump(valid_canary()) + "unknown:\n" + bomb + "\n")
    assert_clear_refusal(code, found)
    expanded = sum(width**level for level in range(levels)) + levels * 2  # roughly
    if expanded > 100_000:
        assert code == 2 and "aliases expand" in found[0]
