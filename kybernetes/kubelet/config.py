"""What one kubelet is told: its node, its directories, its cluster settings.

Built by the CLI (``kyb server``'s in-process agent or ``kyb agent``) and
handed to ``kubelet.Kubelet``; every other kubelet module reads from it and
none writes to it. Paths follow k3s's agent layout under ``<data-dir>/agent``::

    agent/kubelet/pods/<uid>/volumes/<plugin>/<name>   volumes (as /var/lib/kubelet/pods)
    agent/kubelet/pods/<uid>/etc-hosts, resolv.conf    per-pod files the containers mount
    agent/logs/pods/<ns>_<pod>_<uid>/<container>/<n>.log   CRI logs (as /var/log/pods)
    agent/runtime/                                     the container runtime's data dir
    agent/tls/                                         the node's client and serving certs
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

KUBELET_VERSION = "v1.32.0-kyb"
DEFAULT_PORT = 10250
# The identity the API server presents to kubelets (kube-apiserver's
# --kubelet-client-certificate: CN kube-apiserver-kubelet-client, O system:masters).
APISERVER_CLIENT_CN = "kube-apiserver-kubelet-client"


@dataclass
class KubeletConfig:
    node_name: str
    data_dir: str  # the agent's data dir; everything of this node lives under <data_dir>/agent
    cluster_dns: list[str] = field(default_factory=lambda: ["10.96.0.10"])
    cluster_domain: str = "cluster.local"
    port: int = DEFAULT_PORT  # the kubelet's HTTPS API, on the node host's address
    # TLS for the kubelet's own API: its serving pair, and the CA whose client
    # certificates (CN APISERVER_CLIENT_CN) it accepts.
    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    # The cluster's network plan (kybernetes.network.addressing.AddressPlan):
    # every kubelet and the server of one cluster pass the same values.
    network_prefix: str = "kyb"  # names of netns/links (kybernetes.network.naming)
    node_network: str = "172.31.255.0/24"
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    network_state_root: str | None = None  # default kybernetes.network.naming.STATE_ROOT
    use_node_host: bool = True  # the node lives in its own network namespace (DESIGN.md)
    max_pods: int = 110
    node_labels: dict[str, str] = field(default_factory=dict)
    register_taints: list[dict] = field(default_factory=list)
    lease_duration_seconds: int = 40
    lease_renew_interval: float = 10.0
    node_status_update_frequency: float = 10.0
    sync_frequency: float = 10.0  # periodic resync of every pod (kubelet --sync-frequency)
    cgroup_parent: str | None = None  # default /kybernetes/<node-name>
    log_max_size: int = 10 * 1024 * 1024  # containerLogMaxSize
    log_max_files: int = 5  # containerLogMaxFiles

    @property
    def agent_dir(self) -> str:
        return os.path.join(os.path.abspath(self.data_dir), "agent")

    @property
    def root_dir(self) -> str:
        """The kubelet's --root-dir (pods, volumes)."""
        return os.path.join(self.agent_dir, "kubelet")

    @property
    def pods_dir(self) -> str:
        return os.path.join(self.root_dir, "pods")

    @property
    def log_dir(self) -> str:
        """Where container logs go (the node's /var/log/pods)."""
        return os.path.join(self.agent_dir, "logs", "pods")

    @property
    def runtime_dir(self) -> str:
        return os.path.join(self.agent_dir, "runtime")

    @property
    def tls_dir(self) -> str:
        return os.path.join(self.agent_dir, "tls")

    @property
    def cgroup(self) -> str:
        return self.cgroup_parent or f"/kybernetes/{self.node_name}"

    def pod_dir(self, uid: str) -> str:
        return os.path.join(self.pods_dir, uid)

    def pod_log_dir(self, namespace: str, name: str, uid: str) -> str:
        return os.path.join(self.log_dir, f"{namespace}_{name}_{uid}")
