"""ControllerRevisions: the template history of DaemonSets and StatefulSets.

As ``pkg/controller/history`` and the DaemonSet's ``update.go``: a revision's
``data`` is a strategic merge patch that restores the owner's pod template
(``{"spec": {"template": {..., "$patch": "replace"}}}``), which is what
``kubectl rollout history`` prints and ``kubectl rollout undo`` applies.
Names are ``<owner>-<hash>``; hashes are FNV-32 sums made safe with
apimachinery's ``rand.SafeEncodeString``. A name collision with a revision
holding other data is resolved by a collision count mixed into the hash.

Hashes are computed over canonical JSON (sorted keys), so they are stable
here, though not bit-identical to Go's (which hashes Go structs).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.api import labels, registry, status
from kybernetes.client import indexer, rest
from kybernetes.controllers import podcontrol

CONTROLLER_REVISIONS = registry.lookup("apps", "v1", "controllerrevisions")
HASH_LABEL = "controller.kubernetes.io/hash"  # history.ControllerRevisionHashLabel
REVISION_LABEL = "controller-revision-hash"   # apps.ControllerRevisionHashLabelKey

_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193

Obj = dict[str, Any]


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString: each byte mapped into an alphabet without vowels."""
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in s.encode())


def fnv32(data: bytes, *, variant_a: bool = False) -> int:
    h = _FNV_OFFSET
    for b in data:
        if variant_a:
            h = ((h ^ b) * _FNV_PRIME) & 0xFFFFFFFF
        else:
            h = ((h * _FNV_PRIME) & 0xFFFFFFFF) ^ b
    return h


def canonical(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def template_hash(template: Obj, collision_count: int | None) -> str:
    """controller.ComputeHash: FNV-32a over the template (canonical JSON here, where
    upstream prints the Go struct), then the collision count as 8 little-endian bytes.
    Deployments hash their pod templates with it too (``deployment_util.compute_hash``)."""
    data = canonical(template)
    if collision_count is not None:
        data += (int(collision_count) & 0xFFFFFFFF).to_bytes(4, "little") + b"\0\0\0\0"
    return safe_encode(str(fnv32(data, variant_a=True)))


def revision_hash(data: Obj, probe: int | None) -> str:
    """history.HashControllerRevision (FNV-32 over the data, then the probe)."""
    raw = canonical(data)
    if probe is not None:
        raw += str(int(probe)).encode()
    return safe_encode(str(fnv32(raw)))


def revision_name(prefix: str, hash_: str) -> str:
    return f"{prefix[:223]}-{hash_}"


def template_patch(owner: Obj) -> Obj:
    """getPatch: the patch that puts back the owner's current pod template."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def matches(owner: Obj, revision: Obj) -> bool:
    return (revision.get("data") or {}) == template_patch(owner)


def apply_revision(owner: Obj, revision: Obj) -> Obj:
    """ApplyRevision: a copy of ``owner`` with the revision's pod template."""
    out = copy.deepcopy(owner)
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    out.setdefault("spec", {})["template"] = template
    return out


def sort_key(revision: Obj) -> tuple:
    m = podcontrol.meta(revision)
    return (revision.get("revision", 0), m.get("creationTimestamp") or "", m.get("name", ""))


def next_revision(revisions: list[Obj]) -> int:
    return max((r.get("revision", 0) for r in revisions), default=0) + 1


async def claimed(client: rest.Client, store: indexer.Indexer, owner: Obj, ref: Obj,
                  selector: labels.Selector) -> list[Obj]:
    """The revisions ``owner`` controls, adopting orphans that match its selector, sorted."""
    ns = podcontrol.meta(owner).get("namespace", "")
    manager = podcontrol.ControllerRefManager(client, CONTROLLER_REVISIONS, owner, selector,
                                              ref["apiVersion"], ref["kind"])
    revisions = await manager.claim(store.by_index(indexer.NAMESPACE_INDEX, ns))
    return sorted(revisions, key=sort_key)


def new_revision(owner: Obj, ref: Obj, revision: int, hash_: str, hash_label: str,
                 hash_value: str) -> Obj:
    m = podcontrol.meta(owner)
    tlabels = dict((((owner.get("spec") or {}).get("template") or {}).get("metadata") or {})
                   .get("labels") or {})
    tlabels[hash_label] = hash_value
    rev_meta: Obj = {"name": revision_name(m["name"], hash_), "namespace": m.get("namespace"),
                     "labels": tlabels, "ownerReferences": [dict(ref)]}
    if m.get("annotations"):
        rev_meta["annotations"] = dict(m["annotations"])
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": rev_meta,
            "data": template_patch(owner), "revision": revision}


async def create_with_probe(client: rest.Client, owner: Obj, ref: Obj, revision: int,
                            collision_count: int) -> tuple[Obj, int]:
    """history.CreateControllerRevision: create the revision for ``owner``'s
    template, bumping the collision count past names held by other data.
    Returns the revision and the collision count used."""
    data = template_patch(owner)
    while True:
        hash_ = revision_hash(data, collision_count)
        rev = new_revision(owner, ref, revision, hash_, HASH_LABEL, hash_)
        try:
            return await client.create(CONTROLLER_REVISIONS, rev), collision_count
        except status.StatusError as e:
            if e.code != 409 or e.reason != "AlreadyExists":
                raise
        existing = await client.get(CONTROLLER_REVISIONS, rev["metadata"]["name"],
                                    podcontrol.meta(owner).get("namespace"))
        if (existing.get("data") or {}) == data:
            return existing, collision_count
        collision_count += 1


async def set_revision_number(client: rest.Client, revision: Obj, number: int) -> Obj:
    """history.UpdateControllerRevision (a copy is written; the cached object is untouched)."""
    if revision.get("revision") == number:
        return revision
    updated = copy.deepcopy(revision)
    updated["revision"] = number
    return await client.update(CONTROLLER_REVISIONS, updated)


async def delete(client: rest.Client, revision: Obj) -> None:
    m = podcontrol.meta(revision)
    try:
        await client.delete(CONTROLLER_REVISIONS, m["name"], m.get("namespace"))
    except status.StatusError as e:
        if e.code != 404:
            raise
