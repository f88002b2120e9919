"""Two kubelets on one machine, one cluster network: pods on different nodes
reach each other by pod IP, without NAT (each node host routes the other's
podCIDR)."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import secrets
import uuid

from kybernetes.api.status import StatusError
from kybernetes.client import rest
from kybernetes.runtime import cleanup, containers
from tests.kubelet.conftest import NODES, Node, status_of

CLIENT = ("import socket, sys\n"
          "c = socket.create_connection((sys.argv[1], 8080), timeout=5)\n"
          "c.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(c.recv(100).decode().splitlines()[0])\n")


async def test_pods_on_two_nodes_reach_each_other(node, namespace, tmp_path):
    await node.start()
    name = f"kn-{uuid.uuid4().hex[:6]}"
    config = dataclasses.replace(node.config, node_name=name, data_dir=str(tmp_path / "data2"),
                                 cgroup_parent=f"/kybernetes-test-{secrets.token_hex(4)}")
    pod_cidr = str(list(node.plan.cluster_cidr.subnets(new_prefix=24))[1])
    await node.client.create(NODES, {"metadata": {"name": name}, "spec": {"podCIDR": pod_cidr,
                                                                          "podCIDRs": [pod_cidr]}})
    second = Node(node.client, config, node.plan)
    try:
        await second.start()
        server = {"name": "c", "image": "python:3", "command": ["python3", "-m", "http.server", "8080"],
                  "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}
        await second.create_pod(namespace, "server", [server])
        await node.create_pod(namespace, "client", [{"name": "c", "image": "busybox",
                                                     "command": ["sleep", "3600"]}])
        srv = await second.wait_pod(namespace, "server", lambda p: all(
            c["ready"] for c in p["status"].get("containerStatuses") or [{"ready": False}]), what="ready")
        cli = await node.wait_pod(namespace, "client", lambda p: p["status"].get("phase") == "Running",
                                  what="Running")
        assert ipaddress.ip_address(srv["status"]["podIP"]) in ipaddress.ip_network(pod_cidr)
        assert srv["status"]["hostIP"] != cli["status"]["hostIP"]
        cid = status_of(cli, "c")["containerID"].split("://")[1]
        code, out, err = await node.kubelet.runtime.exec_sync(
            cid, ["python3", "-c", CLIENT, srv["status"]["podIP"]], timeout=15)
        assert code == 0, err
        assert out.decode().startswith("HTTP/1.0 200")
    finally:
        await second.stop()
        await cleanup.killall(containers.Runtime(config.runtime_dir, cgroup_parent=config.cgroup))
        with contextlib.suppress(StatusError, rest.ClientError):
            await node.client.delete(NODES, name)
