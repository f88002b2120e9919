"""``kubectl create -f`` of the create-only review kinds, with kubectl's default
validation.

kubectl finds no PATCH for these kinds in their OpenAPI v3 document (they are
create-only), so it falls back to ``/openapi/v2`` (gnostic protobuf) and
validates the object client-side against its definitions before posting it,
as against kube-apiserver. The API server alone: no serviceaccount
controller, so the test makes the ServiceAccount its token is for.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests import servers
from tests.e2e.cluster import API_ONLY, Kubectl

server = servers.server_fixture("kyb-openapi-reviews", API_ONLY)


@pytest.fixture(scope="module")
def kubectl(server, tmp_path_factory):
    return Kubectl(server, str(tmp_path_factory.mktemp("kubectl-reviews-cache")))


def create(kubectl: Kubectl, obj: dict) -> dict:
    return json.loads(kubectl("create", "-f", "-", "-o", "json", input=json.dumps(obj)))


def test_token_review_of_a_service_account_token(kubectl):
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", ns)
    kubectl("create", "serviceaccount", "reviewer", "-n", ns)
    token = kubectl("create", "token", "reviewer", "-n", ns).strip()

    review = create(kubectl, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                              "spec": {"token": token}})
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{ns}:reviewer"
    assert f"system:serviceaccounts:{ns}" in review["status"]["user"]["groups"]

    refused = create(kubectl, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                               "spec": {"token": "not-a-token"}})
    assert "authenticated" not in refused["status"]
    assert refused["status"]["error"]


def test_unknown_fields_are_refused_by_kubectl_before_posting(kubectl):
    result = kubectl.run("create", "-f", "-", input=json.dumps({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"tokn": "x"}}), check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        'error: error validating "STDIN": error validating data: ValidationError(TokenReview.spec): '
        'unknown field "tokn" in io.k8s.api.authentication.v1.TokenReviewSpec')


def test_self_subject_review_and_whoami(kubectl):
    review = create(kubectl, {"apiVersion": "authentication.k8s.io/v1",
                              "kind": "SelfSubjectReview"})
    assert review["status"]["userInfo"]["username"] == "system:admin"
    whoami = json.loads(kubectl("auth", "whoami", "-o", "json"))
    assert whoami["kind"] == "SelfSubjectReview"
    assert whoami["status"]["userInfo"] == review["status"]["userInfo"]
    assert "system:admin" in kubectl("auth", "whoami")


@pytest.mark.parametrize("kind, spec", [
    ("SubjectAccessReview", {"user": "bob", "resourceAttributes": {"verb": "get", "resource": "pods"}}),
    ("SelfSubjectAccessReview", {"resourceAttributes": {"verb": "list", "resource": "pods"}}),
    ("SelfSubjectRulesReview", {"namespace": "default"}),
])
def test_authorization_reviews(kubectl, kind, spec):
    review = create(kubectl, {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": spec})
    assert review["kind"] == kind
    assert review["status"]


def test_openapi_v2_is_served_as_json(kubectl):
    doc = json.loads(kubectl("get", "--raw", "/openapi/v2"))
    assert doc["swagger"] == "2.0"
    assert doc["definitions"]["io.k8s.api.authentication.v1.TokenReview"][
        "x-kubernetes-group-version-kind"] == [
        {"group": "authentication.k8s.io", "kind": "TokenReview", "version": "v1"}]


def test_top_level_binding_assigns_the_pod(kubectl):
    """POST /api/v1/namespaces/{ns}/bindings: the Binding's name is the pod's
    (what the pods/binding subresource does, by another path)."""
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", ns)
    kubectl("-n", ns, "create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    kubectl("-n", ns, "create", "-f", "-", input=json.dumps(binding))
    pod = json.loads(kubectl("-n", ns, "get", "pod", "p", "-o", "json"))
    assert pod["spec"]["nodeName"] == "node-a"
    again = kubectl.run("-n", ns, "create", "-f", "-", input=json.dumps(binding), check=False)
    assert again.returncode == 1
    assert 'pod p is already assigned to node "node-a"' in again.stderr
