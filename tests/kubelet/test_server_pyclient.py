"""The official Python client (kubernetes.stream, websocket v4.channel.k8s.io)
against the kubelet's exec and port-forward handlers, through the same
minimal API front as the kubectl tests."""

from __future__ import annotations

import asyncio

import pytest

from tests.kubelet.test_server import NS, POD, pki_dir, runtime, start, web_netns  # noqa: F401
from tests.kubelet.test_server_kubectl import front  # noqa: F401

kubernetes = pytest.importorskip("kubernetes")


def client(front):  # noqa: F811
    from kubernetes import client as k8s, config

    api_client = config.new_client_from_config(config_file=front.kubeconfig)
    return k8s.CoreV1Api(api_client)


async def test_python_client_exec_and_port_forward(front):  # noqa: F811
    from kubernetes.stream import portforward, stream

    await start(front, "app", "sleep 300")
    api = client(front)

    def run_exec():
        resp = stream(api.connect_get_namespaced_pod_exec, POD, NS, container="app",
                      command=["sh", "-c", "echo out; echo err >&2; exit 5"], stderr=True, stdin=False,
                      stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=20)
        return resp.read_stdout(), resp.read_stderr(), resp.returncode

    out, err, code = await asyncio.to_thread(run_exec)
    assert (out, err, code) == ("out\n", "err\n", 5)

    def run_forward():
        pf = portforward(api.connect_get_namespaced_pod_portforward, POD, NS, ports="8080")
        sock = pf.socket(8080)
        sock.setblocking(True)
        sock.sendall(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sock.close()
        pf.close()
        return data, pf.error(8080)

    data, error = await asyncio.wait_for(asyncio.to_thread(run_forward), 30)
    assert data.endswith(b"hello from the pod\n") and error is None
