"""Turning Trigger destinations into URLs: on a cluster Knative resolves a `ref` through the
Addressable's status; locally a mapping given at startup stands in for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urljoin

from eventing.broker.config import Destination, Ref

Resolver = Callable[[Ref], str | None]


class UnresolvedError(LookupError):
    pass


class SubscriberMap:
    """Resolves a ref by `namespace/name` or by `name`, e.g. `{"iter8-init": "http://127.0.0.1:8081"}`."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = dict(urls)

    def __call__(self, ref: Ref) -> str | None:
        return self.urls.get(f"{ref.namespace}/{ref.name}") or self.urls.get(ref.name)

    @classmethod
    def parse(cls, pairs: list[str] | tuple[str, ...]) -> SubscriberMap:
        """From `NAME=URL` strings, as the command line takes them."""
        urls: dict[str, str] = {}
        for pair in pairs:
            name, sep, url = pair.partition("=")
            if not sep or not name or "://" not in url:
                raise ValueError(
                    f"{pair!r} is not NAME=URL (e.g. iter8-init=http://127.0.0.1:8081)"
                )
            urls[name] = url
        return cls(urls)


def resolve(destination: Destination, resolver: Resolver) -> str:
    """The URL to POST to; a `uri` next to a `ref` is resolved relative to the ref's URL."""
    if destination.ref is None:
        return str(destination.uri)
    base = resolver(destination.ref)
    if not base:
        ref = destination.ref
        raise UnresolvedError(
            f"no URL for {ref.kind} {ref.namespace}/{ref.name}: "
            f"map it at startup (e.g. --subscriber {ref.name}=http://127.0.0.1:PORT)"
        )
    return urljoin(base, destination.uri) if destination.uri else base
