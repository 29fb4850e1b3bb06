"""The cluster manifests of `eventing/config/`, rendered in Python: `iter8 manifests`.

A small, strict subset of kustomize — the fields the base and `eventing/overlays/` use
(`resources`, `bases`, `namespace`, `images`, `patchesJson6902`) — so that printing the YAML
needs neither kustomize nor kubectl; any other field is refused rather than ignored. The tests
check that `kubectl kustomize` renders the same objects. On top come the install parameters:
the namespace iter8 runs in, the image, the broker class.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

import eventing
from iter8.manifests import ManifestError, parse_document, parse_documents
from iter8.routing.objects import CLUSTER_SCOPED

CONFIG_DIR = Path(eventing.__file__).resolve().parent / "config"
OVERLAYS_DIR = CONFIG_DIR.parent / "overlays"  # in a source checkout only
KUSTOMIZATION = "kustomization.yaml"
IMAGE_NAME = "iter8-serverless"  # the image every container of the base names
BROKER_CLASS = "eventing.knative.dev/broker.class"
LEASE_NAMESPACE_ENV = "ITER8_NAMESPACE"
FIELDS = frozenset(
    {"apiVersion", "kind", "namespace", "resources", "bases", "images", "patchesJson6902"}
)

Object = dict[str, Any]


class KustomizeError(Exception):
    """A kustomization this renderer cannot render faithfully, or a parameter it cannot apply."""


@dataclass(frozen=True)
class ObjectId:
    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Object) -> ObjectId:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind}.{self.api_version} {where}"


def build(directory: Path = CONFIG_DIR) -> list[Object]:
    """The objects that `kustomize build DIRECTORY` prints (in file order, not kustomize's)."""
    return _build(directory.resolve(), ())


def _build(directory: Path, visiting: tuple[Path, ...]) -> list[Object]:
    if directory in visiting:
        raise KustomizeError(f"{directory}: a kustomization cycle")
    spec = _kustomization(directory)
    objects: list[Object] = []
    for base in _strings(spec, "bases", directory):
        objects += _build((directory / base).resolve(), (*visiting, directory))
    for entry in _strings(spec, "resources", directory):
        path = (directory / entry).resolve()
        if path.is_dir():
            objects += _build(path, (*visiting, directory))
        else:
            objects += _read_objects(path)
    for patch in spec.get("patchesJson6902") or []:
        _apply_json_patch(objects, patch, directory)
    if spec.get("namespace"):
        _set_namespace(objects, str(spec["namespace"]))
    for image in spec.get("images") or []:
        _set_images(objects, image, directory)
    _check_unique(objects)
    return objects


def _kustomization(directory: Path) -> dict[str, Any]:
    path = directory / KUSTOMIZATION
    try:
        spec = parse_document(path.read_text(encoding="utf-8"), str(path)) or {}
    except (OSError, ManifestError) as error:
        raise KustomizeError(f"{path}: {error}") from error
    if not isinstance(spec, dict):
        raise KustomizeError(f"{path}: not a mapping")
    unknown = sorted(set(spec) - FIELDS)
    if unknown:
        raise KustomizeError(f"{path}: fields this renderer does not support: {unknown}")
    return spec


def _strings(spec: dict[str, Any], key: str, directory: Path) -> list[str]:
    values = spec.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise KustomizeError(f"{directory / KUSTOMIZATION}: {key} must be a list of paths")
    return values


def _read_objects(path: Path) -> list[Object]:
    try:
        documents = parse_documents(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ManifestError) as error:
        raise KustomizeError(f"{path}: {error}") from error
    for document in documents:
        if not isinstance(document.data, dict) or not document.kind:
            raise KustomizeError(f"{path}: line {document.line}: not a Kubernetes object")
    return [document.data for document in documents]


def _apply_json_patch(objects: list[Object], entry: dict[str, Any], directory: Path) -> None:
    target = entry.get("target") or {}
    group, version = target.get("group", ""), target.get("version", "")
    api_version = f"{group}/{version}" if group else version
    matches = [
        i
        for i, obj in enumerate(objects)
        if obj.get("apiVersion") == api_version
        and obj.get("kind") == target.get("kind")
        and (obj.get("metadata") or {}).get("name") == target.get("name")
        and (
            "namespace" not in target
            or (obj.get("metadata") or {}).get("namespace") == target["namespace"]
        )
    ]
    if len(matches) != 1:
        raise KustomizeError(
            f"{directory / KUSTOMIZATION}: patch target {target} matches {len(matches)} objects"
        )
    path = directory / str(entry.get("path", ""))
    try:
        operations = parse_document(path.read_text(encoding="utf-8"), str(path))
        patched = jsonpatch.apply_patch(objects[matches[0]], operations)
    except (
        OSError,
        ManifestError,
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
    ) as error:
        raise KustomizeError(f"{path}: {error}") from error
    objects[matches[0]] = patched


def _set_namespace(objects: list[Object], namespace: str) -> None:
    """kustomize's `namespace`: every namespaced object moves; binding subjects stay (kustomize
    v3 and later change only a subject named `default`)."""
    for obj in objects:
        if obj.get("kind") not in CLUSTER_SCOPED:
            obj.setdefault("metadata", {})["namespace"] = namespace
        if obj.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
            for subject in obj.get("subjects") or []:
                if subject.get("name") == "default":
                    subject["namespace"] = namespace


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container of an object, wherever its pod template sits (as kustomize v2 looks)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def split_image(reference: str) -> tuple[str, str]:
    """`registry/name:tag` or `name@sha256:…` → (name, `:tag` or `@digest` or '')."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        return name, "@" + digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon:]
    return reference, ""


def _set_images(objects: list[Object], image: dict[str, Any], directory: Path) -> None:
    name = image.get("name")
    if not isinstance(name, str):
        raise KustomizeError(f"{directory / KUSTOMIZATION}: images: each entry needs a name")
    for obj in objects:
        for container in _containers(obj):
            current, suffix = split_image(str(container.get("image", "")))
            if current != name:
                continue
            if image.get("digest"):
                suffix = "@" + str(image["digest"])
            elif image.get("newTag") is not None:
                suffix = ":" + str(image["newTag"])
            container["image"] = str(image.get("newName") or current) + suffix


def _check_unique(objects: list[Object]) -> None:
    seen: set[ObjectId] = set()
    for obj in objects:
        key = ObjectId.of(obj)
        if key in seen:
            raise KustomizeError(f"{key} appears twice")
        seen.add(key)


# --- the install parameters ----------------------------------------------------------------


def install_namespace(objects: list[Object]) -> str:
    """The namespace iter8 is installed in: the one Namespace object of the rendering."""
    names = [o["metadata"]["name"] for o in objects if o.get("kind") == "Namespace"]
    if len(names) != 1:
        raise KustomizeError(f"expected exactly one Namespace, found {names}")
    return str(names[0])


def relocate(objects: list[Object], namespace: str) -> list[Object]:
    """Everything that names iter8's namespace, moved to `namespace`: the Namespace itself, the
    namespaced objects, binding subjects, references, and the functions' lease namespace."""
    old = install_namespace(objects)
    moved = copy.deepcopy(objects)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("namespace") == old:
                node["namespace"] = namespace
            if node.get("name") == LEASE_NAMESPACE_ENV and node.get("value") == old:
                node["value"] = namespace
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    for obj in moved:
        if obj.get("kind") == "Namespace":
            obj["metadata"]["name"] = namespace
        visit(obj)
    return moved


def set_image(objects: list[Object], image: str) -> list[Object]:
    """Every iter8 container runs `image` (a full reference: `registry/name:tag` or `@digest`)."""
    changed = copy.deepcopy(objects)
    count = 0
    for obj in changed:
        for container in _containers(obj):
            name, _ = split_image(str(container.get("image", "")))
            if name.rpartition("/")[2] == IMAGE_NAME:
                container["image"] = image
                count += 1
    if count == 0:
        raise KustomizeError(f"no container runs the {IMAGE_NAME} image")
    return changed


def set_broker_class(objects: list[Object], broker_class: str) -> list[Object]:
    """Every Broker of the rendering on `broker_class` (e.g. Kafka: it also needs spec.config)."""
    changed = copy.deepcopy(objects)
    brokers = [o for o in changed if o.get("kind") == "Broker"]
    if not brokers:
        raise KustomizeError("no Broker to set the class of")
    for broker in brokers:
        broker.setdefault("metadata", {}).setdefault("annotations", {})[BROKER_CLASS] = broker_class
    return changed


def render(
    directory: Path = CONFIG_DIR,
    *,
    namespace: str | None = None,
    image: str | None = None,
    broker_class: str | None = None,
) -> list[Object]:
    """The kustomization at `directory` with the install parameters applied."""
    objects = build(directory)
    if namespace:
        objects = relocate(objects, namespace)
    if image:
        objects = set_image(objects, image)
    if broker_class:
        objects = set_broker_class(objects, broker_class)
    return objects


def to_yaml(objects: list[Object]) -> str:
    """One multi-document YAML stream, `kubectl apply -f -` ready."""
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True, width=100)
