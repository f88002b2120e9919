"""``kyb image import FILE.tar`` and ``kyb image ls``: the node's image store.

No registry is reachable from these machines, so images come in as files, as
``k3s ctr images import`` loads them: docker-archive (``docker save``) or
OCI-layout tarballs, into the store the node's runtime reads
(``<data-dir>/agent/runtime/images``, where ``Runtime(data_dir=runtime_dir)``
keeps it). The store locks itself, so importing beside a running agent is safe.
"""

from __future__ import annotations

import argparse
import os
import sys

from kybernetes.runtime import errors
from kybernetes.runtime import images as image_store


def store_dir(data_dir: str) -> str:
    return os.path.join(os.path.abspath(data_dir), "agent", "runtime", "images")


def add_parser(sub) -> None:
    from kybernetes.cli import server as server_cmd

    def data_dir(args: argparse.Namespace) -> str:
        return args.data_dir or server_cmd.default_data_dir()

    p = sub.add_parser("image", help="the node's image store: import, ls, rm")
    images_sub = p.add_subparsers(dest="image_command", required=True)
    imp = images_sub.add_parser("import", help="load docker-archive or OCI-layout tarballs")
    imp.add_argument("files", nargs="+", metavar="FILE.tar")
    imp.add_argument("--name", default=None, help="name for OCI images whose only name is a bare tag")
    imp.add_argument("--data-dir", default=None)
    imp.set_defaults(run=lambda args: import_images(data_dir(args), args.files, args.name))
    ls = images_sub.add_parser("ls", aliases=["list"], help="list the stored images")
    ls.add_argument("--data-dir", default=None)
    ls.add_argument("-q", "--quiet", action="store_true", help="image ids only")
    ls.set_defaults(run=lambda args: list_images(data_dir(args), quiet=args.quiet))
    rm = images_sub.add_parser("rm", help="remove images by name or id")
    rm.add_argument("refs", nargs="+", metavar="IMAGE")
    rm.add_argument("--data-dir", default=None)
    rm.set_defaults(run=lambda args: remove_images(data_dir(args), args.refs))


def human_size(size: int) -> str:
    """Sizes as crictl prints them (decimal units: 5.6MB, 1.2GB)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.3g}{unit}"
        value /= 1000
    return f"{size}B"


def short_id(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:13]


async def import_images(data_dir: str, files: list[str], name: str | None = None) -> int:
    store = image_store.ImageStore(store_dir(data_dir))
    status = 0
    for path in files:
        try:
            imported = await store.import_archive(path, name)
        except (OSError, errors.ContainerRuntimeError) as e:
            print(f"kyb image import: {path}: {e}", file=sys.stderr)
            status = 1
            continue
        for image in imported:
            print(f"imported {', '.join(image.names) or image.id} ({short_id(image.id)}, {human_size(image.size)})")
    return status


async def list_images(data_dir: str, *, quiet: bool = False) -> int:
    stored = []
    if os.path.isdir(store_dir(data_dir)):  # listing creates nothing
        stored = await image_store.ImageStore(store_dir(data_dir)).list()
    rows = []
    for image in stored:
        for name in image.names or (image.id,):
            rows.append((name, short_id(image.id), human_size(image.size)))
    rows.sort()
    if quiet:
        for row_id in dict.fromkeys(r[1] for r in rows):
            print(row_id)
        return 0
    table = [("IMAGE", "ID", "SIZE"), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(2)]
    for r in table:
        print(f"{r[0]:<{widths[0]}}   {r[1]:<{widths[1]}}   {r[2]}")
    return 0


async def remove_images(data_dir: str, refs: list[str]) -> int:
    store = image_store.ImageStore(store_dir(data_dir))
    status = 0
    for ref in refs:
        if await store.remove(ref):
            print(f"deleted {ref}")
        else:
            print(f"kyb image rm: no image {ref}", file=sys.stderr)
            status = 1
    return status
