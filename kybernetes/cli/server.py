"""``kyb server``: the control plane in one process, as ``k3s server``.

Opens the datastore, makes or reuses the cluster's certificates, writes the
admin kubeconfig and the join token (``<data-dir>/token``), starts the API
server (with the join endpoints, ``apiserver.join``), the controller manager
and the scheduler, prints when it is ready, and then runs an agent for this
machine in the same process unless ``--disable-agent`` (``cli.agent``: its
node credentials signed here directly), and installs the addons
(``cli.addons``: the cluster DNS) unless ``--disable``d. Pods reach the API
server on the network plan's root bridge address, which it listens on and
advertises. Stops cleanly on SIGTERM or SIGINT; containers keep running
(``kyb killall`` stops them).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal

from kybernetes import storage
from kybernetes.api import status
from kybernetes.apiserver import authn, join, pki
from kybernetes.apiserver import server as apiserver
from kybernetes.cli import addons, agent, components
from kybernetes.client import kubeconfig, rest
from kybernetes.controllers import manager
from kybernetes.storage import errors as storage_errors


class FatalError(Exception):
    """A start-up failure to report in one line."""


def default_data_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/kybernetes"
    return os.path.join(os.path.expanduser("~"), ".kybernetes")


def add_parser(sub) -> None:
    p = sub.add_parser("server", help="run the control plane (and, unless disabled, an agent)")
    p.add_argument("--data-dir", default=None,
                   help="state directory (default /var/lib/kybernetes, or ~/.kybernetes when not root)")
    p.add_argument("--datastore-endpoint", default=None,
                   help="sqlite:///path/state.db (default <data-dir>/state.db) or http(s)://etcd:2379[,...]")
    p.add_argument("--bind-address", default="127.0.0.1", help="address the API server listens on")
    p.add_argument("--advertise-address", default=None,
                   help="the API server's address in the kubernetes Service's endpoints (default: the "
                        "root bridge's address of the network plan, where pods reach it; the server "
                        "listens there too)")
    p.add_argument("--https-listen-port", type=int, default=6443, help="API server port")
    p.add_argument("--write-kubeconfig", default=None,
                   help="where to write the admin kubeconfig (default <data-dir>/kubeconfig.yaml)")
    p.add_argument("--disable-agent", action="store_true", help="run the control plane only")
    p.add_argument("--disable", action="append", default=[], metavar="ADDON",
                   help="leave out an addon installed at start (repeatable or comma list; today: dns, "
                        "also called coredns)")
    p.add_argument("--dns-upstream", default=None, metavar="HOST[:PORT],...|none",
                   help="where the DNS addon forwards names outside the cluster (default: the resolvers "
                        "of its node's /etc/resolv.conf; none: no forwarding, SERVFAIL)")
    p.add_argument("--service-cidr", default="10.96.0.0/12")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--tls-san", action="append", default=[], help="extra name or IP for the serving certificate")
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300)
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300)
    p.add_argument("--disable-controller-manager", action="store_true")
    p.add_argument("--disable-scheduler", action="store_true")
    p.add_argument("--controllers", default="*", help="controllers to run (comma-separated, * for all)")
    components.add_controller_flags(p)
    agent.add_cluster_flags(p, server=True, skip=("--cluster-cidr", "--service-cidr", "--cluster-domain"))
    agent.add_node_flags(p)
    p.set_defaults(run=run)


def _addresses(args: argparse.Namespace, cluster: dict) -> tuple[str, tuple[str, ...]]:
    """The address to advertise in the ``kubernetes`` Service's endpoints, and
    the addresses to listen on beside ``--bind-address``. Pods live behind
    node hosts and cannot reach the machine's loopback, so by default the
    server also listens on the network plan's root bridge address (on the
    cluster's own bridge: only its namespaces reach it) and advertises that,
    as k3s advertises its node IP; kube-proxy then DNATs 10.96.0.1:443 there."""
    from kybernetes.network.addressing import AddressPlan

    wildcard = args.bind_address in ("0.0.0.0", "::")
    try:
        bridge = str(AddressPlan(prefix=cluster["networkPrefix"], node_network=cluster["nodeNetwork"],
                                 cluster_cidr=cluster["clusterCIDR"],
                                 service_cidr=cluster["serviceCIDR"]).bridge_address.ip)
    except (KeyError, ValueError):
        bridge = None
    advertise = args.advertise_address or bridge or ("127.0.0.1" if wildcard else args.bind_address)
    extra = () if wildcard else tuple(dict.fromkeys(
        a for a in (bridge, advertise) if a and a != args.bind_address))
    return advertise, extra


def _certificates(data_dir: str, service_ip: str,
                  extra: tuple[str, ...]) -> tuple[pki.Pair, pki.Pair, pki.Pair, str]:
    tls = os.path.join(data_dir, "tls")
    os.makedirs(tls, mode=0o700, exist_ok=True)
    os.chmod(tls, 0o700)
    ca = pki.ensure_ca(tls)
    serving = pki.ensure_serving(ca, tls, service_ip, extra)
    admin = pki.ensure_client(ca, tls, "client-admin", "system:admin", ("system:masters",))
    return ca, serving, admin, pki.ensure_service_account_key(tls)


async def run(args: argparse.Namespace) -> int:
    # A server keeps many long-lived objects (watch caches, informer stores):
    # collect young garbage less often than the interpreter's default 700.
    gc.set_threshold(50_000, 20, 100)
    data_dir = os.path.abspath(args.data_dir or default_data_dir())
    url = args.datastore_endpoint or f"sqlite://{os.path.join(data_dir, 'state.db')}"
    try:
        disabled = addons.disabled(args.disable)
    except addons.AddonError as e:
        raise FatalError(str(e)) from e
    try:
        cluster = agent.with_defaults(agent.cluster_settings(args))
    except ValueError as e:
        raise FatalError(f"bad --service-cidr: {e}") from e
    advertise, extra_listen = _addresses(args, cluster)
    settings = apiserver.Settings(
        bind_address=args.bind_address, port=args.https_listen_port,
        service_cidr=args.service_cidr, cluster_domain=args.cluster_domain,
        advertise_address=advertise, extra_bind_addresses=extra_listen,
        default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
        default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
    )
    try:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        os.chmod(data_dir, 0o700)
        import ipaddress
        service_ip = str(ipaddress.ip_network(args.service_cidr, strict=False).network_address + 1)
        sans = (advertise, *extra_listen, f"kubernetes.default.svc.{args.cluster_domain}", *args.tls_san)
        ca, serving, admin, sa_key = _certificates(data_dir, service_ip, sans)
        settings.service_account_key_file = sa_key
        kubelet_client = pki.ensure_kubelet_client(ca, os.path.join(data_dir, "tls"))
        settings.kubelet_client_certificate, settings.kubelet_client_key = kubelet_client.cert, kubelet_client.key
        settings.kubelet_certificate_authority = ca.cert
        token = join.ensure_token(data_dir, ca)
    except OSError as e:
        raise FatalError(f"cannot use data dir {data_dir}: {e.strerror}") from e
    kubeconfig = os.path.abspath(args.write_kubeconfig or os.path.join(data_dir, "kubeconfig.yaml"))
    host = "127.0.0.1" if args.bind_address in ("0.0.0.0", "::") else args.bind_address
    if not args.disable_agent:
        try:
            agent.check_plan(cluster)
        except agent.AgentError as e:
            raise FatalError(str(e)) from e
    try:
        pki.write_kubeconfig(kubeconfig, f"https://{host}:{args.https_listen_port}", ca, admin)
    except OSError as e:
        raise FatalError(f"cannot write kubeconfig {kubeconfig}: {e.strerror}") from e

    store = storage.open_store(url)
    try:
        await store.start()
    except storage_errors.DatastoreError as e:
        raise FatalError(str(e)) from e
    try:
        server = apiserver.APIServer(store, settings, authn.Authenticator(),
                                     apiserver.ssl_context(serving.cert, serving.key, ca.cert))
    except ValueError as e:  # an unreadable service-account key
        await store.close()
        raise FatalError(f"cannot load service account key {sa_key}: {e}") from e
    nodes = server.state.resource_store("", "v1", "nodes")

    async def node_exists(name: str) -> bool:
        try:
            await nodes.read("", name)
            return True
        except status.StatusError:
            return False

    server.state.join = join.JoinService(ca, token, cluster, node_exists=node_exists)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task] = []
    try:
        try:
            await server.start()
        except OSError as e:
            raise FatalError(f"cannot listen on {args.bind_address}:{args.https_listen_port}: "
                             f"{e.strerror}") from e
        print(f"kyb server: datastore {store.name} (revision {await store.current_revision()})", flush=True)
        print(f"kyb server: kubeconfig written to {kubeconfig}", flush=True)
        print(f"kyb server: join token written to {join.token_path(data_dir)}", flush=True)
        tasks = _control_plane(args, kubeconfig_path=kubeconfig)
        if "dns" not in disabled:
            tasks.append(asyncio.create_task(_dns_addon(args, cluster["clusterDNS"], kubeconfig), name="addon dns"))
        print(f"kyb server: ready, API server at https://{host}:{args.https_listen_port}", flush=True)
        if not args.disable_agent:
            tasks.append(asyncio.create_task(
                _agent(args, data_dir, ca, f"https://{host}:{args.https_listen_port}", cluster,
                       server.state.join.passwords),
                name="agent"))
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await server.stop()
        await store.close()
    return 0


def _control_plane(args: argparse.Namespace, *, kubeconfig_path: str) -> list[asyncio.Task]:
    """The controller manager and the scheduler, in this process, talking to
    the API server over loopback like any other client (as k3s runs them)."""
    tasks = []
    if not args.disable_controller_manager:
        tasks.append(asyncio.create_task(_controller_manager(args, kubeconfig_path),
                                         name="controller-manager"))
    if not args.disable_scheduler:
        tasks.append(asyncio.create_task(_scheduler(kubeconfig_path), name="scheduler"))
    return tasks


async def _dns_addon(args: argparse.Namespace, cluster_dns: str, kubeconfig_path: str) -> None:
    """The DNS addon's objects, created when missing (``cli.addons``)."""
    objects = addons.dns_objects(cluster_dns=cluster_dns.split(",")[0].strip(), cluster_domain=args.cluster_domain,
                                 upstream=args.dns_upstream)
    async with rest.Client(kubeconfig.load(kubeconfig_path), component="kyb-addons") as client:
        await addons.run(client, objects)


async def _controller_manager(args: argparse.Namespace, kubeconfig_path: str) -> None:
    async with rest.Client(kubeconfig.load(kubeconfig_path), component="kube-controller-manager") as client:
        cm = manager.ControllerManager(client, components.controller_settings(args),
                                       controllers=components.controller_names(args.controllers))
        await cm.run()


async def _scheduler(kubeconfig_path: str) -> None:
    try:
        from kybernetes.scheduler import scheduler
    except ImportError:  # not built yet
        return
    async with rest.Client(kubeconfig.load(kubeconfig_path), component="kube-scheduler") as client:
        await scheduler.Scheduler(client).run()


async def _agent(args: argparse.Namespace, data_dir: str, ca: pki.Pair, server_url: str,
                 cluster: dict, passwords: join.NodePasswords) -> None:
    """This machine's node, in this process (k3s server's embedded agent). A
    failure ends the agent only: the control plane keeps serving."""
    import logging
    import sys

    try:
        node_name = (args.node_name or agent.default_node_name()).lower()
        join.check_node_name(node_name)
        files = await asyncio.to_thread(agent.prepare_local, data_dir, ca, node_name, server_url,
                                        cluster, passwords)
        # k3s marks its server's node with the control-plane role (`kubectl get nodes` ROLES).
        labels = {"node-role.kubernetes.io/control-plane": "true", **agent.node_labels(args.node_label)}
        config = agent.kubelet_config(data_dir, node_name, files, cluster,
                                      labels=labels, port=args.kubelet_port)
        await agent.run_node(config, files, server_url,
                             proxy_mode=None if args.disable_kube_proxy else args.proxy_mode)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - reported, the control plane stays up
        logging.getLogger(__name__).exception("agent failed")
        print(f"kyb server: agent failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
