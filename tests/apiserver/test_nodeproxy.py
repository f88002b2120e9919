"""pods/log, exec, attach, portforward and nodes/proxy through a real ``kyb
server`` to the real kubelet HTTPS server (a fake PodHost behind it) on
loopback: the API server finds the kubelet from the Node, authenticates with
its kubelet-client certificate, verifies the kubelet's certificate against
the cluster CA, and relays or splices."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import aiohttp
import pytest

from kybernetes.client import kubeconfig
from tests import servers
from tests.apiserver import fakekubelet
from tests.e2e.cluster import API_ONLY, Kubectl

server = servers.server_fixture("kyb-nodeproxy", API_ONLY)
client = servers.client_fixture("nodeproxy-test")
namespace = servers.namespace_fixture(delete=True)


@pytest.fixture
async def kubelet(server, tmp_path):
    async with fakekubelet.running(server, str(tmp_path)) as (host, port):
        yield host, port


@pytest.fixture
async def http(server):
    ctx = kubeconfig.load(server.kubeconfig).ssl_context()
    async with aiohttp.ClientSession(base_url=server.url, connector=aiohttp.TCPConnector(ssl=ctx)) as s:
        yield s


@pytest.fixture(scope="module")
def kubectl(server, tmp_path_factory):
    return Kubectl(server, str(tmp_path_factory.mktemp("kubectl-cache")))


async def _pod_with_logs(client, kubelet, namespace, name="web", containers=("app",)):
    host, port = kubelet
    node = await fakekubelet.make_node(client, port)
    await fakekubelet.make_pod(client, namespace, name, list(containers), node)
    paths = {c: host.add_container(namespace, name, c) for c in containers}
    return node, paths


async def test_logs_are_relayed_and_followed(client, kubelet, namespace, http):
    _, paths = await _pod_with_logs(client, kubelet, namespace)
    fakekubelet.write_log(paths["app"], "one", "two")
    base = f"/api/v1/namespaces/{namespace}/pods/web/log"
    async with http.get(base) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        assert await r.text() == "one\ntwo\n"
    async with http.get(base, params={"tailLines": "1"}) as r:
        assert await r.text() == "two\n"
    async with http.get(base, params={"follow": "true", "container": "app"}) as r:
        assert r.status == 200
        assert await asyncio.wait_for(r.content.readuntil(b"two\n"), 10) == b"one\ntwo\n"
        fakekubelet.write_log(paths["app"], "three")  # written after the stream opened
        assert await asyncio.wait_for(r.content.readuntil(b"\n"), 10) == b"three\n"


async def test_log_options_validated_as_upstream(client, kubelet, namespace, http):
    await _pod_with_logs(client, kubelet, namespace)
    base = f"/api/v1/namespaces/{namespace}/pods/web/log"
    async with http.get(base, params={"tailLines": "-1"}) as r:
        body = await r.json()
    assert r.status == 422 and body["reason"] == "Invalid"
    assert body["message"] == 'PodLogOptions "web" is invalid: tailLines: Invalid value: -1: ' \
                              "must be greater than or equal to 0"
    async with http.get(base, params={"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}) as r:
        body = await r.json()
    assert r.status == 422
    assert "at most one of `sinceTime` or `sinceSeconds` may be specified" in body["message"]
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/nothere/log") as r:
        body = await r.json()
    assert r.status == 404 and body["message"] == 'pods "nothere" not found'


async def test_container_selection_errors(client, kubelet, namespace, http):
    await _pod_with_logs(client, kubelet, namespace, "two", ("a", "b"))
    base = f"/api/v1/namespaces/{namespace}/pods/two"
    for sub in ("log", "exec?command=true&stdout=true", "attach?stdout=true"):
        async with http.get(f"{base}/{sub}") as r:
            body = await r.json()
        assert r.status == 400, sub
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "a container name must be specified for pod two, choose one of: [a b]",
                        "reason": "BadRequest", "code": 400}
        sep = "&" if "?" in sub else "?"
        async with http.get(f"{base}/{sub}{sep}container=c") as r:
            body = await r.json()
        assert r.status == 400 and body["message"] == "container c is not valid for pod two"
    # Init containers count, and are listed first (podutil.VisitContainers).
    await fakekubelet.make_pod(client, namespace, "withinit", ["main", "side"], None, init=["setup"])
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/withinit/log") as r:
        assert (await r.json())["message"] == \
            "a container name must be specified for pod withinit, choose one of: [setup main side]"
    # Not scheduled: logs are an empty answer, a stream has nowhere to go.
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/withinit/log?container=main") as r:
        assert r.status == 204
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/withinit/exec?container=main&command=ls") as r:
        body = await r.json()
    assert r.status == 400 and body["message"] == "pod withinit does not have a host assigned"


async def test_kubelet_errors_become_statuses(client, kubelet, namespace, http):
    await _pod_with_logs(client, kubelet, namespace, "web", ("app",))
    # Known to the API, unknown to the kubelet: its 404 comes back as a Status.
    await fakekubelet.make_pod(client, namespace, "ghost", ["app"],
                               (await client.get(fakekubelet.PODS, "web", namespace))["spec"]["nodeName"])
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/ghost/log") as r:
        body = await r.json()
    assert r.status == 404 and body["reason"] == "NotFound"
    assert body["message"].startswith("the server could not find the requested resource ( pods/log ghost)")
    # A node whose kubelet does not listen.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    node = await fakekubelet.make_node(client, dead)
    await fakekubelet.make_pod(client, namespace, "stranded", ["app"], node)
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/stranded/log") as r:
        body = await r.json()
    assert r.status == 500
    assert body["message"] == (f'Get "https://127.0.0.1:{dead}/containerLogs/{namespace}/stranded/app": '
                               f"dial tcp 127.0.0.1:{dead}: connect: connection refused")
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v4.channel.k8s.io"}
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/stranded/exec?command=ls&stdout=1",
                        headers=headers) as r:
        body = await r.json()
    assert r.status == 500
    assert body["message"] == f"error dialing backend: dial tcp 127.0.0.1:{dead}: connect: connection refused"


async def test_exec_over_websocket_is_spliced_both_ways(client, kubelet, namespace, http):
    await _pod_with_logs(client, kubelet, namespace)
    url = (f"/api/v1/namespaces/{namespace}/pods/web/exec?command=sh&command=-c"
           "&command=read+line%3B+echo+got:$line%3B+echo+err+>%262&stdin=true&stdout=true&stderr=true")
    async with http.ws_connect(url, protocols=["v4.channel.k8s.io"]) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        await ws.send_bytes(b"\x00hello\n")
        got: dict[int, bytes] = {}
        while True:
            msg = await asyncio.wait_for(ws.receive(), 10)
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            if msg.data[1:]:
                got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
    assert got[1] == b"got:hello\n"
    assert got[2] == b"err\n"
    assert json.loads(got[3]) == {"metadata": {}, "status": "Success"}


async def test_non_101_answer_is_relayed_and_closed(client, kubelet, namespace, http):
    await _pod_with_logs(client, kubelet, namespace)
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v4.channel.k8s.io"}
    # The kubelet refuses (no command): its 400 and body come back, then the connection closes.
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/web/exec?stdout=true", headers=headers) as r:
        body = await r.json()
        assert r.status == 400
        assert body["message"] == "you must specify at least one command for the container"
        assert r.headers.get("Connection", "").lower() == "close"
    # Port-forward to a pod the kubelet has no network for: its 404.
    async with http.post(f"/api/v1/namespaces/{namespace}/pods/web/portforward?ports=80",
                         headers=headers) as r:
        assert r.status == 404
        assert (await r.json())["message"] == 'pod "web" not found'
    # No upgrade asked: refused by the API server itself.
    async with http.get(f"/api/v1/namespaces/{namespace}/pods/web/exec?command=ls&stdout=true") as r:
        body = await r.json()
    assert r.status == 400 and body["message"] == "Upgrade request required"


async def test_node_proxy_reaches_the_kubelet_api(client, kubelet, http):
    host, port = kubelet
    node = await fakekubelet.make_node(client, port)
    host.summary = {"node": {"nodeName": node, "cpu": {"usageNanoCores": 5}}, "pods": []}
    async with http.get(f"/api/v1/nodes/{node}/proxy/healthz") as r:
        assert r.status == 200 and await r.text() == "ok"
    async with http.get(f"/api/v1/nodes/{node}/proxy/stats/summary") as r:
        assert r.status == 200 and (await r.json())["node"]["cpu"]["usageNanoCores"] == 5
    async with http.get(f"/api/v1/nodes/{node}/proxy/nothing") as r:
        assert r.status == 404
    async with http.get("/api/v1/nodes/nosuchnode/proxy/healthz") as r:
        assert r.status == 404 and (await r.json())["message"] == 'nodes "nosuchnode" not found'


async def test_kubectl_logs_and_exec(client, kubelet, namespace, kubectl):
    _, paths = await _pod_with_logs(client, kubelet, namespace, "web", ("app", "side"))
    fakekubelet.write_log(paths["side"], "from side")
    out = await asyncio.to_thread(kubectl, "-n", namespace, "logs", "web", "-c", "side")
    assert out == "from side\n"
    # kubectl 1.32 speaks websocket v5 (SPDY as its fallback) through the API server.
    out = await asyncio.to_thread(kubectl, "-n", namespace, "exec", "web", "-c", "app", "--",
                                  "sh", "-c", "echo out; echo err >&2")
    assert out == "out\n"
    result = await asyncio.to_thread(kubectl.run, "-n", namespace, "exec", "-i", "web", "-c", "app",
                                     "--", "sh", "-c", "tr a-z A-Z; exit 3", input="shout\n", check=False)
    assert result.stdout == "SHOUT\n"
    assert result.returncode == 3
    env = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}  # the SPDY/3.1 path
    result = await asyncio.to_thread(kubectl.run, "-n", namespace, "exec", "web", "-c", "app", "--",
                                     "echo", "spdy", env=env)
    assert result.stdout == "spdy\n"
    result = await asyncio.to_thread(kubectl.run, "-n", namespace, "logs", "web", check=False)
    assert "a container name must be specified for pod web, choose one of: [app side]" in result.stderr \
        or "Defaulted container" in result.stderr
