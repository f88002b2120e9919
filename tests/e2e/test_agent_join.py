"""Nodes joining by token, as k3s agents join: the CA is checked against the
token, credentials are issued for ``system:node:<name>``, a wrong token is
refused; and a real ``kyb server`` (with its own node) plus a ``kyb agent``
beside it on the same machine make two Ready nodes."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
import urllib.request

import pytest

from kybernetes.apiserver import join
from kybernetes.cli import agent
from tests.e2e.cluster import Kubectl, Server, free_port, kyb, node_cluster, running
from tests.network import probes


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    with running(Server(str(tmp_path_factory.mktemp("kyb-join")), free_port())) as s:
        yield s


def _token(server: Server) -> str:
    with open(os.path.join(server.data_dir, "token")) as f:
        return f.read().strip()


def test_token_file_and_cacerts(api_server):
    token = join.parse_token(_token(api_server))
    assert token.username == "server" and token.ca_hash
    assert oct(os.stat(os.path.join(api_server.data_dir, "token")).st_mode & 0o777) == "0o600"
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    with urllib.request.urlopen(api_server.url + "/cacerts", context=insecure) as r:
        pem = r.read()
    join.verify_ca(token, pem)  # the hash in the token is the served CA's
    with open(os.path.join(api_server.data_dir, "tls", "ca.crt"), "rb") as f:
        assert f.read() == pem


def test_join_gives_a_node_identity(api_server, tmp_path):
    creds = asyncio.run(agent.request_credentials(api_server.url, _token(api_server), "joiner-1", "pw"))
    assert creds["cluster"]["clusterCIDR"] == "10.244.0.0/16"
    files = agent.NodeFiles(str(tmp_path))
    agent.store_credentials(files, creds)
    agent.write_kubeconfig(files, api_server.url)
    assert files.complete_for("joiner-1") and not files.complete_for("joiner-2")
    kubectl = Kubectl(api_server, str(tmp_path / "cache"))
    who = kubectl("--kubeconfig", files.kubeconfig, "auth", "whoami", "-o", "json")
    info = json.loads(who)["status"]["userInfo"]
    assert info["username"] == "system:node:joiner-1"
    assert "system:nodes" in info["groups"]


@pytest.mark.parametrize("mangle", ["secret", "hash"])
def test_wrong_token_is_refused(api_server, mangle):
    token = join.parse_token(_token(api_server))
    if mangle == "secret":
        bad, message = str(join.Token("0" * 32, token.ca_hash)), "HTTP 401 Unauthorized"
    else:
        bad, message = str(join.Token(token.secret, "0" * 64)), "does not match the token's CA hash"
    with pytest.raises(agent.AgentError, match=message):
        asyncio.run(agent.request_credentials(api_server.url, bad, "intruder", "pw"))


def test_kyb_agent_with_a_wrong_token_exits_with_a_message(api_server, tmp_path):
    token = join.parse_token(_token(api_server))
    bad = str(join.Token("0" * 32, token.ca_hash))
    result = kyb("agent", "--server", api_server.url, "--token", bad, "--data-dir", str(tmp_path),
                 "--node-name", "intruder", check=False, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == ("kyb agent: the server refused to join node intruder: "
                                     "HTTP 401 Unauthorized")
    assert not os.path.exists(tmp_path / "agent" / "tls" / "client-kubelet.crt")
    result = kyb("agent", "--server", api_server.url, "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 1 and "--token" in result.stderr


def test_a_second_agent_cannot_take_a_node_name(api_server, tmp_path):
    """As k3s's node passwords: the name of a joined node, while its Node exists,
    is refused to an agent with another password (another data dir)."""
    first = asyncio.run(agent.request_credentials(api_server.url, _token(api_server), "dup-1", "pw-1"))
    assert first["clientCert"]
    kubectl = Kubectl(api_server, str(tmp_path / "cache"))
    kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node",
                                                   "metadata": {"name": "dup-1"}}))
    try:
        with pytest.raises(agent.AgentError, match="HTTP 403 Node password rejected for node dup-1"):
            asyncio.run(agent.request_credentials(api_server.url, _token(api_server), "dup-1", "pw-2"))
        again = asyncio.run(agent.request_credentials(api_server.url, _token(api_server), "dup-1", "pw-1"))
        assert again["clientCert"]
    finally:
        kubectl("delete", "node", "dup-1")
    # The Node deleted, the name is free.
    asyncio.run(agent.request_credentials(api_server.url, _token(api_server), "dup-1", "pw-2"))


def _ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


@pytest.mark.skipif(os.geteuid() != 0, reason="real nodes need root")
def test_server_and_agent_nodes_ready(tmp_path):
    before = probes.machine_state()
    with node_cluster(str(tmp_path), agents=1) as c:
        kubectl = Kubectl(c.server, str(tmp_path / "cache"))
        deadline = time.monotonic() + 90
        nodes: dict = {}
        while time.monotonic() < deadline:
            items = kubectl.json("get", "nodes")["items"]
            nodes = {n["metadata"]["name"]: n for n in items}
            if set(c.node_names) <= set(nodes) and all(_ready(nodes[n]) for n in c.node_names):
                break
            time.sleep(1)
        else:
            pytest.fail(f"nodes not Ready: {json.dumps({n: v.get('status', {}).get('conditions') for n, v in nodes.items()})}\n{c.logs()}")
        for name in c.node_names:
            node = nodes[name]
            assert node["spec"]["podCIDR"].startswith(str(c.plan.cluster_cidr).rsplit(".", 2)[0])
            internal = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
            assert internal and all(a.startswith(str(c.plan.node_network).rsplit(".", 1)[0]) for a in internal)
        # The server's own node carries the control-plane role, as k3s's does.
        roles = kubectl("get", "nodes", "--no-headers", "-o", "custom-columns=N:.metadata.name,R:.metadata.labels.node-role\\.kubernetes\\.io/control-plane")
        assert {line.split()[0]: line.split()[1] for line in roles.splitlines()} == {
            c.node_names[0]: "true", c.node_names[1]: "<none>"}
        # The agent took the network plan from the server: its record says so.
        with open(os.path.join(c.agents[0].data_dir, "agent", "node.json")) as f:
            record = json.load(f)
        assert record["network"]["prefix"] == c.plan.prefix
        assert record["network"]["clusterCIDR"] == str(c.plan.cluster_cidr)
    after = probes.machine_state()
    assert probes.changes(before, after, c.plan) == {}
