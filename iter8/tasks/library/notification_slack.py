"""`notification/slack`: the experiment's summary to a Slack incoming webhook.

The webhook URL is `with.url`, or the `url` (or `webhook`) key of `with.secret`, which keeps
the URL — a credential — out of the experiment. Failures are ignored unless `ignoreFailure:
false`, as for `notification/http`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from iter8.tasks.base import Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.facts import summary_lines
from iter8.tasks.notify import ignoring, send
from iter8.tasks.template import TemplateError, render


class SlackParams(Params):
    url: str | None = None
    secret: str | None = None
    channel: str | None = None
    text: str | None = None  # a line before the summary; may use `@< … >@`
    ignore_failure: bool = True


class SlackTask:
    name: ClassVar[str] = "notification/slack"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(SlackParams, params)
        return ignoring(given.ignore_failure, lambda: self.notify(given, context))

    def notify(self, given: SlackParams, context: TaskContext) -> TaskResult:
        secret = context.secret(given.secret) if given.secret else {}
        url = given.url or secret.get("url") or secret.get("webhook")
        if not url:
            raise TaskFailed("needs `url`, or a `secret` with a `url` key")
        return send(
            context,
            method="POST",
            url=url,
            headers={},
            body=slack_message(context, given),
            secret=secret,
        )


def slack_message(context: TaskContext, given: SlackParams) -> dict[str, Any]:
    lines = [_escape(line) for line in summary_lines(context.experiment)]
    if given.text:
        try:
            lines.insert(0, render(given.text, context.scope()))
        except TemplateError as error:
            raise TaskFailed(f"text: {error}") from None
    title, *rest = lines
    message: dict[str, Any] = {
        "text": "\n".join(lines),  # what notifications and old clients show
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(rest)}},
        ],
    }
    if given.channel:
        message["channel"] = given.channel
    return message


def _escape(text: str) -> str:
    """Slack's escaping, so that a name like `<!channel>` is shown, not acted upon."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


TASK = SlackTask()
