"""Rules on `spec.duration`: a run that ends in bounded time (each field has its own bound in
`iter8.api.experiment`; together at most `MAX_ITERATIONS` iterations)."""

from __future__ import annotations

from collections.abc import Iterator

from iter8.api.defaults import max_iterations
from iter8.api.experiment import MAX_ITERATIONS, Experiment
from iter8.validation.problems import Problem


def check_duration(experiment: Experiment) -> Iterator[Problem]:
    total = max_iterations(experiment)
    if total > MAX_ITERATIONS:
        yield Problem(
            "spec.duration.maxLoops",
            f"iterationsPerLoop × maxLoops is {total}: at most {MAX_ITERATIONS} iterations",
        )
