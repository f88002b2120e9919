"""Names of everything kybernetes.network creates, all derived from one prefix.

Every namespace, link and route the package creates is recognisable from the
project prefix alone, so `cleanup(prefix)` can remove exactly what belongs to
one cluster and nothing else. A prefix is `kyb` plus up to five lowercase
letters or digits (tests use `kyb` plus a random suffix so parallel runs never
share a name). Linux limits link names to 15 characters, which fixes the shapes:

    root bridge             <prefix>0               kyb0
    root end of a node veth <prefix>n<6 hex>        kybn3f9a1c (hash of node name)
    node host namespace     <prefix>-node-<node>    kyb-node-worker1
    pod namespace           <prefix>-pod-<uid>      kyb-pod-8c1e...
    node end of a pod veth  veth<8 hex>             (inside the node host only)

For a prefix of length p the bridge is p+1 characters and a node veth p+7, so
the two shapes of different prefixes can never be confused.
"""

from __future__ import annotations

import hashlib
import os
import re

PROJECT_PREFIX = "kyb"
NETNS_DIR = "/run/netns"
# Address stores live on tmpfs, like the namespaces they describe: both end at reboot.
STATE_ROOT = "/run/kybernetes/network"
POD_BRIDGE = "cbr0"  # inside each node host, as kubenet names it
NODE_UPLINK = "eth0"  # the node host's end of its veth, as a kind node's
POD_INTERFACE = "eth0"  # the pod's end of its veth, as CNI's default ifname

_PREFIX = re.compile(r"kyb[a-z0-9]{0,5}")
_NODE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?")
_UID = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.]{0,99}")
_NETNS = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.]{0,200}")


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def check_prefix(prefix: str) -> str:
    """Return `prefix` if it is a valid project prefix, else raise ValueError."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"network prefix {prefix!r} must be 'kyb' plus at most 5 of [a-z0-9]")
    return prefix


def check_node_name(name: str) -> str:
    """Node names are DNS-1123 labels/subdomains, at most 63 characters here."""
    if not _NODE.fullmatch(name):
        raise ValueError(f"node name {name!r} is not a DNS-1123 name of at most 63 characters")
    return name


def check_pod_uid(uid: str) -> str:
    if not _UID.fullmatch(uid):
        raise ValueError(f"pod uid {uid!r} has characters a file name cannot hold")
    return uid


def owns_netns(prefix: str, netns: str) -> bool:
    """True if the namespace name belongs to the cluster with this prefix."""
    return netns.startswith(f"{prefix}-") and bool(_NETNS.fullmatch(netns))


def root_bridge(prefix: str) -> str:
    return f"{prefix}0"


def node_veth(prefix: str, node_name: str) -> str:
    return f"{prefix}n{_digest(node_name, 6)}"


def owns_root_link(prefix: str, link: str) -> bool:
    """True if a link of the root namespace was created for this prefix."""
    return link == root_bridge(prefix) or re.fullmatch(f"{prefix}n[0-9a-f]{{6}}", link) is not None


def node_netns(prefix: str, node_name: str) -> str:
    return f"{prefix}-node-{check_node_name(node_name)}"


def pod_netns(prefix: str, uid: str) -> str:
    return f"{prefix}-pod-{check_pod_uid(uid)}"


def pod_veth(uid: str) -> str:
    """The node host's end of a pod's veth, named as the CNI bridge plugin does."""
    return f"veth{_digest(uid, 8)}"


def netns_path(netns: str) -> str:
    """Where `ip netns` mounts a namespace; runc's `linux.namespaces[].path`."""
    return os.path.join(NETNS_DIR, netns)
