"""The real kubectl against ``kyb server``: discovery, reads, errors."""

from __future__ import annotations

import json
import subprocess

import pytest


def test_version_reports_1_32(kubectl):
    out = json.loads(kubectl("version", "-o", "json"))
    assert out["serverVersion"]["major"] == "1"
    assert out["serverVersion"]["minor"] == "32"


def test_api_resources_lists_every_served_kind(kubectl):
    out = kubectl("api-resources")
    for line in ("pods", "deployments", "statefulsets", "cronjobs", "endpointslices", "leases",
                 "clusterrolebindings", "priorityclasses", "horizontalpodautoscalers"):
        assert line in out
    assert "po           v1" in out.replace("  ", " ") or " po " in out


def test_system_namespaces_and_kubernetes_service_exist(kubectl):
    names = kubectl("get", "namespaces", "-o", "name").split()
    for ns in ("namespace/default", "namespace/kube-system", "namespace/kube-public",
               "namespace/kube-node-lease"):
        assert ns in names
    svc = kubectl.json("get", "service", "kubernetes", "-n", "default")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"][0]["port"] == 443


def test_get_missing_object_prints_not_found(kubectl, namespace):
    result = kubectl.run("get", "pod", "nope", "-n", namespace, check=False)
    assert result.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in result.stderr


def test_system_namespaces_cannot_be_deleted(kubectl):
    result = kubectl.run("delete", "namespace", "kube-system", check=False)
    assert result.returncode != 0
    assert 'namespaces "kube-system" is forbidden: this namespace may not be deleted' in result.stderr


def test_create_in_missing_namespace_is_404(kubectl):
    result = kubectl.run("create", "configmap", "x", "-n", "does-not-exist", check=False)
    assert result.returncode != 0
    assert 'namespaces "does-not-exist" not found' in result.stderr


def test_unauthenticated_request_is_401(server):
    out = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                          f"{server.url}/api/v1/namespaces"], capture_output=True, text=True)
    assert out.stdout == "401"


def test_readyz_and_healthz(kubectl):
    assert kubectl("get", "--raw", "/healthz") == "ok"
    assert kubectl("get", "--raw", "/readyz") == "ok"


def test_explain_uses_openapi(kubectl):
    out = kubectl("explain", "pods.spec.containers")
    assert "FIELD: containers <[]Container>" in out
    assert "image\t<string>" in out or "image <string>" in out.replace("\t", " ")


def test_get_configmap_table_and_wide(kubectl, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap",'
            '"metadata":{"name":"cm1"},"data":{"a":"1","b":"2"}}')
    out = kubectl("get", "configmap", "cm1", "-n", namespace)
    header, row = out.strip().splitlines()
    assert header.split() == ["NAME", "DATA", "AGE"]
    assert row.split()[:2] == ["cm1", "2"]
    out = kubectl("get", "configmaps", "-A")
    assert "NAMESPACE" in out.splitlines()[0]
    assert any(line.startswith(namespace) for line in out.splitlines())


def test_label_and_field_selectors(kubectl, namespace):
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        kubectl("apply", "-n", namespace, "-f", "-",
                input=f'{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}')
        kubectl("label", "configmap", name, f"tier={tier}", "-n", namespace)
    web = kubectl("get", "cm", "-n", namespace, "-l", "tier=web", "-o", "name").split()
    assert web == ["configmap/a", "configmap/c"]
    notweb = kubectl("get", "cm", "-n", namespace, "-l", "tier!=web,tier", "-o", "name").split()
    assert notweb == ["configmap/b"]
    one = kubectl("get", "cm", "-n", namespace, "--field-selector", "metadata.name=b", "-o", "name").split()
    assert one == ["configmap/b"]
    bad = kubectl.run("get", "pods", "-n", namespace, "--field-selector", "spec.bogus=1", check=False)
    assert bad.returncode != 0 and "field label not supported: spec.bogus" in bad.stderr


def test_invalid_object_is_422_with_field_path(kubectl, namespace):
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
                "spec": {"containers": [{"name": "c"}]}}
    result = kubectl.run("create", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode != 0
    assert 'The Pod "bad" is invalid: spec.containers[0].image: Required value' in result.stderr


def test_unknown_field_is_rejected_strictly(kubectl, namespace):
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "typo"},
                "spec": {"containers": [{"name": "c", "imagee": "busybox", "image": "busybox"}]}}
    result = kubectl.run("create", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.containers[0].imagee"' in result.stderr
    result = kubectl.run("create", "-n", namespace, "--validate=false", "-f", "-",
                         input=json.dumps(manifest), check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("output", ["yaml", "json", "wide", "name"])
def test_output_formats(kubectl, namespace, output):
    kubectl("apply", "-n", namespace, "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap",'
            '"metadata":{"name":"fmt"},"data":{"k":"v"}}')
    out = kubectl("get", "configmap", "fmt", "-n", namespace, "-o", output)
    assert "fmt" in out
    if output == "json":
        assert json.loads(out)["data"] == {"k": "v"}
