"""Sockets made inside a node host's namespace from a process that stays in
the machine's namespace (network/sockets.py), on a real node host."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket

import pytest

from kybernetes.network import naming, sockets
from tests.network.conftest import needs_root

pytestmark = needs_root

SIOCGSKNS = 0x894C  # the socket's network namespace, as an fd
ROOT_NETNS = os.stat("/proc/self/ns/net").st_ino  # the test process's namespace


def _netns_inode(sock: socket.socket) -> int:
    fd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def _cidr(network, index: int) -> str:
    return f"{network.plan.cluster_cidr.network_address + 256 * index}/24"


async def test_listen_in_node_host_and_connect_through_bridge(network):
    host = await network.add_node_host("n1", _cidr(network, 1))
    path = naming.netns_path(host.netns)
    address = str(host.address.ip)
    listener = sockets.listen_in_netns(path, address, 0)
    port = listener.getsockname()[1]

    async def serve(reader, writer):
        writer.write(b"hello " + str(writer.get_extra_info("peername")[0]).encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, sock=listener)
    try:
        assert not listener.getblocking()
        assert _netns_inode(listener) == os.stat(path).st_ino
        assert _netns_inode(listener) != ROOT_NETNS
        # this thread never left the machine's namespace
        assert os.stat("/proc/thread-self/ns/net").st_ino == ROOT_NETNS
        # from the root namespace, over the project bridge
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 5)
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert data == f"hello {network.plan.bridge_address.ip}".encode()
        # from inside the node host, to its own address
        reader, writer = await sockets.open_connection_in_netns(path, address, port, timeout=5)
        assert await asyncio.wait_for(reader.read(), 5) == f"hello {address}".encode()
        writer.close()
        conn = await asyncio.to_thread(sockets.connect_in_netns, path, address, port, 5)
        assert _netns_inode(conn) == os.stat(path).st_ino
        conn.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_loopback_of_the_node_host_is_its_own(network):
    host = await network.add_node_host("n1", _cidr(network, 1))
    path = naming.netns_path(host.netns)
    listener = sockets.listen_in_netns(host.netns, "127.0.0.1", 0)  # an `ip netns` name works too
    port = listener.getsockname()[1]
    try:
        # the same port on the machine's loopback is somebody else's (usually nobody's)
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", port))  # free in the root namespace: the netns has its own ports
        finally:
            probe.close()
        conn = await asyncio.to_thread(sockets.connect_in_netns, path, "127.0.0.1", port, 5)
        conn.close()
    finally:
        listener.close()


def test_missing_namespace_raises():
    with pytest.raises(FileNotFoundError):
        sockets.listen_in_netns("/var/run/netns/kybt-no-such-netns", "127.0.0.1", 0)


async def test_errors_inside_the_namespace_come_back(network):
    host = await network.add_node_host("n1", _cidr(network, 1))
    with pytest.raises(OSError):  # an address the node host does not have
        sockets.listen_in_netns(naming.netns_path(host.netns), "192.0.2.1", 0)
    assert os.stat("/proc/thread-self/ns/net").st_ino == ROOT_NETNS
