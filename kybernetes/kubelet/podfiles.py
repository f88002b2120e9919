"""The files every container of a pod sees at /etc: hosts, resolv.conf, hostname;
and each container's termination-message file.

/etc/hosts is the kubelet's managed hosts file (managedHostsFileContent,
hostsEntriesFromHostAliases); a hostNetwork pod gets the node's own hosts
file under a header saying so. resolv.conf follows dnsPolicy as the
kubelet's dns.Configurer.GetPodDNS decides it, written in containerd's
format (search, nameserver lines, options). /etc/hostname is the pod's
hostname (the FQDN with setHostnameAsFQDN). All live in the pod directory
(``etc-hosts``, ``resolv.conf``, ``hostname``) and are bind-mounted.
"""

from __future__ import annotations

import os
import socket

from kybernetes.kubelet.config import KubeletConfig
from kybernetes.runtime.spec import Mount

HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
HOST_NETWORK_HOSTS_HEADER = "# Kubernetes-managed hosts file (host network).\n"
DEFAULT_DNS_OPTIONS = ["ndots:5"]
MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_CHARS = 2048
MAX_SEARCH_LENGTH = 253
MAX_HOSTNAME = 63
MAX_TERMINATION_MESSAGE = 4096
DEFAULT_TERMINATION_PATH = "/dev/termination-log"


# -- hostname ------------------------------------------------------------------------------


def _truncate(hostname: str) -> str:
    """truncatePodHostnameIfNeeded: 63 characters, without a trailing '-' or '.'."""
    if len(hostname) <= MAX_HOSTNAME:
        return hostname
    return hostname[:MAX_HOSTNAME].rstrip("-.")


def hostname_and_domain(pod: dict, cluster_domain: str) -> tuple[str, str]:
    """GeneratePodHostNameAndDomain: (hostname, "<subdomain>.<ns>.svc.<domain>" or "")."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    hostname = _truncate(spec.get("hostname") or meta.get("name", ""))
    domain = ""
    if spec.get("subdomain") and cluster_domain:
        domain = f"{spec['subdomain']}.{meta.get('namespace', '')}.svc.{cluster_domain}"
    return hostname, domain


def pod_hostname(pod: dict, cluster_domain: str) -> str:
    """What the pod's UTS hostname is: the node's for hostNetwork pods, else the
    pod's hostname (its FQDN with setHostnameAsFQDN)."""
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        return socket.gethostname()
    hostname, domain = hostname_and_domain(pod, cluster_domain)
    if spec.get("setHostnameAsFQDN") and domain:
        return f"{hostname}.{domain}"
    return hostname


# -- /etc/hosts --------------------------------------------------------------------------------


def host_aliases(aliases: list[dict] | None) -> str:
    if not aliases:
        return ""
    lines = ["", "# Entries added by HostAliases."]
    for a in aliases:
        lines.append(f"{a.get('ip', '')}\t" + "\t".join(a.get("hostnames") or []))
    return "\n".join(lines) + "\n"


def managed_hosts(pod_ips: list[str], hostname: str, domain: str, aliases: list[dict] | None) -> str:
    out = [HOSTS_HEADER,
           "127.0.0.1\tlocalhost\n",
           "::1\tlocalhost ip6-localhost ip6-loopback\n",
           "fe00::0\tip6-localnet\n",
           "fe00::0\tip6-mcastprefix\n",
           "fe00::1\tip6-allnodes\n",
           "fe00::2\tip6-allrouters\n"]
    for ip in pod_ips:
        out.append(f"{ip}\t{hostname}.{domain}\t{hostname}\n" if domain else f"{ip}\t{hostname}\n")
    return "".join(out) + host_aliases(aliases)


def host_network_hosts(node_hosts: str, aliases: list[dict] | None) -> str:
    return HOST_NETWORK_HOSTS_HEADER + node_hosts + host_aliases(aliases)


# -- /etc/resolv.conf --------------------------------------------------------------------------


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """parseResolvConf: nameservers accumulate; the last search and options lines win."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("#"):
            continue
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            servers.append(fields[1])
        elif fields[0] == "search":
            searches = [s.removesuffix(".") for s in fields[1:]]
        elif fields[0] == "options":
            options = fields[1:]
    return servers, searches, options


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _merge_options(existing: list[str], extra: list[dict]) -> list[str]:
    """mergeDNSOptions: the pod's dnsConfig options override same-named ones."""
    merged: dict[str, str] = {}
    for op in existing:
        name, _, value = op.partition(":")
        merged[name] = value
    for op in extra:
        merged[op.get("name", "")] = op.get("value") or ""
    return [f"{k}:{v}" if v else k for k, v in merged.items()]


def _fit_searches(searches: list[str]) -> list[str]:
    """formDNSSearchFitsLimits (ExpandedDNSConfig): 32 paths, 2048 characters, none over 253."""
    searches = [s for s in searches[:MAX_DNS_SEARCH_PATHS] if len(s) <= MAX_SEARCH_LENGTH]
    while searches and len(" ".join(searches)) > MAX_DNS_SEARCH_CHARS:
        searches = searches[:-1]
    return searches


def dns_policy(pod: dict) -> str:
    """getPodDNSType: "cluster", "host" or "none"."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "none"
    if policy == "ClusterFirstWithHostNet":
        return "cluster"
    if policy == "ClusterFirst" and not spec.get("hostNetwork"):
        return "cluster"
    if policy in ("ClusterFirst", "Default"):
        return "host"
    return "cluster"


def pod_dns(pod: dict, cluster_dns: list[str], cluster_domain: str, host_resolv: str
            ) -> tuple[list[str], list[str], list[str]]:
    """GetPodDNS: (nameservers, searches, options)."""
    servers, searches, options = parse_resolv_conf(host_resolv)
    kind = dns_policy(pod)
    if kind == "none":
        servers, searches, options = [], [], []
    elif kind == "cluster" and cluster_dns:
        servers = list(cluster_dns)
        if cluster_domain:
            ns = (pod.get("metadata") or {}).get("namespace", "")
            searches = _unique([f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
                               + searches)
        options = list(DEFAULT_DNS_OPTIONS)
    config = (pod.get("spec") or {}).get("dnsConfig")
    if config:
        servers = _unique(servers + list(config.get("nameservers") or []))
        searches = _unique(searches + list(config.get("searches") or []))
        options = _merge_options(options, config.get("options") or [])
    return servers[:MAX_DNS_NAMESERVERS], _fit_searches(searches), options


def resolv_conf_content(servers: list[str], searches: list[str], options: list[str]) -> str:
    """containerd's parseDNSOptions."""
    out = ""
    if searches:
        out += f"search {' '.join(searches)}\n"
    if servers:
        out += "".join(f"nameserver {s}\n" for s in servers)
    if options:
        out += f"options {' '.join(options)}\n"
    return out


def host_resolv_conf_path() -> str:
    """The node's resolver config; systemd-resolved's upstream list rather than its
    127.0.0.53 stub, which a pod's network namespace cannot reach (as k3s picks it)."""
    try:
        with open("/etc/resolv.conf") as f:
            servers, _, _ = parse_resolv_conf(f.read())
    except OSError:
        return "/etc/resolv.conf"
    resolved = "/run/systemd/resolve/resolv.conf"
    if servers and all(s.startswith("127.") or s == "::1" for s in servers) and os.path.exists(resolved):
        return resolved
    return "/etc/resolv.conf"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


# -- writing -----------------------------------------------------------------------------------


def _write(path: str, content: str, mode: int = 0o644) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write(config: KubeletConfig, pod: dict, pod_ip: str | list[str] | None) -> list[Mount]:
    """Write the pod's etc-hosts, resolv.conf and hostname into its directory, and the
    containers' termination-message files; returns the /etc mounts every container gets
    (drop any whose path the container mounts a volume at)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    pod_dir = config.pod_dir(meta.get("uid", ""))
    os.makedirs(pod_dir, mode=0o750, exist_ok=True)
    ips = [pod_ip] if isinstance(pod_ip, str) else list(pod_ip or [])
    ips = [ip for ip in ips if ip]

    hosts_path = os.path.join(pod_dir, "etc-hosts")
    if spec.get("hostNetwork"):
        hosts = host_network_hosts(_read("/etc/hosts"), spec.get("hostAliases"))
    else:
        hostname, domain = hostname_and_domain(pod, config.cluster_domain)
        hosts = managed_hosts(ips, hostname, domain, spec.get("hostAliases"))
    _write(hosts_path, hosts)

    resolv_path = os.path.join(pod_dir, "resolv.conf")
    servers, searches, options = pod_dns(pod, config.cluster_dns, config.cluster_domain,
                                         _read(host_resolv_conf_path()))
    _write(resolv_path, resolv_conf_content(servers, searches, options))

    hostname_path = os.path.join(pod_dir, "hostname")
    _write(hostname_path, pod_hostname(pod, config.cluster_domain) + "\n")

    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        path = termination_log_path(config, pod, c.get("name", ""))
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
            _write(path, "", 0o666)
    return [Mount(hosts_path, "/etc/hosts"),
            Mount(resolv_path, "/etc/resolv.conf"),
            Mount(hostname_path, "/etc/hostname")]


def termination_log_path(config: KubeletConfig, pod: dict, container_name: str) -> str:
    uid = (pod.get("metadata") or {}).get("uid", "")
    return os.path.join(config.pod_dir(uid), "containers", container_name, "termination-log")


def termination_log_mount(config: KubeletConfig, pod: dict, container: dict) -> Mount | None:
    """The container's terminationMessagePath, emptied for a new container instance
    (the kubelet gives every instance a fresh file); None when the path is unset."""
    target = container.get("terminationMessagePath", DEFAULT_TERMINATION_PATH)
    if not target:
        return None
    path = termination_log_path(config, pod, container.get("name", ""))
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    _write(path, "", 0o666)
    return Mount(path, target)


def termination_message(config: KubeletConfig, pod: dict, container_name: str) -> str:
    """What the container wrote to its termination-message file (its last 4096 bytes)."""
    path = termination_log_path(config, pod, container_name)
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - MAX_TERMINATION_MESSAGE))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
