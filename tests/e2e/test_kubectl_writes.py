"""kubectl's write commands against ``kyb server``, as users run them.

They check what the API server answers, so they run against the API server
alone: no controller writes (a Deployment's status, say) between a command
and the check that follows it.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap

import pytest
from tests.e2e.cluster import read_lines_until


@pytest.fixture
def kubectl(api_kubectl):
    return api_kubectl


@pytest.fixture
def namespace(ns):
    return ns

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: nginx
            image: nginx:1.25
            ports:
            - containerPort: 80
            env:
            - name: A
              value: "1"
    """)


def test_create_deployment_gets_defaults(kubectl, namespace):
    kubectl("create", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    d = kubectl.json("get", "deployment", "web", "-n", namespace)
    assert d["spec"]["strategy"] == {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10
    assert d["spec"]["progressDeadlineSeconds"] == 600
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["ports"][0]["protocol"] == "TCP"
    assert d["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert d["metadata"]["generation"] == 1
    assert d["metadata"]["uid"] and d["metadata"]["creationTimestamp"]
    again = kubectl.run("create", "-n", namespace, "-f", "-", input=DEPLOYMENT, check=False)
    assert again.returncode != 0
    assert 'deployments.apps "web" already exists' in again.stderr


def test_client_side_apply_unchanged_then_changed(kubectl, namespace):
    out = kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    assert "deployment.apps/web created" in out
    rv = kubectl.json("get", "deployment", "web", "-n", namespace)["metadata"]["resourceVersion"]
    out = kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    assert "deployment.apps/web unchanged" in out
    assert kubectl.json("get", "deployment", "web", "-n", namespace)["metadata"]["resourceVersion"] == rv
    # A field set by someone else survives a changed apply that does not mention it.
    kubectl("annotate", "deployment", "web", "-n", namespace, "owner=team-a")
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3").replace("nginx:1.25", "nginx:1.26")
    out = kubectl("apply", "-n", namespace, "-f", "-", input=changed)
    assert "deployment.apps/web configured" in out
    d = kubectl.json("get", "deployment", "web", "-n", namespace)
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert d["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert d["metadata"]["annotations"]["owner"] == "team-a"
    assert d["metadata"]["generation"] == 2


def test_server_side_apply(kubectl, namespace):
    out = kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    assert "deployment.apps/web serverside-applied" in out
    rv = kubectl.json("get", "deployment", "web", "-n", namespace)["metadata"]["resourceVersion"]
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    d = kubectl.json("get", "deployment", "web", "-n", namespace, "--show-managed-fields")
    assert d["metadata"]["resourceVersion"] == rv
    managers = {m["manager"] for m in d["metadata"]["managedFields"]}
    assert "kubectl" in managers
    # Another manager takes replicas; applying a different value conflicts.
    kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=5")
    result = kubectl.run("apply", "--server-side", "-n", namespace, "-f", "-",
                         input=DEPLOYMENT.replace("replicas: 2", "replicas: 4"), check=False)
    assert result.returncode != 0
    assert "conflict" in result.stderr and ".spec.replicas" in result.stderr
    kubectl("apply", "--server-side", "--force-conflicts", "-n", namespace, "-f", "-",
            input=DEPLOYMENT.replace("replicas: 2", "replicas: 4"))
    assert kubectl.json("get", "deployment", "web", "-n", namespace)["spec"]["replicas"] == 4


def test_patch_strategic_merge_and_json(kubectl, namespace):
    kubectl("create", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    kubectl("patch", "deployment", "web", "-n", namespace, "-p",
            json.dumps({"spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "image": "busybox"}]}}}}))
    names = [c["name"] for c in kubectl.json("get", "deployment", "web", "-n", namespace)
             ["spec"]["template"]["spec"]["containers"]]
    # Strategic merge: merged by name (the new item first, as upstream orders
    # a patch without $setElementOrder), the existing container untouched.
    assert sorted(names) == ["nginx", "sidecar"]
    kubectl("patch", "deployment", "web", "-n", namespace, "--type=merge", "-p",
            json.dumps({"metadata": {"labels": {"extra": "yes"}}}))
    assert kubectl.json("get", "deployment", "web", "-n", namespace)["metadata"]["labels"]["extra"] == "yes"
    kubectl("patch", "deployment", "web", "-n", namespace, "--type=json", "-p",
            json.dumps([{"op": "replace", "path": "/spec/replicas", "value": 7}]))
    assert kubectl.json("get", "deployment", "web", "-n", namespace)["spec"]["replicas"] == 7


def test_stale_update_is_409_conflict(kubectl, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}')
    cm = kubectl.json("get", "configmap", "c", "-n", namespace)
    kubectl("label", "configmap", "c", "-n", namespace, "x=y")
    cm["data"]["a"] = "2"
    result = kubectl.run("replace", "-n", namespace, "-f", "-", input=json.dumps(cm), check=False)
    assert result.returncode != 0
    assert ('Operation cannot be fulfilled on configmaps "c": the object has been modified; '
            'please apply your changes to the latest version and try again') in result.stderr


def test_replace_label_annotate_set_image_scale(kubectl, namespace):
    kubectl("create", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    d = kubectl.json("get", "deployment", "web", "-n", namespace)
    d["spec"]["replicas"] = 4
    kubectl("replace", "-n", namespace, "-f", "-", input=json.dumps(d))
    kubectl("label", "deployment", "web", "-n", namespace, "team=blue")
    kubectl("annotate", "deployment", "web", "-n", namespace, "note=hello")
    kubectl("set", "image", "deployment/web", "-n", namespace, "nginx=nginx:1.27")
    kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=6")
    d = kubectl.json("get", "deployment", "web", "-n", namespace)
    assert d["spec"]["replicas"] == 6
    assert d["metadata"]["labels"]["team"] == "blue"
    assert d["metadata"]["annotations"]["note"] == "hello"
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_edit_with_an_editor_script(kubectl, namespace, tmp_path):
    kubectl("apply", "-n", namespace, "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ed"},"data":{"color":"red"}}')
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/color: red/color: green/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    kubectl("edit", "configmap", "ed", "-n", namespace, env={"KUBE_EDITOR": str(editor)})
    assert kubectl.json("get", "configmap", "ed", "-n", namespace)["data"]["color"] == "green"


def test_create_generators(kubectl, namespace):
    kubectl("create", "secret", "generic", "s", "-n", namespace, "--from-literal=password=hunter2")
    kubectl("create", "deployment", "d", "-n", namespace, "--image=busybox", "--replicas=2")
    kubectl("create", "service", "clusterip", "svc", "-n", namespace, "--tcp=80:8080")
    secret = kubectl.json("get", "secret", "s", "-n", namespace)
    assert secret["type"] == "Opaque" and secret["data"]["password"] == "aHVudGVyMg=="
    svc = kubectl.json("get", "service", "svc", "-n", namespace)
    assert svc["spec"]["clusterIP"].startswith("10.")
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    out = kubectl("get", "service", "svc", "-n", namespace)
    assert "ClusterIP" in out and "80/TCP" in out


def test_delete_with_wait_and_describe(kubectl, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"gone"}}')
    out = kubectl("delete", "configmap", "gone", "-n", namespace, "--wait")
    assert 'configmap "gone" deleted' in out
    assert kubectl.run("get", "configmap", "gone", "-n", namespace, check=False).returncode == 1
    kubectl("create", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    out = kubectl("describe", "deployment", "web", "-n", namespace)
    assert "Name:" in out and "web" in out and "Replicas:" in out


def test_wait_for_jsonpath(kubectl, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"data":{"ready":"yes"}}')
    out = kubectl("wait", "configmap/w", "-n", namespace, "--for=jsonpath={.data.ready}=yes",
                  "--timeout=20s")
    assert "condition met" in out


def test_watch_streams_changes(kubectl, namespace):
    proc = kubectl.popen("get", "configmaps", "-n", namespace, "-w", "-o", "name")
    try:
        import time
        time.sleep(1.5)
        kubectl("apply", "-n", namespace, "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"watched"}}')
        seen = "".join(read_lines_until(proc, lambda lines: "configmap/watched\n" in lines))
        assert "configmap/watched" in seen
    finally:
        proc.kill()
        proc.wait()
