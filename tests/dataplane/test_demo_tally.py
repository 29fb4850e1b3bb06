"""How the demo tells what users saw (`iter8.demo.traffic.tally`): a request the final routing
object decided counts as after the experiment even if it was sent while it ran (the split was
final), one sent after the end but routed by an older object counts as during, and a user who
saw two versions while the experiment ran counts as switched."""

from __future__ import annotations

from iter8.demo.traffic import NO_VERSION, Sent, tally


def test_phases_follow_the_routing_object_that_decided() -> None:
    records = [
        Sent("before", "g", 0, "v1", "1"),
        Sent("during", "g", 0, "v1", "1"),
        Sent("during", "g", 1, "v2", "7"),  # the switch was in force: after
        Sent("after", "g", 1, "v1", "5"),  # the router had not read the final object yet
    ]
    seen = tally(records, initial="1", final="7").seen
    assert seen[("g", "before")] == {"v1": 1}
    assert seen[("g", "during")] == {"v1": 2}
    assert seen[("g", "after")] == {"v2": 1}


def test_without_a_change_the_phase_is_when_it_was_sent() -> None:
    records = [Sent("during", "g", 0, "v1", "1"), Sent("after", "g", 0, "v1", "1")]
    seen = tally(records, initial="1", final="1").seen
    assert seen[("g", "during")] == {"v1": 1} and seen[("g", "after")] == {"v1": 1}


def test_switched_counts_users_who_saw_two_versions_while_it_ran() -> None:
    records = [
        Sent("during", "a", 0, "v1", "2"),
        Sent("during", "a", 0, "v2", "3"),  # user 0 switched
        Sent("during", "a", 1, "v1", "2"),
        Sent("during", "a", 1, NO_VERSION, ""),  # a failed request is not a version
        Sent("before", "b", 2, "v1", "1"),
        Sent("during", "b", 2, "v2", "9"),  # routed by the final object: after, not a switch
    ]
    switched = tally(records, initial="1", final="9").switched
    assert switched == {"a": 0.5, "b": None}
