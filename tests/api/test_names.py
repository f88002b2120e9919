"""Name and value checks give kube-apiserver's exact messages."""

import random

import pytest

from kybernetes.api import names

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def test_dns1123_subdomain() -> None:
    assert names.is_dns1123_subdomain("example.com") == []
    assert names.is_dns1123_subdomain("Example") == [SUBDOMAIN_MSG]
    assert names.is_dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]
    assert names.is_dns1123_subdomain("a\n") == [SUBDOMAIN_MSG]


def test_dns1123_label_reports_dots_separately() -> None:
    assert names.is_dns1123_label("my-name") == []
    assert names.is_dns1123_label("a.b") == ["must not contain dots"]
    assert names.is_dns1123_label("-x") == [LABEL_MSG]
    assert names.is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]


def test_dns1035_label_must_start_with_a_letter() -> None:
    assert names.is_dns1035_label("web") == []
    assert names.is_dns1035_label("1web") == [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
        "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]


def test_qualified_name() -> None:
    assert names.is_qualified_name("app.kubernetes.io/name") == []
    assert names.is_qualified_name("/name") == ["prefix part must be non-empty"]
    assert names.is_qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert names.is_qualified_name("Bad_/x") == ["prefix part " + SUBDOMAIN_MSG]
    assert names.is_qualified_name("x" * 64) == ["name part must be no more than 63 characters"]


def test_label_value() -> None:
    assert names.is_valid_label_value("") == []
    assert names.is_valid_label_value("my_value") == []
    assert names.is_valid_label_value("-x")[0].startswith("a valid label must be an empty string")


def test_env_var_and_c_identifier() -> None:
    assert names.is_env_var_name("MY_ENV.NAME") == []
    assert names.is_env_var_name("1abc")[0].startswith("a valid environment variable name must consist of")
    assert names.is_env_var_name("..x") == ["must not start with '..'"]
    assert names.is_c_identifier("my_name") == []
    assert names.is_c_identifier("my-name")[0].startswith("a valid C identifier must start with alphabetic")


def test_config_key() -> None:
    assert names.is_config_map_key("key.name") == []
    assert names.is_config_map_key(".") == ["must not be '.'"]
    assert names.is_config_map_key("a b")[0].startswith(
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.'")


def test_ports() -> None:
    assert names.is_valid_port_num(80) == []
    assert names.is_valid_port_num(0) == ["must be between 1 and 65535, inclusive"]
    assert names.is_valid_port_name("http") == []
    assert names.is_valid_port_name("80") == ["must contain at least one letter (a-z)"]
    assert names.is_valid_port_name("-a--b-") == ["must not contain consecutive hyphens", "must not begin or end with a hyphen"]
    assert names.is_valid_port_name("a" * 16) == ["must be no more than 15 characters"]


def test_ip_addresses_are_parsed_sloppily_like_upstream() -> None:
    assert names.is_valid_ip("10.0.0.1") == []
    assert names.is_valid_ip("010.000.000.001") == []  # leading zeros accepted, as ParseIPSloppy does
    assert names.is_valid_ip("2001:db8::1") == []
    assert names.is_valid_ip("1.2.3") == ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    assert names.is_valid_ipv4_address("::1") == ["must be a valid IPv4 address"]
    assert names.is_valid_cidr("10.0.0.0/8") == []
    assert names.is_valid_cidr("10.0.0.0/33") == ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]


def test_path_segment_names() -> None:
    assert names.is_valid_path_segment_name("system:admin") == []
    assert names.is_valid_path_segment_name("..") == ["may not be '..'"]
    assert names.is_valid_path_segment_name("a/b%") == ["may not contain '/'", "may not contain '%'"]


@pytest.mark.parametrize("fn", [names.name_is_dns_subdomain, names.name_is_dns_label, names.name_is_dns1035_label])
def test_generate_name_prefix_may_end_in_a_dash(fn) -> None:
    assert fn("web-", True) == []
    assert fn("web-", False) != []


def test_generate_name_uses_upstream_alphabet_and_truncates_to_58() -> None:
    name = names.generate_name("web-", random.Random(1))
    assert name.startswith("web-") and len(name) == 9
    assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")
    long = names.generate_name("x" * 100, random.Random(2))
    assert len(long) == 63 and long.startswith("x" * 58)
