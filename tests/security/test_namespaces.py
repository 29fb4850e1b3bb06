"""The namespace policy: own namespace always, others only as the operator's allow-list says."""

import pytest

from iter8.security.namespaces import (
    REFERENCE_NAMESPACES_ENV,
    SECRET_NAMESPACES_ENV,
    parse_allow_list,
    reference_namespace_allowed,
    secret_namespace_allowed,
)


def test_own_namespace_always_allowed_and_others_refused_by_default():
    assert secret_namespace_allowed("team-a", "team-a", environ={})
    assert not secret_namespace_allowed("team-a", "kube-system", environ={})
    assert reference_namespace_allowed("team-a", "team-a", environ={})
    assert not reference_namespace_allowed("team-a", "team-b", environ={})


@pytest.mark.parametrize(
    ("allow", "owner", "target", "expected"),
    [
        ("team-a:shared", "team-a", "shared", True),
        ("team-a:shared", "team-b", "shared", False),
        ("team-a:shared", "team-a", "kube-system", False),
        ("*:shared", "team-b", "shared", True),
        ("team-a:*", "team-a", "anything", True),
        ("*", "x", "y", True),
        (" team-a : shared , other:x ", "team-a", "shared", True),
        ("team-a", "team-a", "shared", False),  # not a pair: allows nothing
        ("team-a:shared:extra", "team-a", "shared", False),
        (":shared", "", "shared", False),
        ("", "team-a", "shared", False),
    ],
)
def test_allow_list(allow, owner, target, expected):
    assert (
        secret_namespace_allowed(owner, target, environ={SECRET_NAMESPACES_ENV: allow}) is expected
    )
    assert (
        reference_namespace_allowed(owner, target, environ={REFERENCE_NAMESPACES_ENV: allow})
        is expected
    )


def test_the_two_lists_are_separate():
    env = {SECRET_NAMESPACES_ENV: "*"}
    assert secret_namespace_allowed("a", "b", environ=env)
    assert not reference_namespace_allowed("a", "b", environ=env)


def test_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv(SECRET_NAMESPACES_ENV, "team-a:shared")
    assert secret_namespace_allowed("team-a", "shared")
    monkeypatch.delenv(SECRET_NAMESPACES_ENV)
    assert not secret_namespace_allowed("team-a", "shared")


def test_parse():
    assert parse_allow_list("a:b, *:c,*,bad") == {("a", "b"), ("*", "c"), ("*", "*")}
