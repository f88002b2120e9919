"""Services and cluster DNS as users see them, inside a cluster of two real
nodes (``kyb server`` with its node plus one ``kyb agent``, kube-proxy in
iptables mode, the DNS addon the server installs): issue 6's "what must hold".

Requests come from a client pod (Python's urllib through ``kubectl exec``) to
the ``web`` Deployment's three HTTP servers, each answering with its pod
name; names are looked up with ``getaddrinfo`` in pods, through the pod's
resolv.conf, the ``kube-dns`` Service and ``kyb dns`` running as a pod.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from kybernetes.network import naming
from tests.e2e import services
from tests.e2e.services import apply, eventually, requests, resolve, wait_ready

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real nodes need root")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with services.services_cluster(str(tmp_path_factory.mktemp("kyb-svc")), "iptables") as c:
        yield c


@pytest.fixture(scope="module")
def web(cluster):
    """``web`` (3 pods over both nodes, NodePort Service) and the client pod, ready."""
    return {p["metadata"]["name"]: p for p in services.start_web(cluster)}


def _node_ips(c) -> dict[str, str]:
    return {n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
            for n in c.kubectl.json("get", "nodes")["items"]}


# -- the DNS addon and the API server from inside -------------------------------------------


def test_the_dns_addon_runs_as_a_pod_behind_kube_dns(cluster, web):
    svc = cluster.kubectl.json("-n", "kube-system", "get", "service", "kube-dns")
    assert svc["spec"]["clusterIP"] == str(cluster.plan.service_cidr.network_address + 10)
    assert sorted((p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]) == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
    deployment = cluster.kubectl.json("-n", "kube-system", "get", "deployment", "coredns")
    assert deployment["status"].get("readyReplicas") == 1
    pod = services.ready_pods(cluster, "kube-system", "k8s-app=kube-dns")[0]
    assert pod["spec"]["dnsPolicy"] == "Default"
    assert pod["spec"].get("priority") == 2000000000


def test_the_kubernetes_service_reaches_the_api_server_from_a_pod(cluster, web):
    endpoints = cluster.kubectl.json("get", "endpoints", "kubernetes")
    assert [a["ip"] for a in endpoints["subsets"][0]["addresses"]] == [str(cluster.plan.bridge_address.ip)]
    # The official client's in-cluster configuration (10.96.0.1:443, the
    # service-account token and CA), and the Service's DNS name with the CA.
    out = services.in_pod_python(cluster, "client", """
import json, ssl, urllib.request
from kubernetes import client, config
config.load_incluster_config()
names = [p.metadata.name for p in client.CoreV1Api().list_namespaced_pod("default").items]
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
request = urllib.request.Request("https://kubernetes.default.svc/version",
                                 headers={"Authorization": "Bearer " + open(sa + "/token").read()})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                     urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=sa + "/ca.crt")))
print(json.dumps({"pods": names, "version": json.load(opener.open(request, timeout=10))["gitVersion"]}))
""")
    result = json.loads(out)
    assert "client" in result["pods"] and result["version"].startswith("v1.")


def test_pod_resolv_conf_points_at_the_cluster_dns(cluster, web):
    text = cluster.kubectl("exec", "client", "--", "cat", "/etc/resolv.conf")
    lines = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert ["nameserver", str(cluster.plan.service_cidr.network_address + 10)] in lines
    search = next(line for line in lines if line[0] == "search")
    assert search[1:4] == ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert ["options", "ndots:5"] in lines


# -- traffic through the Service ----------------------------------------------------------


def test_web_pods_spread_over_both_nodes(cluster, web):
    assert {p["spec"]["nodeName"] for p in web.values()} == set(cluster.node_names)


def test_requests_to_the_service_name_reach_every_pod_evenly(cluster, web):
    services.assert_even(requests(cluster, "http://web"), list(web))


def test_requests_to_the_full_name_reach_every_pod_evenly(cluster, web):
    services.assert_even(requests(cluster, "http://web.default.svc.cluster.local"), list(web))


def test_requests_to_the_cluster_ip_reach_every_pod_evenly(cluster, web):
    ip = cluster.kubectl.json("get", "service", "web")["spec"]["clusterIP"]
    services.assert_even(requests(cluster, f"http://{ip}"), list(web))


def test_requests_to_the_node_port_on_each_node_reach_every_pod_evenly(cluster, web):
    port = cluster.kubectl.json("get", "service", "web")["spec"]["ports"][0]["nodePort"]
    for node, address in _node_ips(cluster).items():
        services.assert_even(requests(cluster, f"http://{address}:{port}"), list(web))


def _nat_rules(c, node: str, service: str) -> list[str]:
    """The nat table's rules about ``service`` in a node host (kube-proxy's comments name it)."""
    netns = naming.node_netns(c.plan.prefix, node)
    rules = subprocess.run(["ip", "netns", "exec", netns, "iptables-save", "-t", "nat"],
                           capture_output=True, text=True, check=True).stdout
    return [line for line in rules.splitlines() if f"{service} " in line or line.endswith(service)
            or f"{service}:" in line]


def _has_chains(rules: list[str]) -> bool:
    return (any(x.startswith("-A KUBE-SERVICES") and "-j KUBE-SVC-" in x for x in rules)
            and any("-j KUBE-SEP-" in x for x in rules))


def test_iptables_in_each_node_host_has_the_chains_of_web(cluster, web):
    for node in cluster.node_names:
        rules = _nat_rules(cluster, node, "default/web")
        assert _has_chains(rules), rules
        assert sum(1 for x in rules if x.startswith("-A KUBE-SEP-") and "DNAT" in x) == services.WEB_REPLICAS, rules
        assert any(x.startswith("-A KUBE-NODEPORTS") for x in rules), rules


def test_deleting_a_service_removes_its_chains(cluster, web):
    apply(cluster, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "doomed", "namespace": "default"},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 81, "targetPort": 8080}]}})
    node = cluster.node_names[1]
    eventually(lambda: _has_chains(_nat_rules(cluster, node, "default/doomed")), timeout=30,
               what="KUBE-SVC and KUBE-SEP chains of doomed")
    cluster.kubectl("delete", "service", "doomed")
    eventually(lambda: not _nat_rules(cluster, node, "default/doomed"), timeout=30, what="doomed's rules gone")


def test_a_pod_failing_readiness_gets_no_traffic(cluster, web):
    name = sorted(web)[0]
    cluster.kubectl("exec", name, "--", services.PYTHON, "-c", "open('/data/fail', 'w').close()")
    try:
        eventually(lambda: name not in {p["metadata"]["name"] for p in services.ready_pods(cluster, "default", "app=web")},
                   timeout=30, what=f"{name} not Ready")
        eventually(lambda: _endpoint_count(cluster, "web") == services.WEB_REPLICAS - 1, timeout=30)
        _until_only(cluster, set(web) - {name})
        result = requests(cluster, "http://web", 60)
        assert result["failed"] == 0 and name not in result["counts"], result
        assert set(result["counts"]) == set(web) - {name}, result
    finally:
        cluster.kubectl("exec", name, "--", services.PYTHON, "-c", "import os; os.remove('/data/fail')")
    wait_ready(cluster, "default", "app=web", services.WEB_REPLICAS)


def _until_only(c, pods: set[str]) -> None:
    """Wait until kube-proxy has followed the EndpointSlice (its sync comes
    after the slice's change; bench/network.py measures how long after): a
    batch of requests reaches only ``pods``."""
    eventually(lambda: set(requests(c, "http://web", 20)["counts"]) <= pods, timeout=30,
               what=f"requests reach only {sorted(pods)}")


def _endpoint_count(c, service: str) -> int:
    slices = c.kubectl.json("get", "endpointslices", "-l", f"kubernetes.io/service-name={service}")["items"]
    return sum(1 for s in slices for e in s.get("endpoints") or []
               if (e.get("conditions") or {}).get("ready"))


# -- DNS names ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def named(cluster, web):
    """A StatefulSet ``db`` behind the headless Service ``db``; a pod with
    hostname ``hname`` and subdomain ``subname`` (headless Service
    ``subname``); a Service ``far`` in namespace ``other``."""
    cluster.kubectl("create", "namespace", "other")
    labels = {"app": "db"}
    sleeper = {"name": "c", "image": "python:3", "command": ["sleep", "3600"]}
    apply(cluster,
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "default"},
           "spec": {"clusterIP": "None", "selector": labels, "ports": [{"name": "db", "port": 5432}]}},
          {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
           "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels},
                                 "spec": {"terminationGracePeriodSeconds": 0, "containers": [sleeper]}}}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "subname", "namespace": "default"},
           "spec": {"clusterIP": "None", "selector": {"app": "named"}, "ports": [{"name": "x", "port": 1}]}},
          {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "named", "namespace": "default",
                                                           "labels": {"app": "named"}},
           "spec": {"hostname": "hname", "subdomain": "subname", "terminationGracePeriodSeconds": 0,
                    "containers": [sleeper]}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "far", "namespace": "other"},
           "spec": {"ports": [{"port": 80}]}})
    db = wait_ready(cluster, "default", "app=db", 1)[0]
    named = wait_ready(cluster, "default", "app=named", 1)[0]
    for service in ("db", "subname"):
        eventually(lambda: _endpoint_count(cluster, service) == 1, timeout=30, what=f"{service} endpoints")
    far = cluster.kubectl.json("-n", "other", "get", "service", "far")
    return {"db-0": db["status"]["podIP"], "named": named["status"]["podIP"], "far": far["spec"]["clusterIP"]}


def test_a_stateful_set_pod_resolves_by_its_headless_name(cluster, named):
    out = resolve(cluster, "db-0.db", "db-0.db.default.svc.cluster.local", "db")
    for name in out:
        assert out[name].get("addresses") == [named["db-0"]], out


def test_a_pod_with_hostname_and_subdomain_resolves(cluster, named):
    out = resolve(cluster, "hname.subname.default.svc.cluster.local", "hname.subname")
    for name in out:
        assert out[name].get("addresses") == [named["named"]], out


def test_a_pod_ip_name_resolves(cluster, web):
    ip = cluster.kubectl.json("get", "pod", "client")["status"]["podIP"]
    name = f"{ip.replace('.', '-')}.default.pod.cluster.local"
    assert resolve(cluster, name)[name].get("addresses") == [ip]


def test_a_service_in_another_namespace_resolves_with_its_namespace(cluster, named):
    out = resolve(cluster, "far.other", "far.other.svc.cluster.local", "far")
    assert out["far.other"].get("addresses") == [named["far"]], out
    assert out["far.other.svc.cluster.local"].get("addresses") == [named["far"]], out
    assert "error" in out["far"], out  # not in the client's namespace


def test_names_outside_the_cluster_go_upstream_and_unknown_names_fail(cluster, web):
    out = resolve(cluster, "upstream.example", "no-such-name-here", "no-such.example")
    assert out["upstream.example"].get("addresses") == [services.UPSTREAM_ADDRESS], out
    assert "error" in out["no-such-name-here"] and "error" in out["no-such.example"], out
    assert services.UPSTREAM_NAME in cluster.upstream.queries


# -- scaling last: it removes pods --------------------------------------------------------


def test_scaled_to_one_no_request_reaches_a_removed_pod(cluster, web):
    cluster.kubectl("scale", "deployment", "web", "--replicas=1")
    eventually(lambda: _endpoint_count(cluster, "web") == 1, timeout=30, what="one web endpoint")
    survivor = services.ready_pods(cluster, "default", "app=web")
    assert len(survivor) == 1
    _until_only(cluster, {survivor[0]["metadata"]["name"]})
    result = requests(cluster, "http://web", 60)
    assert result["failed"] == 0 and list(result["counts"]) == [survivor[0]["metadata"]["name"]], result
