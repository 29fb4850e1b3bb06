"""`iter8 analyze FILE --metrics VALUES.json`: one analysis step, printed as the Iter8 v2
`status.analysis` blocks plus the algorithm's decision and details.

The shell around the pure core: it reads the experiment, the Metric documents and the observed
values, and turns every input mistake into one line naming the file and the field (exit 2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from iter8.analytics.algorithm import AnalysisInput
from iter8.analytics.assessment import status_analysis
from iter8.analytics.observations import Histogram, Observation, Observations
from iter8.analytics.registry import DEFAULT_ALGORITHM, UnknownAlgorithm, get_algorithm
from iter8.api.builtin import builtin_metrics
from iter8.api.defaults import with_defaults
from iter8.api.experiment import Experiment
from iter8.api.metric import Metric
from iter8.api.quantity import parse_quantity
from iter8.api.references import MetricKey, is_well_formed, resolve
from iter8.manifests import Document, ManifestError, read_documents
from iter8.validation.criteria import check_reference, metric_references
from iter8.validation.loading import load

INVALID = 2
M = TypeVar("M", Experiment, Metric)


class InputError(Exception):
    """A mistake in what the user gave, already phrased as `FILE: field: problem`."""


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--metrics",
    "values_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="JSON: metric (ns/name or name) → version → number, null, or {value, sampleSize, histogram}.",
)
@click.option(
    "--algorithm",
    default=DEFAULT_ALGORITHM,
    show_default=True,
    help="The analysis algorithm (iter8-v2 reproduces Iter8 v2).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the weight rounding.")
@click.option(
    "--metric-file",
    "metric_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="More YAML files with Metric documents (repeatable).",
)
def analyze(
    file: str, values_file: str, algorithm: str, seed: int, metric_files: tuple[str, ...]
) -> None:
    """Run one analysis step of the Experiment in FILE on the values in --metrics; print JSON."""
    try:
        chosen = get_algorithm(algorithm)
        given = read_input(file, values_file, metric_files, seed)
    except (InputError, UnknownAlgorithm) as error:
        click.echo(f"iter8 analyze: {error}", err=True)
        sys.exit(INVALID)
    result = chosen.analyze(given)
    timestamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    document = status_analysis(result, f"iter8 analyze --algorithm {chosen.name}", timestamp)
    click.echo(json.dumps(document, indent=2, allow_nan=False))


def read_input(
    file: str, values_file: str, metric_files: tuple[str, ...], seed: int
) -> AnalysisInput:
    documents = _read(file)
    for extra in metric_files:
        documents += _read(extra)
    experiment = _experiment(file, [d for d in documents if d.file == file])
    catalog = dict(builtin_metrics())
    for document in documents:
        if document.kind == "Metric":
            metric = _model(Metric, document)
            catalog[MetricKey(metric.namespace, metric.metadata.name or "")] = metric
    for path, reference in metric_references(experiment):
        for problem in check_reference(path, reference, experiment.namespace, catalog):
            raise InputError(f"{file}: {problem}")
    observations = observations_from_values(_json(values_file), values_file, experiment, catalog)
    return AnalysisInput(
        experiment=with_defaults(experiment),
        metrics=_metrics_used(experiment, catalog, observations),
        observations=observations,
        seed=seed,
    )


def _read(file: str) -> list[Document]:
    try:
        return read_documents(file)
    except ManifestError as error:
        raise InputError(f"{error.file}: {error}") from error


def _experiment(file: str, documents: list[Document]) -> Experiment:
    found = [d for d in documents if d.kind == "Experiment"]
    if len(found) != 1:
        raise InputError(f"{file}: needs exactly one Experiment document, found {len(found)}")
    experiment = _model(Experiment, found[0])
    if experiment.spec.version_info is None:
        raise InputError(f"{file}: spec.versionInfo: is required: name the baseline and candidates")
    names = [v.name for v in experiment.versions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"{file}: spec.versionInfo: duplicate version name {duplicates[0]!r}")
    return experiment


def _model(model: type[M], document: Document) -> M:
    loaded = load(model, document.data)
    if isinstance(loaded, list):
        more = f" (and {len(loaded) - 1} more; see iter8 validate)" if len(loaded) > 1 else ""
        where = f"{document.kind} at line {document.line}: " if document.index else ""
        raise InputError(f"{document.file}: {where}{loaded[0]}{more}")
    return loaded


def _json(file: str) -> Any:
    try:
        return json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{file}: cannot read: {error}") from error
    except json.JSONDecodeError as error:
        raise InputError(f"{file}: line {error.lineno}: not JSON: {error.msg}") from error


def observations_from_values(
    data: Any, file: str, experiment: Experiment, catalog: Mapping[MetricKey, Metric]
) -> Observations:
    """VALUES.json → Observations keyed by resolved `ns/name`; every mistake names its field."""
    if not isinstance(data, dict):
        raise InputError(f"{file}: must be an object: metric → version → value")
    versions = [v.name for v in experiment.versions]
    observations: Observations = {}
    for reference, per_version in data.items():
        if not is_well_formed(reference):
            raise InputError(f"{file}: {reference}: not a metric reference (ns/name or name)")
        key = resolve(reference, experiment.namespace)
        if key not in catalog:
            raise InputError(f"{file}: {reference}: metric {key} is not defined in the manifests")
        if str(key) in observations:
            raise InputError(f"{file}: {reference}: metric {key} is given twice")
        if not isinstance(per_version, dict):
            raise InputError(f"{file}: {reference}: must be an object: version → value")
        observations[str(key)] = {}
        for version, value in per_version.items():
            if version not in versions:
                known = ", ".join(versions)
                raise InputError(f"{file}: {reference}.{version}: no such version ({known})")
            observations[str(key)][version] = _observation(value, f"{file}: {reference}.{version}")
    return observations


def _observation(value: Any, where: str) -> Observation:
    if value is None:
        return Observation(outcome="no-data", message="null in the values file")
    if not isinstance(value, dict):
        return Observation(value=_number(value, where))
    unknown = sorted(set(value) - {"value", "sampleSize", "histogram"})
    if unknown:
        raise InputError(f"{where}.{unknown[0]}: unknown field (value, sampleSize, histogram)")
    number = value.get("value")
    size = value.get("sampleSize")
    sample_size = None if size is None else _number(size, f"{where}.sampleSize")
    if sample_size is not None and sample_size < 0:
        raise InputError(f"{where}.sampleSize: must not be negative")
    histogram = None
    if value.get("histogram") is not None:
        try:
            histogram = Histogram.model_validate(value["histogram"])
        except ValidationError as error:
            detail = error.errors(include_url=False)[0]
            field = ".".join(str(p) for p in detail["loc"])
            raise InputError(f"{where}.histogram.{field}: {detail['msg']}") from error
    if number is None:
        return Observation(outcome="no-data", sample_size=sample_size, histogram=histogram)
    return Observation(
        value=_number(number, f"{where}.value"), sample_size=sample_size, histogram=histogram
    )


def _number(value: Any, where: str) -> float:
    try:
        return parse_quantity(value)
    except ValueError as error:
        raise InputError(f"{where}: {error}") from error


def _metrics_used(
    experiment: Experiment, catalog: Mapping[MetricKey, Metric], observations: Observations
) -> dict[str, Metric]:
    """The criteria's metrics, their sampleSize metrics, and the observed ones, by `ns/name`."""
    keys = [
        resolve(reference, experiment.namespace) for _, reference in metric_references(experiment)
    ]
    keys += [resolve(key, experiment.namespace) for key in observations]
    used: dict[str, Metric] = {}
    while keys:
        key = keys.pop(0)
        metric = catalog.get(key)
        if metric is None or str(key) in used:
            continue
        used[str(key)] = metric
        if metric.spec.sample_size and is_well_formed(metric.spec.sample_size):
            keys.append(resolve(metric.spec.sample_size, metric.namespace))
    return used
