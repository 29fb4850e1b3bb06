"""The `@< … >@` and `{{ .x }}` renderer: Iter8 v2 samples' expressions, and clear errors."""

from __future__ import annotations

import pytest

from iter8.tasks.template import Scope, TemplateError, evaluate, render, render_variables
from tests.tasks.conftest import experiment

EXPERIMENT = experiment(variables={"sample-app-v2": {"promote": "candidate", "ns": "prod"}})


def scope(secret: dict[str, str] | None = None) -> Scope:
    return Scope(
        EXPERIMENT.to_wire(),
        lambda: {"name": "sample-app-v2", "promote": "candidate", "ns": "prod"},
        secret,
    )


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        (".Status.VersionRecommendedForPromotion", "sample-app-v2"),
        (" .Name ", "quickstart-exp"),
        (".Namespace", "default"),
        (".ObjectMeta.Name", "quickstart-exp"),
        (".Spec.Target", "default/sample-app"),
        (".Spec.Strategy.TestingPattern", "Canary"),
        (".Status.CompletedIterations", "3"),
        (".Status.Analysis.WinnerAssessment.Data.winnerFound", "true"),
        (".Vars.promote", "candidate"),
        (".Vars.name", "sample-app-v2"),
        ('.Secret "token"', "s3cret"),
        (".status.stage", "Finishing"),  # the JSON spelling works too
    ],
)
def test_expressions(expression: str, value: str) -> None:
    assert evaluate(expression, scope({"token": "s3cret"})) == value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (".Status.StartTime", "is not set"),
        (".Vars.nothing", "no variable 'nothing'"),
        ('.Secret "token"', "has no `secret`"),
        ("index .Spec 0", "unsupported template expression"),
        ('printf "%s" .Name', "unsupported"),
        (".Vars", "write .Vars.<variable>"),
    ],
)
def test_unsupported_or_missing_values_are_errors(expression: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        evaluate(expression, scope())


def test_render_replaces_both_syntaxes_in_plain_text() -> None:
    text = "values/@< .Vars.promote >@-{{ .ns }}.yaml for @< .Name >@"
    assert render(text, scope()) == "values/candidate-prod.yaml for quickstart-exp"


def test_render_variables_refuses_unknown_names() -> None:
    assert render_variables("{{.promote}}-values.yaml", {"promote": "baseline"}) == (
        "baseline-values.yaml"
    )
    with pytest.raises(TemplateError, match="no variable 'other'"):
        render_variables("{{ .other }}", {"promote": "baseline"})


def test_no_recommended_version_is_a_clear_error() -> None:
    def none() -> dict[str, str]:
        raise LookupError("no version is recommended for promotion yet")

    with pytest.raises(TemplateError, match="no version is recommended"):
        evaluate(".Vars.promote", Scope({}, none))
