"""Validation, defaulting, namespaces, Service addresses and the status split.

Each as a user observes it: kubectl's printed 422 texts, defaults on
read-back, 404/403 for missing and terminating namespaces, ClusterIPs and
NodePorts that are never handed out twice (even to 50 concurrent creates)
and come back on delete, and the main resource and ``/status`` each
ignoring the other's half of the object (checked with the Python client).
"""

from __future__ import annotations

import ipaddress
import json
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException


@pytest.fixture(scope="module")
def api(api_server):
    cfg = client.Configuration()
    config.load_kube_config(config_file=api_server.kubeconfig, client_configuration=cfg)
    cfg.connection_pool_maxsize = 64
    with client.ApiClient(cfg) as api_client:
        yield api_client


def create_fails(kubectl, ns: str, manifest: str) -> str:
    result = kubectl.run("create", "-n", ns, "-f", "-", input=manifest, check=False)
    assert result.returncode == 1, result.stdout
    return result.stderr.strip()


# -- validation and defaulting ----------------------------------------------------------


def test_invalid_objects_as_kubectl_prints_them(api_kubectl, ns):
    pod = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: c
        """)
    assert create_fails(api_kubectl, ns, pod) == \
        'The Pod "p" is invalid: spec.containers[0].image: Required value'
    twins = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - {name: c, image: busybox, ports: [{containerPort: 70000}]}
          - {name: c, image: busybox}
        """)
    # Several causes: kubectl lists each one.
    assert create_fails(api_kubectl, ns, twins).splitlines() == [
        'The Pod "p" is invalid: ',
        "* spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        '* spec.containers[1].name: Duplicate value: "c"']
    bad_name = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}'
    assert create_fails(api_kubectl, ns, bad_name).startswith(
        'The ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid": a lowercase RFC 1123 '
        "subdomain must consist of lower case alphanumeric characters")
    mismatched = json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
                 "template": {"metadata": {"labels": {"app": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    assert create_fails(api_kubectl, ns, mismatched) == (
        'The Deployment "d" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"b"}: `selector` does not match template `labels`')


def test_unknown_field_under_strict_validation(api_kubectl, ns):
    pod = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - {name: c, image: busybox, imagee: typo}
        """)
    err = create_fails(api_kubectl, ns, pod)
    assert 'strict decoding error: unknown field "spec.containers[0].imagee"' in err


def test_defaults_are_visible_on_read_back(rest, ns):
    pod = rest.create(f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "busybox", "ports": [{"containerPort": 80}]},
                                {"name": "b", "image": "busybox:latest"},
                                {"name": "c", "image": "busybox:1.36"}]}})
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always" and spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30 and spec["schedulerName"] == "default-scheduler"
    assert spec["securityContext"] == {} and spec["enableServiceLinks"] is True
    assert [c["imagePullPolicy"] for c in spec["containers"]] == ["Always", "Always", "IfNotPresent"]
    assert spec["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert spec["containers"][0]["terminationMessagePolicy"] == "File"
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}

    svc = rest.create(f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": "s"}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}})
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["sessionAffinity"] == "None"
    assert svc["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert svc["spec"]["ipFamilies"] == ["IPv4"] and svc["spec"]["internalTrafficPolicy"] == "Cluster"

    job = rest.create(f"/apis/batch/v1/namespaces/{ns}/jobs", {
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "c", "image": "busybox"}]}}}})
    assert job["spec"]["backoffLimit"] == 6 and job["spec"]["completions"] == 1
    assert job["spec"]["parallelism"] == 1 and job["spec"]["completionMode"] == "NonIndexed"
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "j"


# -- namespaces ---------------------------------------------------------------------------


def test_missing_and_terminating_namespaces(rest, api_kubectl):
    manifest = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}'
    assert create_fails(api_kubectl, "no-such-ns", manifest) == \
        'Error from server (NotFound): error when creating "STDIN": namespaces "no-such-ns" not found'

    ns = rest.namespace("term")
    rest.create(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "kept"}})
    deleted = rest.delete(f"/api/v1/namespaces/{ns}").json()
    # No namespace controller runs here: the namespace stays Terminating.
    assert deleted["status"]["phase"] == "Terminating" and deleted["metadata"]["deletionTimestamp"]
    assert create_fails(api_kubectl, ns, manifest) == (
        f'Error from server (Forbidden): error when creating "STDIN": configmaps "x" is forbidden: unable to '
        f"create new content in namespace {ns} because it is being terminated")
    # Existing content can still be changed and deleted.
    assert rest.patch(f"/api/v1/namespaces/{ns}/configmaps/kept", {"data": {"a": "b"}}).status_code == 200
    assert rest.delete(f"/api/v1/namespaces/{ns}/configmaps/kept").status_code == 200


def test_system_namespaces_cannot_be_deleted(api_kubectl):
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        result = api_kubectl.run("delete", "namespace", name, check=False)
        assert result.returncode == 1
        assert f'Error from server (Forbidden): namespaces "{name}" is forbidden: this namespace may not be ' \
               f"deleted" in result.stderr
        assert api_kubectl.json("get", "namespace", name)["status"]["phase"] == "Active"


# -- Services ---------------------------------------------------------------------------


def service(name: str, **spec) -> client.V1Service:
    ports = spec.pop("ports", [client.V1ServicePort(port=80)])
    return client.V1Service(metadata=client.V1ObjectMeta(name=name),
                            spec=client.V1ServiceSpec(ports=ports, **spec))


def test_cluster_ips_are_unique_under_concurrent_creates_and_reused(api, ns):
    core = client.CoreV1Api(api)
    with ThreadPoolExecutor(50) as pool:
        created = list(pool.map(lambda i: core.create_namespaced_service(ns, service(f"s{i}")), range(50)))
    ips = [s.spec.cluster_ip for s in created]
    assert len(set(ips)) == 50
    cidr = ipaddress.ip_network("10.96.0.0/12")
    assert all(ipaddress.ip_address(ip) in cidr and ip != "10.96.0.1" for ip in ips)
    assert all(s.spec.cluster_ips == [s.spec.cluster_ip] for s in created)

    # A taken address is refused, as kube-apiserver words it.
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service(ns, service("taken", cluster_ip=ips[0]))
    body = json.loads(e.value.body)
    assert e.value.status == 422
    assert body["message"] == (
        f'Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{{"{ips[0]}"}}: '
        f"failed to allocate IP {ips[0]}: provided IP is already allocated")
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service(ns, service("outside", cluster_ip="192.168.0.10"))
    assert e.value.status == 422
    assert "the provided IP (192.168.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/12" \
        in json.loads(e.value.body)["message"]

    # Deleting releases the address: it can be chosen again.
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda i: core.delete_namespaced_service(f"s{i}", ns), range(10)))
    again = core.create_namespaced_service(ns, service("again", cluster_ip=ips[0]))
    assert again.spec.cluster_ip == ips[0]
    chosen = core.create_namespaced_service(ns, service("chosen", cluster_ip="10.96.100.100"))
    assert chosen.spec.cluster_ip == "10.96.100.100"
    headless = core.create_namespaced_service(ns, service("headless", cluster_ip="None"))
    assert headless.spec.cluster_ip == "None"


def test_node_ports_are_allocated_refused_and_released(api, ns):
    core = client.CoreV1Api(api)
    auto = core.create_namespaced_service(ns, service("auto", type="NodePort"))
    port = auto.spec.ports[0].node_port
    assert 30000 <= port <= 32767
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service(ns, service("dup", type="NodePort", ports=[
            client.V1ServicePort(port=80, node_port=port)]))
    assert e.value.status == 422
    assert json.loads(e.value.body)["message"] == (
        f'Service "dup" is invalid: spec.ports[0].nodePort: Invalid value: {port}: provided port is already '
        f"allocated")
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service(ns, service("high", type="NodePort", ports=[
            client.V1ServicePort(port=80, node_port=40000)]))
    assert e.value.status == 422
    assert "provided port is not in the valid range. The range of valid ports is 30000-32767" in e.value.body
    # Switching to ClusterIP gives the node port back, as deleting does.
    core.patch_namespaced_service("auto", ns, {"spec": {"type": "ClusterIP"}})
    taken = core.create_namespaced_service(ns, service("dup", type="NodePort", ports=[
        client.V1ServicePort(port=80, node_port=port)]))
    assert taken.spec.ports[0].node_port == port
    core.delete_namespaced_service("dup", ns)
    again = core.create_namespaced_service(ns, service("again", type="NodePort", ports=[
        client.V1ServicePort(port=80, node_port=port)]))
    assert again.spec.ports[0].node_port == port


def test_the_kubernetes_service_points_at_the_api_server(api, api_server):
    core = client.CoreV1Api(api)
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == "10.96.0.1"
    assert [(p.name, p.port, p.protocol) for p in svc.spec.ports] == [("https", 443, "TCP")]
    endpoints = core.read_namespaced_endpoints("kubernetes", "default")
    subset = endpoints.subsets[0]
    # The default network plan's root bridge address: where pods reach the server.
    assert [a.ip for a in subset.addresses] == ["172.31.255.1"]
    assert [(p.name, p.port) for p in subset.ports] == [("https", api_server.port)]


# -- the status subresource ------------------------------------------------------------------


def test_main_resource_and_status_each_ignore_the_other(api, ns):
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]))),
        status=client.V1DeploymentStatus(replicas=9))
    created = apps.create_namespaced_deployment(ns, body)
    assert created.status.replicas is None  # a create may not set status

    # /status: the status changes, the spec and labels do not.
    d = apps.read_namespaced_deployment("web", ns)
    d.status = client.V1DeploymentStatus(replicas=1, ready_replicas=1, observed_generation=1)
    d.spec.replicas = 5
    d.metadata.labels = {"app": "web", "sneaky": "yes"}
    written = apps.replace_namespaced_deployment_status("web", ns, d)
    assert written.status.ready_replicas == 1 and written.spec.replicas == 1
    assert written.metadata.labels == {"app": "web"}
    patched = apps.patch_namespaced_deployment_status("web", ns, {"status": {"availableReplicas": 1},
                                                                  "spec": {"replicas": 7}})
    assert patched.status.available_replicas == 1 and patched.spec.replicas == 1

    # The main resource: the spec changes, the status does not.
    d = apps.read_namespaced_deployment("web", ns)
    d.spec.replicas = 2
    d.status.ready_replicas = 0
    written = apps.replace_namespaced_deployment("web", ns, d)
    assert written.spec.replicas == 2 and written.status.ready_replicas == 1
    patched = apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 3},
                                                           "status": {"availableReplicas": 0}})
    assert patched.spec.replicas == 3 and patched.status.available_replicas == 1
    assert patched.metadata.generation == 3
