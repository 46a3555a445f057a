"""connectors/ical.py on small inline objects: zones, all-day, DST, recurrences, iTIP fields."""

from __future__ import annotations

import functools
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from helpers import busy_of
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import ical
from rules.model import Attendee
from rules.recurrence import MIN_SERIES_OCCURRENCES

# the series threshold is the caller's policy (rules.recurrence)
calendar_items = functools.partial(ical.calendar_items, min_occurrences=MIN_SERIES_OCCURRENCES)

PARIS = ZoneInfo("Europe/Paris")
TORONTO = ZoneInfo("America/Toronto")
SYDNEY = ZoneInfo("Australia/Sydney")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ME = frozenset({"me@example.org"})

# Exchange's own definition of Central European time, as Outlook sends it.
W_EUROPE_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE"""


def ics(*events: str, head: str = "", zones: str = "") -> bytes:
    """A VCALENDAR around the given VEVENT bodies (each without BEGIN/END)."""
    parts = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//frontdesk tests//EN"]
    if head:
        parts.append(head)
    if zones:
        parts.append(zones)
    for body in events:
        parts.extend(["BEGIN:VEVENT", body.strip(), "END:VEVENT"])
    parts.append("END:VCALENDAR")
    return ("\r\n".join("\r\n".join(p.splitlines()) for p in parts) + "\r\n").encode()


def busy(raw: bytes, zone: ZoneInfo = PARIS, start: datetime | None = None, days: int = 3650):
    start = start or datetime(2024, 1, 1, tzinfo=zone)
    return busy_of(raw, start, start + timedelta(days=days), zone, ME)


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


# --- Time zones ----------------------------------------------------------------------------------


def test_windows_zone_name_with_exchange_vtimezone_is_berlin_time():
    raw = ics(
        "UID:w1\nDTSTART;TZID=W. Europe Standard Time:20240701T090000\n"
        "DTEND;TZID=W. Europe Standard Time:20240701T100000",
        zones=W_EUROPE_VTIMEZONE,
    )
    [interval] = busy(raw, TORONTO)
    assert interval.start == at(BERLIN, 2024, 7, 1, 9)
    assert interval.start.tzinfo is TORONTO and interval.start.hour == 3
    assert ical.untrusted_tzids(ical.parse_calendar(raw)) == set()


def test_windows_zone_name_without_vtimezone_uses_the_cldr_table():
    raw = ics(
        "UID:w2\nDTSTART;TZID=Eastern Standard Time:20240115T090000\n"
        "DTEND;TZID=Eastern Standard Time:20240115T093000"
    )
    [interval] = busy(raw)
    assert interval.start == at(NEW_YORK, 2024, 1, 15, 9)
    [item] = calendar_items(raw, at(PARIS, 2024, 1, 1), at(PARIS, 2024, 2, 1), PARIS)
    assert item.time_trusted


def test_windows_name_prefers_the_iana_zone_over_a_wrong_vtimezone():
    # khal's fixture: 'New Zealand Standard Time' defined with CET offsets. The name is the truth.
    raw = ics(
        "UID:nz\nDTSTART;TZID=New Zealand Standard Time:20191120T130000\n"
        "DTEND;TZID=New Zealand Standard Time:20191120T143000",
        zones="BEGIN:VTIMEZONE\nTZID:New Zealand Standard Time\nBEGIN:STANDARD\n"
        "DTSTART:20191027T020000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nEND:STANDARD\n"
        "END:VTIMEZONE",
    )
    [interval] = busy(raw, start=at(PARIS, 2019, 1, 1))
    assert interval.start == at(UTC, 2019, 11, 20, 0)  # 13:00 NZDT (+13)


def test_owa_display_name_tzid_resolves_by_city_and_checked_offset():
    raw = ics(
        'UID:owa\nDTSTART;TZID="(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna":'
        "20240701T090000\n"
        'DTEND;TZID="(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna":'
        "20240701T100000",
        'UID:owa2\nDTSTART;TZID="(UTC-05:00) Eastern Time (US & Canada)":20240701T090000\n'
        "DURATION:PT1H",
    )
    first, second = busy(raw, PARIS)
    assert first.start == at(PARIS, 2024, 7, 1, 9)
    assert second.start == at(NEW_YORK, 2024, 7, 1, 9)
    items = calendar_items(raw, at(PARIS, 2024, 1, 1), at(PARIS, 2024, 8, 1), PARIS)
    assert all(item.time_trusted for item in items)


def test_another_iana_zone_is_converted_to_the_freelancer_zone():
    raw = ics("UID:t\nDTSTART;TZID=America/Toronto:20240610T170000\nDURATION:PT30M")
    [interval] = busy(raw, SYDNEY)
    assert interval.start == at(TORONTO, 2024, 6, 10, 17)
    assert interval.start.tzinfo is SYDNEY and interval.start.hour == 7  # next day, AEST
    assert interval.end - interval.start == timedelta(minutes=30)


def test_utc_times():
    raw = ics("UID:u\nDTSTART:20240610T170000Z\nDTEND:20240610T180000Z")
    [interval] = busy(raw, PARIS)
    assert (interval.start, interval.end) == (at(UTC, 2024, 6, 10, 17), at(UTC, 2024, 6, 10, 18))
    assert interval.start.tzinfo is PARIS


def test_floating_time_is_the_freelancers_local_time_rfc5545_3_3_5():
    raw = ics("UID:f\nDTSTART:20240610T090000\nDTEND:20240610T100000")
    assert busy(raw, SYDNEY)[0].start == at(SYDNEY, 2024, 6, 10, 9)
    assert busy(raw, TORONTO)[0].start == at(TORONTO, 2024, 6, 10, 9)


def test_half_floating_end_is_read_in_the_zone_of_its_start():
    raw = ics("UID:h\nDTSTART;TZID=Europe/Berlin:20150602T120000\nDTEND:20150602T160000")
    [interval] = busy(raw, TORONTO, start=at(TORONTO, 2015, 1, 1))
    assert (interval.start, interval.end) == (
        at(BERLIN, 2015, 6, 2, 12),
        at(BERLIN, 2015, 6, 2, 16),
    )


def test_unknown_tzid_is_untrusted_but_still_busy_in_the_freelancer_zone(caplog):
    raw = ics(
        "UID:unknown-tz\nDTSTART;TZID=tzone://Microsoft/Custom:20240610T090000\n"
        "DTEND;TZID=tzone://Microsoft/Custom:20240610T100000"
    )
    assert ical.untrusted_tzids(ical.parse_calendar(raw)) == {"tzone://Microsoft/Custom"}
    with caplog.at_level(logging.WARNING, logger="connectors.ical"):
        [interval] = busy(raw, TORONTO)
        busy(raw, TORONTO)
    assert interval.start == at(TORONTO, 2024, 6, 10, 9)
    warnings = [r for r in caplog.records if "tzone://Microsoft/Custom" in r.getMessage()]
    assert len(warnings) <= 1  # once per TZID for the whole process
    [item] = calendar_items(raw, at(TORONTO, 2024, 1, 1), at(TORONTO, 2024, 7, 1), TORONTO)
    assert not item.time_trusted and item.start == at(TORONTO, 2024, 6, 10, 9)


def test_unknown_tzid_warning_names_the_uid(caplog):
    raw = ics("UID:who-am-i\nDTSTART;TZID=Nowhere/Special-7:20240610T090000\nDURATION:PT1H")
    with caplog.at_level(logging.WARNING, logger="connectors.ical"):
        busy(raw)
    [record] = [r for r in caplog.records if "Nowhere/Special-7" in r.getMessage()]
    assert "who-am-i" in record.getMessage()


def test_custom_vtimezone_is_read_per_object_not_from_icalendars_process_cache():
    """icalendar caches VTIMEZONEs by TZID process-wide, first one wins: never rely on it."""

    def custom(offset: str) -> bytes:
        return ics(
            "UID:c\nDTSTART;TZID=Customized Time Zone:20240610T090000\nDURATION:PT1H",
            zones=f"BEGIN:VTIMEZONE\nTZID:Customized Time Zone\nBEGIN:STANDARD\n"
            f"DTSTART:16010101T000000\nTZOFFSETFROM:{offset}\nTZOFFSETTO:{offset}\n"
            "END:STANDARD\nEND:VTIMEZONE",
        )

    assert busy(custom("+0300"))[0].start == at(UTC, 2024, 6, 10, 6)
    assert busy(custom("-0700"))[0].start == at(UTC, 2024, 6, 10, 16)
    assert icalendar.timezone.tzp.timezone("Customized Time Zone") is None


# icalendar itself warns that it guessed; the guess is also ours.
@pytest.mark.filterwarnings("ignore::icalendar.error.GloballyUniqueTZIDGuessed")
def test_vendor_prefixed_tzid_uses_its_olson_suffix():
    raw = ics(
        "UID:evo\nDTSTART;TZID=/softwarestudio.org/Tzfile/America/Chicago:20080624T130000\n"
        "DTEND;TZID=/softwarestudio.org/Tzfile/America/Chicago:20080624T143000"
    )
    [interval] = busy(raw, start=at(PARIS, 2008, 1, 1))
    assert interval.start == at(ZoneInfo("America/Chicago"), 2008, 6, 24, 13)


# --- All-day events and DST ----------------------------------------------------------------------


def test_all_day_blocks_whole_local_days_dtend_exclusive_rfc5545_3_6_1():
    raw = ics(
        "UID:one\nDTSTART;VALUE=DATE:20240610",
        "UID:three\nDTSTART;VALUE=DATE:20240612\nDTEND;VALUE=DATE:20240615",
        "UID:dur\nDTSTART;VALUE=DATE:20240620\nDURATION:P2D",
    )
    one, three, dur = busy(raw, TORONTO)
    assert (one.start, one.end, one.all_day) == (
        at(TORONTO, 2024, 6, 10),
        at(TORONTO, 2024, 6, 11),
        True,
    )
    assert (three.start, three.end) == (at(TORONTO, 2024, 6, 12), at(TORONTO, 2024, 6, 15))
    assert (dur.start, dur.end) == (at(TORONTO, 2024, 6, 20), at(TORONTO, 2024, 6, 22))
    assert {i.uid for i in (one, three, dur)} == {"one", "three", "dur"}


def test_all_day_on_the_dst_change_day_is_23_hours_long():
    raw = ics("UID:d\nDTSTART;VALUE=DATE:20240310\nDTEND;VALUE=DATE:20240311")
    [interval] = busy(raw, TORONTO)
    assert interval.end.astimezone(UTC) - interval.start.astimezone(UTC) == timedelta(hours=23)
    assert interval.end == at(TORONTO, 2024, 3, 11)


def test_all_day_with_dtend_equal_to_dtstart_is_one_day():
    raw = ics("UID:e\nDTSTART;VALUE=DATE:20240610\nDTEND;VALUE=DATE:20240610")
    [interval] = busy(raw)
    assert (interval.start, interval.end) == (at(PARIS, 2024, 6, 10), at(PARIS, 2024, 6, 11))


def test_weekly_series_keeps_its_wall_clock_time_across_dst():
    raw = ics(
        "UID:w\nDTSTART;TZID=America/Toronto:20240301T090000\n"
        "DTEND;TZID=America/Toronto:20240301T100000\nRRULE:FREQ=WEEKLY;COUNT=3"
    )
    intervals = busy(raw, TORONTO)
    assert [i.start for i in intervals] == [
        at(TORONTO, 2024, 3, 1, 9),
        at(TORONTO, 2024, 3, 8, 9),
        at(TORONTO, 2024, 3, 15, 9),  # after the switch to EDT on March 10
    ]
    assert intervals[2].start.utcoffset() == timedelta(hours=-4)


def test_nonexistent_local_time_uses_the_offset_before_the_gap_rfc5545_3_3_5():
    raw = ics(
        "UID:gap\nDTSTART;TZID=America/Toronto:20240310T023000\n"
        "DTEND;TZID=America/Toronto:20240310T040000"
    )
    [interval] = busy(raw, TORONTO)
    assert interval.start == at(UTC, 2024, 3, 10, 7, 30)  # 02:30 read at -05:00
    assert (interval.start.hour, interval.start.minute) == (3, 30)  # a time that exists


def test_x_wr_timezone_anchors_google_utc_series_in_the_calendar_zone():
    # Google writes UTC times and names the calendar's zone in X-WR-TIMEZONE: the series recurs
    # at 12:00 New York time, on both sides of the DST change.
    raw = ics(
        "UID:g\nDTSTART:20240301T170000Z\nDTEND:20240301T180000Z\nRRULE:FREQ=WEEKLY;COUNT=3",
        head="X-WR-TIMEZONE:America/New_York",
    )
    starts = [i.start.astimezone(NEW_YORK) for i in busy(raw)]
    assert [(s.day, s.hour) for s in starts] == [(1, 12), (8, 12), (15, 12)]


# --- Who is busy ---------------------------------------------------------------------------------


def test_transparent_cancelled_and_declined_events_are_not_busy():
    raw = ics(
        "UID:free\nDTSTART:20240610T090000Z\nDURATION:PT1H\nTRANSP:TRANSPARENT",
        "UID:gone\nDTSTART:20240610T100000Z\nDURATION:PT1H\nSTATUS:CANCELLED",
        "UID:no\nDTSTART:20240610T110000Z\nDURATION:PT1H\n"
        "ATTENDEE;PARTSTAT=DECLINED:MAILTO:Me@Example.org",
        "UID:other-declined\nDTSTART:20240610T120000Z\nDURATION:PT1H\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:someone@example.org\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:me@example.org",
        "UID:tentative\nDTSTART:20240610T130000Z\nDURATION:PT1H\nSTATUS:Tentative",
    )
    assert [i.uid for i in busy(raw)] == ["other-declined", "tentative"]


def test_a_cancelled_or_declined_override_frees_only_its_own_occurrence():
    raw = ics(
        "UID:s\nDTSTART;TZID=Europe/Paris:20240603T090000\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=4",
        "UID:s\nRECURRENCE-ID;TZID=Europe/Paris:20240604T090000\n"
        "DTSTART;TZID=Europe/Paris:20240604T090000\nDURATION:PT1H\nSTATUS:CANCELLED",
        "UID:s\nRECURRENCE-ID;TZID=Europe/Paris:20240605T090000\n"
        "DTSTART;TZID=Europe/Paris:20240605T090000\nDURATION:PT1H\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:me@example.org",
    )
    assert [i.start.day for i in busy(raw)] == [3, 6]


def test_exdate_and_moved_override():
    raw = ics(
        "UID:m\nDTSTART;TZID=Europe/Paris:20240603T090000\nDTEND;TZID=Europe/Paris:20240603T100000\n"
        "RRULE:FREQ=DAILY;COUNT=5\nEXDATE;TZID=Europe/Paris:20240604T090000",
        "UID:m\nRECURRENCE-ID:20240605T070000Z\nDTSTART;TZID=Europe/Paris:20240605T150000\n"
        "DTEND;TZID=Europe/Paris:20240605T160000\nSEQUENCE:1",
    )
    assert [(i.start.day, i.start.hour) for i in busy(raw)] == [(3, 9), (5, 15), (6, 9), (7, 9)]


def test_window_is_half_open_and_intervals_are_not_clipped():
    raw = ics("UID:x\nDTSTART:20240610T090000Z\nDTEND:20240610T110000Z")
    inside = busy_of(raw, at(UTC, 2024, 6, 10, 10), at(UTC, 2024, 6, 10, 12), PARIS, ME)
    assert inside[0].start == at(UTC, 2024, 6, 10, 9)
    after = busy_of(raw, at(UTC, 2024, 6, 10, 11), at(UTC, 2024, 6, 10, 12), PARIS, ME)
    assert after == []


def test_naive_window_is_refused():
    with pytest.raises(ValueError, match="aware"):
        busy_of(ics(), datetime(2024, 1, 1), at(UTC, 2024, 2, 1), PARIS, ME)


# --- Broken objects ------------------------------------------------------------------------------


def test_malformed_vevents_are_skipped_with_a_log_line_naming_them(caplog):
    raw = ics(
        "UID:no-start\nSUMMARY:nothing",
        "UID:backwards\nDTSTART:20240610T100000Z\nDTEND:20240610T090000Z",
        "UID:fine\nDTSTART:20240610T100000Z\nDTEND:20240610T110000Z",
    )
    with caplog.at_level(logging.WARNING, logger="connectors.ical"):
        assert [i.uid for i in busy(raw)] == ["fine"]
    text = caplog.text
    assert "no-start" in text and "backwards" in text
    items = calendar_items(raw, at(UTC, 2024, 1, 1), at(UTC, 2024, 7, 1), PARIS)
    broken = {i.uid: i for i in items if i.start is None}
    assert set(broken) == {"no-start", "backwards"}
    assert not any(i.time_trusted or i.occurrences for i in broken.values())


@pytest.mark.parametrize("raw", [b"", b"hello world\r\n", "END:VCALENDAR\n", b"\xff\xfe\x00"])
def test_wholly_unreadable_object_raises_malformed_object(raw):
    with pytest.raises(ical.MalformedObject, match="no"):
        ical.parse_calendar(raw)


def test_tolerant_reading_bom_latin1_lowercase_stray_line_and_missing_end():
    raw = (
        b"\xef\xbb\xbfBEGIN:Vcalendar\r\nVERSION:2.0\r\nX\r\n\r\nBEGIN:VEVENT\r\nUID:t\r\n"
        b"SUMMARY:Tv\xe5\r\ndtstart:20240610T090000Z\r\nDTEND:20240610T100000Z\r\nEND:VEVENT\r\n"
    )
    [item] = calendar_items(raw, at(UTC, 2024, 1, 1), at(UTC, 2024, 7, 1), PARIS)
    assert item.summary == "Två"
    assert item.start == at(UTC, 2024, 6, 10, 9)


def test_broken_vtimezone_does_not_lose_the_event():
    raw = ics(
        "UID:b\nDTSTART;TZID=Europe/Berlin:20121202T080000\nDURATION:PT1H",
        zones="BEGIN:VTIMEZONE\nTZID:Europe/Berlin\nBEGIN:STANDARD\nDTSTART:18930401T000000\n"
        "TZOFFSETFROM:+5328\nTZOFFSETTO:+0100\nEND:STANDARD\nEND:VTIMEZONE",
    )
    assert busy(raw, start=at(UTC, 2012, 1, 1))[0].start == at(BERLIN, 2012, 12, 2, 8)


def test_rrule_with_a_misspelt_part_keeps_the_series():
    raw = ics(
        "UID:typo\nDTSTART;TZID=Europe/London:20240801T140000\nDURATION:PT1H\n"
        "RRULE:FREQ=WEEKLY;UNTL=20241023;BYDAY=TH"
    )
    assert len(busy(raw, days=3650)) > 400  # the typo'd UNTIL is ignored: the series goes on
    assert ical.object_bounds(raw, PARIS).last_end is None


def test_rrule_interval_zero_is_read_as_one_instead_of_looping_forever():
    raw = ics("UID:z\nDTSTART:20240603T090000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;INTERVAL=0")
    intervals = busy(raw, start=at(UTC, 2024, 6, 1), days=30)
    assert [i.start.day for i in intervals] == [3, 10, 17, 24]


def test_minutely_and_secondly_rules_are_not_expanded():
    raw = ics("UID:m\nDTSTART:20240603T090000Z\nDURATION:PT1M\nRRULE:FREQ=MINUTELY")
    assert len(busy(raw, start=at(UTC, 2024, 6, 1), days=30)) == 1


def test_a_series_the_expansion_rejects_is_skipped_alone(caplog):
    raw = ics(
        "UID:bad\nDTSTART:20240610T090000Z\nDURATION:PT1H\n"
        "RDATE;VALUE=PERIOD:20240615T100000Z/20240615T090000Z",
        "UID:good\nDTSTART:20240612T090000Z\nDURATION:PT1H",
    )
    with caplog.at_level(logging.WARNING, logger="connectors.ical"):
        assert [i.uid for i in busy(raw)] == ["good"]
    assert "'bad'" in caplog.text


def test_several_vcalendars_in_one_object_are_all_read():
    raw = ics("UID:a\nDTSTART:20240610T090000Z\nDURATION:PT1H") + ics(
        "UID:b\nDTSTART:20240611T090000Z\nDURATION:PT1H", head="METHOD:REQUEST"
    )
    assert [i.uid for i in busy(raw)] == ["a", "b"]


def test_vtodo_and_vjournal_are_ignored():
    raw = (
        b"BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTART:20240610T090000Z\r\n"
        b"DUE:20240610T100000Z\r\nEND:VTODO\r\nBEGIN:VJOURNAL\r\nUID:j\r\n"
        b"DTSTART:20240610T090000Z\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"
    )
    assert busy(raw) == []
    assert calendar_items(raw, at(UTC, 2024, 1, 1), at(UTC, 2024, 7, 1), PARIS) == []


# --- Calendar items (the invitation guard's view) ------------------------------------------------


def test_calendar_item_fields_from_an_invitation():
    raw = ics(
        "UID:inv-1\nSEQUENCE:not-a-number\nDTSTAMP:20240601T120000Z\nSUMMARY: Planning \n"
        "ORGANIZER;CN=Client Co:MAILTO:Boss@Client.example\n"
        "ATTENDEE;CN=Me;RSVP=TRUE;ROLE=req-participant:mailto:ME@example.org\n"
        "ATTENDEE;PARTSTAT=accepted;RSVP=FALSE;CUTYPE=room:conf_big@example.com\n"
        "STATUS:confirmed\nTRANSP:TRANSPARENT\n"
        "DTSTART;TZID=Europe/Berlin:20240610T090000\nDTEND;TZID=Europe/Berlin:20240610T100000",
        head="METHOD:REQUEST",
    )
    [item] = calendar_items(raw, at(UTC, 2024, 6, 1), at(UTC, 2024, 7, 1), TORONTO)
    assert item.uid == "inv-1" and item.sequence == 0 and item.recurrence_id is None
    assert item.dtstamp == at(UTC, 2024, 6, 1, 12)
    assert (item.summary, item.status, item.transparent) == ("Planning", "CONFIRMED", True)
    assert (item.organizer, item.organizer_name) == ("boss@client.example", "Client Co")
    assert item.attendees == (
        Attendee("me@example.org", "NEEDS-ACTION", True, "REQ-PARTICIPANT", "INDIVIDUAL", "Me"),
        Attendee("conf_big@example.com", "ACCEPTED", False, "REQ-PARTICIPANT", "ROOM", ""),
    )
    assert item.start == at(BERLIN, 2024, 6, 10, 9) and item.start.tzinfo is TORONTO
    assert not item.recurring and not item.all_day and item.time_trusted
    assert [o.start for o in item.occurrences] == [item.start]


def test_series_occurrences_within_horizon_but_at_least_min_occurrences():
    raw = ics(
        "UID:monthly\nDTSTART;TZID=Europe/Paris:20240105T090000\nDURATION:PT1H\n"
        "RRULE:FREQ=MONTHLY\nEXDATE;TZID=Europe/Paris:20240405T090000"
    )
    now = at(PARIS, 2024, 2, 10)
    [item] = calendar_items(raw, now, now + timedelta(days=7), PARIS, min_occurrences=4)
    assert item.recurring and item.start == at(PARIS, 2024, 1, 5, 9)
    assert [o.start.date() for o in item.occurrences] == [
        date(2024, 3, 5),
        date(2024, 5, 5),  # April is an EXDATE
        date(2024, 6, 5),
        date(2024, 7, 5),
    ]
    wide = calendar_items(raw, now, at(PARIS, 2024, 12, 31), PARIS)[0]
    assert len(wide.occurrences) == 9  # Mar, May..Dec


def test_overridden_instances_belong_to_their_override_item_only():
    raw = ics(
        "UID:s\nDTSTART;TZID=Europe/Paris:20240603T090000\nDURATION:PT1H\n"
        "RRULE:FREQ=DAILY;COUNT=3\nSEQUENCE:2",
        "UID:s\nRECURRENCE-ID;TZID=Europe/Paris:20240604T090000\n"
        "DTSTART;TZID=Europe/Paris:20240604T180000\nDURATION:PT1H\nSEQUENCE:3",
    )
    master, override = calendar_items(raw, at(PARIS, 2024, 6, 1), at(PARIS, 2024, 7, 1), PARIS)
    assert master.recurrence_id is None and override.recurrence_id == "20240604T070000Z"
    assert [o.start.day for o in master.occurrences] == [3, 5]
    assert [(o.start.day, o.start.hour) for o in override.occurrences] == [(4, 18)]
    assert (master.sequence, override.sequence, override.recurring) == (2, 3, False)


def test_past_single_event_has_no_occurrences():
    raw = ics("UID:p\nDTSTART:20240610T090000Z\nDURATION:PT1H")
    [item] = calendar_items(raw, at(UTC, 2024, 6, 10, 10), at(UTC, 2024, 7, 1), PARIS)
    assert item.occurrences == () and item.start is not None


@pytest.mark.parametrize(
    "line",
    [
        "RECURRENCE-ID;TZID=Europe/Paris:20240604T090000",
        "RECURRENCE-ID:20240604T070000Z",
        "RECURRENCE-ID;TZID=W. Europe Standard Time:20240604T090000",
        "RECURRENCE-ID;VALUE=DATE-TIME:20240604T070000Z",
    ],
)
def test_recurrence_id_text_is_the_same_whatever_the_serialization(line):
    raw = ics(f"UID:r\n{line}\nDTSTART:20240604T100000Z\nDURATION:PT1H", zones=W_EUROPE_VTIMEZONE)
    [item] = calendar_items(raw, at(UTC, 2024, 1, 1), at(UTC, 2024, 7, 1), PARIS)
    assert item.recurrence_id == "20240604T070000Z"


def test_all_day_recurrence_id_is_a_day_even_when_written_as_midnight():
    # Exchange writes RECURRENCE-ID;TZID=...:T000000 for instances of all-day series.
    raw = ics(
        "UID:ad\nRECURRENCE-ID;TZID=W. Europe Standard Time:20260226T000000\n"
        "DTSTART;VALUE=DATE:20260227\nDTEND;VALUE=DATE:20260228",
        "UID:ad2\nRECURRENCE-ID;VALUE=DATE:20260226\nDTSTART;VALUE=DATE:20260227",
        zones=W_EUROPE_VTIMEZONE,
    )
    items = calendar_items(raw, at(UTC, 2026, 1, 1), at(UTC, 2026, 3, 1), PARIS)
    assert [i.recurrence_id for i in items] == ["20260226", "20260226"]
    assert all(i.all_day for i in items)


# --- Bounds --------------------------------------------------------------------------------------


def test_bounds_single_open_ended_until_and_count():
    single = ics("UID:a\nDTSTART:20240610T090000Z\nDTEND:20240610T100000Z")
    assert ical.object_bounds(single, PARIS) == ical.Bounds(
        at(UTC, 2024, 6, 10, 9).timestamp(), at(UTC, 2024, 6, 10, 10).timestamp()
    )
    forever = ics("UID:b\nDTSTART:20240610T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY")
    assert ical.object_bounds(forever, PARIS).last_end is None
    until = ics(
        "UID:c\nDTSTART:20240610T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;UNTIL=20240620T090000Z"
    )
    assert ical.object_bounds(until, PARIS).last_end >= at(UTC, 2024, 6, 20, 10).timestamp()
    count = ics("UID:d\nDTSTART:20240610T090000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;COUNT=3")
    last_end = ical.object_bounds(count, PARIS).last_end
    assert at(UTC, 2024, 6, 24, 10).timestamp() <= last_end <= at(UTC, 2024, 6, 25, 10).timestamp()
    assert ical.object_bounds(ics(), PARIS) == ical.Bounds(None, None)


def test_bounds_with_a_thisandfuture_override_have_an_unknown_end():
    raw = ics(
        "UID:t\nDTSTART:20240601T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=10",
        "UID:t\nRECURRENCE-ID;RANGE=THISANDFUTURE:20240605T090000Z\n"
        "DTSTART:20240605T150000Z\nDURATION:PT1H",
    )
    bounds = ical.object_bounds(raw, PARIS)
    assert bounds.first_start == at(UTC, 2024, 6, 1, 9).timestamp() and bounds.last_end is None


def test_bounds_of_a_count_series_with_a_century_long_override_do_not_crawl():
    # recurring-ical-events' all() walks past such an event in 15-minute steps: never used.
    raw = ics(
        "UID:b\nDTSTART;VALUE=DATE:20141210\nRRULE:FREQ=DAILY;COUNT=2",
        "UID:b\nRECURRENCE-ID;VALUE=DATE:20141210\nDTSTART;VALUE=DATE:20141210\n"
        "DTEND;VALUE=DATE:21941211",
    )
    bounds = ical.object_bounds(raw, PARIS)
    assert bounds.last_end >= at(PARIS, 2194, 12, 11).timestamp()


ZONES = st.sampled_from(["America/Toronto", "Europe/Paris", "Australia/Sydney", "Pacific/Apia"])


@settings(max_examples=40, deadline=None)
@given(
    event_zone=ZONES,
    my_zone=ZONES,
    day=st.integers(0, 365),
    minute=st.integers(0, 24 * 4 - 1).map(lambda q: q * 15),
    length=st.integers(0, 48).map(lambda q: q * 30),
    all_day=st.booleans(),
    freq=st.sampled_from(["", "DAILY", "WEEKLY", "MONTHLY"]),
    limit=st.sampled_from(["", ";COUNT=5", ";UNTIL=20250301T000000Z"]),
)
def test_busy_intervals_lie_inside_the_window_and_the_bounds(
    event_zone, my_zone, day, minute, length, all_day, freq, limit
):
    """Invariant: every busy interval is aware in the freelancer zone, non-empty, overlaps the
    window, and lies inside the object's bounds; series occurrences are busy intervals too."""
    first = datetime(2024, 1, 1) + timedelta(days=day, minutes=minute)
    if all_day:
        when = f"DTSTART;VALUE=DATE:{first:%Y%m%d}\nDURATION:P{1 + length // 480}D"
    else:
        when = f"DTSTART;TZID={event_zone}:{first:%Y%m%dT%H%M%S}\nDURATION:PT{length}M"
    rule = f"\nRRULE:FREQ={freq}{limit}" if freq else ""
    raw = ics(f"UID:p\n{when}{rule}")
    zone = ZoneInfo(my_zone)
    start, end = at(zone, 2024, 3, 1), at(zone, 2024, 9, 1)
    intervals = busy_of(raw, start, end, zone, ME)
    bounds = ical.object_bounds(raw, zone)
    for interval in intervals:
        assert interval.start.tzinfo is zone and interval.start < interval.end
        assert interval.start < end and interval.end > start
        assert interval.all_day == all_day
        assert bounds.first_start is not None and interval.start.timestamp() >= bounds.first_start
        assert bounds.last_end is None or interval.end.timestamp() <= bounds.last_end
    [item] = calendar_items(raw, start, end, zone, min_occurrences=0)
    expected = {(i.start, i.end) for i in intervals}
    # A single event's one occurrence is given even beyond the horizon: compare inside it.
    shown = {(o.start, o.end) for o in item.occurrences if o.start < min(o.end, end)}
    assert shown <= expected


def test_a_rule_that_never_matches_is_skipped_not_expanded_for_ever() -> None:
    """FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31 makes dateutil walk to the year 9999; the expansion
    has a CPU budget, the other events of the object still count, and nothing raises."""
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:never\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\n"
        "DTEND:20260101T110000Z\r\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:fine\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261201T150000Z\r\n"
        "DTEND:20261201T160000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    zone = ZoneInfo("America/Toronto")
    start, end = datetime(2026, 11, 1, tzinfo=zone), datetime(2026, 12, 31, tzinfo=zone)
    busy = busy_of(ics, start, end, zone, frozenset())
    assert [b.uid for b in busy] == ["fine"]
    items = calendar_items(ics, start, end, zone)
    assert {i.uid for i in items} == {"never", "fine"}
    assert ical.object_bounds(ics, zone).last_end is None
