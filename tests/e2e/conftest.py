"""``kyb server`` processes shared by the end-to-end tests of a session: the
whole control plane (``server``, ``kubectl``, ``namespace``) and the API server
alone (``api_server``, ``api_kubectl``, ``rest``, ``ns``). Each test works in a
namespace of its own."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.cluster import API_ONLY, Kubectl, Server, free_port, running
from tests.e2e.rest import Rest


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("kyb-server")), free_port())
    s.start()
    yield s
    s.stop()


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


@pytest.fixture(scope="session")
def api_server(tmp_path_factory):
    with running(Server(str(tmp_path_factory.mktemp("kyb-api")), free_port(), args=API_ONLY)) as s:
        yield s


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
