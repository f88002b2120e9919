"""Per-pod /etc files: the kubelet's managed hosts file, resolv.conf per dnsPolicy
(containerd's format) and /etc/hostname, written into the pod's directory."""

from __future__ import annotations

import os

import pytest

from kybernetes.kubelet import podfiles
from kybernetes.kubelet.config import KubeletConfig

HOST_RESOLV = """# generated
nameserver 192.168.1.1
nameserver 192.168.1.2
search corp.example. lab.example
options timeout:2 attempts:3
"""

BOILERPLATE = ("# Kubernetes-managed hosts file.\n"
               "127.0.0.1\tlocalhost\n"
               "::1\tlocalhost ip6-localhost ip6-loopback\n"
               "fe00::0\tip6-localnet\n"
               "fe00::0\tip6-mcastprefix\n"
               "fe00::1\tip6-allnodes\n"
               "fe00::2\tip6-allrouters\n")


def _pod(**spec):
    return {"metadata": {"name": "web-0", "namespace": "shop", "uid": "uid-1"},
            "spec": {"containers": [{"name": "app"}], **spec}}


def test_hosts_plain():
    hostname, domain = podfiles.hostname_and_domain(_pod(), "cluster.local")
    assert podfiles.managed_hosts(["10.244.1.5"], hostname, domain, None) == BOILERPLATE + "10.244.1.5\tweb-0\n"


def test_hosts_subdomain_and_aliases():
    pod = _pod(hostname="db", subdomain="backend",
               hostAliases=[{"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
                            {"ip": "10.1.2.3", "hostnames": ["foo.remote"]}])
    hostname, domain = podfiles.hostname_and_domain(pod, "cluster.local")
    assert (hostname, domain) == ("db", "backend.shop.svc.cluster.local")
    assert podfiles.managed_hosts(["10.244.1.5", "fd00::5"], hostname, domain, pod["spec"]["hostAliases"]) == (
        BOILERPLATE
        + "10.244.1.5\tdb.backend.shop.svc.cluster.local\tdb\n"
        + "fd00::5\tdb.backend.shop.svc.cluster.local\tdb\n"
        + "\n# Entries added by HostAliases.\n"
        + "127.0.0.1\tfoo.local\tbar.local\n"
        + "10.1.2.3\tfoo.remote\n")


def test_hostname_truncated_and_fqdn():
    pod = _pod()
    pod["metadata"]["name"] = "a" * 62 + "-bcd"
    assert podfiles.hostname_and_domain(pod, "cluster.local")[0] == "a" * 62
    pod = _pod(hostname="h", subdomain="s", setHostnameAsFQDN=True)
    assert podfiles.pod_hostname(pod, "cluster.local") == "h.s.shop.svc.cluster.local"


def test_host_network_hosts():
    text = podfiles.host_network_hosts("127.0.0.1 localhost\n", [{"ip": "1.2.3.4", "hostnames": ["x"]}])
    assert text == ("# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
                    "\n# Entries added by HostAliases.\n1.2.3.4\tx\n")


def _resolv(pod):
    return podfiles.resolv_conf_content(*podfiles.pod_dns(pod, ["10.96.0.10"], "cluster.local", HOST_RESOLV))


def test_resolv_cluster_first():
    assert _resolv(_pod()) == ("search shop.svc.cluster.local svc.cluster.local cluster.local "
                               "corp.example lab.example\n"
                               "nameserver 10.96.0.10\n"
                               "options ndots:5\n")


def test_resolv_cluster_first_on_host_network_falls_back_to_default():
    assert _resolv(_pod(hostNetwork=True)) == ("search corp.example lab.example\n"
                                               "nameserver 192.168.1.1\nnameserver 192.168.1.2\n"
                                               "options timeout:2 attempts:3\n")
    assert _resolv(_pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")).startswith(
        "search shop.svc.cluster.local ")
    assert _resolv(_pod(dnsPolicy="Default")) == _resolv(_pod(hostNetwork=True))


def test_resolv_none_and_dns_config_merge():
    cfg = {"nameservers": ["1.1.1.1"], "searches": ["my.search", "svc.cluster.local"],
           "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    assert _resolv(_pod(dnsPolicy="None", dnsConfig=cfg)) == (
        "search my.search svc.cluster.local\nnameserver 1.1.1.1\noptions ndots:2 edns0\n")
    assert _resolv(_pod(dnsConfig=cfg)) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example my.search\n"
        "nameserver 10.96.0.10\nnameserver 1.1.1.1\n"
        "options ndots:2 edns0\n")


def test_resolv_limits():
    cfg = {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"],
           "searches": [f"s{i}.example" for i in range(40)]}
    servers, searches, _ = podfiles.pod_dns(_pod(dnsConfig=cfg), ["10.96.0.10"], "cluster.local", "")
    assert servers == ["10.96.0.10", "1.1.1.1", "2.2.2.2"]
    assert len(searches) == 32


def test_write_files_and_termination_log(tmp_path):
    config = KubeletConfig(node_name="n1", data_dir=str(tmp_path))
    pod = _pod(initContainers=[{"name": "init"}], containers=[
        {"name": "app"}, {"name": "side", "terminationMessagePath": "/tmp/msg"}])
    mounts = podfiles.write(config, pod, "10.244.1.5")
    pod_dir = config.pod_dir("uid-1")
    assert [(m.host_path, m.container_path) for m in mounts] == [
        (os.path.join(pod_dir, "etc-hosts"), "/etc/hosts"),
        (os.path.join(pod_dir, "resolv.conf"), "/etc/resolv.conf"),
        (os.path.join(pod_dir, "hostname"), "/etc/hostname")]
    with open(mounts[0].host_path) as f:
        assert f.read() == BOILERPLATE + "10.244.1.5\tweb-0\n"
    with open(mounts[1].host_path) as f:
        assert f.read().startswith("search shop.svc.cluster.local svc.cluster.local cluster.local")
    with open(mounts[2].host_path) as f:
        assert f.read() == "web-0\n"
    for name in ("init", "app", "side"):
        path = podfiles.termination_log_path(config, pod, name)
        assert os.path.isfile(path) and os.path.getsize(path) == 0
    m = podfiles.termination_log_mount(config, pod, pod["spec"]["containers"][1])
    assert m.container_path == "/tmp/msg" and m.host_path.endswith("/containers/side/termination-log")
    with open(m.host_path, "w") as f:
        f.write("x" * 5000 + "the end")
    msg = podfiles.termination_message(config, pod, "side")
    assert len(msg) == 4096 and msg.endswith("the end")
    # A new instance of the container starts with an empty file again.
    podfiles.termination_log_mount(config, pod, pod["spec"]["containers"][1])
    assert podfiles.termination_message(config, pod, "side") == ""


@pytest.mark.parametrize("policy,host_net,kind", [
    ("ClusterFirst", False, "cluster"), ("ClusterFirst", True, "host"),
    ("ClusterFirstWithHostNet", True, "cluster"), ("Default", False, "host"), ("None", False, "none")])
def test_dns_policy(policy, host_net, kind):
    assert podfiles.dns_policy(_pod(dnsPolicy=policy, hostNetwork=host_net)) == kind
