"""The official ``kubernetes`` Python client on many kinds: create, list,
watch, patch and delete through its typed APIs, including events.k8s.io
Events and autoscaling/v2 HPAs read back through autoscaling/v1."""

from __future__ import annotations

import datetime
import threading

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


@pytest.fixture(scope="module")
def api(api_server):
    cfg = client.Configuration()
    config.load_kube_config(config_file=api_server.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        yield api_client


def meta(name: str, **labels) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(name=name, labels=labels or {"kind": "test"})


def pod_template(app: str, restart: str = "Always") -> client.V1PodTemplateSpec:
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": app}),
        spec=client.V1PodSpec(restart_policy=restart,
                              containers=[client.V1Container(name="c", image="busybox:1.36")]))


def lifecycle(ns, create, read, list_, patch, delete, watch_list, body, name, change, check) -> None:
    """Create, read, list with a selector, watch a patch, patch, delete, 404."""
    made = create(ns, body)
    assert made.metadata.name == name and made.metadata.uid
    assert read(name, ns).metadata.uid == made.metadata.uid
    listed = list_(ns, label_selector="kind=test")
    assert name in [o.metadata.name for o in listed.items]
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(watch_list, ns, resource_version=listed.metadata.resource_version,
                              timeout_seconds=10):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 2:
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    patched = patch(name, ns, change)
    check(patched)
    check(read(name, ns))
    delete(name, ns)
    t.join(15)
    assert seen == [("MODIFIED", name), ("DELETED", name)]
    with pytest.raises(ApiException) as e:
        read(name, ns)
    assert e.value.status == 404


def test_core_kinds(api, ns):
    core = client.CoreV1Api(api)
    lifecycle(ns, core.create_namespaced_config_map, core.read_namespaced_config_map,
              core.list_namespaced_config_map, core.patch_namespaced_config_map, core.delete_namespaced_config_map,
              core.list_namespaced_config_map, client.V1ConfigMap(metadata=meta("cm"), data={"a": "1"}), "cm",
              {"data": {"a": "2"}}, lambda o: o.data == {"a": "2"})
    lifecycle(ns, core.create_namespaced_secret, core.read_namespaced_secret, core.list_namespaced_secret,
              core.patch_namespaced_secret, core.delete_namespaced_secret, core.list_namespaced_secret,
              client.V1Secret(metadata=meta("s"), string_data={"password": "hunter2"}), "s",
              {"stringData": {"user": "me"}},
              lambda o: o.type == "Opaque" and sorted(o.data) == ["password", "user"]
              and o.data["password"] == "aHVudGVyMg==")
    lifecycle(ns, core.create_namespaced_service, core.read_namespaced_service, core.list_namespaced_service,
              core.patch_namespaced_service, core.delete_namespaced_service, core.list_namespaced_service,
              client.V1Service(metadata=meta("svc"), spec=client.V1ServiceSpec(
                  selector={"app": "x"}, ports=[client.V1ServicePort(name="http", port=80)])), "svc",
              {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},  # merged by port
              lambda o: [(p.port, p.target_port) for p in o.spec.ports] == [(80, 8080)] and o.spec.cluster_ip)


def test_workload_kinds(api, ns):
    apps, batch = client.AppsV1Api(api), client.BatchV1Api(api)
    lifecycle(ns, apps.create_namespaced_deployment, apps.read_namespaced_deployment,
              apps.list_namespaced_deployment, apps.patch_namespaced_deployment,
              apps.delete_namespaced_deployment, apps.list_namespaced_deployment,
              client.V1Deployment(metadata=meta("d"), spec=client.V1DeploymentSpec(
                  replicas=1, selector=client.V1LabelSelector(match_labels={"app": "d"}),
                  template=pod_template("d"))), "d",
              {"spec": {"replicas": 3}}, lambda o: o.spec.replicas == 3 and o.metadata.generation == 2)
    lifecycle(ns, batch.create_namespaced_job, batch.read_namespaced_job, batch.list_namespaced_job,
              batch.patch_namespaced_job, batch.delete_namespaced_job, batch.list_namespaced_job,
              client.V1Job(metadata=meta("j"), spec=client.V1JobSpec(template=pod_template("j", "Never"))), "j",
              {"spec": {"suspend": True}}, lambda o: o.spec.suspend is True and o.spec.backoff_limit == 6)


def test_coordination_discovery_and_event_kinds(api, ns):
    coord, disco, events = client.CoordinationV1Api(api), client.DiscoveryV1Api(api), client.EventsV1Api(api)
    # MicroTime: the Python client writes microseconds only when there are some.
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=123456)
    lifecycle(ns, coord.create_namespaced_lease, coord.read_namespaced_lease, coord.list_namespaced_lease,
              coord.patch_namespaced_lease, coord.delete_namespaced_lease, coord.list_namespaced_lease,
              client.V1Lease(metadata=meta("lock"), spec=client.V1LeaseSpec(
                  holder_identity="me", lease_duration_seconds=15, renew_time=now)), "lock",
              {"spec": {"holderIdentity": "you", "leaseTransitions": 1}},
              lambda o: o.spec.holder_identity == "you" and o.spec.lease_transitions == 1)
    lifecycle(ns, disco.create_namespaced_endpoint_slice, disco.read_namespaced_endpoint_slice,
              disco.list_namespaced_endpoint_slice, disco.patch_namespaced_endpoint_slice,
              disco.delete_namespaced_endpoint_slice, disco.list_namespaced_endpoint_slice,
              client.V1EndpointSlice(metadata=meta("slice"), address_type="IPv4", endpoints=[
                  client.V1Endpoint(addresses=["10.244.0.5"], conditions=client.V1EndpointConditions(ready=True))],
                  ports=[client.DiscoveryV1EndpointPort(name="http", port=80, protocol="TCP")]), "slice",
              {"endpoints": [{"addresses": ["10.244.0.6"]}]},
              lambda o: [e.addresses for e in o.endpoints] == [["10.244.0.6"]])
    lifecycle(ns, events.create_namespaced_event, events.read_namespaced_event, events.list_namespaced_event,
              events.patch_namespaced_event, events.delete_namespaced_event, events.list_namespaced_event,
              client.EventsV1Event(metadata=meta("ev"), event_time=now, reporting_controller="tests/kyb",
                                   reporting_instance="tester-1", action="Testing", reason="Tested", type="Normal",
                                   note="a note", regarding=client.V1ObjectReference(
                                       kind="ConfigMap", name="cm", namespace=ns)), "ev",
              # An events.k8s.io Event is immutable but for its series (recorders count repeats).
              {"series": {"count": 2, "lastObservedTime": (now + datetime.timedelta(seconds=1)).isoformat()}},
              lambda o: o.series.count == 2 and o.note == "a note" and o.regarding.name == "cm")
    # events.k8s.io Events are core Events underneath.
    events.create_namespaced_event(ns, client.EventsV1Event(
        metadata=meta("seen-in-core"), event_time=now, reporting_controller="tests/kyb",
        reporting_instance="tester-1", action="Testing", reason="Tested", type="Warning", note="n",
        regarding=client.V1ObjectReference(kind="Pod", name="p", namespace=ns)))
    core_event = client.CoreV1Api(api).read_namespaced_event("seen-in-core", ns)
    assert core_event.message == "n" and core_event.involved_object.name == "p"
    assert core_event.reporting_component == "tests/kyb" and core_event.type == "Warning"


def test_autoscaling_v2_hpas_read_back_through_v1(api, ns):
    v2, v1 = client.AutoscalingV2Api(api), client.AutoscalingV1Api(api)
    body = client.V2HorizontalPodAutoscaler(
        metadata=meta("hpa"), spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(api_version="apps/v1", kind="Deployment",
                                                                  name="web"),
            min_replicas=2, max_replicas=5, metrics=[client.V2MetricSpec(
                type="Resource", resource=client.V2ResourceMetricSource(
                    name="cpu", target=client.V2MetricTarget(type="Utilization", average_utilization=60)))]))
    lifecycle(ns, v2.create_namespaced_horizontal_pod_autoscaler, v2.read_namespaced_horizontal_pod_autoscaler,
              v2.list_namespaced_horizontal_pod_autoscaler, v2.patch_namespaced_horizontal_pod_autoscaler,
              v2.delete_namespaced_horizontal_pod_autoscaler, v2.list_namespaced_horizontal_pod_autoscaler,
              body, "hpa", {"spec": {"maxReplicas": 7}},
              lambda o: o.spec.max_replicas == 7 and o.spec.metrics[0].resource.target.average_utilization == 60)

    v2.create_namespaced_horizontal_pod_autoscaler(ns, body)
    old = v1.read_namespaced_horizontal_pod_autoscaler("hpa", ns)
    assert old.api_version == "autoscaling/v1"
    assert (old.spec.min_replicas, old.spec.max_replicas) == (2, 5)
    assert old.spec.target_cpu_utilization_percentage == 60
    assert old.spec.scale_target_ref.name == "web"
    # A write through v1 is seen through v2.
    v1.patch_namespaced_horizontal_pod_autoscaler("hpa", ns, {"spec": {"targetCPUUtilizationPercentage": 75}})
    new = v2.read_namespaced_horizontal_pod_autoscaler("hpa", ns)
    assert new.spec.metrics[0].resource.target.average_utilization == 75
    assert [h.metadata.name for h in v1.list_namespaced_horizontal_pod_autoscaler(ns).items] == ["hpa"]
