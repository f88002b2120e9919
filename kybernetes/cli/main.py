"""``kyb``: one command for every part, as ``k3s`` is.

Subcommands parse their flags and hand over to the component; nothing here
holds logic of its own beyond wiring. Errors that name a datastore or a
setting are printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from kybernetes.cli import agent, components, images, killall
from kybernetes.cli import server as server_cmd
from kybernetes.dns import command as dns_command
from kybernetes.proxy import command as proxy_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kyb", description="kybernetes: Kubernetes in Python")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)
    server_cmd.add_parser(sub)
    agent.add_parser(sub)
    killall.add_parser(sub)
    images.add_parser(sub)
    components.add_parsers(sub)
    proxy_command.add_parser(sub)
    dns_command.add_parser(sub)
    return parser


def _use_pidfd_child_watcher() -> None:
    """Reap subprocesses through pidfds on the event loop (Python 3.12's default)
    instead of 3.11's one waiting thread per child: a kubelet forks runc, shims
    and `ip` for every pod."""
    if sys.version_info >= (3, 12) or not hasattr(asyncio, "PidfdChildWatcher"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return  # a kernel before 5.3
    asyncio.get_event_loop_policy().set_child_watcher(asyncio.PidfdChildWatcher())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _use_pidfd_child_watcher()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose > 1 else logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(args.run(args)) or 0
    except KeyboardInterrupt:
        return 130
    except server_cmd.FatalError as e:
        print(f"kyb {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
