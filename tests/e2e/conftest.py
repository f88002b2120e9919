"""One ``kyb server`` shared by the end-to-end tests of a session; each test
works in a namespace of its own."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.cluster import Kubectl, Server, free_port


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
