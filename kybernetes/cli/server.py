"""``kyb server``: the control plane (and, later, an agent) in one process, as ``k3s server``.

Opens the datastore, then starts what exists of the control plane, and
signals readiness by printing it; stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from kybernetes import storage
from kybernetes.storage import errors as storage_errors


class FatalError(Exception):
    """A start-up failure to report in one line."""


def default_data_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/kybernetes"
    return os.path.join(os.path.expanduser("~"), ".kybernetes")


def add_parser(sub) -> None:
    p = sub.add_parser("server", help="run the control plane")
    p.add_argument("--data-dir", default=None, help="state directory (default /var/lib/kybernetes, or ~/.kybernetes when not root)")
    p.add_argument("--datastore-endpoint", default=None,
                   help="sqlite:///path/state.db (default <data-dir>/state.db) or http(s)://etcd:2379[,...]")
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    data_dir = os.path.abspath(args.data_dir or default_data_dir())
    url = args.datastore_endpoint or f"sqlite://{os.path.join(data_dir, 'state.db')}"
    try:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        store = storage.open_store(url)
        await store.start()
    except storage_errors.DatastoreError as e:
        raise FatalError(str(e)) from e
    except OSError as e:
        raise FatalError(f"cannot use data dir {data_dir}: {e.strerror}") from e
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        print(f"kyb server: datastore {store.name} open at revision {await store.current_revision()}",
              flush=True)
        await stop.wait()
    finally:
        await store.close()
    return 0
