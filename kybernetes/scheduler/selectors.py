"""Compiled forms of the pod fields that select nodes, pods and taints.

- ``NodeSelectorTerm`` / ``NodeSelector``: component-helpers' nodeaffinity:
  a term ANDs its matchExpressions (In, NotIn, Exists, DoesNotExist, Gt, Lt,
  built with labels.NewRequirement, so an invalid requirement makes the term
  match nothing) and its matchFields (only ``metadata.name``); an empty term
  matches nothing; a selector ORs its terms.
- ``tolerates``: v1 helper ToleratesTaint.
- ``AffinityTerm``: framework.AffinityTerm: namespaces (the pod's own when
  neither namespaces nor namespaceSelector is given), namespace selector,
  label selector (with matchLabelKeys / mismatchLabelKeys merged in, as 1.32
  does by default) and topology key.
- ``SpreadConstraint``: one topologySpreadConstraint, with its selector
  (matchLabelKeys merged) and node inclusion policies.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from kybernetes.api import labels

_OPS = {"In": labels.IN, "NotIn": labels.NOT_IN, "Exists": labels.EXISTS,
        "DoesNotExist": labels.DOES_NOT_EXIST, "Gt": labels.GREATER_THAN, "Lt": labels.LESS_THAN}

NamespaceLabels = Callable[[str], Mapping[str, str] | None]


class NodeSelectorTerm:
    __slots__ = ("selector", "names", "not_names", "valid")

    def __init__(self, term: Mapping[str, Any]):
        self.valid = True
        self.names: frozenset[str] | None = None
        self.not_names: frozenset[str] = frozenset()
        exprs = term.get("matchExpressions") or []
        fields = term.get("matchFields") or []
        reqs = []
        try:
            for e in exprs:
                op = _OPS.get(e.get("operator", ""))
                if op is None:
                    raise labels.SelectorError(f"{e.get('operator')!r} is not a valid operator")
                reqs.append(labels.new_requirement(e.get("key", ""), op, e.get("values") or ()))
            for f in fields:
                if f.get("key") != "metadata.name":
                    raise labels.SelectorError(f"not a valid field selector key: {f.get('key')}")
                values = frozenset(f.get("values") or ())
                if f.get("operator") == "In" and len(values) == 1:
                    self.names = values if self.names is None else self.names & values
                elif f.get("operator") == "NotIn" and values:
                    self.not_names |= values
                else:
                    raise labels.SelectorError("invalid matchFields requirement")
        except labels.SelectorError:
            self.valid = False
        if not exprs and not fields:
            self.valid = False
        self.selector = labels.Selector(reqs)

    def matches(self, node_name: str, node_labels: Mapping[str, str]) -> bool:
        if not self.valid:
            return False
        if self.names is not None and node_name not in self.names:
            return False
        if node_name in self.not_names:
            return False
        return self.selector.matches(node_labels)


class NodeSelector:
    __slots__ = ("terms",)

    def __init__(self, selector: Mapping[str, Any]):
        self.terms = [NodeSelectorTerm(t) for t in selector.get("nodeSelectorTerms") or ()]

    def matches(self, node_name: str, node_labels: Mapping[str, str]) -> bool:
        for t in self.terms:
            if t.matches(node_name, node_labels):
                return True
        return False


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(tolerations: list, taint: Mapping[str, Any]) -> bool:
    for t in tolerations:
        if tolerates(t, taint):
            return True
    return False


def _merge_label_keys(selector: labels.Selector, pod_labels: Mapping[str, str],
                      match_keys: list[str] | None, mismatch_keys: list[str] | None = None
                      ) -> labels.Selector:
    extra = []
    for key in match_keys or ():
        if key in pod_labels:
            extra.append(labels.Requirement(key, labels.IN, (pod_labels[key],)))
    for key in mismatch_keys or ():
        if key in pod_labels:
            extra.append(labels.Requirement(key, labels.NOT_IN, (pod_labels[key],)))
    return selector.add(*extra) if extra else selector


def _selector(raw: Mapping[str, Any] | None) -> labels.Selector:
    try:
        return labels.from_label_selector(raw)
    except labels.SelectorError:
        return labels.nothing()


class AffinityTerm:
    __slots__ = ("namespaces", "namespace_selector", "selector", "topology_key", "weight")

    def __init__(self, namespace: str, pod_labels: Mapping[str, str], term: Mapping[str, Any],
                 weight: int = 0):
        names = term.get("namespaces") or []
        ns_sel = term.get("namespaceSelector")
        self.namespaces = frozenset(names) if names or ns_sel is not None else frozenset([namespace])
        self.namespace_selector = _selector(ns_sel) if ns_sel is not None else None
        self.selector = _merge_label_keys(_selector(term.get("labelSelector")), pod_labels,
                                          term.get("matchLabelKeys"), term.get("mismatchLabelKeys"))
        self.topology_key = term.get("topologyKey") or ""
        self.weight = weight

    def matches(self, namespace: str, pod_labels: Mapping[str, str],
                namespace_labels: NamespaceLabels) -> bool:
        """Does a pod in ``namespace`` with ``pod_labels`` fall under this term?"""
        if namespace not in self.namespaces:
            sel = self.namespace_selector
            if sel is None:
                return False
            if not sel.empty:
                if sel.matches_nothing or not sel.matches(namespace_labels(namespace) or {}):
                    return False
        return self.selector.matches(pod_labels)


def affinity_terms(namespace: str, terms: list | None, pod_labels: Mapping[str, str] | None = None
                   ) -> list[AffinityTerm]:
    return [AffinityTerm(namespace, pod_labels or {}, t) for t in terms or ()]


def weighted_affinity_terms(namespace: str, terms: list | None,
                            pod_labels: Mapping[str, str] | None = None) -> list[AffinityTerm]:
    return [AffinityTerm(namespace, pod_labels or {}, t.get("podAffinityTerm") or {},
                         t.get("weight") or 0) for t in terms or ()]


class SpreadConstraint:
    __slots__ = ("max_skew", "topology_key", "hard", "selector", "min_domains",
                 "honor_affinity", "honor_taints", "self_match")

    def __init__(self, c: Mapping[str, Any], pod_labels: Mapping[str, str]):
        self.max_skew = c.get("maxSkew") or 1
        self.topology_key = c.get("topologyKey") or ""
        self.hard = c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
        self.selector = _merge_label_keys(_selector(c.get("labelSelector")), pod_labels,
                                          c.get("matchLabelKeys"))
        self.min_domains = c.get("minDomains") or 1
        self.honor_affinity = (c.get("nodeAffinityPolicy") or "Honor") == "Honor"
        self.honor_taints = (c.get("nodeTaintsPolicy") or "Ignore") == "Honor"
        self.self_match = 1 if self.selector.matches(pod_labels) else 0
