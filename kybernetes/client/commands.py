"""What every ``kyb <component>`` command that runs alone shares: a client
built from ``--kubeconfig``, and a main task that SIGTERM or SIGINT cancels.

Here, beside the client, rather than in ``kybernetes.cli``, because the
components' own commands (``kyb dns``, ``kyb proxy``) sit below the CLI and
may not import it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine

from kybernetes.client import kubeconfig, rest


def client(args: argparse.Namespace, component: str) -> rest.Client:
    """The REST client for ``args.kubeconfig`` (in-cluster config when unset)."""
    return rest.Client(kubeconfig.load(args.kubeconfig), component=component)


async def until_signal(main: Coroutine) -> int:
    """Run ``main`` until it returns or SIGTERM/SIGINT cancels it; exit code 0."""
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(main)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    return 0
