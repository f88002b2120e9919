"""Fixtures for the kubelet tests: a real API server, real kubelets, real containers.

``node`` gives a test a node of its own: a Node object (with its podCIDR, as
the nodeipam controller would set it) on a session-wide API-only ``kyb
server``, a network plan no other test uses (``tests.network.probes``), a
data dir and a cgroup parent under ``tmp_path``. ``node.start()`` runs a
``Kubelet`` in the test's event loop; ``node.stop()`` cancels it (its
containers keep running, as after a kubelet restart). Teardown always stops
the kubelet, kills every container (``runtime.cleanup.killall``), removes the
network, deletes the Node, and then asserts that no container, mount, cgroup,
namespace, link or route was left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import uuid
from collections.abc import Awaitable, Callable

import pytest

from kybernetes.api import registry
from kybernetes.api.status import StatusError
from kybernetes.client import rest
from kybernetes.kubelet import config as kconfig
from kybernetes.kubelet import kubelet as kubelet_mod
from kybernetes.network import cleanup as net_cleanup
from kybernetes.runtime import cgroups, cleanup, containers, rootfs
from tests import servers
from tests.e2e.cluster import API_ONLY
from tests.network import probes

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")
EVENTS = registry.lookup("", "v1", "events")

server = servers.server_fixture("kyb-kubelet-pods", API_ONLY, scope="session")
client = servers.client_fixture("kubelet-test")
namespace = servers.namespace_fixture(delete=False)


@pytest.fixture(scope="session", autouse=True)
def _prerequisites():
    problems = []
    if os.geteuid() != 0:
        problems.append("the kubelet tests must run as root")
    for tool in ("runc", "ip"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed (hack/setup.sh installs it)")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


class Node:
    """One test node: its config, its kubelet (when running) and helpers."""

    def __init__(self, client: rest.Client, config: kconfig.KubeletConfig, plan) -> None:
        self.client = client
        self.config = config
        self.plan = plan
        self.name = config.node_name
        self.kubelet: kubelet_mod.Kubelet | None = None
        self._task: asyncio.Task | None = None

    async def start(self, timeout: float = 30.0) -> kubelet_mod.Kubelet:
        kl = kubelet_mod.Kubelet(self.config, self.client)
        self.kubelet = kl
        self._task = asyncio.create_task(kl.run(), name=f"kubelet-{self.name}")
        ready = asyncio.create_task(kl.ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()  # raises what ended it
        if ready not in done:
            ready.cancel()
            raise AssertionError(f"kubelet {self.name} not ready within {timeout}s")
        return kl

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.kubelet is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.kubelet.recorder.flush(), 2)
        self._task = None

    async def create_pod(self, namespace: str, name: str, containers_: list[dict], **spec) -> dict:
        body = {"metadata": {"name": name, "namespace": namespace},
                "spec": {"nodeName": self.name, "automountServiceAccountToken": False,
                         "terminationGracePeriodSeconds": 2, "containers": containers_, **spec}}
        return await self.client.create(PODS, body, namespace)

    async def pod(self, namespace: str, name: str) -> dict:
        return await self.client.get(PODS, name, namespace)

    async def wait_pod(self, namespace: str, name: str, check: Callable[[dict], bool],
                       timeout: float = 30.0, what: str = "") -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pod: dict = {}
        while loop.time() < deadline:
            try:
                pod = await self.pod(namespace, name)
            except StatusError as e:
                if e.code != 404:
                    raise
                pod = {}
            if pod and check(pod):
                return pod
            await asyncio.sleep(0.2)
        raise AssertionError(f"pod {namespace}/{name}: {what or 'condition'} not met in {timeout}s; "
                             f"last status: {pod.get('status')}")

    async def wait_gone(self, namespace: str, name: str, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                await self.pod(namespace, name)
            except StatusError as e:
                if e.code == 404:
                    return
                raise
            await asyncio.sleep(0.2)
        raise AssertionError(f"pod {namespace}/{name} still there after {timeout}s")

    async def events(self, namespace: str, name: str) -> list[dict]:
        if self.kubelet is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.kubelet.recorder.flush(), 5)
        listed = await self.client.list(EVENTS, namespace,
                                        field_selector=f"involvedObject.name={name}")
        return listed["items"]


def status_of(pod: dict, container: str) -> dict:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs["name"] == container:
            return cs
    for cs in (pod.get("status") or {}).get("initContainerStatuses") or []:
        if cs["name"] == container:
            return cs
    return {}


def condition(pod: dict, type_: str) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c["status"]
    return None


async def follow_log(path: str, seen: list[str]) -> None:
    """Collect a container's log file into ``seen`` until it is removed with its pod.

    The pod's logs may go within a poll interval of the last line: one open
    file is read until its path is gone, then to its end."""
    while not os.path.exists(path):
        await asyncio.sleep(0.05)
    with open(path) as f:
        while os.path.exists(path):
            seen.append(f.read())
            await asyncio.sleep(0.05)
        seen.append(f.read())


@pytest.fixture
async def node(client, tmp_path):
    before = await asyncio.to_thread(probes.machine_state)
    plan = await probes.free_plan()
    name = f"kn-{uuid.uuid4().hex[:6]}"
    config = kconfig.KubeletConfig(
        node_name=name, data_dir=str(tmp_path / "data"), network_prefix=plan.prefix,
        node_network=str(plan.node_network), cluster_cidr=str(plan.cluster_cidr),
        service_cidr=str(plan.service_cidr), network_state_root=str(tmp_path / "netstate"),
        cgroup_parent=f"/kybernetes-test-{secrets.token_hex(4)}", sync_frequency=5.0,
        lease_renew_interval=5.0, node_status_update_frequency=5.0)
    pod_cidr = str(next(plan.cluster_cidr.subnets(new_prefix=24)))
    await client.create(NODES, {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                                "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}})
    n = Node(client, config, plan)
    try:
        yield n
    finally:
        await n.stop()
        rt = containers.Runtime(config.runtime_dir, cgroup_parent=config.cgroup)
        await cleanup.killall(rt)
        await net_cleanup.cleanup(plan.prefix, plan=plan, state_root=config.network_state_root)
        # Bind mounts the volume helper may have left under the pod dirs.
        for mp in sorted(rootfs.mounts_under(config.agent_dir), key=len, reverse=True):
            proc = await asyncio.create_subprocess_exec("umount", "--lazy", mp)
            await proc.wait()
        with contextlib.suppress(StatusError, rest.ClientError):
            await client.delete(NODES, name)
        left = {"runc containers": [c["id"] for c in await rt.runc.list()],
                "mounts": rootfs.mounts_under(config.agent_dir),
                "cgroups": cgroups.all_dirs(rt.cgroup_parent)}
        after = await asyncio.to_thread(probes.machine_state)
        assert not any(left.values()), f"the test left behind: {left}"
        assert _ours(probes.changes(before, after, plan), plan) == {}, "the test left traces on the machine"


def _ours(changes: dict, plan) -> dict:
    """Changes that can be this test's: links, routes, addresses and namespaces naming
    its prefix or ranges (other agents on the machine come and go meanwhile), and any
    change at all to iptables, nftables or sysctls."""
    tokens = (plan.prefix, *map(str, plan.ranges().values()))
    out = {}
    for key, diff in changes.items():
        if key in ("iptables", "ip6tables", "nft", "sysctl"):
            out[key] = diff
            continue
        mine = {k: [x for x in v if any(t in x for t in tokens)] for k, v in diff.items()}
        if any(mine.values()):
            out[key] = mine
    return out


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level(logging.INFO, logger="kybernetes.kubelet")


Wait = Callable[..., Awaitable[dict]]
