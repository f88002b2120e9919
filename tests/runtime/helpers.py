"""Small helpers shared by the runtime tests."""

from __future__ import annotations

import asyncio
import re

from kybernetes.runtime import containers, records, spec

CRI_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$")


def sh(script: str, **kwargs) -> spec.ContainerConfig:
    """A container on the host fallback image running ``sh -c script``."""
    return spec.ContainerConfig(name=kwargs.pop("name", "test"), image="busybox",
                                command=["sh", "-c", script], **kwargs)


async def wait_exited(rt: containers.Runtime, cid: str, timeout: float = 30.0) -> records.ContainerStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        st = await rt.status(cid)
        if st.state == records.EXITED:
            return st
        assert asyncio.get_running_loop().time() < deadline, f"container still {st.state}"
        await asyncio.sleep(0.05)


async def run(rt: containers.Runtime, config: spec.ContainerConfig, timeout: float = 30.0,
              image=None) -> tuple[records.ContainerStatus, list[tuple[str, str, str]]]:
    """Create, start and wait for a container; return its status and log records."""
    cid = await rt.create_container(config, image=image)
    await rt.start(cid)
    st = await wait_exited(rt, cid, timeout)
    return st, read_log(st.log_path)


def read_log(path: str) -> list[tuple[str, str, str]]:
    """(stream, tag, content) per CRI record; every line must be well-formed."""
    out = []
    with open(path) as f:
        for line in f:
            m = CRI_LINE.match(line.rstrip("\n"))
            assert m, f"not a CRI log line: {line!r}"
            out.append((m.group(2), m.group(3), m.group(4)))
    return out


def stdout_lines(records_: list[tuple[str, str, str]]) -> list[str]:
    return [content for stream, _tag, content in records_ if stream == "stdout"]


async def wait_running(rt: containers.Runtime, cid: str, marker: str | None = None,
                       timeout: float = 15.0) -> records.ContainerStatus:
    """Wait until the container runs (and, if given, has logged ``marker``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        st = await rt.status(cid)
        if st.state == records.RUNNING and (marker is None or marker in stdout_lines(read_log(st.log_path))):
            return st
        assert st.state in (records.RUNNING, records.CREATED), f"container is {st.state}"
        assert asyncio.get_running_loop().time() < deadline, "container did not get ready"
        await asyncio.sleep(0.05)
