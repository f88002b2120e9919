"""The informer cache: keys, indexes, replace."""

import pytest

from kybernetes.client import indexer


def pod(name, ns="default", node=None, rv="1"):
    obj = {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}, "spec": {}}
    if node:
        obj["spec"]["nodeName"] = node
    return obj


def by_node(obj):
    node = obj["spec"].get("nodeName")
    return [node] if node else []


def names(objs):
    return sorted(o["metadata"]["name"] for o in objs)


def test_keys_and_split():
    assert indexer.key_of(pod("a", "ns")) == "ns/a"
    assert indexer.key_of({"metadata": {"name": "node-1"}}) == "node-1"
    assert indexer.split_key("ns/a") == ("ns", "a")
    assert indexer.split_key("node-1") == ("", "node-1")
    with pytest.raises(ValueError):
        indexer.split_key("a/b/c")


def test_add_update_delete_get_list():
    store = indexer.Indexer()
    a = pod("a")
    assert store.add(a) is None
    assert store.get("default/a") is a  # the stored dict itself, not a copy
    a2 = pod("a", rv="2")
    assert store.update(a2) is a
    assert store.get_by("default", "a") is a2
    store.add(pod("b", "other"))
    assert sorted(store.keys()) == ["default/a", "other/b"]
    assert len(store) == 2 and "other/b" in store
    assert store.delete("other/b")["metadata"]["name"] == "b"
    assert store.delete(pod("missing")) is None
    assert names(store.list()) == ["a"]


def test_namespace_index_is_built_in_and_follows_updates():
    store = indexer.Indexer()
    store.add(pod("a", "ns1"))
    store.add(pod("b", "ns1"))
    store.add(pod("c", "ns2"))
    assert names(store.by_index("namespace", "ns1")) == ["a", "b"]
    store.delete("ns1/a")
    assert names(store.by_index("namespace", "ns1")) == ["b"]
    store.delete("ns1/b")
    assert store.by_index("namespace", "ns1") == []
    assert store.index_values("namespace") == ["ns2"]


def test_custom_index_moves_object_between_values():
    store = indexer.Indexer({"byNode": by_node})
    store.add(pod("a", node="n1"))
    store.add(pod("b", node="n1"))
    store.add(pod("c"))
    assert names(store.by_index("byNode", "n1")) == ["a", "b"]
    store.update(pod("a", node="n2"))
    assert names(store.by_index("byNode", "n1")) == ["b"]
    assert names(store.by_index("byNode", "n2")) == ["a"]
    assert sorted(store.index_keys("byNode", "n2")) == ["default/a"]
    with pytest.raises(KeyError):
        store.by_index("nope", "x")


def test_add_indexers_later_indexes_existing_objects_and_rejects_conflicts():
    store = indexer.Indexer()
    store.add(pod("a", node="n1"))
    store.add_indexers({"byNode": by_node})
    assert names(store.by_index("byNode", "n1")) == ["a"]
    with pytest.raises(ValueError):
        store.add_indexers({"byNode": by_node})


def test_replace_rebuilds_everything():
    store = indexer.Indexer({"byNode": by_node})
    store.add(pod("old", node="n1"))
    store.replace([pod("x", node="n2"), pod("y", "ns2")], "42")
    assert store.resource_version == "42"
    assert names(store.list()) == ["x", "y"]
    assert store.by_index("byNode", "n1") == []
    assert names(store.by_index("byNode", "n2")) == ["x"]
    assert names(store.by_index("namespace", "ns2")) == ["y"]
