"""Real kubectl 1.32 against the kubelet's streaming handlers.

kubectl talks to an API server, so a minimal front (discovery, GET pod, and
the pod subresources routed straight to the KubeletServer's handlers) stands
in for it; what is under test is the wire protocol kubectl's own Go code
(spdystream, gorilla websocket, the port-forward tunnel) speaks with ours.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket

import aiohttp
import pytest
from aiohttp import web

from kybernetes.apiserver import pki
from kybernetes.kubelet import server
from tests.kubelet.test_server import NS, POD, UID, FakeHost, pki_dir, runtime, start, web_netns  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

POD_JSON = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD, "namespace": NS, "uid": UID},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}, "status": {"phase": "Running"}}
RESOURCES = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
    {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions", "verbs": ["create", "get"]},
    {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
    {"name": "pods/portforward", "singularName": "", "namespaced": True, "kind": "PodPortForwardOptions",
     "verbs": ["create", "get"]}]}


@pytest.fixture
async def front(runtime, pki_dir, web_netns, tmp_path):  # noqa: F811
    host = FakeHost(runtime, netns=web_netns)
    srv = server.KubeletServer(host, cert=pki_dir["serving"].cert, key=pki_dir["serving"].key,
                               client_ca=pki_dir["ca"].cert)
    app = srv.app()

    def static(body):
        async def handler(request):
            return web.json_response(body)
        return handler

    def subresource(handler):
        async def route(request):
            request.match_info["container"] = request.query.get("container", "app")
            return await handler(request)
        return route

    app.router.add_get("/api", static({"kind": "APIVersions", "versions": ["v1"]}))
    app.router.add_get("/apis", static({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}))
    app.router.add_get("/api/v1", static(RESOURCES))
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}", static(POD_JSON))
    app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{pod}/exec", subresource(srv.exec))
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}/log", subresource(srv.container_logs))
    app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{pod}/portforward", srv.port_forward)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    await web.SockSite(runner, sock, ssl_context=srv.ssl).start()
    kubeconfig = str(tmp_path / "kubeconfig")
    pki.write_kubeconfig(kubeconfig, f"https://127.0.0.1:{sock.getsockname()[1]}", pki_dir["ca"],
                         pki_dir["api"])
    host.kubeconfig = kubeconfig
    try:
        yield host
    finally:
        await runner.cleanup()
        sock.close()


async def kubectl(front, *args, stdin: bytes | None = None, env: dict | None = None, timeout=30):
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", front.kubeconfig, "--cache-dir", os.path.dirname(front.kubeconfig) + "/cache",
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, **(env or {})))
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("websockets", ["true", "false"])
async def test_kubectl_exec_websocket_and_spdy(front, websockets):
    await start(front, "app", "echo started; sleep 300")
    env = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websockets}
    rc, out, err = await kubectl(front, "exec", POD, "-c", "app", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3",
                                 env=env)
    assert (rc, out) == (3, "hi\n") and "oops" in err and "command terminated with exit code 3" in err
    rc, out, _ = await kubectl(front, "exec", "-i", POD, "-c", "app", "--", "cat", stdin=b"piped\n", env=env)
    assert (rc, out) == (0, "piped\n")


async def test_kubectl_logs(front):
    await start(front, "app", "echo one; echo two")
    await asyncio.sleep(1.5)
    rc, out, err = await kubectl(front, "logs", POD, "-c", "app", "--tail", "1")
    assert (rc, out) == (0, "two\n"), err


@pytest.mark.parametrize("websockets", ["true", "false"])
async def test_kubectl_port_forward_tunnel_and_spdy(front, websockets):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", front.kubeconfig, "port-forward", f"pod/{POD}", f"{local}:8080",
        "--address", "127.0.0.1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, KUBECTL_PORT_FORWARD_WEBSOCKETS=websockets))
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"Forwarding from" in line
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.get(f"http://127.0.0.1:{local}/index.html") as r:
                    assert await r.text() == "hello from the pod\n"
    finally:
        proc.kill()
        await proc.wait()
