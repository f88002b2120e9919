"""Ages as kubectl shows them: apimachinery's HumanDuration and ShortHumanDuration."""

from datetime import datetime, timedelta, timezone

import pytest

from kybernetes.api import durations

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "seconds, want",
    [
        (0, "0s"),
        (1, "1s"),
        (70, "70s"),
        (119.9, "119s"),
        (120, "2m"),
        (190, "3m10s"),
        (600, "10m"),
        (70 * 60, "70m"),
        (3 * 3600 + 4 * 60, "3h4m"),
        (5 * 3600, "5h"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (49 * 3600, "2d1h"),
        (2 * 86400, "2d"),
        ((8 * 24 + 2) * 3600, "8d"),
        (367 * 86400, "367d"),
        ((365 * 2 * 24 + 25) * 3600, "2y1d"),
        ((365 * 8 * 24 + 2) * 3600, "8y"),
        (-1.9, "0s"),
        (-2, "<invalid>"),
    ],
)
def test_human_duration(seconds, want):
    assert durations.human(seconds) == want
    assert durations.human(timedelta(seconds=seconds)) == want


@pytest.mark.parametrize(
    "seconds, want",
    [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (190, "3m"),
        (3 * 3600 + 4 * 60, "3h"),
        (49 * 3600, "2d"),
        (400 * 86400, "1y"),
        (-1, "0s"),
        (-3, "<invalid>"),
    ],
)
def test_short_human_duration(seconds, want):
    assert durations.short_human(seconds) == want


def test_age_since_a_timestamp():
    assert durations.since("2024-05-01T11:55:00Z", NOW) == "5m"
    assert durations.since("2024-05-01T11:59:59.500000Z", NOW) == "0s"
    assert durations.since("2024-04-29T12:00:00+00:00", NOW) == "2d"


@pytest.mark.parametrize("missing", [None, "", "0001-01-01T00:00:00Z", "not a time"])
def test_missing_timestamp_reads_unknown(missing):
    assert durations.since(missing, NOW) == "<unknown>"


def test_naive_now_is_utc():
    assert durations.since("2024-05-01T11:00:00Z", NOW.replace(tzinfo=None)) == "60m"


def test_between_two_timestamps():
    assert durations.between("2024-05-01T11:00:00Z", "2024-05-01T11:31:00Z") == "31m"
    assert durations.between(None, "2024-05-01T11:31:00Z") is None
