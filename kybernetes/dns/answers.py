"""Packed answers of the cluster zone, kept per (name, type) until the data
they were computed from changes.

Each entry carries the dependency keys of ``records`` (the Service a name
belongs to, the address a reverse name stands for); a change drops only the
entries that depend on what changed, so a busy cluster does not flush answers
for every endpoint update. Namespace changes, and a full table, drop all.
"""

from __future__ import annotations

from kybernetes.dns import wire

MAX_ENTRIES = 100_000


class PackedAnswers:
    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self.entries: dict[bytes, wire.Template] = {}
        self._by_dep: dict[str, set[bytes]] = {}

    def get(self, key: bytes) -> wire.Template | None:
        return self.entries.get(key)

    def put(self, key: bytes, template: wire.Template, deps: set[str]) -> None:
        if len(self.entries) >= self.max_entries:
            self.clear()
        self.entries[key] = template
        for dep in deps:
            self._by_dep.setdefault(dep, set()).add(key)

    def invalidate(self, deps: set[str] | None) -> None:
        """Drop the answers depending on any of ``deps`` (all of them for None)."""
        if deps is None:
            self.clear()
            return
        entries = self.entries
        for dep in deps:
            for key in self._by_dep.pop(dep, ()):
                entries.pop(key, None)

    def clear(self) -> None:
        self.entries.clear()
        self._by_dep.clear()

    def __len__(self) -> int:
        return len(self.entries)
