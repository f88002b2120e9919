"""Label selectors as kube-apiserver parses ?labelSelector= and controllers match spec.selector."""

import pytest

from kybernetes.api import labels
from kybernetes.api.labels import Requirement, SelectorError

QNAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("", ""),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("z=c,x=a", "x=a,z=c"),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("  env  ==  prod ", "env==prod"),
        ("!x", "!x"),
        ("x", "x"),
        ("x>1", "x>1"),
        ("x > 1,z<5", "x>1,z<5"),
        ("x in (a)", "x in (a)"),
        ("x in (c,b,a)", "x in (a,b,c)"),
        ("x notin (b, a)", "x notin (a,b)"),
        ("x in (in)", "x in (in)"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x in ()", "x in ()"),
        ("app.kubernetes.io/name=web,tier", "app.kubernetes.io/name=web,tier"),
    ],
)
def test_parse_prints_canonical_form(text, canonical):
    assert str(labels.parse(text)) == canonical


def test_requirements_are_sorted_by_key_with_sorted_values():
    sel = labels.parse("tier notin (b,a),app=web,!canary")
    assert sel.requirements == (
        Requirement("app", "=", ("web",)),
        Requirement("canary", "!", ()),
        Requirement("tier", "notin", ("a", "b")),
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("x=a||y=b", f'unable to parse requirement: values[0][x]: Invalid value: "a||y": {VALUE_RULE}'),
        ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("x in a", "unable to parse requirement: found 'a' expected: '('"),
        ("x,", "found '', expected: identifier after ','"),
        (",x", "found ',', expected: !, identifier, or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("app:monolith", f'unable to parse requirement: <nil>: Invalid value: "app:monolith": {QNAME_RULE}'),
        (
            "app.kubernetes_io/name=x",
            'unable to parse requirement: <nil>: Invalid value: "app.kubernetes_io/name": prefix part a lowercase '
            "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
            "end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
        ("x=a$b", f'unable to parse requirement: values[0][x]: Invalid value: "a$b": {VALUE_RULE}'),
        ("x=" + "a" * 64, f'unable to parse requirement: values[0][x]: Invalid value: "{"a" * 64}": '
         "must be no more than 63 characters"),
        ("x>1.5", 'unable to parse requirement: values[0]: Invalid value: "1.5": '
         "for 'Gt', 'Lt' operators, the value must be an integer"),
    ],
)
def test_parse_errors_read_as_upstream(text, message):
    with pytest.raises(SelectorError) as info:
        labels.parse(text)
    assert info.value.message == message
    assert str(info.value) == message


def test_qualified_name_with_two_slashes():
    with pytest.raises(SelectorError) as info:
        labels.parse("a/b/c ?=? def")
    assert info.value.message.startswith('unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name ')
    assert info.value.message.endswith(" with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")


@pytest.mark.parametrize(
    "text, matching, not_matching",
    [
        ("x=y", {"x": "y"}, {"x": "z"}),
        ("x==y", {"x": "y", "a": "b"}, {}),
        ("x!=y", {"x": "z"}, {"x": "y"}),
        ("x!=y", {}, {"x": "y"}),
        ("x in (a,b)", {"x": "b"}, {"x": "c"}),
        ("x in (a,b)", {"x": "a"}, {}),
        ("x notin (a,b)", {}, {"x": "a"}),
        ("x", {"x": ""}, {"y": "x"}),
        ("!x", {"y": "1"}, {"x": ""}),
        ("x=", {"x": ""}, {}),
        ("x>5", {"x": "6"}, {"x": "5"}),
        ("x<5", {"x": "-2"}, {"x": "five"}),
        ("a=1,b in (2,3),!c", {"a": "1", "b": "3"}, {"a": "1", "b": "3", "c": ""}),
    ],
)
def test_matches(text, matching, not_matching):
    sel = labels.parse(text)
    assert sel.matches(matching)
    assert not sel.matches(not_matching)


def test_everything_nothing_and_empty():
    assert labels.everything().empty and labels.everything().matches(None)
    assert labels.parse("").empty
    assert not labels.nothing().empty
    assert not labels.nothing().matches({"a": "b"})
    assert str(labels.nothing()) == ""
    assert not labels.parse("a").empty


def test_from_label_selector():
    sel = labels.from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "env", "operator": "Exists"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
            ],
        }
    )
    assert str(sel) == "app=web,!canary,env,tier in (back,front),zone notin (b)"
    assert sel.matches({"app": "web", "tier": "front", "env": "x", "zone": "a"})
    assert not sel.matches({"app": "web", "tier": "front", "env": "x", "canary": "1"})
    assert labels.from_label_selector(None) is labels.nothing()
    assert labels.from_label_selector({}).empty
    assert labels.from_label_selector({"matchLabels": {}, "matchExpressions": []}).matches({"any": "thing"})


@pytest.mark.parametrize(
    "selector, message",
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, '"Gt" is not a valid label selector operator'),
        ({"matchLabels": {"a b": "c"}}, f'key: Invalid value: "a b": {QNAME_RULE}'),
    ],
)
def test_from_label_selector_errors(selector, message):
    with pytest.raises(SelectorError) as info:
        labels.from_label_selector(selector)
    assert info.value.message == message


def test_format_label_selector_as_printed():
    assert labels.format_label_selector({"matchLabels": {"b": "2", "a": "1"}}) == "a=1,b=2"
    assert labels.format_label_selector(None) == "<none>"
    assert labels.format_label_selector({}) == "<none>"
    assert labels.format_label_selector({"matchLabels": {"a": "bad value"}}) == "<error>"
    assert labels.format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert labels.format_labels({}) == "<none>"


def test_selector_from_set_and_matches_set():
    sel = labels.selector_from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"})
    assert not sel.matches({"a": "1"})
    assert labels.selector_from_set({}).empty
    assert labels.matches_set({"a": "1"}, {"a": "1", "b": "2"})
    assert not labels.matches_set({"a": "1"}, None)
    assert labels.matches_set(None, None)


def test_requires_exact_match():
    sel = labels.parse("app=web,tier in (front),env in (a,b)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") == "front"
    assert sel.requires_exact_match("env") is None
    assert sel.requires_exact_match("missing") is None


def test_selectors_compare_by_value():
    assert labels.parse("b=2,a=1") == labels.parse("a=1, b=2")
    assert labels.parse("a=1") != labels.parse("a=2")
    assert len({labels.parse("a"), labels.parse(" a ")}) == 1


def test_matching_is_fast_enough_for_controllers():
    import time

    sel = labels.from_label_selector({"matchLabels": {"app": "web", "tier": "front"}})
    pod_labels = {"app": "web", "tier": "front", "pod-template-hash": "abc"}
    start = time.perf_counter()
    for _ in range(100_000):
        sel.matches(pod_labels)
    assert time.perf_counter() - start < 1.0
