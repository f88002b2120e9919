"""A real ``kyb server`` (the API server alone) for the client's integration tests.

``server`` is shared by the session; tests that kill and restart the server
use ``own_server``, a server of their own. Each test gets a fresh ``Client``
(made inside the test's event loop) and, via ``namespace``, a namespace of
its own.
"""

from __future__ import annotations

import pytest

from tests import servers
from tests.e2e.cluster import API_ONLY, Server, free_port, running

server = servers.server_fixture("kyb-client-server", API_ONLY, scope="session")
client = servers.client_fixture("client-test")
namespace = servers.namespace_fixture(delete=True)


@pytest.fixture
def own_server(tmp_path):
    (tmp_path / "server").mkdir()
    with running(Server(str(tmp_path / "server"), free_port(), args=list(API_ONLY))) as s:
        yield s
