"""Endpoints (core/v1) and EndpointSlices (discovery.k8s.io/v1).

Both list the addresses behind a Service; kube-proxy and the DNS addon read
them. Addresses must be valid IPs outside the unspecified, loopback and
link-local ranges; ports need names when there are several.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.containers import PROTOCOLS
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import (
    validate_labels, validate_object_meta, validate_object_meta_update, validate_qualified_name,
)
from kybernetes.api.validation.services import validate_non_special_ip

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def _endpoint_address(addr: Mapping[str, Any], path: str) -> list[Cause]:
    ip = a.s(addr, "ip")
    errs = [f.invalid(f.child(path, "ip"), ip, m) for m in names.is_valid_ip(ip)]
    if a.s(addr, "hostname"):
        errs += [f.invalid(f.child(path, "hostname"), a.s(addr, "hostname"), m)
                 for m in names.is_dns1123_label(a.s(addr, "hostname"))]
    node = addr.get("nodeName")
    if isinstance(node, str):
        errs += [f.invalid(f.child(path, "nodeName"), node, m) for m in names.name_is_dns_subdomain(node)]
    return errs + validate_non_special_ip(ip, f.child(path, "ip"))


def validate_endpoints(ep: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(ep, "metadata"), names.name_is_dns_subdomain)
    for n, subset in enumerate(a.dicts(ep, "subsets")):
        p = f.index("subsets", n)
        if not a.lst(subset, "addresses") and not a.lst(subset, "notReadyAddresses"):
            errs.append(f.required(p, "must specify `addresses` or `notReadyAddresses`"))
        for kind in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(a.dicts(subset, kind)):
                errs += _endpoint_address(addr, f.index(f.child(p, kind), j))
        ports = a.dicts(subset, "ports")
        for j, port in enumerate(ports):
            pp = f.index(f.child(p, "ports"), j)
            name = a.s(port, "name")
            if len(ports) > 1 and not name:
                errs.append(f.required(f.child(pp, "name")))
            elif name:
                errs += [f.invalid(f.child(pp, "name"), name, m) for m in names.is_dns1123_label(name)]
            errs += [f.invalid(f.child(pp, "port"), a.i(port, "port"), m) for m in names.is_valid_port_num(a.i(port, "port"))]
            proto = a.s(port, "protocol")
            if not proto:
                errs.append(f.required(f.child(pp, "protocol")))
            elif proto not in PROTOCOLS:
                errs.append(f.not_supported(f.child(pp, "protocol"), proto, PROTOCOLS))
            if isinstance(port.get("appProtocol"), str):
                errs += validate_qualified_name(a.s(port, "appProtocol"), f.child(pp, "appProtocol"))
    return errs


def validate_endpoints_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + validate_endpoints(new)


def _fqdn(value: str, path: str) -> list[Cause]:
    if not value:
        return [f.required(path)]
    name = value[:-1] if value.endswith(".") else value
    msgs = names.is_dns1123_subdomain(name)
    if msgs:
        return [f.invalid(path, name, ",".join(msgs))]
    if len(name.split(".")) < 2:
        return [f.invalid(path, name, "should be a domain with at least two segments separated by dots")]
    for label in name.split("."):
        msgs = names.is_dns1123_label(label)
        if msgs:
            return [f.invalid(path, label, ",".join(msgs))]
    return []


def validate_endpoint_slice(slice_: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(slice_, "metadata"), names.name_is_dns_subdomain)
    addr_type = a.s(slice_, "addressType")
    if not addr_type:
        errs.append(f.required("addressType"))
    elif addr_type not in ADDRESS_TYPES:
        errs.append(f.not_supported("addressType", addr_type, ADDRESS_TYPES))
    endpoints = a.dicts(slice_, "endpoints")
    if len(endpoints) > 1000:
        errs.append(f.too_many("endpoints", len(endpoints), 1000))
        endpoints = []
    for n, ep in enumerate(endpoints):
        p = f.index("endpoints", n)
        ap = f.child(p, "addresses")
        addresses = a.strs(ep, "addresses")
        if not addresses:
            errs.append(f.required(ap, "must contain at least 1 address"))
        elif len(addresses) > 100:
            errs.append(f.too_many(ap, len(addresses), 100))
        for j, addr in enumerate(addresses):
            ip_path = f.index(ap, j)
            if addr_type == "IPv4":
                msgs = names.is_valid_ipv4_address(addr)
                errs += [f.invalid(ip_path, addr, m) for m in msgs] if msgs else validate_non_special_ip(addr, ip_path)
            elif addr_type == "IPv6":
                msgs = names.is_valid_ipv6_address(addr)
                errs += [f.invalid(ip_path, addr, m) for m in msgs] if msgs else validate_non_special_ip(addr, ip_path)
            elif addr_type == "FQDN":
                errs += _fqdn(addr, ip_path)
        node = ep.get("nodeName")
        if isinstance(node, str):
            errs += [f.invalid(f.child(p, "nodeName"), node, m) for m in names.name_is_dns_subdomain(node)]
        topology = a.sm(ep, "deprecatedTopology") or {}
        if len(topology) > 16:
            errs.append(f.too_many(f.child(p, "deprecatedTopology"), len(topology), 16))
        errs += validate_labels(topology, f.child(p, "deprecatedTopology"))
        if isinstance(ep.get("hostname"), str):
            errs += [f.invalid(f.child(p, "hostname"), ep["hostname"], m) for m in names.is_dns1123_label(ep["hostname"])]
    ports = a.dicts(slice_, "ports")
    if len(ports) > 20000:
        return errs + [f.too_many("ports", len(ports), 20000)]
    seen: set[str] = set()
    for n, port in enumerate(ports):
        p = f.index("ports", n)
        name = a.s(port, "name")
        if name:
            errs += [f.invalid(f.child(p, "name"), name, m) for m in names.is_dns1123_label(name)]
        if name in seen:
            errs.append(f.duplicate(f.child(p, "name"), name))
        seen.add(name)
        proto = port.get("protocol")
        if not isinstance(proto, str):
            errs.append(f.required(f.child(p, "protocol")))
        elif proto not in PROTOCOLS:
            errs.append(f.not_supported(f.child(p, "protocol"), proto, PROTOCOLS))
        if isinstance(port.get("appProtocol"), str):
            errs += validate_qualified_name(port["appProtocol"], f.child(p, "appProtocol"))
    return errs


def validate_endpoint_slice_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    errs += validate_endpoint_slice(new)
    errs += f.immutable("addressType", a.s(new, "addressType"), a.s(old, "addressType"))
    return errs
