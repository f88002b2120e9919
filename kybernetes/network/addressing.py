"""The address plan of one cluster's network, and address arithmetic.

Three IPv4 ranges, all private and pairwise disjoint:

    node_network   172.31.255.0/24  the root bridge <prefix>0 holds .1; every
                                    node host gets one address on it (eth0)
    cluster_cidr   10.244.0.0/16    pod addresses; a /24 podCIDR per node whose
                                    first address sits on the node's cbr0
    service_cidr   10.96.0.0/12     Service virtual IPs (kube-proxy's business)

The plan is written onto the root bridge as its alias (`ip link show kyb0`), so
the kernel itself records which ranges a prefix claimed: a restarted agent can
check it is joining the same plan, and `cleanup` knows which fallback routes
to remove even when every process of the cluster is gone.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from kybernetes.network import naming

# Every route the package adds carries this protocol number (`ip route show
# proto 147`); kernel values end at 99 before the routing daemons' 186+.
ROUTE_PROTO = 147
ROUTE_METRIC = 100  # the real route into a node host
FALLBACK_METRIC = 4000  # the `unreachable` route behind it, for the whole range

PRIVATE_RANGES = tuple(
    IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_ALIAS_HEAD = "kybernetes"


def network(value: str | IPv4Network) -> IPv4Network:
    """Parse an IPv4 network given in strict CIDR form (no host bits)."""
    try:
        net = ipaddress.ip_network(value)
    except ValueError as e:
        raise ValueError(f"{value!r} is not a CIDR without host bits") from e
    if not isinstance(net, IPv4Network):
        raise ValueError(f"{value!r}: only IPv4 is supported")
    return net


def gateway(cidr: IPv4Network) -> IPv4Interface:
    """The first host address of a range, with the range's prefix length."""
    return IPv4Interface(f"{cidr.network_address + 1}/{cidr.prefixlen}")


def mac_for(address: IPv4Address) -> str:
    """A locally administered MAC from an IPv4 address, as CNI's SetHWAddrByIP
    does (0a:58:a.b.c.d): stable across restarts, so neighbours' ARP caches
    never go stale when an address is reused, and a bridge keeps its MAC when
    ports come and go."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in address.packed)


@dataclasses.dataclass(frozen=True)
class AddressPlan:
    """The ranges and names of one cluster's network; validated when built."""

    prefix: str = naming.PROJECT_PREFIX
    node_network: IPv4Network = IPv4Network("172.31.255.0/24")
    cluster_cidr: IPv4Network = IPv4Network("10.244.0.0/16")
    service_cidr: IPv4Network = IPv4Network("10.96.0.0/12")
    mtu: int = 1500

    def __post_init__(self) -> None:
        naming.check_prefix(self.prefix)
        for field in ("node_network", "cluster_cidr", "service_cidr"):
            object.__setattr__(self, field, network(getattr(self, field)))
        for name, net in self.ranges().items():
            if not any(net.subnet_of(p) for p in PRIVATE_RANGES):
                raise ValueError(f"{name} {net} is not inside a private range (RFC 1918 or 100.64/10)")
        nets = list(self.ranges().items())
        for i, (a_name, a) in enumerate(nets):
            for b_name, b in nets[i + 1:]:
                if a.overlaps(b):
                    raise ValueError(f"{a_name} {a} overlaps {b_name} {b}")
        if self.node_network.prefixlen > 29:
            raise ValueError(f"node_network {self.node_network} is too small")
        if not 576 <= self.mtu <= 65535:
            raise ValueError(f"mtu {self.mtu} out of range")

    def ranges(self) -> dict[str, IPv4Network]:
        return {"node_network": self.node_network, "cluster_cidr": self.cluster_cidr,
                "service_cidr": self.service_cidr}

    @property
    def bridge(self) -> str:
        return naming.root_bridge(self.prefix)

    @property
    def bridge_address(self) -> IPv4Interface:
        return gateway(self.node_network)

    def check_pod_cidr(self, pod_cidr: str | IPv4Network) -> IPv4Network:
        """A node's podCIDR must lie inside the cluster CIDR and hold pods."""
        net = network(pod_cidr)
        if not net.subnet_of(self.cluster_cidr):
            raise ValueError(f"podCIDR {net} is not inside the cluster CIDR {self.cluster_cidr}")
        if net.prefixlen > 29:
            raise ValueError(f"podCIDR {net} is too small")
        return net

    def alias(self) -> str:
        """The description written on the root bridge (IFLA_IFALIAS)."""
        return (f"{_ALIAS_HEAD} nodes={self.node_network} pods={self.cluster_cidr} "
                f"services={self.service_cidr} mtu={self.mtu}")

    @classmethod
    def from_alias(cls, prefix: str, alias: str) -> AddressPlan | None:
        """Read a plan back from a bridge alias; None if it is not one of ours."""
        words = alias.split()
        if not words or words[0] != _ALIAS_HEAD:
            return None
        try:
            fields = dict(w.split("=", 1) for w in words[1:])
            return cls(prefix=prefix, node_network=network(fields["nodes"]),
                       cluster_cidr=network(fields["pods"]),
                       service_cidr=network(fields["services"]), mtu=int(fields["mtu"]))
        except (KeyError, ValueError):
            return None
