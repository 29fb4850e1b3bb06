"""Traffic routing: write the analysis' weights into Knative, Istio, SMI or any object, and read
the split back (Iter8 v2 §4 steps 12.7–12.8, §5.3)."""

from iter8.routing.apply import (
    AppliedWeights,
    PatchedObject,
    apply_weights,
    leave_nothing_behind,
    prepare_routing,
    read_weights,
    remove_shaping,
    worth_retrying,
)
from iter8.routing.fieldpath import FieldPathError, to_pointer
from iter8.routing.objects import ObjectKey, resource_for
from iter8.routing.plan import (
    ObjectPatch,
    check_atomic_switch,
    plan_object,
    promote_weights,
    promotion_is_routed,
    targets_by_object,
    weights_are_applied,
    weights_from_objects,
)
from iter8.routing.registry import all_routers, router_for
from iter8.routing.router import NotReady, Router, RoutingError, WeightTarget

__all__ = [
    "AppliedWeights",
    "FieldPathError",
    "NotReady",
    "ObjectKey",
    "ObjectPatch",
    "PatchedObject",
    "Router",
    "RoutingError",
    "WeightTarget",
    "all_routers",
    "apply_weights",
    "check_atomic_switch",
    "leave_nothing_behind",
    "plan_object",
    "prepare_routing",
    "promote_weights",
    "promotion_is_routed",
    "read_weights",
    "remove_shaping",
    "resource_for",
    "router_for",
    "targets_by_object",
    "to_pointer",
    "weights_are_applied",
    "weights_from_objects",
    "worth_retrying",
]
