"""A real ``kyb server`` (its own scheduler disabled) with three hollow nodes
(``kyb hollow-nodes``, a subprocess) for the scheduler's integration tests.
Each test runs its ``Scheduler`` in the test's event loop and works in a
namespace of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from kybernetes.api import registry
from kybernetes.api.status import StatusError
from kybernetes.client import kubeconfig, rest
from tests.e2e.cluster import ROOT, Server, free_port

NAMESPACES = registry.lookup("", "v1", "namespaces")
NODES = registry.lookup("", "v1", "nodes")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("kyb-scheduler-server")), free_port(),
               args=["--disable-scheduler"])
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def hollow_nodes(server):
    """``kyb hollow-nodes --count 3``: nodes hollow-0..2, Ready once this returns."""
    log = open(os.path.join(server.data_dir, "hollow.log"), "ab")
    proc = subprocess.Popen([sys.executable, "-m", "kybernetes.cli.main", "hollow-nodes",
                             "--kubeconfig", server.kubeconfig, "--count", "3"],
                            cwd=ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(["kubectl", "--kubeconfig", server.kubeconfig, "get", "nodes",
                                  "-o", "name"], capture_output=True, text=True)
            if len(out.stdout.split()) >= 3:
                break
            assert proc.poll() is None, "kyb hollow-nodes exited"
            time.sleep(0.3)
        yield ["hollow-0", "hollow-1", "hollow-2"]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
async def client(server, hollow_nodes):
    async with rest.Client(kubeconfig.load(server.kubeconfig), component="scheduler-test") as c:
        yield c


@pytest.fixture
async def namespace(client):
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    yield name
    with contextlib.suppress(rest.ClientError, StatusError):
        await client.delete(NAMESPACES, name)


@contextlib.asynccontextmanager
async def running(component, ready: asyncio.Event | None = None, timeout: float = 20.0):
    """Run ``component.run()`` as a task for the block; cancel it on the way out."""
    task = asyncio.create_task(component.run())
    try:
        if ready is not None:
            waiter = asyncio.create_task(ready.wait())
            done, _ = await asyncio.wait({task, waiter}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task in done:
                task.result()
            assert waiter in done, f"{component!r} not ready in {timeout}s"
        yield component
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
