"""connectors/ical.py on real-world objects from ../shared/corpus (ics/ and the eml/ invitations).

Every file must go through every entry point without an unhandled exception, and a few are
checked against what a person reading them would expect.
"""

from __future__ import annotations

import email
import email.policy
import functools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import busy_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import ical
from connectors.budget import OverBudget
from rules.recurrence import MIN_SERIES_OCCURRENCES

# the series threshold is the caller's policy (rules.recurrence)
calendar_items = functools.partial(ical.calendar_items, min_occurrences=MIN_SERIES_OCCURRENCES)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
if not (CORPUS / "ics").is_dir():
    pytest.skip(
        "../shared/corpus is absent: no real-world objects to read", allow_module_level=True
    )

pytestmark = [
    pytest.mark.corpus,
    # icalendar warns when it strips a vendor prefix from a TZID; that guess is ours too.
    pytest.mark.filterwarnings("ignore::icalendar.error.GloballyUniqueTZIDGuessed"),
]

PARIS = ZoneInfo("Europe/Paris")
BERLIN = ZoneInfo("Europe/Berlin")
CHICAGO = ZoneInfo("America/Chicago")
WINDOW = (datetime(1990, 1, 1, tzinfo=PARIS), datetime(2035, 1, 1, tzinfo=PARIS))
NOW, HORIZON = datetime(2020, 1, 1, tzinfo=PARIS), datetime(2020, 3, 1, tzinfo=PARIS)
ME = frozenset({"c@example.com", "markus.brechtel@uk-koeln.de"})

ICS_FILES = sorted(p.name for p in (CORPUS / "ics").glob("*.ics"))
# Files allowed to raise MalformedObject because nothing in them can be read. None is: even
# ical4j__outlook11_freebusy_bad_dates.ics (a VFREEBUSY with 7-digit dates) reads as a calendar
# without events, which is what it is for busy time.
UNREADABLE: frozenset[str] = frozenset()


def read(name: str) -> bytes:
    return (CORPUS / "ics" / name).read_bytes()


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def busy(name: str, start: datetime = WINDOW[0], end: datetime = WINDOW[1]):
    return busy_of(read(name), start, end, PARIS, ME)


def items(name: str, now: datetime = NOW, horizon: datetime = HORIZON):
    return calendar_items(read(name), now, horizon, PARIS)


@pytest.mark.parametrize("name", ICS_FILES)
def test_every_corpus_object_reads_without_an_unhandled_error(name):
    raw = read(name)
    try:
        calendar = ical.parse_calendar(raw)
    except ical.MalformedObject:
        assert name in UNREADABLE
        return
    assert name not in UNREADABLE
    ical.untrusted_tzids(calendar)
    bounds = ical.object_bounds(raw, PARIS)
    window = WINDOW
    try:
        intervals = busy_of(raw, *window, PARIS, ME)
    except OverBudget:
        # 45 years of a weekly series can cost more than an object may (the mirror sets such an
        # object aside, with why); over the span the mirror reads, it is read whole
        window = (NOW - timedelta(days=366), HORIZON)
        intervals = busy_of(raw, *window, PARIS, ME)
    assert intervals == sorted(intervals, key=lambda i: (i.start, i.end, i.uid))
    for interval in intervals:
        assert interval.start.tzinfo is PARIS and interval.end.tzinfo is PARIS
        assert window[0] < interval.end and interval.start < window[1]
        assert interval.start < interval.end
        assert bounds.first_start is not None and bounds.first_start <= interval.start.timestamp()
        assert bounds.last_end is None or interval.end.timestamp() <= bounds.last_end
    for item in calendar_items(raw, NOW, HORIZON, PARIS):
        assert (item.start is None) == (item.end is None)
        assert item.start is None or item.start.tzinfo is PARIS
        assert all(o.end > NOW or o.start == o.end >= NOW for o in item.occurrences)


def test_all_corpus_files_are_listed():
    assert len(ICS_FILES) >= 59


# --- What a person would expect ------------------------------------------------------------------


def test_exchange_windows_zone_names():
    intervals = busy("node-ical__exchange_ms_timezones.ics")
    starts = [i.start for i in intervals]
    assert at(BERLIN, 2020, 9, 10, 9) in starts  # W. Europe Standard Time
    assert at(UTC, 2020, 9, 15, 15, 30) in starts  # 08:30 Pacific Standard Time (PDT)
    # The TRANSPARENT series is not busy; its DTSTART, quoted together with the TZID, is mended.
    jira = [i for i in items("node-ical__exchange_ms_timezones.ics") if i.transparent and i.start]
    assert next(i.start for i in jira) == at(BERLIN, 2020, 6, 9, 9)


def test_owa_display_name_tzids_without_vtimezone():
    found = items("node-ical__owa_display_name_tzids.ics", now=at(UTC, 2020, 10, 1))
    by_summary = {i.summary: i for i in found}
    assert by_summary["TEST Syd"].start == at(UTC, 2020, 10, 28, 2, 30)  # 13:30 in Sydney (AEDT)
    assert by_summary["TEST"].start == at(UTC, 2020, 10, 28, 17, 30)  # 13:30 in New York (EDT)
    assert by_summary["TEST 3"].start == at(UTC, 2020, 11, 2, 18, 30)  # 13:30 in New York (EST)
    assert all(i.time_trusted for i in found)


def test_windows_name_with_wrong_vtimezone_offsets_is_new_zealand_time():
    [interval] = busy("khal__tz_windows_name_wrong_offsets.ics")
    assert interval.start == at(UTC, 2019, 11, 20, 0)  # 13:00 NZDT


def test_google_utc_times_with_x_wr_timezone_are_not_shifted():
    first, second = busy("recurring-ical-events__x_wr_timezone_utc_only.ics")
    ny = ZoneInfo("America/New_York")
    assert first.start.astimezone(ny) == at(ny, 2021, 12, 22, 12)  # "noon to 1PM"
    assert second.start.astimezone(ny) == at(ny, 2021, 12, 22, 21)  # "9PM to 10PM"


def test_weekly_series_across_us_dst_with_exdates():
    raw = read("recurring-ical-events__issue_48_dst.ics")
    window = (at(CHICAGO, 2020, 10, 1), at(CHICAGO, 2020, 12, 1))
    starts = [
        i.start.astimezone(CHICAGO)
        for i in busy_of(raw, *window, PARIS, ME)
        if i.uid == "m4dpn70@google.com"
    ]
    # Fridays at 14:15 Chicago time on both sides of Nov 1; Oct 23, Nov 6, Nov 27 are EXDATEs.
    assert [s.date() for s in starts] == [
        date(2020, 10, 2),
        date(2020, 10, 9),
        date(2020, 10, 16),
        date(2020, 10, 30),
        date(2020, 11, 13),
        date(2020, 11, 20),
    ]
    assert {(s.hour, s.minute) for s in starts} == {(14, 15)}


def test_cancelled_occurrence_of_a_thunderbird_series():
    intervals = busy("recurring-ical-events__thunderbird_cancelled_occurrence.ics")
    assert [i.start for i in intervals] == [
        at(BERLIN, 2020, 1, 28, 22),
        at(BERLIN, 2020, 1, 30, 22),
    ]


def test_recurrence_ids_in_utc_and_as_midnight_match_their_instances():
    intervals = busy(
        "recurring-ical-events__recurrence_id_formats.ics",
        at(BERLIN, 2020, 9, 1),
        at(BERLIN, 2020, 9, 28),
    )
    timed = [i.start for i in intervals if i.uid == "series 1"]
    assert timed == [
        at(BERLIN, 2020, 9, 10, 14),
        at(BERLIN, 2020, 9, 17, 14),
        at(BERLIN, 2020, 9, 24, 14),
    ]
    days = [i.start.date() for i in intervals if i.uid == "series 2"]
    assert days == [date(2020, 9, 7), date(2020, 9, 14), date(2020, 9, 21)]
    master, override, *_ = items("recurring-ical-events__recurrence_id_formats.ics")
    assert (master.recurrence_id, override.recurrence_id) == (None, "20200917T120000Z")


def test_thunderbird_teams_series_with_floating_exdate_and_override():
    name = "radicale__thunderbird_teams_windows_tz_floating_exdate.ics"
    starts = [i.start for i in busy(name)]
    assert at(BERLIN, 2026, 1, 30, 10, 30) in starts  # the moved instance
    assert at(BERLIN, 2026, 1, 30, 11) not in starts
    assert not [s for s in starts if s.date() == date(2026, 4, 3)]  # floating EXDATE, 11:00 local
    assert len(starts) == 27
    master, override = items(name, now=at(BERLIN, 2026, 1, 1), horizon=at(BERLIN, 2026, 3, 1))
    assert override.recurrence_id == "20260130T100000Z"
    assert at(BERLIN, 2026, 1, 30, 11) not in [o.start for o in master.occurrences]
    assert [o.start for o in override.occurrences] == [at(BERLIN, 2026, 1, 30, 10, 30)]


def test_all_day_yearly_birthday_with_mixed_case_keywords():
    intervals = busy(
        "ical4j__korganizer_lowercase.ics", at(PARIS, 2024, 1, 1), at(PARIS, 2025, 1, 1)
    )
    [birthday] = intervals
    assert (birthday.start, birthday.end, birthday.all_day) == (
        at(PARIS, 2024, 1, 16),
        at(PARIS, 2024, 1, 17),
        True,
    )


def test_latin1_bom_and_stray_line_files():
    summaries = sorted(i.summary for i in items("thunderbird__latin1_encoded.ics"))
    assert summaries == ["Event Four", "Event One", "Event Three", "Event Två"]
    assert busy("icalendar__utf8_bom.ics") == []
    [interval] = busy("icalendar__stray_line_in_vcalendar.ics")
    assert interval.start == at(UTC, 2014, 4, 1, 0)


def test_itip_stream_of_several_vcalendars():
    found = items("ical4j__itip_multiple_vcalendars_request.ics")
    assert len(found) == 9
    first = found[0]
    assert first.organizer == "b@example.com" and first.sequence == 2
    room = next(a for a in first.attendees if a.cutype == "ROOM")
    assert (room.address, room.partstat, room.rsvp) == (
        "conf_big@example.com",
        "NEEDS-ACTION",
        False,
    )
    chair = first.attendees[0]
    assert (chair.address, chair.role, chair.partstat, chair.name) == (
        "a@example.com",
        "CHAIR",
        "ACCEPTED",
        "BIG A",
    )
    replies = [i for i in found if i.start is None]  # REPLYs carry no DTSTART
    assert replies and all(i.attendees for i in replies)


def test_broken_vevents_are_skipped_and_the_rest_kept():
    assert busy("recurring-ical-events__dtend_before_dtstart_with_attendees.ics") == []
    [item] = items("recurring-ical-events__dtend_before_dtstart_with_attendees.ics")
    assert item.start is None and not item.time_trusted and item.attendees
    [good] = busy("radicale__vevent_missing_dtstart.ics")
    budapest = ZoneInfo("Europe/Budapest")
    assert (good.start, good.end) == (
        at(budapest, 2016, 7, 27, 17),
        at(budapest, 2016, 7, 27, 22, 30),
    )


def test_custom_microsoft_tzid_without_vtimezone_is_untrusted():
    name = "node-ical__exchange_custom_tz_broken_dtstamp.ics"
    assert ical.untrusted_tzids(ical.parse_calendar(read(name))) == {"tzone://Microsoft/Custom"}
    custom, utc, negative = items(name, now=at(UTC, 2021, 1, 1))
    assert not custom.time_trusted and custom.start == at(PARIS, 2021, 3, 25, 10, 35)
    assert utc.time_trusted and utc.start == at(UTC, 2021, 4, 1, 19, 30)
    assert negative.start is None and negative.dtstamp is None  # DURATION:-PT1W1D..., bad DTSTAMP
    assert [i.uid for i in busy(name)] == ["1173422081SZR322"]  # the UTC one takes no time


def test_vtimezones_with_odd_names_and_odd_dates():
    [brasilia] = busy("icalendar__brasilia_non_ascii_tzid.ics")
    assert brasilia.start == at(UTC, 2017, 5, 11, 16, 30)
    [plus11] = busy("icalendar__unknown_tzid_utc_plus_11.ics")
    assert plus11.start == at(UTC, 2017, 2, 28, 12)
    [emclient] = busy("node-ical__emclient_year_0001_vtimezone.ics")
    assert emclient.start == at(BERLIN, 2024, 6, 1, 10)
    [zimbra] = busy("icaljs__zimbra_negative_zero_offset.ics")
    assert zimbra.start == at(UTC, 2012, 8, 21, 21)
    [moscow] = busy("radicale__apple_seconds_utc_offset_cyrillic.ics")
    assert moscow.start == at(ZoneInfo("Europe/Moscow"), 2018, 4, 20, 12)
    [berlin] = busy("khal__invalid_tzoffset.ics")
    assert berlin.start == at(BERLIN, 2012, 12, 2, 8)
    _, space = busy("node-ical__outlook_tzid_leading_space.ics")
    assert space.start == at(PARIS, 2024, 1, 8, 11)  # TZID ' 1' defined after the event


def test_blank_tzid_is_untrusted_and_read_in_the_freelancer_zone():
    name = "ical4j__exchange_blank_tzid.ics"
    assert ical.untrusted_tzids(ical.parse_calendar(read(name))) == {""}
    [interval] = busy(name)
    assert interval.start == at(PARIS, 2015, 8, 26, 9)


def test_mixed_floating_and_zoned_times():
    first, second = busy("khal__ownCloud_mixed_tz_and_z.ics")
    assert (first.start, first.end) == (at(BERLIN, 2015, 5, 30, 12), at(BERLIN, 2015, 5, 30, 16))
    assert (second.start, second.end) == (at(BERLIN, 2015, 6, 2, 12), at(BERLIN, 2015, 6, 2, 16))
    [item] = items("icalendar__double_semicolon_params.ics", now=at(PARIS, 2014, 1, 1))
    assert item.start == at(PARIS, 2014, 4, 9, 9, 30)


def test_series_limits_and_overrides_from_google_and_davx5():
    assert len(busy("recurring-ical-events__davx5_historic_vtimezone_exdate.ics")) == 7
    # Floating UNTIL 18:30 on a New York series: the file says it ends on November 11.
    vobject = busy("vobject__rrule_floating_until_tz_dtstart.ics")
    assert vobject[-1].start.date() == date(2013, 11, 12)  # Nov 11, 18:30 New York, in Paris
    kiev = ZoneInfo("Europe/Kyiv")
    starts = [i.start for i in busy("node-ical__google_kiev_recurrence_first.ics")]
    assert starts == [at(kiev, 2016, 8, d, 14) for d in (25, 26, 27, 28)]
    sydney = ZoneInfo("Australia/Sydney")
    moved = busy("recurring-ical-events__issue_62_moved_event_2.ics")
    assert [i.start for i in moved] == [at(sydney, 2023, 8, d, 14) for d in (8, 14, 22)]


def test_deleted_modification_of_a_newer_master_stays_deleted():
    intervals = busy(
        "recurring-ical-events__deleted_modification_duplicate_exdate.ics",
        at(PARIS, 2024, 7, 1),
        at(PARIS, 2024, 10, 1),
    )
    assert [i.start.date() for i in intervals] == [
        date(2024, 7, 29),
        date(2024, 9, 9),
        date(2024, 9, 30),
    ]


def test_bounds_of_corpus_objects():
    count = ical.object_bounds(
        read("recurring-ical-events__thunderbird_cancelled_occurrence.ics"), PARIS
    )
    assert at(BERLIN, 2020, 1, 30, 23).timestamp() <= count.last_end  # COUNT=3, daily
    assert count.last_end <= at(BERLIN, 2020, 1, 31, 23).timestamp()
    forever = ical.object_bounds(read("icalendar__x_location.ics"), PARIS)
    assert forever.first_start == at(ZoneInfo("Europe/Zurich"), 2016, 10, 28, 14).timestamp()
    assert forever.last_end is None
    assert ical.object_bounds(read("icalendar__utf8_bom.ics"), PARIS) == ical.Bounds(None, None)


MUTATED = [
    "node-ical__exchange_ms_timezones.ics",
    "radicale__thunderbird_teams_windows_tz_floating_exdate.ics",
    "recurring-ical-events__recurrence_id_range_thisandfuture.ics",
    "icaljs__google_birthday.ics",
    "node-ical__emclient_year_0001_vtimezone.ics",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(MUTATED),
    dropped=st.sets(st.integers(0, 200), max_size=6),
    doubled=st.sets(st.integers(0, 200), max_size=3),
)
def test_damaged_objects_never_raise_anything_but_malformed_object(name, dropped, doubled):
    """Invariant: whatever lines are lost or repeated, reading fails only as MalformedObject."""
    lines = read(name).splitlines()
    damaged = []
    for number, line in enumerate(lines):
        if number not in dropped:
            damaged.append(line)
        if number in doubled:
            damaged.append(line)
    raw = b"\r\n".join(damaged)
    start = datetime(2019, 1, 1, tzinfo=PARIS)
    try:
        ical.object_bounds(raw, PARIS)
        busy_of(raw, start, datetime(2027, 1, 1, tzinfo=PARIS), PARIS, ME)
        calendar_items(raw, start, datetime(2019, 3, 1, tzinfo=PARIS), PARIS)
    except ical.MalformedObject:
        pass


# --- Invitations by e-mail -----------------------------------------------------------------------

CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")


def calendar_parts(name: str) -> list[bytes]:
    """The iCalendar parts of a message, as the mail connector would find them."""
    message = email.message_from_bytes(
        (CORPUS / "eml" / name).read_bytes(), policy=email.policy.compat32
    )
    found = []
    for part in message.walk():
        filename = (part.get_filename() or "").lower()
        if part.get_content_type() in CALENDAR_TYPES or filename.endswith(".ics"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found.append(payload)
    return found


EML_FILES = sorted(p.name for p in (CORPUS / "eml").glob("*.eml") if calendar_parts(p.name))


def test_the_invitation_mails_are_found():
    assert len(EML_FILES) >= 15


@pytest.mark.parametrize("name", EML_FILES)
def test_every_invitation_mail_reads_without_an_unhandled_error(name):
    for part in calendar_parts(name):
        for item in calendar_items(part, NOW, HORIZON, PARIS):
            assert item.uid


def mail_items(name: str) -> list:
    return calendar_items(calendar_parts(name)[0], at(UTC, 2000, 1, 1), HORIZON, PARIS)


def test_invitation_spot_checks():
    [instance] = mail_items("calmailproc__exchange-instance-update.eml")
    assert instance.recurrence_id == "20250320T140000Z"  # 15:00 W. Europe Standard Time
    [cancel] = mail_items("calmailproc__exchange-cancel-escaped-comma-tzid.eml")
    assert cancel.status == "CANCELLED" and cancel.time_trusted
    assert cancel.start == at(BERLIN, 2025, 3, 10, 14)  # '(UTC+01:00) Amsterdam\, Berlin...'
    [bahn] = mail_items("calmailproc__deutschebahn-iso-dtstamp.eml")
    assert bahn.start == at(BERLIN, 2023, 7, 1, 12, 57)  # '2023-07-01T125700'
    [lotus] = mail_items("thunderbird__lotus-style-invite-windows1257.eml")
    assert not lotus.time_trusted  # TZID="FLE" and no VTIMEZONE
    [no_start] = mail_items("thunderbird__cancel-repeat-event-no-dtstart.eml")
    assert no_start.status == "CANCELLED" and no_start.start is None
    [teams] = mail_items("thunderbird__teams-meeting-invite.eml")
    assert teams.organizer == "marge@example.com" and teams.time_trusted
    [reply] = mail_items("calmailproc__exchange-decline-reply.eml")
    assert [a.partstat for a in reply.attendees] == ["DECLINED"]
