"""iTIP/iMIP artefacts for declining an invitation: the REPLY, its email, the stored copy.

Everything is built with icalendar and the email package, never by joining iCalendar text:
- `reply_calendar`: the iTIP REPLY (RFC 5546 §3.2.3) declining one item;
- `imip_reply_message`: the iMIP email carrying it (RFC 6047), as an automatic reply (RFC 3834);
- `declined_copy`: the freelancer's stored copy with only their PARTSTAT changed (RFC 4791 §4.1,
  RFC 6638 §3.2.2 and §7.1 for SCHEDULE-AGENT);
- `reply_message_id`: the deterministic Message-ID the daemon records before sending.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from icalendar import Calendar, Component, Event, Timezone, vCalAddress
from icalendar.parser import Contentline, Contentlines

from connectors.ical import parse_calendar
from rules.model import CalendarItem

__all__ = [
    "booking_calendars",
    "booking_message_id",
    "declined_copy",
    "imip_reply_message",
    "imip_request_message",
    "reply_calendar",
    "reply_message_id",
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


def _mailbox(name: str, address: str) -> Address:
    """A mailbox for a header; ValueError when the address is not an RFC 5322 addr-spec (a
    calendar's ORGANIZER can hold anything: 'MAILTO:meeting room@host')."""
    try:
        return Address(display_name=_header(name), addr_spec=_header(address))
    except (ValueError, IndexError) as error:
        raise ValueError(f"not a valid email address: {address!r} ({error})") from error


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
    msg["From"] = _mailbox(from_name, from_address)
    msg["To"] = _mailbox("", to_address)
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


def reply_message_id(uid: str, recurrence_id: str | None, sequence: int, domain: str) -> str:
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
    msg["From"] = _mailbox(from_name, from_address)
    msg["To"] = _mailbox(to_name, to_address)
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
