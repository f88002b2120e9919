"""The host-local style address store: no reserved address ever handed out,
allocations survive a restart, nothing leaks."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from kybernetes.network.errors import AddressesExhausted
from kybernetes.network.ipam import AddressStore

CIDR = IPv4Network("10.244.1.0/29")  # .1 gateway, .2-.6 usable
GATEWAY = IPv4Address("10.244.1.1")


def store(tmp_path):
    return AddressStore(tmp_path / "ipam", CIDR, reserved={GATEWAY})


def test_never_hands_out_network_gateway_or_broadcast(tmp_path):
    s = store(tmp_path)
    got = {s.allocate(f"pod{i}").address for i in range(5)}
    assert got == {IPv4Address(f"10.244.1.{i}") for i in range(2, 7)}
    with pytest.raises(AddressesExhausted):
        s.allocate("one-too-many")


def test_allocate_is_idempotent_and_survives_a_restart(tmp_path):
    first = store(tmp_path).allocate("pod-a", "kyb-pod-a")
    again = store(tmp_path).allocate("pod-a", "ignored")
    assert again == first and store(tmp_path).lookup("pod-a") == first


def test_round_robin_does_not_reuse_a_just_released_address(tmp_path):
    s = store(tmp_path)
    a = s.allocate("a").address
    assert s.release("a") == [a]
    assert s.allocate("b").address != a
    assert s.release("missing") == []


def test_no_leaks_after_many_cycles(tmp_path):
    s = store(tmp_path)
    for i in range(1000):
        s.allocate(f"pod{i}")
        s.release(f"pod{i}")
    assert s.allocations() == []
