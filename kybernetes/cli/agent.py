"""``kyb agent``: a node joining a cluster by token, as ``k3s agent``; and the
agent half of ``kyb server``.

A new agent trusts nothing until the token says so: it fetches the server's
CA from ``/cacerts``, checks the bytes against the token's CA hash, and only
then asks for its credentials (``apiserver.join``). Credentials are stored
under ``<data-dir>/agent/tls`` with the cluster settings the server sent, and
reused on every later start: the token is needed once. Then it writes the
node's kubeconfig (``agent/kubelet.kubeconfig``, as k3s's) and runs the
kubelet, with kube-proxy beside it (unless ``--disable-kube-proxy``), until
SIGTERM or SIGINT; containers keep running after it.

``kyb server`` calls ``prepare_local`` and ``run_node`` for its in-process
agent: the same node layout, its credentials signed by the CA directly.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import ssl
from dataclasses import dataclass

import aiohttp

from kybernetes.apiserver import join, pki
from kybernetes.cli import killall
from kybernetes.client import kubeconfig, rest
from kybernetes.kubelet.config import KubeletConfig

log = logging.getLogger(__name__)

CLUSTER_FILE = "cluster.json"  # under agent/tls: what the server said at join
# The cluster settings every node of a cluster shares: (setting, flag, KubeletConfig field, default).
CLUSTER_SETTINGS = (
    ("clusterCIDR", "--cluster-cidr", "cluster_cidr", "10.244.0.0/16"),
    ("serviceCIDR", "--service-cidr", "service_cidr", "10.96.0.0/12"),
    ("nodeNetwork", "--node-network", "node_network", "172.31.255.0/24"),
    ("networkPrefix", "--network-prefix", "network_prefix", "kyb"),
    ("clusterDNS", "--cluster-dns", "cluster_dns", None),  # None: derived, see with_defaults
    ("clusterDomain", "--cluster-domain", "cluster_domain", "cluster.local"),
)


class AgentError(Exception):
    """A join or start-up failure to report in one line."""


def default_node_name() -> str:
    return socket.gethostname().lower()


def add_node_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the node itself, for ``kyb agent`` and ``kyb server``'s agent."""
    p.add_argument("--node-name", default=None, help="the Node's name (default: the host name)")
    p.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE",
                   help="a label the node registers with (repeatable)")
    p.add_argument("--kubelet-port", type=int, default=10250,
                   help="the kubelet's HTTPS port on the node host's address")
    p.add_argument("--disable-kube-proxy", action="store_true",
                   help="run the kubelet without kube-proxy beside it")
    p.add_argument("--proxy-mode", default="iptables", choices=("iptables", "nftables", "userspace"),
                   help="kube-proxy's mode (its rules go into the node host's namespace only)")


def add_cluster_flags(p: argparse.ArgumentParser, *, server: bool, skip: tuple[str, ...] = ()) -> None:
    """The network plan and cluster DNS flags. An agent's default is whatever
    the server says (these must be one cluster's values); the server's are
    the cluster's defaults."""
    for key, flag, _field, default in CLUSTER_SETTINGS:
        if flag in skip:
            continue
        what = {"clusterCIDR": "pod addresses (nodes get podCIDRs from it)",
                "serviceCIDR": "Service virtual IPs", "nodeNetwork": "node hosts' addresses",
                "networkPrefix": "prefix of the network's namespaces and links",
                "clusterDNS": "the DNS Service IP pods resolve with",
                "clusterDomain": "the cluster's DNS domain"}[key]
        shown = default or "the 10th address of the Service range, 10.96.0.10 for the default one"
        p.add_argument(flag, default=default if server else None,
                       help=f"{what} (default {shown}{'' if server else ', or as the server says'})")


def with_defaults(cluster: dict) -> dict:
    """Every cluster setting, the defaults where ``cluster`` has none; the DNS
    Service's address is the 10th of the Service range, as k3s derives it.
    A Service range that is not one raises ValueError."""
    out = {key: cluster.get(key) or default for key, _flag, _field, default in CLUSTER_SETTINGS}
    if not out["clusterDNS"]:
        out["clusterDNS"] = str(ipaddress.ip_network(out["serviceCIDR"], strict=False).network_address + 10)
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("agent", help="run a node that joins a cluster by token")
    p.add_argument("--server", required=True, help="the API server, https://HOST:PORT")
    p.add_argument("--token", default=None, help="the join token (the server's <data-dir>/token)")
    p.add_argument("--token-file", default=None, help="a file holding the join token")
    p.add_argument("--data-dir", default=None,
                   help="state directory (default /var/lib/kybernetes, or ~/.kybernetes when not root)")
    add_node_flags(p)
    add_cluster_flags(p, server=False)
    p.set_defaults(run=run)


def node_labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AgentError(f"--node-label {pair!r}: want KEY=VALUE")
        labels[key] = value
    return labels


def cluster_settings(args: argparse.Namespace) -> dict:
    """The cluster settings given by flags (None where not given)."""
    return {key: getattr(args, field_name_of(flag)) for key, flag, _f, _d in CLUSTER_SETTINGS
            if hasattr(args, field_name_of(flag))}


def field_name_of(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class NodeFiles:
    """A node's credentials and kubeconfig, under ``<data-dir>/agent``."""

    data_dir: str

    @property
    def tls_dir(self) -> str:
        return os.path.join(os.path.abspath(self.data_dir), "agent", "tls")

    @property
    def ca(self) -> str:
        return os.path.join(self.tls_dir, "server-ca.crt")

    @property
    def client(self) -> pki.Pair:
        return pki.Pair(os.path.join(self.tls_dir, "client-kubelet.crt"),
                        os.path.join(self.tls_dir, "client-kubelet.key"))

    @property
    def serving(self) -> pki.Pair:
        return pki.Pair(os.path.join(self.tls_dir, "serving-kubelet.crt"),
                        os.path.join(self.tls_dir, "serving-kubelet.key"))

    @property
    def cluster_file(self) -> str:
        return os.path.join(self.tls_dir, CLUSTER_FILE)

    @property
    def node_password(self) -> str:
        """The agent's node password (k3s's /etc/rancher/node/password): made
        once, it proves to the server that a node name is still this agent's."""
        path = os.path.join(os.path.abspath(self.data_dir), "agent", "node-password")
        try:
            with open(path) as f:
                password = f.read().strip()
            if password:
                return password
        except FileNotFoundError:
            pass
        password = secrets.token_hex(16)
        _write(path, password.encode())
        return password

    @property
    def kubeconfig(self) -> str:
        return os.path.join(os.path.abspath(self.data_dir), "agent", "kubelet.kubeconfig")

    def complete_for(self, node_name: str) -> bool:
        """Credentials for this node name are already here (a restart)."""
        paths = (self.ca, self.client.cert, self.client.key, self.serving.cert, self.serving.key,
                 self.cluster_file)
        if not all(os.path.exists(p) for p in paths):
            return False
        cert, _ = pki.load(self.client)
        return pki.identity(cert)[0] == join.NODE_USER_PREFIX + node_name

    def read_cluster(self) -> dict:
        with open(self.cluster_file) as f:
            return json.load(f)

    def write_cluster(self, cluster: dict) -> None:
        _write(self.cluster_file, json.dumps(cluster, indent=1).encode())


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


# -- joining -------------------------------------------------------------------------


async def fetch_ca(session: aiohttp.ClientSession, server: str, token: join.Token) -> bytes:
    """The server's CA, fetched without verification and then checked against
    the token's hash (k3s's ``/cacerts`` bootstrap)."""
    try:
        async with session.get(server.rstrip("/") + join.CACERTS_PATH, ssl=False) as r:
            if r.status != 200:
                raise AgentError(f"{server}{join.CACERTS_PATH}: HTTP {r.status}")
            pem = await r.read()
    except aiohttp.ClientError as e:
        raise AgentError(f"cannot reach {server}: {e}") from e
    try:
        join.verify_ca(token, pem)
    except join.TokenError as e:
        raise AgentError(str(e)) from e
    return pem


async def request_credentials(server: str, token_text: str, node_name: str, node_password: str,
                              node_ips: tuple[str, ...] = ()) -> dict:
    """Join: verify the CA, then obtain this node's credentials and the cluster settings."""
    try:
        token = join.parse_token(token_text)
    except join.TokenError as e:
        raise AgentError(f"bad token: {e}") from e
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ca_pem = await fetch_ca(session, server, token)
        ctx = ssl.create_default_context(cadata=ca_pem.decode())
        body = {"nodeName": node_name, "nodeIP": list(node_ips), "nodePassword": node_password}
        try:
            async with session.post(server.rstrip("/") + join.CREDENTIALS_PATH, json=body, ssl=ctx,
                                    headers={"Authorization": f"Bearer {token.secret}"}) as r:
                data = await r.json(content_type=None)
                if r.status != 200:
                    message = data.get("message") if isinstance(data, dict) else data
                    raise AgentError(f"the server refused to join node {node_name}: "
                                     f"HTTP {r.status} {message}")
        except (aiohttp.ClientError, ValueError) as e:
            raise AgentError(f"cannot obtain credentials from {server}: {e}") from e
    if data.get("caCert", "").encode() != ca_pem:
        raise AgentError("the server's credentials name another CA than /cacerts served")
    return data


def store_credentials(files: NodeFiles, creds: dict) -> None:
    _write(files.ca, creds["caCert"].encode())
    _write(files.client.key, creds["clientKey"].encode())
    _write(files.client.cert, creds["clientCert"].encode())
    _write(files.serving.key, creds["servingKey"].encode())
    _write(files.serving.cert, creds["servingCert"].encode())
    files.write_cluster(creds.get("cluster") or {})


def write_kubeconfig(files: NodeFiles, server: str) -> None:
    pki.write_kubeconfig(files.kubeconfig, server, pki.Pair(files.ca, ""), files.client)


def prepare_local(data_dir: str, ca: pki.Pair, node_name: str, server: str, cluster: dict,
                  passwords: join.NodePasswords) -> NodeFiles:
    """``kyb server``'s own agent: credentials signed by the CA here, no HTTP
    round trip; reused when present. Its node name is claimed as an agent's
    is (no other agent may join under it)."""
    files = NodeFiles(data_dir)
    passwords.set(node_name, files.node_password)
    with open(ca.cert, "rb") as f:
        ca_pem = f.read()
    have_ca = os.path.exists(files.ca) and open(files.ca, "rb").read() == ca_pem
    if not (have_ca and files.complete_for(node_name)):
        creds = join.issue_node_credentials(ca, files.tls_dir, node_name)
        assert creds.client == files.client and creds.serving == files.serving
        _write(files.ca, ca_pem)
    files.write_cluster(cluster)
    write_kubeconfig(files, server)
    return files


# -- running -------------------------------------------------------------------------


def kubelet_config(data_dir: str, node_name: str, files: NodeFiles, cluster: dict, *,
                   labels: dict[str, str], port: int) -> KubeletConfig:
    value = with_defaults(cluster)
    dns = value["clusterDNS"]
    return KubeletConfig(
        node_name=node_name, data_dir=os.path.abspath(data_dir),
        cluster_dns=[d.strip() for d in dns.split(",") if d.strip()] if isinstance(dns, str) else list(dns),
        cluster_domain=value["clusterDomain"], port=port,
        tls_cert=files.serving.cert, tls_key=files.serving.key, client_ca=files.ca,
        network_prefix=value["networkPrefix"], node_network=value["nodeNetwork"],
        cluster_cidr=value["clusterCIDR"], service_cidr=value["serviceCIDR"],
        node_labels=labels,
    )


async def run_node(config: KubeletConfig, files: NodeFiles, server: str, *,
                   proxy_mode: str | None = "iptables") -> None:
    """The kubelet of this node, and kube-proxy beside it unless ``proxy_mode``
    is None (k3s's agent runs both), until cancelled. Records the node for
    ``kyb killall`` first (a crashed agent cannot be asked later)."""
    from kybernetes.kubelet import kubelet

    killall.write_record(config, server=server)
    async with rest.Client(kubeconfig.load(files.kubeconfig), component="kubelet") as client:
        node = kubelet.Kubelet(config, client)
        proxy = None
        if proxy_mode:
            proxy = asyncio.create_task(_kube_proxy(node, config, files, proxy_mode), name="kube-proxy")
        try:
            await node.run()
        finally:
            if proxy is not None:
                proxy.cancel()
                try:
                    await proxy
                except asyncio.CancelledError:
                    pass


async def _kube_proxy(node, config: KubeletConfig, files: NodeFiles, mode: str) -> None:
    """kube-proxy for this node once its node host exists: rules inside the node
    host's namespace, NodePorts on its address. A failure is logged and ends
    kube-proxy only; the kubelet runs on."""
    from kybernetes.network import naming
    from kybernetes.proxy import proxier

    await node.ready.wait()
    if node.node_host is None:
        return
    try:
        async with rest.Client(kubeconfig.load(files.kubeconfig), component="kube-proxy") as client:
            await proxier.run_proxy(client, node_name=config.node_name,
                                    netns=naming.node_netns(config.network_prefix, config.node_name),
                                    mode=mode, cluster_cidr=config.cluster_cidr,
                                    node_ips=[str(node.node_host.address.ip)])
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - reported; the kubelet must not go down with it
        log.exception("kube-proxy failed on node %s", config.node_name)


def check_plan(cluster: dict) -> None:
    """Refuse a network plan that is not valid before touching anything."""
    from kybernetes.network.addressing import AddressPlan

    try:
        AddressPlan(prefix=cluster["networkPrefix"], node_network=cluster["nodeNetwork"],
                    cluster_cidr=cluster["clusterCIDR"], service_cidr=cluster["serviceCIDR"])
    except (KeyError, ValueError) as e:
        raise AgentError(f"bad network plan: {e}") from e


def _token(args: argparse.Namespace) -> str | None:
    if args.token:
        return args.token
    if args.token_file:
        try:
            with open(args.token_file) as f:
                return f.read().strip()
        except OSError as e:
            raise AgentError(f"cannot read --token-file {args.token_file}: {e.strerror}") from e
    return os.environ.get("KYB_TOKEN")


async def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import server as server_cmd

    data_dir = os.path.abspath(args.data_dir or server_cmd.default_data_dir())
    node_name = (args.node_name or default_node_name()).lower()
    try:
        join.check_node_name(node_name)
        labels = node_labels(args.node_label)
        files = NodeFiles(data_dir)
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        if not files.complete_for(node_name):
            token = _token(args)
            if not token:
                raise AgentError("--token (or --token-file, or KYB_TOKEN) is needed to join")
            store_credentials(files, await request_credentials(args.server, token, node_name,
                                                               files.node_password))
            print(f"kyb agent: joined {args.server} as node {node_name}", flush=True)
        cluster = files.read_cluster()
        # Flags override what the server said (they must agree with the cluster's).
        for key, value in cluster_settings(args).items():
            if value is not None:
                cluster[key] = value
        cluster = with_defaults(cluster)
        check_plan(cluster)
        write_kubeconfig(files, args.server)
    except (ValueError, OSError) as e:
        raise server_cmd.FatalError(str(e)) from e
    except AgentError as e:
        raise server_cmd.FatalError(str(e)) from e
    config = kubelet_config(data_dir, node_name, files, cluster, labels=labels, port=args.kubelet_port)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(run_node(config, files, args.server,
                                        proxy_mode=None if args.disable_kube_proxy else args.proxy_mode),
                               name="kubelet")
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    print(f"kyb agent: node {node_name} starting (server {args.server})", flush=True)
    try:
        await task
    except asyncio.CancelledError:
        return 0  # SIGTERM: the kubelet stopped, its containers run on
    except ImportError as e:
        raise server_cmd.FatalError(f"no kubelet in this build: {e}") from e
    return 0
