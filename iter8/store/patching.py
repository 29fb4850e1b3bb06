"""The rules the API server applies to every write, as pure functions: patches, names, the
status/spec split and `metadata.generation`.

A real API server enforces these itself; the embedded backend calls them so that code which
works locally keeps working on a cluster. No I/O, no clock: uids and times come in as arguments.
"""

from __future__ import annotations

import base64
from typing import Any

import jsonpatch
import jsonpointer

from iter8.api.names import is_label, is_subdomain
from iter8.store.base import Invalid, Object, PatchType
from iter8.store.resources import Resource

# What the server owns in `metadata`: a client may send these but never changes them by a write.
_SYSTEM_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
# Built-in API groups whose kinds count generations (Deployment, Job...); the core group's kinds
# (Secret, Namespace) and most others (Lease) carry no `metadata.generation` at all.
_BUILTIN_GROUPS_WITH_GENERATION = frozenset({"apps", "batch"})


def validate_name(name: object, field: str = "metadata.name") -> str:
    """Object names are DNS-1123 subdomains, as the API server checks them."""
    if not isinstance(name, str) or not name:
        raise Invalid(f"{field}: Required value: name or generateName is required")
    if not is_subdomain(name):
        raise Invalid(
            f"{field}: Invalid value: {name!r}: a lowercase RFC 1123 subdomain must consist of "
            "lower case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character"
        )
    return name


def validate_namespace(namespace: object) -> str:
    """Namespaces are DNS-1123 labels (63 characters at most)."""
    if not isinstance(namespace, str) or not namespace:
        raise Invalid("metadata.namespace: Required value")
    if not is_label(namespace):
        raise Invalid(f"metadata.namespace: Invalid value: {namespace!r}: not a DNS-1123 label")
    return namespace


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, tuples, scalars), what every stored object is:
    2-3x faster than `copy.deepcopy`, which a status write spent most of its time in."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    if isinstance(value, tuple):
        return tuple(copy_json(item) for item in value)
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, `null` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    result = copy_json(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Object, operations: Any) -> Object:
    """RFC 6902. Any failure (a `test` that fails, a path that is not there) is `Invalid`, the
    422 the API server answers."""
    if not isinstance(operations, list):
        raise Invalid("a JSON patch must be a list of operations")
    try:
        result: Object = jsonpatch.JsonPatch(operations).apply(target)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise Invalid(f"the JSON patch does not apply: {error}") from error
    except (KeyError, TypeError, ValueError) as error:  # malformed operations
        raise Invalid(f"malformed JSON patch: {error!r}") from error
    return result


def apply_patch(target: Object, patch: Object | list[Object], patch_type: PatchType) -> Object:
    """Either kind of patch; `patch_type` may also be its content type as a plain string."""
    if patch_type == PatchType.MERGE:
        if not isinstance(patch, dict):
            raise Invalid("a merge patch must be a JSON object")
        return merge_patch(target, patch)
    if patch_type == PatchType.JSON:
        return json_patch(target, patch)
    raise Invalid(f"unsupported patch type {patch_type!r}")


def tracks_generation(resource: Resource) -> bool:
    """Custom resources (a CRD's group has a dot and is not `*.k8s.io`) count generations; so
    do the workload kinds of `apps` and `batch`."""
    group = resource.group
    custom = "." in group and not group.endswith(".k8s.io")
    return custom or group in _BUILTIN_GROUPS_WITH_GENERATION


def check_kind(resource: Resource, obj: Object) -> None:
    """An object must be of the resource it is written to; a missing apiVersion/kind is filled."""
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), dict):
        raise Invalid("an object must be a JSON object with a `metadata` object")
    obj.setdefault("apiVersion", resource.api_version)
    obj.setdefault("kind", resource.kind)
    if (obj["apiVersion"], obj["kind"]) != (resource.api_version, resource.kind):
        raise Invalid(
            f"{obj['apiVersion']}/{obj['kind']} written to {resource.api_version}/{resource.kind}"
        )


def prepare_create(resource: Resource, obj: Object, *, uid: str, now: str) -> Object:
    """The object as the server stores it on create, without its resourceVersion."""
    obj = copy_json(obj)
    check_kind(resource, obj)
    obj = {"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), **obj}
    meta = obj.setdefault("metadata", {})
    if meta.get("resourceVersion"):
        raise Invalid("metadata.resourceVersion: resourceVersion should not be set on create")
    validate_name(meta.get("name"))
    if resource.namespaced:
        validate_namespace(meta.get("namespace"))
    else:
        meta.pop("namespace", None)
    for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
        meta.pop(field, None)
    meta["uid"] = uid
    meta["creationTimestamp"] = now
    if tracks_generation(resource):
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    if resource.status_subresource:
        obj.pop("status", None)
    return _defaults(resource, obj)


def prepare_update(resource: Resource, old: Object, new: Object, *, status: bool) -> Object:
    """The object as the server stores it when `new` is written over `old` (PUT or patch).

    With a status subresource, a write of the main resource keeps the old `status` and a write
    of `/status` keeps everything but `status`. `generation` moves when anything outside
    `metadata` changes (so, with a status subresource, only when the spec does). The result
    still carries the old resourceVersion; the caller sets the new one. `new` is never changed;
    a status write's result shares its spec with `old` (the store's own copy, read for this
    write).
    """
    old_meta = old["metadata"]
    # Copied only as deep as it is changed here: a status write copies the new status and the
    # old metadata, not both whole objects (two deep copies were most of a status write's time)
    new = dict(new) if isinstance(new, dict) else new
    check_kind(resource, new)
    new_meta = new["metadata"] = dict(new.get("metadata", {}))
    if not resource.namespaced:
        new_meta.pop("namespace", None)
    for field in ("name", "namespace"):
        if new_meta.get(field, old_meta.get(field)) != old_meta.get(field):
            raise Invalid(f"metadata.{field}: Invalid value: field is immutable")
    if new_meta.get("uid", old_meta["uid"]) not in ("", old_meta["uid"]):
        raise Invalid("metadata.uid: Invalid value: field is immutable")
    if status:
        stored = {k: copy_json(v) if k == "metadata" else v for k, v in old.items()}
        if "status" in new:
            stored["status"] = copy_json(new["status"])
        else:
            stored.pop("status", None)
        return stored
    new = copy_json(new)
    new_meta = new["metadata"]
    if resource.status_subresource:
        if "status" in old:
            new["status"] = copy_json(old["status"])
        else:
            new.pop("status", None)
    for field in (*_SYSTEM_METADATA, "resourceVersion"):
        if field in old_meta:
            new_meta[field] = old_meta[field]
        else:
            new_meta.pop(field, None)
    added = set(new_meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
    if "deletionTimestamp" in old_meta and added:
        raise Invalid(
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is "
            f"being deleted, found new finalizers {sorted(added)}"
        )
    if tracks_generation(resource) and _content(new) != _content(old):
        new_meta["generation"] = old_meta.get("generation", 0) + 1
    return _defaults(resource, new)


def mark_deleting(obj: Object, *, now: str) -> Object:
    """A delete of an object with finalizers only marks it; it goes once they are all removed."""
    obj = copy_json(obj)
    meta = obj["metadata"]
    if "generation" in meta:
        meta["generation"] += 1
    meta["deletionTimestamp"] = now
    meta["deletionGracePeriodSeconds"] = 0
    return obj


def is_deleting_and_done(obj: Object) -> bool:
    """Marked for deletion and no finalizer left: the server removes it."""
    return "deletionTimestamp" in obj["metadata"] and not obj["metadata"].get("finalizers")


def _content(obj: Object) -> Object:
    return {key: value for key, value in obj.items() if key != "metadata"}


def _defaults(resource: Resource, obj: Object) -> Object:
    """The defaulting a built-in kind gets from the server; for Secrets, `stringData` is folded
    into base64 `data` (which must be base64) and `type` defaults to Opaque."""
    if (resource.group, resource.kind) == ("", "Secret"):
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except (TypeError, ValueError):
                raise Invalid(f"data.{key}: Invalid value: not base64") from None
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {}) if string_data else obj.get("data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj.setdefault("type", "Opaque")
    return obj
