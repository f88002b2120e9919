"""Shared checks of restart and crash survival, for SQLite and etcd alike.

``crash_mid_write`` runs a writer of creates through the official Python
client, SIGKILLs the server (by PID) while it writes, restarts it on the
same data and port, and returns what was acknowledged and what is stored.
"""

from __future__ import annotations

import threading
import time

from kubernetes import client, config

from tests.e2e.cluster import Server
from tests.e2e.rest import Rest


def python_client(server: Server) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=server.kubeconfig, client_configuration=cfg)
    cfg.retries = 0  # a create must not be sent twice behind the test's back
    return client.ApiClient(cfg)


def crash_mid_write(server: Server, namespace: str, *, writers: int = 4,
                    run_for: float = 1.5) -> tuple[dict[str, int], dict[str, int]]:
    """(acknowledged name → resourceVersion, stored name → resourceVersion)."""
    acked: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def write(worker: int) -> None:
        with python_client(server) as api:
            core = client.CoreV1Api(api)
            i = 0
            while not stop.is_set():
                name = f"w{worker}-{i}"
                i += 1
                try:
                    made = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
                        metadata=client.V1ObjectMeta(name=name), data={"i": str(i)}), _request_timeout=5)
                except Exception:  # the server died under us: stop writing
                    return
                with lock:
                    acked[name] = int(made.metadata.resource_version)

    threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(writers)]
    for t in threads:
        t.start()
    time.sleep(run_for)
    server.kill()  # SIGKILL, mid-write
    stop.set()
    for t in threads:
        t.join(15)
    server.start()
    rest = Rest.of(server)
    items = rest.get(f"/api/v1/namespaces/{namespace}/configmaps").json()["items"]
    stored = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"]) for o in items}
    return acked, stored


def assert_survived(acked: dict[str, int], stored: dict[str, int], rest: Rest, namespace: str) -> None:
    assert len(acked) > 20, "the writer got going before the kill"
    lost = sorted(set(acked) - set(stored))
    assert lost == [], f"acknowledged creates lost: {lost[:10]}"
    changed = {n: (acked[n], stored[n]) for n in acked if stored[n] != acked[n]}
    assert changed == {}
    # Revisions never go backwards: the next write is newer than anything acknowledged.
    after = rest.create(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "after-crash"}})
    assert int(after["metadata"]["resourceVersion"]) > max(stored.values())
