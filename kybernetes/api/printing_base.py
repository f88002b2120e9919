"""Building blocks shared by the Table printers (``printing_*`` modules).

A ``Printer`` is what upstream's ``printers.go`` registers per kind: its
column definitions and a function from one object to that object's cells.
kube-apiserver always prints with ``Wide: true`` and lets kubectl hide the
``priority: 1`` columns, so a printer always returns every cell.

Column descriptions are upstream's ``SwaggerDoc()`` texts; those are the Go
doc comments, which the OpenAPI definitions in ``schemas`` carry too, so a
description names a (definition, property) and is looked up once.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Callable, Mapping, NamedTuple

from kybernetes.api import durations, schemas

Obj = Mapping[str, Any]

META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def core(type_name: str) -> str:
    return "io.k8s.api.core.v1." + type_name


class Col(NamedTuple):
    """One TableColumnDefinition; ``doc`` is a literal text or (definition, property)."""

    name: str
    type: str = "string"
    doc: str | tuple[str, str] = ""
    priority: int = 0
    format: str = ""


class Printer(NamedTuple):
    columns: tuple[Col, ...]
    cells: Callable[[Obj, datetime], list[Any]]
    # TableRow.conditions (only Pods set them: Completed for Succeeded/Failed).
    conditions: Callable[[Obj], list[dict[str, str]] | None] | None = None
    # The order a list prints in, when upstream sorts (FlowSchemas by precedence).
    sort_key: Callable[[Obj], Any] | None = None


NAME = Col("Name", doc=(META, "name"), format="name")
AGE = Col("Age", doc=(META, "creationTimestamp"))
CONTAINERS = Col("Containers", doc="Names of each container in the template.", priority=1)
IMAGES = Col("Images", doc="Images referenced by each container in the template.", priority=1)


@functools.cache
def describe(doc: str | tuple[str, str]) -> str:
    if isinstance(doc, str):
        return doc
    definition, prop = doc
    try:
        schema = schemas.definitions()[definition]
    except KeyError:
        return ""
    return (schema.get("properties", {}).get(prop) or {}).get("description", "")


def column_dicts(cols: tuple[Col, ...]) -> list[dict[str, Any]]:
    return [
        {"name": c.name, "type": c.type, "format": c.format, "description": describe(c.doc), "priority": c.priority}
        for c in cols
    ]


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    """obj[path[0]][path[1]]..., or ``default`` when any step is missing or null."""
    for part in path:
        if not isinstance(obj, Mapping):
            return default
        obj = obj.get(part)
        if obj is None:
            return default
    return obj


def name(obj: Obj) -> str:
    return dig(obj, "metadata", "name", default="")


def age(obj: Obj, now: datetime) -> str:
    return durations.since(dig(obj, "metadata", "creationTimestamp"), now)


def num(value: Any, default: int = 0) -> int:
    """An integer cell (Go's int64 of a field that is 0 when unset)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value)


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def containers_of(pod_spec: Any) -> tuple[str, str]:
    """layoutContainerCells: container names and images, comma-joined."""
    containers = dig(pod_spec, "containers", default=[])
    names = ",".join(text(c.get("name")) for c in containers if isinstance(c, Mapping))
    images = ",".join(text(c.get("image")) for c in containers if isinstance(c, Mapping))
    return names, images


def template_containers(obj: Obj) -> tuple[str, str]:
    return containers_of(dig(obj, "spec", "template", "spec"))


def replica_columns(spec: str, status: str) -> tuple[Col, ...]:
    """The columns ReplicaSets and ReplicationControllers share, described from their
    ``spec`` and ``status`` definitions."""
    return (
        NAME,
        Col("Desired", "integer", (spec, "replicas")),
        Col("Current", "integer", (status, "replicas")),
        Col("Ready", "integer", (status, "readyReplicas")),
        AGE,
        CONTAINERS,
        IMAGES,
        Col("Selector", doc=(spec, "selector"), priority=1),
    )


def replica_cells(obj: Obj, now: datetime, selector: str) -> list[Any]:
    """printReplicaSet and printReplicationController: the same cells but for the
    selector's form (a LabelSelector, a plain label map), which the caller formats."""
    names, images = template_containers(obj)
    return [
        name(obj),
        num(dig(obj, "spec", "replicas"), 1),
        num(dig(obj, "status", "replicas")),
        num(dig(obj, "status", "readyReplicas")),
        age(obj, now),
        names,
        images,
        selector,
    ]


def bool_ptr(value: Any) -> str:
    """printBoolPtr: ``True``/``False``, ``<unset>`` for a nil pointer."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def int_or_string(value: Any) -> str:
    """intstr.IntOrString.String()."""
    if isinstance(value, bool):
        return "0"
    if isinstance(value, (int, float)):
        return str(int(value))
    return text(value)


def quantity(value: Any) -> str:
    """A resource.Quantity as printed; an unset quantity prints ``0``.

    Stored quantities are already in canonical form, so the text is printed as is.
    """
    if value is None or value == "":
        return "0"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return text(value)


def list_with_more(items: list[str], more: bool, count: int, max_items: int) -> str:
    """listWithMoreString: ``a,b,c + 2 more...``; ``<unset>`` when empty."""
    ret = ",".join(items)
    if more:
        return f"{ret} + {count - max_items} more..."
    return ret or "<unset>"


def group_kind_string(api_version: str, kind: str) -> str:
    """schema.GroupKind.String() of an apiVersion's group: ``statefulset.apps``."""
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    return f"{kind}.{group}" if group else kind


def controller_of(obj: Obj) -> Mapping[str, Any] | None:
    """metav1.GetControllerOf: the ownerReference with ``controller: true``."""
    for ref in dig(obj, "metadata", "ownerReferences", default=[]):
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None
