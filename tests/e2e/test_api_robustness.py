"""Bad input never crashes the server, costs little, and changes nothing.

Oversized bodies (413), malformed JSON and YAML (400), YAML alias bombs
(400 in milliseconds, memory flat), JSON patches of 20,000 operations
(413, as kube-apiserver's limit of 10,000 answers), huge and absurdly deep
merge patches, garbage paths (404), wrong methods (405), unacceptable
Accept headers (406); the object a failed request aimed at keeps its
resourceVersion and content, and /readyz stays ok throughout.
"""

from __future__ import annotations

import json
import time

import pytest


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def target(rest, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rest.create(path, {"metadata": {"name": "target", "labels": {"a": "b"}}, "data": {"k": "v"}})
    before = rest.get(path + "/target").json()
    yield path
    # Whatever the test threw at it, the object is as it was and the server serves.
    assert rest.get(path + "/target").json() == before
    assert rest.ready()


def billion_laughs(levels: int = 9) -> str:
    doc = 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        ref = f"*l{i - 1}"
        doc += f"l{i}: &l{i} [{','.join([ref] * 9)}]\n"
    return doc


def test_oversized_bodies_are_413(rest, target):
    big = b'{"metadata":{"name":"big"},"data":{"a":"' + b"x" * (3 * 1024 * 1024) + b'"}}'
    r = rest.request("POST", target, data=big)
    assert r.status_code == 413
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Request entity too large: limit is 3145728",
                        "reason": "RequestEntityTooLarge", "code": 413}

    def chunks():  # no Content-Length: the limit holds while reading
        yield b'{"metadata":{"name":"big"},"data":{"a":"'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"}}'

    r = rest.session.post(rest.url + target, data=chunks(), verify=rest.ca,
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413
    r = rest.request("PATCH", target + "/target", data=big, content_type="application/merge-patch+json")
    assert r.status_code == 413


@pytest.mark.parametrize("content_type, body", [
    ("application/json", '{"metadata": {"name": "x"'),
    ("application/json", "not json at all"),
    ("application/yaml", "metadata: {name: [x\n  data: :"),
    ("application/yaml", "- just\n- a list\n"),
    ("application/json", '"a string"'),
    ("application/json", '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}'),
    ("application/json", '{"metadata": {"name": 5}}'),
    ("application/json", "[" * 100000 + "]" * 100000),
    ("application/yaml", "[" * 100000 + "]" * 100000),
])
def test_malformed_bodies_are_400(rest, target, content_type, body):
    r = rest.request("POST", target, data=body, content_type=content_type)
    assert r.status_code == 400, r.text
    assert r.json()["kind"] == "Status" and r.json()["reason"] == "BadRequest"


def test_unknown_content_type_is_415(rest, target):
    r = rest.request("POST", target, data="name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"


def test_yaml_alias_bomb_is_refused_quickly_with_bounded_memory(rest, api_server, target):
    pid = api_server.proc.pid
    before = rss_kib(pid)
    bomb = billion_laughs()
    for method, path, content_type, params in (
            ("POST", target, "application/yaml", None),
            ("PUT", target + "/target", "application/yaml", None),
            ("PATCH", target + "/target", "application/apply-patch+yaml", {"fieldManager": "m"})):
        start = time.monotonic()
        r = rest.request(method, path, data=bomb, content_type=content_type, params=params)
        assert time.monotonic() - start < 2.0
        assert r.status_code == 400, r.text
        assert "excessive aliasing" in r.json()["message"]
    assert rss_kib(pid) - before < 64 * 1024, "an alias bomb must not grow the server's memory"


def test_json_patch_with_20000_operations_is_refused(rest, target):
    ops = [{"op": "add", "path": f"/data/k{i}", "value": "v"} for i in range(20000)]
    start = time.monotonic()
    r = rest.patch(target + "/target", ops, content_type="application/json-patch+json")
    assert time.monotonic() - start < 5.0
    assert r.status_code == 413
    assert r.json()["reason"] == "RequestEntityTooLarge"
    assert r.json()["message"] == ("Request entity too large: The allowed maximum operations in a JSON patch is "
                                   "10000, got 20000")


def test_huge_and_deep_merge_patches_are_bounded(rest, api_server, target):
    pid = api_server.proc.pid
    before = rss_kib(pid)
    start = time.monotonic()
    huge = {"data": {f"k{i}": "x" * 100 for i in range(25000)}}  # 2.6 MB: under the body limit
    r = rest.patch(target + "/target", huge)
    assert time.monotonic() - start < 10.0
    assert r.status_code == 422
    assert r.json()["message"] == 'ConfigMap "target" is invalid: []: Too long: must have at most 1048576 bytes'
    deep = '{"metadata":{"annotations":' + '{"a":' * 5000 + "1" + "}" * 5000 + "}}"
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        r = rest.request("PATCH", target + "/target", data=deep, content_type=content_type)
        assert r.status_code == 400, r.text
    assert rss_kib(pid) - before < 256 * 1024


def test_a_failing_request_leaves_the_object_untouched(rest, target):
    current = rest.get(target + "/target").json()
    stale = json.loads(json.dumps(current))
    stale["metadata"]["resourceVersion"] = "1"
    stale["data"] = {"k": "lost"}
    assert rest.put(target + "/target", stale).status_code == 409
    invalid = json.loads(json.dumps(current))
    invalid["metadata"]["labels"] = {"-bad-": "x"}
    assert rest.put(target + "/target", invalid).status_code == 422
    assert rest.patch(target + "/target", {"data": {"k": ["not", "a", "string"]}}).status_code == 400
    assert rest.patch(target + "/target", [{"op": "remove", "path": "/data/missing"}],
                      content_type="application/json-patch+json").status_code == 422
    assert rest.patch(target + "/target", {"metadata": {"name": "renamed"}}).status_code in (400, 422)


@pytest.mark.parametrize("path", [
    "/garbage", "/api/v2", "/api/v1/nonsense", "/apis/not.a.group/v1/things", "/apis/apps/v9/deployments",
    "/api/v1/namespaces/default/configmaps/x/y/z", "/api/v1/nodes/n/nonsense", "/openapi/v3/apis/nope/v1",
])
def test_garbage_paths_are_404_status(rest, path):
    r = rest.get(path)
    assert r.status_code == 404
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "the server could not find the requested resource", "reason": "NotFound",
                        "code": 404}
    assert rest.ready()


@pytest.mark.parametrize("method, path", [
    ("PUT", "/api/v1/namespaces/default/configmaps"),
    ("PATCH", "/api/v1/namespaces/default/configmaps"),
    ("POST", "/api/v1/namespaces/default/configmaps/x"),
    ("POST", "/api/v1/namespaces/default"),
    ("DELETE", "/api/v1/componentstatuses/etcd-0"),
    ("OPTIONS", "/api/v1/namespaces/default/pods"),
    ("PUT", "/api/v1/namespaces/default/pods/x/binding"),
])
def test_wrong_methods_are_405(rest, method, path):
    r = rest.request(method, path, data="{}")
    assert r.status_code == 405, r.text
    assert r.json()["reason"] == "MethodNotAllowed"
    assert r.json()["message"] == "the server does not allow this method on the requested resource"


def test_unacceptable_accept_is_406(rest):
    for accept in ("text/html", "application/xml", "image/png"):
        r = rest.get("/api/v1/namespaces/default/configmaps", accept=accept)
        assert r.status_code == 406
        assert r.json()["reason"] == "NotAcceptable"
    # Protobuf is answered as JSON, YAML as YAML.
    assert rest.get("/api/v1/namespaces", accept="application/vnd.kubernetes.protobuf,application/json"
                    ).headers["Content-Type"] == "application/json"
    r = rest.get("/api/v1/namespaces/default", accept="application/yaml")
    assert r.headers["Content-Type"] == "application/yaml" and "name: default" in r.text
    assert rest.ready()
