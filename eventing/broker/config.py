"""Brokers and Triggers read from the manifests a cluster applies (DESIGN principle 3).

Documents of other kinds are skipped, so a whole kustomize base can be passed. What Knative's
webhook would refuse is refused here too, every problem at once, each with its file, line and
field. Defaults are Knative's: a Broker without `spec.delivery` gets `config-br-defaults`
(retry 10, exponential, PT0.2S), and a Trigger's `spec.delivery` replaces its Broker's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventing.broker.backoff import RetryPolicy
from eventing.broker.durations import parse_duration
from eventing.broker.filters import Filter, FilterError, compile_trigger
from iter8.manifests import Document, ManifestError, read_documents

API_GROUP = "eventing.knative.dev/"
DEFAULT_NAMESPACE = "default"
FORMATS = ("json", "binary")
POLICIES = ("linear", "exponential")


class ConfigError(Exception):
    """Manifests the embedded broker cannot run, with one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Ref:
    kind: str
    name: str
    namespace: str
    api_version: str = ""


@dataclass(frozen=True)
class Destination:
    """A `duckv1.Destination`: a `ref`, a `uri`, or a ref plus a URI relative to it."""

    ref: Ref | None = None
    uri: str | None = None

    def describe(self) -> str:
        if self.ref is None:
            return str(self.uri)
        where = f"{self.ref.kind} {self.ref.namespace}/{self.ref.name}"
        return where + (f" + {self.uri}" if self.uri else "")


@dataclass(frozen=True)
class Delivery:
    retry: int | None = None
    backoff_policy: str | None = None
    backoff_delay_ns: int | None = None
    timeout: float | None = None  # seconds per attempt
    retry_after_max_ns: int | None = None
    dead_letter_sink: Destination | None = None
    format: str | None = None

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.retry or 0, self.backoff_policy, self.backoff_delay_ns, self.retry_after_max_ns
        )


BROKER_DEFAULT_DELIVERY = Delivery(
    retry=10, backoff_policy="exponential", backoff_delay_ns=200_000_000
)


@dataclass(frozen=True)
class BrokerSpec:
    namespace: str
    name: str
    delivery: Delivery = BROKER_DEFAULT_DELIVERY
    declared: bool = True  # False when only a Trigger names it


@dataclass(frozen=True)
class TriggerSpec:
    namespace: str
    name: str
    broker: str
    subscriber: Destination
    filter: Filter = field(compare=False)
    delivery: Delivery | None = None
    where: str = ""


@dataclass(frozen=True)
class Config:
    brokers: tuple[BrokerSpec, ...]
    triggers: tuple[TriggerSpec, ...]

    def broker(self, namespace: str, name: str) -> BrokerSpec | None:
        return next((b for b in self.brokers if (b.namespace, b.name) == (namespace, name)), None)

    def triggers_of(self, broker: BrokerSpec) -> list[TriggerSpec]:
        return [
            t for t in self.triggers if (t.namespace, t.broker) == (broker.namespace, broker.name)
        ]

    def effective_delivery(self, trigger: TriggerSpec) -> Delivery:
        """The Trigger's delivery replaces the Broker's; the dead-letter sink falls back to it."""
        broker = self.broker(trigger.namespace, trigger.broker)
        inherited = broker.delivery if broker else BROKER_DEFAULT_DELIVERY
        if trigger.delivery is None:
            return inherited
        if trigger.delivery.dead_letter_sink is None and inherited.dead_letter_sink is not None:
            return _replace(trigger.delivery, dead_letter_sink=inherited.dead_letter_sink)
        return trigger.delivery


def _replace(delivery: Delivery, **changes: Any) -> Delivery:
    values = {**delivery.__dict__, **changes}
    return Delivery(**values)


def read_files(paths: Iterable[str | Path]) -> Config:
    documents: list[Document] = []
    problems: list[str] = []
    for path in paths:
        try:
            documents += read_documents(path)
        except ManifestError as error:
            problems.append(f"{error.file}: {error}")
    if problems:
        raise ConfigError(problems)
    return load(documents)


def load(documents: Iterable[Document | Mapping[str, Any]]) -> Config:
    """Brokers and Triggers from parsed manifests; raises ConfigError listing every problem."""
    brokers: list[BrokerSpec] = []
    triggers: list[TriggerSpec] = []
    problems: list[str] = []
    for index, item in enumerate(documents):
        document = item if isinstance(item, Document) else Document("<manifest>", index, 0, item)
        data = document.data
        if not isinstance(data, Mapping) or not str(data.get("apiVersion", "")).startswith(
            API_GROUP
        ):
            continue
        reader = _Reader(document)
        if data.get("kind") == "Broker":
            spec = reader.broker()
            if spec is not None:
                brokers.append(spec)
        elif data.get("kind") == "Trigger":
            trigger = reader.trigger()
            if trigger is not None:
                triggers.append(trigger)
        problems += reader.problems
    problems += _duplicates([(b.namespace, b.name) for b in brokers], "Broker")
    problems += _duplicates([(t.namespace, t.name) for t in triggers], "Trigger")
    if problems:
        raise ConfigError(problems)
    declared = {(b.namespace, b.name) for b in brokers}
    for trigger in triggers:
        key = (trigger.namespace, trigger.broker)
        if key not in declared:
            declared.add(key)
            brokers.append(BrokerSpec(*key, declared=False))
    return Config(tuple(brokers), tuple(triggers))


def _duplicates(keys: list[tuple[str, str]], kind: str) -> list[str]:
    seen: set[tuple[str, str]] = set()
    found = []
    for key in keys:
        if key in seen:
            found.append(f"{kind} {key[0]}/{key[1]} is declared twice")
        seen.add(key)
    return found


class _Reader:
    """Reads one Broker or Trigger document, collecting problems instead of stopping at one."""

    def __init__(self, document: Document) -> None:
        self.document = document
        metadata = document.data.get("metadata") or {}
        self.metadata = metadata if isinstance(metadata, Mapping) else {}
        self.name = str(self.metadata.get("name") or "")
        self.namespace = str(self.metadata.get("namespace") or DEFAULT_NAMESPACE)
        self.problems: list[str] = []
        if not self.name:
            self.problem("metadata.name", "is required")

    @property
    def where(self) -> str:
        d = self.document
        kind = d.data.get("kind")
        return f"{d.file}:{d.line}: {kind} {self.namespace}/{self.name or '?'}"

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{self.where}: {path}: {message}")

    def spec(self) -> Mapping[str, Any]:
        spec = self.document.data.get("spec")
        if spec is None:
            return {}
        if not isinstance(spec, Mapping):
            self.problem("spec", "must be an object")
            return {}
        return spec

    def broker(self) -> BrokerSpec | None:
        delivery = self.delivery(self.spec().get("delivery"), "spec.delivery")
        if self.problems:
            return None
        return BrokerSpec(self.namespace, self.name, delivery or BROKER_DEFAULT_DELIVERY)

    def trigger(self) -> TriggerSpec | None:
        spec = self.spec()
        broker = spec.get("broker")
        if "brokerRef" in spec and not broker:
            self.problem("spec.brokerRef", "cross-namespace brokers are not supported; use broker")
        elif not isinstance(broker, str) or not broker:
            self.problem("spec.broker", "is required")
        subscriber = self.destination(spec.get("subscriber"), "spec.subscriber", required=True)
        delivery = self.delivery(spec.get("delivery"), "spec.delivery")
        compiled: Filter | None = None
        try:
            compiled = compile_trigger(spec)
        except FilterError as error:
            self.problem(error.path, error.message)
        if self.problems or subscriber is None or compiled is None:
            return None
        return TriggerSpec(
            self.namespace, self.name, str(broker), subscriber, compiled, delivery, self.where
        )

    def destination(self, value: Any, path: str, *, required: bool) -> Destination | None:
        if value is None:
            if required:
                self.problem(path, "is required")
            return None
        if not isinstance(value, Mapping):
            self.problem(path, "must be an object with ref and/or uri")
            return None
        ref, uri = value.get("ref"), value.get("uri")
        if ref is None and not uri:
            self.problem(path, "needs a ref or a uri")
            return None
        if uri is not None and not isinstance(uri, str):
            self.problem(f"{path}.uri", "must be a string")
            return None
        if ref is None:
            if "://" not in str(uri):
                self.problem(f"{path}.uri", "must be an absolute URL when there is no ref")
                return None
            return Destination(uri=uri)
        if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("kind"):
            self.problem(f"{path}.ref", "needs kind and name")
            return None
        namespace = str(ref.get("namespace") or self.namespace)
        kref = Ref(str(ref["kind"]), str(ref["name"]), namespace, str(ref.get("apiVersion", "")))
        return Destination(ref=kref, uri=uri or None)

    def delivery(self, value: Any, path: str) -> Delivery | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.problem(path, "must be an object")
            return None
        retry = value.get("retry")
        if retry is not None and (
            isinstance(retry, bool) or not isinstance(retry, int) or retry < 0
        ):
            self.problem(f"{path}.retry", "must be a non-negative integer")
        policy = value.get("backoffPolicy")
        if policy is not None and policy not in POLICIES:
            self.problem(f"{path}.backoffPolicy", f"must be one of {', '.join(POLICIES)}")
        delay = self.duration(value.get("backoffDelay"), f"{path}.backoffDelay")
        timeout = self.duration(value.get("timeout"), f"{path}.timeout")
        retry_after_max = self.duration(value.get("retryAfterMax"), f"{path}.retryAfterMax")
        form = value.get("format")
        if form is not None and form not in FORMATS:
            self.problem(f"{path}.format", f"must be one of {', '.join(FORMATS)}")
        sink = self.destination(
            value.get("deadLetterSink"), f"{path}.deadLetterSink", required=False
        )
        return Delivery(
            retry=retry if isinstance(retry, int) else None,
            backoff_policy=policy if policy in POLICIES else None,
            backoff_delay_ns=delay,
            timeout=timeout / 1e9 if timeout else None,
            retry_after_max_ns=retry_after_max,
            dead_letter_sink=sink,
            format=form if form in FORMATS else None,
        )

    def duration(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as error:
            self.problem(path, str(error))
            return None
