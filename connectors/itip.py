"""iTIP/iMIP artefacts for declining an invitation: the REPLY, its email, the stored copy.

Everything is built with icalendar and the email package, never by joining iCalendar text:
- `reply_calendar`: the iTIP REPLY (RFC 5546 §3.2.3) declining one item;
- `imip_reply_message`: the iMIP email carrying it (RFC 6047), as an automatic reply (RFC 3834);
- `declined_copy`: the freelancer's stored copy with only their PARTSTAT changed (RFC 4791 §4.1,
  RFC 6638 §3.2.2 and §7.1 for SCHEDULE-AGENT);
- `decline_message_id`: the deterministic Message-ID the daemon records before sending;
- `cancelled_copy`, `moved_copy`, `partstat_copy`, `flagged_copy`, `event_facts`: changing and
  checking the stored copy of an appointment frontdesk booked (it is the ORGANIZER);
- `read_answers`: clients' iTIP answers (REPLY, COUNTER, REFRESH...) to those appointments.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component, Event, Timezone, vCalAddress
from icalendar.parser import Contentline, Contentlines
from icalendar.prop import vBroken, vCategory, vText

from connectors.ical import MalformedObject, parse_calendar
from connectors.ical.expansion import _check, _Event
from connectors.ical.items import _recurrence_id
from connectors.ical.values import _first, _is_date, _props
from connectors.outbound import set_mailbox
from rules.model import CalendarItem

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_ANSWER_COMPONENTS",
    "MAX_COMMENT_CHARS",
    "AttendeeAnswer",
    "EventFacts",
    "booking_calendars",
    "booking_message_id",
    "cancelled_copy",
    "decline_message_id",
    "declined_copy",
    "event_facts",
    "flagged_copy",
    "imip_reply_message",
    "imip_request_message",
    "moved_copy",
    "partstat_copy",
    "read_answers",
    "reply_calendar",
]

log = logging.getLogger(__name__)

# RFC 6638 §7: these parameters steer a CalDAV server; RFC 6638 §7.1 says a client MUST NOT put
# SCHEDULE-AGENT in a scheduling message it sends, and the others mean nothing there either.
_SCHEDULE_PARAMS = ("SCHEDULE-AGENT", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND")
# Properties that make a VEVENT a series: an override VEVENT built from a master drops them.
_SERIES_PROPS = ("RRULE", "RDATE", "EXDATE", "EXRULE")


# --- Reading the object -------------------------------------------------------------------------


def _address(value: object) -> str:
    """As connectors.ical reads an address: after the last "mailto:" (a broken line can carry
    parameters in the value), lower-cased."""
    text = str(value).strip()
    at = text.lower().rfind("mailto:")
    return (text[at + len("mailto:") :] if at >= 0 else text).strip().lower()


def _listed(value: object) -> list[vCalAddress]:
    """icalendar gives one property as itself and several as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]  # type: ignore[list-item]


def _line_name(line: str) -> str:
    return line.split(":", 1)[0].split(";", 1)[0].strip().upper()


def _text(raw: bytes | str) -> str:
    """As connectors.ical reads it: UTF-8, or line by line Windows-1252/Latin-1 where it fails,
    so a TZID here is spelled as in the events it parsed."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        lines = []
        for line in raw.split(b"\n"):
            for codec in ("utf-8", "cp1252", "latin-1"):
                try:
                    lines.append(line.decode(codec))
                    break
                except UnicodeDecodeError:
                    continue
        return "\n".join(lines)


def _vtimezones(raw: bytes | str) -> list[Timezone]:
    """The object's VTIMEZONE components, in order, duplicates kept.

    connectors.ical.parse_calendar sets them apart (icalendar would cache each one process-wide
    under its TZID, and one sender's "Customized Time Zone" would then shift everyone's), so they
    are parsed here one by one without their TZID line, which is put back afterwards: icalendar
    caches only a VTIMEZONE that has a TZID when its END is read.
    """
    zones: list[Timezone] = []
    block: list[str] = []
    depth = 0
    lines: list[str] = list(Contentlines.from_ical(_text(raw).lstrip("\ufeff")))  # type: ignore[no-untyped-call]
    for line in lines:
        name = _line_name(line)
        if not block and not (
            name == "BEGIN" and line.split(":", 1)[-1].strip().upper() == "VTIMEZONE"
        ):
            continue
        block.append(line)
        depth += {"BEGIN": 1, "END": -1}.get(name, 0)
        if depth > 0:
            continue
        tzids = [x for x in block if _line_name(x) == "TZID"]
        rest = [x for x in block if _line_name(x) != "TZID"]
        block = []
        try:
            parsed: Any = Timezone.from_ical("\r\n".join(rest) + "\r\n")
            tzid = str(Contentline(tzids[0]).parts()[2]) if tzids else ""  # type: ignore[no-untyped-call]
        except Exception as error:  # icalendar raises ValueError, KeyError... on broken zones
            log.info("Left out an unreadable VTIMEZONE: %s", error)
            continue
        if not isinstance(parsed, Timezone) or not tzid.strip():
            continue
        zone = Timezone()
        zone.add("TZID", tzid)  # first, where every writer puts it
        for key, prop in parsed.items():
            zone[key] = prop
        zone.subcomponents = parsed.subcomponents
        zones.append(zone)
    return zones


def _read(raw: bytes | str) -> Calendar:
    """The object as connectors.ical reads it (tolerant, its own zones), VTIMEZONEs put back."""
    cal = parse_calendar(raw)
    cal.subcomponents[0:0] = _vtimezones(raw)
    return cal


# --- Finding the VEVENT an item came from -------------------------------------------------------


def _item_zone(item: CalendarItem) -> tzinfo:
    """The zone connectors.ical read floating times in: the freelancer's, carried by the item."""
    for value in (item.start, *(o.start for o in item.occurrences)):
        if value is not None and value.tzinfo is not None:
            return value.tzinfo
    return UTC


def _rid_text(prop: object, zone: tzinfo, all_day: bool) -> str | None:
    """A RECURRENCE-ID as connectors.ical spells CalendarItem.recurrence_id: UTC
    'YYYYMMDDTHHMMSSZ', or 'YYYYMMDD' for a date or for an all-day item."""
    value = getattr(prop, "dt", None)
    if isinstance(value, datetime) and not all_day:
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return aware.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if isinstance(value, date):
        return f"{value.year:04d}{value.month:02d}{value.day:02d}"
    return None


def _rid_value(text: str) -> datetime | date:
    """CalendarItem.recurrence_id back as a value: aware UTC, or a date."""
    value = text.strip()
    if re.fullmatch(r"\d{8}", value):
        return datetime.strptime(value, "%Y%m%d").date()
    if re.fullmatch(r"\d{8}T\d{6}Z", value):
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(value)  # ValueError for anything else
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _events(cal: Calendar, uid: str) -> list[Component]:
    return [c for c in cal.walk("VEVENT") if str(c.get("UID", "")) == uid]


def _sequence(component: Component) -> int:
    try:
        return int(component.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        return 0


def _find(cal: Calendar, item: CalendarItem, recurrence_id: str | None) -> Component | None:
    """The VEVENT for UID + RECURRENCE-ID; among several revisions, the one with the item's
    SEQUENCE, else the highest (RFC 5546 §2.1.5)."""
    zone = _item_zone(item)
    found = [
        c
        for c in _events(cal, item.uid)
        if (
            c.get("RECURRENCE-ID") is None
            if recurrence_id is None
            else _rid_text(c.get("RECURRENCE-ID"), zone, item.all_day) == recurrence_id
        )
    ]
    if not found:
        return None
    exact = [c for c in found if _sequence(c) == item.sequence]
    return (exact or sorted(found, key=_sequence))[-1]


def _instance_from_master(master: Component, item: CalendarItem) -> Component:
    """An override VEVENT for one occurrence of `master` (RFC 5545 §3.8.4.4): a copy of the
    master without its recurrence rules, with RECURRENCE-ID of the master DTSTART's value type
    and TZID, and the occurrence's own start and end."""
    assert item.recurrence_id is not None
    start_prop: Any = master.get("DTSTART")
    if start_prop is None:
        raise ValueError(f"cannot place instance {item.recurrence_id!r} of {item.uid!r}")
    wanted = _rid_value(item.recurrence_id)
    start = start_prop.dt
    value: date | datetime
    if isinstance(start, datetime):
        if not isinstance(wanted, datetime):
            wanted = datetime.combine(wanted, time(), UTC)
        if start.tzinfo is not None:
            value = wanted.astimezone(start.tzinfo)
        else:  # floating: the wall time where connectors.ical read it
            value = wanted.astimezone(_item_zone(item)).replace(tzinfo=None)
    else:
        value = (
            wanted.astimezone(_item_zone(item)).date() if isinstance(wanted, datetime) else wanted
        )

    instance = copy.deepcopy(master)
    for name in (*_SERIES_PROPS, "RECURRENCE-ID", "DTSTART", "DTEND", "DURATION"):
        instance.pop(name, None)
    params = {k: v for k, v in start_prop.params.items() if k.upper() in ("TZID", "VALUE")}
    instance.add("RECURRENCE-ID", value, parameters=params)
    instance.add("DTSTART", value, parameters=params)
    if "DURATION" in master:
        instance["DURATION"] = copy.deepcopy(master["DURATION"])
    elif "DTEND" in master:
        end_prop: Any = master["DTEND"]
        end_value = value + (end_prop.dt - start)
        end_tz = getattr(end_prop.dt, "tzinfo", None)
        if isinstance(end_value, datetime) and end_value.tzinfo is not None and end_tz is not None:
            end_value = end_value.astimezone(end_tz)
        end_params = {k: v for k, v in end_prop.params.items() if k.upper() in ("TZID", "VALUE")}
        instance.add("DTEND", end_value, parameters=end_params)
    return instance


def _target(cal: Calendar, item: CalendarItem) -> tuple[Component, bool]:
    """The VEVENT concerned by declining `item`, and whether it had to be made from the master."""
    found = _find(cal, item, item.recurrence_id)
    if found is not None:
        return found, False
    if item.recurrence_id is not None:
        master = _find(cal, item, None)
        if master is not None:
            return _instance_from_master(master, item), True
    what = item.uid if item.recurrence_id is None else f"{item.uid} ({item.recurrence_id})"
    raise ValueError(f"no VEVENT {what} in the calendar object")


# --- The REPLY ----------------------------------------------------------------------------------


def _without_schedule_params(prop: vCalAddress) -> vCalAddress:
    params = {k: v for k, v in prop.params.items() if k.upper() not in _SCHEDULE_PARAMS}
    return vCalAddress(str(prop), params=params)


def _reply_attendee(source: Component, attendee_address: str) -> vCalAddress:
    """The freelancer's ATTENDEE as the organizer wrote it (same value, their CN), DECLINED."""
    wanted = _address(attendee_address)
    for prop in _listed(source.get("ATTENDEE")):
        if _address(prop) == wanted:
            params: dict[str, str] = {}
            if prop.params.get("CN"):
                params["CN"] = str(prop.params["CN"])
            params["PARTSTAT"] = "DECLINED"
            return vCalAddress(str(prop), params=params)
    return vCalAddress(f"mailto:{wanted}", params={"PARTSTAT": "DECLINED"})


def _dates_in(component: Component) -> Iterable[date]:
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        prop = component.get(name)
        value = getattr(prop, "dt", None)
        if isinstance(value, datetime):
            yield value.date()
        elif isinstance(value, date):
            yield value


def _add_timezones(reply: Calendar, request: Calendar, event: Component, now: datetime) -> None:
    """Every VTIMEZONE the reply uses (RFC 5546 §3.2.3): the request's own, else one generated
    from the zone database over the event's years when the TZID is known there."""
    used = reply.get_used_tzids()
    own = {str(tz.get("TZID", "")): tz for tz in request.walk("VTIMEZONE")}
    zones = [copy.deepcopy(own[tzid]) for tzid in sorted(used) if tzid in own]
    days = list(_dates_in(event)) or [now.date()]
    first = min(days) - timedelta(days=366)
    last = max(days) + timedelta(days=3 * 366)
    for tzid in sorted(used - own.keys()):
        try:
            zones.append(Timezone.from_tzid(tzid, first_date=first, last_date=last))
        except ValueError:
            log.warning("REPLY uses TZID %r that is neither in the request nor known", tzid)
    # VTIMEZONEs first, so a reader meets each zone before the times that use it.
    reply.subcomponents[0:0] = zones


def reply_calendar(
    request_raw: bytes | str,
    item: CalendarItem,
    attendee_address: str,
    comment: str,
    now: datetime,
    prodid: str = "-//frontdesk//EN",
) -> bytes:
    """The iTIP REPLY (RFC 5546 §3.2.3) declining `item` (a whole series or event, or the one
    instance it names) for `attendee_address`, as iCalendar bytes."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    request = _read(request_raw)
    source, _ = _target(request, item)
    if "ORGANIZER" not in source:
        raise ValueError(f"VEVENT {item.uid} has no ORGANIZER: there is no one to reply to")

    reply = Calendar()
    reply.add("PRODID", prodid)
    reply.add("VERSION", "2.0")
    reply.add("METHOD", "REPLY")
    event = Event()
    event.add("UID", str(source.get("UID", item.uid)))
    event.add("DTSTAMP", now.astimezone(UTC))
    # SEQUENCE is the request's, never incremented (RFC 5546 §2.1.4).
    event.add("SEQUENCE", _sequence(source))
    organizer = _listed(source["ORGANIZER"])[0]
    event["ORGANIZER"] = _without_schedule_params(organizer)
    event["ATTENDEE"] = _reply_attendee(source, attendee_address)
    if item.recurrence_id is not None:
        # Same value type and TZID as the organizer's (RFC 5546 §3.2.3).
        event["RECURRENCE-ID"] = copy.deepcopy(source["RECURRENCE-ID"])
    for name in ("DTSTART", "DTEND", "DURATION", "SUMMARY"):
        if name in source:
            event[name] = copy.deepcopy(source[name])
    if comment.strip():
        event.add("COMMENT", comment.strip())
    reply.add_component(event)
    _add_timezones(reply, request, event, now)
    # sorted=False keeps the order written above: UID first, as a person reading it expects.
    return bytes(reply.to_ical(sorted=False))


# --- The iMIP email -----------------------------------------------------------------------------


def _header(value: str) -> str:
    """One header value, on one line: CR and LF never reach a header (no injection)."""
    return " ".join(re.split(r"[\r\n]+", value)).strip()


def imip_reply_message(
    *,
    from_address: str,
    from_name: str,
    to_address: str,
    subject: str,
    text: str,
    calendar: bytes,
    message_id: str,
    now: datetime,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """The iMIP REPLY email (RFC 6047 §2.3, §3): multipart/alternative of the text and the
    text/calendar REPLY, marked as an automatic reply (RFC 3834 §3.1.7)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    msg = EmailMessage()
    set_mailbox(msg, "From", from_name, from_address)
    set_mailbox(msg, "To", "", to_address)
    msg["Subject"] = _header(subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = _header(message_id)
    if in_reply_to:
        msg["In-Reply-To"] = _header(in_reply_to)
        msg["References"] = _header(in_reply_to)
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(
        calendar.decode("utf-8"),
        subtype="calendar",
        charset="utf-8",
        params={"method": "REPLY"},
    )
    for part in msg.iter_parts():
        del part["MIME-Version"]  # add_alternative puts one on the part; it belongs on top only
    return msg


def decline_message_id(uid: str, recurrence_id: str | None, sequence: int, domain: str) -> str:
    """A deterministic RFC 5322 msg-id for the REPLY to one revision of one item, so a restart
    recognises a reply it already sent."""
    key = "\0".join((uid, recurrence_id or "", str(sequence)))
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    host = re.sub(r"[^A-Za-z0-9.-]", "", domain).strip(".-").lower() or "frontdesk.invalid"
    return f"<frontdesk.decline.{digest}@{host}>"


# --- The stored copy ----------------------------------------------------------------------------


def declined_copy(
    stored_raw: bytes | str,
    item: CalendarItem,
    addresses: frozenset[str],
    *,
    schedule_agent_client: bool,
) -> bytes:
    """The freelancer's stored copy with their ATTENDEE's PARTSTAT set to DECLINED.

    Only the VEVENT concerned changes: the master (whole series or single event), or the one
    override. Declining an instance that has no override yet adds one, copied from the master
    with RECURRENCE-ID (the only RFC 5545 way to give one occurrence its own PARTSTAT; an EXDATE
    would delete the meeting from the freelancer's view instead of recording the answer).
    SEQUENCE and RSVP are left alone, METHOD is stripped (RFC 4791 §4.1). With
    `schedule_agent_client`, every ORGANIZER gets SCHEDULE-AGENT=CLIENT (RFC 6638 §7.1: the same
    value on all of them) so a scheduling server does not send a second REPLY of its own.
    """
    cal = _read(stored_raw)
    cal.pop("METHOD", None)
    target, created = _target(cal, item)
    mine = {_address(a) for a in addresses}
    changed = 0
    for prop in _listed(target.get("ATTENDEE")):
        if _address(prop) in mine:
            prop.params["PARTSTAT"] = "DECLINED"
            changed += 1
    if not changed:
        raise ValueError(f"none of the freelancer's addresses is an ATTENDEE of {item.uid}")
    if created:
        cal.add_component(target)
    if schedule_agent_client:
        for component in cal.walk():
            for prop in _listed(component.get("ORGANIZER")):
                prop.params["SCHEDULE-AGENT"] = "CLIENT"
    # sorted=False keeps the properties in the order the server stored them.
    return bytes(cal.to_ical(sorted=False))


# --- Appointments frontdesk books ---------------------------------------------------------------


def _booking_vevent(*, uid: str, start: datetime, end: datetime, summary: str, description: str,
                    organizer: tuple[str, str], attendee: tuple[str, str], now: datetime,
                    sequence: int, status: str, schedule_agent_client: bool) -> Event:
    event = Event()
    event.add("UID", uid)
    event.add("DTSTAMP", now.astimezone(UTC))
    event.add("SEQUENCE", sequence)
    event.add("DTSTART", start)
    event.add("DTEND", end)
    event.add("SUMMARY", _header(summary))
    if description.strip():
        event.add("DESCRIPTION", description.strip())
    event.add("STATUS", status)
    event.add("TRANSP", "OPAQUE")
    who = vCalAddress(f"mailto:{organizer[1]}")
    if organizer[0]:
        who.params["CN"] = _header(organizer[0])
    event["ORGANIZER"] = who
    guest = vCalAddress(f"mailto:{attendee[1]}")
    if attendee[0]:
        guest.params["CN"] = _header(attendee[0])
    guest.params["ROLE"] = "REQ-PARTICIPANT"
    guest.params["PARTSTAT"] = "NEEDS-ACTION"
    guest.params["RSVP"] = "TRUE"
    if schedule_agent_client:
        # RFC 6638 §7.1: frontdesk sends the invitation itself; the server must not send another
        guest.params["SCHEDULE-AGENT"] = "CLIENT"
    event["ATTENDEE"] = guest
    return event


def booking_calendars(*, uid: str, start: datetime, end: datetime, summary: str,
                      description: str, organizer: tuple[str, str], attendee: tuple[str, str],
                      now: datetime, sequence: int = 0, status: str = "CONFIRMED",
                      schedule_agent_client: bool = False,
                      prodid: str = "-//frontdesk//EN") -> tuple[bytes, bytes]:
    """(the freelancer's stored copy, the iTIP REQUEST to the client) of one appointment.

    The stored copy has no METHOD (RFC 4791 §4.1); the REQUEST (RFC 5546 §3.2.2) carries
    METHOD:REQUEST, or METHOD:CANCEL with STATUS:CANCELLED. Both have the VTIMEZONE of the
    times' zone. `organizer` and `attendee` are (name, address).
    """
    if now.tzinfo is None or start.tzinfo is None or end.tzinfo is None:
        raise ValueError("now, start and end must be aware datetimes")
    made: list[bytes] = []
    method = "CANCEL" if status == "CANCELLED" else "REQUEST"
    for with_method in (False, True):
        cal = Calendar()
        cal.add("PRODID", prodid)
        cal.add("VERSION", "2.0")
        if with_method:
            cal.add("METHOD", method)
        event = _booking_vevent(uid=uid, start=start, end=end, summary=summary,
                                description=description, organizer=organizer, attendee=attendee,
                                now=now, sequence=sequence, status=status,
                                schedule_agent_client=schedule_agent_client and not with_method)
        cal.add_component(event)
        _add_timezones(cal, Calendar(), event, now)
        made.append(bytes(cal.to_ical(sorted=False)))
    return made[0], made[1]


def imip_request_message(
    *,
    from_address: str,
    from_name: str,
    to_address: str,
    to_name: str,
    subject: str,
    text: str,
    calendar: bytes,
    message_id: str,
    now: datetime,
    in_reply_to: str = "",
    references: Iterable[str] = (),
    method: str = "REQUEST",
) -> EmailMessage:
    """An appointment sent to the client (RFC 6047): multipart/mixed holding the text and the
    text/calendar with `method` as alternatives, and the same calendar as an invite.ics
    attachment, the shape Google, Outlook and Apple send and every calendar app reads."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    msg = EmailMessage()
    set_mailbox(msg, "From", from_name, from_address)
    set_mailbox(msg, "To", to_name, to_address)
    msg["Subject"] = _header(subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = _header(message_id)
    if in_reply_to:
        msg["In-Reply-To"] = _header(in_reply_to)
        thread = [_header(r) for r in references if r.strip()] + [_header(in_reply_to)]
        msg["References"] = " ".join(dict.fromkeys(thread))
    msg["Auto-Submitted"] = "auto-replied"
    body = EmailMessage()
    body.set_content(text, subtype="plain", charset="utf-8")
    body.add_alternative(calendar.decode("utf-8"), subtype="calendar", charset="utf-8",
                         params={"method": method})
    msg.make_mixed()
    msg.attach(body)
    msg.add_attachment(calendar, maintype="application", subtype="ics",
                       filename="invite.ics")
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # it belongs on the top part only
    return msg


def booking_message_id(uid: str, sequence: int, kind: str, domain: str) -> str:
    """A deterministic Message-ID for the email about one revision of one appointment."""
    digest = hashlib.sha256("\0".join((kind, uid, str(sequence))).encode()).hexdigest()[:32]
    host = re.sub(r"[^A-Za-z0-9.-]", "", domain).strip(".-").lower() or "frontdesk.invalid"
    return f"<frontdesk.{kind}.{digest}@{host}>"


# --- Changing an appointment frontdesk booked ---------------------------------------------------
#
# The stored copy may have been edited by the freelancer's calendar app since frontdesk wrote it:
# each change below touches only the properties it names and writes everything else back as read.

_TOKEN = re.compile(r"[A-Za-z0-9-]+")  # an iana-token or x-name (RFC 5545 §3.1), e.g. a PARTSTAT


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """Anything icalendar raises on odd data becomes MalformedObject: a caller handles one error
    for bytes it cannot use, whatever the library's internals tripped on."""
    try:
        yield
    except MalformedObject:
        raise
    except Exception as error:  # icalendar raises ValueError, KeyError, TypeError... on odd data
        log.debug("Cannot use %s", what, exc_info=True)
        raise MalformedObject(f"cannot use {what}: {error!r}") from error


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime")
    return value.astimezone(UTC)


def _appointment(cal: Calendar, uid: str) -> list[Component]:
    """The VEVENTs that are the appointment: its master, or, in an object holding only
    overrides of that UID, those; [] when the UID is not there."""
    found = _events(cal, uid)
    masters = [c for c in found if "RECURRENCE-ID" not in c]
    return masters or found


def _stored(
    raw: bytes | str, uid: str, *, every_vevent: bool = False
) -> tuple[Calendar, list[Component]]:
    """The stored copy without METHOD (RFC 4791 §4.1), and the appointment's VEVENTs (with
    `every_vevent`, its overrides too)."""
    cal = _read(raw)
    cal.pop("METHOD", None)
    found = _events(cal, uid) if every_vevent else _appointment(cal, uid)
    if not found:
        raise MalformedObject(f"no VEVENT with UID {uid!r} in the stored object")
    return cal, found


def _put(component: Component, name: str, value: object) -> None:
    """Set one property where it already stands, so the copy keeps the stored order."""
    scratch = Component()
    scratch.add(name, value)
    component[name] = scratch[name]


def _revised(component: Component, sequence: int, now: datetime) -> None:
    """An organizer's change: a new SEQUENCE (RFC 5546 §2.1.4), DTSTAMP and LAST-MODIFIED."""
    _put(component, "SEQUENCE", sequence)
    _put(component, "DTSTAMP", now)
    _put(component, "LAST-MODIFIED", now)


def _written(cal: Calendar) -> bytes:
    # sorted=False keeps the properties in the order the server stored them.
    return bytes(cal.to_ical(sorted=False))


def _valid_sequence(sequence: int) -> None:
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise ValueError(f"sequence must be a non-negative integer, got {sequence!r}")


def cancelled_copy(raw: bytes, uid: str, *, sequence: int, now: datetime) -> bytes:
    """The stored copy with appointment `uid` STATUS:CANCELLED at SEQUENCE `sequence`, DTSTAMP and
    LAST-MODIFIED `now` (UTC); everything else as stored.

    Every VEVENT of the UID is cancelled, overrides too: a calendar app may have split the
    appointment, and an override left CONFIRMED would still block the freelancer's time.
    Raises MalformedObject when the object cannot be read or has no VEVENT with that UID.
    """
    _valid_sequence(sequence)
    stamp = _aware_utc(now, "now")
    with _reading(f"the stored copy of {uid!r}"):
        cal, found = _stored(raw, uid, every_vevent=True)
        for event in found:
            _put(event, "STATUS", "CANCELLED")
            _revised(event, sequence, stamp)
        return _written(cal)


def _zone_of(value: datetime) -> tzinfo:
    """A zone that can be written as a TZID with its VTIMEZONE: a zoneinfo zone, or UTC."""
    zone = value.tzinfo
    if isinstance(zone, ZoneInfo) or zone is UTC:
        assert zone is not None
        return zone
    raise ValueError(f"start must be in a zoneinfo zone or UTC, not {zone!r}")


def _add_zones_of_times(cal: Calendar, event: Component, now: datetime) -> None:
    """The VTIMEZONE of the DTSTART/DTEND just written, when the copy has none of that TZID
    (made as booking_calendars makes it); other zones of the copy, used or missing, are left as
    the freelancer's app wrote them."""
    times = Calendar()
    times.add_component(Event({name: event[name] for name in ("DTSTART", "DTEND")}))
    _add_timezones(times, cal, event, now)
    have = {str(tz.get("TZID", "")) for tz in cal.walk("VTIMEZONE")}
    cal.subcomponents[0:0] = [
        tz for tz in times.walk("VTIMEZONE") if str(tz.get("TZID", "")) not in have
    ]


def moved_copy(
    raw: bytes, uid: str, *, start: datetime, end: datetime, sequence: int, now: datetime
) -> bytes:
    """The stored copy with appointment `uid` moved to [start, end), in start's zone with its
    VTIMEZONE, DURATION removed, STATUS:CONFIRMED, SEQUENCE `sequence`, DTSTAMP and
    LAST-MODIFIED `now`; every ATTENDEE but the ORGANIZER asked again (PARTSTAT=NEEDS-ACTION,
    RSVP=TRUE: RFC 5546 §3.2.2.1, a rescheduled event needs a new answer). Everything else as
    stored. STATUS is set, not kept: the client is sent a REQUEST for the new time, so the copy
    must not stay cancelled or tentative behind it.

    Raises MalformedObject when the object cannot be read or has no VEVENT with that UID.
    """
    _valid_sequence(sequence)
    stamp = _aware_utc(now, "now")
    _aware_utc(start, "start")
    _aware_utc(end, "end")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    zone = _zone_of(start)
    with _reading(f"the stored copy of {uid!r}"):
        cal, targets = _stored(raw, uid)
        for event in targets:
            event.pop("DURATION", None)
            _put(event, "DTSTART", start)
            _put(event, "DTEND", end.astimezone(zone))
            _put(event, "STATUS", "CONFIRMED")
            _revised(event, sequence, stamp)
            organizers = {_address(o) for o in _listed(event.get("ORGANIZER"))}
            for attendee in _listed(event.get("ATTENDEE")):
                if isinstance(attendee, vBroken) or _address(attendee) in organizers:
                    continue
                attendee.params["PARTSTAT"] = "NEEDS-ACTION"
                attendee.params["RSVP"] = "TRUE"
            _add_zones_of_times(cal, event, stamp)
        return _written(cal)


def partstat_copy(raw: bytes, uid: str, *, attendee: str, partstat: str) -> bytes | None:
    """The stored copy with `attendee`'s PARTSTAT set to `partstat` and their RSVP removed (they
    answered), other parameters (CN, ROLE, SCHEDULE-AGENT...) kept; SEQUENCE unchanged (an
    attendee's answer is no organizer change, RFC 5546 §2.1.4). None when no ATTENDEE of the
    appointment has that address (compared as connectors.ical reads addresses).

    Raises MalformedObject when the object cannot be read or has no VEVENT with that UID.
    """
    wanted = partstat.strip().upper()
    if not _TOKEN.fullmatch(wanted):
        raise ValueError(f"not a PARTSTAT value: {partstat!r}")
    who = _address(attendee)
    with _reading(f"the stored copy of {uid!r}"):
        cal, targets = _stored(raw, uid)
        changed = 0
        for event in targets:
            for prop in _listed(event.get("ATTENDEE")):
                if isinstance(prop, vBroken) or _address(prop) != who:
                    continue
                prop.params["PARTSTAT"] = wanted
                prop.params.pop("RSVP", None)
                changed += 1
        return _written(cal) if changed else None


def _categories(component: Component) -> list[str]:
    """Every category of a VEVENT, over all its CATEGORIES lines, in order."""
    return [
        str(name)
        for prop in _props(component, "CATEGORIES")
        if isinstance(prop, vCategory)
        for name in prop.cats
    ]


def flagged_copy(raw: bytes, uid: str, *, category: str) -> bytes:
    """The stored copy with `category` among the appointment's CATEGORIES (added to its first
    CATEGORIES line, or on a new one; never twice, compared without case), SEQUENCE unchanged.

    Raises MalformedObject when the object cannot be read or has no VEVENT with that UID.
    """
    name = category.strip()
    if not name:
        raise ValueError("category must not be empty")
    with _reading(f"the stored copy of {uid!r}"):
        cal, targets = _stored(raw, uid)
        for event in targets:
            if name.casefold() in {c.casefold() for c in _categories(event)}:
                continue
            lines = [p for p in _props(event, "CATEGORIES") if isinstance(p, vCategory)]
            if lines:
                lines[0].cats.append(vText(name))
            else:
                event.add("CATEGORIES", vCategory([name]))
        return _written(cal)


# --- What the server holds, what a client answered ----------------------------------------------


def _placed(component: Component, zone: ZoneInfo | None) -> _Event:
    """A VEVENT with its [start, end) as connectors.ical reads it for busy time (DURATION becomes
    the end, an all-day event runs midnight to midnight, floating times are local): aware, in
    `zone` (UTC without one).

    Times that cannot be placed stay None: unreadable, a TZID nothing resolves (a guess,
    STANDARDS §5), or, without `zone`, floating times and dates.
    """
    event = _Event(copy.deepcopy(component), "0", str(_first(component, "UID") or "").strip())
    start_prop, end_prop = (_first(event.component, n) for n in ("DTSTART", "DTEND"))
    if isinstance(start_prop, vBroken) or isinstance(end_prop, vBroken):
        return event
    values = [getattr(p, "dt", None) for p in (start_prop, end_prop)]
    event.all_day = _is_date(values[0])
    if any(
        isinstance(v, datetime) and v.tzinfo is None and "TZID" in p.params
        for p, v in zip((start_prop, end_prop), values, strict=True)
    ):
        return event
    placed_by_start = isinstance(values[0], datetime) and values[0].tzinfo is not None
    if zone is None and (not placed_by_start or _is_date(values[1])):
        return event
    try:
        problem = _check(event, zone or ZoneInfo("UTC"))
    except (ValueError, OverflowError, TypeError):
        problem = "unusable times"
    if problem:
        event.start = event.end = None
    return event


@dataclass(frozen=True)
class EventFacts:
    """What the server's copy of an appointment says, to tell whether a change reached it."""

    sequence: int
    status: str  # upper-case, "" when absent
    start: datetime | None  # aware; None when it cannot be placed (see _placed)
    end: datetime | None
    categories: tuple[str, ...]
    partstats: dict[str, str] = field(hash=False)  # attendee address, lower-case -> PARTSTAT


def _upper(component: Component, name: str) -> str:
    value = _first(component, name)
    return "" if value is None or isinstance(value, vBroken) else str(value).strip().upper()


def event_facts(raw: bytes, uid: str) -> EventFacts | None:
    """The facts of appointment `uid` in a stored object (its master; among several, the highest
    SEQUENCE), or None when the object has no VEVENT with that UID.

    Raises MalformedObject when the object cannot be read.
    """
    with _reading(f"the stored copy of {uid!r}"):
        targets = _appointment(_read(raw), uid)
        if not targets:
            return None
        event = sorted(targets, key=_sequence)[-1]
        placed = _placed(event, None)
        partstats = {
            _address(a): str(a.params.get("PARTSTAT") or "NEEDS-ACTION").strip().upper()
            for a in _listed(event.get("ATTENDEE"))
            if not isinstance(a, vBroken)
        }
        return EventFacts(
            sequence=_sequence(event),
            status=_upper(event, "STATUS"),
            start=placed.start,
            end=placed.end,
            categories=tuple(_categories(event)),
            partstats=partstats,
        )


MAX_ANSWER_BYTES = 1_000_000  # an iTIP answer is a few kilobytes; past this it is not one
MAX_ANSWER_COMPONENTS = 50  # VCALENDAR, VTIMEZONEs and their rules, VEVENTs, VALARMs together
MAX_COMMENT_CHARS = 500


@dataclass(frozen=True)
class AttendeeAnswer:
    """One VEVENT of a client's iTIP message to the freelancer (RFC 5546 §3.2.3-§3.2.8)."""

    method: str  # the VCALENDAR's METHOD, upper-case: REPLY, COUNTER, REFRESH, DECLINECOUNTER...
    uid: str
    recurrence_id: str | None  # as CalendarItem.recurrence_id spells it; None for the master
    sequence: int
    attendee: str  # the answering address, lower-case; "" when there is none
    partstat: str  # upper-case; "" when absent or not a token
    start: datetime | None  # aware: the event's times, for a COUNTER the proposed ones
    end: datetime | None
    comment: str  # the COMMENT text, at most MAX_COMMENT_CHARS characters


def _answering(component: Component) -> Any:
    """The ATTENDEE who answers: clients differ (Google sends only them; Outlook adds the
    ORGANIZER and other attendees with their old PARTSTATs), so the first one who is not the
    ORGANIZER and has answered, else the first one who is not the ORGANIZER (a REFRESH, or a
    COUNTER that leaves PARTSTAT at NEEDS-ACTION)."""
    organizers = {_address(o) for o in _props(component, "ORGANIZER")}
    others = [a for a in _props(component, "ATTENDEE") if _address(a) not in organizers]
    answered = [a for a in others if _partstat(a) not in ("", "NEEDS-ACTION")]
    return (answered or others or [None])[0]


def _partstat(attendee: Any) -> str:
    value = str(getattr(attendee, "params", {}).get("PARTSTAT") or "").strip().upper()
    return value if _TOKEN.fullmatch(value) else ""


def _too_big(ics: str | bytes) -> str:
    """Why the answer is refused before parsing it, or ""."""
    size = len(ics) if isinstance(ics, bytes) else len(ics.encode("utf-8", "surrogatepass"))
    if size > MAX_ANSWER_BYTES:
        return f"{size} bytes, more than {MAX_ANSWER_BYTES}"
    lines = Contentlines.from_ical(_text(ics).lstrip("\ufeff"))  # type: ignore[no-untyped-call]
    count = sum(1 for line in lines if _line_name(line) == "BEGIN")
    if count > MAX_ANSWER_COMPONENTS:
        return f"{count} components, more than {MAX_ANSWER_COMPONENTS}"
    return ""


def read_answers(ics: str | bytes, *, zone: ZoneInfo | None = None) -> list[AttendeeAnswer]:
    """One AttendeeAnswer per VEVENT of an iTIP message a client sent (a REPLY may hold several).

    `zone` is the freelancer's: floating times and dates are read there, as connectors.ical
    reads them; without it such times are None rather than a guess.
    Raises MalformedObject for input that cannot be read, over MAX_ANSWER_BYTES, or with more
    than MAX_ANSWER_COMPONENTS components.
    """
    with _reading("the calendar answer"):
        why = _too_big(ics)
        if why:
            raise MalformedObject(f"refused a calendar answer of {why}")
        cal = parse_calendar(ics)
        method = _upper(cal, "METHOD")
        answers: list[AttendeeAnswer] = []
        for component in cal.walk("VEVENT"):
            uid = str(_first(component, "UID") or "").strip()
            rid = _first(component, "RECURRENCE-ID")
            if isinstance(rid, vBroken) or not (rid is None or isinstance(rid.dt, date)):
                log.info("Skipped an answer for UID %r: its RECURRENCE-ID is unreadable", uid)
                continue  # which instance it answers is unknown: never let it pass for a master
            placed = _placed(component, zone)
            # Spelled as calendar_items spells it, so the daemon finds the item it answers.
            recurrence_id = None if rid is None else _recurrence_id(placed, zone or ZoneInfo("UTC"))
            who = _answering(component)
            comments = [str(c).strip() for c in _props(component, "COMMENT")]
            answer = AttendeeAnswer(
                method=method,
                uid=uid,
                recurrence_id=recurrence_id,
                sequence=_sequence(component),
                attendee=_address(who) if who is not None else "",
                partstat=_partstat(who),
                start=placed.start,
                end=placed.end,
                comment="\n".join(c for c in comments if c)[:MAX_COMMENT_CHARS],
            )
            answers.append(answer)
        return answers
