"""What a notification says about an event, shared by the console line and the Slack message.

It reads the contract's fields (DESIGN.md, Events) and never fails on an odd event: a sink
that cannot summarise must still say something rather than drop the notification.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cloudevents.http import CloudEvent

from eventing.broker.deadletter import ERROR_CODE, ERROR_DATA, ERROR_DEST
from iter8.security.redact import origin

_PREFIX = "tools.iter8."
_DETAILS = ("outcome", "winner", "version", "stage", "reason", "message")


@dataclass(frozen=True)
class Summary:
    experiment: str  # <namespace>/<name>
    event: str  # the type without `tools.iter8.`, e.g. `weights.applied`
    iteration: int | None
    details: tuple[tuple[str, str], ...]  # (label, text), in the order worth reading

    def line(self) -> str:
        head = f"{self.experiment}: {self.event}"
        if self.iteration is not None:
            head += f", iteration {self.iteration}"
        if not self.details:
            return head
        return head + " — " + "; ".join(f"{label} {text}" for label, text in self.details)


def summarize(event: CloudEvent) -> Summary:
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
    experiment = event.get("experiment") or event.get("subject") or _ref(data) or "?"
    iteration = _integer(event.get("iteration", data.get("iteration")))
    details: list[tuple[str, str]] = []
    weights = data.get("weights")
    if isinstance(weights, list) and weights:
        details.append(("weights", _weights(weights)))
    assessment = data.get("winnerAssessment")
    if isinstance(assessment, dict) and assessment:
        found = assessment.get("winnerFound") and assessment.get("winner")
        details.append(("winner", str(found) if found else "none yet"))
    details += [(key, _one_line(data[key])) for key in _DETAILS if data.get(key) not in (None, "")]
    failure = _dead_letter(event)
    if failure:
        details.append(("dead-lettered", failure))
    return Summary(
        experiment=_one_line(experiment),
        event=str(event["type"]).removeprefix(_PREFIX),
        iteration=iteration,
        details=tuple(details),
    )


def _dead_letter(event: CloudEvent) -> str:
    """Why a dead-lettered event failed, from the extensions Knative adds (knative.md §A6)."""
    destination, code = event.get(ERROR_DEST), event.get(ERROR_CODE)
    if not destination and not code:
        return ""
    where = origin(str(destination)) if destination else "?"  # a webhook's path may be its secret
    text = f"at {where} with {code or 'no response'}"
    encoded = event.get(ERROR_DATA)
    if encoded:
        try:
            text += ": " + base64.b64decode(str(encoded)).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            text += f": {encoded}"
    return _one_line(text)[:300]


def _ref(data: dict[str, Any]) -> str:
    namespace, name = data.get("namespace"), data.get("name")
    return f"{namespace}/{name}" if namespace and name else ""


def _integer(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _weights(weights: list[Any]) -> str:
    parts = [
        f"{w.get('name')}={w.get('value')}" if isinstance(w, dict) else str(w) for w in weights
    ]
    return ", ".join(parts)


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())
