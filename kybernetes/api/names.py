"""Name and value syntax checks, with kube-apiserver's exact messages.

The Python counterpart of apimachinery's ``util/validation`` (DNS labels and
subdomains, label keys and values, ports, IPs, environment variable names,
config keys), ``api/validation/path`` (path segment names) and
``api/validation`` name functions (``NameIsDNSSubdomain`` and friends, which
relax the trailing dash for ``generateName`` prefixes), plus the name
generator behind ``metadata.generateName``.

Every ``is_*`` check returns the list of problems (empty when valid), as
upstream does, so callers can turn each message into a field error.
Pure knowledge: no I/O, no imports from other kybernetes packages.
"""

from __future__ import annotations

import random
import re
from typing import Callable, Protocol

NameFunc = Callable[[str, bool], list[str]]


# -- message helpers (util/validation) ---------------------------------------

def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def _full(pattern: str) -> re.Pattern[str]:
    # Go's regexp `^...$` never matches before a trailing newline; fullmatch is the equivalent.
    return re.compile(pattern)


# -- qualified names (label keys) and label values ---------------------------

QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_ERR = ("must consist of alphanumeric characters, '-', '_' or '.', "
                      "and must start and end with an alphanumeric character")
QUALIFIED_NAME_MAX = 63
_QUALIFIED_NAME = _full(QUALIFIED_NAME_FMT)

LABEL_VALUE_FMT = f"({QUALIFIED_NAME_FMT})?"
LABEL_VALUE_ERR = ("a valid label must be an empty string or consist of alphanumeric characters, "
                   "'-', '_' or '.', and must start and end with an alphanumeric character")
LABEL_VALUE_MAX = 63
_LABEL_VALUE = _full(LABEL_VALUE_FMT)


def is_qualified_name(value: str) -> list[str]:
    """IsQualifiedName: label keys, annotation keys (lower-cased), finalizers, condition types."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT,
                                                  "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part " + empty_error())
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_NAME.fullmatch(name):
        errs.append("name part " + regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT,
                                               "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(max_len_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE.fullmatch(value):
        errs.append(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


# -- DNS names ----------------------------------------------------------------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_ERR = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                     "or '-', and must start and end with an alphanumeric character")
DNS1123_LABEL_MAX = 63
_DNS1123_LABEL = _full(DNS1123_LABEL_FMT)

DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_ERR = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                         "characters, '-' or '.', and must start and end with an alphanumeric character")
DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_SUBDOMAIN = _full(DNS1123_SUBDOMAIN_FMT)

_LABEL_US_FMT = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_US_FMT = _LABEL_US_FMT + "(\\." + _LABEL_US_FMT + ")*"
DNS1123_SUBDOMAIN_US_ERR = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                            "characters, '_', '-' or '.', and must start and end with an alphanumeric "
                            "character")
_DNS1123_SUBDOMAIN_US = _full(DNS1123_SUBDOMAIN_US_FMT)

DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_ERR = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                     "start with an alphabetic character, and end with an alphanumeric character")
DNS1035_LABEL_MAX = 63
_DNS1035_LABEL = _full(DNS1035_LABEL_FMT)

WILDCARD_DNS1123_SUBDOMAIN_FMT = "\\*\\." + DNS1123_SUBDOMAIN_FMT
WILDCARD_DNS1123_SUBDOMAIN_ERR = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which "
    "must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character")
_WILDCARD = _full(WILDCARD_DNS1123_SUBDOMAIN_FMT)


def is_dns1123_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL.fullmatch(value):
        if _DNS1123_SUBDOMAIN.fullmatch(value):
            # A valid subdomain but not a label: length is already checked, so it must be dots.
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1123_subdomain_with_underscore(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_US.fullmatch(value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_US_ERR, DNS1123_SUBDOMAIN_US_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1035_LABEL_MAX:
        errs.append(max_len_error(DNS1035_LABEL_MAX))
    if not _DNS1035_LABEL.fullmatch(value):
        errs.append(regex_error(DNS1035_LABEL_ERR, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _WILDCARD.fullmatch(value):
        errs.append(regex_error(WILDCARD_DNS1123_SUBDOMAIN_ERR, WILDCARD_DNS1123_SUBDOMAIN_FMT,
                                "*.example.com"))
    return errs


# -- identifiers, env vars, config keys, headers, percents --------------------

C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"
C_IDENTIFIER_ERR = ("a valid C identifier must start with alphabetic character or '_', "
                    "followed by a string of alphanumeric characters or '_'")
_C_IDENTIFIER = _full(C_IDENTIFIER_FMT)

ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
ENV_VAR_NAME_ERR = ("a valid environment variable name must consist of alphabetic characters, "
                    "digits, '_', '-', or '.', and must not start with a digit")
RELAXED_ENV_VAR_NAME_ERR = ("a valid environment variable name must consist only of printable "
                            "ASCII characters other than '='")
_ENV_VAR_NAME = _full(ENV_VAR_NAME_FMT)

CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_MAP_KEY_ERR = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_CONFIG_MAP_KEY = _full(CONFIG_MAP_KEY_FMT)

HTTP_HEADER_NAME_FMT = "[-A-Za-z0-9]+"
HTTP_HEADER_NAME_ERR = "a valid HTTP header must consist of alphanumeric characters or '-'"
_HTTP_HEADER_NAME = _full(HTTP_HEADER_NAME_FMT)

PERCENT_FMT = "[0-9]+%"
PERCENT_ERR = "a valid percent string must be a numeric string followed by an ending '%'"
_PERCENT = _full(PERCENT_FMT)


def is_c_identifier(value: str) -> list[str]:
    if not _C_IDENTIFIER.fullmatch(value):
        return [regex_error(C_IDENTIFIER_ERR, C_IDENTIFIER_FMT, "my_name", "MY_NAME", "MyName")]
    return []


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_env_var_name(value: str) -> list[str]:
    """IsEnvVarName: what kube-apiserver 1.32 checks for env names and envFrom prefixes."""
    errs: list[str] = []
    if not _ENV_VAR_NAME.fullmatch(value):
        errs.append(regex_error(ENV_VAR_NAME_ERR, ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME",
                                "MyEnvName1"))
    return errs + _chdir_prefix(value)


def is_relaxed_env_var_name(value: str) -> list[str]:
    errs: list[str] = []
    if not value:
        errs.append("environment variable name " + empty_error())
    if any(ord(c) > 0x7E or ord(c) < 0x20 or c == "=" for c in value):
        errs.append(RELAXED_ENV_VAR_NAME_ERR)
    return errs


def is_config_map_key(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _CONFIG_MAP_KEY.fullmatch(value):
        errs.append(regex_error(CONFIG_MAP_KEY_ERR, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir_prefix(value)


def is_http_header_name(value: str) -> list[str]:
    if not _HTTP_HEADER_NAME.fullmatch(value):
        return [regex_error(HTTP_HEADER_NAME_ERR, HTTP_HEADER_NAME_FMT, "X-Header-Name")]
    return []


def is_valid_percent(value: str) -> list[str]:
    if not _PERCENT.fullmatch(value):
        return [regex_error(PERCENT_ERR, PERCENT_FMT, "1%", "93%")]
    return []


# -- numbers -------------------------------------------------------------------

def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def is_in_range(value: int, lo: int, hi: int) -> list[str]:
    return [] if lo <= value <= hi else [inclusive_range_error(lo, hi)]


def is_valid_user_id(uid: int) -> list[str]:
    return is_in_range(uid, 0, 0xFFFFFFFF)


def is_valid_group_id(gid: int) -> list[str]:
    return is_in_range(gid, 0, 0xFFFFFFFF)


_PORT_NAME_CHARSET = re.compile("[-a-z0-9]+")
_PORT_NAME_LETTER = re.compile("[a-z]")


def is_valid_port_name(port: str) -> list[str]:
    """IANA_SVC_NAME: at most 15 of [-a-z0-9], at least one letter, no '--', no edge hyphen."""
    errs: list[str] = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.fullmatch(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


# -- IP addresses (k8s.io/utils/net "sloppy" parsing: IPv4 octets may have leading zeros) --

def _parse_ipv4_sloppy(s: str) -> bytes | None:
    parts = s.split(".")
    if len(parts) != 4:
        return None
    out = bytearray()
    for p in parts:
        if not p or not p.isascii() or not p.isdigit():
            return None
        n = 0
        for ch in p:
            n = n * 10 + (ord(ch) - 48)
            if n > 0xFF:
                return None
        out.append(n)
    return bytes(out)


def _parse_ipv6(s: str) -> bytes | None:
    import ipaddress  # local: only IPv6 needs the stdlib parser

    if "%" in s or not s.isascii():
        return None
    if "." in s:  # an embedded IPv4 tail may use sloppy octets
        head, _, tail = s.rpartition(":")
        v4 = _parse_ipv4_sloppy(tail)
        if v4 is None:
            return None
        s = f"{head}:{v4[0] << 8 | v4[1]:x}:{v4[2] << 8 | v4[3]:x}"
    try:
        return ipaddress.IPv6Address(s).packed
    except ValueError:
        return None


def parse_ip_sloppy(value: str) -> bytes | None:
    """The address bytes (4 or 16), or None when ParseIPSloppy would reject it."""
    if ":" in value:
        return _parse_ipv6(value)
    return _parse_ipv4_sloppy(value)


def ip_is_v4(packed: bytes) -> bool:
    """Go's To4() != nil: IPv4, or IPv4-mapped IPv6."""
    return len(packed) == 4 or packed[:12] == b"\x00" * 10 + b"\xff\xff"


def is_valid_ip(value: str) -> list[str]:
    if parse_ip_sloppy(value) is None:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def is_valid_ipv4_address(value: str) -> list[str]:
    ip = parse_ip_sloppy(value)
    return [] if ip is not None and ip_is_v4(ip) else ["must be a valid IPv4 address"]


def is_valid_ipv6_address(value: str) -> list[str]:
    ip = parse_ip_sloppy(value)
    return [] if ip is not None and not ip_is_v4(ip) else ["must be a valid IPv6 address"]


def parse_cidr_sloppy(value: str) -> tuple[bytes, int] | None:
    """(address bytes, prefix length) or None when ParseCIDRSloppy would reject it."""
    addr, sep, bits = value.partition("/")
    if not sep or not bits or not bits.isascii() or not bits.isdigit():
        return None
    ip = parse_ip_sloppy(addr)
    if ip is None:
        return None
    n = int(bits)
    if n > len(ip) * 8:
        return None
    return ip, n


def is_valid_cidr(value: str) -> list[str]:
    if parse_cidr_sloppy(value) is None:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    return []


# -- path segment names (RBAC and other "minimal" names) ---------------------

def is_valid_path_segment_name(name: str) -> list[str]:
    for illegal in (".", ".."):
        if name == illegal:
            return [f"may not be '{illegal}'"]
    return is_valid_path_segment_prefix(name)


def is_valid_path_segment_prefix(name: str) -> list[str]:
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


# -- object name functions (api/validation/generic.go) -----------------------

def mask_trailing_dash(name: str) -> str:
    """A generateName prefix may end in '-': replace it so the name checks still apply.

    Upstream replaces the last *two* characters with "a"; kept as is.
    """
    if name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_subdomain(mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_label(mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1035_label(mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool = False) -> list[str]:
    return is_valid_path_segment_prefix(name) if prefix else is_valid_path_segment_name(name)


# -- generateName ---------------------------------------------------------------

GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_NAME_RANDOM_LENGTH = 5
MAX_GENERATED_NAME_LENGTH = 63 - GENERATE_NAME_RANDOM_LENGTH  # 58


class _Chooser(Protocol):
    def choice(self, seq: str) -> str: ...


_system_random = random.SystemRandom()


def generate_name(base: str, rand: _Chooser | None = None) -> str:
    """SimpleNameGenerator: base cut to 58 bytes, then 5 characters from upstream's alphabet."""
    raw = base.encode()
    if len(raw) > MAX_GENERATED_NAME_LENGTH:
        base = raw[:MAX_GENERATED_NAME_LENGTH].decode(errors="ignore")
    chooser = rand if rand is not None else _system_random
    return base + "".join(chooser.choice(GENERATE_NAME_ALPHABET)
                          for _ in range(GENERATE_NAME_RANDOM_LENGTH))
