"""Checking a set of manifests as one: an experiment together with the metrics files beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from iter8.api.base import ObjectMeta
from iter8.api.builtin import builtin_metrics
from iter8.api.experiment import Experiment
from iter8.api.metric import Metric
from iter8.api.references import MetricKey, is_well_formed, resolve
from iter8.manifests import Document
from iter8.validation import criteria
from iter8.validation.loading import load_lenient
from iter8.validation.metadata import check_metadata
from iter8.validation.problems import Problem, printable
from iter8.validation.rules import validate_experiment, validate_metric

MetricLookup = Callable[[MetricKey], Metric | None]
"""Where to look for a metric the manifests do not define (e.g. a cluster)."""


@dataclass(frozen=True)
class DocumentProblem:
    document: Document
    problem: Problem
    label: str | None = None  # names the object when a file holds several

    def __str__(self) -> str:
        suffix = f" (in {self.label})" if self.label else ""
        return f"{self.document.file}: {self.problem}{printable(suffix)}"


def check_documents(
    documents: Iterable[Document], lookup: MetricLookup | None = None
) -> list[DocumentProblem]:
    """Every problem in the Experiments and Metrics of `documents`; other kinds are passed over."""
    relevant = [d for d in documents if d.kind in ("Experiment", "Metric")]
    per_file: dict[str, int] = {}
    for document in relevant:
        per_file[document.file] = per_file.get(document.file, 0) + 1

    loaded: list[tuple[Document, Experiment | Metric | None, list[Problem]]] = []
    for document in relevant:
        model = Experiment if document.kind == "Experiment" else Metric
        loaded.append((document, *load_lenient(model, document.data)))

    catalog: dict[MetricKey, Metric] = dict(builtin_metrics())
    for _, result, _ in loaded:
        if isinstance(result, Metric):
            catalog[MetricKey(result.namespace, result.metadata.name or "")] = result
    if lookup is not None:
        gather_metrics(lookup, catalog, [r for _, r, _ in loaded if isinstance(r, Experiment)])

    found: list[DocumentProblem] = []
    for document, result, structural in loaded:
        label = _label(document, result) if per_file[document.file] > 1 else None
        semantic: list[Problem] = []
        if isinstance(result, Experiment):
            semantic = validate_experiment(result, catalog)
        elif isinstance(result, Metric):
            semantic = validate_metric(result)
        problems = structural + [p for p in semantic if not _overlaps(p, structural)]
        found += [DocumentProblem(document, problem, label) for problem in problems]
    return found


def check_object_names(documents: Iterable[Document]) -> list[DocumentProblem]:
    """The names and namespaces of the other objects (Secrets, routed objects…), as a store
    that applies them checks: for `iter8 run`, which creates them all."""
    found: list[DocumentProblem] = []
    for document in documents:
        metadata = document.data.get("metadata") if document.kind else None
        if document.kind in ("Experiment", "Metric") or not isinstance(metadata, dict):
            continue
        names = {k: v for k, v in metadata.items() if k in ("name", "namespace", "generateName")}
        if not all(isinstance(value, str) for value in names.values()):
            continue  # the store says what is wrong with a name that is no string
        label = (
            f"{document.kind} {names.get('name') or f'#{document.index + 1}'}, line {document.line}"
        )
        for problem in check_metadata(ObjectMeta.model_validate(names)):
            found.append(DocumentProblem(document, problem, label))
    return found


def _overlaps(problem: Problem, others: list[Problem]) -> bool:
    """A rule about a field already reported (or about its parent or child) would only echo it."""
    return any(_related(problem.path, other.path) for other in others)


def _related(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return long == short or long.startswith((short + ".", short + "["))


def gather_metrics(
    lookup: MetricLookup, catalog: dict[MetricKey, Metric], experiments: list[Experiment]
) -> None:
    """Add to `catalog` what the criteria name and it lacks (and their sampleSize metrics)."""
    wanted = [
        resolve(ref, e.namespace)
        for e in experiments
        for _, ref in criteria.metric_references(e)
        if is_well_formed(ref)
    ]
    for _ in range(2):  # second pass: sampleSize metrics of what the first pass found
        missing = [key for key in dict.fromkeys(wanted) if key not in catalog]
        wanted = []
        for key in missing:
            metric = lookup(key)
            if metric is not None:
                catalog[key] = metric
                if metric.spec.sample_size and is_well_formed(metric.spec.sample_size):
                    wanted.append(resolve(metric.spec.sample_size, metric.namespace))


def _label(document: Document, result: Experiment | Metric | None) -> str:
    name = result.metadata.name if isinstance(result, Experiment | Metric) else None
    return f"{document.kind} {name or f'#{document.index + 1}'}, line {document.line}"
