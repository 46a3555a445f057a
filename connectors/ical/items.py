"""An object's events as the records rules read: their occurrences (for busy time) and one
CalendarItem per VEVENT (for judging invitations)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar.prop import vBroken

from connectors.budget import Budget
from connectors.ical.expansion import TAG, _Event, _expand, _prepare, _Prepared, object_budget
from connectors.ical.values import _first, _is_date, _props, _to_zone
from rules.model import Attendee, BusyInterval, CalendarItem, Occurrence

log = logging.getLogger("connectors.ical")

def _address(value: object) -> str:
    text = str(value).strip()
    at = text.lower().rfind("mailto:")
    return (text[at + len("mailto:") :] if at >= 0 else text).strip().lower()


def _interval(occurrence: Any, zone: ZoneInfo, uid: str) -> BusyInterval:
    start = occurrence["DTSTART"].dt
    end = occurrence["DTEND"].dt if "DTEND" in occurrence else start
    return BusyInterval(_to_zone(start, zone), _to_zone(end, zone), _is_date(start), uid)


def _upper(component: Any, name: str) -> str:
    value = _first(component, name)
    return "" if value is None or isinstance(value, vBroken) else str(value).strip().upper()


def _attendees(component: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(every ATTENDEE, those whose PARTSTAT is DECLINED), addresses lower-cased."""
    everyone, declined = set(), set()
    for attendee in _props(component, "ATTENDEE"):
        address = _address(attendee)
        everyone.add(address)
        partstat = str(getattr(attendee, "params", {}).get("PARTSTAT", "")).upper()
        if partstat == "DECLINED":
            declined.add(address)
    return frozenset(everyone), frozenset(declined)


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def occurrences(
    raw: bytes | str,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    *,
    budget: Budget | None = None,
) -> list[Occurrence]:
    """Every occurrence of the object's events that overlaps [start, end), or a zero-length one
    inside it, with what rules.busy needs to decide whether it blocks time. Aware, in `zone`;
    all-day events run from local midnight to local midnight.

    Raises MalformedObject when nothing is readable, OverBudget when the budget is spent.
    """
    _aware(start, "start")
    _aware(end, "end")
    budget = object_budget(budget)
    prepared = _prepare(raw, zone, budget)
    if end <= start or not prepared.calendar.subcomponents:
        return []
    found: list[Occurrence] = []
    for occurrence in _expand(prepared, start.astimezone(zone), end.astimezone(zone),
                              budget):
        uid = str(occurrence.get("UID", "")).strip()
        interval = _interval(occurrence, zone, uid)
        inside = interval.end > start or interval.start == interval.end >= start
        if interval.start < end and inside:
            everyone, declined = _attendees(occurrence)
            found.append(Occurrence(
                interval.start, interval.end, interval.all_day, uid,
                status=_upper(occurrence, "STATUS"),
                transparent=_upper(occurrence, "TRANSP") == "TRANSPARENT",
                declined_by=declined, attendees=everyone,
            ))
    return sorted(found, key=lambda o: (o.start, o.end, o.uid))


# --- Calendar items ------------------------------------------------------------------------------


def _text(component: Any, name: str) -> str:
    value = _first(component, name)
    return "" if value is None or isinstance(value, vBroken) else str(value).strip()


def _sequence(component: Any) -> int:
    value = _first(component, "SEQUENCE")
    try:
        return int(value) if value is not None and not isinstance(value, vBroken) else 0
    except (TypeError, ValueError):
        return 0


def _dtstamp(component: Any) -> datetime | None:
    prop = _first(component, "DTSTAMP")
    value = None if prop is None or isinstance(prop, vBroken) else getattr(prop, "dt", None)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # RFC: UTC


def _rsvp(value: object) -> bool | None:
    text = str(value).strip().upper() if value is not None else ""
    return {"TRUE": True, "FALSE": False}.get(text)


def _attendee(prop: Any) -> Attendee:
    params = getattr(prop, "params", {})
    return Attendee(
        address=_address(prop),
        partstat=str(params.get("PARTSTAT") or "NEEDS-ACTION").strip().upper(),
        rsvp=_rsvp(params.get("RSVP")),
        role=str(params.get("ROLE") or "REQ-PARTICIPANT").strip().upper(),
        cutype=str(params.get("CUTYPE") or "INDIVIDUAL").strip().upper(),
        name=str(params.get("CN") or "").strip(),
    )


def _recurrence_id(event: _Event, zone: ZoneInfo) -> str | None:
    """RECURRENCE-ID as stable text: UTC 'YYYYMMDDTHHMMSSZ', or 'YYYYMMDD' for a day."""
    prop = _first(event.component, "RECURRENCE-ID")
    if prop is None:
        return None
    value = prop.dt
    if isinstance(value, datetime) and not event.all_day:
        value = _to_zone(value, zone).astimezone(UTC)
        return (
            f"{value.year:04d}{value.month:02d}{value.day:02d}"
            f"T{value.hour:02d}{value.minute:02d}{value.second:02d}Z"
        )
    # An all-day item is identified by its day, whatever type the writer used (Exchange: midnight).
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


_LOOK_AHEAD_DAYS = 731  # how far to look for the next `min_occurrences` of a series


def _collect(
    prepared: _Prepared,
    now: datetime,
    horizon_end: datetime,
    zone: ZoneInfo,
    min_occurrences: int,
    budget: Budget,
) -> dict[str, list[BusyInterval]]:
    """Occurrences of each series (masters and THISANDFUTURE overrides), attributed by tag."""
    series = {
        e.tag: e
        for e in prepared.events
        if not e.problem and (e.recurring or (e.override and e.this_and_future))
    }
    found: dict[str, list[BusyInterval]] = {tag: [] for tag in series}
    if not series:
        return found
    # The horizon first; only if a series has too few occurrences there, the whole look-ahead.
    windows = sorted({w for w in (horizon_end, now + timedelta(days=_LOOK_AHEAD_DAYS)) if w > now})
    for window in windows:
        found = {tag: [] for tag in series}
        for occurrence in _expand(prepared, now, window, budget):
            tag = str(occurrence.get(TAG, ""))
            if tag in found:
                found[tag].append(_interval(occurrence, zone, series[tag].uid))
        if window >= horizon_end and all(len(v) >= min_occurrences for v in found.values()):
            break
    for tag, intervals in found.items():
        intervals.sort(key=lambda i: (i.start, i.end))
        found[tag] = [
            i
            for n, i in enumerate(intervals)
            if (i.end > now or (i.start == i.end and i.start >= now))
            and (i.start < horizon_end or n < min_occurrences)
        ]
    return found


def calendar_items(
    raw: bytes | str,
    now: datetime,
    horizon_end: datetime,
    zone: ZoneInfo,
    *,
    min_occurrences: int,
    budget: Budget | None = None,
) -> list[CalendarItem]:
    """One CalendarItem per VEVENT (a master or single event, and each override separately).

    A series gets its occurrences ending after `now` and starting before `horizon_end`, and at
    least the next `min_occurrences` within two years; a single event or an override gets its
    one occurrence if it ends after `now`. An item whose times cannot be read has no start, no
    occurrences and `time_trusted=False`. `min_occurrences` is the caller's policy
    (rules.recurrence.MIN_SERIES_OCCURRENCES).

    Raises MalformedObject when nothing is readable, OverBudget when the budget is spent.
    """
    _aware(now, "now")
    _aware(horizon_end, "horizon_end")
    budget = object_budget(budget)
    prepared = _prepare(raw, zone, budget)
    series = _collect(prepared, now, horizon_end, zone, min_occurrences, budget)
    items: list[CalendarItem] = []
    for event in prepared.events:
        component = event.component
        if isinstance(_first(component, "RECURRENCE-ID"), vBroken):
            continue  # which instance it changes is unknown: never let it pass for a master
        if event.tag in series:
            found = tuple(series[event.tag])
        elif (
            event.start is not None
            and event.end is not None
            and (event.end > now or (event.start == event.end and event.start >= now))
        ):
            found = (BusyInterval(event.start, event.end, event.all_day, event.uid),)
        else:
            found = ()
        organizer = _first(component, "ORGANIZER")
        items.append(
            CalendarItem(
                uid=event.uid,
                recurrence_id=_recurrence_id(event, zone),
                sequence=_sequence(component),
                dtstamp=_dtstamp(component),
                summary=_text(component, "SUMMARY"),
                organizer=_address(organizer) if organizer is not None else "",
                organizer_name=str(getattr(organizer, "params", {}).get("CN") or "").strip(),
                attendees=tuple(_attendee(a) for a in _props(component, "ATTENDEE")),
                status=_upper(component, "STATUS"),
                transparent=_upper(component, "TRANSP") == "TRANSPARENT",
                recurring=event.recurring,
                all_day=event.all_day,
                start=event.start,
                end=event.end,
                occurrences=found,
                time_trusted=not event.untrusted and not event.problem,
            )
        )
    return items
