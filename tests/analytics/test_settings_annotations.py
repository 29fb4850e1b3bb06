"""Settings from an Experiment's annotations: its author controls them, so a value that is not
a finite number within its bounds is ignored, never applied."""

from __future__ import annotations

import pytest

from iter8.analytics.bayes.settings import ANNOTATION_PREFIX, Settings, settings_from_annotations


def annotated(**values: str) -> Settings:
    return settings_from_annotations(
        {ANNOTATION_PREFIX + k: v for k, v in values.items()}, Settings()
    )


def test_a_good_value_is_applied() -> None:
    settings = annotated(alpha="0.01", draws="2000", leader_ride="0.9", no_data_rollback="false")
    assert (settings.alpha, settings.draws, settings.leader_ride) == (0.01, 2000, 0.9)
    assert settings.no_data_rollback is False


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("leader_ride", "nan"),
        ("canary_ride", "-inf"),
        ("alpha", "inf"),
        ("alpha", "0"),
        ("alpha", "1.5"),
        ("draws", "1000000000"),
        ("draws", "0"),
        ("history", "-1"),
        ("trailing_vote", "2"),
        ("tau", "nan"),
        ("draws", "many"),
    ],
)
def test_a_bad_value_is_ignored(name: str, text: str) -> None:
    assert getattr(annotated(**{name: text}), name) == getattr(Settings(), name)
