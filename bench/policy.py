"""What the simulator drives: a rule that sets the split and, at some iteration, decides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bench.world import Snapshot

Action = Literal["continue", "promote", "rollback", "no-winner"]


@dataclass(frozen=True)
class Step:
    action: Action
    weights: list[int]  # percent per version, baseline first, for the next interval
    version: str | None = None  # the promoted version


class Policy(Protocol):
    def start(self) -> list[int]:
        """The split for the first interval, before any data."""
        ...

    def step(self, iteration: int, snapshot: Snapshot) -> Step:
        """Analysis after interval `iteration` (from 1) on cumulative data."""
        ...
