"""Where a pod's volumes live on the node, as the kubelet lays them out.

``<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<volume>`` for volumes the
kubelet makes, ``<root>/pods/<uid>/volume-subpaths/<volume>/<container>/<i>``
for the bind mounts of subPaths, ``<root>/pods/<uid>/plugins`` for plugin state.
"""

from __future__ import annotations

import os

EMPTY_DIR = "kubernetes.io~empty-dir"
CONFIGMAP = "kubernetes.io~configmap"
SECRET = "kubernetes.io~secret"
DOWNWARD_API = "kubernetes.io~downward-api"
PROJECTED = "kubernetes.io~projected"

PLUGIN_DIRS = {"emptyDir": EMPTY_DIR, "configMap": CONFIGMAP, "secret": SECRET,
               "downwardAPI": DOWNWARD_API, "projected": PROJECTED}


class UnsafePath(Exception):
    pass


def checked_pod_dir(pods_dir: str, uid: str) -> str:
    """The pod's directory, refusing a uid that would step outside ``pods_dir``."""
    if not uid or "/" in uid or uid in (".", "..") or "\0" in uid:
        raise UnsafePath(f"invalid pod uid {uid!r}")
    root = os.path.realpath(pods_dir)
    return os.path.join(root, uid)


def volume_dir(pod_dir: str, plugin_dir: str, name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise UnsafePath(f"invalid volume name {name!r}")
    return os.path.join(pod_dir, "volumes", plugin_dir, name)


def subpath_dir(pod_dir: str, volume: str, container: str, index: int) -> str:
    return os.path.join(pod_dir, "volume-subpaths", volume, container, str(index))


def pod_dir_of(volume_path: str) -> str | None:
    """The pod dir a kubelet-made volume lies in (``.../<uid>/volumes/<plugin>/<name>``)."""
    plugin_dir = os.path.dirname(volume_path)
    volumes = os.path.dirname(plugin_dir)
    if os.path.basename(volumes) == "volumes" and os.path.basename(plugin_dir) in PLUGIN_DIRS.values():
        return os.path.dirname(volumes)
    return None
