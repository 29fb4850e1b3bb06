"""The tick's experiments, each parsed once per version rather than all of them every second.

The tick lists every experiment of the store each second; parsing them all (statuses with their
analyses and histories) cost more than the rest of the tick together, and grew with experiments
that had long finished. Here a completed experiment is passed over unparsed, the others are
parsed cut to what the planner reads (`tick.planning_view`), and an experiment whose uid and
`resourceVersion` are those of the last tick is not parsed again: any write (its status, its
annotations, its spec; by any phase or person) gives it a new `resourceVersion`, a re-created
one a new uid, and one no longer listed is forgotten. Level-triggered still: nothing here decides
whether an event is wanted, `tick.plan` does, on what the store holds now.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from iter8.api.experiment import Experiment
from iter8.lifecycle import tick
from iter8.store.base import Object
from iter8.validation.loading import load_lenient

Key = tuple[str, str]  # namespace, name
Version = tuple[str, str]  # uid, resourceVersion


class ParsedExperiments:
    """The last tick's parsed experiments by namespace and name; one per analyze process."""

    def __init__(self) -> None:
        self._parsed: dict[Key, tuple[Version, Experiment]] = {}
        self._lock = threading.Lock()  # two ticks at once (a slow one, the next) take turns
        self.parses = 0  # experiments parsed so far (what the tests count)

    def experiments(self, listed: Iterable[Object]) -> list[Experiment]:
        """The listed experiments that are not completed, parsed, in the order listed."""
        with self._lock:
            kept: dict[Key, tuple[Version, Experiment]] = {}
            for stored in listed:
                meta = stored.get("metadata") or {}
                key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
                version = (str(meta.get("uid") or ""), str(meta.get("resourceVersion") or ""))
                known = self._parsed.get(key)
                if known is not None and known[0] == version and all(version):
                    kept[key] = known
                    continue
                view = tick.planning_view(stored)
                if view is None:
                    continue
                self.parses += 1
                experiment, _ = load_lenient(Experiment, view)
                if experiment is not None:
                    kept[key] = (version, experiment)
            self._parsed = kept
            return [experiment for _, experiment in kept.values()]
