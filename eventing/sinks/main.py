"""The notification sink as a functions-framework function, for a Knative Service:
`functions-framework --source eventing/sinks/main.py --target notify`.

`ITER8_NOTIFIER` names the notifiers to run (comma-separated, e.g. `slack,webhook`); without it,
every notifier its environment sets up (see each module), or the console (the pod's log) if none.
"""

from __future__ import annotations

import os
from functools import cache

import functions_framework
from flask import Request

from eventing.sinks.app import Dispatcher, Response, receive
from eventing.sinks.console import ConsoleNotifier
from eventing.sinks.notifier import Notifier, configured_notifiers, notifier_types
from functions import observability


def _from_env() -> list[Notifier]:
    names = [n.strip() for n in os.environ.get("ITER8_NOTIFIER", "").split(",") if n.strip()]
    if not names:
        return configured_notifiers() or [ConsoleNotifier()]
    kinds = notifier_types()
    chosen: list[Notifier] = []
    for name in names:
        if name not in kinds:
            raise RuntimeError(f"ITER8_NOTIFIER: no notifier {name!r} (have {', '.join(kinds)})")
        notifier = ConsoleNotifier() if name == "console" else kinds[name].from_env(os.environ)
        if notifier is None:
            raise RuntimeError(f"ITER8_NOTIFIER names {name!r}, but its variables are not set")
        chosen.append(notifier)
    return chosen


@cache
def _dispatchers() -> list[Dispatcher]:
    # The console notifier's default is the log: without a handler at INFO (functions-framework
    # sets none) a pod's log would never show an event, the dead-letter sink's included.
    observability.configure_logging()
    return [Dispatcher(notifier) for notifier in _from_env()]


@functions_framework.http
def notify(request: Request) -> Response:
    return receive(request, _dispatchers())
