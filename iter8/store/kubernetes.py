"""The store on a real Kubernetes API server.

Raw REST calls, not the typed clients: one code path serves every kind (Experiments, Metrics,
Secrets, Knative Services, whatever a `weightObjRef` names), objects stay plain dicts exactly as
the server sends them, and unknown fields survive.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import Any, Literal, cast
from urllib.parse import quote

import urllib3
from kubernetes import client, config

from iter8.store.base import (
    AlreadyExists,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    Object,
    PatchType,
    StoreError,
    WatchEvent,
)
from iter8.store.resources import Resource

_JSON = "application/json"
_UNCONDITIONAL_RETRIES = 5


class KubernetesStore:
    """`Store` backed by the API server that `api_client` talks to."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        owns_client: bool = False,
        request_timeout: float = 30,
    ) -> None:
        self.api = api_client
        self._owns_client = owns_client
        self._timeout = request_timeout

    @classmethod
    def from_kubeconfig(cls, path: str | None = None) -> KubernetesStore:
        """A store for a kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod, the
        service account), which closes its own client."""
        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=path, client_configuration=cfg)
        except config.ConfigException:
            if path is not None:
                raise
            config.load_incluster_config(client_configuration=cfg)
        return cls(client.ApiClient(cfg), owns_client=True)

    # --- reads ------------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> Object:
        return self._call("GET", _path(resource, namespace, name))

    def list(self, resource: Resource, namespace: str | None = None) -> tuple[list[Object], str]:
        items: list[Object] = []
        query: dict[str, str] = {"limit": "500"}
        resource_version = ""
        while True:
            page = self._call("GET", _path(resource, namespace), query=query)
            resource_version = resource_version or page["metadata"].get("resourceVersion", "")
            for item in page.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                items.append(item)
            query["continue"] = page["metadata"].get("continue", "")
            if not query["continue"]:
                return items, resource_version

    # --- writes -----------------------------------------------------------------------------

    def create(self, resource: Resource, obj: Object) -> Object:
        body = _with_type(resource, obj)
        return self._call("POST", _path(resource, _namespace_of(resource, body)), body=body)

    def replace(self, resource: Resource, obj: Object) -> Object:
        return self._put(resource, obj, "")

    def replace_status(self, resource: Resource, obj: Object) -> Object:
        return self._put(resource, obj, "status")

    def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        patch: Object | list[Object],
        patch_type: PatchType = PatchType.MERGE,
        *,
        resource_version: str | None = None,
        subresource: Literal["", "status"] = "",
    ) -> Object:
        body = _with_precondition(patch, patch_type, resource_version)
        path = _path(resource, namespace, name, subresource)
        try:
            return self._call("PATCH", path, body=body, content_type=str(patch_type))
        except Invalid as e:
            # Every failed `test` op is the same bare 422, so tell ours apart by re-reading: if
            # the object moved past `resource_version`, the precondition is what failed.
            if resource_version is not None and patch_type is PatchType.JSON:
                current = self.get(resource, namespace, name)["metadata"]["resourceVersion"]
                if current != resource_version:
                    raise Conflict(f"{e.message}: resourceVersion is {current}") from e
            raise

    def delete(
        self, resource: Resource, namespace: str, name: str, *, resource_version: str | None = None
    ) -> None:
        options: Object = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version is not None:
            options["preconditions"] = {"resourceVersion": resource_version}
        self._call("DELETE", _path(resource, namespace, name), body=options)

    def _put(self, resource: Resource, obj: Object, subresource: str) -> Object:
        """PUT; without a resourceVersion, the current one is used, so the write is
        unconditional as the contract says (custom resources refuse a PUT without one)."""
        body = _with_type(resource, obj)
        meta = body["metadata"]
        path = _path(resource, _namespace_of(resource, body), meta.get("name", ""), subresource)
        if meta.get("resourceVersion"):
            return self._call("PUT", path, body=body)
        for _ in range(_UNCONDITIONAL_RETRIES):
            current = self.get(resource, meta.get("namespace", ""), meta.get("name", ""))
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                return self._call("PUT", path, body=body)
            except Conflict:
                continue
        raise Conflict(f"{path}: changed on every one of {_UNCONDITIONAL_RETRIES} attempts")

    # --- watch ------------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: float = 30,
    ) -> Iterator[WatchEvent]:
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(max(1, math.ceil(timeout_seconds))),
            "allowWatchBookmarks": "false",
        }
        response = self._request(
            "GET", _path(resource, namespace), query=query, timeout=timeout_seconds + 15
        )
        raw = response.response  # the urllib3 response, read as the server streams it
        try:
            if response.status >= 300:
                raise _error(response.status, raw.read())
            for line in _lines(raw):
                event = json.loads(line)  # a broken stream raises StoreError below
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "BOOKMARK":
                    continue
                if kind == "ERROR":
                    raise _error(int(obj.get("code") or 500), json.dumps(obj).encode())
                if kind not in ("ADDED", "MODIFIED", "DELETED"):
                    raise StoreError(f"unexpected watch event type {kind!r}")
                obj.setdefault("apiVersion", resource.api_version)
                obj.setdefault("kind", resource.kind)
                yield WatchEvent(cast(Literal["ADDED", "MODIFIED", "DELETED"], kind), obj)
        except (urllib3.exceptions.HTTPError, ValueError) as e:
            error = StoreError(f"watch {resource.key}: broken stream: {e}")
            error.code = 503
            raise error from e
        finally:
            raw.close()  # not release: an unfinished stream must not go back to the pool
            raw.release_conn()

    def close(self) -> None:
        if self._owns_client:
            self.api.rest_client.pool_manager.clear()
            self.api.close()

    # --- HTTP -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = _JSON,
        timeout: float | None = None,
    ) -> Any:
        headers = {"Accept": _JSON, "Content-Type": content_type}
        _, url, headers, body, _ = self.api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return self.api.call_api(
                method,
                url,
                header_params=headers,
                body=body,
                _request_timeout=timeout or self._timeout,
            )
        except (client.ApiException, urllib3.exceptions.HTTPError) as e:
            error = StoreError(f"{method} {path}: {e}")  # unreachable, TLS, timeout: worth a retry
            error.code = 503
            raise error from e

    def _call(self, method: str, path: str, **kwargs: Any) -> Object:
        response = self._request(method, path, **kwargs)
        data = response.read()
        if response.status >= 300:
            raise _error(response.status, data)
        return cast(Object, json.loads(data)) if data else {}


def _path(resource: Resource, namespace: str | None, name: str = "", sub: str = "") -> str:
    parts = ["/api" if not resource.group else f"/apis/{resource.group}", resource.version]
    if resource.namespaced and namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(resource.plural)
    if name or sub:
        if not name:
            raise Invalid("metadata.name is required")
        parts.append(quote(name, safe=""))
    if sub:
        parts.append(sub)
    return "/".join(parts)


def _with_type(resource: Resource, obj: Object) -> Object:
    """A copy with `apiVersion` and `kind` filled in, which the server requires."""
    body = copy.deepcopy(obj)
    body.setdefault("apiVersion", resource.api_version)
    body.setdefault("kind", resource.kind)
    body.setdefault("metadata", {})
    return body


def _namespace_of(resource: Resource, obj: Object) -> str:
    namespace = str(obj["metadata"].get("namespace") or "")
    if resource.namespaced and not namespace:
        raise Invalid(f"{resource.kind}: metadata.namespace is required")
    return namespace


def _with_precondition(
    patch: Object | list[Object], patch_type: PatchType, resource_version: str | None
) -> Object | list[Object]:
    """The patch carrying the rv precondition in the way each patch type allows."""
    if resource_version is None:
        return patch
    if patch_type is PatchType.JSON:
        if not isinstance(patch, list):
            raise Invalid("a JSON patch is a list of operations")
        test = {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}
        return [test, *patch]
    if not isinstance(patch, dict):
        raise Invalid("a merge patch is an object")
    body = copy.deepcopy(patch)
    metadata = body.get("metadata")
    body["metadata"] = {**(metadata if isinstance(metadata, dict) else {})}
    body["metadata"]["resourceVersion"] = resource_version
    return body


def _lines(raw: Any) -> Iterator[bytes]:
    """The newline-delimited JSON of a watch stream, yielded as soon as each line arrives."""
    buffer = b""
    for chunk in raw.stream(amt=None, decode_content=False):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from (line for line in complete if line.strip())
    if buffer.strip():
        yield buffer


def _error(status: int, data: bytes) -> StoreError:
    """The store's error for an HTTP failure, from the server's `Status` object."""
    try:
        body = json.loads(data)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or data[:500].decode(errors="replace") or status)
    reason = body.get("reason", "")
    if status == 404:
        return NotFound(message)
    if status == 409:
        return AlreadyExists(message) if reason == "AlreadyExists" else Conflict(message)
    if status in (400, 415, 422):
        return Invalid(message)
    if status == 410 or reason in ("Expired", "Gone"):
        return Expired(message)
    error = StoreError(message)
    error.code = status
    return error
