"""The kubelet's HTTPS API with a real runc container behind a fake PodHost.

TLS with a throwaway CA (apiserver.pki); websocket exec (v5, v4), tty exec
with resize, SPDY exec and port-forward with client-side framing of our
own, logs (follow, tail, since, timestamps, previous), attach output, and
port-forward to ``python3 -m http.server`` in a real network namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import ssl
import struct
import subprocess
import sys

import aiohttp
import pytest

from kybernetes.apiserver import pki
from kybernetes.kubelet import server
from kybernetes.kubelet.streams import spdy
from kybernetes.runtime import containers, logwriter
from tests.runtime import helpers
from tests.runtime.conftest import assert_clean

NS, POD, UID = "default", "web", "uid-1234"


class FakeHost:
    def __init__(self, runtime, netns: str | None = None) -> None:
        self.runtime = runtime
        self.refs: dict[str, server.ContainerRef] = {}
        self.previous: dict[str, server.ContainerRef] = {}
        self.netns = netns

    async def find_container(self, namespace, pod, container, *, previous=False):
        if (namespace, pod) != (NS, POD):
            raise LookupError(f"pod \"{pod}\" not found")
        table = self.previous if previous else self.refs
        if container not in table:
            if previous:
                raise LookupError(f"previous terminated container \"{container}\" in pod \"{pod}\" not found")
            raise LookupError(f"container \"{container}\" not found in pod \"{pod}\"")
        return table[container]

    async def pod_netns(self, namespace, pod):
        if self.netns is None or (namespace, pod) != (NS, POD):
            raise LookupError(f"pod \"{pod}\" not found")
        return self.netns

    async def stats_summary(self):
        return {"node": {"nodeName": "n1"}, "pods": []}

    def pods(self):
        return [{"metadata": {"namespace": NS, "name": POD, "uid": UID}}]


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = pki.ensure_ca(str(d))
    serving = pki.issue(ca, pki.Pair(str(d / "kubelet.crt"), str(d / "kubelet.key")), "n1",
                       ips=("127.0.0.1",), server=True)
    apiserver = pki.issue(ca, pki.Pair(str(d / "api.crt"), str(d / "api.key")),
                          "kube-apiserver-kubelet-client", client=True)
    other = pki.issue(ca, pki.Pair(str(d / "bob.crt"), str(d / "bob.key")), "bob", client=True)
    return {"ca": ca, "serving": serving, "api": apiserver, "bob": other}


def client_ssl(pki_dir, who="api") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki_dir["ca"].cert)
    if who:
        ctx.load_cert_chain(pki_dir[who].cert, pki_dir[who].key)
    return ctx


@pytest.fixture
async def runtime(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rt = containers.Runtime(str(data), cgroup_parent=f"/kybernetes-test-{secrets.token_hex(4)}")
    try:
        yield rt
    finally:
        await assert_clean(rt)


@contextlib.asynccontextmanager
async def serving(host: FakeHost, pki_dir):
    """A KubeletServer for ``host`` on a free loopback port (``host.base``, ``host.port``)."""
    srv = server.KubeletServer(host, cert=pki_dir["serving"].cert, key=pki_dir["serving"].key,
                               client_ca=pki_dir["ca"].cert)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    await srv.start(sock)
    host.base = f"https://127.0.0.1:{sock.getsockname()[1]}"
    host.port = sock.getsockname()[1]
    try:
        yield host
    finally:
        await srv.stop()
        sock.close()


@pytest.fixture
async def kubelet(runtime, pki_dir):
    async with serving(FakeHost(runtime), pki_dir) as host:
        yield host


async def start(host, name: str, script: str, stdin: bool = False, **kw) -> str:
    cid = await host.runtime.create_container(helpers.sh(script, name=name, **kw), stdin=stdin)
    await host.runtime.start(cid)
    st = await host.runtime.status(cid)
    host.refs[name] = server.ContainerRef(cid, name, st.log_path, {}, tty=False, stdin=False)
    return cid


def session(pki_dir, who="api"):
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl(pki_dir, who)))


# -- plain endpoints and authentication ------------------------------------------------


async def test_healthz_pods_stats_and_authentication(kubelet, pki_dir):
    async with session(pki_dir) as s:
        async with s.get(kubelet.base + "/healthz") as r:
            assert r.status == 200 and await r.text() == "ok"
        async with s.get(kubelet.base + "/pods") as r:
            body = await r.json()
            assert body["kind"] == "PodList" and body["items"][0]["metadata"]["uid"] == UID
        async with s.get(kubelet.base + "/stats/summary") as r:
            assert (await r.json())["node"]["nodeName"] == "n1"
    async with session(pki_dir, None) as s:
        async with s.get(kubelet.base + "/pods") as r:
            assert r.status == 401
    async with session(pki_dir, "bob") as s:
        async with s.get(kubelet.base + "/pods") as r:
            assert r.status == 403 and "user=bob" in await r.text()


# -- websocket exec ------------------------------------------------------------------------


async def ws_exec(kubelet, pki_dir, container, command, protocol, stdin: bytes | None = None,
                  close_stdin=True, tty=False, resize=None):
    q = [("command", c) for c in command] + [("stdout", "1"), ("stderr", "0" if tty else "1")]
    if stdin is not None:
        q.append(("stdin", "1"))
    if tty:
        q.append(("tty", "1"))
    out: dict[int, bytes] = {1: b"", 2: b"", 3: b""}
    async with session(pki_dir) as s:
        async with s.ws_connect(f"{kubelet.base}/exec/{NS}/{POD}/{container}", params=q,
                                protocols=[protocol]) as ws:
            assert ws.protocol == protocol
            if resize:
                await ws.send_bytes(b"\x04" + json.dumps({"Width": resize[0], "Height": resize[1]}).encode())
            if stdin is not None:
                await ws.send_bytes(b"\x00" + stdin)
                if close_stdin:
                    await ws.send_bytes(bytes([255, 0]))
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    out[msg.data[0]] += msg.data[1:]
    return out


async def test_websocket_exec_v5_and_v4(kubelet, pki_dir):
    await start(kubelet, "app", "sleep 300")
    out = await ws_exec(kubelet, pki_dir, "app", ["sh", "-c", "echo out; echo err >&2"], "v5.channel.k8s.io")
    assert out[1] == b"out\n" and out[2] == b"err\n"
    assert json.loads(out[3]) == {"metadata": {}, "status": "Success"}

    out = await ws_exec(kubelet, pki_dir, "app", ["sh", "-c", "exit 3"], "v4.channel.k8s.io")
    st = json.loads(out[3])
    assert st["status"] == "Failure" and st["reason"] == "NonZeroExitCode"
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]

    # stdin, closed by the v5 close signal: cat sees end of input and exits
    out = await ws_exec(kubelet, pki_dir, "app", ["sh", "-c", "cat; echo done"], "v5.channel.k8s.io",
                        stdin=b"hello\n")
    assert out[1] == b"hello\ndone\n"


async def test_websocket_exec_tty_resize(kubelet, pki_dir):
    await start(kubelet, "app", "sleep 300")
    out = await ws_exec(kubelet, pki_dir, "app", ["sh", "-c", "sleep 0.5; stty size"], "v5.channel.k8s.io",
                        tty=True, resize=(123, 45))
    assert b"45 123" in out[1]
    assert json.loads(out[3])["status"] == "Success"


async def test_exec_unknown_container_is_404(kubelet, pki_dir):
    async with session(pki_dir) as s:
        async with s.get(f"{kubelet.base}/exec/{NS}/{POD}/nope?command=true&stdout=1") as r:
            assert r.status == 404
            assert (await r.json())["message"] == 'container "nope" not found in pod "web"'


# -- SPDY -----------------------------------------------------------------------------------


async def spdy_connect(kubelet, pki_dir, path: str, protocols: list[str]):
    reader, writer = await asyncio.open_connection("127.0.0.1", kubelet.port,
                                                   ssl=client_ssl(pki_dir), server_hostname="127.0.0.1")
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{kubelet.port}", "Connection: Upgrade",
             "Upgrade: SPDY/3.1", "Content-Length: 0"]
    lines += [f"X-Stream-Protocol-Version: {p}" for p in protocols]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head

    async def send(b: bytes):
        writer.write(b)
        await writer.drain()

    sess = spdy.Session(send, server=False)

    async def pump():
        while data := await reader.read(65536):
            sess.feed(data)
        sess.feed_eof()

    task = asyncio.create_task(pump())
    return sess, head.decode(), writer, task


async def read_all(stream: spdy.Stream) -> bytes:
    out = b""
    while chunk := await asyncio.wait_for(stream.read(), 20):
        out += chunk
    return out


async def test_spdy_exec_v4(kubelet, pki_dir):
    await start(kubelet, "app", "sleep 300")
    q = "command=sh&command=-c&command=cat%3B+echo+err+%3E%262%3B+exit+7&stdin=1&stdout=1&stderr=1"
    sess, head, writer, task = await spdy_connect(kubelet, pki_dir, f"/exec/{NS}/{POD}/app?{q}",
                                                  ["v4.channel.k8s.io", "v3.channel.k8s.io"])
    try:
        assert "x-stream-protocol-version: v4.channel.k8s.io" in head.lower()
        err = await sess.open_stream({"streamType": "error"})
        stdin = await sess.open_stream({"streamType": "stdin"})
        stdout = await sess.open_stream({"streamType": "stdout"})
        stderr = await sess.open_stream({"streamType": "stderr"})
        await stdin.write(b"via spdy\n")
        await stdin.close()
        out, errout, status = await asyncio.gather(read_all(stdout), read_all(stderr), read_all(err))
        assert out == b"via spdy\n" and errout == b"err\n"
        st = json.loads(status)
        assert st["reason"] == "NonZeroExitCode" and st["details"]["causes"][0]["message"] == "7"
    finally:
        task.cancel()
        writer.close()


# -- logs ---------------------------------------------------------------------------------------


async def test_logs_tail_timestamps_since_limit_previous(kubelet, pki_dir, tmp_path):
    await start(kubelet, "app", "echo one; echo two; echo three >&2; sleep 300")
    ref = kubelet.refs["app"]
    await helpers.wait_running(kubelet.runtime, ref.container_id, marker="two")
    await asyncio.sleep(0.3)
    url = f"{kubelet.base}/containerLogs/{NS}/{POD}/app"
    async with session(pki_dir) as s:
        async with s.get(url) as r:
            assert await r.text() == "one\ntwo\nthree\n"
        async with s.get(url, params={"tailLines": "2"}) as r:
            assert await r.text() == "two\nthree\n"
        async with s.get(url, params={"timestamps": "true", "tailLines": "1"}) as r:
            text = await r.text()
            assert text.endswith("Z three\n") and text[4] == "-" and text.count("\n") == 1
        async with s.get(url, params={"limitBytes": "5"}) as r:
            assert await r.text() == "one\nt"
        async with s.get(url, params={"sinceSeconds": "3600"}) as r:
            assert (await r.text()).startswith("one\n")
        async with s.get(url, params={"sinceTime": "2999-01-01T00:00:00Z"}) as r:
            assert await r.text() == ""
        async with s.get(url, params={"previous": "true"}) as r:
            assert r.status == 400
            assert (await r.json())["message"] == 'previous terminated container "app" in pod "web" not found'

    # partial records are joined; a "previous" container's log is served from its file
    old = tmp_path / "0.log"
    old.write_text(f"{logwriter.timestamp()} stdout P abc\n{logwriter.timestamp()} stdout F def\n")
    kubelet.previous["app"] = server.ContainerRef("0" * 64, "app", str(old), {})
    async with session(pki_dir) as s:
        async with s.get(url, params={"previous": "true"}) as r:
            assert r.status == 200 and await r.text() == "abcdef\n"


async def test_logs_follow_until_exit_across_rotation(kubelet, pki_dir):
    await start(kubelet, "app", "for i in 1 2 3; do echo line$i; sleep 0.5; done")
    url = f"{kubelet.base}/containerLogs/{NS}/{POD}/app"
    async with session(pki_dir) as s:
        async with s.get(url, params={"follow": "true"}) as r:
            text = await asyncio.wait_for(r.text(), 30)
    assert text == "line1\nline2\nline3\n"
    # rotation: the follower moves to the new file
    ref = kubelet.refs["app"]
    rotated = ref.log_path + ".20200101-000000"
    os.rename(ref.log_path, rotated)
    with open(ref.log_path, "w") as f:
        f.write(f"{logwriter.timestamp()} stdout F after\n")
    async with session(pki_dir) as s:
        async with s.get(url) as r:
            assert await r.text() == "line1\nline2\nline3\nafter\n"


async def test_attach_streams_new_output(kubelet, pki_dir):
    await start(kubelet, "app", "sleep 1; echo attached; echo oops >&2; sleep 1")
    q = [("stdout", "1"), ("stderr", "1")]
    out = {1: b"", 2: b"", 3: b""}
    async with session(pki_dir) as s:
        async with s.ws_connect(f"{kubelet.base}/attach/{NS}/{POD}/app", params=q,
                                protocols=["v4.channel.k8s.io"]) as ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    out[msg.data[0]] += msg.data[1:]
    assert out[1] == b"attached\n" and out[2] == b"oops\n"
    assert json.loads(out[3])["status"] == "Success"


async def test_attach_stdin_reaches_the_main_process(kubelet, pki_dir):
    cid = await start(kubelet, "app", "echo ready; while read line; do echo got:$line; done", stdin=True)
    await helpers.wait_running(kubelet.runtime, cid, marker="ready")
    q = [("stdin", "1"), ("stdout", "1"), ("stderr", "1")]
    out = b""
    async with session(pki_dir) as s:
        async with s.ws_connect(f"{kubelet.base}/attach/{NS}/{POD}/app", params=q,
                                protocols=["v5.channel.k8s.io"]) as ws:
            await ws.send_bytes(b"\x00hello\n")
            while b"got:hello" not in out:
                msg = await asyncio.wait_for(ws.receive(), 10)
                assert msg.type == aiohttp.WSMsgType.BINARY
                if msg.data[0] == 1:
                    out += msg.data[1:]
    assert out == b"got:hello\n"
    # a second attach: stdin stays open between attaches (stdinOnce false)
    async with session(pki_dir) as s:
        async with s.ws_connect(f"{kubelet.base}/attach/{NS}/{POD}/app", params=q,
                                protocols=["v4.channel.k8s.io"]) as ws:
            await ws.send_bytes(b"\x00again\n")
            out = b""
            while b"got:again" not in out:
                msg = await asyncio.wait_for(ws.receive(), 10)
                if msg.data[0] == 1:
                    out += msg.data[1:]
    assert (await kubelet.runtime.status(cid)).state == "running"


# -- port-forward ------------------------------------------------------------------------------


@pytest.fixture
async def web_netns(tmp_path):
    name = f"kybtest-pf-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    proc = None
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        (tmp_path / "index.html").write_text("hello from the pod\n")
        proc = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-m", "http.server", "8080",
                                 "--bind", "127.0.0.1", "--directory", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            r = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c",
                                "import socket; socket.create_connection(('127.0.0.1', 8080), 1)"],
                               capture_output=True)
            if r.returncode == 0:
                break
            await asyncio.sleep(0.1)
        yield f"/var/run/netns/{name}"
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "delete", name], check=False)


GET = b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n"


@pytest.fixture
async def pf_kubelet(pki_dir, web_netns):
    async with serving(FakeHost(None, netns=web_netns), pki_dir) as host:
        yield host


async def test_portforward_spdy(pf_kubelet, pki_dir):
    sess, head, writer, task = await spdy_connect(pf_kubelet, pki_dir, f"/portForward/{NS}/{POD}",
                                                  ["portforward.k8s.io"])
    try:
        for rid in ("0", "1"):  # two connections over one session
            err = await sess.open_stream({"streamType": "error", "port": "8080", "requestID": rid})
            data = await sess.open_stream({"streamType": "data", "port": "8080", "requestID": rid})
            await data.write(GET)
            body = await read_all(data)
            assert body.startswith(b"HTTP/1.0 200") and body.endswith(b"hello from the pod\n")
            assert await read_all(err) == b""
        err = await sess.open_stream({"streamType": "error", "port": "9", "requestID": "2"})
        data = await sess.open_stream({"streamType": "data", "port": "9", "requestID": "2"})
        msg = (await read_all(err)).decode()
        assert msg.startswith(f"error forwarding port 9 to pod {POD}, uid {UID}: failed to connect")
    finally:
        task.cancel()
        writer.close()


async def test_portforward_websocket_v4(pf_kubelet, pki_dir):
    async with session(pki_dir) as s:
        async with s.ws_connect(f"{pf_kubelet.base}/portForward/{NS}/{POD}", params={"port": "8080"},
                                protocols=["v4.channel.k8s.io"]) as ws:
            got: dict[int, bytes] = {0: b"", 1: b""}
            first = {}
            await ws.send_bytes(b"\x00" + GET)
            async for msg in ws:
                ch, payload = msg.data[0], msg.data[1:]
                if ch not in first:
                    first[ch] = payload
                    continue
                got[ch] += payload
    assert first == {0: struct.pack("<H", 8080), 1: struct.pack("<H", 8080)}
    assert got[0].endswith(b"hello from the pod\n") and got[1] == b""


async def test_portforward_spdy_tunneled_in_websocket(pf_kubelet, pki_dir):
    async with session(pki_dir) as s:
        async with s.ws_connect(f"{pf_kubelet.base}/portForward/{NS}/{POD}",
                                protocols=["SPDY/3.1+portforward.k8s.io"]) as ws:
            assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
            sess = spdy.Session(ws.send_bytes, server=False)

            async def pump():
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        sess.feed(msg.data)
                sess.feed_eof()

            task = asyncio.create_task(pump())
            try:
                await sess.open_stream({"streamType": "error", "port": "8080", "requestID": "0"})
                data = await sess.open_stream({"streamType": "data", "port": "8080", "requestID": "0"})
                await data.write(GET)
                body = await read_all(data)
                assert body.endswith(b"hello from the pod\n")
            finally:
                task.cancel()
