"""The kinds of object a store holds, named the way the API server addresses them (GVR)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A resource type: enough to build its REST path and to know whether it has `/status`.

    `status_subresource` matters for semantics, not only for paths: with it, a write to the main
    resource never changes `status`, a write to `/status` never changes anything else, and
    `metadata.generation` moves only when the spec does.
    """

    group: str  # "" for the core API group
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """A stable name for this resource type, e.g. `experiments.iter8.tools/v2alpha2`."""
        return f"{self.plural}.{self.group or 'core'}/{self.version}"

    @classmethod
    def from_api_version(
        cls,
        api_version: str,
        kind: str,
        plural: str | None = None,
        *,
        status_subresource: bool = True,
    ) -> Resource:
        """The Resource an object reference (`apiVersion` + `kind`) such as `weightObjRef` names."""
        group, _, version = api_version.rpartition("/")
        return cls(
            group=group,
            version=version,
            plural=plural or _plural_of(kind),
            kind=kind,
            status_subresource=status_subresource,
        )


def _plural_of(kind: str) -> str:
    """The API server's default plural for a kind: lowercase, `y` → `ies`, `s`/`x` → `es`."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


EXPERIMENTS = Resource("iter8.tools", "v2alpha2", "experiments", "Experiment")
METRICS = Resource("iter8.tools", "v2alpha2", "metrics", "Metric", status_subresource=False)
SECRETS = Resource("", "v1", "secrets", "Secret", status_subresource=False)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
KNATIVE_SERVICES = Resource("serving.knative.dev", "v1", "services", "Service")
ISTIO_VIRTUAL_SERVICES = Resource(
    "networking.istio.io", "v1beta1", "virtualservices", "VirtualService"
)
SMI_TRAFFIC_SPLITS = Resource(
    "split.smi-spec.io", "v1alpha2", "trafficsplits", "TrafficSplit", status_subresource=False
)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", status_subresource=False)
