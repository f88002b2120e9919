"""Sockets that belong to another network namespace.

A kubelet serves its API on its node host's address, which exists only inside
the node host's namespace (nodehost.py), while the kubelet process itself stays
in the machine's namespace. A socket belongs to the namespace of the thread
that created it and keeps it for life, so it is enough to create the socket in
a short-lived thread that has entered the namespace with setns(2) (Python 3.11
has no os.setns: libc's through ctypes), and hand the socket back: the event
loop in the root namespace can then accept on it or read from it as usual.

The thread switches back to its original namespace before it ends, and only
that one thread ever leaves the root namespace.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import socket
import threading
from typing import Callable, TypeVar

from kybernetes.network import naming

CLONE_NEWNET = 0x40000000
_T = TypeVar("_T")
_libc: ctypes.CDLL | None = None


class NetnsError(OSError):
    """Entering or leaving a network namespace failed."""


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(err, f"setns: {os.strerror(err)}")


def _path(netns: str) -> str:
    """A namespace path (/var/run/netns/x, /proc/<pid>/ns/net) or an `ip netns` name."""
    return netns if "/" in netns else naming.netns_path(netns)


def run_in_netns(netns_path: str, fn: Callable[[], _T]) -> _T:
    """Call `fn` in a new thread that has entered the namespace; its result
    (or exception) comes back. Blocking: call it with asyncio.to_thread from
    a coroutine if `fn` may take long (a connect); creating sockets is quick."""
    result: list = []
    error: list[BaseException] = []
    target_fd = os.open(_path(netns_path), os.O_RDONLY | os.O_CLOEXEC)

    def work() -> None:
        own_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target_fd)
            try:
                result.append(fn())
            finally:
                # Back home; should this fail the thread ends anyway and
                # nothing else ever runs in it.
                _setns(own_fd)
        except BaseException as e:  # handed to the caller below
            error.append(e)
        finally:
            os.close(own_fd)

    try:
        thread = threading.Thread(target=work, name="kyb-setns", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.close(target_fd)
    if error:
        raise error[0]
    return result[0]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listen_in_netns(netns_path: str, host: str, port: int, backlog: int = 128) -> socket.socket:
    """A bound, listening, non-blocking TCP socket inside the namespace
    (SO_REUSEADDR, as any server). Pass it to asyncio.start_server(sock=...)
    or aiohttp's SockSite."""

    def make() -> socket.socket:
        sock = socket.socket(_family(host), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    return run_in_netns(netns_path, make)


def socket_in_netns(netns_path: str, family: int = socket.AF_INET,
                    type: int = socket.SOCK_STREAM) -> socket.socket:
    """An unconnected socket of the namespace (for asyncio's sock_connect)."""
    return run_in_netns(netns_path, lambda: socket.socket(family, type))


def connect_in_netns(netns_path: str, host: str, port: int, timeout: float | None = 10.0) -> socket.socket:
    """A TCP connection made from inside the namespace, blocking mode with
    `timeout` left set. Only the socket is made in the namespace's thread;
    the connect itself runs in the caller's thread (the socket keeps its
    namespace), so wrap the call in asyncio.to_thread in a coroutine, or use
    open_connection_in_netns."""
    sock = socket_in_netns(netns_path, _family(host))
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def open_connection_in_netns(netns_path: str, host: str, port: int, timeout: float | None = 10.0):
    """asyncio streams (reader, writer) over a connection made from the namespace."""
    sock = socket_in_netns(netns_path, _family(host))
    try:
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
