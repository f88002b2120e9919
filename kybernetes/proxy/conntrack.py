"""Flushing stale UDP conntrack entries, as kube-proxy's conntrack.CleanStaleEntries.

UDP has no connection to end: a client that keeps sending to a Service keeps
its conntrack entry, DNATed to the endpoint it was first sent to, even after
that endpoint is gone. So after a sync kube-proxy deletes (inside the node
host only):

- for every UDP endpoint removed from a service port, the entries DNATed to it
  (`-D --orig-dst <clusterIP> --dst-nat <ip> -p udp`, and by node port);
- for a UDP service port that had no endpoints and now has some, every entry
  for its cluster IP and node port: those were REJECTed and would stay so.
"""

from __future__ import annotations

import logging

from kybernetes.proxy import hosts, services
from kybernetes.proxy.services import ProxyState

log = logging.getLogger(__name__)


def stale_udp(old: ProxyState | None, new: ProxyState) -> list[list[str]]:
    """The `conntrack` argument lists to run after moving from `old` to `new`."""
    if old is None:
        return []
    commands: list[list[str]] = []
    for key, svc in old.services.items():
        if svc.proto != "udp":
            continue
        before = {str(ep): ep for ep in services.categorize(old.endpoints_of(key), svc).reachable}
        after_svc = new.services.get(key)
        after = set()
        if after_svc is not None:
            after = {str(ep) for ep in services.categorize(new.endpoints_of(key), after_svc).reachable}
        for name in sorted(set(before) - after):
            ip = before[name].ip
            commands.append(["-D", "--orig-dst", svc.cluster_ip, "--dst-nat", ip, "-p", "udp"])
            if svc.node_port:
                commands.append(["-D", "-p", "udp", "--dport", str(svc.node_port), "--dst-nat", ip])
    for key, svc in new.services.items():
        if svc.proto != "udp":
            continue
        had = key in old.services and services.categorize(old.endpoints_of(key), old.services[key]).has_any
        if not had and services.categorize(new.endpoints_of(key), svc).has_any:
            commands.append(["-D", "--orig-dst", svc.cluster_ip, "-p", "udp"])
            if svc.node_port:
                commands.append(["-D", "-p", "udp", "--dport", str(svc.node_port)])
    return commands


async def flush_stale_udp(netns: hosts.NodeHostNetns, old: ProxyState | None, new: ProxyState,
                          node_ips: list[str] | None = None) -> int:
    """Run the deletions; 'no entries matched' (exit 1) is not an error."""
    commands = stale_udp(old, new)
    for args in commands:
        try:
            await netns.run("conntrack", *args)
        except hosts.CommandFailed as e:
            if "0 flow entries" not in e.stderr:
                log.warning("conntrack %s failed: %s", " ".join(args), e.stderr)
    return len(commands)
