"""``kyb server`` processes shared by the end-to-end tests of a session: the
whole control plane (``server``, ``kubectl``, ``namespace``) and the API server
alone (``api_server``, ``api_kubectl``, ``rest``, ``ns``). Each test works in a
namespace of its own."""

from __future__ import annotations

import uuid

import pytest

from tests import servers
from tests.e2e.cluster import API_ONLY, Kubectl
from tests.e2e.rest import Rest

server = servers.server_fixture("kyb-server", scope="session")


@pytest.fixture(scope="session")
def kubectl(server, tmp_path_factory):
    return Kubectl(server, str(tmp_path_factory.mktemp("kubectl-cache")))


@pytest.fixture
def namespace(kubectl):
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


# -- the API server alone, for tests of API semantics ------------------------------
# No controller or scheduler runs in it, so what a test observes is what the
# API server did (a Terminating namespace stays Terminating, a Foreground
# finalizer stays), and nothing writes behind the test's back.

api_server = servers.server_fixture("kyb-api", API_ONLY, scope="session")


@pytest.fixture(scope="session")
def api_kubectl(api_server, tmp_path_factory):
    return Kubectl(api_server, str(tmp_path_factory.mktemp("kubectl-api-cache")))


@pytest.fixture(scope="session")
def rest(api_server):
    return Rest.of(api_server)


@pytest.fixture
def ns(rest):
    """A namespace of the test's own on the API-only server."""
    return rest.namespace()
