"""Request semantics checked against the datastore underneath (real SQLite).

What an end-to-end test can only infer, these see directly: a failed or
dry-run write leaves the stored bytes and the revision untouched, a
compacted page answers 410 with a token to go on, a generated name that
collides is generated again.
"""

from __future__ import annotations

import pytest

from kybernetes.api import names
from kybernetes.apiserver import allocation
from tests.apiserver import harness

NS = "/api/v1/namespaces/default"


@pytest.fixture
async def api(tmp_path):
    async with harness.running(str(tmp_path)) as api:
        yield api


async def stored(api, key: str):
    kv = await api.store.get(key)
    return (kv.value, kv.mod_revision) if kv is not None else None


async def test_failed_writes_leave_the_stored_object_untouched(api):
    code, cm = await api.call("POST", f"{NS}/configmaps", {"metadata": {"name": "cm", "labels": {"a": "b"}},
                                                           "data": {"k": "v"}})
    assert code == 201
    key = "/registry/configmaps/default/cm"
    before = await stored(api, key)
    revision = await api.store.current_revision()
    stale = {**cm, "data": {"k": "stale"}}
    stale["metadata"] = {**cm["metadata"], "resourceVersion": "1"}
    failures = [
        ("PUT", f"{NS}/configmaps/cm", stale, "application/json", 409),
        ("PUT", f"{NS}/configmaps/cm", {**cm, "metadata": {**cm["metadata"], "labels": {"bad key!": "x"}}},
         "application/json", 422),
        ("PATCH", f"{NS}/configmaps/cm", [{"op": "test", "path": "/data/k", "value": "nope"}],
         "application/json-patch+json", 422),
        ("PATCH", f"{NS}/configmaps/cm", {"metadata": {"resourceVersion": "1"}, "data": {"k": "w"}},
         "application/merge-patch+json", 409),
        ("PATCH", f"{NS}/configmaps/cm", {"data": {"k": 5}}, "application/merge-patch+json", 400),
        ("PUT", f"{NS}/configmaps/cm", {**cm, "metadata": {**cm["metadata"], "uid": "other"}},
         "application/json", 409),
        ("DELETE", f"{NS}/configmaps/cm", {"preconditions": {"uid": "other"}}, "application/json", 409),
        ("POST", f"{NS}/configmaps", {"metadata": {"name": "cm"}}, "application/json", 409),
    ]
    for method, path, body, content_type, want in failures:
        code, answer = await api.call(method, path, body, content_type=content_type)
        assert code == want, (method, body, answer)
        assert await stored(api, key) == before
    assert await api.store.current_revision() == revision


async def test_dry_run_writes_nothing_and_allocates_nothing(api):
    revision = await api.store.current_revision()
    dry = {"dryRun": "All"}
    svc = {"metadata": {"name": "web"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.7.7",
                    "ports": [{"port": 80, "nodePort": 30777}]}}
    code, body = await api.call("POST", f"{NS}/services", svc, params=dry)
    assert code == 201, body
    assert body["spec"]["clusterIP"] == "10.96.7.7" and body["metadata"]["uid"]
    code, body = await api.call("POST", f"{NS}/services", {"metadata": {"name": "auto"},
                                                           "spec": {"ports": [{"port": 80}]}}, params=dry)
    assert code == 201 and body["spec"]["clusterIP"]
    assert await api.store.current_revision() == revision
    assert await api.store.get(allocation.IP_PREFIX + "10.96.7.7") is None
    assert await api.store.get(allocation.PORT_PREFIX + "30777") is None
    assert (await api.call("GET", f"{NS}/services/web"))[0] == 404

    code, real = await api.call("POST", f"{NS}/services", svc)
    assert code == 201
    key = "/registry/services/default/web"
    before = await stored(api, key)
    revision = await api.store.current_revision()
    changed = {**real, "spec": {**real["spec"], "type": "ClusterIP"}}
    for method, body, content_type in (
            ("PUT", changed, "application/json"),
            ("PATCH", {"metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json"),
            ("PATCH", {"metadata": {"labels": {"x": "y"}}}, "application/strategic-merge-patch+json"),
            ("PATCH", [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}],
             "application/json-patch+json"),
            ("DELETE", None, "application/json")):
        code, answer = await api.call(method, f"{NS}/services/web", body, content_type=content_type, params=dry)
        assert code == 200, (method, answer)
        assert await stored(api, key) == before
    assert await api.store.current_revision() == revision
    # The node port is still held by the real Service.
    assert await api.store.get(allocation.PORT_PREFIX + "30777") is not None


async def test_generated_name_collision_is_generated_again(api, monkeypatch):
    chosen = iter(["gen-aaaaa", "gen-aaaaa", "gen-bbbbb"])
    monkeypatch.setattr(names, "generate_name", lambda base, rand=None: next(chosen))
    code, first = await api.call("POST", f"{NS}/configmaps", {"metadata": {"generateName": "gen-"}})
    assert code == 201 and first["metadata"]["name"] == "gen-aaaaa"
    code, second = await api.call("POST", f"{NS}/configmaps", {"metadata": {"generateName": "gen-"}})
    assert code == 201 and second["metadata"]["name"] == "gen-bbbbb"


async def test_compacted_page_is_410_with_a_token_to_go_on(api):
    for i in range(5):
        assert (await api.call("POST", f"{NS}/configmaps", {"metadata": {"name": f"cm-{i}"}}))[0] == 201
    code, page = await api.call("GET", f"{NS}/configmaps", params={"limit": "2"})
    assert code == 200 and len(page["items"]) == 2
    at = page["metadata"]["resourceVersion"]
    await api.call("POST", f"{NS}/configmaps", {"metadata": {"name": "cm-9"}})
    await api.store.compact(await api.store.current_revision())

    code, status = await api.call("GET", f"{NS}/configmaps",
                                  params={"limit": "2", "continue": page["metadata"]["continue"]})
    assert code == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith("The provided continue parameter is too old to display a "
                                        "consistent list result.")
    token = status["metadata"]["continue"]
    # The token the 410 carries goes on from the same key at the latest revision.
    code, rest = await api.call("GET", f"{NS}/configmaps", params={"limit": "10", "continue": token})
    assert code == 200, rest
    assert [o["metadata"]["name"] for o in rest["items"]] == ["cm-2", "cm-3", "cm-4", "cm-9"]
    assert int(rest["metadata"]["resourceVersion"]) > int(at)

    code, status = await api.call("GET", f"{NS}/configmaps",
                                  params={"resourceVersion": at, "resourceVersionMatch": "Exact"})
    assert code == 410
    assert status["message"] == "The resourceVersion for the provided list is too old."


async def test_service_addresses_come_back_when_a_service_no_longer_needs_them(api):
    svc = {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30100}]}}
    code, body = await api.call("POST", f"{NS}/services", svc)
    assert code == 201
    code, body = await api.call("PATCH", f"{NS}/services/np", {"spec": {"type": "ClusterIP"}},
                                content_type="application/merge-patch+json")
    assert code == 200, body
    assert "nodePort" not in body["spec"]["ports"][0]
    assert await api.store.get(allocation.PORT_PREFIX + "30100") is None

    # A Service held by a finalizer gives its address back when it finally goes.
    code, held = await api.call("POST", f"{NS}/services", {
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
        "spec": {"clusterIP": "10.96.9.9", "ports": [{"port": 80}]}})
    assert code == 201
    assert (await api.call("DELETE", f"{NS}/services/held"))[0] == 200
    assert await api.store.get(allocation.IP_PREFIX + "10.96.9.9") is not None
    code, body = await api.call("PATCH", f"{NS}/services/held", {"metadata": {"finalizers": None}},
                                content_type="application/merge-patch+json")
    assert code == 200, body
    assert (await api.call("GET", f"{NS}/services/held"))[0] == 404
    assert await api.store.get(allocation.IP_PREFIX + "10.96.9.9") is None
