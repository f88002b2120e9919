"""Table output through the real kubectl: every served kind, wide columns,
watching across namespaces, and describe listing an object's Events."""

from __future__ import annotations

import datetime
import time

import pytest
from kubernetes import client, config
from tests.e2e.cluster import read_lines_until


@pytest.fixture(scope="module")
def core(api_server):
    cfg = client.Configuration()
    config.load_kube_config(config_file=api_server.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        yield client.CoreV1Api(api_client)


def header(output: str) -> list[str]:
    return output.splitlines()[0].split()


def test_get_every_listable_kind_plain_and_wide(rest, api_kubectl, ns):
    rest.create(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "p"}, "spec": {
        "nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}})
    rest.create(f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "s"}, "spec": {
        "selector": {"app": "x"}, "ports": [{"port": 80}]}})
    rest.create(f"/apis/apps/v1/namespaces/{ns}/deployments", {"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
            "containers": [{"name": "c", "image": "nginx:1.25"}]}}}})
    kinds = api_kubectl("api-resources", "--verbs=list", "-o", "name").split()
    assert len(kinds) >= 35 and "pods" in kinds and "deployments.apps" in kinds
    failed = {}
    for kind in kinds:
        for extra in ([], ["-o", "wide"]):
            result = api_kubectl.run("get", kind, "-n", ns, *extra, check=False)
            if result.returncode != 0 or "error" in result.stderr.lower():
                failed[f"{kind} {' '.join(extra)}"] = result.stderr.strip()
    assert failed == {}

    wide = api_kubectl("get", "pods", "-n", ns, "-o", "wide")
    assert header(wide) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                            "READINESS", "GATES"]
    assert wide.splitlines()[1].split()[:3] == ["p", "0/1", "Pending"]
    assert "node-1" in wide.splitlines()[1]
    assert header(api_kubectl("get", "services", "-n", ns, "-o", "wide"))[-1] == "SELECTOR"
    deployments = api_kubectl("get", "deployments", "-n", ns, "-o", "wide")
    assert header(deployments) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES",
                                   "SELECTOR"]
    assert deployments.splitlines()[1].split()[-3:] == ["c", "nginx:1.25", "app=d"]
    cs = api_kubectl("get", "componentstatuses")
    assert header(cs) == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    assert cs.splitlines()[1].split()[:2] == ["etcd-0", "Healthy"]


def test_get_pods_all_namespaces_watch(rest, api_kubectl, ns):
    proc = api_kubectl.popen("get", "pods", "-A", "-w")
    try:
        time.sleep(1.0)
        rest.create(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "watched"}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}]}})
        lines = read_lines_until(proc, lambda lines: any("watched" in line for line in lines))
        assert proc.poll() is None, proc.stderr.read()
        assert lines and lines[0].split()[:2] == ["NAMESPACE", "NAME"]
        row = next(line for line in lines if "watched" in line).split()
        assert row[:4] == [ns, "watched", "0/1", "Pending"]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_describe_lists_the_events_of_an_object(core, api_kubectl, ns):
    cm = core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="described"), data={"k": "v"}))
    now = datetime.datetime.now(datetime.timezone.utc)
    core.create_namespaced_event(ns, client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="described.1"),
        involved_object=client.V1ObjectReference(kind="ConfigMap", name="described", namespace=ns,
                                                 uid=cm.metadata.uid, api_version="v1"),
        reason="Checked", message="looked at it closely", type="Normal", count=1,
        first_timestamp=now, last_timestamp=now, source=client.V1EventSource(component="tester")))
    out = api_kubectl("describe", "configmap", "described", "-n", ns)
    assert "Name:         described" in out
    events = out[out.index("Events:"):].splitlines()
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    row = events[3].split()
    assert row[:2] == ["Normal", "Checked"] and row[-5:] == ["tester", "looked", "at", "it", "closely"]
