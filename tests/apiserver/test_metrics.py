"""metrics.k8s.io through a real ``kyb server``: NodeMetrics and PodMetrics
built from the real kubelet server's /stats/summary (a fake PodHost gives
the figures), read with the ``kubernetes`` client's CustomObjectsApi and
with ``kubectl top``, as they would be from metrics-server."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from kubernetes import client as k8s, config as k8s_config
from kubernetes.client.rest import ApiException

from tests import servers
from tests.apiserver import fakekubelet
from tests.e2e.cluster import API_ONLY, Kubectl

server = servers.server_fixture("kyb-metrics", API_ONLY)
client = servers.client_fixture("metrics-test")
namespace = servers.namespace_fixture(delete=True)

T = "2026-03-01T10:00:00.123456789Z"


@pytest.fixture
async def kubelet(server, tmp_path):
    async with fakekubelet.running(server, str(tmp_path)) as (host, port):
        yield host, port


@pytest.fixture(scope="module")
def custom(server):
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(config_file=server.kubeconfig, client_configuration=cfg)
    with k8s.ApiClient(cfg) as api:
        yield k8s.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def kubectl(server, tmp_path_factory):
    return Kubectl(server, str(tmp_path_factory.mktemp("kubectl-cache")))


def _stats(cpu: int, memory: int) -> dict:
    return {"cpu": {"time": T, "usageNanoCores": cpu, "usageCoreNanoSeconds": cpu * 100},
            "memory": {"time": T, "workingSetBytes": memory, "usageBytes": memory * 2}}


def _summary(node: str, namespace: str) -> dict:
    return {"node": {"nodeName": node, **_stats(250_000_000, 512 * 1024 * 1024 + 4096)},
            "pods": [
                {"podRef": {"name": "web", "namespace": namespace, "uid": "u1"},
                 "containers": [{"name": "app", **_stats(1_234_567, 40960)},
                                {"name": "side", **_stats(5_000_000, 2 * 1024 * 1024)}]},
                {"podRef": {"name": "db", "namespace": namespace, "uid": "u2"},
                 "containers": [{"name": "db", **_stats(1_000_000_000, 123)}]},
                # No CPU figure for a container: the pod is left out, as metrics-server does.
                {"podRef": {"name": "partial", "namespace": namespace, "uid": "u3"},
                 "containers": [{"name": "c", "memory": {"time": T, "workingSetBytes": 1}}]},
                # Not in the API: not reported.
                {"podRef": {"name": "gone", "namespace": namespace, "uid": "u4"},
                 "containers": [{"name": "c", **_stats(1, 1)}]},
            ]}


async def _cluster(client, kubelet, namespace) -> tuple[str, str]:
    host, port = kubelet
    node = await fakekubelet.make_node(client, port, labels={"metrics-test": "yes"})
    host.summary = _summary(node, namespace)
    await fakekubelet.make_pod(client, namespace, "web", ["app", "side"], node, labels={"app": "web"})
    await fakekubelet.make_pod(client, namespace, "db", ["db"], node, labels={"app": "db"})
    await fakekubelet.make_pod(client, namespace, "partial", ["c"], node)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    dead = await fakekubelet.make_node(client, dead_port, labels={"metrics-test": "yes"})
    return node, dead


async def test_node_metrics(client, kubelet, namespace, custom):
    node, dead = await _cluster(client, kubelet, namespace)
    listed = await asyncio.to_thread(custom.list_cluster_custom_object, "metrics.k8s.io", "v1beta1", "nodes",
                                     label_selector="metrics-test=yes")
    assert listed["kind"] == "NodeMetricsList" and listed["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert [m["metadata"]["name"] for m in listed["items"]] == [node]  # the unreachable kubelet is skipped
    item = listed["items"][0]
    assert item["usage"] == {"cpu": "250m", "memory": "524292Ki"}
    assert item["timestamp"] == "2026-03-01T10:00:00Z" and item["window"] == "10s"
    assert item["metadata"]["labels"] == {"metrics-test": "yes"}
    assert item["metadata"]["creationTimestamp"]
    got = await asyncio.to_thread(custom.get_cluster_custom_object, "metrics.k8s.io", "v1beta1", "nodes", node)
    assert got["kind"] == "NodeMetrics" and got["usage"] == item["usage"]
    with pytest.raises(ApiException) as e:
        await asyncio.to_thread(custom.get_cluster_custom_object, "metrics.k8s.io", "v1beta1", "nodes", dead)
    assert e.value.status == 404
    assert json.loads(e.value.body)["message"] == f'nodemetrics.metrics.k8s.io "{dead}" not found'


async def test_pod_metrics(client, kubelet, namespace, custom):
    await _cluster(client, kubelet, namespace)
    listed = await asyncio.to_thread(custom.list_namespaced_custom_object, "metrics.k8s.io", "v1beta1",
                                     namespace, "pods")
    assert listed["kind"] == "PodMetricsList"
    assert [m["metadata"]["name"] for m in listed["items"]] == ["db", "web"]
    web = listed["items"][1]
    assert web["containers"] == [{"name": "app", "usage": {"cpu": "1234567n", "memory": "40Ki"}},
                                 {"name": "side", "usage": {"cpu": "5m", "memory": "2Mi"}}]
    assert web["metadata"]["namespace"] == namespace and web["metadata"]["labels"] == {"app": "web"}
    assert listed["items"][0]["containers"][0]["usage"] == {"cpu": "1", "memory": "123"}
    selected = await asyncio.to_thread(custom.list_namespaced_custom_object, "metrics.k8s.io", "v1beta1",
                                       namespace, "pods", label_selector="app=web")
    assert [m["metadata"]["name"] for m in selected["items"]] == ["web"]
    everywhere = await asyncio.to_thread(custom.list_cluster_custom_object, "metrics.k8s.io", "v1beta1", "pods")
    assert {m["metadata"]["name"] for m in everywhere["items"]
            if m["metadata"]["namespace"] == namespace} == {"db", "web"}
    got = await asyncio.to_thread(custom.get_namespaced_custom_object, "metrics.k8s.io", "v1beta1",
                                  namespace, "pods", "web")
    assert got["kind"] == "PodMetrics" and got["containers"] == web["containers"]
    with pytest.raises(ApiException) as e:
        await asyncio.to_thread(custom.get_namespaced_custom_object, "metrics.k8s.io", "v1beta1",
                                namespace, "pods", "partial")
    assert e.value.status == 404
    assert json.loads(e.value.body)["message"] == f'podmetrics.metrics.k8s.io "{namespace}/partial" not found'
    with pytest.raises(ApiException) as e:
        await asyncio.to_thread(custom.get_namespaced_custom_object, "metrics.k8s.io", "v1beta1",
                                namespace, "pods", "nothere")
    assert e.value.status == 404 and json.loads(e.value.body)["message"] == 'pods "nothere" not found'


async def test_kubectl_top(client, kubelet, namespace, kubectl):
    node, dead = await _cluster(client, kubelet, namespace)
    out = await asyncio.to_thread(kubectl, "top", "node", "-l", "metrics-test=yes", "--no-headers")
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows[node][1:] == ["250m", "12%", "512Mi", "12%"]
    assert rows[dead][1:] == ["<unknown>"] * 4
    out = await asyncio.to_thread(kubectl, "top", "pod", "-n", namespace)
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert lines[1:] == [["db", "1000m", "0Mi"], ["web", "7m", "2Mi"]]
    out = await asyncio.to_thread(kubectl, "top", "pod", "web", "-n", namespace, "--containers")
    lines = [line.split() for line in out.splitlines()]
    assert lines[1:] == [["web", "app", "2m", "0Mi"], ["web", "side", "5m", "2Mi"]]
    # kubectl get on the metrics resources prints metrics-server's table.
    out = await asyncio.to_thread(kubectl, "get", "pods.metrics.k8s.io", "-n", namespace)
    lines = [line.split() for line in out.splitlines()]
    assert lines == [["NAME", "CPU", "MEMORY", "WINDOW"], ["db", "1", "123", "10s"],
                     ["web", "6234567n", "2088Ki", "10s"]]
    out = await asyncio.to_thread(kubectl, "get", "nodes.metrics.k8s.io", node, "--no-headers")
    assert out.split() == [node, "250m", "524292Ki", "10s"]
