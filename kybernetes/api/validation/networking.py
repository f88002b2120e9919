"""networking.k8s.io/v1: Ingresses, IngressClasses and NetworkPolicies.

Ingress rules need DNS hosts (wildcards allowed as ``*.example.com``), paths
with a ``pathType`` and a service or resource backend; a default backend or
rules are required. NetworkPolicy ports, peers (exactly one kind when an
ipBlock is used) and policy types are checked as upstream does.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import validate_label_selector, validate_object_meta, validate_object_meta_update

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def _backend(backend: Mapping[str, Any], path: str) -> list[Cause]:
    resource, service = a.mp(backend, "resource"), a.mp(backend, "service")
    if resource is not None and service is not None:
        return [f.invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        errs: list[Cause] = []
        rp = f.child(path, "resource")
        if not a.s(resource, "kind"):
            errs.append(f.required(f.child(rp, "kind")))
        if not a.s(resource, "name"):
            errs.append(f.required(f.child(rp, "name")))
        group = resource.get("apiGroup")
        if isinstance(group, str):
            errs += [f.invalid(f.child(rp, "apiGroup"), group, m) for m in names.is_dns1123_subdomain(group)]
        return errs
    if service is None:
        return [f.invalid(path, "", "resource or service backend is required")]
    errs = []
    name = a.s(service, "name")
    if not name:
        errs.append(f.required(f.child(path, "service", "name")))
    else:
        errs += [f.invalid(f.child(path, "service", "name"), name, m) for m in names.name_is_dns1035_label(name)]
    port = a.m(service, "port")
    pname, pnum = a.s(port, "name"), a.i(port, "number")
    if pname and pnum:
        errs.append(f.invalid(path, "", "cannot set both port name & port number"))
    elif pname:
        errs += [f.invalid(f.child(path, "service", "port", "name"), pname, m) for m in names.is_valid_port_name(pname)]
    elif pnum:
        errs += [f.invalid(f.child(path, "service", "port", "number"), pnum, m) for m in names.is_valid_port_num(pnum)]
    else:
        errs.append(f.required(path, "port name or number is required"))
    return errs


def _http_path(p: Mapping[str, Any], path: str) -> list[Cause]:
    path_type = p.get("pathType")
    if not isinstance(path_type, str):
        return [f.required(f.child(path, "pathType"), "pathType must be specified")]
    errs: list[Cause] = []
    value = a.s(p, "path")
    pp = f.child(path, "path")
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(f.invalid(pp, value, "must be an absolute path"))
        if value:
            for seq in ("//", "/./", "/../", "%2f", "%2F"):
                if seq in value:
                    errs.append(f.invalid(pp, value, f"must not contain '{seq}'"))
            for suffix in ("/..", "/."):
                if value.endswith(suffix):
                    errs.append(f.invalid(pp, value, f"cannot end with '{suffix}'"))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(f.invalid(pp, value, "must be an absolute path"))
    else:
        errs.append(f.not_supported(f.child(path, "pathType"), path_type, PATH_TYPES))
    return errs + _backend(a.m(p, "backend"), f.child(path, "backend"))


def _host(host: str, path: str) -> list[Cause]:
    if "*" in host:
        return [f.invalid(path, host, m) for m in names.is_wildcard_dns1123_subdomain(host)]
    return [f.invalid(path, host, m) for m in names.is_dns1123_subdomain(host)]


def _ingress_spec(spec: Mapping[str, Any]) -> list[Cause]:
    errs: list[Cause] = []
    rules = a.dicts(spec, "rules")
    if not rules and not a.has(spec, "defaultBackend"):
        shown = f.GoValue("[]networking.IngressRule(nil)" if "rules" not in spec else "[]networking.IngressRule{}")
        errs.append(f.invalid("spec", shown, "either `defaultBackend` or `rules` must be specified"))
    if a.has(spec, "defaultBackend"):
        errs += _backend(a.m(spec, "defaultBackend"), "spec.defaultBackend")
    for i, rule in enumerate(rules):
        rp = f.index("spec.rules", i)
        host = a.s(rule, "host")
        if host:
            if names.parse_ip_sloppy(host) is not None:
                errs.append(f.invalid(f.child(rp, "host"), host, "must be a DNS name, not an IP address"))
            errs += _host(host, f.child(rp, "host"))
        http = a.mp(rule, "http")
        if http is not None:
            paths = a.dicts(http, "paths")
            if not paths:
                errs.append(f.required(f.child(rp, "http", "paths")))
            for j, p in enumerate(paths):
                errs += _http_path(p, f.index(f.child(rp, "http", "paths"), j))
    for i, tls in enumerate(a.dicts(spec, "tls")):
        tp = f.index("spec.tls", i)
        for j, host in enumerate(a.strs(tls, "hosts")):
            errs += _host(host, f.index(f.child(tp, "hosts"), j))
        secret = a.s(tls, "secretName")
        if secret:
            errs += [f.invalid(f.child(tp, "secretName"), secret, m) for m in names.name_is_dns_subdomain(secret)]
    cls = spec.get("ingressClassName")
    if isinstance(cls, str):
        errs += [f.invalid("spec.ingressClassName", cls, m) for m in names.name_is_dns_subdomain(cls)]
    return errs


def validate_ingress(ing: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(ing, "metadata"), names.name_is_dns_subdomain) + _ingress_spec(a.m(ing, "spec"))
    ann = (a.sm(a.m(ing, "metadata"), "annotations") or {}).get(INGRESS_CLASS_ANNOTATION)
    cls = a.m(ing, "spec").get("ingressClassName")
    if ann is not None and isinstance(cls, str) and ann != cls:
        errs.append(f.invalid(f"annotations.{INGRESS_CLASS_ANNOTATION}", ann,
                              "must match `ingressClassName` when both are specified"))
    return errs


def validate_ingress_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    return errs + validate_object_meta(a.m(new, "metadata"), names.name_is_dns_subdomain) + _ingress_spec(a.m(new, "spec"))


def validate_ingress_class(ic: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(ic, "metadata"), names.name_is_dns_subdomain)
    controller = a.s(a.m(ic, "spec"), "controller")
    path = "spec.controller"
    if not controller:
        errs.append(f.required(path))
    else:
        domain, sep, rest = controller.partition("/")
        if not sep or not domain or not rest:
            errs.append(f.invalid(path, controller, 'must be a domain-prefixed path (such as "acme.io/foo")'))
        else:
            errs += [f.invalid(path, domain, m) for m in names.is_dns1123_subdomain(domain)]
        if len(controller) > 250:
            errs.append(f.too_long(path, 250))
    return errs


def validate_ingress_class_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + validate_ingress_class(new)
    errs += f.immutable("spec.controller", a.s(a.m(new, "spec"), "controller"), a.s(a.m(old, "spec"), "controller"))
    return errs


# -- NetworkPolicy -----------------------------------------------------------------------------

def _np_port(port: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    proto = port.get("protocol")
    if isinstance(proto, str) and proto not in ("TCP", "UDP", "SCTP"):
        errs.append(f.not_supported(f.child(path, "protocol"), proto, ("TCP", "UDP", "SCTP")))
    p, end = port.get("port"), a.ip(port, "endPort")
    if isinstance(p, int) and not isinstance(p, bool):
        errs += [f.invalid(f.child(path, "port"), p, m) for m in names.is_valid_port_num(p)]
        if end is not None:
            if end < p:
                errs.append(f.invalid(f.child(path, "endPort"), p, "must be greater than or equal to `port`"))
            errs += [f.invalid(f.child(path, "endPort"), end, m) for m in names.is_valid_port_num(end)]
    elif isinstance(p, str):
        if end is not None:
            errs.append(f.invalid(f.child(path, "endPort"), end, "may not be specified when `port` is non-numeric"))
        errs += [f.invalid(f.child(path, "port"), p, m) for m in names.is_valid_port_name(p)]
    elif end is not None:
        errs.append(f.invalid(f.child(path, "endPort"), end, "may not be specified when `port` is not specified"))
    return errs


def _ip_block(block: Mapping[str, Any], path: str) -> list[Cause]:
    cidr = a.s(block, "cidr")
    if not cidr:
        return [f.required(f.child(path, "cidr"))]
    errs = [f.invalid(f.child(path, "cidr"), cidr, m) for m in names.is_valid_cidr(cidr)]
    parsed = names.parse_cidr_sloppy(cidr)
    if parsed is None:
        return errs
    import ipaddress
    net = ipaddress.ip_network((parsed[0], parsed[1]), strict=False)
    for i, exc in enumerate(a.strs(block, "except")):
        ep = f.index(f.child(path, "except"), i)
        msgs = names.is_valid_cidr(exc)
        errs += [f.invalid(ep, exc, m) for m in msgs]
        ex = names.parse_cidr_sloppy(exc)
        if ex is None:
            continue
        ex_net = ipaddress.ip_network((ex[0], ex[1]), strict=False)
        if ex_net.version != net.version or ex_net.network_address not in net or parsed[1] >= ex[1]:
            errs.append(f.invalid(ep, exc, "must be a strict subset of `cidr`"))
    return errs


def _peer(peer: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    count = 0
    for kind in ("podSelector", "namespaceSelector"):
        if a.has(peer, kind):
            count += 1
            errs += validate_label_selector(a.mp(peer, kind), f.child(path, kind))
    if a.has(peer, "ipBlock"):
        count += 1
        errs += _ip_block(a.m(peer, "ipBlock"), f.child(path, "ipBlock"))
    if count == 0:
        errs.append(f.required(path, "must specify a peer"))
    elif count > 1 and a.has(peer, "ipBlock"):
        errs.append(f.forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def _np_spec(spec: Mapping[str, Any]) -> list[Cause]:
    errs = validate_label_selector(a.m(spec, "podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(a.dicts(spec, direction)):
            rp = f.index(f.child("spec", direction), i)
            for j, port in enumerate(a.dicts(rule, "ports")):
                errs += _np_port(port, f.index(f.child(rp, "ports"), j))
            for j, peer in enumerate(a.dicts(rule, peers)):
                errs += _peer(peer, f.index(f.child(rp, peers), j))
    types = a.strs(spec, "policyTypes")
    if len(types) > 2:
        return errs + [f.invalid("spec.policyTypes", f.GoValue(f.go_string_slice(types, "[]networking.PolicyType")),
                                 "may not specify more than two policyTypes")]
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            errs.append(f.not_supported(f.index("spec.policyTypes", i), t, ("Ingress", "Egress")))
    return errs


def validate_network_policy(np_: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta(a.m(np_, "metadata"), names.name_is_dns_subdomain) + _np_spec(a.m(np_, "spec"))


def validate_network_policy_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + _np_spec(a.m(new, "spec"))
