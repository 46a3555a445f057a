"""Preparing an object's events for expansion, expanding them within a bounded amount of work,
and bounding the time an object can occupy (so the mirror skips what cannot occur in a window).

Recurrences are expanded by recurring-ical-events, never by hand, under a CPU budget
(connectors.budget) that holds inside the library: a series that costs more than its part is
skipped alone, with a log line, and an object that spends the caller's whole budget raises
OverBudget, for the caller to set it aside.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from dateutil.rrule import rrulestr
from icalendar.prop import vBroken, vRecur, vText
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from connectors.budget import Budget, OverBudget
from connectors.ical.reading import parse_calendar
from connectors.ical.values import (
    _first,
    _holders,
    _is_date,
    _props,
    _to_zone,
    _tz_key,
    _warn_once,
)
from connectors.ical.zones import _iana, _naive_tzids
from rules.recurrence import refused_frequency

log = logging.getLogger("connectors.ical")


@dataclass(frozen=True)
class Bounds:
    """Lets the mirror skip objects that cannot occur in a window (epoch seconds)."""

    first_start: float | None  # earliest start of any VEVENT (incl. overrides); None if unknown
    last_end: float | None  # latest end; None when open-ended or unknown


TAG = "X-FRONTDESK-ITEM"  # marks each VEVENT so expanded occurrences can be traced back to it

# --- Preparing the events ------------------------------------------------------------------------

_RRULE_PARTS = frozenset(
    {"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY"}
    | {"BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST"}
)


@dataclass
class _Event:
    """One VEVENT of the object, checked and normalised for expansion."""

    component: icalendar.Component
    tag: str
    uid: str
    problem: str = ""  # why its times cannot be used; "" when they can
    start: datetime | None = None
    end: datetime | None = None
    all_day: bool = False
    untrusted: frozenset[str] = frozenset()

    @property
    def override(self) -> bool:
        return "RECURRENCE-ID" in self.component

    @property
    def recurring(self) -> bool:
        return not self.override and bool(_props(self.component, "RRULE") or self.rdates)

    @property
    def this_and_future(self) -> bool:
        rid = _first(self.component, "RECURRENCE-ID")
        return rid is not None and str(rid.params.get("RANGE", "")).upper() == "THISANDFUTURE"

    @property
    def rdates(self) -> list[Any]:
        return [h.dt for p in _props(self.component, "RDATE") for h in _holders(p)]


@dataclass
class _Prepared:
    calendar: icalendar.Calendar  # only the usable VEVENTs, ready for recurring-ical-events
    events: list[_Event]
    skipped: set[str] = field(default_factory=set)  # UIDs whose expansion failed or cost too much


def _drop_broken(component: icalendar.Component, name: str, label: str) -> None:
    values = _props(component, name)
    good = [v for v in values if not isinstance(v, vBroken)]
    if len(good) != len(values):
        log.info("Ignored an unreadable %s in %s", name, label)
        del component[name]
        for value in good:
            component.add(name, value)


def _repair_rrules(component: icalendar.Component, label: str) -> None:
    rules = _props(component, "RRULE")
    kept: list[vRecur] = []
    for rule in rules:
        if not isinstance(rule, vRecur):
            log.info("Ignored an unreadable RRULE in %s", label)
            continue
        unknown = [k for k in rule if str(k).upper() not in _RRULE_PARTS]
        if unknown:  # e.g. 'UNTL=' typo: keep the rest, so the series is not lost
            log.info("Ignored unknown RRULE parts %s in %s", unknown, label)
            rule = vRecur({k: v for k, v in rule.items() if str(k).upper() in _RRULE_PARTS})
        if "FREQ" not in rule:
            log.info("Ignored an RRULE without FREQ in %s", label)
            continue
        refused = refused_frequency(str(rule["FREQ"][0]))
        if refused:
            log.info("Ignored an RRULE in %s: %s", label, refused)
            continue
        if any(not isinstance(i, int) or i < 1 for i in rule.get("INTERVAL", [])):
            log.info("Ignored INTERVAL=%s in %s", rule["INTERVAL"], label)  # 0 never ends
            rule = vRecur({k: v for k, v in rule.items() if str(k).upper() != "INTERVAL"})
        kept.append(rule)
    if rules and (
        len(kept) != len(rules) or any(a is not b for a, b in zip(kept, rules, strict=False))
    ):
        del component["RRULE"]
        for rule in kept:
            component.add("RRULE", rule)


def _localize(prop: Any, sibling: Any, zone: ZoneInfo) -> None:
    """Floating or unresolved times become aware, so that expansion never mixes kinds."""
    value = prop.dt
    if not isinstance(value, datetime) or value.tzinfo is not None:
        return
    other = getattr(sibling, "dt", None)
    if "TZID" not in prop.params and isinstance(other, datetime) and other.tzinfo is not None:
        prop.dt = value.replace(tzinfo=other.tzinfo)  # half-floating: read in the other's zone
    else:
        prop.dt = value.replace(tzinfo=zone)


def _check(event: _Event, zone: ZoneInfo) -> str:
    """Normalise the event's times in place; return why they are unusable, or ""."""
    component = event.component
    for name in ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
        values = _props(component, name)
        if any(isinstance(v, vBroken) for v in values):
            return f"unreadable {name}"
        if len(values) > 1:
            component[name] = values[0]
    start_prop = component.get("DTSTART")
    if start_prop is None:
        return "no DTSTART"
    if not isinstance(start_prop.dt, date):
        return "DTSTART is not a date or date-time"
    end_prop = component.get("DTEND")
    if end_prop is not None and not isinstance(end_prop.dt, date):
        return "DTEND is not a date or date-time"
    _localize(start_prop, end_prop, zone)
    if end_prop is not None:
        _localize(end_prop, start_prop, zone)
        if _is_date(start_prop.dt) and isinstance(end_prop.dt, datetime):
            end_prop.dt = _to_zone(end_prop.dt, zone).date()  # all-day event with a timed end
        elif isinstance(start_prop.dt, datetime) and _is_date(end_prop.dt):
            end_prop.dt = _to_zone(end_prop.dt, zone).astimezone(start_prop.dt.tzinfo)
    event.all_day = _is_date(start_prop.dt)
    event.start = _to_zone(start_prop.dt, zone)
    duration = component.get("DURATION")
    if end_prop is not None:
        event.end = _to_zone(end_prop.dt, zone)
        if event.all_day and event.end == event.start:
            del component["DTEND"]  # DTEND equal to a DATE DTSTART: clients mean one day
            event.end = _to_zone(start_prop.dt + timedelta(days=1), zone)
    elif duration is not None and isinstance(duration.dt, timedelta):
        if event.all_day and not duration.dt.seconds and not duration.dt.microseconds:
            event.end = _to_zone(start_prop.dt + duration.dt, zone)
        else:
            event.end = event.start + duration.dt
    elif duration is not None:
        return "DURATION is not a duration"
    elif event.all_day:
        event.end = _to_zone(start_prop.dt + timedelta(days=1), zone)  # RFC 5545 §3.6.1
    else:
        event.end = event.start
    if event.end < event.start:
        return "it ends before it starts"
    return ""


def _prepare(raw: bytes | str, zone: ZoneInfo, budget: Budget) -> _Prepared:
    """Parse the object, then check and normalise its VEVENTs for expansion."""
    budget.check("reading a calendar object")
    calendar = parse_calendar(raw)
    events: list[_Event] = []
    for index, component in enumerate(calendar.walk("VEVENT")):
        budget.check("reading a calendar object")
        uid = str(_first(component, "UID") or "").strip()
        label = f"UID {uid!r}" if uid else f"VEVENT #{index + 1} (no UID)"
        component.pop(TAG, None)
        component.add(TAG, vText(str(index)))
        event = _Event(component, str(index), uid, untrusted=frozenset(_naive_tzids(component)))
        for tzid in sorted(event.untrusted):
            _warn_once(
                ("tzid", tzid),
                "Unknown time zone %r (first seen in %s): its times are read in %s and not trusted",
                tzid,
                label,
                zone.key,
            )
        _drop_broken(component, "EXDATE", label)
        _drop_broken(component, "RDATE", label)
        _repair_rrules(component, label)
        try:
            event.problem = _check(event, zone)
        except (ValueError, OverflowError, TypeError) as error:
            event.problem = f"unusable times ({error})"
        if event.problem:
            event.start = event.end = None
            _warn_once(("event", label, event.problem), "Skipped %s: %s", label, event.problem)
        events.append(event)
    usable = icalendar.Calendar()
    x_wr = _first(calendar, "X-WR-TIMEZONE")
    if x_wr is not None:
        x_zone = _iana(_tz_key(str(x_wr))) or _iana(WINDOWS_TO_OLSON.get(_tz_key(str(x_wr)), ""))
        if x_zone is None:
            log.info("Ignored an unknown X-WR-TIMEZONE %r", str(x_wr))
        else:
            usable.add("X-WR-TIMEZONE", x_zone.key)
    for event in events:
        if not event.problem:
            usable.add_component(event.component)
    return _Prepared(usable, events)



# --- Expanding -----------------------------------------------------------------------------------

# One series (all VEVENTs of one UID) may use this much CPU; past it the series alone is skipped.
# A normal series expands in milliseconds; one whose rule never matches makes dateutil walk
# towards the year 9999, and only a bound on the work stops it.
SERIES_CPU_SECONDS = 0.25
# An object read without a caller's budget (the mirror, `explain` of a file) gets this much.
OBJECT_CPU_SECONDS = 2.0


def object_budget(budget: Budget | None) -> Budget:
    return budget if budget is not None else Budget(OBJECT_CPU_SECONDS, what="reading a calendar")


def _expand(prepared: _Prepared, start: datetime, end: datetime, budget: Budget) -> list[Any]:
    """Occurrences overlapping [start, end), series by series (all VEVENTs of one UID). A series
    that breaks the expansion, or costs more than SERIES_CPU_SECONDS, is skipped alone (and not
    tried again for this object); OverBudget when the caller's whole budget is spent."""
    calendar = prepared.calendar
    groups: dict[str, list[Any]] = defaultdict(list)
    for component in calendar.subcomponents:
        groups[str(component.get("UID", id(component)))].append(component)
    found: list[Any] = []
    for uid, components in groups.items():
        if uid in prepared.skipped:
            continue
        outcome = _expand_bounded(calendar, components, start, end, budget, uid)
        if isinstance(outcome, list):
            found.extend(outcome)
            continue
        if len(components) == 1 or outcome == "costly":
            prepared.skipped.add(uid)
            continue
        for component in components:  # each VEVENT alone: an override alone is its own event
            alone = _expand_bounded(calendar, [component], start, end, budget, uid)
            if isinstance(alone, list):
                found.extend(alone)
    return found


def _expand_bounded(
    calendar: icalendar.Calendar, components: list[Any], start: datetime, end: datetime,
    budget: Budget, uid: str,
) -> list[Any] | str:
    """The occurrences of these components, or why not ("costly", or the error's words)."""
    part = budget.part(SERIES_CPU_SECONDS)
    try:
        with part.guard("expanding recurrences"):
            return _expand_some(calendar, components, start, end)
    except OverBudget as over:
        if over.budget is not part:
            raise
        _warn_once(("expand", uid), "Skipped the events of UID %r: their recurrence rule "
                   "costs too much to expand (it may never match)", uid)
        return "costly"
    except Exception as error:  # the library raises many kinds on odd data
        _warn_once(("expand", uid), "Skipped the events of UID %r: %s", uid, error)
        return str(error)


def _expand_some(
    calendar: icalendar.Calendar, components: list[Any], start: datetime, end: datetime
) -> list[Any]:
    some = icalendar.Calendar()
    if "X-WR-TIMEZONE" in calendar:
        some["X-WR-TIMEZONE"] = calendar["X-WR-TIMEZONE"]
    some.subcomponents.extend(components)
    return list(recurring_ical_events.of(some).between(start, end))


# --- Bounds --------------------------------------------------------------------------------------

_COUNT_CAP = 10_000  # a longer COUNT series gets an unknown end rather than a long walk


def _rule_end(rule: vRecur, event: _Event, zone: ZoneInfo, budget: Budget) -> datetime | None:
    """An upper bound of the end of a series limited by UNTIL or COUNT; None if unknown."""
    assert event.start is not None and event.end is not None
    length = event.end - event.start
    untils = [u for u in rule.get("UNTIL", []) if isinstance(u, date)]
    if untils:
        until = max(_to_zone(u, zone) for u in untils)
        if _is_date(untils[0]) or (isinstance(untils[0], datetime) and untils[0].tzinfo is None):
            until += timedelta(days=1)  # date or floating UNTIL: allow for the zone it was meant
        return until + length
    counts = [c for c in rule.get("COUNT", []) if isinstance(c, int)]
    if not counts or counts[0] > _COUNT_CAP:
        return None
    # The COUNT-th start of the rule itself (EXDATEs do not lengthen it). recurring-ical-events
    # has no bounded way to ask this: its all() crawls in 15-minute steps past long events.
    first = _first(event.component, "DTSTART").dt
    anchor = first if isinstance(first, datetime) else datetime(first.year, first.month, first.day)
    part = budget.part(SERIES_CPU_SECONDS)
    try:
        text = rule.to_ical().decode()  # type: ignore[no-untyped-call]
        with part.guard("bounding a series"):
            tail = deque(rrulestr(text, dtstart=anchor, cache=False), maxlen=1)
    except (ValueError, TypeError, OverflowError) as error:
        log.info("No end bound for a COUNT rule: %s", error)
        return None
    except OverBudget as over:
        if over.budget is not part:
            raise
        return None  # unknown: the object is read in every window (and its expansion bounded)
    # A day of slack: with X-WR-TIMEZONE the expansion anchors a UTC series in another zone.
    return _to_zone(tail[0], zone) + length + timedelta(days=1) if tail else None


def object_bounds(raw: bytes | str, zone: ZoneInfo, *, budget: Budget | None = None) -> Bounds:
    """The earliest start and latest end of the object's events, for skipping it cheaply."""
    budget = object_budget(budget)
    prepared = _prepare(raw, zone, budget)
    usable = [e for e in prepared.events if not e.problem and e.start and e.end]
    if not usable:
        return Bounds(None, None)
    starts: list[datetime] = []
    ends: list[datetime | None] = []
    for event in usable:
        assert event.start is not None and event.end is not None
        starts.append(event.start)
        ends.append(event.end)
        if event.this_and_future:
            ends.append(None)  # it moves every later instance of its series: end unknown
        if event.override:
            continue
        for value in event.rdates:
            first, last = value if isinstance(value, tuple) else (value, event.end - event.start)
            if not isinstance(first, date):
                continue
            begin = _to_zone(first, zone)
            finish = _to_zone(last, zone) if isinstance(last, date) else begin + last
            # A floating RDATE is read in the series' zone by the expansion: allow for it.
            slack = timedelta(days=1) if getattr(first, "tzinfo", 0) is None else timedelta(0)
            starts.append(begin - slack)
            ends.append(finish + slack)
        ends.extend(_rule_end(rule, event, zone, budget)
                    for rule in _props(event.component, "RRULE"))
    known = [end for end in ends if end is not None]
    last_end = max(known).timestamp() if len(known) == len(ends) else None
    return Bounds(min(starts).timestamp(), last_end)
