"""RFC 6902 JSON patch, as kube-apiserver applies ``application/json-patch+json``.

kube-apiserver 1.32 uses gopkg.in/evanphx/json-patch.v4 (v4.12): its error texts,
its negative array indices (``-1`` is the last element), its ``replace`` that
adds a missing object key (a v4 quirk kept for compatibility) and its
accumulated-copy limit (``--json-patch-max-copy-bytes``, 3 MiB) are matched
here. More than 10,000 operations are refused with 413 before any is applied.
Pure functions over decoded JSON; inputs are never modified.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson

from kybernetes.api.patching_errors import PatchError

MAX_OPERATIONS = 10000
MAX_COPY_BYTES = 3 * 1024 * 1024

_MISSING_VALUE = "missing value"
_INVALID_INDEX = "invalid index referenced"
_TEST_FAILED = "test failed"
_POINTER_TOKEN = re.compile(r"~[01]")
_INT = re.compile(r"[+-]?[0-9]+")


def escape(token: str) -> str:
    """One JSON-pointer reference token (``a/b`` -> ``a~1b``)."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return _POINTER_TOKEN.sub(lambda m: "~" if m.group() == "~0" else "/", token)


def apply(doc: Any, patch: Any) -> Any:
    """Apply the operations of ``patch`` (a decoded JSON array) to a copy of ``doc``."""
    operations = _decode(patch)
    if len(operations) > MAX_OPERATIONS:
        raise PatchError(f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, "
                         f"got {len(operations)}", 413)
    state = _State(copy.deepcopy(doc))
    for op in operations:
        kind = op.get("op") if isinstance(op.get("op"), str) else "unknown"
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise PatchError(f"Unexpected kind: {kind}")
        handler(state, op)
    return state.root


def _decode(patch: Any) -> list[dict[str, Any]]:
    if not isinstance(patch, list):
        raise PatchError(f"json: cannot unmarshal {_json_kind(patch)} into Go value of type jsonpatch.Patch",
                         400)
    for op in patch:
        if op is not None and not isinstance(op, dict):
            raise PatchError(f"json: cannot unmarshal {_json_kind(op)} into Go value of type "
                             "jsonpatch.Operation", 400)
    return [op or {} for op in patch]


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "null"


class _State:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.copied = 0


class _Failure(Exception):
    """A Go error chain; ``str`` is the wrapped message (``outer: inner``)."""


class _Container:
    """A parent object or array and the key (unescaped token) of the target in it."""

    def __init__(self, value: dict[str, Any] | list[Any], key: str) -> None:
        self.value = value
        self.key = key

    def index(self, size: int) -> int:
        if not _INT.fullmatch(self.key):
            raise _Failure(f'strconv.Atoi: parsing "{self.key}": invalid syntax')
        idx = int(self.key)
        if idx < 0:
            if idx < -size:
                raise _Failure(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
            idx += size
        return idx

    def get(self) -> Any:
        if isinstance(self.value, dict):
            return self.value.get(self.key)
        idx = self.index(len(self.value))
        if idx >= len(self.value):
            raise _Failure(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
        return self.value[idx]

    def add(self, item: Any) -> None:
        if isinstance(self.value, dict):
            self.value[self.key] = item
            return
        if self.key == "-":
            self.value.append(item)
            return
        try:
            idx = self.index(len(self.value) + 1)
        except _Failure as e:
            if "invalid syntax" in str(e):
                raise _Failure(f"value was not a proper array index: '{self.key}': {e}") from e
            raise
        if idx > len(self.value):
            raise _Failure(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
        self.value.insert(idx, item)

    def set(self, item: Any) -> None:
        if isinstance(self.value, dict):
            self.value[self.key] = item
        else:
            self.value[self.index(len(self.value))] = item

    def remove(self) -> None:
        if isinstance(self.value, dict):
            if self.key not in self.value:
                raise _Failure(f"Unable to remove nonexistent key: {self.key}: {_MISSING_VALUE}")
            del self.value[self.key]
            return
        idx = self.index(len(self.value))
        if idx >= len(self.value):
            raise _Failure(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
        del self.value[idx]


def _find(root: Any, path: str) -> _Container | None:
    """evanphx's findObject: the container of the last token, or None."""
    parts = path.split("/")
    if len(parts) < 2:
        return None
    node = root
    for part in parts[1:-1]:
        if not isinstance(node, (dict, list)):
            return None
        try:
            node = _Container(node, unescape(part)).get()
        except _Failure:
            return None
        if node is None:
            return None
    if not isinstance(node, (dict, list)):
        return None
    return _Container(node, unescape(parts[-1]))


def _field(op: dict[str, Any], name: str) -> str:
    value = op.get(name)
    if value is None:
        what = "operation missing path field" if name == "path" else "operation, missing from field"
        raise _Failure(f"{what}: {_MISSING_VALUE}")
    if not isinstance(value, str):
        raise _Failure(f"json: cannot unmarshal {_json_kind(value)} into Go value of type string")
    return value


def _value(op: dict[str, Any]) -> Any:
    return copy.deepcopy(op.get("value"))


def _op_add(state: _State, op: dict[str, Any]) -> None:
    try:
        path = _field(op, "path")
    except _Failure:
        raise PatchError(f"add operation failed to decode path: {_MISSING_VALUE}") from None
    con = _find(state.root, path)
    if con is None:
        raise PatchError(f'add operation does not apply: doc is missing path: "{path}": {_MISSING_VALUE}')
    try:
        con.add(_value(op))
    except _Failure as e:
        raise PatchError(f"error in add for path: '{path}': {e}") from None


def _op_remove(state: _State, op: dict[str, Any]) -> None:
    try:
        path = _field(op, "path")
    except _Failure:
        raise PatchError(f"remove operation failed to decode path: {_MISSING_VALUE}") from None
    con = _find(state.root, path)
    if con is None:
        raise PatchError(f'remove operation does not apply: doc is missing path: "{path}": {_MISSING_VALUE}')
    try:
        con.remove()
    except _Failure as e:
        raise PatchError(f"error in remove for path: '{path}': {e}") from None


def _op_replace(state: _State, op: dict[str, Any]) -> None:
    try:
        path = _field(op, "path")
    except _Failure as e:
        raise PatchError(f"replace operation failed to decode path: {e}") from None
    if path == "":
        # v4 replaces the whole document only with an object or array; anything
        # else is silently ignored (its error wraps a nil error).
        value = _value(op)
        if isinstance(value, (dict, list)):
            state.root = value
        return
    con = _find(state.root, path)
    if con is None:
        raise PatchError(f"replace operation does not apply: doc is missing path: {path}: {_MISSING_VALUE}")
    try:
        con.get()  # an object's missing key is not an error in v4: replace adds it
    except _Failure:
        raise PatchError(f"replace operation does not apply: doc is missing key: {path}: "
                         f"{_MISSING_VALUE}") from None
    con.set(_value(op))


def _op_move(state: _State, op: dict[str, Any]) -> None:
    try:
        source = _field(op, "from")
    except _Failure as e:
        raise PatchError(f"move operation failed to decode from: {e}") from None
    con = _find(state.root, source)
    if con is None:
        raise PatchError(f"move operation does not apply: doc is missing from path: {source}: {_MISSING_VALUE}")
    try:
        value = con.get()
        con.remove()
    except _Failure as e:
        raise PatchError(f"error in move for path: '{con.key}': {e}") from None
    try:
        path = _field(op, "path")
    except _Failure as e:
        raise PatchError(f"move operation failed to decode path: {e}") from None
    dest = _find(state.root, path)
    if dest is None:
        raise PatchError(f"move operation does not apply: doc is missing destination path: {path}: "
                         f"{_MISSING_VALUE}")
    try:
        dest.add(value)
    except _Failure as e:
        raise PatchError(f"error in move for path: '{path}': {e}") from None


def _op_test(state: _State, op: dict[str, Any]) -> None:
    try:
        path = _field(op, "path")
    except _Failure as e:
        raise PatchError(f"test operation failed to decode path: {e}") from None
    if path == "":
        if not _same(state.root, op.get("value")):
            raise PatchError(f"testing value {path} failed: {_TEST_FAILED}")
        return
    con = _find(state.root, path)
    if con is None:
        raise PatchError(f"test operation does not apply: is missing path: {path}: {_MISSING_VALUE}")
    try:
        value = con.get()
    except _Failure as e:
        raise PatchError(f"error in test for path: '{path}': {e}") from None
    if value is None:
        if op.get("value") is None:
            return
    elif "value" in op and _same(value, op["value"]):
        return
    raise PatchError(f"testing value {path} failed: {_TEST_FAILED}")


def _op_copy(state: _State, op: dict[str, Any]) -> None:
    try:
        source = _field(op, "from")
    except _Failure as e:
        raise PatchError(f"copy operation failed to decode from: {e}") from None
    con = _find(state.root, source)
    if con is None:
        raise PatchError(f"copy operation does not apply: doc is missing from path: {source}: {_MISSING_VALUE}")
    try:
        value = con.get()
    except _Failure as e:
        raise PatchError(f"error in copy for from: '{source}': {e}") from None
    try:
        path = _field(op, "path")
    except _Failure:
        raise PatchError(f"copy operation failed to decode path: {_MISSING_VALUE}") from None
    dest = _find(state.root, path)
    if dest is None:
        raise PatchError(f"copy operation does not apply: doc is missing destination path: {path}: "
                         f"{_MISSING_VALUE}")
    # Guard against exponential growth: every copy's serialized size counts.
    state.copied += len(orjson.dumps(value)) if value is not None else 0
    if state.copied > MAX_COPY_BYTES:
        raise PatchError(f"Unable to complete the copy, the accumulated size increase of copy is "
                         f"{state.copied}, exceeding the limit {MAX_COPY_BYTES}")
    try:
        dest.add(copy.deepcopy(value))
    except _Failure as e:
        raise PatchError(f"error while adding value during copy: {e}") from None


def _same(a: Any, b: Any) -> bool:
    """evanphx's lazyNode.equal: structural, numbers compared as written (1 != 1.0)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


_HANDLERS = {"add": _op_add, "remove": _op_remove, "replace": _op_replace,
             "move": _op_move, "test": _op_test, "copy": _op_copy}
