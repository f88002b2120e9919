"""Label selectors, as apimachinery's ``labels`` package parses, prints and matches them.

The API server parses ``?labelSelector=`` with ``parse`` (a syntax error is a
400 whose message is ``SelectorError.message``, the text kube-apiserver
sends); controllers turn a ``spec.selector`` (metav1.LabelSelector) into a
``Selector`` with ``from_label_selector`` once, then call ``matches`` in hot
loops, so every requirement is compiled to a closure up front.

The lexer and parser follow ``k8s.io/apimachinery/pkg/labels/selector.go``
token for token, so odd inputs (``x in (,a)``, ``x=``, ``!x``) mean the same
thing here, and errors read the same.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping, NamedTuple

# selection.Operator values, as upstream spells them.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)

Labels = Mapping[str, str]


# --- validation texts, as k8s.io/apimachinery/pkg/util/validation words them ---

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, double spaces and all."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    listed = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {listed}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def label_key_errors(key: str) -> list[str]:
    """validation.IsQualifiedName: the reasons ``key`` is not a valid label key."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix.encode()) > 253:
                errs.append("prefix part " + _max_len(253))
            if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
                errs.append(
                    "prefix part " + regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
                )
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part " + _max_len(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """validation.IsValidLabelValue."""
    errs: list[str] = []
    if len(value.encode()) > 63:
        errs.append(_max_len(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(s: str) -> str:
    """Go's %q (strconv.Quote) of a string."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable() and ch != "\x7f":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def invalid(path: str, value: str | tuple[str, ...], detail: str) -> str:
    """field.Invalid(path, value, detail).Error(); a tuple prints as Go's %#v of []string."""
    if isinstance(value, tuple):
        shown = "[]string{" + ", ".join(go_quote(v) for v in value) + "}" if value else "[]string(nil)"
    else:
        shown = go_quote(value)
    return f"{path}: Invalid value: {shown}: {detail}"


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or ``[a, b]`` without repeats."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


class SelectorError(ValueError):
    """A selector that does not parse or validate; ``message`` is upstream's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Requirement(NamedTuple):
    """One ANDed term: ``key``, an operator from above, and its values in given order."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        sym = {IN: " in ", NOT_IN: " notin ", GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        vals = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        return f"{self.key}{sym}({vals})" if op in (IN, NOT_IN) else f"{self.key}{sym}{vals}"


def _compile(req: Requirement) -> Callable[[Labels], bool]:
    key, op, values = req
    if op in (IN, EQUALS, DOUBLE_EQUALS):
        if len(values) == 1:
            want = values[0]
            return lambda ls: ls.get(key) == want
        wanted = frozenset(values)
        return lambda ls: key in ls and ls[key] in wanted
    if op in (NOT_IN, NOT_EQUALS):
        unwanted = frozenset(values)
        return lambda ls: key not in ls or ls[key] not in unwanted
    if op == EXISTS:
        return lambda ls: key in ls
    if op == DOES_NOT_EXIST:
        return lambda ls: key not in ls
    if op in (GREATER_THAN, LESS_THAN) and len(values) == 1:
        try:
            bound = _parse_int64(values[0])
        except ValueError:
            return lambda ls: False
        greater = op == GREATER_THAN

        def compare(ls: Labels) -> bool:
            try:
                have = _parse_int64(ls[key])
            except (KeyError, ValueError):
                return False
            return have > bound if greater else have < bound

        return compare
    return lambda ls: False


def _parse_int64(s: str) -> int:
    """strconv.ParseInt(s, 10, 64): optional sign, ASCII digits only."""
    body = s[1:] if s[:1] in ("+", "-") else s
    if not body or not body.isascii() or not body.isdigit():
        raise ValueError(s)
    n = int(s)
    if not -(2**63) <= n < 2**63:
        raise ValueError(s)
    return n


class Selector:
    """An AND of requirements, sorted by key; ``nothing()`` matches no labels at all."""

    __slots__ = ("requirements", "_checks", "_matches_nothing")

    def __init__(self, requirements: Iterable[Requirement] = (), *, _nothing: bool = False) -> None:
        # Python's sort is stable, as upstream's (insertion) sort is for small selectors.
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._checks = tuple(_compile(r) for r in self.requirements)
        self._matches_nothing = _nothing

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (``labels.Everything()``)."""
        return not self._matches_nothing and not self.requirements

    @property
    def matches_nothing(self) -> bool:
        return self._matches_nothing

    def matches(self, labels: Labels | None) -> bool:
        if self._matches_nothing:
            return False
        ls = labels if labels is not None else {}
        for check in self._checks:
            if not check(ls):
                return False
        return True

    def add(self, *requirements: Requirement) -> Selector:
        if self._matches_nothing:
            return self
        return Selector(self.requirements + requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value ``key`` must have (``=``, ``==`` or a one-value ``in``), else None."""
        for req in self.requirements:
            if req.key == key:
                if req.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(req.values) == 1:
                    return req.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return "labels.nothing()" if self._matches_nothing else f"labels.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Selector)
            and self._matches_nothing == other._matches_nothing
            and self.requirements == other.requirements
        )

    def __hash__(self) -> int:
        return hash((self._matches_nothing, self.requirements))


_EVERYTHING = Selector()
_NOTHING = Selector(_nothing=True)


def everything() -> Selector:
    return _EVERYTHING


def nothing() -> Selector:
    return _NOTHING


def new_requirement(key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
    """labels.NewRequirement: validate and build one requirement, or raise SelectorError."""
    vals = tuple(values)
    errors: list[str] = []
    key_errors = label_key_errors(key)
    if key_errors:
        errors.append(invalid("key", key, "; ".join(key_errors)))
    if operator in (IN, NOT_IN):
        if not vals:
            errors.append(invalid("values", vals, "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(vals) != 1:
            errors.append(invalid("values", vals, "exact-match compatibility requires one single value"))
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if vals:
            errors.append(invalid("values", vals, "values set must be empty for exists and does not exist"))
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(vals) != 1:
            errors.append(
                invalid("values", vals, "for 'Gt', 'Lt' operators, exactly one value is required")
            )
        for i, v in enumerate(vals):
            try:
                _parse_int64(v)
            except ValueError:
                errors.append(
                    invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
                )
    else:
        supported = ", ".join(go_quote(o) for o in BINARY_OPERATORS + (EXISTS, DOES_NOT_EXIST))
        errors.append(f"operator: Unsupported value: {go_quote(operator)}: supported values: {supported}")
    for i, v in enumerate(vals):
        value_errors = label_value_errors(v)
        if value_errors:
            errors.append(invalid(f"values[{i}][{key}]", v, "; ".join(value_errors)))
    if errors:
        raise SelectorError(aggregate(errors))
    return Requirement(key, operator, vals)


def selector_from_set(labels: Labels | None) -> Selector:
    """labels.SelectorFromSet: ``k=v`` for every pair, unvalidated; empty → everything."""
    if not labels:
        return _EVERYTHING
    return Selector(Requirement(k, EQUALS, (v,)) for k, v in labels.items())


def matches_set(wanted: Labels | None, labels: Labels | None) -> bool:
    """SelectorFromSet(wanted).Matches(labels), without building a selector."""
    if not wanted:
        return True
    if not labels:
        return False
    for k, v in wanted.items():
        if labels.get(k) != v:
            return False
    return True


def format_labels(labels: Labels | None) -> str:
    """labels.FormatLabels: ``a=b,c=d`` sorted by key, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


_SELECTOR_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def from_label_selector(selector: Mapping | None) -> Selector:
    """metav1.LabelSelectorAsSelector: None → nothing(), ``{}`` → everything()."""
    if selector is None:
        return _NOTHING
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return _EVERYTHING
    reqs = [new_requirement(k, EQUALS, (v,)) for k, v in match_labels.items()]
    for expr in expressions:
        operator = expr.get("operator", "")
        op = _SELECTOR_OPERATORS.get(operator)
        if op is None:
            raise SelectorError(f"{go_quote(operator)} is not a valid label selector operator")
        reqs.append(new_requirement(expr.get("key", ""), op, expr.get("values") or ()))
    return Selector(reqs)


def format_label_selector(selector: Mapping | None) -> str:
    """metav1.FormatLabelSelector, as printers show ``spec.selector``: ``<none>``, ``<error>``."""
    try:
        text = str(from_label_selector(selector))
    except SelectorError:
        return "<error>"
    return text or "<none>"


def parse(text: str) -> Selector:
    """labels.Parse: the string form (``a=b,c in (d,e),!f``), or SelectorError."""
    return Selector(_Parser(text).parse())


# --- the string syntax: selector.go's Lexer and Parser ---

(_ERROR, _EOS, _CLOSED_PAR, _COMMA, _NOT, _DOUBLE_EQUALS, _EQUALS, _GT, _IDENT, _IN, _LT, _NOT_EQUALS, _NOT_IN,
 _OPEN_PAR) = range(14)
_STRING_TO_TOKEN = {
    ")": _CLOSED_PAR, ",": _COMMA, "!": _NOT, "==": _DOUBLE_EQUALS, "=": _EQUALS, ">": _GT, "in": _IN,
    "<": _LT, "!=": _NOT_EQUALS, "notin": _NOT_IN, "(": _OPEN_PAR,
}
_TOKEN_TO_OPERATOR = {
    _IN: IN, _EQUALS: EQUALS, _DOUBLE_EQUALS: DOUBLE_EQUALS, _GT: GREATER_THAN, _LT: LESS_THAN,
    _NOT_IN: NOT_IN, _NOT_EQUALS: NOT_EQUALS,
}
_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"


def _lex(text: str) -> list[tuple[int, str]]:
    """Every (token, literal) of ``text``, ending with end-of-string."""
    items: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        # Upstream's reader returns NUL at the end, so a NUL byte ends the input too.
        if pos >= n or text[pos] == "\x00":
            items.append((_EOS, ""))
            return items
        start = pos
        if text[pos] in _SPECIAL:
            # Longest run of special symbols that still spells a token ("!=", "==").
            tok, end = _ERROR, pos
            while pos < n and text[pos] in _SPECIAL:
                pos += 1
                candidate = _STRING_TO_TOKEN.get(text[start:pos])
                if candidate is not None:
                    tok, end = candidate, pos
                elif tok != _ERROR:
                    break
            pos = end
            items.append((tok, text[start:end]))
        else:
            while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE and text[pos] != "\x00":
                pos += 1
            literal = text[start:pos]
            items.append((_STRING_TO_TOKEN.get(literal, _IDENT), literal))


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def _at(self, i: int, values: bool) -> tuple[int, str]:
        tok, lit = self.items[min(i, len(self.items) - 1)]
        # In the values context "in" and "notin" are plain identifiers: "x in (in)".
        if values and tok in (_IN, _NOT_IN):
            tok = _IDENT
        return tok, lit

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        return self._at(self.pos, values)

    def consume(self, values: bool = True) -> tuple[int, str]:
        self.pos += 1
        return self._at(self.pos - 1, values)

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_IDENT, _NOT):
                try:
                    reqs.append(self.requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e.message}") from None
                tok, lit = self.consume()
                if tok == _EOS:
                    return reqs
                if tok != _COMMA:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok, lit = self.lookahead()
                if tok not in (_IDENT, _NOT):
                    raise SelectorError(f"found '{lit}', expected: identifier after ','")
            elif tok == _EOS:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        operator = ""
        tok, lit = self.consume()
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        errs = label_key_errors(key)
        if errs:
            raise SelectorError(invalid("<nil>", key, "; ".join(errs)))
        if self.lookahead()[0] in (_EOS, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        if operator in (EXISTS, DOES_NOT_EXIST):
            return new_requirement(key, operator)
        tok, lit = self.consume(values=False)
        operator = _TOKEN_TO_OPERATOR.get(tok, "")
        if not operator:
            raise SelectorError(f"found '{lit}', expected: {', '.join(BINARY_OPERATORS)}")
        values = self.value_set() if operator in (IN, NOT_IN) else self.exact_value()
        return new_requirement(key, operator, sorted(values))

    def value_set(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_IDENT, _COMMA):
            values = self.identifiers()
            if self.consume()[0] != _CLOSED_PAR:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSED_PAR:
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _IDENT:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSED_PAR:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                # "(,a)", "(a,)" and "(a,,b)" each hold the empty value.
                if not values:
                    values.add("")
                tok2 = self.lookahead()[0]
                if tok2 == _CLOSED_PAR:
                    values.add("")
                    return values
                if tok2 == _COMMA:
                    values.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _IDENT:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")
