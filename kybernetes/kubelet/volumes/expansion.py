"""$(VAR) expansion as Kubernetes does it (third_party/forked/golang/expansion).

``$(NAME)`` becomes the value of NAME when it is defined and stays as written
when it is not; ``$$`` is an escaped ``$``; a ``$`` before anything else, or an
unclosed ``$(``, is kept as is. Used for env values, command/args and
subPathExpr. Pure.
"""

from __future__ import annotations

from typing import Callable

OPERATOR = "$"
OPENER = "("
CLOSER = ")"


def mapping(*contexts: dict[str, str]) -> Callable[[str], str]:
    """MappingFuncFor: the first context defining the name wins; undefined stays ``$(name)``."""
    def lookup(name: str) -> str:
        for ctx in contexts:
            if name in ctx:
                return ctx[name]
        return f"$({name})"
    return lookup


def _read_name(s: str) -> tuple[str, bool, int]:
    """tryReadVariableName: (text, is a variable, bytes consumed after the operator)."""
    if s[0] == OPERATOR:
        return s[0], False, 1
    if s[0] == OPENER:
        end = s.find(CLOSER, 1)
        if end != -1:
            return s[1:end], True, end + 1
        return OPERATOR + OPENER, False, 1
    return OPERATOR + s[0], False, 1


def expand(text: str, lookup: Callable[[str], str]) -> str:
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_name(text[cursor + 1:])
            out.append(lookup(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]
