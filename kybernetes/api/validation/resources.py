"""Resource names and quantities: container requests/limits, quota and limit-range keys.

Mirrors core validation's resource helpers (IsStandardResourceName,
IsNativeResource, IsExtendedResourceName, IsOvercommitAllowed, …) and
``validateResourceRequirements``: requests may not exceed limits, hugepages and
extended resources may not be overcommitted, integer resources must be whole.

A quantity that does not parse is reported as ``FieldValueInvalid`` with the
parser's message. Kube-apiserver rejects such objects earlier, while decoding
(HTTP 400); a server that decodes leniently still gets a precise message here.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names, quantities
from kybernetes.api.quantities import Quantity
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause

HUGEPAGES_PREFIX = "hugepages-"
REQUESTS_PREFIX = "requests."
NATIVE_PREFIX = "kubernetes.io/"

STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_COUNTS = {"pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
           "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"}
STANDARD_RESOURCES = STANDARD_CONTAINER_RESOURCES | _COUNTS | {
    "requests.cpu", "requests.memory", "requests.ephemeral-storage", "limits.cpu", "limits.memory",
    "limits.ephemeral-storage", "storage", "requests.storage"}
STANDARD_QUOTA_RESOURCES = (STANDARD_RESOURCES - {"storage"})
INTEGER_RESOURCES = _COUNTS
STANDARD_LIMIT_TYPES = {"Pod", "Container", "PersistentVolumeClaim"}
QUOTA_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                "CrossNamespacePodAffinity")
_POD_COMPUTE = {"cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"}


def is_native(name: str) -> bool:
    return "/" not in name or NATIVE_PREFIX in name


def is_hugepages(name: str) -> bool:
    return name.startswith(HUGEPAGES_PREFIX)


def is_quota_hugepages(name: str) -> bool:
    return name.startswith(HUGEPAGES_PREFIX) or name.startswith("requests." + HUGEPAGES_PREFIX)


def is_standard_resource(name: str) -> bool:
    return name in STANDARD_RESOURCES or is_quota_hugepages(name)


def is_standard_quota_resource(name: str) -> bool:
    return name in STANDARD_QUOTA_RESOURCES or is_quota_hugepages(name)


def is_extended(name: str) -> bool:
    if is_native(name) or name.startswith(REQUESTS_PREFIX):
        return False
    return not names.is_qualified_name(REQUESTS_PREFIX + name)


def is_integer_resource(name: str) -> bool:
    return name in INTEGER_RESOURCES or is_extended(name)


def is_overcommit_allowed(name: str) -> bool:
    return is_native(name) and not is_hugepages(name)


def quota_scope_valid_for_resource(scope: str, resource: str) -> bool:
    if scope in ("Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"):
        return resource == "pods" or resource in _POD_COMPUTE
    if scope == "BestEffort":
        return resource == "pods"
    return True


def go_quantity(q: Quantity) -> f.GoValue:
    """%#v of a resource.Quantity (messages that pass the struct rather than its string)."""
    text = quantities.canonical(q)
    return f.GoValue(f'resource.Quantity{{i:resource.int64Amount{{value:{q.nanos}, scale:-9}}, '
                     f'd:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, s:{f.go_quote(text)}, '
                     f'Format:{f.go_quote(q.format)}}}')


def parse_quantity(raw: Any, path: str, errs: list[Cause]) -> Quantity | None:
    try:
        return quantities.parse(raw)
    except (ValueError, TypeError) as e:
        errs.append(f.invalid(path, raw if isinstance(raw, (str, int, float)) else str(raw), str(e)))
        return None


# -- names ---------------------------------------------------------------------------

def validate_resource_name(name: str, path: str) -> list[Cause]:
    errs = [f.invalid(path, name, msg) for msg in names.is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name and not is_standard_resource(name):
        return [f.invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def validate_container_resource_name(name: str, path: str) -> list[Cause]:
    errs = validate_resource_name(name, path)
    if "/" not in name:
        if not (name in STANDARD_CONTAINER_RESOURCES or is_hugepages(name)):
            errs.append(f.invalid(path, name, "must be a standard resource for containers"))
    elif not is_native(name) and not is_extended(name):
        errs.append(f.invalid(path, name, "doesn't follow extended resource name standard"))
    return errs


def validate_quota_resource_name(name: str, path: str) -> list[Cause]:
    errs = validate_resource_name(name, path)
    if "/" not in name and not is_standard_quota_resource(name):
        errs.append(f.invalid(path, name, "must be a standard resource for quota"))
    return errs


# -- quantities ------------------------------------------------------------------------

def validate_quantity_value(resource: str, q: Quantity, path: str) -> list[Cause]:
    """ValidateResourceQuantityValue: non-negative, and whole for integer resources."""
    errs: list[Cause] = []
    if q.nanos < 0:
        errs.append(f.invalid(path, quantities.canonical(q), f.IS_NEGATIVE))
    if is_integer_resource(resource) and quantities.milli_value(q) % 1000 != 0:
        errs.append(f.invalid(path, go_quantity(q), "must be an integer"))
    return errs


def _hugepage_size(name: str) -> Quantity | None:
    try:
        size = quantities.parse(name[len(HUGEPAGES_PREFIX):])
    except ValueError:
        return None
    return size if size.nanos > 0 else None


def _hugepage_error(name: str, q: Quantity) -> str | None:
    size = _hugepage_size(name)
    if size is None or quantities.value(q) % quantities.value(size) != 0:
        return f"{quantities.canonical(q)} is not positive integer multiple of {name}"
    return None


def validate_resource_requirements(req: Mapping[str, Any], path: str, pod_claims: set[str],
                                   name_fn: Any = validate_container_resource_name) -> list[Cause]:
    errs: list[Cause] = []
    lim_path, req_path = f.child(path, "limits"), f.child(path, "requests")
    limits_raw, requests_raw = a.m(req, "limits"), a.m(req, "requests")
    limits: dict[str, Quantity] = {}
    lim_cpu_mem = req_cpu_mem = lim_huge = req_huge = False
    for name in sorted(limits_raw):
        p = f.key(lim_path, name)
        errs += name_fn(name, p)
        q = parse_quantity(limits_raw[name], p, errs)
        if q is None:
            continue
        limits[name] = q
        errs += validate_quantity_value(name, q, p)
        if is_hugepages(name):
            lim_huge = True
            if (msg := _hugepage_error(name, q)) is not None:
                errs.append(f.invalid(p, quantities.canonical(q), msg))
        lim_cpu_mem |= name in ("cpu", "memory")
    for name in sorted(requests_raw):
        p = f.key(req_path, name)
        errs += name_fn(name, p)
        q = parse_quantity(requests_raw[name], p, errs)
        if q is None:
            continue
        errs += validate_quantity_value(name, q, p)
        limit = limits.get(name)
        if limit is not None:
            shown = quantities.canonical(q)
            if q != limit and not is_overcommit_allowed(name):
                errs.append(f.invalid(req_path, shown, f"must be equal to {name} limit of {limit}"))
            elif q > limit:
                errs.append(f.invalid(req_path, shown, f"must be less than or equal to {name} limit of {limit}"))
        elif name not in limits_raw and not is_overcommit_allowed(name):
            errs.append(f.required(lim_path, "Limit must be set for non overcommitable resources"))
        if is_hugepages(name):
            req_huge = True
            if (msg := _hugepage_error(name, q)) is not None:
                errs.append(f.invalid(p, quantities.canonical(q), msg))
        req_cpu_mem |= name in ("cpu", "memory")
    if not lim_cpu_mem and not req_cpu_mem and (lim_huge or req_huge):
        errs.append(f.forbidden(path, "HugePages require cpu or memory"))
    errs += _validate_claim_names(a.dicts(req, "claims"), f.child(path, "claims"), pod_claims)
    return errs


def _validate_claim_names(claims: list[Mapping[str, Any]], path: str, pod_claims: set[str]) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for n, claim in enumerate(claims):
        p = f.index(path, n)
        name = a.s(claim, "name")
        if not name:
            errs.append(f.required(p))
            continue
        if name in seen:
            errs.append(f.duplicate(p, name))
        else:
            request = a.s(claim, "request")
            k = name
            if request:
                errs += [f.invalid(f.child(p, "request"), request, msg) for msg in names.is_dns1123_label(request)]
                k += "/" + request
            if k in seen:
                errs.append(f.duplicate(p, k))
            elif not request and any(s.split("/", 1)[0] == name for s in seen if "/" in s):
                errs.append(f.duplicate(p, name))
            seen.add(k)
        if name not in pod_claims:
            detail = "must be one of the names in pod.spec.resourceClaims"
            detail += " which is empty" if not pod_claims else ": " + ", ".join(sorted(pod_claims))
            errs.append(f.make(f.NOT_FOUND, p, name, detail))
    return errs


def validate_resource_list(resources: Mapping[str, Any], path: str, name_fn: Any) -> list[Cause]:
    """Names and non-negative quantities of a ResourceList (quota hard/used, node capacity)."""
    errs: list[Cause] = []
    for name in sorted(resources):
        p = f.key(path, name)
        if name_fn is not None:
            errs += name_fn(name, p)
        q = parse_quantity(resources[name], p, errs)
        if q is not None:
            errs += validate_quantity_value(name, q, p)
    return errs
