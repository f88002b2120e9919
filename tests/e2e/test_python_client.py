"""The official ``kubernetes`` Python client against ``kyb server``."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


@pytest.fixture(scope="module")
def api(server):
    cfg = client.Configuration()
    config.load_kube_config(config_file=server.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        yield api_client


def test_crud_configmap(api, namespace):
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cm", labels={"a": "b"}), data={"k": "v"}))
    assert created.metadata.uid and created.metadata.resource_version
    got = core.read_namespaced_config_map("cm", namespace)
    assert got.data == {"k": "v"}
    listed = core.list_namespaced_config_map(namespace, label_selector="a=b")
    assert [c.metadata.name for c in listed.items] == ["cm"]
    patched = core.patch_namespaced_config_map("cm", namespace, {"data": {"k": "w"}})
    assert patched.data == {"k": "w"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    got.data = {"k": "stale"}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("cm", namespace, got)
    assert e.value.status == 409
    core.delete_namespaced_config_map("cm", namespace)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("cm", namespace)
    assert e.value.status == 404


def test_watch_sees_changes(api, namespace):
    core = client.CoreV1Api(api)
    seen = []
    w = watch.Watch()

    def consume():
        for event in w.stream(core.list_namespaced_config_map, namespace, field_selector="metadata.name=w1",
                              timeout_seconds=20):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) >= 3:
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(1.0)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1")))
    core.patch_namespaced_config_map("w1", namespace, {"data": {"x": "1"}})
    core.delete_namespaced_config_map("w1", namespace)
    t.join(25)
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_deployment_and_service(api, namespace):
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="d"),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels={"app": "d"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "d"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))))
    apps.create_namespaced_deployment(namespace, dep)
    scale = apps.read_namespaced_deployment_scale("d", namespace)
    assert scale.spec.replicas == 2
    apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 5}})
    assert apps.read_namespaced_deployment("d", namespace).spec.replicas == 5
    svc = core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="s"),
        spec=client.V1ServiceSpec(type="NodePort", selector={"app": "d"},
                                  ports=[client.V1ServicePort(port=80, target_port=8080)])))
    assert svc.spec.cluster_ip.startswith("10.")
    assert 30000 <= svc.spec.ports[0].node_port <= 32767
    apps.delete_namespaced_deployment("d", namespace)
    core.delete_namespaced_service("s", namespace)
