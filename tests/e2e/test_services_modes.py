"""The traffic tests of ``test_services_dns`` with kube-proxy in its other
modes, ``--proxy-mode nftables`` and ``userspace``, on both nodes: one
cluster per mode, the same ``web`` Deployment, Service and client pod."""

from __future__ import annotations

import os

import pytest

from tests.e2e import services
from tests.e2e.services import eventually, requests

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real nodes need root")


@pytest.fixture(scope="module", params=["nftables", "userspace"])
def web(request, tmp_path_factory):
    mode = request.param
    with services.services_cluster(str(tmp_path_factory.mktemp(f"kyb-svc-{mode}")), mode) as c:
        c.web = sorted(p["metadata"]["name"] for p in services.start_web(c))
        yield c


def test_requests_by_name_full_name_and_cluster_ip_reach_every_pod_evenly(web):
    ip = web.kubectl.json("get", "service", "web")["spec"]["clusterIP"]
    for url in ("http://web", "http://web.default.svc.cluster.local", f"http://{ip}"):
        services.assert_even(requests(web, url), web.web)


def test_requests_to_the_node_port_on_each_node_reach_every_pod_evenly(web):
    port = web.kubectl.json("get", "service", "web")["spec"]["ports"][0]["nodePort"]
    for node in web.kubectl.json("get", "nodes")["items"]:
        address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        services.assert_even(requests(web, f"http://{address}:{port}"), web.web)


def test_scaled_to_one_no_request_reaches_a_removed_pod(web):
    web.kubectl("scale", "deployment", "web", "--replicas=1")
    eventually(lambda: len(services.ready_pods(web, "default", "app=web")) == 1, timeout=30)
    survivor = services.ready_pods(web, "default", "app=web")[0]["metadata"]["name"]

    def only_survivor() -> bool:
        result = requests(web, "http://web", 20)
        return result["failed"] == 0 and list(result["counts"]) == [survivor]

    eventually(only_survivor, timeout=20, interval=1, what="only the remaining pod answers")
    result = requests(web, "http://web", 60)
    assert result["failed"] == 0 and list(result["counts"]) == [survivor], result
