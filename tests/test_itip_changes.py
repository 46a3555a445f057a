"""Changing appointments frontdesk booked, and reading clients' answers (connectors/itip.py).

Every change to a stored copy is read back twice: by icalendar, and by the project's own reader
(connectors.ical, then rules.busy for busy time, as the mirror does). Stored copies are also
edited the way calendar apps edit them (a VALARM, a new DESCRIPTION, X- properties, folded lines)
and must keep those edits. The answers are written here in the shapes Google, Outlook, Apple and
Thunderbird send; the real Apple and Exchange replies of ../shared/corpus are read at test time.
"""

from __future__ import annotations

import contextlib
import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import busy_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Component

from connectors import ical
from connectors.ical import MalformedObject
from connectors.itip import (
    MAX_ANSWER_BYTES,
    MAX_ANSWER_COMPONENTS,
    AttendeeAnswer,
    EventFacts,
    booking_calendars,
    cancelled_copy,
    event_facts,
    flagged_copy,
    moved_copy,
    partstat_copy,
    read_answers,
)
from connectors.mailparse import parse_message
from rules.model import CalendarItem
from rules.recurrence import MIN_SERIES_OCCURRENCES

calendar_items = functools.partial(ical.calendar_items, min_occurrences=MIN_SERIES_OCCURRENCES)

TORONTO = ZoneInfo("America/Toronto")
PARIS = ZoneInfo("Europe/Paris")
SYDNEY = ZoneInfo("Australia/Sydney")
NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=5, minutes=7)
WINDOW = (NOW, NOW + timedelta(days=60))
JULIE = "julie@example.org"
ANA = "ana.lopez@example.com"
ME = frozenset({JULIE})
UID = "frontdesk-3f2a9c@example.org"
START = datetime(2026, 3, 10, 10, 0, tzinfo=TORONTO)
END = START + timedelta(hours=1)


def booked() -> bytes:
    """The stored copy frontdesk writes when a client books (as daemon/inbox.py asks for it)."""
    stored, _ = booking_calendars(
        uid=UID, start=START, end=END, summary="Coaching — Ana López",
        description="Payment on site.", organizer=("Julie Tremblay", JULIE),
        attendee=("Ana López", ANA), now=NOW, schedule_agent_client=True)
    return stored


# What a calendar app writes back after the freelancer opened the appointment: a longer
# DESCRIPTION folded at 75 octets, a LOCATION, categories on two lines, its own X- properties,
# an alarm, and the freelancer herself listed as an accepted ATTENDEE (Apple and Outlook do).
APP_EDIT = (
    "DESCRIPTION:Payment on site. Bring the signed contract\\; parking is behind t\r\n"
    " he building\\, second door on the left.\r\n"
    "LOCATION:Studio B\\, 2nd floor\r\n"
    "CATEGORIES:Clients,Paid\r\n"
    "CATEGORIES:Studio\r\n"
    "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\n"
    "X-MOZ-GENERATION:4\r\n"
    "ATTENDEE;CN=Julie Tremblay;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:julie@example.org\r\n"
    "BEGIN:VALARM\r\n"
    "ACTION:DISPLAY\r\n"
    "DESCRIPTION:Reminder\r\n"
    "TRIGGER:-PT30M\r\n"
    "X-WR-ALARMUID:5B0F6C3E-1D2A-4C8F-9E37-A1B2C3D4E5F6\r\n"
    "END:VALARM\r\n"
)
EDITED_DESCRIPTION = (
    "Payment on site. Bring the signed contract; parking is behind the building, "
    "second door on the left."
)


def edited() -> bytes:
    text = booked().decode()
    text = text.replace("DESCRIPTION:Payment on site.\r\n", "")
    text = text.replace("END:VEVENT", APP_EDIT + "END:VEVENT")
    assert "BEGIN:VALARM" in text and "Payment on site.\r\n" not in text
    return text.encode()


def vevent(raw: bytes) -> Component:
    (event,) = Calendar.from_ical(raw).walk("VEVENT")
    return event


def lines(component: Component) -> dict[str, list[tuple[bytes, dict[str, str]]]]:
    """Each property of a component as written: (value, parameters), by name."""
    found: dict[str, list[tuple[bytes, dict[str, str]]]] = {}
    for name, value in component.items():
        props = value if isinstance(value, list) else [value]
        found[name] = [(p.to_ical(), dict(p.params)) for p in props]
    return found


def assert_kept(before: bytes, after: bytes, changed: set[str]) -> None:
    """Everything but the `changed` properties of the VEVENT is as it was, alarms and zones too."""
    old, new = Calendar.from_ical(before), Calendar.from_ical(after)
    assert "METHOD" not in new  # RFC 4791 §4.1
    assert lines(old) == lines(new)
    old_event, new_event = vevent(before), vevent(after)
    kept_old = {k: v for k, v in lines(old_event).items() if k not in changed}
    kept_new = {k: v for k, v in lines(new_event).items() if k not in changed}
    assert kept_old == kept_new
    alarms = [lines(a) for a in old_event.walk("VALARM")]
    assert alarms == [lines(a) for a in new_event.walk("VALARM")]
    for zone in old.walk("VTIMEZONE"):  # every zone the copy had is still there, unchanged
        tzid = str(zone["TZID"])
        same = [z for z in new.walk("VTIMEZONE") if str(z["TZID"]) == tzid]
        assert [z.to_ical() for z in same] == [zone.to_ical()]


def busy(raw: bytes) -> list[tuple[datetime, datetime]]:
    return [(b.start, b.end) for b in busy_of(raw, *WINDOW, TORONTO, ME)]


def item(raw: bytes) -> CalendarItem:
    """The one item of an object, as rules read it."""
    (found,) = calendar_items(raw, NOW, WINDOW[1], TORONTO)
    return found


# --- cancelled_copy -----------------------------------------------------------------------------


def test_cancelled_copy_frees_the_time_rfc5546_3_2_5() -> None:
    raw = booked()
    assert busy(raw) == [(START, END)]
    after = cancelled_copy(raw, UID, sequence=1, now=LATER)
    event = vevent(after)
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTAMP") == LATER.astimezone(UTC)
    assert event.decoded("LAST-MODIFIED") == LATER.astimezone(UTC)
    assert b"DTSTAMP:20260302T180700Z" in after  # UTC, as RFC 5545 §3.8.7.2 wants
    assert busy(after) == []
    read = item(after)
    assert (read.status, read.sequence, read.start) == ("CANCELLED", 1, START)


def test_cancelled_copy_keeps_the_calendar_apps_edits() -> None:
    raw = edited()
    after = cancelled_copy(raw, UID, sequence=2, now=LATER)
    assert_kept(raw, after, {"STATUS", "SEQUENCE", "DTSTAMP", "LAST-MODIFIED"})
    event = vevent(after)
    assert str(event["DESCRIPTION"]) == EDITED_DESCRIPTION
    assert str(event["X-MOZ-GENERATION"]) == "4"
    assert [str(a.decoded("TRIGGER")) for a in event.walk("VALARM")] == ["-1 day, 23:30:00"]
    assert busy(after) == []


def test_cancelled_copy_cancels_an_override_the_app_added_too() -> None:
    # The freelancer's app turned the booking into a series and moved its second week: an
    # override left CONFIRMED would still block that time.
    weekly = "SEQUENCE:0\r\nRRULE:FREQ=WEEKLY;COUNT=2\r\n"
    text = edited().decode().replace("SEQUENCE:0\r\n", weekly)
    override = (
        "BEGIN:VEVENT\r\nUID:" + UID + "\r\nDTSTAMP:20260303T100000Z\r\nSEQUENCE:0\r\n"
        "RECURRENCE-ID;TZID=America/Toronto:20260317T100000\r\n"
        "DTSTART;TZID=America/Toronto:20260318T140000\r\n"
        "DTEND;TZID=America/Toronto:20260318T150000\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\n"
    )
    raw = text.replace("END:VCALENDAR", override + "END:VCALENDAR").encode()
    assert len(busy(raw)) == 2
    after = cancelled_copy(raw, UID, sequence=1, now=LATER)
    assert busy(after) == []
    events = Calendar.from_ical(after).walk("VEVENT")
    assert [(str(e["STATUS"]), int(e["SEQUENCE"])) for e in events] == [("CANCELLED", 1)] * 2


def test_cancelled_copy_of_an_absent_uid_is_malformed() -> None:
    with pytest.raises(MalformedObject, match="no VEVENT"):
        cancelled_copy(booked(), "someone-else@example.org", sequence=1, now=LATER)


def test_cancelled_copy_refuses_a_naive_now_and_a_negative_sequence() -> None:
    with pytest.raises(ValueError):
        cancelled_copy(booked(), UID, sequence=1, now=datetime(2026, 3, 2, 13))
    with pytest.raises(ValueError):
        cancelled_copy(booked(), UID, sequence=-1, now=LATER)


# --- moved_copy ---------------------------------------------------------------------------------


def test_moved_copy_to_another_zone_gives_the_new_time() -> None:
    raw = edited()
    start = datetime(2026, 3, 12, 15, 0, tzinfo=PARIS)
    after = moved_copy(raw, UID, start=start, end=start + timedelta(minutes=90), sequence=1,
                       now=LATER)
    assert b"DTSTART;TZID=Europe/Paris:20260312T150000" in after
    assert b"DTEND;TZID=Europe/Paris:20260312T163000" in after
    cal = Calendar.from_ical(after)
    assert cal.get_missing_tzids() == set()
    assert {str(z["TZID"]) for z in cal.walk("VTIMEZONE")} == {"America/Toronto", "Europe/Paris"}
    event = vevent(after)
    assert event.decoded("DTSTART") == start
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CONFIRMED", 1)
    assert event.decoded("DTSTAMP") == event.decoded("LAST-MODIFIED") == LATER.astimezone(UTC)
    assert busy(after) == [(start, start + timedelta(minutes=90))]
    read = item(after)
    assert (read.start, read.end, read.sequence, read.time_trusted) == (
        start, start + timedelta(minutes=90), 1, True)


def test_moved_copy_keeps_the_calendar_apps_edits() -> None:
    raw = edited()
    start = START + timedelta(days=2)
    after = moved_copy(raw, UID, start=start, end=start + timedelta(hours=1), sequence=1,
                       now=LATER)
    assert_kept(raw, after, {"DTSTART", "DTEND", "SEQUENCE", "DTSTAMP", "LAST-MODIFIED",
                             "ATTENDEE"})
    event = vevent(after)
    assert str(event["DESCRIPTION"]) == EDITED_DESCRIPTION
    assert [list(c.cats) for c in event["CATEGORIES"]] == [["Clients", "Paid"], ["Studio"]]


def test_moved_copy_asks_the_client_again_rfc5546_3_2_2_1() -> None:
    raw = partstat_copy(edited(), UID, attendee=ANA, partstat="ACCEPTED")
    assert raw is not None
    start = START + timedelta(days=1)
    after = moved_copy(raw, UID, start=start, end=start + timedelta(hours=1), sequence=1,
                       now=LATER)
    client, julie = vevent(after)["ATTENDEE"]
    assert dict(client.params) == {
        "CN": "Ana López", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION",
        "SCHEDULE-AGENT": "CLIENT", "RSVP": "TRUE"}
    # The ORGANIZER listed as an ATTENDEE is not asked about her own change.
    assert dict(julie.params) == {"CN": "Julie Tremblay", "PARTSTAT": "ACCEPTED", "ROLE": "CHAIR"}
    assert {a.address: a.partstat for a in item(after).attendees} == {
        ANA: "NEEDS-ACTION", JULIE: "ACCEPTED"}


def test_moved_copy_replaces_a_duration_with_dtend() -> None:
    # Some apps write DURATION instead of DTEND (RFC 5545 §3.6.1 allows either, never both).
    text = edited().decode().replace("DTEND;TZID=America/Toronto:20260310T110000", "DURATION:PT1H")
    assert "DURATION:PT1H" in text
    start = START + timedelta(days=3)
    after = moved_copy(text.encode(), UID, start=start, end=start + timedelta(hours=2),
                       sequence=1, now=LATER)
    event = vevent(after)
    assert "DURATION" not in event
    assert event.decoded("DTEND") == start + timedelta(hours=2)
    assert busy(after) == [(start, start + timedelta(hours=2))]


def test_moved_copy_across_the_end_of_summer_time_in_sydney() -> None:
    # 5 April 2026, 03:00 AEDT becomes 02:00 AEST: 01:30 to 03:30 on the clock is three hours.
    start = datetime(2026, 4, 5, 1, 30, tzinfo=SYDNEY)
    end = datetime(2026, 4, 5, 3, 30, tzinfo=SYDNEY)
    after = moved_copy(booked(), UID, start=start, end=end, sequence=1, now=LATER)
    assert b"DTEND;TZID=Australia/Sydney:20260405T033000" in after
    ((begin, finish),) = busy(after)
    assert (begin, finish - begin) == (start, timedelta(hours=3))
    assert Calendar.from_ical(after).get_missing_tzids() == set()


def test_moved_copy_end_in_another_zone_is_written_in_the_start_zone() -> None:
    start = datetime(2026, 3, 11, 9, 0, tzinfo=TORONTO)
    end = datetime(2026, 3, 11, 15, 0, tzinfo=PARIS)  # 10:00 in Toronto
    after = moved_copy(booked(), UID, start=start, end=end, sequence=1, now=LATER)
    assert b"DTEND;TZID=America/Toronto:20260311T100000" in after
    assert busy(after) == [(start, end)]


def test_moved_copy_refuses_what_cannot_be_written() -> None:
    with pytest.raises(ValueError):
        moved_copy(booked(), UID, start=datetime(2026, 3, 11, 9), end=END, sequence=1, now=LATER)
    with pytest.raises(ValueError, match="not after"):
        moved_copy(booked(), UID, start=END, end=START, sequence=1, now=LATER)
    with pytest.raises(MalformedObject, match="no VEVENT"):
        moved_copy(booked(), "other", start=START, end=END, sequence=1, now=LATER)


# --- partstat_copy ------------------------------------------------------------------------------


def test_partstat_copy_matches_the_address_in_any_case() -> None:
    raw = edited()
    after = partstat_copy(raw, UID, attendee="MAILTO:Ana.Lopez@Example.COM", partstat="accepted")
    assert after is not None
    assert_kept(raw, after, {"ATTENDEE"})
    client, julie = vevent(after)["ATTENDEE"]
    # RSVP goes (she answered); CN, ROLE and SCHEDULE-AGENT stay.
    assert dict(client.params) == {"CN": "Ana López", "ROLE": "REQ-PARTICIPANT",
                                   "PARTSTAT": "ACCEPTED", "SCHEDULE-AGENT": "CLIENT"}
    assert dict(julie.params)["PARTSTAT"] == "ACCEPTED"
    read = item(after)
    assert read.sequence == 0  # an attendee's answer is no organizer change (RFC 5546 §2.1.4)
    assert {a.address: a.partstat for a in read.attendees}[ANA] == "ACCEPTED"
    assert busy(after) == busy(raw) == [(START, END)]


def test_partstat_copy_of_an_absent_attendee_is_none() -> None:
    assert partstat_copy(edited(), UID, attendee="mallory@example.net", partstat="DECLINED") is None


def test_partstat_copy_refuses_a_value_that_is_no_token() -> None:
    with pytest.raises(ValueError):
        partstat_copy(booked(), UID, attendee=ANA, partstat="ACCEPTED;RSVP=TRUE")


# --- flagged_copy -------------------------------------------------------------------------------


def test_flagged_copy_twice_adds_the_category_once() -> None:
    raw = booked()
    once = flagged_copy(raw, UID, category="frontdesk: client asked to move")
    twice = flagged_copy(once, UID, category="Frontdesk: client asked to move")
    assert once == twice
    assert vevent(twice)["CATEGORIES"].cats == ["frontdesk: client asked to move"]
    assert int(vevent(twice)["SEQUENCE"]) == 0
    assert busy(twice) == [(START, END)]


def test_flagged_copy_keeps_categories_on_several_lines() -> None:
    raw = edited()
    after = flagged_copy(raw, UID, category="frontdesk")
    assert_kept(raw, after, {"CATEGORIES"})
    assert [list(c.cats) for c in vevent(after)["CATEGORIES"]] == [
        ["Clients", "Paid", "frontdesk"], ["Studio"]]
    facts = event_facts(after, UID)
    assert facts is not None
    assert facts.categories == ("Clients", "Paid", "frontdesk", "Studio")
    again = event_facts(flagged_copy(after, UID, category="STUDIO"), UID)
    assert again is not None and again.categories == facts.categories


# --- event_facts --------------------------------------------------------------------------------


def test_event_facts_tell_which_change_reached_the_server() -> None:
    raw = edited()
    assert event_facts(raw, UID) == EventFacts(
        sequence=0, status="CONFIRMED", start=START, end=END,
        categories=("Clients", "Paid", "Studio"),
        partstats={ANA: "NEEDS-ACTION", JULIE: "ACCEPTED"})
    cancelled = event_facts(cancelled_copy(raw, UID, sequence=1, now=LATER), UID)
    assert cancelled is not None and (cancelled.status, cancelled.sequence) == ("CANCELLED", 1)
    start = datetime(2026, 3, 12, 15, 0, tzinfo=PARIS)
    moved = event_facts(moved_copy(raw, UID, start=start, end=start + timedelta(hours=1),
                                   sequence=2, now=LATER), UID)
    assert moved is not None
    assert (moved.start, moved.end, moved.sequence) == (start, start + timedelta(hours=1), 2)
    answered = partstat_copy(raw, UID, attendee=ANA, partstat="DECLINED")
    assert answered is not None
    facts = event_facts(answered, UID)
    assert facts is not None and facts.partstats[ANA] == "DECLINED"


def test_event_facts_of_an_absent_uid_is_none_and_of_garbage_malformed() -> None:
    assert event_facts(booked(), "other@example.org") is None
    broken = booked().replace(b"DTEND;TZID=America/Toronto:20260310T110000", b"DTEND:2026-bad")
    facts = event_facts(broken, UID)  # one unreadable time: the rest is still known
    assert facts is not None and (facts.start, facts.end, facts.status) == (None, None, "CONFIRMED")
    with pytest.raises(MalformedObject):
        event_facts(b"\x00\xff not a calendar", UID)


# --- read_answers: shapes of real clients, written here -----------------------------------------

ORG = "ORGANIZER;CN=Julie Tremblay:mailto:julie@example.org"


def vcal(method: str, body: str, prodid: str = "-//Test//EN", head: str = "") -> str:
    return (f"BEGIN:VCALENDAR\r\nPRODID:{prodid}\r\nVERSION:2.0\r\nMETHOD:{method}\r\n{head}"
            f"{body}END:VCALENDAR\r\n")


def vev(*props: str) -> str:
    return "BEGIN:VEVENT\r\n" + "".join(p + "\r\n" for p in props) + "END:VEVENT\r\n"


GOOGLE_REPLY = vcal("REPLY", vev(
    "DTSTART:20260310T140000Z", "DTEND:20260310T150000Z", "DTSTAMP:20260303T091502Z", ORG,
    f"UID:{UID}",
    "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Ana López;X-NUM-GU\r\n"
    " ESTS=0:mailto:ana.lopez@example.com",
    "CREATED:20260302T130000Z", "LAST-MODIFIED:20260303T091502Z", "SEQUENCE:0",
    "STATUS:CONFIRMED", "SUMMARY:Coaching — Ana López", "TRANSP:OPAQUE",
), prodid="-//Google Inc//Google Calendar 70.9054//EN", head="CALSCALE:GREGORIAN\r\n")

WINDOWS_ZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Eastern Standard Time\r\nBEGIN:STANDARD\r\n"
    "DTSTART:16010101T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
    "DTSTART:16010101T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)

# Outlook lists the organizer (ACCEPTED) and the other attendees with what it last knew of them.
OUTLOOK_REPLY = vcal("REPLY", WINDOWS_ZONE + vev(
    "ATTENDEE;PARTSTAT=ACCEPTED;CN=Julie Tremblay:MAILTO:julie@example.org",
    "ATTENDEE;PARTSTAT=NEEDS-ACTION;CN=Marc Roy:MAILTO:marc.roy@example.com",
    "ATTENDEE;PARTSTAT=TENTATIVE;CN=Ana López:MAILTO:Ana.Lopez@example.com",
    "COMMENT;LANGUAGE=fr-CA:Je confirme d\\, ici jeudi.\\n",
    f"UID:{UID}", "SUMMARY;LANGUAGE=fr-CA:Provisoire : Coaching",
    "DTSTART;TZID=Eastern Standard Time:20260310T100000",
    "DTEND;TZID=Eastern Standard Time:20260310T110000",
    "DTSTAMP:20260303T150000Z", "SEQUENCE:0", "X-MICROSOFT-CDO-APPT-SEQUENCE:0",
    "ORGANIZER;CN=Julie Tremblay:MAILTO:julie@example.org",
), prodid="Microsoft Exchange Server 2010")

# "Propose new time": METHOD:COUNTER, the proposed times in DTSTART/DTEND, the original in X-.
OUTLOOK_COUNTER = vcal("COUNTER", WINDOWS_ZONE + vev(
    "ATTENDEE;PARTSTAT=TENTATIVE;CN=Ana López:MAILTO:ana.lopez@example.com",
    "COMMENT:Could we do Wednesday afternoon instead?",
    f"UID:{UID}", "SUMMARY:Nouvelle heure proposée : Coaching",
    "DTSTART;TZID=Eastern Standard Time:20260311T140000",
    "DTEND;TZID=Eastern Standard Time:20260311T150000",
    "X-MS-OLK-ORIGINALSTART;TZID=Eastern Standard Time:20260310T100000",
    "X-MS-OLK-ORIGINALEND;TZID=Eastern Standard Time:20260310T110000",
    "DTSTAMP:20260303T151000Z", "SEQUENCE:0", ORG,
), prodid="Microsoft Exchange Server 2010")

APPLE_ZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:America/Toronto\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nDTSTART:20070311T020000\r\nTZNAME:EDT\r\n"
    "TZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nDTSTART:20071104T020000\r\nTZNAME:EST\r\n"
    "TZOFFSETTO:-0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)

# Apple folds inside parameter values and quotes CN with the address.
APPLE_REPLY = vcal("REPLY", APPLE_ZONE + vev(
    "SEQUENCE:1", "DTSTART;TZID=America/Toronto:20260310T100000", f"UID:{UID}",
    'ORGANIZER;CN="Julie Tremblay":mailto:julie@example.org', "DTSTAMP:20260303T120000Z",
    'ATTENDEE;CN="ana.lopez@example.com";CUTYPE=INDIVIDUAL;PARTSTAT=DECLINED;RO\r\n'
    " LE=REQ-PARTICIPANT:mailto:ana.lopez@example.com",
    "DTEND;TZID=America/Toronto:20260310T110000",
), prodid="-//Apple Inc.//macOS 14.5//EN", head="CALSCALE:GREGORIAN\r\n")

# Thunderbird keeps every attendee and the PARTSTAT the proposer had; DURATION, not DTEND.
THUNDERBIRD_COUNTER = vcal("COUNTER", vev(
    f"UID:{UID}", "SEQUENCE:1", "DTSTAMP:20260304T081500Z",
    "DTSTART;TZID=Europe/Paris:20260312T160000", "DURATION:PT1H30M",
    "ORGANIZER;CN=Julie Tremblay;EMAIL=julie@example.org:mailto:julie@example.org",
    "ATTENDEE;CN=Ana López;EMAIL=ana.lopez@example.com;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTI\r\n"
    " CIPANT:mailto:ana.lopez@example.com",
    "COMMENT:I am in Paris that week.",
), prodid="-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN")


def test_google_reply_has_one_attendee() -> None:
    (answer,) = read_answers(GOOGLE_REPLY)
    assert answer == AttendeeAnswer(
        method="REPLY", uid=UID, recurrence_id=None, sequence=0, attendee=ANA,
        partstat="ACCEPTED", start=START, end=END, comment="")


def test_outlook_reply_skips_the_organizer_and_those_who_did_not_answer() -> None:
    (answer,) = read_answers(OUTLOOK_REPLY.encode("utf-8"))
    assert (answer.method, answer.attendee, answer.partstat) == ("REPLY", ANA, "TENTATIVE")
    assert answer.comment == "Je confirme d, ici jeudi."
    assert (answer.start, answer.end) == (START, END)  # the Windows zone name is read


def test_outlook_counter_gives_the_proposed_times() -> None:
    (answer,) = read_answers(OUTLOOK_COUNTER)
    assert (answer.method, answer.attendee, answer.partstat) == ("COUNTER", ANA, "TENTATIVE")
    wednesday = datetime(2026, 3, 11, 14, 0, tzinfo=TORONTO)
    assert (answer.start, answer.end) == (wednesday, wednesday + timedelta(hours=1))
    assert answer.comment == "Could we do Wednesday afternoon instead?"


def test_apple_reply_folded_inside_a_parameter() -> None:
    (answer,) = read_answers(APPLE_REPLY)
    assert (answer.attendee, answer.partstat, answer.sequence) == (ANA, "DECLINED", 1)
    assert (answer.start, answer.end) == (START, END)


def test_thunderbird_counter_with_a_duration() -> None:
    (answer,) = read_answers(THUNDERBIRD_COUNTER)
    start = datetime(2026, 3, 12, 16, 0, tzinfo=PARIS)
    assert answer.method == "COUNTER"
    # The proposer kept NEEDS-ACTION: they are still the one answering.
    assert (answer.attendee, answer.partstat) == (ANA, "NEEDS-ACTION")
    assert (answer.start, answer.end) == (start, start + timedelta(minutes=90))
    assert answer.comment == "I am in Paris that week."


@pytest.mark.parametrize("text", [GOOGLE_REPLY, OUTLOOK_REPLY, OUTLOOK_COUNTER, APPLE_REPLY,
                                  THUNDERBIRD_COUNTER])
def test_answer_times_are_those_connectors_ical_reads(text: str) -> None:
    (answer,) = read_answers(text, zone=TORONTO)
    (read,) = calendar_items(text, NOW, WINDOW[1], TORONTO)
    assert (answer.start, answer.end, answer.uid, answer.sequence) == (
        read.start, read.end, read.uid, read.sequence)


def test_a_reply_per_instance_gives_one_answer_each() -> None:
    text = vcal("REPLY", WINDOWS_ZONE + vev(
        f"UID:{UID}", "SEQUENCE:2", ORG, "DTSTART;TZID=Eastern Standard Time:20260310T100000",
        "RRULE:FREQ=WEEKLY;COUNT=4", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:ana.lopez@example.com",
    ) + vev(
        f"UID:{UID}", "SEQUENCE:2", ORG,
        "RECURRENCE-ID;TZID=Eastern Standard Time:20260317T100000",
        "DTSTART;TZID=Eastern Standard Time:20260317T100000",
        "ATTENDEE;PARTSTAT=DECLINED:mailto:ana.lopez@example.com", "COMMENT:Spring break",
    ))
    series, instance = read_answers(text)
    assert (series.recurrence_id, series.partstat) == (None, "ACCEPTED")
    assert (instance.recurrence_id, instance.partstat) == ("20260317T140000Z", "DECLINED")
    items = calendar_items(text, NOW, WINDOW[1], TORONTO)
    assert [i.recurrence_id for i in items] == [series.recurrence_id, instance.recurrence_id]


def test_refresh_and_declinecounter_without_partstat() -> None:
    refresh = vcal("REFRESH", vev(f"UID:{UID}", ORG, "DTSTAMP:20260304T081500Z",
                                  "ATTENDEE:mailto:ana.lopez@example.com"))
    (answer,) = read_answers(refresh)
    assert (answer.method, answer.attendee, answer.partstat, answer.start) == (
        "REFRESH", ANA, "", None)
    (nobody,) = read_answers(vcal("DECLINECOUNTER", vev(f"UID:{UID}", ORG)))
    assert (nobody.method, nobody.attendee, nobody.partstat) == ("DECLINECOUNTER", "", "")


def test_floating_and_all_day_proposals_need_the_freelancers_zone() -> None:
    floating = vcal("COUNTER", vev(f"UID:{UID}", ORG, "DTSTART:20260311T090000",
                                   "DTEND:20260311T100000",
                                   "ATTENDEE;PARTSTAT=TENTATIVE:mailto:ana.lopez@example.com"))
    (guess,) = read_answers(floating)
    assert (guess.start, guess.end) == (None, None)  # no zone: never a guess (STANDARDS §5)
    (local,) = read_answers(floating, zone=TORONTO)
    assert local.start == datetime(2026, 3, 11, 9, 0, tzinfo=TORONTO)
    all_day = vcal("COUNTER", vev(f"UID:{UID}", ORG, "DTSTART;VALUE=DATE:20260311",
                                  "ATTENDEE;PARTSTAT=TENTATIVE:mailto:ana.lopez@example.com"))
    assert read_answers(all_day)[0].start is None
    (day,) = read_answers(all_day, zone=TORONTO)
    assert (day.start, day.end) == (datetime(2026, 3, 11, tzinfo=TORONTO),
                                    datetime(2026, 3, 12, tzinfo=TORONTO))


def test_an_unknown_tzid_is_never_a_time() -> None:
    text = vcal("COUNTER", vev(f"UID:{UID}", ORG,
                               "DTSTART;TZID=Customized Time Zone:20260311T090000",
                               "DTEND;TZID=Customized Time Zone:20260311T100000",
                               "ATTENDEE;PARTSTAT=TENTATIVE:mailto:ana.lopez@example.com"))
    (answer,) = read_answers(text, zone=TORONTO)
    assert (answer.start, answer.end, answer.attendee) == (None, None, ANA)


def test_a_long_comment_is_shortened() -> None:
    text = vcal("REPLY", vev(f"UID:{UID}", ORG, "COMMENT:" + "é" * 2000,
                             "ATTENDEE;PARTSTAT=DECLINED:mailto:ana.lopez@example.com"))
    (answer,) = read_answers(text)
    assert answer.comment == "é" * 500


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"hello, I cannot come on Tuesday",
                                 b"\x00\xff\xfe" * 100, "END:VCALENDAR\r\n"])
def test_unreadable_answers_are_malformed(raw: bytes | str) -> None:
    with pytest.raises(MalformedObject):
        read_answers(raw)


def test_huge_answers_are_refused_before_reading() -> None:
    padding = "X-PAD:" + "a" * 70 + "\r\n"
    huge = GOOGLE_REPLY.replace("END:VEVENT", padding * (MAX_ANSWER_BYTES // len(padding))
                                + "END:VEVENT")
    with pytest.raises(MalformedObject, match="bytes"):
        read_answers(huge)
    with pytest.raises(MalformedObject, match="bytes"):
        read_answers(huge.encode())
    # The VCALENDAR counts: with it, this many VEVENTs is one component too many.
    many = vcal("REPLY", "".join(vev(f"UID:u{n}", ORG) for n in range(MAX_ANSWER_COMPONENTS)))
    with pytest.raises(MalformedObject, match="components"):
        read_answers(many)
    enough = vcal("REPLY", "".join(vev(f"UID:u{n}", ORG) for n in range(MAX_ANSWER_COMPONENTS - 1)))
    assert len(read_answers(enough)) == MAX_ANSWER_COMPONENTS - 1


# --- read_answers: real messages from ../shared/corpus -----------------------------------------


def corpus_calendars(corpus: Path, name: str) -> list[tuple[str, str]]:
    """The calendar parts of a corpus message, decoded by the mail connector as the daemon gets
    them (quoted-printable undone, charset applied)."""
    return list(parse_message((corpus / "eml" / name).read_bytes()).calendar_parts)


@pytest.mark.corpus
def test_corpus_apple_reply_quoted_printable(corpus: Path) -> None:
    ((param, ics),) = corpus_calendars(corpus, "calendarserver__apple-ical-reply-qp.eml")
    assert param == ""  # Apple puts no method= on the part: the METHOD inside says it
    (answer,) = read_answers(ics)
    pacific = ZoneInfo("America/Los_Angeles")
    assert (answer.method, answer.attendee, answer.partstat, answer.sequence) == (
        "REPLY", "xyzzy@example.com", "ACCEPTED", 7)
    assert answer.uid == "1E71F9C8-AEDA-48EB-98D0-76E898F6BB5C"
    assert (answer.start, answer.end) == (datetime(2008, 8, 12, 10, tzinfo=pacific),
                                          datetime(2008, 8, 12, 11, tzinfo=pacific))


@pytest.mark.corpus
def test_corpus_exchange_reply_without_organizer(corpus: Path) -> None:
    ((_, ics),) = corpus_calendars(corpus, "calmailproc__exchange-decline-reply.eml")
    (answer,) = read_answers(ics)
    # No ORGANIZER at all in Exchange's REPLY: its one ATTENDEE is still the one answering.
    assert (answer.attendee, answer.partstat) == ("markus.brechtel@uk-koeln.de", "DECLINED")
    assert answer.comment == "no, sorry"


@pytest.mark.corpus
def test_corpus_thunderbird_cancel_with_dtend_and_duration(corpus: Path) -> None:
    ((param, ics),) = corpus_calendars(corpus, "thunderbird__cancel-single-event.eml")
    (answer,) = read_answers(ics)
    assert (param, answer.method, answer.sequence) == ("CANCEL", "CANCEL", 1)
    # Both DTEND and DURATION (RFC 5545 forbids it): DTEND wins, as connectors.ical reads it.
    assert answer.end is not None and answer.start is not None
    assert answer.end - answer.start == timedelta(minutes=30)
    assert answer.attendee == "receiver@example.com"  # the first who is not the organizer


# --- Mutated bytes: MalformedObject or a result, nothing else ----------------------------------

PIECES = [b"", b":", b";", b"=", b",", b'"', b"\\", b"\r\n", b"\r\n ", b"\n", b"\x00", b"\xff",
          b"Z", b"T", b"9", b"-", b"BEGIN:VEVENT\r\n", b"END:VEVENT\r\n", b"END:VCALENDAR\r\n",
          b"BEGIN:VTIMEZONE\r\n", b"TZID=Nowhere/Else", b"VALUE=DATE", b"DURATION:P", b"mailto:"]
SEED = edited()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(SEED)), st.integers(0, 12), st.sampled_from(PIECES)),
                min_size=1, max_size=6))
def test_changes_on_mutated_bytes_raise_only_malformed_object(
        edits: list[tuple[int, int, bytes]]) -> None:
    raw = SEED
    for at, cut, piece in edits:
        raw = raw[:at] + piece + raw[at + cut:]
    start = datetime(2026, 3, 12, 15, 0, tzinfo=PARIS)
    for change in (
        lambda: cancelled_copy(raw, UID, sequence=1, now=LATER),
        lambda: moved_copy(raw, UID, start=start, end=start + timedelta(hours=1), sequence=1,
                           now=LATER),
        lambda: partstat_copy(raw, UID, attendee=ANA, partstat="ACCEPTED"),
        lambda: flagged_copy(raw, UID, category="frontdesk"),
        lambda: event_facts(raw, UID),
        lambda: read_answers(raw),
    ):
        try:
            result = change()
        except MalformedObject:
            continue
        if isinstance(result, bytes):  # what is written back, the project's reader reads
            with contextlib.suppress(MalformedObject):
                ical.parse_calendar(result)
