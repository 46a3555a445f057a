"""iTIP/iMIP artefacts (connectors/itip.py): the REPLY, its email, the freelancer's stored copy.

Every REPLY is checked against each rule of STANDARDS §2 (RFC 5546 §3.2.3), for a single event, a
series, an instance with a TZID'd RECURRENCE-ID and one with a VALUE=DATE RECURRENCE-ID; and every
calendar object of ../shared/corpus that has an ORGANIZER goes through calendar_items -> decide ->
reply_calendar / declined_copy.
"""

from __future__ import annotations

import email
import email.policy
import functools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import EASTERN_WINDOWS_VTIMEZONE
from icalendar import Calendar, Component

ical = pytest.importorskip("connectors.ical", reason="connectors/ical.py is not in the tree yet")

from connectors.itip import (  # noqa: E402
    decline_message_id,
    declined_copy,
    imip_reply_message,
    reply_calendar,
)
from daemon.templates import load_templates  # noqa: E402
from rules.invitations import Decline, decide, explanation, my_attendee  # noqa: E402
from rules.model import (  # noqa: E402
    BookingPolicy,
    CalendarItem,
    Freelancer,
    Hours,
    InvitePolicy,
    Policy,
    TimeRange,
)
from rules.recurrence import MIN_SERIES_OCCURRENCES  # noqa: E402

TEMPLATES = load_templates()

# the series threshold is the caller's policy (rules.recurrence)
calendar_items = functools.partial(ical.calendar_items, min_occurrences=MIN_SERIES_OCCURRENCES)

TORONTO = ZoneInfo("America/Toronto")
NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
ME = "alice@example.org"
ADDRESSES = frozenset({ME})
HORIZON = NOW + timedelta(days=60)

VTZ_EASTERN = EASTERN_WINDOWS_VTIMEZONE

# Folded as RFC 5545 §3.1 allows, so the parser's unfolding is exercised too.
PEOPLE = """ORGANIZER;CN="Bob, the Organizer";SENT-BY="mailto:assistant@example.com":
 mailto:bob@example.com
ATTENDEE;CN=Alice Martin;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;ROLE=REQ-PARTICIPANT:
 MAILTO:Alice@Example.org
ATTENDEE;CN=Carl;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:carl@example.com
"""

SINGLE = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Organizer//EN
METHOD:REQUEST
BEGIN:VTIMEZONE
TZID:Europe/Paris
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:single-1@example.com
SEQUENCE:3
DTSTAMP:20260301T100000Z
DTSTART;TZID=Europe/Paris:20260307T160000
DTEND;TZID=Europe/Paris:20260307T170000
SUMMARY:Saturday review
{PEOPLE}BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Reminder
TRIGGER:-PT15M
END:VALARM
END:VEVENT
END:VCALENDAR
"""

SERIES = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
METHOD:REQUEST
{VTZ_EASTERN}BEGIN:VEVENT
UID:series-1@example.com
SEQUENCE:1
DTSTAMP:20260301T100000Z
DTSTART;TZID=Eastern Standard Time:20260307T100000
DTEND;TZID=Eastern Standard Time:20260307T110000
RRULE:FREQ=WEEKLY;COUNT=10
SUMMARY:Weekly sync
{PEOPLE}END:VEVENT
BEGIN:VEVENT
UID:series-1@example.com
RECURRENCE-ID;TZID=Eastern Standard Time:20260321T100000
SEQUENCE:1
DTSTAMP:20260301T100000Z
DTSTART;TZID=Eastern Standard Time:20260322T100000
DTEND;TZID=Eastern Standard Time:20260322T113000
SUMMARY:Weekly sync (Sunday this time)
{PEOPLE}END:VEVENT
END:VCALENDAR
"""

ALL_DAY = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Organizer//EN
METHOD:REQUEST
BEGIN:VEVENT
UID:allday-1@example.com
SEQUENCE:0
DTSTAMP:20260301T100000Z
DTSTART;VALUE=DATE:20260305
DTEND;VALUE=DATE:20260306
RRULE:FREQ=WEEKLY;COUNT=6
SUMMARY:Offsite day
{PEOPLE}END:VEVENT
BEGIN:VEVENT
UID:allday-1@example.com
RECURRENCE-ID;VALUE=DATE:20260319
SEQUENCE:0
DTSTAMP:20260301T100000Z
DTSTART;VALUE=DATE:20260321
DTEND;VALUE=DATE:20260322
SUMMARY:Offsite day (moved to Saturday)
{PEOPLE}END:VEVENT
END:VCALENDAR
"""


def crlf(text: str) -> bytes:
    return text.strip().replace("\n", "\r\n").encode() + b"\r\n"


def make_policy(email_address: str = ME, zone: str = "America/Toronto") -> Policy:
    split = (TimeRange(time(9), time(12)), TimeRange(time(13), time(17)))
    return Policy(
        Freelancer("Alice Martin", email_address, timezone=zone, language="en"),
        Hours({0: split, 1: split, 3: split}),
        BookingPolicy(min_notice_hours=0),
        InvitePolicy(decline_outside_hours=True, decline_conflicts=True),
    )


def items_of(raw: bytes, now: datetime = NOW) -> list[CalendarItem]:
    return list(calendar_items(raw, now, now + timedelta(days=60), TORONTO))


def item_for(raw: bytes, *, instance: bool) -> CalendarItem:
    items = items_of(raw)
    return next(i for i in items if (i.recurrence_id is not None) == instance)


def vevents(cal: Component) -> list[Component]:
    return list(cal.walk("VEVENT"))


def listed(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def request_vevent(raw: bytes, item: CalendarItem) -> Component:
    for ev in vevents(ical.parse_calendar(raw)):
        rid = ev.get("RECURRENCE-ID")
        if str(ev.get("UID", "")) == item.uid and (rid is None) == (item.recurrence_id is None):
            return ev
    raise AssertionError("no matching VEVENT in the request")


def params(prop: object) -> dict[str, str]:
    return {k.upper(): str(v) for k, v in getattr(prop, "params", {}).items()}


def assert_reply_rules(
    reply: bytes, request: Component, address: str, comment: str, now: datetime = NOW
) -> Component:
    """Every REPLY rule of STANDARDS §2 / RFC 5546 §3.2.3, one assert each."""
    cal = Calendar.from_ical(reply)
    assert str(cal["METHOD"]) == "REPLY"
    assert str(cal.get("PRODID", "")).strip()
    assert str(cal["VERSION"]) == "2.0"
    events = vevents(cal)
    assert len(events) == 1
    ev = events[0]
    assert str(ev["UID"]) == str(request["UID"])
    # ORGANIZER as in the request, its parameters kept (SCHEDULE-* never goes out: RFC 6638 §7.1).
    organizer = listed(request["ORGANIZER"])[0]
    assert str(ev["ORGANIZER"]) == str(organizer)
    expected = {k: v for k, v in params(organizer).items() if not k.startswith("SCHEDULE-")}
    assert params(ev["ORGANIZER"]) == expected
    # Exactly one ATTENDEE: the freelancer, DECLINED, with their CN.
    attendees = listed(ev.get("ATTENDEE"))
    assert len(attendees) == 1
    (attendee,) = attendees
    value = str(attendee)
    assert value[value.lower().rfind("mailto:") + len("mailto:") :].lower() == address
    assert params(attendee)["PARTSTAT"] == "DECLINED"
    theirs = [a for a in listed(request.get("ATTENDEE")) if str(a).lower().endswith(address)]
    if theirs and "CN" in params(theirs[0]):
        assert params(attendee)["CN"] == params(theirs[0])["CN"]
    assert "RSVP" not in params(attendee)
    # SEQUENCE equal to the request's, never incremented (RFC 5546 §2.1.4).
    assert int(ev.get("SEQUENCE", 0)) == int(request.get("SEQUENCE", 0))
    assert ev.decoded("DTSTAMP") == now.astimezone(UTC)
    assert ev["DTSTAMP"].to_ical().endswith(b"Z")
    # RECURRENCE-ID only for an instance, same value type and TZID as the organizer's.
    if "RECURRENCE-ID" in request:
        assert ev["RECURRENCE-ID"].to_ical() == request["RECURRENCE-ID"].to_ical()
        assert params(ev["RECURRENCE-ID"]) == params(request["RECURRENCE-ID"])
    else:
        assert "RECURRENCE-ID" not in ev
    for name in ("DTSTART", "DTEND", "DURATION"):
        if name in request:
            assert ev[name].to_ical() == request[name].to_ical()
            assert params(ev[name]).get("TZID") == params(request[name]).get("TZID")
    # A VTIMEZONE for every TZID used; no VALARM; the COMMENT carries the message.
    assert cal.get_missing_tzids() == set()
    assert not list(cal.walk("VALARM"))
    assert str(ev.get("COMMENT", "")) == comment
    return ev


# --- The REPLY ----------------------------------------------------------------------------------


def test_reply_single_event_rfc5546_3_2_3() -> None:
    raw = crlf(SINGLE)
    item = item_for(raw, instance=False)
    reply = reply_calendar(raw, item, ME, "Saturday 10:00 is outside", NOW)
    ev = assert_reply_rules(reply, request_vevent(raw, item), ME, "Saturday 10:00 is outside")
    assert int(ev["SEQUENCE"]) == 3
    assert params(ev["ATTENDEE"])["CN"] == "Alice Martin"
    assert str(ev["ATTENDEE"]) == "MAILTO:Alice@Example.org"  # the organizer's spelling
    assert b"Carl" not in reply and b"carl@" not in reply
    tzids = {str(tz["TZID"]) for tz in Calendar.from_ical(reply).walk("VTIMEZONE")}
    assert tzids == {"Europe/Paris"}


def test_reply_whole_series_has_no_recurrence_id() -> None:
    raw = crlf(SERIES)
    item = item_for(raw, instance=False)
    assert item.recurring
    reply = reply_calendar(raw, item, ME, "", NOW)
    ev = assert_reply_rules(reply, request_vevent(raw, item), ME, "")
    assert "COMMENT" not in ev
    # The VTIMEZONE is the request's own, copied, not a generated one.
    (tz,) = Calendar.from_ical(reply).walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Eastern Standard Time"
    assert "COMMENT" not in tz


def test_reply_instance_with_tzid_recurrence_id() -> None:
    raw = crlf(SERIES)
    item = item_for(raw, instance=True)
    reply = reply_calendar(raw, item, ME, "Sunday is not a working day", NOW)
    assert_reply_rules(reply, request_vevent(raw, item), ME, "Sunday is not a working day")
    assert b"RECURRENCE-ID;TZID=Eastern Standard Time:20260321T100000" in reply


def test_reply_instance_with_value_date_recurrence_id() -> None:
    raw = crlf(ALL_DAY)
    item = item_for(raw, instance=True)
    reply = reply_calendar(raw, item, ME, "x", NOW)
    ev = assert_reply_rules(reply, request_vevent(raw, item), ME, "x")
    assert ev.decoded("RECURRENCE-ID") == date(2026, 3, 19)
    assert b"RECURRENCE-ID;VALUE=DATE:20260319" in reply
    assert not Calendar.from_ical(reply).walk("VTIMEZONE")


def test_reply_generates_vtimezone_when_request_has_none() -> None:
    raw = crlf(
        SINGLE.split("BEGIN:VTIMEZONE")[0] + "BEGIN:VEVENT" + SINGLE.split("BEGIN:VEVENT")[1]
    )
    assert b"VTIMEZONE" not in raw
    item = item_for(raw, instance=False)
    reply = reply_calendar(raw, item, ME, "x", NOW)
    assert_reply_rules(reply, request_vevent(raw, item), ME, "x")
    (tz,) = Calendar.from_ical(reply).walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/Paris"


def test_reply_never_carries_schedule_agent_rfc6638_7_1() -> None:
    stored = crlf(SINGLE.replace("ORGANIZER;", "ORGANIZER;SCHEDULE-AGENT=CLIENT;"))
    item = item_for(stored, instance=False)
    reply = reply_calendar(stored, item, ME, "x", NOW)
    assert b"SCHEDULE-AGENT" not in reply
    assert b"SENT-BY" in reply


def test_reply_to_the_item_revision_with_its_sequence_rfc5546_2_1_5() -> None:
    older = SINGLE.replace("SEQUENCE:3", "SEQUENCE:2").replace("T160000", "T150000")
    both = crlf(SINGLE + older)
    # Two VCALENDARs of one UID: the reply follows the item's revision.
    item = item_for(crlf(SINGLE), instance=False)
    reply = reply_calendar(both, item, ME, "x", NOW)
    assert int(vevents(Calendar.from_ical(reply))[0]["SEQUENCE"]) == 3


def test_reply_refuses_naive_now() -> None:
    raw = crlf(SINGLE)
    with pytest.raises(ValueError):
        reply_calendar(raw, item_for(raw, instance=False), ME, "x", datetime(2026, 3, 2))


# --- The iMIP message ---------------------------------------------------------------------------


def build_message(**overrides: object) -> email.message.EmailMessage:
    raw = crlf(SINGLE)
    calendar = reply_calendar(raw, item_for(raw, instance=False), ME, "x", NOW)
    args: dict[str, object] = {
        "from_address": ME,
        "from_name": "Alice Martin",
        "to_address": "bob@example.com",
        "subject": "Declined: Saturday review",
        "text": "Hello Bob,\n\nI am sorry, I cannot attend.\n\nAlice Martin\n",
        "calendar": calendar,
        "message_id": decline_message_id("single-1@example.com", None, 3, "example.org"),
        "now": NOW,
        "in_reply_to": "<invite-1@example.com>",
    }
    args.update(overrides)
    return imip_reply_message(**args)  # type: ignore[arg-type]


def reparsed(msg: email.message.EmailMessage) -> email.message.EmailMessage:
    wire = msg.as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_imip_message_structure_rfc6047() -> None:
    msg = reparsed(build_message())
    assert msg.get_content_type() == "multipart/alternative"
    text, cal = msg.get_payload()  # type: ignore[misc]
    assert text.get_content_type() == "text/plain"
    assert text.get_content_charset() == "utf-8"
    assert "I am sorry, I cannot attend." in text.get_content()
    assert cal.get_content_type() == "text/calendar"
    assert cal.get_param("method") == "REPLY"
    assert cal.get_content_charset() == "utf-8"
    body = cal.get_payload(decode=True)
    parsed = Calendar.from_ical(body)
    assert str(parsed["METHOD"]) == "REPLY"  # the MIME method equals the calendar's METHOD


def test_imip_message_headers_rfc3834() -> None:
    msg = reparsed(build_message())
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["From"].addresses[0].addr_spec == ME
    assert msg["From"].addresses[0].display_name == "Alice Martin"
    assert msg["To"].addresses[0].addr_spec == "bob@example.com"
    assert msg["Subject"] == "Declined: Saturday review"
    assert msg["Message-ID"] == decline_message_id("single-1@example.com", None, 3, "example.org")
    assert msg["In-Reply-To"] == "<invite-1@example.com>"
    assert msg["References"] == "<invite-1@example.com>"
    assert msg["Date"].datetime == NOW
    assert msg["MIME-Version"] == "1.0"
    assert all(part["MIME-Version"] is None for part in msg.iter_parts())


def test_imip_message_without_in_reply_to() -> None:
    msg = reparsed(build_message(in_reply_to=None))
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_imip_message_non_ascii_text_and_names() -> None:
    msg = reparsed(
        build_message(from_name="Zoé Lévesque", subject="Refusé : réunion", text="Désolée.\n")
    )
    assert msg["From"].addresses[0].display_name == "Zoé Lévesque"
    assert msg["Subject"] == "Refusé : réunion"
    assert msg.get_payload()[0].get_content().rstrip() == "Désolée."  # type: ignore[index]


def test_imip_message_refuses_an_address_that_is_not_one() -> None:
    with pytest.raises(ValueError, match=r"email address|cannot be written"):
        build_message(to_address="meeting room@example.com")


def test_imip_message_has_no_header_injection() -> None:
    msg = build_message(
        subject="Declined\r\nBcc: victim@example.net",
        from_name="Alice\nBcc: victim@example.net",
        in_reply_to="<a@b>\r\nX-Evil: 1",
        message_id="<m@example.org>\nX-Evil: 2",
    )
    wire = msg.as_bytes(policy=email.policy.SMTP)
    headers = wire.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^(bcc|x-evil):", headers)
    assert reparsed(msg)["Bcc"] is None


# --- The Message-ID -----------------------------------------------------------------------------


def test_reply_message_id_is_deterministic_rfc5322() -> None:
    first = decline_message_id("uid-1", None, 0, "example.org")
    assert first == decline_message_id("uid-1", None, 0, "example.org")
    assert re.fullmatch(r"<[A-Za-z0-9.]+@example\.org>", first)
    others = {
        decline_message_id("uid-1", None, 1, "example.org"),
        decline_message_id("uid-1", "20260314T150000Z", 0, "example.org"),
        decline_message_id("uid-2", None, 0, "example.org"),
    }
    assert first not in others and len(others) == 3


def test_reply_message_id_sanitizes_the_domain() -> None:
    got = decline_message_id("u", None, 0, "Example.ORG>\r\nX: y")
    assert re.fullmatch(r"<[A-Za-z0-9.]+@example\.orgxy>", got)
    assert decline_message_id("u", None, 0, "").endswith("@frontdesk.invalid>")


# --- The stored copy ----------------------------------------------------------------------------


def content_lines(component: Component) -> list[tuple[str, bytes, dict[str, str]]]:
    return [(name, prop.to_ical(), params(prop)) for name, prop in property_list(component)]


def property_list(component: Component) -> Iterator[tuple[str, object]]:
    for name, value in component.items():
        for prop in listed(value):
            yield name, prop


def assert_only_partstat_changed(
    before: bytes, after: bytes, changed: set[tuple[str, str | None]], *, agent: bool
) -> None:
    """Compare property by property; `changed` names the (UID, RECURRENCE-ID text) VEVENTs
    whose freelancer ATTENDEE must now be DECLINED."""
    old, new = Calendar.from_ical(before), Calendar.from_ical(after)
    assert "METHOD" in old and "METHOD" not in new  # RFC 4791 §4.1
    assert {k: v for k, v in old.items() if k != "METHOD"}.keys() == dict(new.items()).keys()
    old_parts, new_parts = list(old.walk()), list(new.walk())
    assert [c.name for c in old_parts] == [c.name for c in new_parts]
    for a, b in zip(old_parts, new_parts, strict=True):
        rid = b.get("RECURRENCE-ID")
        key = (str(b.get("UID", "")), None if rid is None else rid.to_ical().decode())
        for (name, va, pa), (name_b, vb, pb) in zip(
            content_lines(a) if a is not old else [],
            content_lines(b) if b is not new else [],
            strict=True,
        ):
            assert name == name_b and va == vb
            if name == "ATTENDEE" and vb.decode().lower().endswith(ME) and key in changed:
                assert pb["PARTSTAT"] == "DECLINED"
                assert {k: v for k, v in pa.items() if k != "PARTSTAT"} == {
                    k: v for k, v in pb.items() if k != "PARTSTAT"
                }
            elif name == "ORGANIZER" and agent:
                assert pb == {**pa, "SCHEDULE-AGENT": "CLIENT"}
            else:
                assert pa == pb, (name, pa, pb)


def test_declined_copy_single_changes_only_partstat_and_strips_method() -> None:
    raw = crlf(SINGLE)
    item = item_for(raw, instance=False)
    after = declined_copy(raw, item, ADDRESSES, schedule_agent_client=False)
    assert_only_partstat_changed(raw, after, {("single-1@example.com", None)}, agent=False)
    ev = vevents(Calendar.from_ical(after))[0]
    assert int(ev["SEQUENCE"]) == 3
    assert "RSVP=TRUE" in ev["ATTENDEE"][0].params.to_ical().decode()
    assert b"SCHEDULE-AGENT" not in after
    assert list(Calendar.from_ical(after).walk("VALARM"))  # the freelancer's alarm stays


def test_declined_copy_adds_schedule_agent_client_on_every_organizer_rfc6638() -> None:
    raw = crlf(SERIES)
    item = item_for(raw, instance=False)
    after = declined_copy(raw, item, ADDRESSES, schedule_agent_client=True)
    assert_only_partstat_changed(raw, after, {("series-1@example.com", None)}, agent=True)
    organizers = [ev["ORGANIZER"] for ev in vevents(Calendar.from_ical(after))]
    assert len(organizers) == 2
    assert all(o.params["SCHEDULE-AGENT"] == "CLIENT" for o in organizers)


def test_declined_copy_of_an_instance_changes_only_its_override() -> None:
    raw = crlf(SERIES)
    item = item_for(raw, instance=True)
    after = declined_copy(raw, item, ADDRESSES, schedule_agent_client=False)
    rid = "20260321T100000"
    assert_only_partstat_changed(raw, after, {("series-1@example.com", rid)}, agent=False)
    master, override = vevents(Calendar.from_ical(after))
    assert master["ATTENDEE"][0].params["PARTSTAT"] == "NEEDS-ACTION"
    assert override["ATTENDEE"][0].params["PARTSTAT"] == "DECLINED"


def test_declined_copy_of_an_all_day_instance() -> None:
    raw = crlf(ALL_DAY)
    item = item_for(raw, instance=True)
    after = declined_copy(raw, item, ADDRESSES, schedule_agent_client=False)
    assert_only_partstat_changed(raw, after, {("allday-1@example.com", "20260319")}, agent=False)


def test_declined_copy_of_an_instance_without_override_adds_one_rfc5545_3_8_4_4() -> None:
    raw = crlf(SERIES)
    master = item_for(raw, instance=False)
    second = master.occurrences[1]  # 14 March 10:00 Eastern, no override yet
    rid = second.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    item = CalendarItem(uid=master.uid, recurrence_id=rid, sequence=master.sequence)
    after = declined_copy(raw, item, ADDRESSES, schedule_agent_client=False)
    events = vevents(Calendar.from_ical(after))
    assert len(events) == 3
    added = events[-1]
    assert added["RECURRENCE-ID"].to_ical() == b"20260314T100000"
    assert params(added["RECURRENCE-ID"]) == {"TZID": "Eastern Standard Time"}
    assert added["DTSTART"].to_ical() == b"20260314T100000"
    assert added["DTEND"].to_ical() == b"20260314T110000"
    assert "RRULE" not in added
    assert int(added["SEQUENCE"]) == 1
    mine = [a for a in added["ATTENDEE"] if str(a).lower().endswith(ME)]
    assert mine[0].params["PARTSTAT"] == "DECLINED"
    assert events[0]["ATTENDEE"][0].params["PARTSTAT"] == "NEEDS-ACTION"
    # The organizer's client would read the same instance from a REPLY built alike.
    reply = reply_calendar(raw, item, ME, "x", NOW)
    assert b"RECURRENCE-ID;TZID=Eastern Standard Time:20260314T100000" in reply


def test_declined_copy_refuses_an_item_that_is_not_there() -> None:
    raw = crlf(SINGLE)
    with pytest.raises(ValueError):
        declined_copy(raw, CalendarItem(uid="other"), ADDRESSES, schedule_agent_client=False)


# --- The whole path over the corpus ------------------------------------------------------------


def corpus_objects(corpus: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted((corpus / "ics").glob("*.ics")):
        yield path.name, path.read_bytes()
    for path in sorted((corpus / "eml").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        for n, part in enumerate(msg.walk()):
            if part.get_content_type() == "text/calendar":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes) and payload.strip():
                    yield f"{path.name}#{n}", payload


def earliest_start(raw: bytes) -> datetime | None:
    """Just before the object's first DTSTART, so its invitations are still in the future."""
    try:
        cal = ical.parse_calendar(raw)
    except ical.MalformedObject:
        return None
    found = []
    for ev in cal.walk("VEVENT"):
        try:
            value = ev.decoded("DTSTART")
        except Exception:  # a broken DTSTART: calendar_items says what it thinks of it
            continue
        if isinstance(value, datetime):
            found.append(value if value.tzinfo else value.replace(tzinfo=UTC))
        elif isinstance(value, date):
            found.append(datetime.combine(value, time(), UTC))
    found = [f for f in found if f.year > 1900]
    return min(found) - timedelta(days=1) if found else None


@pytest.mark.corpus
def test_corpus_objects_with_an_organizer_go_through_the_whole_path(corpus: Path) -> None:
    seen = declines = 0
    for name, raw in corpus_objects(corpus):
        if b"ORGANIZER" not in raw.upper():
            continue
        now = earliest_start(raw) or NOW
        try:
            items = items_of(raw, now)
        except ical.MalformedObject:
            continue
        for item in items:
            if not item.organizer or not item.attendees:
                continue
            seen += 1
            # The first attendee who is not also the organizer, so there is someone to decline.
            guest = next((a for a in item.attendees if a.address != item.organizer), None)
            address = (guest or item.attendees[0]).address or "nobody@invalid"
            policy = make_policy(email_address=address)
            decision = decide(item, policy, [], now)
            if not isinstance(decision, Decline):
                continue
            declines += 1
            attendee = my_attendee(item, policy.freelancer.addresses)
            assert attendee is not None, name
            subject, body = explanation(decision, policy, "fr", templates=TEMPLATES)
            assert subject and body
            reply = reply_calendar(raw, item, attendee.address, decision.reason, now)
            request = request_vevent(raw, item)
            ev = assert_reply_rules(reply, request, attendee.address, decision.reason, now)
            assert int(ev.get("SEQUENCE", 0)) == item.sequence, name
            stored = declined_copy(
                raw, item, policy.freelancer.addresses, schedule_agent_client=True
            )
            assert b"METHOD:" not in stored, name
            try:
                imip_reply_message(
                    from_address=ME,
                    from_name="Alice",
                    to_address=item.organizer,
                    subject=subject,
                    text=body,
                    calendar=reply,
                    message_id=decline_message_id(item.uid, item.recurrence_id, item.sequence, "x"),
                    now=now,
                ).as_bytes()
            except ValueError as error:  # an ORGANIZER that is no mail address: said clearly
                assert re.search("email address|cannot be written", str(error)), name
    assert seen >= 10
    assert declines >= 5
