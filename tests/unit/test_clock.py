import datetime as dt

import pytest

from provenance import clock
from provenance.errors import InputError


def test_now_is_aware_utc_in_whole_seconds():
    t = clock.now()
    assert t.tzinfo is not None and t.utcoffset() == dt.timedelta(0)
    assert t.microsecond == 0


def test_times_are_written_in_utc_whatever_zone_they_were_given_in():
    t = dt.datetime(2025, 1, 31, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert clock.iso(t) == "2025-01-31T12:00:00+00:00"
    assert clock.iso(dt.datetime(2025, 1, 31, 12, 0, 0, 5)) == "2025-01-31T12:00:00+00:00"
    assert clock.iso(dt.datetime(2025, 1, 31, 12, 0, 0, 5), "microseconds") == "2025-01-31T12:00:00.000005+00:00"


@pytest.mark.parametrize(
    "text",
    ["2025-01-31T12:00:00Z", "2025-01-31T12:00:00+00:00", "2025-01-31T13:00:00+01:00", "2025-01-31T12:00:00"],
)
def test_parse_reads_z_offsets_and_naive_times_as_utc(text):
    assert clock.parse(text, "--valid-from") == dt.datetime(2025, 1, 31, 12, tzinfo=dt.UTC)


def test_parse_round_trips_what_iso_writes():
    t = clock.now()
    assert clock.parse(clock.iso(t), "t") == t
    assert clock.parse(clock.now_iso(), "t").tzinfo is not None


def test_a_bad_time_is_an_input_error_naming_the_flag():
    with pytest.raises(InputError, match=r"--valid-until 'tomorrow': not an ISO date"):
        clock.parse("tomorrow", "--valid-until")


def test_a_time_in_whole_seconds_stands_for_the_last_moment_of_its_second():
    """A20b-2: a version's signed createdAt (whole seconds) compared with a window ending to the microsecond."""
    assert clock.latest("2026-12-03T13:00:00+00:00", "t") == dt.datetime(2026, 12, 3, 13, 0, 0, 999999, tzinfo=dt.UTC)
    assert clock.latest("2026-12-03T13:00:00Z", "t").microsecond == 999999
    assert clock.latest("2026-12-03T13:00:00.000000+00:00", "t").microsecond == 0  # a checkpoint's, exact
    assert clock.latest("2026-12-03T13:00:00.25+00:00", "t").microsecond == 250000
    with pytest.raises(InputError, match="signed time 'soon'"):
        clock.latest("soon", "signed time")
