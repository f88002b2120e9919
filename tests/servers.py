"""Fixtures for the integration tests: a real ``kyb server``, an async client to it
and a namespace of the test's own.

Each test package says which server it needs (its flags: the whole control plane,
or ``cluster.API_ONLY`` so that nothing writes behind a test's back) and for how
long (a module or the session); the client and the namespace are made per test,
inside the test's event loop. These return fixtures, to be bound to a name in a
conftest or test module::

    server = servers.server_fixture("kyb-client-server", API_ONLY, scope="session")
    client = servers.client_fixture("client-test")
    namespace = servers.namespace_fixture(delete=True)

``client_fixture`` depends on the fixture named ``server`` and ``namespace_fixture``
on the one named ``client``, whatever module defines them, so a test module can
replace its package's server (other flags) and keep the rest.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest

from kybernetes.api import registry
from kybernetes.api.status import StatusError
from kybernetes.client import kubeconfig, rest
from tests.e2e.cluster import Server, free_port, running

NAMESPACES = registry.lookup("", "v1", "namespaces")


def server_fixture(directory: str, args: Sequence[str] = (), *, scope: str = "module"):
    """A fixture: ``kyb server`` with ``args``, in a fresh directory named after
    ``directory``, up for ``scope`` and stopped (by its PID) after it."""
    @pytest.fixture(scope=scope)
    def server(tmp_path_factory) -> Iterator[Server]:
        with running(Server(str(tmp_path_factory.mktemp(directory)), free_port(), args=list(args))) as s:
            yield s
    return server


def connect(server: Server, component: str) -> rest.Client:
    """A client to ``server`` with the kubeconfig it wrote; ``component`` is its user agent."""
    return rest.Client(kubeconfig.load(server.kubeconfig), component=component)


def client_fixture(component: str):
    """A fixture: a client to ``server``, opened and closed in the test's event loop."""
    @pytest.fixture
    async def client(server: Server) -> AsyncIterator[rest.Client]:
        async with connect(server, component) as c:
            yield c
    return client


def namespace_fixture(*, delete: bool = False):
    """A fixture: a namespace of the test's own (a new random name), made through
    ``client``; with ``delete``, deleted after the test (if it still can be)."""
    @pytest.fixture
    async def namespace(client: rest.Client) -> AsyncIterator[str]:
        name = f"t-{uuid.uuid4().hex[:8]}"
        await client.create(NAMESPACES, {"metadata": {"name": name}})
        yield name
        if delete:
            with contextlib.suppress(rest.ClientError, StatusError):
                await client.delete(NAMESPACES, name)
    return namespace
