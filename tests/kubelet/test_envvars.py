"""Container env as the kubelet makes it: $(VAR) expansion, valueFrom, envFrom and
service links; unit tests on a fake client, then ConfigMaps and Secrets on a real API server."""

from __future__ import annotations

import base64

import pytest

from kybernetes.api import registry
from kybernetes.api.status import StatusError, status
from kybernetes.kubelet import envvars
from kybernetes.kubelet.volumes import expansion

CONFIGMAPS = registry.lookup("", "v1", "configmaps")
SECRETS = registry.lookup("", "v1", "secrets")


# -- $(VAR) expansion (cases of upstream's expand_test.go) ---------------------------------


@pytest.mark.parametrize("text,want", [
    ("$(VAR_A)", "A"),
    ("___$(VAR_B)___", "___B___"),
    ("$(VAR_A)-$(VAR_A)", "A-A"),
    ("$(VAR_A)$(VAR_B)", "AB"),
    ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("$$(VAR_A)", "$(VAR_A)"),
    ("$$$(VAR_A)", "$A"),
    ("$$$$(VAR_A)", "$$(VAR_A)"),
    ("$(VAR_DNE)", "$(VAR_DNE)"),
    ("$(VAR_A", "$(VAR_A"),
    ("$(", "$("),
    ("$", "$"),
    ("$$", "$"),
    ("$x", "$x"),
    ("f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("$()", "$()"),
    ("$(VAR_EMPTY)", ""),
    ("$$$", "$$"),
    ("x$(VAR_A)$", "xA$"),
])
def test_expand(text, want):
    lookup = expansion.mapping({"VAR_A": "A", "VAR_B": "B", "VAR_EMPTY": ""})
    assert expansion.expand(text, lookup) == want


def test_expand_command_uses_env():
    assert envvars.expand_command(["echo", "$(HOME)", "$$(HOME)"], {"HOME": "/root"}) == \
        ["echo", "/root", "$(HOME)"]


# -- service links -------------------------------------------------------------------------


def _svc(name, ns, ip, ports):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, "ports": ports}}


def test_service_links_as_docker_links():
    env = envvars.from_services([_svc("my-db", "a", "10.96.0.7", [
        {"port": 5432, "protocol": "TCP"}, {"name": "metrics", "port": 9187, "protocol": "UDP"}])])
    assert env == {
        "MY_DB_SERVICE_HOST": "10.96.0.7", "MY_DB_SERVICE_PORT": "5432",
        "MY_DB_SERVICE_PORT_METRICS": "9187",
        "MY_DB_PORT": "tcp://10.96.0.7:5432",
        "MY_DB_PORT_5432_TCP": "tcp://10.96.0.7:5432", "MY_DB_PORT_5432_TCP_PROTO": "tcp",
        "MY_DB_PORT_5432_TCP_PORT": "5432", "MY_DB_PORT_5432_TCP_ADDR": "10.96.0.7",
        "MY_DB_PORT_9187_UDP": "udp://10.96.0.7:9187", "MY_DB_PORT_9187_UDP_PROTO": "udp",
        "MY_DB_PORT_9187_UDP_PORT": "9187", "MY_DB_PORT_9187_UDP_ADDR": "10.96.0.7",
    }


def test_service_links_namespace_master_and_headless():
    services = [_svc("kubernetes", "default", "10.96.0.1", [{"name": "https", "port": 443}]),
                _svc("web", "a", "10.96.0.5", [{"port": 80}]),
                _svc("other", "b", "10.96.0.6", [{"port": 80}]),
                _svc("headless", "a", "None", [{"port": 80}])]
    env = envvars.service_env(services, "a", True)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["WEB_SERVICE_HOST"] == "10.96.0.5"
    assert not any(k.startswith(("OTHER_", "HEADLESS_")) for k in env)
    off = envvars.service_env(services, "a", False)
    assert "WEB_SERVICE_HOST" not in off and off["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    # A "kubernetes" service of the pod's own namespace wins over default's.
    mine = envvars.service_env(services + [_svc("kubernetes", "a", "10.96.9.9", [{"port": 1}])], "a", True)
    assert mine["KUBERNETES_SERVICE_HOST"] == "10.96.9.9"


# -- container_env on a fake client ---------------------------------------------------------


class FakeClient:
    def __init__(self, objects):
        self.objects = objects  # (plural, namespace, name) -> obj
        self.gets = []

    async def get(self, res, name, namespace=None, **kw):
        self.gets.append((res.plural, name))
        try:
            return self.objects[(res.plural, namespace, name)]
        except KeyError:
            raise StatusError(status(404, "NotFound", f'{res.plural} "{name}" not found')) from None

    async def list(self, res, namespace=None, **kw):
        return {"items": [o for (p, ns, _), o in self.objects.items() if p == res.plural and ns == namespace]}


def _b64(s):
    return base64.b64encode(s.encode()).decode()


def _pod(**spec):
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x", "b": "q\"z"},
                         "annotations": {"note": "hi"}},
            "spec": {"nodeName": "node-1", "serviceAccountName": "sa", **spec},
            "status": {"hostIP": "172.31.255.2", "hostIPs": [{"ip": "172.31.255.2"}],
                       "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}]}}


FAKE = {
    ("configmaps", "ns", "cm"): {"data": {"A": "from-cm", "B": "b", "1bad": "x", "with.dot": "ok"}},
    ("secrets", "ns", "sec"): {"data": {"PASS": _b64("s3cret"), "USER": _b64("me")}},
}


async def test_precedence_and_expansion():
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}},
                                  {"secretRef": {"name": "sec"}, "prefix": "S_"}],
         "env": [{"name": "A", "value": "override-$(B)"},
                 {"name": "C", "value": "$(A)/$(S_USER)/$(WEB_SERVICE_HOST)/$(LATER)/$$(A)"},
                 {"name": "LATER", "value": "late"},
                 {"name": "WEB_SERVICE_HOST", "value": "mine"}]}
    events = []
    env = await envvars.container_env(FakeClient(FAKE), _pod(), c,
                                      [_svc("web", "ns", "10.96.0.5", [{"port": 80}])],
                                      recorder=lambda r, m: events.append((r, m)))
    assert env["A"] == "override-b"
    assert env["C"] == "override-b/me/10.96.0.5/$(LATER)/$(A)"
    assert env["S_PASS"] == "s3cret" and env["with.dot"] == "ok"
    assert "1bad" not in env
    assert env["WEB_SERVICE_HOST"] == "mine"  # declared vars win over service links
    assert env["WEB_PORT"] == "tcp://10.96.0.5:80"
    assert events == [("InvalidEnvironmentVariableNames",
                       "Keys [1bad] from the EnvFrom configMap ns/cm were skipped since they are "
                       "considered invalid environment variable names.")]


async def test_field_refs():
    refs = ["metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['app']",
            "metadata.annotations['note']", "metadata.labels", "spec.nodeName",
            "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
            "status.podIPs", "metadata.labels['missing']"]
    c = {"name": "c", "env": [{"name": f"V{i}", "valueFrom": {"fieldRef": {"fieldPath": r}}}
                              for i, r in enumerate(refs)]}
    env = await envvars.container_env(FakeClient({}), _pod(enableServiceLinks=False), c, [])
    assert [env[f"V{i}"] for i in range(len(refs))] == [
        "p", "ns", "u-1", "x", "hi", 'app="x"\nb="q\\"z"', "node-1", "sa", "172.31.255.2",
        "172.31.255.2", "10.244.1.5", "10.244.1.5", ""]


async def test_resource_field_refs_with_divisor_and_allocatable():
    c = {"name": "c", "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "250m"}},
         "env": [{"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                       "divisor": "1Mi"}}},
                 {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
                 {"name": "CPU_REQ_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu",
                                                                          "divisor": "1m"}}},
                 {"name": "CPU_LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                 {"name": "MEM_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}}]}
    env = await envvars.container_env(FakeClient({}), _pod(enableServiceLinks=False,
                                                           containers=[c]), c, [],
                                      allocatable={"cpu": "3", "memory": "4Gi"})
    assert env["MEM_MI"] == "128"
    assert env["CPU_REQ"] == "1"  # 250m rounded up to whole cores
    assert env["CPU_REQ_M"] == "250"
    assert env["CPU_LIM"] == "3"  # unset limit: the node's allocatable
    assert env["MEM_REQ"] == "0"


@pytest.mark.parametrize("env_entry,message", [
    ({"configMapKeyRef": {"name": "nope", "key": "k"}}, 'configmap "nope" not found'),
    ({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found'),
    ({"configMapKeyRef": {"name": "cm", "key": "zzz"}}, "couldn't find key zzz in ConfigMap ns/cm"),
    ({"secretKeyRef": {"name": "sec", "key": "zzz"}}, "couldn't find key zzz in Secret ns/sec"),
])
async def test_missing_refs_fail(env_entry, message):
    c = {"name": "c", "env": [{"name": "X", "valueFrom": env_entry}]}
    with pytest.raises(envvars.EnvError) as e:
        await envvars.container_env(FakeClient(FAKE), _pod(), c, [])
    assert str(e.value) == message


async def test_missing_envfrom_fails_unless_optional():
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "nope"}}]}
    with pytest.raises(envvars.EnvError, match='configmap "nope" not found'):
        await envvars.container_env(FakeClient(FAKE), _pod(), c, [])
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "nope", "optional": True}},
                                  {"secretRef": {"name": "nope", "optional": True}}],
         "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "zzz", "optional": True}}},
                 {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}}]}
    env = await envvars.container_env(FakeClient(FAKE), _pod(enableServiceLinks=False), c, [])
    assert "X" not in env and "Y" not in env


# -- against a real API server ---------------------------------------------------------------


async def test_real_configmaps_and_secrets(client, namespace):
    await client.create(CONFIGMAPS, {"metadata": {"name": "settings"},
                                     "data": {"LEVEL": "debug", "MODE": "fast"}}, namespace)
    await client.create(SECRETS, {"metadata": {"name": "creds"}, "stringData": {"TOKEN": "t0k"}}, namespace)
    pod = _pod()
    pod["metadata"]["namespace"] = namespace
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
         "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}},
                 {"name": "URL", "value": "http://$(CFG_MODE):$(TOKEN)"}]}
    env = await envvars.container_env(client, pod, c, None)
    assert env["CFG_LEVEL"] == "debug" and env["TOKEN"] == "t0k"
    assert env["URL"] == "http://fast:t0k"
    c["env"].append({"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}})
    with pytest.raises(envvars.EnvError, match='^configmap "absent" not found$'):
        await envvars.container_env(client, pod, c, None)
