"""The availability engine: working intervals, appointments, bookable slots and the offer.

Unit tests pin the rules on named zones around their DST changes; property tests check every
slot against a deliberately naive reference written here, independent of rules/availability.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.availability import (
    appointments_per_day,
    bookable_slots,
    describe_hours,
    inside_working_hours,
    offer,
    working_intervals,
)
from rules.model import (
    BookingPolicy,
    BusyInterval,
    DateRange,
    Freelancer,
    Hours,
    Policy,
    Slot,
    TimeRange,
)

TORONTO = ZoneInfo("America/Toronto")
PARIS = ZoneInfo("Europe/Paris")
SYDNEY = ZoneInfo("Australia/Sydney")
APIA = ZoneInfo("Pacific/Apia")

SPLIT = (TimeRange(time(9), time(12)), TimeRange(time(13), time(17)))
WEEK = Hours({day: SPLIT for day in range(5)})


def make_policy(hours: Hours = WEEK, zone: str = "Europe/Paris", **booking: object) -> Policy:
    options: dict[str, object] = {"min_notice_hours": 0, "horizon_days": 7}
    options.update(booking)
    return Policy(
        Freelancer("Ada", "ada@example.org", timezone=zone),
        hours,
        BookingPolicy(**options),  # type: ignore[arg-type]
    )


def at(zone: ZoneInfo, y: int, m: int, d: int, hh: int = 0, mm: int = 0, fold: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone, fold=fold)


def busy(start: datetime, end: datetime, uid: str = "", *, all_day: bool = False) -> BusyInterval:
    return BusyInterval(start, end, all_day=all_day, uid=uid)


def starts(slots: Iterable[Slot], zone: ZoneInfo) -> list[str]:
    return [s.start.astimezone(zone).strftime("%m-%d %H:%M") for s in slots]


def real(value: datetime) -> datetime:
    return value.astimezone(UTC)


# --- working_intervals ---------------------------------------------------------------------------


def test_working_intervals_in_time_order_without_closed_dates() -> None:
    hours = Hours(WEEK.week, closed=(DateRange(date(2026, 3, 4), date(2026, 3, 4)),))
    got = working_intervals(hours, PARIS, date(2026, 3, 2), date(2026, 3, 8))
    assert len(got) == 8  # Mon, Tue, Thu, Fri; Wednesday closed, weekend off
    assert {s.date() for s, _ in got} == {date(2026, 3, d) for d in (2, 3, 5, 6)}
    assert [real(s) for s, _ in got] == sorted(real(s) for s, _ in got)
    assert got[0] == (at(PARIS, 2026, 3, 2, 9), at(PARIS, 2026, 3, 2, 12))


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (TORONTO, date(2026, 3, 8), 5),  # 02:00 -> 03:00
        (TORONTO, date(2026, 11, 1), 7),  # 02:00 -> 01:00
        (PARIS, date(2026, 3, 29), 5),
        (PARIS, date(2026, 10, 25), 7),
        (SYDNEY, date(2026, 10, 4), 5),
        (SYDNEY, date(2026, 4, 5), 7),
        (APIA, date(2026, 4, 5), 6),  # Samoa dropped DST in 2021
    ],
)
def test_range_across_a_dst_change_has_its_real_length(
    zone: ZoneInfo, day: date, hours: int
) -> None:
    week = Hours({day.weekday(): (TimeRange(time(0), time(6)),)})
    [(start, end)] = working_intervals(week, zone, day, day)
    assert real(end) - real(start) == timedelta(hours=hours)
    assert (start.hour, end.hour) == (0, 6)


def test_range_starting_in_the_spring_gap_uses_the_offset_before_it_rfc5545_3_3_5() -> None:
    week = Hours({6: (TimeRange(time(2, 30), time(5)),)})
    [(start, end)] = working_intervals(week, TORONTO, date(2026, 3, 8), date(2026, 3, 8))
    assert real(start) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 02:30 EST == 03:30 EDT
    assert real(end) - real(start) == timedelta(hours=1, minutes=30)
    [(start, _)] = working_intervals(
        Hours({6: (TimeRange(time(2, 30), time(5)),)}), PARIS, date(2026, 3, 29), date(2026, 3, 29)
    )
    assert real(start) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 CET == 03:30 CEST


def test_ambiguous_range_start_is_the_first_occurrence_rfc5545_3_3_5() -> None:
    week = Hours({6: (TimeRange(time(1, 30), time(3)),)})
    [(start, end)] = working_intervals(week, TORONTO, date(2026, 11, 1), date(2026, 11, 1))
    assert start.utcoffset() == timedelta(hours=-4)  # EDT, the first 01:30
    assert real(end) - real(start) == timedelta(hours=2, minutes=30)
    week = Hours({6: (TimeRange(time(2, 30), time(4)),)})
    [(start, _)] = working_intervals(week, PARIS, date(2026, 10, 25), date(2026, 10, 25))
    assert start.utcoffset() == timedelta(hours=2)  # CEST, the first 02:30


def test_apia_skipped_2011_12_30_has_no_working_time() -> None:
    daily = Hours({day: (TimeRange(time(9), time(17)),) for day in range(7)})
    got = working_intervals(daily, APIA, date(2011, 12, 29), date(2011, 12, 31))
    assert [s.date() for s, _ in got] == [date(2011, 12, 29), date(2011, 12, 31)]
    assert real(got[1][0]) - real(got[0][0]) == timedelta(hours=24)  # a calendar day was lost


def test_range_ending_at_00_00_ends_at_the_next_midnight() -> None:
    week = Hours({0: (TimeRange(time(20), time(0)),), 1: (TimeRange(time(13), time(12)),)})
    got = working_intervals(week, PARIS, date(2026, 3, 2), date(2026, 3, 3))
    assert got == [(at(PARIS, 2026, 3, 2, 20), at(PARIS, 2026, 3, 3))]  # 13:00-12:00 is empty


# --- inside_working_hours ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "inside"),
    [
        (at(PARIS, 2026, 3, 2, 9), at(PARIS, 2026, 3, 2, 12), True),  # exactly one range
        (at(PARIS, 2026, 3, 2, 10), at(PARIS, 2026, 3, 2, 11), True),
        (at(PARIS, 2026, 3, 2, 8, 30), at(PARIS, 2026, 3, 2, 9, 30), False),  # partly before
        (at(PARIS, 2026, 3, 2, 16, 30), at(PARIS, 2026, 3, 2, 17, 30), False),  # partly after
        (at(PARIS, 2026, 3, 2, 11), at(PARIS, 2026, 3, 2, 14), False),  # across lunch
        (at(PARIS, 2026, 3, 7, 10), at(PARIS, 2026, 3, 7, 11), False),  # Saturday
        (at(PARIS, 2026, 3, 4, 10), at(PARIS, 2026, 3, 4, 11), False),  # closed date
        (datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC), True),
        (at(TORONTO, 2026, 3, 2, 4), at(TORONTO, 2026, 3, 2, 5), True),  # 10:00 in Paris
        (at(PARIS, 2026, 3, 2, 16), at(PARIS, 2026, 3, 3, 10), False),  # overnight
    ],
)
def test_inside_working_hours(start: datetime, end: datetime, inside: bool) -> None:
    hours = Hours(WEEK.week, closed=(DateRange(date(2026, 3, 4), date(2026, 3, 4)),))
    assert inside_working_hours(hours, PARIS, start, end) is inside


def test_inside_working_hours_on_dst_day_uses_real_time() -> None:
    week = Hours({6: (TimeRange(time(0), time(4)),)})
    start = at(TORONTO, 2026, 3, 8, 3)  # EDT, one real hour after 01:00 EST
    assert inside_working_hours(week, TORONTO, start, at(TORONTO, 2026, 3, 8, 4))
    assert not inside_working_hours(week, TORONTO, start, at(TORONTO, 2026, 3, 8, 4, 1))


def test_inside_working_hours_rejects_naive_and_reversed_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        inside_working_hours(WEEK, PARIS, datetime(2026, 3, 2, 10), at(PARIS, 2026, 3, 2, 11))
    with pytest.raises(ValueError, match="before"):
        inside_working_hours(WEEK, PARIS, at(PARIS, 2026, 3, 2, 11), at(PARIS, 2026, 3, 2, 10))


# --- appointments_per_day ------------------------------------------------------------------------


def test_appointments_per_day_counts_timed_events_overlapping_working_ranges() -> None:
    events = [
        busy(at(PARIS, 2026, 3, 2, 9), at(PARIS, 2026, 3, 2, 10), "a"),
        busy(at(PARIS, 2026, 3, 2, 11, 30), at(PARIS, 2026, 3, 2, 13, 30), "b"),  # both ranges
        busy(at(PARIS, 2026, 3, 2, 11, 30), at(PARIS, 2026, 3, 2, 13, 30), "b"),  # duplicate
        busy(at(PARIS, 2026, 3, 2, 7), at(PARIS, 2026, 3, 2, 8), "before hours"),
        busy(at(PARIS, 2026, 3, 2, 12), at(PARIS, 2026, 3, 2, 13), "lunch"),
        busy(datetime(2026, 3, 2, 15, tzinfo=UTC), datetime(2026, 3, 2, 16, tzinfo=UTC), "utc"),
        busy(at(PARIS, 2026, 3, 2, 16, 30), at(PARIS, 2026, 3, 3, 9, 30), "overnight"),
        busy(at(PARIS, 2026, 3, 4), at(PARIS, 2026, 3, 5), "holiday", all_day=True),
        busy(at(PARIS, 2026, 3, 7, 10), at(PARIS, 2026, 3, 7, 11), "saturday"),
    ]
    got = appointments_per_day(WEEK, PARIS, events, date(2026, 3, 2), date(2026, 3, 8))
    assert got == {
        date(2026, 3, 2): 4,  # a, b (once), utc, overnight
        date(2026, 3, 3): 1,  # overnight again
        date(2026, 3, 4): 0,  # an all-day event is not an appointment
        date(2026, 3, 5): 0,
        date(2026, 3, 6): 0,
        date(2026, 3, 7): 0,  # no working range on Saturday
        date(2026, 3, 8): 0,
    }


# --- bookable_slots ------------------------------------------------------------------------------

MONDAY = date(2026, 3, 2)
SUNDAY_BEFORE = at(PARIS, 2026, 3, 1, 12)


def monday_slots(policy: Policy, events: Sequence[BusyInterval] = (), **kw: object) -> list[str]:
    slots = bookable_slots(policy, events, kw.pop("now", SUNDAY_BEFORE), **kw)  # type: ignore[arg-type]
    return [s for s in starts(slots, policy.zone) if s.startswith("03-02")]


def test_step_grid_is_anchored_at_each_range_start() -> None:
    week = Hours({0: (TimeRange(time(9, 10), time(11)), TimeRange(time(13, 5), time(14)))})
    policy = make_policy(week, duration_minutes=30, buffer_minutes=0, step_minutes=30)
    assert monday_slots(policy) == ["03-02 09:10", "03-02 09:40", "03-02 10:10", "03-02 13:05"]


def test_min_notice_mid_range_keeps_starts_on_the_grid_or_after_busy() -> None:
    policy = make_policy(duration_minutes=60, buffer_minutes=15, step_minutes=30)
    now = at(PARIS, 2026, 3, 2, 10, 7)
    events = [busy(at(PARIS, 2026, 3, 2, 9), at(PARIS, 2026, 3, 2, 10, 5), "x")]
    got = monday_slots(policy, events, now=now)
    assert got[:3] == ["03-02 10:20", "03-02 10:30", "03-02 11:00"]
    policy = make_policy(duration_minutes=60, buffer_minutes=15, min_notice_hours=1.5)
    got = monday_slots(policy, now=at(PARIS, 2026, 3, 2, 7, 37))
    assert got[0] == "03-02 09:30"


def test_buffer_after_busy_start_packs_appointments_back_to_back() -> None:
    policy = make_policy(duration_minutes=60, buffer_minutes=10, step_minutes=30)
    events = [busy(at(PARIS, 2026, 3, 2, 9), at(PARIS, 2026, 3, 2, 9, 40), "x")]
    got = monday_slots(policy, events)
    assert got[:3] == ["03-02 09:50", "03-02 10:00", "03-02 10:30"]  # not 09:30: buffer


def test_buffer_is_kept_before_busy() -> None:
    policy = make_policy(duration_minutes=60, buffer_minutes=15, step_minutes=30)
    events = [busy(at(PARIS, 2026, 3, 2, 11), at(PARIS, 2026, 3, 2, 11, 30), "x")]
    got = monday_slots(policy, events)
    assert "03-02 09:30" in got  # 10:30 + 15 min <= 11:00
    assert "03-02 10:00" not in got
    assert got[:3] == ["03-02 09:00", "03-02 09:30", "03-02 13:00"]


def test_busy_in_another_zone_blocks_the_same_real_time() -> None:
    policy = make_policy(duration_minutes=60, buffer_minutes=0, step_minutes=60)
    tokyo = ZoneInfo("Asia/Tokyo")
    events = [busy(at(tokyo, 2026, 3, 2, 18), at(tokyo, 2026, 3, 2, 19), "x")]  # 10:00 Paris
    assert monday_slots(policy, events)[:3] == ["03-02 09:00", "03-02 11:00", "03-02 13:00"]


def test_event_over_midnight_blocks_the_next_morning() -> None:
    policy = make_policy(duration_minutes=60, buffer_minutes=15, step_minutes=30)
    events = [busy(at(PARIS, 2026, 3, 1, 22), at(PARIS, 2026, 3, 2, 9, 30), "night")]
    assert monday_slots(policy, events)[0] == "03-02 09:45"


def test_all_day_event_blocks_the_whole_day_and_is_not_an_appointment() -> None:
    policy = make_policy(duration_minutes=60, max_per_day=1)
    events = [busy(at(PARIS, 2026, 3, 2), at(PARIS, 2026, 3, 3), "holiday", all_day=True)]
    assert monday_slots(policy, events) == []
    assert appointments_per_day(WEEK, PARIS, events, MONDAY, MONDAY) == {MONDAY: 0}
    tuesday = starts(bookable_slots(policy, events, SUNDAY_BEFORE), PARIS)
    assert "03-03 09:00" in tuesday


def test_all_day_event_given_in_utc_midnights_still_blocks_its_own_date() -> None:
    policy = make_policy(duration_minutes=60, zone="America/Toronto")
    events = [
        busy(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC), all_day=True)
    ]
    got = starts(bookable_slots(policy, events, at(TORONTO, 2026, 3, 1, 12)), TORONTO)
    assert "03-02 16:00" in got  # 2026-03-02 evening in UTC is still Monday's hours
    assert not any(s.startswith("03-03") for s in got)
    assert "03-04 09:00" in got


def test_max_per_day_counts_existing_appointments_only() -> None:
    policy = make_policy(duration_minutes=60, buffer_minutes=0, max_per_day=2, slots_offered=5)
    events = [
        busy(at(PARIS, 2026, 3, 2, 9), at(PARIS, 2026, 3, 2, 10), "a"),
        busy(at(PARIS, 2026, 3, 2, 15), at(PARIS, 2026, 3, 2, 16), "b"),
        busy(at(PARIS, 2026, 3, 3, 9), at(PARIS, 2026, 3, 3, 10), "c"),
    ]
    got = starts(bookable_slots(policy, events, SUNDAY_BEFORE), PARIS)
    assert not any(s.startswith("03-02") for s in got)  # Monday is full
    assert sum(s.startswith("03-03") for s in got) > 1  # proposals are not appointments
    offered = starts(offer(policy, events, SUNDAY_BEFORE), PARIS)
    assert sum(s.startswith("03-03") for s in offered) == 1  # room for one more on Tuesday
    assert sum(s.startswith("03-04") for s in offered) == 2


def test_duration_longer_than_any_range_gives_no_slots() -> None:
    policy = make_policy(duration_minutes=60)
    assert bookable_slots(policy, [], SUNDAY_BEFORE, duration=timedelta(hours=4, minutes=1)) == []
    assert bookable_slots(policy, [], SUNDAY_BEFORE, duration=timedelta(hours=4)) != []


def test_empty_hours_give_no_slots() -> None:
    assert bookable_slots(make_policy(Hours({})), [], SUNDAY_BEFORE) == []
    assert offer(make_policy(Hours({})), [], SUNDAY_BEFORE) == []


def test_closed_dates_give_no_slots() -> None:
    hours = Hours(WEEK.week, closed=(DateRange(date(2026, 3, 2), date(2026, 3, 5)),))
    got = starts(bookable_slots(make_policy(hours), [], SUNDAY_BEFORE), PARIS)
    assert got and all(s[:5] in ("03-06", "03-09", "03-10", "03-11", "03-12") for s in got)
    assert got[0] == "03-06 09:00"


def test_notice_and_horizon_bound_the_starts() -> None:
    policy = make_policy(min_notice_hours=24, horizon_days=2, step_minutes=60)
    now = at(PARIS, 2026, 3, 2, 10, 30)
    got = starts(bookable_slots(policy, [], now), PARIS)
    assert got[0] == "03-03 11:00"
    assert got[-1] == "03-04 10:00"  # 10:30 is not on the grid, 11:00 is past the horizon
    assert bookable_slots(policy, [], now, horizon_days=1) == []
    # Both bounds on the grid: a start at now + notice is in, one at now + horizon is out.
    policy = make_policy(min_notice_hours=24, horizon_days=2, step_minutes=30)
    got = starts(bookable_slots(policy, [], now), PARIS)
    assert (got[0], got[-1]) == ("03-03 10:30", "03-04 10:00")


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        bookable_slots(make_policy(), [], datetime(2026, 3, 1, 12))
    with pytest.raises(ValueError, match="naive"):
        offer(make_policy(), [], datetime(2026, 3, 1, 12))


def test_naive_busy_interval_is_rejected() -> None:
    events = [busy(datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10), "floating")]
    with pytest.raises(ValueError, match="floating"):
        bookable_slots(make_policy(), events, SUNDAY_BEFORE)


def test_slots_are_given_in_the_freelancer_zone() -> None:
    policy = make_policy(zone="America/Toronto")
    slots = bookable_slots(policy, [], datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert slots and all(s.start.tzinfo == TORONTO and s.end.tzinfo == TORONTO for s in slots)
    assert slots[0].start == at(TORONTO, 2026, 3, 2, 9)


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        (TORONTO, date(2026, 3, 8), ["00:00", "01:00", "03:00", "04:00", "05:00"]),
        (TORONTO, date(2026, 11, 1), ["00:00", "01:00", "01:00", "02:00", "03:00", "04:00"]),
        (PARIS, date(2026, 3, 29), ["00:00", "01:00", "03:00", "04:00", "05:00"]),
        (PARIS, date(2026, 10, 25), ["00:00", "01:00", "02:00", "02:00", "03:00", "04:00"]),
        (SYDNEY, date(2026, 10, 4), ["00:00", "01:00", "03:00", "04:00", "05:00"]),
        (SYDNEY, date(2026, 4, 5), ["00:00", "01:00", "02:00", "02:00", "03:00", "04:00"]),
    ],
)
def test_slots_on_dst_days_last_one_real_hour(
    zone: ZoneInfo, day: date, expected: list[str]
) -> None:
    week = Hours({6: (TimeRange(time(0), time(6)),)})
    policy = make_policy(week, str(zone), duration_minutes=60, buffer_minutes=0, step_minutes=60)
    now = datetime.combine(day - timedelta(days=1), time(12), tzinfo=zone)
    slots = bookable_slots(policy, [], now, horizon_days=2)
    # Hourly steps in real time: the fall-back hour is offered twice (fold 0 and fold 1).
    assert [f"{s.start:%H:%M}" for s in slots][: len(expected)] == expected
    assert all(real(s.end) - real(s.start) == timedelta(hours=1) for s in slots)
    assert all(s.start.date() == day for s in slots)


def test_apia_skipped_day_gives_no_slots_and_no_duplicates() -> None:
    daily = Hours({day: (TimeRange(time(9), time(11)),) for day in range(7)})
    policy = make_policy(daily, "Pacific/Apia", step_minutes=60, buffer_minutes=0)
    slots = bookable_slots(policy, [], at(APIA, 2011, 12, 28, 12), horizon_days=2)
    assert starts(slots, APIA) == ["12-29 09:00", "12-29 10:00", "12-31 09:00", "12-31 10:00"]


# --- offer ---------------------------------------------------------------------------------------

WEDNESDAY_MEETING = busy(at(PARIS, 2026, 3, 4, 14), at(PARIS, 2026, 3, 4, 15), "meeting")


def test_offer_with_cluster_prefers_slots_touching_an_appointment() -> None:
    policy = make_policy(duration_minutes=45, buffer_minutes=15, slots_offered=2, cluster=True)
    got = starts(offer(policy, [WEDNESDAY_MEETING], SUNDAY_BEFORE), PARIS)
    assert got == ["03-04 13:00", "03-04 15:15"]  # 13:45 + 15 = 14:00; 15:00 + 15 = 15:15


def test_offer_with_cluster_then_prefers_days_with_appointments() -> None:
    policy = make_policy(duration_minutes=45, buffer_minutes=15, slots_offered=4, max_per_day=5)
    got = starts(offer(policy, [WEDNESDAY_MEETING], SUNDAY_BEFORE), PARIS)
    assert got == ["03-04 09:00", "03-04 10:00", "03-04 13:00", "03-04 15:15"]
    policy = make_policy(duration_minutes=45, buffer_minutes=15, slots_offered=5, max_per_day=4)
    got = starts(offer(policy, [WEDNESDAY_MEETING], SUNDAY_BEFORE), PARIS)
    # Wednesday takes three more (4 - 1 existing); the rest go to the earliest day.
    assert got == ["03-02 09:00", "03-02 10:00", "03-04 09:00", "03-04 13:00", "03-04 15:15"]


def test_offer_without_cluster_is_earliest_first() -> None:
    policy = make_policy(duration_minutes=45, buffer_minutes=15, slots_offered=3, cluster=False)
    got = starts(offer(policy, [WEDNESDAY_MEETING], SUNDAY_BEFORE), PARIS)
    assert got == ["03-02 09:00", "03-02 10:00", "03-02 11:00"]


def test_offer_count_overrides_slots_offered() -> None:
    policy = make_policy(slots_offered=5)
    assert len(offer(policy, [], SUNDAY_BEFORE, count=2)) == 2
    assert offer(policy, [], SUNDAY_BEFORE, count=0) == []
    assert len(offer(policy, [], SUNDAY_BEFORE)) == 5


# --- describe_hours ------------------------------------------------------------------------------

SAMPLE = Hours({0: SPLIT, 1: SPLIT, 3: SPLIT, 4: (TimeRange(time(9), time(17)),)})


def test_describe_hours_groups_days_with_identical_ranges() -> None:
    assert describe_hours(SAMPLE, "en") == "Mon, Tue, Thu 09:00-12:00, 13:00-17:00; Fri 09:00-17:00"
    assert (
        describe_hours(SAMPLE, "fr")
        == "lun., mar., jeu. 09:00-12:00, 13:00-17:00; ven. 09:00-17:00"
    )


def test_describe_hours_writes_runs_of_three_days_as_a_span() -> None:
    hours = Hours({**WEEK.week, 5: (TimeRange(time(10), time(0)),)})
    assert describe_hours(hours, "en") == "Mon-Fri 09:00-12:00, 13:00-17:00; Sat 10:00-24:00"
    assert describe_hours(hours, "fr").startswith("lun.-ven. 09:00-12:00")


def test_describe_hours_of_no_working_day_is_empty_and_unknown_language_is_the_default() -> None:
    """Issue 8: one default language everywhere (rules.model.DEFAULT_LANGUAGE, the config's)."""
    assert describe_hours(Hours({}), "en") == ""
    assert describe_hours(SAMPLE, "xx").startswith("Mon, Tue, Thu")


# --- Properties, against a deliberately naive reference ------------------------------------------

ZONES = ["America/Toronto", "Europe/Paris", "Australia/Sydney", "Pacific/Apia", "UTC"]
DST_DAYS = [
    date(2026, 3, 8),
    date(2026, 11, 1),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 10, 4),
    date(2026, 4, 5),
]


def ref_range(day: date, span: TimeRange, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    start = datetime(day.year, day.month, day.day, span.start.hour, span.start.minute, tzinfo=zone)
    if span.end == time(0):
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    else:
        end = datetime(day.year, day.month, day.day, span.end.hour, span.end.minute, tzinfo=zone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return (start, end) if start < end else None


def ref_ranges(
    hours: Hours, zone: ZoneInfo, first: date, last: date
) -> list[tuple[date, datetime, datetime]]:
    out = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        if any(c.first <= day <= c.last for c in hours.closed):
            continue
        for span in hours.week.get(day.weekday(), ()):
            bounds = ref_range(day, span, zone)
            if bounds:
                out.append((day, *bounds))
    return out


def ref_counts(
    ranges: list[tuple[date, datetime, datetime]], events: Sequence[BusyInterval]
) -> dict[date, int]:
    counts: dict[date, int] = {}
    for day in {d for d, _, _ in ranges}:
        counts[day] = sum(
            1
            for b in events
            if not b.all_day
            and any(d == day and real(b.start) < e and real(b.end) > s for d, s, e in ranges)
        )
    return counts


class Reference:
    """Every rule of the brief, checked by brute force over candidate starts."""

    def __init__(self, policy: Policy, events: Sequence[BusyInterval], now: datetime) -> None:
        rules = policy.booking
        self.zone = policy.zone
        self.events = events
        self.length = timedelta(minutes=rules.duration_minutes)
        self.buffer = timedelta(minutes=rules.buffer_minutes)
        self.step = timedelta(minutes=rules.step_minutes)
        self.max = rules.max_per_day
        self.earliest = real(now) + timedelta(hours=rules.min_notice_hours)
        self.latest = real(now) + timedelta(days=rules.horizon_days)
        first = self.earliest.astimezone(self.zone).date() - timedelta(days=2)
        last = self.latest.astimezone(self.zone).date() + timedelta(days=2)
        self.ranges = ref_ranges(policy.hours, self.zone, first, last)
        self.counts = ref_counts(self.ranges, events)
        self.after_busy = {real(b.end) + self.buffer for b in events}

    def clear(self, s: datetime) -> bool:
        e = s + self.length
        return all(
            real(b.end) <= s - self.buffer or real(b.start) >= e + self.buffer for b in self.events
        )

    def day_of(self, s: datetime) -> date | None:
        """The date of a working range that holds [s, s + length) on a valid start, if any."""
        for day, ws, we in self.ranges:
            on_grid = (s - ws) % self.step == timedelta(0) or s in self.after_busy
            if ws <= s and s + self.length <= we and on_grid and self.counts[day] < self.max:
                return day
        return None

    def bookable(self, s: datetime) -> bool:
        return self.earliest <= s < self.latest and self.clear(s) and self.day_of(s) is not None

    def all_bookable(self) -> list[datetime]:
        found = set()
        for _, ws, we in self.ranges:
            grid = [ws + self.step * k for k in range((we - ws) // self.step + 1)]
            for s in [*grid, *self.after_busy]:
                if self.bookable(s):
                    found.add(s)
        return sorted(found)

    def touching(self, s: datetime) -> bool:
        return any(
            not b.all_day
            and any(real(b.start) < we and real(b.end) > ws for _, ws, we in self.ranges)
            and (real(b.end) + self.buffer == s or s + self.length + self.buffer == real(b.start))
            for b in self.events
        )

    def greedy(self, order: list[datetime], count: int) -> list[datetime]:
        chosen: list[datetime] = []
        for s in order:
            day = self.day_of(s)
            assert day is not None
            same_day = sum(1 for c in chosen if self.day_of(c) == day)
            apart = all(
                c + self.length + self.buffer <= s or s + self.length + self.buffer <= c
                for c in chosen
            )
            if len(chosen) < count and apart and self.counts[day] + same_day < self.max:
                chosen.append(s)
        return sorted(chosen)


@st.composite
def hours_strategy(draw: st.DrawFn, around: date) -> Hours:
    week: dict[int, tuple[TimeRange, ...]] = {}
    for weekday in range(7):
        marks = sorted(draw(st.sets(st.integers(0, 48), max_size=4)))
        marks = marks[: len(marks) // 2 * 2]
        spans = []
        for a, b in zip(marks[::2], marks[1::2], strict=True):
            end = time(0) if b == 48 else time(b // 2, b % 2 * 30)
            spans.append(TimeRange(time(a // 2, a % 2 * 30), end))
        if spans:
            week[weekday] = tuple(spans)
    closed = []
    if draw(st.booleans()):
        first = around + timedelta(days=draw(st.integers(-2, 5)))
        closed.append(DateRange(first, first + timedelta(days=draw(st.integers(0, 2)))))
    return Hours(week, tuple(closed))


@st.composite
def scenario(draw: st.DrawFn) -> tuple[Policy, list[BusyInterval], datetime]:
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    around = draw(st.sampled_from(DST_DAYS))
    # Often on a 5-minute mark, so that now + notice and now + horizon meet the grid exactly.
    offset = draw(st.integers(-3 * 86400, 86400) | st.integers(-864, 288).map(lambda n: n * 300))
    now = datetime.combine(around, time(12), tzinfo=UTC) + timedelta(seconds=offset)
    booking = BookingPolicy(
        duration_minutes=draw(st.sampled_from([15, 30, 45, 60, 90, 120, 240])),
        buffer_minutes=draw(st.sampled_from([0, 5, 10, 15, 30])),
        min_notice_hours=draw(st.sampled_from([0, 0.5, 2, 24])),
        horizon_days=draw(st.integers(1, 5)),
        max_per_day=draw(st.integers(1, 4)),
        step_minutes=draw(st.sampled_from([5, 15, 20, 30, 45, 60])),
        slots_offered=draw(st.integers(1, 6)),
        cluster=draw(st.booleans()),
    )
    policy = Policy(
        Freelancer("Ada", "ada@example.org", timezone=zone_name),
        draw(hours_strategy(around)),
        booking,
    )
    events = []
    for n in range(draw(st.integers(0, 30))):
        if draw(st.integers(0, 9)) == 0:
            day = around + timedelta(days=draw(st.integers(-2, 4)))
            end = day + timedelta(days=draw(st.integers(1, 2)))
            events.append(
                BusyInterval(
                    datetime.combine(day, time(0), tzinfo=zone),
                    datetime.combine(end, time(0), tzinfo=zone),
                    all_day=True,
                    uid=f"all-day-{n}",
                )
            )
            continue
        start = now + timedelta(minutes=5 * draw(st.integers(-200, 6 * 288)))
        end = start + timedelta(minutes=draw(st.sampled_from([0, 5, 20, 45, 60, 180, 900])))
        shown = ZoneInfo(draw(st.sampled_from([*ZONES, "Asia/Kolkata"])))
        events.append(BusyInterval(start.astimezone(shown), end.astimezone(shown), uid=str(n)))
    return policy, events, now


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenario())
def test_bookable_slots_are_exactly_the_slots_the_rules_allow(
    case: tuple[Policy, list[BusyInterval], datetime],
) -> None:
    policy, events, now = case
    ref = Reference(policy, events, now)
    slots = bookable_slots(policy, events, now)
    got = [real(s.start) for s in slots]
    assert got == sorted(set(got))
    for s in slots:
        assert s.start.tzinfo == policy.zone and s.end.tzinfo == policy.zone
        assert real(s.end) - real(s.start) == ref.length
        assert ref.bookable(real(s.start)), s
        assert inside_working_hours(policy.hours, policy.zone, s.start, s.end)
    assert got == ref.all_bookable()


@PROPERTY
@given(scenario())
def test_offer_is_a_separated_time_ordered_subset_of_bookable_slots(
    case: tuple[Policy, list[BusyInterval], datetime],
) -> None:
    policy, events, now = case
    ref = Reference(policy, events, now)
    bookable = [real(s.start) for s in bookable_slots(policy, events, now)]
    offered = offer(policy, events, now)
    got = [real(s.start) for s in offered]
    assert set(got) <= set(bookable)
    assert got == sorted(got)
    assert len(got) <= policy.booking.slots_offered
    for a, b in pairwise(got):
        assert a + ref.length + ref.buffer <= b  # at least one buffer apart
    per_day: dict[date, int] = {}
    for s in got:
        day = ref.day_of(s)
        assert day is not None
        per_day[day] = per_day.get(day, 0) + 1
    assert all(ref.counts[day] + n <= policy.booking.max_per_day for day, n in per_day.items())
    if bookable:
        assert got  # something bookable is always offered
    if not policy.booking.cluster:
        assert got == ref.greedy(bookable, policy.booking.slots_offered)
    else:

        def tier(s: datetime) -> tuple[int, datetime]:
            day = ref.day_of(s)
            assert day is not None
            return (0 if ref.touching(s) else 1 if ref.counts[day] else 2, s)

        assert got == ref.greedy(sorted(bookable, key=tier), policy.booking.slots_offered)


@PROPERTY
@given(scenario())
def test_working_intervals_and_appointments_match_the_reference(
    case: tuple[Policy, list[BusyInterval], datetime],
) -> None:
    policy, events, now = case
    first = now.astimezone(policy.zone).date()
    last = first + timedelta(days=4)
    ranges = ref_ranges(policy.hours, policy.zone, first, last)
    got = working_intervals(policy.hours, policy.zone, first, last)
    assert [(real(s), real(e)) for s, e in got] == sorted((s, e) for _, s, e in ranges)
    counts = ref_counts(ranges, events)
    per_day = appointments_per_day(policy.hours, policy.zone, events, first, last)
    assert set(per_day) == {first + timedelta(days=n) for n in range(5)}
    assert all(per_day[day] == counts.get(day, 0) for day in per_day)
