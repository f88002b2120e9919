"""Service and EndpointSlice objects for the proxy's unit tests, shaped like
kube-proxy's own test fixtures (ns1/svc1:p80 at 172.30.0.41 and so on)."""

from __future__ import annotations


def service(ns: str, name: str, ip: str, *, port: int = 80, port_name: str = "p80", protocol: str = "TCP",
            node_port: int = 0, **spec) -> dict:
    p = {"name": port_name, "port": port, "protocol": protocol}
    if node_port:
        p["nodePort"] = node_port
        spec.setdefault("type", "NodePort")
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip, "ports": [p], **spec}}


def endpoint_slice(ns: str, service_name: str, endpoints: list, *, port: int = 80, port_name: str = "p80",
                   name: str | None = None) -> dict:
    """endpoints: addresses, or (address, {conditions}, nodeName) tuples."""
    eps = []
    for ep in endpoints:
        address, conditions, node = (ep, {}, None) if isinstance(ep, str) else ep
        item = {"addresses": [address], "conditions": conditions}
        if node:
            item["nodeName"] = node
        eps.append(item)
    return {"metadata": {"namespace": ns, "name": name or f"{service_name}-1",
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": eps}
