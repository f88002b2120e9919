"""Event aggregation, counting and spam filtering, as client-go's events_cache_test.go."""

from kybernetes.client import clock as clocks
from kybernetes.client import event_correlation


def make_event(message="m", reason="Started", name="pod-a", uid="u1", stamp="2024-01-01T00:00:00Z"):
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": name, "uid": uid,
                               "apiVersion": "v1"},
            "reason": reason, "message": message, "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1}


def written(event, rv="10"):
    """The event as the server answers the write."""
    return dict(event, metadata=dict(event["metadata"], resourceVersion=rv))


def test_identical_events_become_a_patch_of_count_and_last_timestamp():
    c = event_correlation.EventCorrelator(clocks.FakeClock())
    first = c.correlate(make_event())
    assert first.patch is None and not first.skip
    c.update_state(written(first.event))
    second = c.correlate(make_event(stamp="2024-01-01T00:01:00Z"))
    assert second.event["metadata"]["name"] == "pod-a.17a"  # the first one's name
    assert second.event["firstTimestamp"] == "2024-01-01T00:00:00Z"
    assert second.patch == {"count": 2, "lastTimestamp": "2024-01-01T00:01:00Z", "message": "m"}
    third = c.correlate(make_event(stamp="2024-01-01T00:02:00Z"))
    assert third.patch["count"] == 3


def test_different_message_or_object_is_a_new_event():
    c = event_correlation.EventCorrelator(clocks.FakeClock())
    c.correlate(make_event())
    assert c.correlate(make_event(message="other")).patch is None
    assert c.correlate(make_event(uid="u2")).patch is None
    assert c.correlate(make_event(reason="Killing")).patch is None


def test_tenth_distinct_message_in_ten_minutes_is_combined():
    clk = clocks.FakeClock()
    c = event_correlation.EventCorrelator(clk)
    results = [c.correlate(make_event(message=f"msg {i}")) for i in range(12)]
    assert all(not r.event["message"].startswith("(combined") for r in results[:9])
    assert results[9].event["message"] == "(combined from similar events): msg 9"
    assert results[9].patch is None
    # Further distinct messages update the one combined event.
    assert results[10].patch is not None
    assert results[10].event["metadata"]["name"] == results[9].event["metadata"]["name"]
    assert results[11].patch["count"] == 3
    # Ten quiet minutes later the window starts over.
    clk.step(601)
    fresh = c.correlate(make_event(message="msg 99"))
    assert fresh.event["message"] == "msg 99" and fresh.patch is None


def test_spam_filter_allows_burst_then_one_per_five_minutes_per_object():
    clk = clocks.FakeClock()
    c = event_correlation.EventCorrelator(clk)
    results = [c.correlate(make_event()) for _ in range(30)]
    assert [r.skip for r in results] == [False] * 25 + [True] * 5
    assert not c.correlate(make_event(name="pod-b", uid="u2")).skip  # other object, own bucket
    clk.step(300)
    assert not c.correlate(make_event()).skip
    assert c.correlate(make_event()).skip


def test_correlate_does_not_mutate_its_input():
    c = event_correlation.EventCorrelator(clocks.FakeClock())
    c.correlate(make_event())
    original = make_event()
    c.correlate(original)
    assert original == make_event()
