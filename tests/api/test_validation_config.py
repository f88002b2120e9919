"""ConfigMap, Secret and ServiceAccount validation."""

import base64
import copy
from typing import Any

from kybernetes.api.defaulting import default
from kybernetes.api.validation import invalid_message, validate


def errors(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    obj = copy.deepcopy(obj)
    default("", kind, obj)
    if old is not None:
        old = copy.deepcopy(old)
        default("", kind, old)
    return [f"{c['field']}: {c['message']}" for c in validate("", kind, obj, old)]


def configmap(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "resourceVersion": "1"}, **fields}


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "resourceVersion": "1"}, **fields}


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def test_config_keys() -> None:
    assert errors("ConfigMap", configmap(data={"app.conf": "x", "KEY_1": "y"})) == []
    assert errors("ConfigMap", configmap(data={"a/b": "x"})) == [
        "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' "
        "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]
    assert errors("ConfigMap", configmap(data={"k": "x"}, binaryData={"k": b64("y")})) == [
        'data[k]: Invalid value: "k": duplicate of key present in binaryData']


def test_configmap_size_limit_reports_the_whole_object() -> None:
    causes = validate("", "ConfigMap", configmap(data={"big": "x" * (1024 * 1024 + 1)}))
    assert invalid_message("ConfigMap", "cfg", causes) == (
        'ConfigMap "cfg" is invalid: []: Too long: must have at most 1048576 bytes')


def test_immutable_configmap() -> None:
    old = configmap(data={"a": "1"}, immutable=True)
    new = configmap(data={"a": "2"}, immutable=True)
    assert errors("ConfigMap", new, old) == ["data: Forbidden: field is immutable when `immutable` is set"]
    assert errors("ConfigMap", configmap(data={"a": "1"}), old) == [
        "immutable: Forbidden: field is immutable when `immutable` is set"]


def test_secret_types_need_their_keys() -> None:
    assert errors("Secret", secret(data={"password": b64("pw")})) == []
    assert errors("Secret", secret(type="kubernetes.io/tls", data={"tls.crt": b64("c")})) == [
        "data[tls.key]: Required value"]
    assert errors("Secret", secret(type="kubernetes.io/basic-auth")) == [
        "data[username]: Required value", "data[password]: Required value"]
    assert errors("Secret", secret(type="kubernetes.io/service-account-token")) == [
        "metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    bad = secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("{nope")})
    errs = errors("Secret", bad)
    assert errs[0].startswith('data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": ')


def test_secret_string_data_counts_as_data() -> None:
    assert errors("Secret", secret(type="kubernetes.io/tls", stringData={"tls.crt": "c", "tls.key": "k"})) == []
    assert errors("Secret", secret(stringData={"bad key": "v"}))[0].startswith('data[bad key]: Invalid value: "bad key"')


def test_secret_type_is_immutable() -> None:
    old = secret(data={"a": b64("1")})
    new = secret(type="example.com/custom", data={"a": b64("1")})
    assert errors("Secret", new, old) == ['type: Invalid value: "example.com/custom": field is immutable']


def test_service_account_name() -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder.bot"}}
    assert errors("ServiceAccount", sa) == []
