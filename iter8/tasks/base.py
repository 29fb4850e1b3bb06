"""The Task seam: what a task gets (a `TaskContext`) and gives (a `TaskResult` or `TaskFailed`).

A task is a module-level `TASK` in `iter8/tasks/library/`. It reads only the experiment object
and the store, never the CloudEvent that woke the function: whatever reaches a script, a URL
or a manifest was written by the experiment's author or derived from the experiment's status.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from iter8.api.experiment import Experiment
from iter8.metrics.builtin_data import BuiltinHists
from iter8.metrics.secrets import decode
from iter8.security.namespaces import SECRET_NAMESPACES_ENV, secret_namespace_allowed
from iter8.store.base import NotFound, Store
from iter8.store.resources import SECRETS
from iter8.tasks.facts import condition_facts, recommended_variables
from iter8.tasks.template import Scope

DEFAULT_TIMEOUT = 300.0  # seconds a script, helm or kustomize may run
DEFAULT_HTTP_TIMEOUT = 10.0
MAX_TIMEOUT = 3600.0  # seconds a task may ask for: no value a manifest gives waits for ever


class TaskFailed(Exception):
    """The task did not do its job; `message` says why (it ends up in the experiment's status)."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.output = output


@dataclass(frozen=True)
class TaskResult:
    message: str = ""
    output: str = ""  # captured and truncated stdout/stderr of a process
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TaskContext:
    """Everything a task may use. Built by a function's shell from the stored experiment."""

    experiment: Experiment
    store: Store
    action: str = ""
    work_dir: Path | None = None  # None: a temporary directory, removed after the action
    http: httpx.Client | None = None  # injected in tests; None: a client per request
    timeout: float = DEFAULT_TIMEOUT
    http_timeout: float = DEFAULT_HTTP_TIMEOUT
    sleep: Callable[[float], None] = time.sleep
    env: Mapping[str, str] | None = None  # base environment of processes; None: os.environ
    facts: Mapping[str, bool] | None = None  # for `if:`; None: computed from the experiment
    builtin_hists: BuiltinHists | None = None  # what `metrics/collect` measured so far
    _temporary: Path | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.facts is None:
            self.facts = condition_facts(self.experiment)

    @cached_property
    def wire(self) -> dict[str, Any]:
        """The experiment as the API server would return it: what templates render from."""
        return self.experiment.to_wire()

    @property
    def namespace(self) -> str:
        return self.experiment.namespace

    def directory(self) -> Path:
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            return self.work_dir
        if self._temporary is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="iter8-task-"))
        return self._temporary

    def cleanup(self) -> None:
        """Remove the temporary directory, if this context made one."""
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None

    def base_env(self) -> dict[str, str]:
        return dict(os.environ if self.env is None else self.env)

    def secret(self, reference: str) -> dict[str, str]:
        """A Secret's decoded data; `ns/name`, or `name` in the experiment's namespace. Another
        namespace's Secret is read only if the operator allows it (`iter8.security.namespaces`):
        a task's author could otherwise send any tenant's credentials anywhere."""
        namespace, _, name = reference.strip().rpartition("/")
        namespace = namespace or self.namespace
        if not secret_namespace_allowed(self.namespace, namespace):
            raise TaskFailed(
                f"secret {namespace}/{name} is outside the experiment's namespace "
                f"{self.namespace!r}: not read (an operator may allow it: "
                f"{SECRET_NAMESPACES_ENV}={self.namespace}:{namespace})"
            )
        try:
            return decode(self.store.get(SECRETS, namespace, name))
        except NotFound:
            raise TaskFailed(f"secret {namespace}/{name} not found") from None

    def scope(self, secret: Mapping[str, str] | None = None) -> Scope:
        """What templates may read: this experiment, never the event that woke the function."""
        return Scope(self.wire, lambda: recommended_variables(self.experiment), secret)

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a task's process: the base one, Iter8 v2's variables, `extra`."""
        scratch = self.directory() / "scratch"
        scratch.mkdir(exist_ok=True)
        return {
            **self.base_env(),
            "SCRATCH_DIR": str(scratch),
            "EXPERIMENT_NAME": self.experiment.metadata.name or "",
            "EXPERIMENT_NAMESPACE": self.namespace,
            "ACTION": self.action,
            **(extra or {}),
        }

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        if self.http is not None:
            yield self.http
            return
        with httpx.Client(timeout=self.http_timeout) as client:
            yield client


@runtime_checkable
class Task(Protocol):
    name: ClassVar[str]

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult: ...


class Params(BaseModel):
    """Base of a task's `with:` block: camelCase like the rest of the API; unknown keys are
    refused, so a misspelt option fails loudly instead of being ignored."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


P = TypeVar("P", bound=Params)


def parse_params(model: type[P], params: Mapping[str, Any]) -> P:
    """The `with:` block as `model`, or TaskFailed naming every bad field."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            problems.append(f"with.{where}: {item['msg']}" if where else item["msg"])
        raise TaskFailed("; ".join(problems)) from None
