"""Placeholders become quoted references to environment variables, so no value is ever parsed
by bash as code. Each test runs the rendered script in a real bash and compares what the
script saw with the raw value, byte for byte."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from iter8.tasks.shell import render_script
from iter8.tasks.template import TemplateError

HOSTILE = [
    "v2; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; '",
    '"; touch PWNED; "',
    "a b  *  c\n$HOME\\n",
    "${IFS}touch${IFS}PWNED",
    "-rf /",
]


def run(script: str, values: dict[str, str], cwd: Path, inlined: tuple[str, ...] = ()) -> str:
    rendered = render_script(script, values.__getitem__)
    for expression, value in values.items():  # the values are nowhere in the script text
        if len(value) > 3 and expression not in inlined:
            assert value not in rendered.script
    out = subprocess.run(
        ["bash", "-c", rendered.script],
        env={**os.environ, **rendered.env},
        cwd=cwd,
        capture_output=True,
        check=True,
    )
    assert not (cwd / "PWNED").exists(), "a value ran as a command"
    return out.stdout.decode()


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "template",
    [
        "printf %s @< .V >@",  # unquoted
        'printf %s "@< .V >@"',  # in double quotes
        "printf %s '@< .V >@'",  # in single quotes
        "printf %s $'@< .V >@'",  # in ANSI-C quotes
        'x=$(printf %s "@< .V >@"); printf %s "$x"',  # in a command substitution
        "printf %s ${UNSET:-@< .V >@}",  # in a parameter expansion
        'printf %s "`printf %s @< .V >@`"',  # in backquotes
    ],
)
def test_a_value_reaches_the_command_as_one_intact_argument(
    template: str, value: str, tmp_path: Path
) -> None:
    seen = run(template, {".V": value}, tmp_path)
    if "$(" in template or "`" in template:
        value = value.rstrip("\n")  # command substitution drops trailing newlines
    assert seen == value


def test_text_around_a_placeholder_keeps_its_meaning(tmp_path: Path) -> None:
    script = (
        "echo pre-@< .N >@.yaml \"dq @< .N >@ dq\" 'sq @< .N >@ sq'  # it's @< .N >@\n"
        "echo ${#HOME} $((1 + @< .I >@))\n"
    )
    seen = run(script, {".N": "x y", ".I": "41"}, tmp_path)
    lines = seen.splitlines()
    assert lines[0] == "pre-x y.yaml dq x y dq sq x y sq"
    assert lines[1].split()[1] == "42"


def test_here_documents(tmp_path: Path) -> None:
    script = (
        "cat <<EOF\nunquoted @< .V >@\nEOF\n"
        "cat <<-'END'\n\tquoted @< .S >@\n\tEND\n"
        "cat <<< @< .V >@\n"
    )
    values = {".V": "$(touch PWNED) a", ".S": "safe-v1.2"}
    seen = run(script, values, tmp_path, inlined=(".S",))  # a quoted body takes safe text
    assert seen.splitlines() == [
        "unquoted $(touch PWNED) a",
        "quoted safe-v1.2",  # <<- strips the tabs
        "$(touch PWNED) a",
    ]


@pytest.mark.parametrize(
    ("script", "values", "message"),
    [
        ("cat <<'EOF'\n@< .V >@\nEOF\n", {".V": "x; y"}, "quoted here-document"),
        ("cat <<'EOF'\n@< .V >@\nEOF\n", {".V": "EOF"}, "end the here-document early"),
        ("echo $(( @< .V >@ + 1 ))", {".V": "2 * x"}, "no integer"),
        ("(( @< .V >@ > 1 ))", {".V": "2 * x"}, "no integer"),
        ("echo $[ @< .V >@ ]", {".V": "x"}, "no integer"),
        ("echo @< .V ", {".V": "x"}, "never closed"),
    ],
)
def test_where_a_value_cannot_be_passed_safely_rendering_refuses(
    script: str, values: dict[str, str], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        render_script(script, values.__getitem__)


def test_each_expression_gets_one_variable() -> None:
    rendered = render_script("a @< .A >@ @<.A>@ @< .B >@", {".A": "1", ".B": "2"}.__getitem__)
    assert rendered.env == {"ITER8_VALUE_0": "1", "ITER8_VALUE_1": "2"}
    assert rendered.script == 'a "${ITER8_VALUE_0}" "${ITER8_VALUE_0}" "${ITER8_VALUE_1}"'


# Values that run `touch PWNED` wherever bash evaluates them as arithmetic or as a name.
ARITHMETIC_HOSTILE = [
    "a[$(touch PWNED)]",
    "a[`touch PWNED`]",
    "x[$(touch PWNED)]+1",
    "a[b[$(touch PWNED)]]",
    "1 + a[ ${HOME/#/$(touch PWNED)} ]",
]
# Every place where bash evaluates a value as arithmetic (or takes it as a variable name).
ARITHMETIC_CONTEXTS = [
    "(( @< .V >@ > 1 ))",
    "for (( i = 0; i < @< .V >@; i++ )); do :; done",
    "echo $(( @< .V >@ ))",
    "echo $[ @< .V >@ ]",
    "declare -a a; echo ${a[@< .V >@]}",
    'x="@< .V >@"; (( x > 1 ))',
    "x=@< .V >@; echo $(( x ))",
    'let "y = @< .V >@"',
    "declare -i n; n=@< .V >@",
    "declare -i n=@< .V >@",
    'printf -v "@< .V >@" %s 1',
    'read "@< .V >@" <<< 1',
    "[[ @< .V >@ -eq 1 ]]",
    '[[ -v "@< .V >@" ]]',
    'declare "@< .V >@=1"',
]


@pytest.mark.parametrize("value", ARITHMETIC_HOSTILE)
@pytest.mark.parametrize("template", ARITHMETIC_CONTEXTS)
def test_no_arithmetic_context_runs_a_value(template: str, value: str, tmp_path: Path) -> None:
    """Refused at rendering, or (if rendered) run by a real bash without running the value."""
    try:
        rendered = render_script(template, {".V": value}.__getitem__)
    except TemplateError:
        return
    subprocess.run(
        ["bash", "-c", rendered.script],
        env={**os.environ, **rendered.env},
        cwd=tmp_path,
        capture_output=True,
    )
    assert not (tmp_path / "PWNED").exists(), "a value ran as a command"


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("(( @< .V >@ > 1 )) && echo big", "3", "big"),
        ("for (( i = 0; i < @< .V >@; i++ )); do printf %s $i; done; echo", "3", "012"),
        ("echo $[ @< .V >@ + 1 ]", "41", "42"),
        ("a=(x y z); echo ${a[@< .V >@]}", "2", "z"),
        ('declare -A m=([k1]=one); echo ${m["@< .V >@"]}', "k1", "one"),
        ('read -r line <<< "@< .V >@"; echo "$line"', "a[1] $x `y`", "a[1] $x `y`"),
        ('printf "%s\\n" "@< .V >@"', "p@ss[w0rd]", "p@ss[w0rd]"),
    ],
)
def test_plain_data_still_works_in_and_around_arithmetic(
    template: str, value: str, expected: str, tmp_path: Path
) -> None:
    assert run(template, {".V": value}, tmp_path, inlined=(".V",)).strip() == expected


def test_the_refusal_does_not_quote_the_value() -> None:
    """The value may be a secret; the message names the placeholder only."""
    with pytest.raises(TemplateError) as refused:
        render_script('curl -u "@< .Secret "p" >@"', {'.Secret "p"': "s3[$cr3t"}.__getitem__)
    assert "s3[$cr3t" not in str(refused.value) and '.Secret "p"' in str(refused.value)
