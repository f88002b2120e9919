"""The addons ``kyb server`` installs at start, seen on a control plane with no
node: the DNS addon's objects are created when missing and otherwise left as
users made them, across restarts; ``--disable dns`` leaves them out; the
``kubernetes`` Service's endpoints follow the advertised address."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.e2e.cluster import Kubectl, Server, free_port, kyb, running

# No controllers: nothing but the server's own start-up writes.
NO_CONTROLLERS = ["--disable-controller-manager", "--disable-scheduler"]


@pytest.fixture
def server(tmp_path):
    os.makedirs(tmp_path / "server")
    return Server(str(tmp_path / "server"), free_port(), args=[*NO_CONTROLLERS, "--dns-upstream", "none"])


def _wait_for(kubectl: Kubectl, *args: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        result = kubectl.run(*args, "-o", "json", check=False)
        if result.returncode == 0:
            return json.loads(result.stdout)
        if time.monotonic() > deadline:
            pytest.fail(f"kubectl get {' '.join(args)}: {result.stderr}")
        time.sleep(0.3)


def test_the_dns_addon_is_created_when_missing_and_user_edits_survive_restarts(server, tmp_path):
    kubectl = Kubectl(server, str(tmp_path / "cache"))
    with running(server):
        deployment = _wait_for(kubectl, "-n", "kube-system", "get", "deployment", "coredns")
        service = _wait_for(kubectl, "-n", "kube-system", "get", "service", "kube-dns")
        _wait_for(kubectl, "-n", "kube-system", "get", "serviceaccount", "coredns")
        assert service["spec"]["clusterIP"] == "10.96.0.10"
        assert service["metadata"]["labels"]["k8s-app"] == "kube-dns"
        pod = deployment["spec"]["template"]["spec"]
        assert pod["dnsPolicy"] == "Default" and pod["priorityClassName"] == "system-cluster-critical"
        command = pod["containers"][0]["command"]
        assert command[1:4] == ["-m", "kybernetes.cli.main", "dns"]
        assert command[command.index("--upstream") + 1].startswith("127.0.0.1:")  # none: no forwarding
        kubectl("-n", "kube-system", "scale", "deployment", "coredns", "--replicas=2")
        kubectl("-n", "kube-system", "delete", "service", "kube-dns")
    with running(server):
        _wait_for(kubectl, "-n", "kube-system", "get", "service", "kube-dns")  # recreated
        deployment = _wait_for(kubectl, "-n", "kube-system", "get", "deployment", "coredns")
        assert deployment["spec"]["replicas"] == 2  # the user's edit stays


def test_disable_dns_leaves_the_addon_out(tmp_path):
    os.makedirs(tmp_path / "server")
    server = Server(str(tmp_path / "server"), free_port(), args=[*NO_CONTROLLERS, "--disable", "traefik,coredns"])
    kubectl = Kubectl(server, str(tmp_path / "cache"))
    with running(server):
        _wait_for(kubectl, "get", "service", "kubernetes")
        time.sleep(2)  # the addons would be there by now
        assert kubectl("-n", "kube-system", "get", "deployments,services", "-o", "name") == ""


def test_an_unknown_addon_is_refused_in_one_line(tmp_path):
    result = kyb("server", "--data-dir", str(tmp_path), "--disable", "dns,nosuch", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["kyb server: --disable nosuch: unknown addon (known: coredns, dns)"]


def test_the_kubernetes_endpoints_follow_the_advertised_address(server, tmp_path):
    kubectl = Kubectl(server, str(tmp_path / "cache"))
    with running(server):
        first = _wait_for(kubectl, "get", "endpoints", "kubernetes")
        assert first["subsets"][0]["addresses"] == [{"ip": "172.31.255.1"}]  # the default plan's bridge
    server.args += ["--advertise-address", "127.0.0.1"]
    with running(server):
        moved = _wait_for(kubectl, "get", "endpoints", "kubernetes")
        assert moved["subsets"][0]["addresses"] == [{"ip": "127.0.0.1"}]
        assert moved["subsets"][0]["ports"][0]["port"] == server.port
        slices = _wait_for(kubectl, "get", "endpointslice", "kubernetes")
        assert slices["endpoints"][0]["addresses"] == ["127.0.0.1"]
