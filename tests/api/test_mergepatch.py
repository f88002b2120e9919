"""JSON merge patch (RFC 7386) as ``kubectl patch --type=merge`` and ``kubectl label`` use it."""

from __future__ import annotations

import pytest

from kybernetes.api import mergepatch
from kybernetes.api.patching_errors import PatchError


def service() -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                 "type": "ClusterIP"},
    }


def test_label_and_unlabel_as_kubectl_does():
    result = mergepatch.apply(service(), {"metadata": {"labels": {"env": "prod", "tier": None}}})
    assert result["metadata"]["labels"] == {"app": "web", "env": "prod"}


def test_lists_are_replaced_whole():
    result = mergepatch.apply(service(), {"spec": {"ports": [{"port": 443}]}})
    assert result["spec"]["ports"] == [{"port": 443}]


def test_rfc7386_appendix_a_examples():
    cases = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for doc, patch, expected in cases:
        assert mergepatch.apply(doc, patch) == expected


def test_nulls_inside_arrays_are_kept():
    assert mergepatch.apply({}, {"a": [None, {"b": None, "c": 1}]}) == {"a": [None, {"c": 1}]}


def test_inputs_are_not_modified():
    doc, patch = service(), {"spec": {"selector": {"app": "api"}}}
    mergepatch.apply(doc, patch)
    assert doc == service() and patch == {"spec": {"selector": {"app": "api"}}}


@pytest.mark.parametrize("patch", [None, "x", 3, True])
def test_a_null_or_scalar_patch_is_a_bad_request(patch):
    with pytest.raises(PatchError) as e:
        mergepatch.apply(service(), patch)
    assert (e.value.code, e.value.message) == (400, "Invalid JSON Patch")


def test_create_two_way():
    original = service()
    modified = service()
    modified["metadata"]["labels"] = {"app": "web", "env": "prod"}
    modified["spec"]["ports"][0]["port"] = 8080
    patch = mergepatch.create(original, modified)
    assert patch == {"metadata": {"labels": {"env": "prod", "tier": None}},
                     "spec": {"ports": [{"port": 8080, "protocol": "TCP", "targetPort": 8080}]}}
    assert mergepatch.apply(original, patch) == modified
    assert mergepatch.create(original, service()) == {}
