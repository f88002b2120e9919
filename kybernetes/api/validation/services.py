"""Services: ports, type, cluster IPs, session affinity, traffic policies; create, update, status.

Follows core validation's ``ValidateService``, ``ValidateServiceUpdate`` and
``ValidateServiceStatusUpdate``. Node port allocation and range checks, IP
family selection and cluster IP allocation are the API server's job (its
service REST storage); validation only checks the values it is given.

Like upstream's registry (``NormalizeClusterIPs``), ``clusterIP`` and
``clusterIPs`` are reconciled before checking, so a client that only sets one
of them is not told the other is missing.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.containers import PROTOCOLS
from kybernetes.api.validation.probes import validate_port_num_or_name
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import (
    validate_labels, validate_object_meta, validate_object_meta_update, validate_qualified_name,
)

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
MAX_CLIENT_IP_TIMEOUT = 86400


def cluster_ips(spec: Mapping[str, Any], old_spec: Mapping[str, Any] | None = None) -> list[str]:
    """The cluster IPs the registry would validate (NormalizeClusterIPs)."""
    ip, ips = a.s(spec, "clusterIP"), a.strs(spec, "clusterIPs")
    if not ip:
        return ips
    if not ips:
        return [ip]
    if old_spec is not None and ip != a.s(old_spec, "clusterIP") and ips == a.strs(old_spec, "clusterIPs"):
        return [ip] + ips[1:]
    return ips


def is_headless(ips: list[str]) -> bool:
    return ips == ["None"]


def validate_non_special_ip(ip: str, path: str) -> list[Cause]:
    packed = names.parse_ip_sloppy(ip)
    if packed is None:
        return [f.invalid(path, ip, "must be a valid IP address")]
    import ipaddress
    addr = ipaddress.ip_address(packed)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    errs: list[Cause] = []
    if addr.is_unspecified:
        errs.append(f.invalid(path, ip, f"may not be unspecified ({ip})"))
    if addr.is_loopback:
        errs.append(f.invalid(path, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    link_local_unicast = addr in ipaddress.ip_network("169.254.0.0/16") or addr in ipaddress.ip_network("fe80::/10")
    if link_local_unicast:
        errs.append(f.invalid(path, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if addr in ipaddress.ip_network("224.0.0.0/24") or addr in ipaddress.ip_network("ff02::/16"):
        errs.append(f.invalid(path, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
    return errs


def _go_service_port(port: Mapping[str, Any]) -> f.GoValue:
    return f.GoValue(f'core.ServicePort{{Name:"", Protocol:{f.go_quote(a.s(port, "protocol"))}, '
                     f'AppProtocol:(*string)(nil), Port:{a.i(port, "port")}, '
                     'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}')


def _ports(spec: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    ports = a.dicts(spec, "ports")
    seen_names: set[str] = set()
    for n, port in enumerate(ports):
        p = f.index(path, n)
        name = a.s(port, "name")
        if len(ports) > 1 and not name:
            errs.append(f.required(f.child(p, "name")))
        elif name:
            errs += [f.invalid(f.child(p, "name"), name, m) for m in names.is_dns1123_label(name)]
            if name in seen_names:
                errs.append(f.duplicate(f.child(p, "name"), name))
            seen_names.add(name)
        errs += [f.invalid(f.child(p, "port"), a.i(port, "port"), m) for m in names.is_valid_port_num(a.i(port, "port"))]
        proto = a.s(port, "protocol")
        if not proto:
            errs.append(f.required(f.child(p, "protocol")))
        elif proto not in PROTOCOLS:
            errs.append(f.not_supported(f.child(p, "protocol"), proto, PROTOCOLS))
        errs += validate_port_num_or_name(port.get("targetPort"), f.child(p, "targetPort"))
        if isinstance(port.get("appProtocol"), str):
            errs += validate_qualified_name(a.s(port, "appProtocol"), f.child(p, "appProtocol"))
    return errs


def _cluster_ips(spec: Mapping[str, Any], ips: list[str]) -> list[Cause]:
    if a.s(spec, "type") == "ExternalName":
        return []
    errs: list[Cause] = []
    families = a.strs(spec, "ipFamilies")
    seen: set[str] = set()
    for n, fam in enumerate(families):
        if fam not in ("IPv4", "IPv6"):
            errs.append(f.not_supported(f"spec.ipFamilies[{n}]", fam, ("IPv4", "IPv6")))
        if fam in seen:
            errs.append(f.duplicate(f"spec.ipFamilies[{n}]", fam))
        seen.add(fam)
    policy = spec.get("ipFamilyPolicy")
    if isinstance(policy, str) and policy not in ("PreferDualStack", "RequireDualStack", "SingleStack"):
        errs.append(f.not_supported("spec.ipFamilyPolicy", policy, ("PreferDualStack", "RequireDualStack", "SingleStack")))
    shown = f.GoValue(f.go_string_slice(ips))
    invalid = False
    for n, ip in enumerate(ips):
        if n == 0 and ip == "None":
            if len(ips) > 1:
                invalid = True
                errs.append(f.invalid("spec.clusterIPs", shown, "'None' must be the first and only value"))
            continue
        msgs = names.is_valid_ip(ip)
        invalid = invalid or bool(msgs)
        errs += [f.invalid(f"spec.clusterIPs[{n}]", ip, m) for m in msgs]
    if len(ips) > 2:
        errs.append(f.invalid("spec.clusterIPs", shown, "may only hold up to 2 values"))
    if invalid:
        return errs
    if len(ips) > 1:
        fams = {_family(ip) for ip in ips}
        if len(fams) != len(ips):
            errs.append(f.invalid("spec.clusterIPs", shown, "may specify no more than one IP for each IP family"))
    if not is_headless(ips):
        for n, (ip, fam) in enumerate(zip(ips, families)):
            if fam == "IPv4" and _family(ip) == 6:
                errs.append(f.invalid(f"spec.clusterIPs[{n}]", ip, f"expected an IPv4 value as indicated by `ipFamilies[{n}]`"))
            if fam == "IPv6" and _family(ip) == 4:
                errs.append(f.invalid(f"spec.clusterIPs[{n}]", ip, f"expected an IPv6 value as indicated by `ipFamilies[{n}]`"))
    return errs


def _family(ip: str) -> int:
    packed = names.parse_ip_sloppy(ip)
    return 4 if packed is not None and names.ip_is_v4(packed) else 6


def validate_service(svc: Mapping[str, Any], ips: list[str]) -> list[Cause]:
    meta, spec = a.m(svc, "metadata"), a.m(svc, "spec")
    errs = validate_object_meta(meta, names.name_is_dns1035_label)
    ann = a.sm(meta, "annotations") or {}
    hints, mode = ann.get("service.kubernetes.io/topology-aware-hints"), ann.get("service.kubernetes.io/topology-mode")
    if hints is not None and mode is not None and hints != mode:
        errs.append(f.invalid("metadata.annotations[service.kubernetes.io/topology-mode]", mode,
                              "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified"))
    typ, headless = a.s(spec, "type"), is_headless(ips)
    if not a.lst(spec, "ports") and not headless and typ != "ExternalName":
        errs.append(f.required("spec.ports"))
    if typ in ("LoadBalancer", "NodePort") and headless:
        errs.append(f.invalid("spec.clusterIPs[0]", ips[0], f"may not be set to 'None' for {typ} services"))
    if typ == "ExternalName":
        if ips:
            errs.append(f.forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if a.lst(spec, "ipFamilies"):
            errs.append(f.forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if a.has(spec, "ipFamilyPolicy"):
            errs.append(f.forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = a.s(spec, "externalName")
        cname = cname[:-1] if cname.endswith(".") else cname
        if cname:
            errs += [f.invalid("spec.externalName", cname, m) for m in names.is_dns1123_subdomain(cname)]
        else:
            errs.append(f.required("spec.externalName"))
    errs += _ports(spec, "spec.ports")
    if a.has(spec, "selector"):
        errs += validate_labels(a.sm(spec, "selector"), "spec.selector")
    affinity = a.s(spec, "sessionAffinity")
    if not affinity:
        errs.append(f.required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        errs.append(f.not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    cfg_path = "spec.sessionAffinityConfig"
    if affinity == "ClientIP":
        detail = "when session affinity type is ClientIP"
        cfg = a.mp(spec, "sessionAffinityConfig")
        client = a.mp(cfg, "clientIP") if cfg is not None else None
        if cfg is None:
            errs.append(f.required(cfg_path, detail))
        elif client is None:
            errs.append(f.required(f"{cfg_path}.clientIP", detail))
        elif a.ip(client, "timeoutSeconds") is None:
            errs.append(f.required(f"{cfg_path}.clientIP.timeoutSeconds", detail))
        elif not 0 < a.i(client, "timeoutSeconds") <= MAX_CLIENT_IP_TIMEOUT:
            errs.append(f.invalid(f"{cfg_path}.clientIP.timeoutSeconds", a.i(client, "timeoutSeconds"),
                                  f"must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}"))
    elif affinity == "None" and a.has(spec, "sessionAffinityConfig"):
        errs.append(f.forbidden(cfg_path, "must not be set when session affinity is None"))
    errs += _cluster_ips(spec, ips)
    for n, ip in enumerate(a.strs(spec, "externalIPs")):
        p = f"spec.externalIPs[{n}]"
        msgs = names.is_valid_ip(ip)
        errs += [f.invalid(p, ip, m) for m in msgs] if msgs else validate_non_special_ip(ip, p)
    if not typ:
        errs.append(f.required("spec.type"))
    elif typ not in SERVICE_TYPES:
        errs.append(f.not_supported("spec.type", typ, SERVICE_TYPES))
    ports = a.dicts(spec, "ports")
    if typ == "ClusterIP":
        for n, port in enumerate(ports):
            if a.i(port, "nodePort") != 0:
                errs.append(f.forbidden(f"spec.ports[{n}].nodePort", "may not be used when `type` is 'ClusterIP'"))
    node_ports: set[tuple[str, int]] = set()
    for n, port in enumerate(ports):
        k = (a.s(port, "protocol"), a.i(port, "nodePort"))
        if k[1] == 0:
            continue
        if k in node_ports:
            errs.append(f.duplicate(f"spec.ports[{n}].nodePort", k[1]))
        node_ports.add(k)
    seen_ports: set[tuple[str, int]] = set()
    for n, port in enumerate(ports):
        k = (a.s(port, "protocol"), a.i(port, "port"))
        if k in seen_ports:
            errs.append(f.duplicate(f"spec.ports[{n}]", _go_service_port(port)))
        seen_ports.add(k)
    ranges = a.strs(spec, "loadBalancerSourceRanges")
    if ranges:
        if typ != "LoadBalancer":
            errs.append(f.forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"))
        for n, value in enumerate(ranges):
            errs += [f.invalid(f"spec.LoadBalancerSourceRanges[{n}]", value.strip(), m)
                     for m in names.is_valid_cidr(value.strip())]
    if a.has(spec, "allocateLoadBalancerNodePorts") and typ != "LoadBalancer":
        errs.append(f.forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))
    if typ == "LoadBalancer" and not a.has(spec, "allocateLoadBalancerNodePorts"):
        errs.append(f.required("allocateLoadBalancerNodePorts"))
    if a.has(spec, "loadBalancerClass"):
        if typ == "LoadBalancer":
            errs += validate_qualified_name(a.s(spec, "loadBalancerClass"), "spec.loadBalancerClass")
        else:
            errs.append(f.forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
    errs += _traffic_policies(spec, typ)
    return errs


def _traffic_policies(spec: Mapping[str, Any], typ: str) -> list[Cause]:
    errs: list[Cause] = []
    accessible = typ in ("LoadBalancer", "NodePort") or (typ == "ClusterIP" and bool(a.lst(spec, "externalIPs")))
    etp = a.s(spec, "externalTrafficPolicy")
    if not accessible:
        if etp:
            errs.append(f.invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services"))
    elif not etp:
        errs.append(f.required("spec.externalTrafficPolicy"))
    elif etp not in ("Cluster", "Local"):
        errs.append(f.not_supported("spec.externalTrafficPolicy", etp, ("Cluster", "Local")))
    hcnp = a.i(spec, "healthCheckNodePort")
    if not (typ == "LoadBalancer" and etp == "Local"):
        if hcnp != 0:
            errs.append(f.invalid("spec.healthCheckNodePort", hcnp,
                                  "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    elif hcnp == 0:
        errs.append(f.required("spec.healthCheckNodePort"))
    else:
        errs += [f.invalid("spec.healthCheckNodePort", hcnp, m) for m in names.is_valid_port_num(hcnp)]
    itp = spec.get("internalTrafficPolicy")
    if itp is None and typ in ("NodePort", "LoadBalancer", "ClusterIP"):
        errs.append(f.required("spec.internalTrafficPolicy"))
    if isinstance(itp, str) and itp not in ("Cluster", "Local"):
        errs.append(f.not_supported("spec.internalTrafficPolicy", itp, ("Cluster", "Local")))
    td = spec.get("trafficDistribution")
    if isinstance(td, str) and td != "PreferClose":
        errs.append(f.not_supported("spec.trafficDistribution", td, ("PreferClose",)))
    return errs


def validate_service_create(svc: Mapping[str, Any]) -> list[Cause]:
    return validate_service(svc, cluster_ips(a.m(svc, "spec")))


def validate_service_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    ns, os_ = a.m(new, "spec"), a.m(old, "spec")
    new_ips, old_ips = cluster_ips(ns, os_), cluster_ips(os_)
    typ, old_typ = a.s(ns, "type"), a.s(os_, "type")
    if "ExternalName" not in (typ, old_typ) and not (is_headless(new_ips) and is_headless(old_ips)):
        shown = f.GoValue(f.go_string_slice(new_ips))
        if len(old_ips) == len(new_ips):
            for n, ip in enumerate(old_ips):
                if ip != new_ips[n]:
                    errs.append(f.invalid(f"spec.clusterIPs[{n}]", shown, "may not change once set"))
        elif len(old_ips) > len(new_ips):
            if not new_ips:
                errs.append(f.invalid("spec.clusterIPs[0]", shown, "primary clusterIP can not be unset"))
            elif new_ips[0] != old_ips[0]:
                errs.append(f.invalid("spec.clusterIPs[0]", shown, "may not change once set"))
            if len(new_ips) == 1 and ns.get("ipFamilyPolicy") != "SingleStack":
                errs.append(f.invalid("spec.ipFamilyPolicy", ns.get("ipFamilyPolicy"),
                                      "must be set to 'SingleStack' when releasing the secondary clusterIP"))
        elif old_ips and new_ips[0] != old_ips[0]:
            errs.append(f.invalid("spec.clusterIPs[0]", shown, "may not change once set"))
    if typ == "LoadBalancer" and old_typ == "LoadBalancer" and ns.get("loadBalancerClass") != os_.get("loadBalancerClass"):
        errs.append(f.invalid("spec.loadBalancerClass", ns.get("loadBalancerClass"), "may not change once set"))
    both_hc = all(a.s(s, "type") == "LoadBalancer" and a.s(s, "externalTrafficPolicy") == "Local" for s in (ns, os_))
    if both_hc and a.i(ns, "healthCheckNodePort") != a.i(os_, "healthCheckNodePort"):
        errs.append(f.forbidden("spec.healthCheckNodePort", f.FIELD_IMMUTABLE))
    return errs + validate_service(new, new_ips)


def validate_service_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    ingress = a.dicts(a.m(a.m(new, "status"), "loadBalancer"), "ingress")
    path = "status.loadBalancer.ingress"
    if a.s(a.m(new, "spec"), "type") != "LoadBalancer" and ingress:
        return errs + [f.forbidden(path, "may only be used when `spec.type` is 'LoadBalancer'")]
    for n, ing in enumerate(ingress):
        p = f.index(path, n)
        ip = a.s(ing, "ip")
        if ip:
            errs += [f.invalid(f.child(p, "ip"), ip, m) for m in names.is_valid_ip(ip)]
        mode = ing.get("ipMode")
        if mode is None and ip:
            errs.append(f.required(f.child(p, "ipMode"), "must be specified when `ip` is set"))
        elif mode is not None and not ip:
            errs.append(f.forbidden(f.child(p, "ipMode"), "may not be specified when `ip` is not set"))
        elif isinstance(mode, str) and mode not in ("Proxy", "VIP"):
            errs.append(f.not_supported(f.child(p, "ipMode"), mode, ("Proxy", "VIP")))
        host = a.s(ing, "hostname")
        if host:
            errs += [f.invalid(f.child(p, "hostname"), host, m) for m in names.is_dns1123_subdomain(host)]
            if names.parse_ip_sloppy(host) is not None:
                errs.append(f.invalid(f.child(p, "hostname"), host, "must be a DNS name, not an IP address"))
    return errs
