"""The REST client against a real API server: CRUD, patch types, errors, watch."""

import asyncio
import ssl

import pytest

from kybernetes.api import registry, status
from kybernetes.client import kubeconfig, rest

CM = registry.lookup("", "v1", "configmaps")
NODES = registry.lookup("", "v1", "nodes")


def configmap(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_paths():
    deploy = registry.lookup("apps", "v1", "deployments")
    assert rest.path(CM) == "/api/v1/configmaps"
    assert rest.path(CM, "ns") == "/api/v1/namespaces/ns/configmaps"
    assert rest.path(deploy, "ns", "web", "scale") == "/apis/apps/v1/namespaces/ns/deployments/web/scale"
    assert rest.path(NODES, "ignored", "n1") == "/api/v1/nodes/n1"


def test_status_error_from_non_status_body():
    e = rest.status_error(503, b"upstream down")
    assert (e.code, e.reason) == (503, "ServiceUnavailable")
    assert e.status["details"]["causes"][0]["message"] == "upstream down"
    e = rest.status_error(418, b"")
    assert e.code == 418 and "418" in e.message


async def test_crud_round_trip(client, namespace):
    created = await client.create(CM, {"metadata": {"name": "a"}, "data": {"k": "v"}}, namespace)
    assert created["kind"] == "ConfigMap"  # TypeMeta filled in by the client
    assert created["metadata"]["namespace"] == namespace
    got = await client.get(CM, "a", namespace)
    assert got["data"] == {"k": "v"}
    got["data"]["k"] = "v2"
    updated = await client.update(CM, got)
    assert updated["data"] == {"k": "v2"}
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])

    listed = await client.list(CM, namespace)
    assert listed["kind"] == "ConfigMapList"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    assert listed["metadata"]["resourceVersion"]

    deleted = await client.delete(CM, "a", namespace)
    assert deleted["kind"] in ("Status", "ConfigMap")
    with pytest.raises(status.StatusError) as e:
        await client.get(CM, "a", namespace)
    assert (e.value.code, e.value.reason) == (404, "NotFound")
    assert e.value.message == 'configmaps "a" not found'


async def test_dry_run_create_persists_nothing(client, namespace):
    await client.create(CM, configmap("dry"), namespace, dry_run=True)
    with pytest.raises(status.StatusError):
        await client.get(CM, "dry", namespace)


async def test_update_with_stale_resource_version_conflicts(client, namespace):
    first = await client.create(CM, configmap("c", k="1"), namespace)
    await client.update(CM, {**first, "data": {"k": "2"}})
    with pytest.raises(status.StatusError) as e:
        await client.update(CM, {**first, "data": {"k": "3"}})
    assert (e.value.code, e.value.reason) == (409, "Conflict")


async def test_create_existing_is_already_exists(client, namespace):
    await client.create(CM, configmap("dup"), namespace)
    with pytest.raises(status.StatusError) as e:
        await client.create(CM, configmap("dup"), namespace)
    assert (e.value.code, e.value.reason) == (409, "AlreadyExists")


async def test_patch_types(client, namespace):
    await client.create(CM, configmap("p", a="1"), namespace)
    got = await client.patch(CM, "p", {"data": {"b": "2"}}, namespace=namespace)
    assert got["data"] == {"a": "1", "b": "2"}
    got = await client.patch(CM, "p", {"data": {"c": "3"}}, namespace=namespace, patch_type="strategic")
    assert got["data"] == {"a": "1", "b": "2", "c": "3"}
    got = await client.patch(CM, "p", [{"op": "remove", "path": "/data/a"}], namespace=namespace,
                             patch_type="json")
    assert got["data"] == {"b": "2", "c": "3"}
    applied = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "p", "namespace": namespace}, "data": {"d": "4"}}
    got = await client.patch(CM, "p", applied, namespace=namespace, patch_type="apply",
                             field_manager="client-test", force=True)
    assert got["data"]["d"] == "4"
    assert any(m["manager"] == "client-test" and m["operation"] == "Apply"
               for m in got["metadata"]["managedFields"])


async def test_delete_precondition_on_uid(client, namespace):
    await client.create(CM, configmap("pre"), namespace)
    with pytest.raises(status.StatusError) as e:
        await client.delete(CM, "pre", namespace, preconditions={"uid": "not-the-uid"})
    assert e.value.code == 409
    await client.get(CM, "pre", namespace)


async def test_delete_collection_by_label(client, namespace):
    for name, team in (("x", "a"), ("y", "a"), ("z", "b")):
        await client.create(CM, {"metadata": {"name": name, "labels": {"team": team}}}, namespace)
    await client.delete_collection(CM, namespace, label_selector="team=a")
    left = await client.list(CM, namespace)
    assert [i["metadata"]["name"] for i in left["items"]] == ["z"]


async def test_list_pages_with_limit_and_continue(client, namespace):
    for i in range(5):
        await client.create(CM, configmap(f"cm-{i}"), namespace)
    names, token = [], None
    while True:
        page = await client.list(CM, namespace, limit=2, continue_=token)
        assert len(page["items"]) <= 2
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == [f"cm-{i}" for i in range(5)]


async def test_watch_sees_changes_in_order(client, namespace):
    start = (await client.list(CM, namespace))["metadata"]["resourceVersion"]
    seen = []

    async def watch():
        async for type_, obj in client.watch(CM, namespace, resource_version=start,
                                             timeout_seconds=30):
            if type_ != "BOOKMARK":
                seen.append((type_, obj["metadata"]["name"], obj.get("data")))
            if type_ == "DELETED":
                return

    task = asyncio.create_task(watch())
    obj = await client.create(CM, configmap("w", k="1"), namespace)
    await client.update(CM, {**obj, "data": {"k": "2"}})
    await client.delete(CM, "w", namespace)
    await asyncio.wait_for(task, 10)
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    assert seen[1][2] == {"k": "2"}


async def test_watch_honours_timeout_seconds_and_selectors(client, namespace):
    await client.create(CM, {"metadata": {"name": "in", "labels": {"pick": "me"}}}, namespace)
    await client.create(CM, {"metadata": {"name": "out"}}, namespace)
    seen = []
    async with asyncio.timeout(10):
        async for type_, obj in client.watch(CM, namespace, label_selector="pick=me",
                                             timeout_seconds=1):
            seen.append((type_, obj["metadata"]["name"]))
    assert seen == [("ADDED", "in")]


async def test_request_for_anything_else(client):
    version = await client.request("GET", "/version")
    assert version["major"] == "1"
    assert await client.request("GET", "/healthz") == b"ok"


async def test_unreachable_server_is_a_client_error_naming_it(server):
    cfg = kubeconfig.load(server.kubeconfig)
    from tests.e2e.cluster import free_port
    cfg.server = f"https://127.0.0.1:{free_port()}"
    async with rest.Client(cfg) as c:
        with pytest.raises(rest.ClientError, match="127.0.0.1"):
            await c.get(CM, "x", "default")
        with pytest.raises(rest.ClientError):
            async for _ in c.watch(CM, "default"):
                pass


async def test_wrong_ca_is_refused(server, tmp_path):
    cfg = kubeconfig.load(server.kubeconfig)
    cfg.ca_data = None
    cfg.ca_file = None  # system roots do not trust the cluster CA
    async with rest.Client(cfg) as c:
        with pytest.raises(rest.ClientError) as e:
            await c.get(CM, "x", "default")
    assert isinstance(e.value.__cause__, (ssl.SSLError, OSError)) or "SSL" in str(e.value) \
        or "certificate" in str(e.value).lower()


async def test_user_agent_names_the_component(server, namespace):
    async with rest.Client(kubeconfig.load(server.kubeconfig), component="my-controller") as c:
        assert c.user_agent.startswith("my-controller/v")
        got = await c.create(CM, configmap("ua"), namespace)
    # kube-apiserver derives the default field manager from the User-Agent.
    assert got["metadata"]["managedFields"][0]["manager"] == "my-controller"


async def test_get_subresource(client, namespace):
    deployments = registry.lookup("apps", "v1", "deployments")
    await client.create(deployments, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}},
        namespace)
    scale = await client.get(deployments, "web", namespace, subresource="scale")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
