"""Field selectors: apimachinery's ``fields`` parser, and the values kube-apiserver compares.

``parse`` reads ``?fieldSelector=`` exactly as ``fields.ParseSelector`` does
(``a=b``, ``a==b``, ``a!=b``, comma = AND, ``\\,`` ``\\=`` ``\\\\`` escapes in
values, upstream's error texts). Which fields a kind accepts is the server's
check against the registry; ``unsupported_message`` gives the 400 text
upstream's field label conversion for that kind returns.

``field_value`` maps a field path to the string upstream's registry puts in the
object's ``fields.Set`` (``GetAttrs``): bools as ``true``/``false``, numbers in
decimal, a missing field as ``""`` (which is also what ``fields.Set.Get``
answers for a field the set lacks, such as ``status.podIPs``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, NamedTuple

EQUALS, NOT_EQUALS = "=", "!="

FieldGetter = Callable[[Mapping[str, Any], str], str]


class FieldSelectorError(ValueError):
    """A field selector that does not parse; ``message`` is upstream's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FieldRequirement(NamedTuple):
    field: str
    operator: str  # "=" or "!=" ("==" parses to "=", as upstream's hasTerm)
    value: str

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_value(self.value)}"


def escape_value(value: str) -> str:
    """fields.EscapeValue: backslash-escape ``\\``, ``,`` and ``=``."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(value: str) -> str:
    """fields.UnescapeValue, with upstream's errors for bad escapes and bare ``,``/``=``."""
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for c in value:
        if in_slash:
            if c not in "\\,=":
                raise FieldSelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            # Upstream formats the rune with %v, so the message carries its code point.
            raise FieldSelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise FieldSelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


class FieldSelector:
    """An AND of ``field=value`` / ``field!=value`` terms, in parsed (sorted) order."""

    __slots__ = ("requirements",)

    def __init__(self, requirements: Iterable[FieldRequirement] = ()) -> None:
        self.requirements: list[FieldRequirement] = list(requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any], getter: FieldGetter | None = None) -> bool:
        get = getter or field_value
        for field, op, value in self.requirements:
            if (get(obj, field) == value) != (op == EQUALS):
                return False
        return True

    def matches_fields(self, fields: Mapping[str, str]) -> bool:
        """Match a precomputed fields.Set (absent fields read as "")."""
        for field, op, value in self.requirements:
            if (fields.get(field, "") == value) != (op == EQUALS):
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        for f, op, value in self.requirements:
            if f == field and op == EQUALS:
                return value
        return None

    def transform(self, fn: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """Selector.Transform: rewrite (field, value); a term mapped to ("", "") is dropped."""
        out = []
        for field, op, value in self.requirements:
            new_field, new_value = fn(field, value)
            if new_field or new_value:
                out.append(FieldRequirement(new_field, op, new_value))
        return FieldSelector(out)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"fieldselectors.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSelector) and self.requirements == other.requirements


def everything() -> FieldSelector:
    return FieldSelector()


def one_term_equal(field: str, value: str) -> FieldSelector:
    return FieldSelector([FieldRequirement(field, EQUALS, value)])


def _split_terms(selector: str) -> list[str]:
    """Split on commas not escaped by a backslash (the backslash stays in the term)."""
    if not selector:
        return []
    terms, start, in_slash = [], 0, False
    for i, c in enumerate(selector):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """The first operator in the term splits it; "!=" and "==" win over "=" at one spot."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def parse(selector: str) -> FieldSelector:
    """fields.ParseSelector. No whitespace trimming: ``a = b`` is field ``a `` and value `` b``."""
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(selector)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise FieldSelectorError(f"invalid selector: '{selector}'; can't understand '{part}'")
        field, op, raw = split
        value = unescape_value(raw)
        # Parsing ends in Transform with the identity, which drops an empty "=" term.
        if field or value:
            reqs.append(FieldRequirement(field, NOT_EQUALS if op == "!=" else EQUALS, value))
    return FieldSelector(reqs)


def single_name(selector: FieldSelector | None) -> str | None:
    """The name a ``metadata.name=X`` term pins (SelectionPredicate.MatchesSingle).

    The server may read that one key instead of listing, but must still apply
    the whole selector to what it read.
    """
    if selector is None:
        return None
    return selector.requires_exact_match("metadata.name")


# --- unsupported fields: the error each kind's field label conversion returns ---

_NOT_SUPPORTED = "field label not supported: {field}"
_MESSAGES: dict[tuple[str, str], str] = {
    ("", "Pod"): _NOT_SUPPORTED,
    ("", "Node"): _NOT_SUPPORTED,
    ("", "ReplicationController"): _NOT_SUPPORTED,
    ("", "Event"): _NOT_SUPPORTED,
    ("", "Namespace"): _NOT_SUPPORTED,
    ("", "Secret"): _NOT_SUPPORTED,
    ("", "Service"): _NOT_SUPPORTED,
    ("events.k8s.io", "Event"): _NOT_SUPPORTED,
    ("certificates.k8s.io", "CertificateSigningRequest"): _NOT_SUPPORTED,
    ("certificates.k8s.io", "ClusterTrustBundle"): _NOT_SUPPORTED,
    ("batch", "Job"): 'field label "{field}" not supported for batchv1.Job',
    ("resource.k8s.io", "ResourceSlice"): "field label not supported for {gvk}: {field}",
}


def unsupported_message(field: str, kind: str, group: str = "", version: str = "v1beta1") -> str:
    """The 400 BadRequest message for selecting on ``field`` of (group, kind).

    Kinds with their own field label conversion answer ``field label not
    supported: <field>`` (batch and resource.k8s.io word it their own way);
    every other kind falls back to runtime.DefaultMetaV1FieldSelectorConversion.
    """
    template = _MESSAGES.get((group, kind))
    if template is None:
        return f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
    gvk = f"{group}/{version}, Kind={kind}"
    return template.format(field=field, gvk=gvk)


# --- the values compared: each registry's ToSelectableFields ---

def _dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return ""


def _pod_ip(obj: Mapping[str, Any]) -> str:
    ips = _dig(obj, "status.podIPs") or []
    if ips and isinstance(ips[0], Mapping):
        return _text(ips[0].get("ip"))
    return _text(_dig(obj, "status.podIP"))


def _event_source(obj: Mapping[str, Any]) -> str:
    component = _dig(obj, "source.component") or _dig(obj, "deprecatedSource.component")
    return _text(component or obj.get("reportingComponent") or obj.get("reportingController"))


_SPECIAL: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "status.podIP": _pod_ip,
    # Allowed by the Pod conversion, but absent from its fields.Set: always "".
    "status.podIPs": lambda obj: "",
    "spec.hostNetwork": lambda obj: _text(bool(_dig(obj, "spec.hostNetwork"))),
    "spec.unschedulable": lambda obj: _text(bool(_dig(obj, "spec.unschedulable"))),
    "status.replicas": lambda obj: _text(_dig(obj, "status.replicas") or 0),
    "status.successful": lambda obj: _text(_dig(obj, "status.succeeded") or 0),
    "source": _event_source,
    "reportingComponent": lambda obj: _text(obj.get("reportingComponent") or obj.get("reportingController")),
}


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string upstream compares for ``path`` of ``obj`` ("" when missing).

    Core Events and events.k8s.io Events both work: ``involvedObject.*`` falls
    back to ``regarding.*``.
    """
    special = _SPECIAL.get(path)
    if special is not None:
        return special(obj)
    value = _dig(obj, path)
    if value is None and path.startswith("involvedObject."):
        value = _dig(obj, "regarding." + path[len("involvedObject."):])
    return _text(value)
