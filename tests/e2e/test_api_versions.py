"""resourceVersion semantics of GET, LIST and WATCH, as a client observes them.

kube-apiserver 1.32 is the reference: RV unset is a consistent read, "0"
any cached state, a number "not older than"; LIST pages stay at the first
page's revision; a future revision waits, then 504; watches resume exactly
after a revision, send bookmarks only when allowed, and end at timeoutSeconds.
"""

from __future__ import annotations

import time

import pytest


def cms(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/configmaps"


def names(body: dict) -> list[str]:
    return [o["metadata"]["name"] for o in body["items"]]


def rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


# -- GET -------------------------------------------------------------------------------


def test_get_unset_zero_and_not_older_than(rest):
    ns = rest.namespace()
    created = rest.create(cms(ns), {"metadata": {"name": "a"}, "data": {"v": "1"}})
    patched = rest.patch(cms(ns) + "/a", {"data": {"v": "2"}}).json()
    assert rv(patched) > rv(created)
    # Unset: the latest state, read from storage.
    assert rest.get(cms(ns) + "/a").json()["data"] == {"v": "2"}
    # A revision already seen: not older than it, so the latest state too.
    got = rest.get(cms(ns) + "/a", params={"resourceVersion": str(rv(created))}).json()
    assert rv(got) >= rv(created)
    assert got["data"] == {"v": "2"}
    # "0": any state the cache holds; never an error.
    assert rest.get(cms(ns) + "/a", params={"resourceVersion": "0"}).status_code == 200


def test_future_resource_version_is_504_after_a_wait(rest):
    ns = rest.namespace()
    rest.create(cms(ns), {"metadata": {"name": "a"}})
    for path in (cms(ns) + "/a", cms(ns)):
        start = time.monotonic()
        r = rest.get(path, params={"resourceVersion": "99999999"})
        assert time.monotonic() - start >= 0.2, "the server waits for the cache before giving up"
        assert r.status_code == 504
        body = r.json()
        assert body["reason"] == "Timeout"
        assert body["message"].startswith("Too large resource version: 99999999, current: ")
        assert body["details"]["causes"] == [{"reason": "ResourceVersionTooLarge",
                                              "message": "Too large resource version"}]
        assert r.headers["Retry-After"] == "1"


def test_bad_resource_version_is_400(rest):
    r = rest.get("/api/v1/configmaps", params={"resourceVersion": "abc"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"


# -- LIST --------------------------------------------------------------------------------


def test_list_exact_and_not_older_than(rest):
    ns = rest.namespace()
    for n in ("a", "b", "c"):
        rest.create(cms(ns), {"metadata": {"name": n}})
    first = rest.get(cms(ns)).json()
    at = first["metadata"]["resourceVersion"]
    rest.create(cms(ns), {"metadata": {"name": "d"}})
    rest.delete(cms(ns) + "/a")

    exact = rest.get(cms(ns), params={"resourceVersion": at, "resourceVersionMatch": "Exact"}).json()
    assert exact["metadata"]["resourceVersion"] == at
    assert names(exact) == ["a", "b", "c"]

    newer = rest.get(cms(ns), params={"resourceVersion": at, "resourceVersionMatch": "NotOlderThan"}).json()
    assert int(newer["metadata"]["resourceVersion"]) > int(at)
    assert names(newer) == ["b", "c", "d"]

    latest = rest.get(cms(ns)).json()
    assert names(latest) == ["b", "c", "d"]
    # "0" is served from the watch cache, which catches up at once.
    deadline = time.monotonic() + 5
    while names(rest.get(cms(ns), params={"resourceVersion": "0"}).json()) != ["b", "c", "d"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("params, message", [
    ({"resourceVersionMatch": "NotOlderThan"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
    ({"resourceVersion": "0", "resourceVersionMatch": "Exact"},
     'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    ({"resourceVersion": "5", "resourceVersionMatch": "Newest"},
     'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'),
    ({"watch": "true", "sendInitialEvents": "true"},
     "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ({"watch": "true", "resourceVersionMatch": "NotOlderThan"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents "
     "is provided"),
])
def test_list_option_combinations_are_422(rest, params, message):
    r = rest.get("/api/v1/namespaces/default/configmaps", params={**params, "timeoutSeconds": "1"})
    assert r.status_code == 422
    body = r.json()
    assert body["reason"] == "Invalid"
    assert body["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'
    assert body["details"]["kind"] == "ListOptions" and body["details"]["group"] == "meta.k8s.io"


def test_pages_stay_at_the_first_page_revision(rest):
    ns = rest.namespace()
    for i in range(7):
        rest.create(cms(ns), {"metadata": {"name": f"cm-{i}"}, "data": {"v": "old"}})
    page1 = rest.get(cms(ns), params={"limit": "3"}).json()
    at = page1["metadata"]["resourceVersion"]
    assert names(page1) == ["cm-0", "cm-1", "cm-2"]
    assert page1["metadata"]["remainingItemCount"] == 4
    # Changes between pages are invisible to the rest of the list.
    rest.create(cms(ns), {"metadata": {"name": "cm-3a"}})
    rest.delete(cms(ns) + "/cm-5")
    rest.patch(cms(ns) + "/cm-4", {"data": {"v": "new"}})

    page2 = rest.get(cms(ns), params={"limit": "3", "continue": page1["metadata"]["continue"]}).json()
    assert page2["metadata"]["resourceVersion"] == at
    assert names(page2) == ["cm-3", "cm-4", "cm-5"]
    assert page2["items"][1]["data"] == {"v": "old"}
    assert page2["metadata"]["remainingItemCount"] == 1

    page3 = rest.get(cms(ns), params={"limit": "3", "continue": page2["metadata"]["continue"]}).json()
    assert names(page3) == ["cm-6"]
    assert page3["metadata"]["resourceVersion"] == at
    assert "continue" not in page3["metadata"] and "remainingItemCount" not in page3["metadata"]

    # A fresh list sees the changes.
    assert names(rest.get(cms(ns)).json()) == ["cm-0", "cm-1", "cm-2", "cm-3", "cm-3a", "cm-4", "cm-6"]


def test_pages_with_a_label_selector_fill_up(rest):
    ns = rest.namespace()
    for i in range(10):
        rest.create(cms(ns), {"metadata": {"name": f"cm-{i}", "labels": {"odd": str(i % 2)}}})
    seen, token = [], None
    while True:
        params = {"limit": "2", "labelSelector": "odd=1"}
        if token:
            params["continue"] = token
        page = rest.get(cms(ns), params=params).json()
        assert len(page["items"]) <= 2
        seen += names(page)
        token = page["metadata"].get("continue")
        if not token:
            break
    assert seen == ["cm-1", "cm-3", "cm-5", "cm-7", "cm-9"]


def test_bad_continue_token_is_400(rest):
    r = rest.get("/api/v1/configmaps", params={"limit": "1", "continue": "not-a-token"})
    assert r.status_code == 400
    assert r.json()["message"].startswith("invalid continue token: ")
    r = rest.get("/api/v1/configmaps", params={"limit": "1", "continue": "x", "resourceVersion": "5"})
    assert r.status_code == 400
    assert r.json()["message"] == "specifying resource version is not allowed when using continue"


# -- WATCH -----------------------------------------------------------------------------


def test_watch_from_a_list_revision_gets_exactly_the_later_changes(rest):
    ns = rest.namespace()
    rest.create(cms(ns), {"metadata": {"name": "before"}})
    at = rest.get(cms(ns)).json()["metadata"]["resourceVersion"]
    rest.create(cms(ns), {"metadata": {"name": "x"}})
    rest.patch(cms(ns) + "/x", {"data": {"k": "v"}})
    rest.delete(cms(ns) + "/x")
    with rest.watch(cms(ns), {"resourceVersion": at, "timeoutSeconds": "5"}) as w:
        events = w.take(3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x")]
    revisions = [rv(e["object"]) for e in events]
    assert revisions == sorted(revisions) and revisions[0] > int(at)
    assert events[1]["object"]["data"] == {"k": "v"}


def test_watch_without_resource_version_starts_with_the_current_state(rest):
    ns = rest.namespace()
    rest.create(cms(ns), {"metadata": {"name": "a"}})
    rest.create(cms(ns), {"metadata": {"name": "b"}})
    with rest.watch(cms(ns), {"timeoutSeconds": "5"}) as w:
        events = w.take(2)
        assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in events) == [
            ("ADDED", "a"), ("ADDED", "b")]
        rest.create(cms(ns), {"metadata": {"name": "c"}})
        event = w.next()
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "c")


def test_bookmarks_only_when_allowed_and_timeout_ends_the_stream(rest):
    ns = rest.namespace()
    rest.create(cms(ns), {"metadata": {"name": "a"}})
    at = rest.get(cms(ns)).json()["metadata"]["resourceVersion"]
    # kube-apiserver sends a bookmark 2 s before the watch times out.
    start = time.monotonic()
    with rest.watch(cms(ns), {"resourceVersion": at, "allowWatchBookmarks": "true",
                              "timeoutSeconds": "3"}, timeout=10) as w:
        events = list(w)
    elapsed = time.monotonic() - start
    assert 2.5 <= elapsed < 6, elapsed
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and len(bookmarks) == len(events)
    obj = bookmarks[0]["object"]
    assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1"
    assert list(obj["metadata"]) == ["resourceVersion"]
    assert int(obj["metadata"]["resourceVersion"]) >= int(at)

    start = time.monotonic()
    with rest.watch(cms(ns), {"resourceVersion": at, "timeoutSeconds": "3"}, timeout=10) as w:
        assert list(w) == []
    assert time.monotonic() - start < 6


def test_send_initial_events_ends_with_an_annotated_bookmark(rest):
    ns = rest.namespace()
    for n in ("a", "b", "c"):
        rest.create(cms(ns), {"metadata": {"name": n}})
    params = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
              "allowWatchBookmarks": "true", "timeoutSeconds": "10"}
    with rest.watch(cms(ns), params) as w:
        events = w.take(4)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events[:3]] == [
            ("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
        end = events[3]
        assert end["type"] == "BOOKMARK"
        assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert int(end["object"]["metadata"]["resourceVersion"]) >= max(rv(e["object"]) for e in events[:3])
        rest.create(cms(ns), {"metadata": {"name": "d"}})
        later = w.next()
    assert (later["type"], later["object"]["metadata"]["name"]) == ("ADDED", "d")


def test_watch_with_selectors_turns_changes_into_added_and_deleted(rest):
    ns = rest.namespace()
    rest.create(cms(ns), {"metadata": {"name": "x", "labels": {"app": "web"}}})
    at = rest.get(cms(ns)).json()["metadata"]["resourceVersion"]
    with rest.watch(cms(ns), {"resourceVersion": at, "labelSelector": "app=web", "timeoutSeconds": "5"}) as w:
        rest.patch(cms(ns) + "/x", {"metadata": {"labels": {"app": "db"}}})
        rest.patch(cms(ns) + "/x", {"metadata": {"labels": {"app": "web"}}})
        events = w.take(2)
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]
