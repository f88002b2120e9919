"""Table output as kubectl shows it: kube-apiserver's printers (printers.go) over JSON objects.

Expected cells follow upstream's printers_test.go where it has a case, and
otherwise what ``kubectl get [-o wide]`` prints for the object.
"""

from datetime import datetime, timedelta, timezone

import pytest

from kybernetes.api import printing

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**kw) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def headers(group, kind, wide=True):
    return [c["name"].upper() for c in printing.columns(group, kind) if wide or c["priority"] == 0]


def cells(group, kind, obj):
    return printing.row(group, kind, obj, NOW)


# --- column definitions ---

@pytest.mark.parametrize(
    "group, kind, normal, wide",
    [
        ("", "Pod", "NAME READY STATUS RESTARTS AGE", "IP NODE NOMINATED NODE READINESS GATES"),
        ("", "Node", "NAME STATUS ROLES AGE VERSION", "INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"),
        ("", "Service", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "SELECTOR"),
        ("", "Namespace", "NAME STATUS AGE", ""),
        ("", "Endpoints", "NAME ENDPOINTS AGE", ""),
        ("", "ConfigMap", "NAME DATA AGE", ""),
        ("", "Secret", "NAME TYPE DATA AGE", ""),
        ("", "ServiceAccount", "NAME SECRETS AGE", ""),
        ("", "ReplicationController", "NAME DESIRED CURRENT READY AGE", "CONTAINERS IMAGES SELECTOR"),
        ("", "PersistentVolume",
         "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE",
         "VOLUMEMODE"),
        ("", "PersistentVolumeClaim",
         "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE", "VOLUMEMODE"),
        ("", "ResourceQuota", "NAME REQUEST LIMIT AGE", ""),
        ("", "ComponentStatus", "NAME STATUS MESSAGE ERROR", ""),
        ("", "PodTemplate", "NAME CONTAINERS IMAGES POD LABELS", ""),
        ("apps", "ReplicaSet", "NAME DESIRED CURRENT READY AGE", "CONTAINERS IMAGES SELECTOR"),
        ("apps", "Deployment", "NAME READY UP-TO-DATE AVAILABLE AGE", "CONTAINERS IMAGES SELECTOR"),
        ("apps", "StatefulSet", "NAME READY AGE", "CONTAINERS IMAGES"),
        ("apps", "DaemonSet", "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE",
         "CONTAINERS IMAGES SELECTOR"),
        ("apps", "ControllerRevision", "NAME CONTROLLER REVISION AGE", ""),
        ("batch", "Job", "NAME STATUS COMPLETIONS DURATION AGE", "CONTAINERS IMAGES SELECTOR"),
        ("batch", "CronJob", "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE", "CONTAINERS IMAGES SELECTOR"),
        ("autoscaling", "HorizontalPodAutoscaler", "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", ""),
        ("policy", "PodDisruptionBudget", "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE", ""),
        ("coordination.k8s.io", "Lease", "NAME HOLDER AGE", ""),
        ("networking.k8s.io", "Ingress", "NAME CLASS HOSTS ADDRESS PORTS AGE", ""),
        ("networking.k8s.io", "IngressClass", "NAME CONTROLLER PARAMETERS AGE", ""),
        ("networking.k8s.io", "NetworkPolicy", "NAME POD-SELECTOR AGE", ""),
        ("discovery.k8s.io", "EndpointSlice", "NAME ADDRESSTYPE PORTS ENDPOINTS AGE", ""),
        ("rbac.authorization.k8s.io", "RoleBinding", "NAME ROLE AGE", "USERS GROUPS SERVICEACCOUNTS"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", "NAME ROLE AGE", "USERS GROUPS SERVICEACCOUNTS"),
        ("rbac.authorization.k8s.io", "Role", "NAME CREATED AT", ""),
        ("rbac.authorization.k8s.io", "ClusterRole", "NAME CREATED AT", ""),
        ("", "LimitRange", "NAME CREATED AT", ""),
        ("storage.k8s.io", "StorageClass",
         "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE", ""),
        ("scheduling.k8s.io", "PriorityClass", "NAME VALUE GLOBAL-DEFAULT AGE", "PREEMPTIONPOLICY"),
        ("apiregistration.k8s.io", "APIService", "NAME SERVICE AVAILABLE AGE", ""),
        ("stable.example.com", "CronTab", "NAME CREATED AT", ""),
    ],
)
def test_columns_as_kubectl_shows_them(group, kind, normal, wide):
    assert " ".join(headers(group, kind, wide=False)) == normal
    assert " ".join(headers(group, kind)) == (normal + " " + wide).strip()


def test_event_columns_interleave_wide_ones():
    assert " ".join(headers("", "Event", wide=False)) == "LAST SEEN TYPE REASON OBJECT MESSAGE"
    assert " ".join(headers("", "Event")) == (
        "LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME"
    )


def test_column_definition_fields():
    cols = printing.columns("", "Pod")
    assert cols[0]["name"] == "Name" and cols[0]["format"] == "name" and cols[0]["type"] == "string"
    assert cols[0]["description"].startswith("Name must be unique within a namespace.")
    assert set(cols[0]) == {"name", "type", "format", "description", "priority"}
    age = next(c for c in cols if c["name"] == "Age")
    assert age["type"] == "string" and age["description"].startswith("CreationTimestamp is a timestamp")
    assert next(c for c in cols if c["name"] == "Restarts")["type"] == "string"
    assert [c["priority"] for c in cols] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert next(c for c in printing.columns("apps", "ReplicaSet") if c["name"] == "Desired")["type"] == "integer"
    default = printing.columns("rbac.authorization.k8s.io", "Role")
    assert [(c["name"], c["type"], c["format"]) for c in default] == [("Name", "string", "name"), ("Created At", "date", "")]


# --- Pod ---

def pod(name, *, phase="Running", containers=1, statuses=(), init=None, init_statuses=(), conditions=(),
        reason=None, deleting=False, created=None):
    spec = {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    status = {"phase": phase, "containerStatuses": list(statuses), "conditions": list(conditions)}
    if init_statuses:
        status["initContainerStatuses"] = list(init_statuses)
    if reason:
        status["reason"] = reason
    meta = {"name": name}
    if created:
        meta["creationTimestamp"] = created
    if deleting:
        meta["deletionTimestamp"] = ago(seconds=10)
    return {"metadata": meta, "spec": spec, "status": status}


RUNNING = {"running": {}}
WAITING = {"waiting": {}}


def restarted(seconds_ago):
    return {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=seconds_ago)}}


@pytest.mark.parametrize(
    "obj, want",
    [
        # printers_test.go TestPrintPod
        (pod("test1", phase="podPhase", containers=2, statuses=[
            {"ready": True, "restartCount": 3, "state": RUNNING}, {"restartCount": 3}]),
         ["test1", "1/2", "podPhase", "6", "<unknown>"]),
        (pod("test2", phase="podPhase", containers=2, statuses=[
            {"ready": True, "restartCount": 3, "state": RUNNING},
            {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}}]),
         ["test2", "1/2", "ContainerWaitingReason", "6", "<unknown>"]),
        (pod("test3", phase="podPhase", containers=2, statuses=[
            {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}},
            {"restartCount": 3, "state": {"terminated": {"reason": "ContainerTerminatedReason"}}}]),
         ["test3", "0/2", "ContainerWaitingReason", "6", "<unknown>"]),
        (pod("test4", phase="podPhase", containers=2, statuses=[
            {"ready": True, "restartCount": 3, "state": RUNNING}, {"ready": True, "restartCount": 3}]),
         ["test4", "1/2", "podPhase", "6", "<unknown>"]),
        (pod("test5", phase="podPhase", reason="podReason", containers=2, statuses=[
            {"ready": True, "restartCount": 3, "state": RUNNING}, {"ready": True, "restartCount": 3}]),
         ["test5", "1/2", "podReason", "6", "<unknown>"]),
        (pod("test6", containers=2, statuses=[
            {"ready": True, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            {"ready": True, "restartCount": 3, "state": RUNNING}]),
         ["test6", "1/2", "NotReady", "6", "<unknown>"]),
        (pod("test6", containers=2, conditions=[{"type": "Ready", "status": "True"}], statuses=[
            {"ready": True, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            {"ready": True, "restartCount": 3, "state": RUNNING}]),
         ["test6", "1/2", "Running", "6", "<unknown>"]),
        (pod("test7", phase="podPhase", init=[{"name": "i0"}], init_statuses=[
            {"name": "i0", "restartCount": 3, "state": RUNNING, "lastState": restarted(10)}],
            statuses=[{"state": WAITING}]),
         ["test7", "0/1", "Init:0/1", "3 (10s ago)", "<unknown>"]),
        (pod("test8", phase="podPhase", init=[{"name": "i0"}, {"name": "i1"}], init_statuses=[
            {"name": "i0", "restartCount": 3, "state": RUNNING, "lastState": restarted(10)},
            {"name": "i1", "state": WAITING}], statuses=[{"state": WAITING}]),
         ["test8", "0/1", "Init:0/2", "3 (10s ago)", "<unknown>"]),
        (pod("test9", phase="podPhase", init=[{"name": "i0"}, {"name": "i1"}], init_statuses=[
            {"name": "i0", "state": {"terminated": {}}},
            {"name": "i1", "restartCount": 3, "state": RUNNING, "lastState": restarted(10)}],
            statuses=[{"state": WAITING}]),
         ["test9", "0/1", "Init:1/2", "3 (10s ago)", "<unknown>"]),
        (pod("test10", phase="podPhase", init=[{"name": "i0"}, {"name": "i1"}], init_statuses=[
            {"name": "i0", "restartCount": 2, "state": {"terminated": {}}, "lastState": restarted(120)},
            {"name": "i1", "restartCount": 3, "state": RUNNING, "lastState": restarted(10)}],
            statuses=[{"state": WAITING}]),
         ["test10", "0/1", "Init:1/2", "5 (10s ago)", "<unknown>"]),
        (pod("test11", init=[{"name": "i0"}], init_statuses=[
            {"name": "i0", "restartCount": 2, "state": {"terminated": {}}, "lastState": restarted(120)}],
            statuses=[{"restartCount": 4, "state": RUNNING, "lastState": restarted(20)}]),
         ["test11", "0/1", "Running", "4 (20s ago)", "<unknown>"]),
        (pod("test12", statuses=[{"ready": True, "restartCount": 3, "state": RUNNING,
                                  "lastState": restarted(5 * 86400)}]),
         ["test12", "1/1", "Running", "3 (5d ago)", "<unknown>"]),
        (pod("test14", containers=2, statuses=[
            {"ready": True, "restartCount": 6, "state": RUNNING, "lastState": restarted(5 * 86400)},
            {"ready": True, "restartCount": 3, "state": RUNNING, "lastState": restarted(20 * 86400)}]),
         ["test14", "2/2", "Running", "9 (5d ago)", "<unknown>"]),
        (pod("test15", phase="podPhase", containers=2, conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
         ["test15", "0/2", "SchedulingGated", "0", "<unknown>"]),
        (pod("test16", phase="Succeeded", statuses=[
            {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]),
         ["test16", "0/1", "Completed", "0", "<unknown>"]),
        (pod("test17", phase="Failed", statuses=[{"state": {"terminated": {"reason": "Error", "exitCode": 1}}}]),
         ["test17", "0/1", "Error", "0", "<unknown>"]),
        (pod("test18", phase="Succeeded", deleting=True, statuses=[
            {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]),
         ["test18", "0/1", "Completed", "0", "<unknown>"]),
        (pod("test19", deleting=True, statuses=[{"state": RUNNING}]),
         ["test19", "0/1", "Terminating", "0", "<unknown>"]),
        (pod("test20", phase="Pending", deleting=True),
         ["test20", "0/1", "Terminating", "0", "<unknown>"]),
    ],
)
def test_pod_status_cases_from_upstream(obj, want):
    assert cells("", "Pod", obj)[:5] == want


@pytest.mark.parametrize(
    "obj, status",
    [
        (pod("p", phase="Pending"), "Pending"),
        (pod("p", phase="Pending", statuses=[{"state": {"waiting": {"reason": "ContainerCreating"}}}]),
         "ContainerCreating"),
        (pod("p", statuses=[{"restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
         "CrashLoopBackOff"),
        (pod("p", statuses=[{"state": {"terminated": {"exitCode": 137}}}]), "ExitCode:137"),
        (pod("p", statuses=[{"state": {"terminated": {"exitCode": 0, "signal": 9}}}]), "Signal:9"),
        (pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[
            {"name": "i", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]), "Init:CrashLoopBackOff"),
        (pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[
            {"name": "i", "state": {"waiting": {"reason": "PodInitializing"}}}]), "Init:0/1"),
        (pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[
            {"name": "i", "state": {"terminated": {"reason": "Error", "exitCode": 1}}}]), "Init:Error"),
        (pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[
            {"name": "i", "state": {"terminated": {"exitCode": 2}}}]), "Init:ExitCode:2"),
        (pod("p", reason="NodeLost", deleting=True, statuses=[{"state": RUNNING}]), "Unknown"),
        (pod("p", phase="Failed", reason="Evicted"), "Evicted"),
    ],
)
def test_pod_status_as_kubectl_shows_it(obj, status):
    assert cells("", "Pod", obj)[2] == status


def test_sidecar_init_containers_count_once_started():
    sidecar = {"name": "proxy", "restartPolicy": "Always"}
    obj = pod("web", init=[sidecar], conditions=[{"type": "Initialized", "status": "True"}],
              init_statuses=[{"name": "proxy", "started": True, "ready": True, "restartCount": 2,
                              "state": RUNNING, "lastState": restarted(300)}],
              statuses=[{"ready": True, "state": RUNNING}])
    assert cells("", "Pod", obj)[:4] == ["web", "2/2", "Running", "2 (5m ago)"]
    starting = pod("web", phase="Pending", init=[sidecar], statuses=[{"state": WAITING}],
                   init_statuses=[{"name": "proxy", "started": False, "state": RUNNING}],
                   conditions=[{"type": "Initialized", "status": "False"}])
    assert cells("", "Pod", starting)[1:3] == ["0/2", "Init:0/1"]


def test_pod_wide_cells():
    obj = pod("web-1", created=ago(minutes=5), statuses=[{"ready": True, "state": RUNNING}])
    obj["spec"].update(nodeName="node-1", readinessGates=[{"conditionType": "a"}, {"conditionType": "b"}])
    obj["status"].update(podIP="10.244.1.5", podIPs=[{"ip": "10.244.1.5"}, {"ip": "fd00::5"}],
                         nominatedNodeName="node-2", conditions=[{"type": "a", "status": "True"}])
    assert cells("", "Pod", obj) == ["web-1", "1/1", "Running", "0", "5m", "10.244.1.5", "node-1", "node-2", "1/2"]
    bare = pod("pending", phase="Pending")
    assert cells("", "Pod", bare)[5:] == ["<none>", "<none>", "<none>", "<none>"]


# --- Node ---

def node(name, *, ready=None, unschedulable=False, labels=None, addresses=(), info=None):
    status = {"addresses": list(addresses), "nodeInfo": info or {}}
    if ready is not None:
        status["conditions"] = [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": ready}]
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"unschedulable": unschedulable},
            "status": status}


@pytest.mark.parametrize(
    "obj, want",
    [
        (node("foo1", addresses=[{"type": "InternalIP", "address": "1.1.1.1"}]),
         ["foo1", "Unknown", "<none>", "<unknown>", "", "1.1.1.1", "<none>", "<unknown>", "<unknown>", "<unknown>"]),
        (node("foo2", addresses=[{"type": "ExternalIP", "address": "1.1.1.1"}]),
         ["foo2", "Unknown", "<none>", "<unknown>", "", "<none>", "1.1.1.1", "<unknown>", "<unknown>", "<unknown>"]),
        (node("foo3", addresses=[{"type": "InternalIP", "address": "2.2.2.2"},
                                 {"type": "ExternalIP", "address": "3.3.3.3"},
                                 {"type": "InternalIP", "address": "4.4.4.4"}]),
         ["foo3", "Unknown", "<none>", "<unknown>", "", "2.2.2.2", "3.3.3.3", "<unknown>", "<unknown>", "<unknown>"]),
    ],
)
def test_node_addresses(obj, want):
    assert cells("", "Node", obj) == want


@pytest.mark.parametrize(
    "obj, status",
    [
        (node("n", ready="True"), "Ready"),
        (node("n", ready="True", unschedulable=True), "Ready,SchedulingDisabled"),
        (node("n", ready="False"), "NotReady"),
        (node("n", ready="Unknown"), "NotReady"),
        (node("n", unschedulable=True), "Unknown,SchedulingDisabled"),
    ],
)
def test_node_status(obj, status):
    assert cells("", "Node", obj)[1] == status


def test_node_roles_version_and_system_info():
    obj = node("cp-1", ready="True", labels={"node-role.kubernetes.io/control-plane": "",
                                             "node-role.kubernetes.io/": "", "kubernetes.io/role": "etcd"},
               info={"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12 (bookworm)",
                     "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "kybernetes://0.1.0"})
    obj["metadata"]["creationTimestamp"] = ago(days=2, hours=5)
    assert cells("", "Node", obj) == [
        "cp-1", "Ready", "control-plane,etcd", "2d5h", "v1.32.4", "<none>", "<none>",
        "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "kybernetes://0.1.0",
    ]


# --- Service, Endpoints, EndpointSlice, Ingress ---

def service(name, type_, *, cluster_ip="10.96.0.10", ports=(), lb=(), external=(), selector=None, **spec):
    obj = {"metadata": {"name": name, "creationTimestamp": ago(hours=1)},
           "spec": {"type": type_, "ports": list(ports), **spec}, "status": {}}
    if cluster_ip is not None:
        obj["spec"].update(clusterIP=cluster_ip, clusterIPs=[cluster_ip])
    if selector is not None:
        obj["spec"]["selector"] = selector
    if external:
        obj["spec"]["externalIPs"] = list(external)
    if lb:
        obj["status"]["loadBalancer"] = {"ingress": list(lb)}
    return obj


@pytest.mark.parametrize(
    "obj, want",
    [
        (service("kubernetes", "ClusterIP", cluster_ip="10.96.0.1",
                 ports=[{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]),
         ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "60m", "<none>"]),
        (service("dns", "ClusterIP", ports=[{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                 selector={"k8s-app": "kube-dns"}),
         ["dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "60m", "k8s-app=kube-dns"]),
        (service("web", "NodePort", ports=[{"port": 80, "protocol": "TCP", "nodePort": 30080}],
                 selector={"app": "web", "tier": "front"}),
         ["web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP", "60m", "app=web,tier=front"]),
        (service("headless", "ClusterIP", cluster_ip="None"),
         ["headless", "ClusterIP", "None", "<none>", "<none>", "60m", "<none>"]),
        (service("ext", "ExternalName", cluster_ip=None, externalName="example.com"),
         ["ext", "ExternalName", "<none>", "example.com", "<none>", "60m", "<none>"]),
        (service("service1", "LoadBalancer", cluster_ip="1.2.3.4", ports=[{"port": 80, "protocol": "TCP"}],
                 lb=[{"ip": "2.3.4.5"}, {"ip": "3.4.5.6"}]),
         ["service1", "LoadBalancer", "1.2.3.4", "2.3.4.5,3.4.5.6", "80/TCP", "60m", "<none>"]),
        (service("service2", "LoadBalancer", cluster_ip="1.3.4.5", ports=[
            {"port": 80, "protocol": "TCP"}, {"port": 8090, "protocol": "UDP"},
            {"port": 8000, "protocol": "TCP"}, {"port": 7777, "protocol": "SCTP"}]),
         ["service2", "LoadBalancer", "1.3.4.5", "<pending>", "80/TCP,8090/UDP,8000/TCP,7777/SCTP", "60m", "<none>"]),
        # The server prints wide, so a long load balancer list is not elided.
        (service("service4", "LoadBalancer", cluster_ip="1.5.6.7", ports=[{"port": 80, "protocol": "TCP"}],
                 lb=[{"ip": "2.3.4.5"}, {"ip": "3.4.5.6"}, {"ip": "5.6.7.8", "hostname": "host5678"}],
                 selector={"foo": "bar"}),
         ["service4", "LoadBalancer", "1.5.6.7", "2.3.4.5,3.4.5.6,5.6.7.8", "80/TCP", "60m", "foo=bar"]),
        (service("both", "LoadBalancer", lb=[{"hostname": "lb.example.com"}], external=["9.9.9.9"]),
         ["both", "LoadBalancer", "10.96.0.10", "lb.example.com,9.9.9.9", "<none>", "60m", "<none>"]),
    ],
)
def test_service(obj, want):
    assert cells("", "Service", obj) == want


@pytest.mark.parametrize(
    "subsets, want",
    [
        ([], "<none>"),
        ([{"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.1.7"}], "ports": [{"port": 8080}]}],
         "10.244.0.5:8080,10.244.1.7:8080"),
        ([{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)], "ports": [{"port": 80}]}],
         "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."),
        ([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}], "10.0.0.1,10.0.0.2"),
        ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}], "[fd00::1]:53"),
    ],
)
def test_endpoints(subsets, want):
    obj = {"metadata": {"name": "web", "creationTimestamp": ago(seconds=30)}, "subsets": subsets}
    assert cells("", "Endpoints", obj) == ["web", want, "30s"]


def test_endpoint_slice():
    obj = {"metadata": {"name": "web-abc12", "creationTimestamp": ago(minutes=2)}, "addressType": "IPv4",
           "ports": [{"name": "http", "port": 80}, {"name": "metrics"}],
           "endpoints": [{"addresses": [f"10.0.0.{i}"]} for i in range(1, 6)]}
    assert cells("discovery.k8s.io", "EndpointSlice", obj) == [
        "web-abc12", "IPv4", "80,metrics", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "2m",
    ]
    empty = {"metadata": {"name": "e"}, "addressType": "IPv6"}
    assert cells("discovery.k8s.io", "EndpointSlice", empty) == ["e", "IPv6", "<unset>", "<unset>", "<unknown>"]


def test_ingress_and_ingress_class():
    ing = {"metadata": {"name": "test1", "creationTimestamp": ago(days=3650)},
           "spec": {"ingressClassName": "foo", "defaultBackend": {"service": {"name": "b", "port": {"number": 80}}}},
           "status": {"loadBalancer": {"ingress": [{"ip": "2.3.4.5", "hostname": "localhost.localdomain"}]}}}
    assert cells("networking.k8s.io", "Ingress", ing) == ["test1", "foo", "*", "2.3.4.5", "80", "10y"]
    ing2 = {"metadata": {"name": "web"}, "spec": {"rules": [{"host": f"h{i}.example.com"} for i in range(5)],
                                                  "tls": [{"hosts": ["h0.example.com"]}]}}
    assert cells("networking.k8s.io", "Ingress", ing2)[1:5] == [
        "<none>", "h0.example.com,h1.example.com,h2.example.com + 2 more...", "", "80, 443"]
    params = {"metadata": {"name": "test1", "creationTimestamp": ago(days=3650)},
              "spec": {"controller": "example.com/controller", "parameters": {"kind": "customgroup", "name": "example"}}}
    assert cells("networking.k8s.io", "IngressClass", params) == [
        "test1", "example.com/controller", "customgroup/example", "10y"]
    params["spec"]["parameters"]["apiGroup"] = "example.com"
    assert cells("networking.k8s.io", "IngressClass", params)[2] == "customgroup.example.com/example"
    bare = {"metadata": {"name": "test2", "creationTimestamp": ago(days=11 * 365)},
            "spec": {"controller": "example.com/controller2"}}
    assert cells("networking.k8s.io", "IngressClass", bare) == ["test2", "example.com/controller2", "<none>", "11y"]


# --- simple core kinds ---

def test_namespace_configmap_secret_serviceaccount():
    meta = {"name": "x", "creationTimestamp": ago(days=2)}
    assert cells("", "Namespace", {"metadata": meta, "status": {"phase": "Active"}}) == ["x", "Active", "2d"]
    cm = {"metadata": meta, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("", "ConfigMap", cm) == ["x", 3, "2d"]
    assert cells("", "ConfigMap", {"metadata": meta}) == ["x", 0, "2d"]
    secret = {"metadata": meta, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert cells("", "Secret", secret) == ["x", "kubernetes.io/tls", 2, "2d"]
    assert cells("", "ServiceAccount", {"metadata": meta}) == ["x", 0, "2d"]


def test_component_status_and_pod_template():
    cs = {"metadata": {"name": "etcd-0"}, "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]}
    assert cells("", "ComponentStatus", cs) == ["etcd-0", "Healthy", "ok", ""]
    bad = {"metadata": {"name": "scheduler"},
           "conditions": [{"type": "Healthy", "status": "False", "error": "connection refused"}]}
    assert cells("", "ComponentStatus", bad) == ["scheduler", "Unhealthy", "", "connection refused"]
    tpl = {"metadata": {"name": "tpl"}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
        "containers": [{"name": "a", "image": "img-a"}, {"name": "b", "image": "img-b"}]}}}
    assert cells("", "PodTemplate", tpl) == ["tpl", "a,b", "img-a,img-b", "app=web"]


def test_replication_controller():
    rc = {"metadata": {"name": "rc", "creationTimestamp": ago(minutes=20)},
          "spec": {"replicas": 3, "selector": {"app": "web"},
                   "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
          "status": {"replicas": 3, "readyReplicas": 2}}
    assert cells("", "ReplicationController", rc) == ["rc", 3, 3, 2, "20m", "web", "nginx:1.27", "app=web"]


# --- Event ---

def test_core_event():
    ev = {"metadata": {"name": "web-1.17c3a1"}, "type": "Normal", "reason": "Pulled", "count": 3,
          "message": " Successfully pulled image \"nginx\"\n",
          "firstTimestamp": ago(minutes=10), "lastTimestamp": ago(minutes=5),
          "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
          "source": {"component": "kubelet", "host": "node-1"}}
    assert cells("", "Event", ev) == [
        "5m", "Normal", "Pulled", "pod/web-1", "spec.containers{web}", "kubelet, node-1",
        'Successfully pulled image "nginx"', "10m", 3, "web-1.17c3a1",
    ]


def test_new_api_event_and_series():
    ev = {"metadata": {"name": "e1"}, "type": "Warning", "reason": "FailedScheduling",
          "eventTime": "2024-05-01T11:58:00.000000Z", "note": "0/1 nodes are available",
          "regarding": {"kind": "Pod", "name": "web-1"}, "reportingController": "default-scheduler",
          "reportingInstance": "default-scheduler-cp-1"}
    assert cells("events.k8s.io", "Event", ev) == [
        "2m", "Warning", "FailedScheduling", "pod/web-1", "", "default-scheduler, default-scheduler-cp-1",
        "0/1 nodes are available", "2m", 1, "e1",
    ]
    core = {"metadata": {"name": "e2"}, "eventTime": "2024-05-01T11:50:00.000000Z", "reportingComponent": "kubelet",
            "involvedObject": {"kind": "Node"}, "series": {"count": 5, "lastObservedTime": "2024-05-01T11:59:30.000000Z"}}
    assert cells("", "Event", core) == ["30s", "", "", "node", "", "kubelet", "", "10m", 5, "e2"]


# --- storage, quota ---

def test_persistent_volumes_and_claims():
    pv = {"metadata": {"name": "pv1", "creationTimestamp": ago(hours=1)},
          "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                   "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
                   "claimRef": {"namespace": "default", "name": "claim1"}, "volumeMode": "Filesystem"},
          "status": {"phase": "Bound"}}
    assert cells("", "PersistentVolume", pv) == [
        "pv1", "10Gi", "RWO,RWX", "Retain", "Bound", "default/claim1", "fast", "<unset>", "", "60m", "Filesystem"]
    pv["metadata"]["deletionTimestamp"] = ago(seconds=1)
    assert cells("", "PersistentVolume", pv)[4] == "Terminating"
    bound = {"metadata": {"name": "claim1", "creationTimestamp": ago(hours=1)},
             "spec": {"volumeName": "pv1", "storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}},
             "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}}
    assert cells("", "PersistentVolumeClaim", bound) == [
        "claim1", "Bound", "pv1", "10Gi", "RWO", "fast", "<unset>", "60m", "<unset>"]
    pending = {"metadata": {"name": "c2", "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
               "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}}
    assert cells("", "PersistentVolumeClaim", pending) == [
        "c2", "Pending", "", "", "", "old", "<unset>", "<unknown>", "<unset>"]


def test_resource_quota_splits_requests_and_limits():
    quota = {"metadata": {"name": "compute", "creationTimestamp": ago(hours=2)},
             "status": {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2"},
                        "used": {"pods": "1", "requests.cpu": "500m"}}}
    assert cells("", "ResourceQuota", quota) == [
        "compute", "pods: 1/10, requests.cpu: 500m/1", "limits.cpu: 0/2, limits.memory: 0/2Gi", "120m"]


# --- workloads ---

TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "fluentbit"}]}}


def test_deployment_replicaset_statefulset_daemonset():
    meta = {"name": "web", "creationTimestamp": ago(minutes=7, seconds=30)}
    selector = {"matchLabels": {"app": "web"}}
    dep = {"metadata": meta, "spec": {"replicas": 3, "selector": selector, "template": TEMPLATE},
           "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert cells("apps", "Deployment", dep) == [
        "web", "2/3", 3, 2, "7m30s", "web,log", "nginx:1.27,fluentbit", "app=web"]
    assert cells("apps", "Deployment", {"metadata": meta, "spec": {"template": TEMPLATE}})[1:4] == ["0/1", 0, 0]
    rs = {"metadata": meta, "spec": {"replicas": 3, "selector": selector, "template": TEMPLATE},
          "status": {"replicas": 3, "readyReplicas": 1}}
    assert cells("apps", "ReplicaSet", rs) == ["web", 3, 3, 1, "7m30s", "web,log", "nginx:1.27,fluentbit", "app=web"]
    sts = {"metadata": meta, "spec": {"replicas": 3, "template": TEMPLATE}, "status": {"readyReplicas": 1}}
    assert cells("apps", "StatefulSet", sts) == ["web", "1/3", "7m30s", "web,log", "nginx:1.27,fluentbit"]
    ds = {"metadata": meta, "spec": {"selector": selector, "template": {
        "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, **TEMPLATE["spec"]}}},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                   "updatedNumberScheduled": 2, "numberAvailable": 1}}
    assert cells("apps", "DaemonSet", ds) == [
        "web", 2, 2, 1, 2, 1, "kubernetes.io/os=linux", "7m30s", "web,log", "nginx:1.27,fluentbit", "app=web"]


def test_controller_revision():
    cr = {"metadata": {"name": "web-7d4b9c", "creationTimestamp": ago(hours=3),
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                            "controller": True}]}, "revision": 2}
    assert cells("apps", "ControllerRevision", cr) == ["web-7d4b9c", "statefulset.apps/web", 2, "3h"]
    cr["metadata"]["ownerReferences"] = []
    assert cells("apps", "ControllerRevision", cr)[1] == "<none>"


def job(name, *, completions=None, parallelism=None, succeeded=0, conditions=(), start=None, end=None, **meta):
    spec = {"template": TEMPLATE, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}}
    if completions is not None:
        spec["completions"] = completions
    if parallelism is not None:
        spec["parallelism"] = parallelism
    status = {"succeeded": succeeded, "conditions": list(conditions)}
    if start:
        status["startTime"] = start
    if end:
        status["completionTime"] = end
    return {"metadata": {"name": name, **meta}, "spec": spec, "status": status}


@pytest.mark.parametrize(
    "obj, want",
    [
        # Created 1.9s in the future (clock skew) reads 0s, as upstream's TestPrintJob.
        (job("job1", completions=2, succeeded=1, creationTimestamp=(NOW + timedelta(seconds=1.9)).isoformat()),
         ["job1", "Running", "1/2", "", "0s"]),
        (job("pi", completions=1, succeeded=1, start=ago(minutes=40), end=ago(minutes=9),
             conditions=[{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}],
             creationTimestamp=ago(minutes=40)),
         ["pi", "Complete", "1/1", "31m", "40m"]),
        (job("run", start=ago(minutes=5), creationTimestamp=ago(minutes=5)),
         ["run", "Running", "0/1", "5m", "5m"]),
        (job("par", parallelism=3), ["par", "Running", "0/1 of 3", "", "<unknown>"]),
        (job("bad", completions=3, conditions=[{"type": "FailureTarget", "status": "True"},
                                               {"type": "Failed", "status": "True"}]),
         ["bad", "Failed", "0/3", "", "<unknown>"]),
        (job("ft", completions=3, conditions=[{"type": "FailureTarget", "status": "True"}]),
         ["ft", "FailureTarget", "0/3", "", "<unknown>"]),
        (job("sus", completions=3, conditions=[{"type": "Suspended", "status": "True"}]),
         ["sus", "Suspended", "0/3", "", "<unknown>"]),
        (job("del", completions=3, deletionTimestamp=ago(seconds=1)),
         ["del", "Terminating", "0/3", "", "<unknown>"]),
    ],
)
def test_job(obj, want):
    row = cells("batch", "Job", obj)
    assert row[:5] == want
    assert row[5:] == ["web,log", "nginx:1.27,fluentbit", "batch.kubernetes.io/controller-uid=u1"]


def test_cron_job():
    cj = {"metadata": {"name": "hello", "creationTimestamp": ago(hours=1)},
          "spec": {"schedule": "*/5 * * * *", "suspend": False,
                   "jobTemplate": {"spec": {"template": TEMPLATE}}},
          "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(minutes=3)}}
    assert cells("batch", "CronJob", cj) == [
        "hello", "*/5 * * * *", "<none>", "False", 1, "3m", "60m", "web,log", "nginx:1.27,fluentbit", "<none>"]
    cj["spec"].update(timeZone="Etc/UTC")
    del cj["spec"]["suspend"]
    cj["status"] = {}
    assert cells("batch", "CronJob", cj)[2:6] == ["Etc/UTC", "<unset>", 0, "<none>"]


def hpa(metrics=None, current=None, **spec):
    obj = {"metadata": {"name": "web", "creationTimestamp": ago(minutes=3)},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 10, **spec},
           "status": {"currentReplicas": 2}}
    if metrics is not None:
        obj["spec"]["metrics"] = metrics
    if current is not None:
        obj["status"]["currentMetrics"] = current
    return obj


CPU80 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}


@pytest.mark.parametrize(
    "obj, targets, min_pods",
    [
        (hpa([CPU80], minReplicas=1), "cpu: <unknown>/80%", "1"),
        (hpa([CPU80], [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 50}}}]),
         "cpu: 50%/80%", "<unset>"),
        (hpa([{"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                             "averageValue": "100Mi"}}}]),
         "memory: <unknown>/100Mi", "<unset>"),
        (hpa([{"type": "Pods", "pods": {"target": {"averageValue": "1k"}}}]), "<unknown>/1k", "<unset>"),
        (hpa([{"type": "External", "external": {"target": {"averageValue": "30"}}}]), "<unknown>/30 (avg)", "<unset>"),
        (hpa([CPU80, CPU80, CPU80]), "cpu: <unknown>/80%, cpu: <unknown>/80% + 1 more...", "<unset>"),
        (hpa([]), "<none>", "<unset>"),
        (hpa(targetCPUUtilizationPercentage=50), "cpu: <unknown>/50%", "<unset>"),
    ],
)
def test_horizontal_pod_autoscaler(obj, targets, min_pods):
    assert cells("autoscaling", "HorizontalPodAutoscaler", obj) == [
        "web", "Deployment/web", targets, min_pods, 10, 2, "3m"]


def test_pod_disruption_budget():
    pdb = {"metadata": {"name": "web"}, "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}
    assert cells("policy", "PodDisruptionBudget", pdb) == ["web", "2", "N/A", 1, "<unknown>"]
    pdb["spec"] = {"maxUnavailable": "25%"}
    assert cells("policy", "PodDisruptionBudget", pdb)[1:3] == ["N/A", "25%"]


# --- cluster kinds ---

def test_rbac_bindings():
    rb = {"metadata": {"name": "rb", "creationTimestamp": ago(hours=1)},
          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
          "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                       {"kind": "User", "name": "bob"},
                       {"kind": "ServiceAccount", "namespace": "kube-system", "name": "robot"}]}
    assert cells("rbac.authorization.k8s.io", "RoleBinding", rb) == [
        "rb", "ClusterRole/admin", "60m", "alice, bob", "devs", "kube-system/robot"]
    assert cells("rbac.authorization.k8s.io", "ClusterRoleBinding", {"metadata": {"name": "c"}, "roleRef": {
        "kind": "ClusterRole", "name": "view"}}) == ["c", "ClusterRole/view", "<unknown>", "", "", ""]


def test_storage_class_priority_class_lease_network_policy():
    sc = {"metadata": {"name": "standard", "creationTimestamp": ago(days=1),
                       "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
          "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    assert cells("storage.k8s.io", "StorageClass", sc) == [
        "standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "24h"]
    pc = {"metadata": {"name": "system-node-critical"}, "value": 2000001000, "globalDefault": False,
          "preemptionPolicy": "PreemptLowerPriority"}
    assert cells("scheduling.k8s.io", "PriorityClass", pc) == [
        "system-node-critical", 2000001000, False, "<unknown>", "PreemptLowerPriority"]
    lease = {"metadata": {"name": "node-1", "creationTimestamp": ago(seconds=40)}, "spec": {"holderIdentity": "node-1"}}
    assert cells("coordination.k8s.io", "Lease", lease) == ["node-1", "node-1", "40s"]
    np = {"metadata": {"name": "deny"}, "spec": {"podSelector": {}}}
    assert cells("networking.k8s.io", "NetworkPolicy", np) == ["deny", "<none>", "<unknown>"]
    np["spec"]["podSelector"] = {"matchLabels": {"app": "web"}}
    assert cells("networking.k8s.io", "NetworkPolicy", np)[1] == "app=web"


def test_api_service():
    local = {"metadata": {"name": "v1.apps", "creationTimestamp": ago(days=3)},
             "spec": {"group": "apps", "version": "v1"},
             "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}}
    assert cells("apiregistration.k8s.io", "APIService", local) == ["v1.apps", "Local", "True", "3d"]
    remote = {"metadata": {"name": "v1beta1.metrics.k8s.io"},
              "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
              "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}}
    assert cells("apiregistration.k8s.io", "APIService", remote)[1:3] == [
        "kube-system/metrics-server", "False (MissingEndpoints)"]


def test_default_table_for_kinds_without_a_printer():
    role = {"metadata": {"name": "pod-reader", "creationTimestamp": "2024-05-01T10:00:00Z"}}
    assert cells("rbac.authorization.k8s.io", "Role", role) == ["pod-reader", "2024-05-01T10:00:00Z"]
    assert cells("", "LimitRange", {"metadata": {"name": "lr"}}) == ["lr", "0001-01-01T00:00:00Z"]
    assert not printing.has_printer("stable.example.com", "CronTab")
    assert printing.has_printer("", "Pod")


# --- the Table ---

def test_table_with_partial_object_metadata():
    pods = [pod("a", created=ago(minutes=1), statuses=[{"ready": True, "state": RUNNING}]),
            pod("b", phase="Succeeded", statuses=[{"state": {"terminated": {"reason": "Completed"}}}])]
    pods[0]["metadata"]["namespace"] = "default"
    table = printing.table("", "Pod", pods, NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {}
    assert [c["name"] for c in table["columnDefinitions"]][:3] == ["Name", "Ready", "Status"]
    first, second = table["rows"]
    assert first["cells"][:3] == ["a", "1/1", "Running"]
    assert first["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": pods[0]["metadata"]}
    assert "conditions" not in first
    assert second["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                     "message": "The pod has completed successfully."}]


def test_table_include_object_modes_and_no_headers():
    obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cm"}, "data": {"k": "v"}}
    full = printing.table("", "ConfigMap", [obj], NOW, include_object="Object")
    assert full["rows"][0]["object"] is obj
    bare = printing.table("", "ConfigMap", [obj], NOW, include_object="None", no_headers=True)
    assert bare["rows"] == [{"cells": ["cm", 1, "<unknown>"]}]
    assert bare["columnDefinitions"] == []
    assert printing.table("", "ConfigMap", [], NOW)["rows"] == []
    failed = pod("f", phase="Failed")
    assert printing.row_conditions("", "Pod", failed)[0]["reason"] == "Failed"
    assert printing.row_conditions("", "ConfigMap", obj) is None
