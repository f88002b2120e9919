"""Fixtures for the runtime tests: real runc containers, cleaned up always.

Each test gets a ``Runtime`` on a fresh data dir under ``tmp_path`` and a
cgroup parent of its own. Teardown runs ``cleanup.killall`` and then checks
that nothing is left: no runc containers in our state root, no mounts under
the data dir, no cgroup directories under the test's parent. A missing
prerequisite (root, runc, overlayfs) fails loudly instead of skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil

import pytest

from kybernetes.runtime import cgroups, cleanup, containers, rootfs


@pytest.fixture(scope="session", autouse=True)
def _prerequisites():
    problems = []
    if os.geteuid() != 0:
        problems.append("the runtime tests must run as root")
    if shutil.which("runc") is None:
        problems.append("runc is not installed (hack/setup.sh installs it)")
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            problems.append("overlayfs is not available in this kernel")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return str(path)


@pytest.fixture
def cgroup_parent():
    return f"/kybernetes-test-{secrets.token_hex(4)}"


@pytest.fixture
async def runtime(data_dir, cgroup_parent):
    rt = containers.Runtime(data_dir, cgroup_parent=cgroup_parent)
    try:
        yield rt
    finally:
        await assert_clean(rt)


async def assert_clean(rt: containers.Runtime) -> None:
    """killall, then check that no container, mount or cgroup is left behind."""
    await cleanup.killall(rt)
    left = {
        "runc containers": [c["id"] for c in await rt.runc.list()],
        "mounts": rootfs.mounts_under(rt.data_dir),
        "cgroups": cgroups.all_dirs(rt.cgroup_parent),
    }
    assert not any(left.values()), f"the test left behind: {left}"
