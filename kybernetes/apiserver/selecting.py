"""Label and field selectors of a list, watch or deletecollection request,
turned into one predicate over objects (400 with upstream's text when a
selector does not parse or names a field the kind does not support)."""

from __future__ import annotations

from typing import Callable

from kybernetes.api import fieldselectors, labels, registry, status

Predicate = Callable[[dict], bool]


def predicate(resource: registry.Resource, label_selector: str,
              field_selector: str) -> tuple[Predicate | None, str | None]:
    """(predicate or None for everything, the single name the field selector pins)."""
    try:
        lsel = labels.parse(label_selector) if label_selector else None
    except labels.SelectorError as e:
        raise status.bad_request(f"unable to parse requirement: {e}" if "unable to parse" not in str(e)
                                 else str(e)) from None
    try:
        fsel = fieldselectors.parse(field_selector) if field_selector else None
    except fieldselectors.FieldSelectorError as e:
        raise status.bad_request(str(e)) from None
    if fsel is not None:
        renamed = []
        for field, op, value in fsel.requirements:
            label = resource.field_label(field)
            if label is None:
                raise status.bad_request(
                    fieldselectors.unsupported_message(field, resource.kind, resource.group,
                                                       resource.version))
            renamed.append(fieldselectors.FieldRequirement(label, op, value))
        fsel = fieldselectors.FieldSelector(renamed)
    if lsel is not None and lsel.empty:
        lsel = None
    if fsel is not None and fsel.empty:
        fsel = None
    name = fieldselectors.single_name(fsel) if fsel is not None else None
    if lsel is None and fsel is None:
        return None, None
    if fsel is None:
        def by_labels(obj: dict) -> bool:
            return lsel.matches(obj.get("metadata", {}).get("labels"))
        return by_labels, None
    if lsel is None:
        return fsel.matches, name

    def both(obj: dict) -> bool:
        return lsel.matches(obj.get("metadata", {}).get("labels")) and fsel.matches(obj)
    return both, name
