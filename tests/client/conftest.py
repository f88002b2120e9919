"""A real ``kyb server`` for the client's integration tests.

``server`` is shared by the session; tests that kill and restart the server
use ``own_server``, a server of their own. Each test gets a fresh ``Client``
(made inside the test's event loop) and, via ``namespace``, a namespace of
its own.
"""

from __future__ import annotations

import uuid

import pytest

from kybernetes.api import registry
from kybernetes.api.status import StatusError
from kybernetes.client import kubeconfig, rest
from tests.e2e.cluster import API_ONLY, Server, free_port

NAMESPACES = registry.lookup("", "v1", "namespaces")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("kyb-client-server")), free_port(), args=list(API_ONLY))
    s.start()
    yield s
    s.stop()


@pytest.fixture
def own_server(tmp_path):
    s = Server(str(tmp_path / "server"), free_port(), args=list(API_ONLY))
    (tmp_path / "server").mkdir()
    s.start()
    yield s
    s.stop()


def connect(s: Server, component: str = "client-test") -> rest.Client:
    return rest.Client(kubeconfig.load(s.kubeconfig), component=component)


@pytest.fixture
async def client(server):
    async with connect(server) as c:
        yield c


@pytest.fixture
async def namespace(client):
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    yield name
    try:
        await client.delete(NAMESPACES, name)
    except (rest.ClientError, StatusError):
        pass
