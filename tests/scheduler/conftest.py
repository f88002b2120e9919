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

import pytest

from tests import servers
from tests.e2e.cluster import ROOT

server = servers.server_fixture("kyb-scheduler-server", ["--disable-scheduler"], scope="session")


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
    async with servers.connect(server, "scheduler-test") as c:
        yield c


namespace = servers.namespace_fixture(delete=True)


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
