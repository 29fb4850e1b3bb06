"""The Slack notifier: a message through an incoming webhook, `{"text": ..., "blocks": [...]}`.

`text` is the console line (Slack shows it in notifications and where blocks cannot be shown);
the blocks lay out the same summary as labelled fields. Text from the event is escaped, since
`&`, `<` and `>` are markup in Slack's mrkdwn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from cloudevents.http import CloudEvent

from eventing.sinks.post import Poster
from eventing.sinks.summary import summarize
from iter8.security.redact import origin

_MAX_FIELDS = 10  # Slack's limit per section
_MAX_FIELD_TEXT = 2000
_MAX_HEADER = 150
_ICONS = {
    "experiment.promoted": ":white_check_mark:",
    "experiment.completed": ":checkered_flag:",
    "experiment.rolledback": ":leftwards_arrow_with_hook:",
    "experiment.failed": ":x:",
    "weights.applied": ":control_knobs:",
}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(event: CloudEvent) -> dict[str, Any]:
    summary = summarize(event)
    header = f"{_ICONS.get(summary.event, ':test_tube:')} {summary.experiment}: {summary.event}"
    fields = [("Experiment", summary.experiment), ("Event", summary.event)]
    if summary.iteration is not None:
        fields.append(("Iteration", str(summary.iteration)))
    fields += [(label.capitalize(), text) for label, text in summary.details]
    return {
        "text": summary.line(),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": header[:_MAX_HEADER], "emoji": True},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{escape(text)}"[:_MAX_FIELD_TEXT]}
                    for label, text in fields[:_MAX_FIELDS]
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": escape(f"{event['type']} · {event.get('time', '')}")}
                ],
            },
        ],
    }


class SlackNotifier:
    """Posts to a Slack incoming-webhook URL. Set up by `ITER8_SLACK_WEBHOOK_URL`."""

    name: ClassVar[str] = "slack"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        attempts: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._poster = Poster(url, timeout=timeout, attempts=attempts, transport=transport)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SlackNotifier | None:
        url = env.get("ITER8_SLACK_WEBHOOK_URL")
        return cls(url) if url else None

    def __repr__(self) -> str:  # the URL's path is the secret
        return f"SlackNotifier({origin(self._poster.url)})"

    def notify(self, event: CloudEvent) -> None:
        body = json.dumps(message(event)).encode()
        self._poster.post(body, {"Content-Type": "application/json"})

    def close(self) -> None:
        self._poster.close()


NOTIFIER = SlackNotifier
