"""Fixtures for the datastore tests: every contract test runs on both backends.

The SQLite store gets a fresh file per test. The etcd store talks to one real
etcd server started once per session (tests/storage/etcdserver.py); each test
works under a prefix of its own, since revisions are global in etcd.
"""

from __future__ import annotations

import uuid

import pytest

from kybernetes import storage


@pytest.fixture(scope="session")
def etcd_endpoints():
    from tests.storage.etcdserver import EtcdCluster

    with EtcdCluster(members=1) as cluster:
        yield cluster.endpoints


@pytest.fixture(params=["sqlite", "etcd"])
def backend(request):
    return request.param


@pytest.fixture
def store_url(backend, tmp_path, request):
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/state.db"
    return request.getfixturevalue("etcd_endpoints")


@pytest.fixture
async def make_store(store_url):
    """Open stores on the test's datastore; all are closed at teardown."""
    opened = []

    async def make(**options):
        s = storage.open_store(store_url, **options)
        await s.start()
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()


@pytest.fixture
async def store(make_store):
    return await make_store()


@pytest.fixture
def prefix():
    """A key prefix no other test uses, laid out as Kubernetes lays keys out."""
    return f"/registry/t{uuid.uuid4().hex[:12]}/"
