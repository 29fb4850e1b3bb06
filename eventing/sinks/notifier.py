"""The notifier plug-in contract, and how notifiers are found and configured."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar, Protocol

from cloudevents.http import CloudEvent

from iter8.registry import discover


class DeliveryFailed(Exception):
    """The downstream (webhook, Slack) refused or could not be reached, after the retries.
    The message names the host only: webhook URLs often carry their secret in the path."""


class Notifier(Protocol):
    name: ClassVar[str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Notifier | None:
        """The notifier configured by environment variables; None if they do not set it up."""
        ...

    def notify(self, event: CloudEvent) -> None:
        """Tell the downstream about one event; DeliveryFailed if it cannot."""
        ...

    def close(self) -> None: ...


def notifier_types() -> dict[str, type[Notifier]]:
    import eventing.sinks

    return discover(eventing.sinks, "NOTIFIER")


def configured_notifiers(env: Mapping[str, str] | None = None) -> list[Notifier]:
    """Every notifier that the environment sets up, in name order."""
    env = os.environ if env is None else env
    found = (kind.from_env(env) for kind in notifier_types().values())
    return [notifier for notifier in found if notifier is not None]
