"""Decode raw iCalendar objects (CalDAV bodies, iMIP parts) into the records of rules/model.py.

Real-world objects are often broken, so reading is tolerant: a broken line or component is
dropped with a log line and the rest is kept. Only an object with nothing readable in it raises
`MalformedObject`. Recurrences are expanded by recurring-ical-events, never by hand.

Time zones are resolved per object, never through icalendar's process-wide cache of VTIMEZONE
definitions: that cache keeps the first definition it sees under a TZID, so one sender's
"Customized Time Zone" would silently shift every later invitation using the same name.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import signal
import threading
import zoneinfo
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from dateutil.rrule import rrulestr
from icalendar.parser import Contentlines
from icalendar.prop import vBroken, vDDDLists, vRecur, vText
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from rules.model import Attendee, BusyInterval, CalendarItem

log = logging.getLogger(__name__)

__all__ = [
    "Bounds",
    "MalformedObject",
    "busy_intervals",
    "calendar_items",
    "object_bounds",
    "parse_calendar",
    "untrusted_tzids",
]


class MalformedObject(Exception):
    """The object cannot be read at all; str() says what and why."""


@dataclass(frozen=True)
class Bounds:
    """Lets the mirror skip objects that cannot occur in a window (epoch seconds)."""

    first_start: float | None  # earliest start of any VEVENT (incl. overrides); None if unknown
    last_end: float | None  # latest end; None when open-ended or unknown


# --- Logging each problem once -------------------------------------------------------------------

_MEMO_LIMIT = 4096  # bounded: a stream of senders with unique TZIDs must not grow memory forever
_logged: set[tuple[str, ...]] = set()


def _warn_once(key: tuple[str, ...], message: str, *args: object) -> None:
    if key in _logged:
        return
    if len(_logged) >= _MEMO_LIMIT:
        _logged.clear()
    _logged.add(key)
    log.warning(message, *args)


# --- Reading the text ----------------------------------------------------------------------------

_DT_NAMES = ("DTSTART", "DTEND", "RECURRENCE-ID", "DUE", "RDATE", "EXDATE")
_TAG = "X-FRONTDESK-ITEM"  # marks each VEVENT so expanded occurrences can be traced back to it


def _decode(raw: bytes | str) -> str:
    """Text of the object: UTF-8, or line by line Windows-1252/Latin-1 where UTF-8 fails."""
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = "\n".join(_decode_line(line) for line in raw.split(b"\n"))
    return text.lstrip("\ufeff \t\r\n")


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return line.decode("cp1252")
        except UnicodeDecodeError:
            return line.decode("latin-1")


def _line_name(line: str) -> str:
    return line.split(":", 1)[0].split(";", 1)[0].strip().upper()


def _line_value(line: str) -> str:
    return line.split(":", 1)[1].strip() if ":" in line else ""


def _unescape_text(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _tz_key(tzid: str) -> str:
    return tzid.strip().strip('"').strip()


@dataclass
class _Text:
    """The object's content lines, split into icalendar's input and its VTIMEZONE blocks."""

    body: list[str] = field(default_factory=list)
    zones: dict[str, list[str]] = field(default_factory=dict)


def _scan(text: str) -> _Text:
    """Unfold, drop what cannot be a content line, set VTIMEZONE blocks apart, close what is open.

    VTIMEZONE blocks never reach icalendar's parser: it would cache them process-wide.
    """
    out = _Text()
    stack: list[str] = []
    zone: list[str] | None = None
    depth = 0
    for line in Contentlines.from_ical(text):  # type: ignore[no-untyped-call]
        if not line.strip():
            continue
        name = _line_name(line)
        if zone is not None:
            zone.append(line)
            depth += {"BEGIN": 1, "END": -1}.get(name, 0)
            if depth == 0:
                _keep_zone(out, zone)
                zone = None
            continue
        if name == "BEGIN":
            component = _line_value(line).upper()
            if component == "VTIMEZONE":
                zone, depth = [line], 1
                continue
            stack.append(component)
            out.body.append(line)
        elif name == "END":
            component = _line_value(line).upper()
            if component not in stack:
                continue  # END of something never begun: drop it
            while stack[-1] != component:  # close what the writer forgot to close
                out.body.append("END:" + stack.pop())
            stack.pop()
            out.body.append(line)
        elif stack and ":" in line and not line[0].isspace():
            out.body.append(_repair_params(line))
        # else: a stray line, or a property outside any component: dropped
    if zone is not None:
        _keep_zone(out, zone)
    out.body.extend("END:" + name for name in reversed(stack))
    return out


def _repair_params(line: str) -> str:
    """Mend writer mistakes in a property line.

    An empty parameter ('DTSTART;;VALUE=DATE-TIME:...') is dropped; a value quoted together with
    its parameter ('DTSTART;TZID="W. Europe Standard Time:20200609T090000"') is moved out; an
    ISO 8601 date ('2023-07-01T125700') loses its separators.
    """
    if '"' not in line:
        head, colon, rest = line.partition(":")
    else:
        quoted = False
        for i, char in enumerate(line):
            if char == '"':
                quoted = not quoted
            elif char == ":" and not quoted:
                head, colon, rest = line[:i], ":", line[i + 1 :]
                break
        else:
            if line.endswith('"') and ":" in line:
                cut = line.rindex(":")
                return _repair_params(f'{line[:cut]}"{line[cut:-1]}')
            return line
    if ";;" in head:
        head = re.sub(r";;+", ";", head).rstrip(";")
    name = _line_name(head)
    if colon and name in _DT_NAMES and ":" in rest and "TZID=" in head.upper():
        # An unquoted TZID with a colon ('TZID=tzone://Microsoft/Custom:2021...'): quote it.
        whole, _, value = (head + colon + rest).rpartition(":")
        if _DATES.fullmatch(value):
            head = re.sub(r'(?i)(TZID=)([^;"]*)', r'\1"\2"', whole)
            rest = value
    if colon and name in _ISO_DATED:
        rest = _ISO_DATE.sub(lambda m: "".join(g or "" for g in m.groups()), rest)
    return head + colon + rest


_DATES = re.compile(r"[0-9TZ]{8,16}(,[0-9TZ]{8,16})*")
_ISO_DATED = frozenset({*_DT_NAMES, "DTSTAMP", "CREATED", "LAST-MODIFIED"})
# '2023-07-01T125700' (Deutsche Bahn) or '2023-07-01T12:57:00Z' read as '20230701T125700'.
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:(T\d{2}):?(\d{2}):?(\d{2})(Z?))?$")


def _keep_zone(out: _Text, block: list[str]) -> None:
    for line in block[1:]:
        if _line_name(line) == "TZID":
            out.zones.setdefault(_tz_key(_unescape_text(_line_value(line))), block)
            return


# --- Time zones ----------------------------------------------------------------------------------


@functools.cache
def _iana_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _iana(name: str) -> ZoneInfo | None:
    return ZoneInfo(name) if name in _iana_names() else None


@functools.cache
def _zones_by_city() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = defaultdict(list)
    for name in sorted(_iana_names()):
        if "/" in name and not name.startswith(("Etc/", "posix/", "right/", "SystemV/")):
            index[name.rsplit("/", 1)[1].lower()].append(name)
    return {city: tuple(names) for city, names in index.items()}


def _standard_offset(zone: tzinfo) -> timedelta | None:
    # Display names give the base offset, so the smaller of winter and summer (both hemispheres).
    offsets = [zone.utcoffset(datetime(2025, month, 15)) for month in (1, 7)]
    known = [o for o in offsets if o is not None]
    return min(known) if known else None


_DISPLAY_NAME = re.compile(
    r"^\(\s*(?:UTC|GMT)\s*(?:([+-])\s*(\d{1,2})(?::?(\d{2}))?)?\s*\)\s*(.*)$", re.IGNORECASE
)


def _display_name_zone(name: str) -> ZoneInfo | None:
    """Outlook/OWA display names like '(UTC+01:00) Amsterdam, Berlin, ...', checked by offset."""
    match = _DISPLAY_NAME.match(name)
    if not match:
        return None
    sign, hours, minutes, rest = match.groups()
    offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    if sign == "-":
        offset = -offset
    candidates: list[str] = []
    bare = re.sub(r"\s*\(.*?\)", "", rest).strip()
    if bare.endswith(" Time"):  # 'Eastern Time (US & Canada)' is 'Eastern Standard Time'
        windows = WINDOWS_TO_OLSON.get(bare[: -len(" Time")] + " Standard Time")
        if windows:
            candidates.append(windows)
    for city in rest.split(","):
        candidates.extend(_zones_by_city().get(city.strip().replace(" ", "_").lower(), ()))
    for candidate in candidates:
        zone = _iana(candidate)
        if zone is not None and _standard_offset(zone) == offset:
            return zone
    return None


def _zone_from_block(block: list[str]) -> tzinfo | None:
    """A time zone built from the object's own VTIMEZONE, without caching it process-wide."""
    try:
        # Parsed without its TZID: icalendar caches every VTIMEZONE that has one.
        component = icalendar.Timezone.from_ical(
            "\r\n".join(line for line in block if _line_name(line) != "TZID")
        )
        component.add("TZID", "frontdesk-vtimezone")
        return tzp.create_timezone(component)
    except Exception as error:  # dateutil and icalendar raise many kinds on a broken VTIMEZONE
        log.info("Unusable VTIMEZONE %r: %s", _line_value(block[0]), error)
        return None


class _Zones:
    """Resolves the TZIDs of one object: IANA, Windows, vendor-prefixed, own VTIMEZONE, OWA."""

    def __init__(self, blocks: dict[str, list[str]]) -> None:
        self._blocks = blocks
        self._memo: dict[str, tzinfo | None] = {}

    def resolve(self, tzid: str) -> tzinfo | None:
        key = _tz_key(tzid)
        if key not in self._memo:
            self._memo[key] = self._lookup(key) if key else None
        return self._memo[key]

    def _lookup(self, key: str) -> tzinfo | None:
        zone = _iana(key) or _iana(WINDOWS_TO_OLSON.get(key, ""))
        if zone is None and key.startswith("/"):  # '/softwarestudio.org/Tzfile/America/Chicago'
            parts = key.strip("/").split("/")
            zone = next(
                (z for i in range(1, len(parts)) if (z := _iana("/".join(parts[i:])))), None
            )
        if zone is not None:
            return zone
        block = self._blocks.get(key)
        if block is not None:
            for line in block:
                if _line_name(line) == "X-LIC-LOCATION" and (z := _iana(_line_value(line))):
                    return z
            own = _zone_from_block(block)
            if own is not None:
                return own
        return _display_name_zone(key)


def _props(component: icalendar.Component, name: str) -> list[Any]:
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _first(component: icalendar.Component, name: str) -> Any:
    values = _props(component, name)
    return values[0] if values else None


def _holders(prop: Any) -> list[Any]:
    """The objects carrying `.dt` in a date-time property (one, or several for RDATE/EXDATE)."""
    return list(prop.dts) if isinstance(prop, vDDDLists) else [prop]


def _is_utc(value: datetime) -> bool:
    return value.tzinfo is UTC or value.tzinfo is ZoneInfo("UTC")


def _rezone(value: Any, zone: tzinfo | None, date_only: bool) -> Any:
    if isinstance(value, tuple):  # a PERIOD: (start, end or duration)
        return tuple(_rezone(part, zone, date_only) for part in value)
    if not isinstance(value, datetime):
        return value
    if date_only:  # VALUE=DATE with a TZID: icalendar made it a midnight; it is a whole day
        return value.date()
    if zone is not None:
        return value.replace(tzinfo=zone)  # the text is wall-clock time in that zone
    return value if _is_utc(value) else value.replace(tzinfo=None)


def _apply_zones(calendar: icalendar.Calendar, zones: _Zones) -> None:
    """Give every TZID-bearing value this object's own reading of its TZID (naive if unknown)."""
    for component in calendar.walk():
        for name in _DT_NAMES:
            for prop in _props(component, name):
                if isinstance(prop, vBroken) or "TZID" not in prop.params:
                    continue
                zone = zones.resolve(str(prop.params["TZID"]))
                date_only = str(prop.params.get("VALUE", "")).upper() == "DATE"
                for holder in _holders(prop):
                    holder.dt = _rezone(holder.dt, zone, date_only)


def _naive_tzids(component: icalendar.Component) -> set[str]:
    found: set[str] = set()
    for name in _DT_NAMES:
        for prop in _props(component, name):
            if isinstance(prop, vBroken) or "TZID" not in prop.params:
                continue
            for holder in _holders(prop):
                values = holder.dt if isinstance(holder.dt, tuple) else (holder.dt,)
                if any(isinstance(v, datetime) and v.tzinfo is None for v in values):
                    found.add(str(prop.params["TZID"]))
    return found


def untrusted_tzids(cal: icalendar.Calendar) -> set[str]:
    """TZIDs used in the calendar that resolve to nothing: their values are naive."""
    found: set[str] = set()
    for component in cal.walk():
        found |= _naive_tzids(component)
    return found


# --- Parsing -------------------------------------------------------------------------------------


def _parse_lines(lines: Sequence[str]) -> list[icalendar.Component]:
    return list(icalendar.Calendar.from_ical("\r\n".join(lines) + "\r\n", multiple=True))


def _blocks(lines: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Own property lines and child blocks of the component `lines` spans (BEGIN..END)."""
    props: list[str] = []
    children: list[list[str]] = []
    depth = 0
    for line in lines[1:-1]:
        name = _line_name(line)
        if depth == 0 and name != "BEGIN":
            props.append(line)
            continue
        if depth == 0:
            children.append([])
        children[-1].append(line)
        depth += {"BEGIN": 1, "END": -1}.get(name, 0)
    return props, children


def _salvage(lines: list[str]) -> icalendar.Component | None:
    """Parse one component, dropping the lines and children that break it."""
    try:
        return _parse_lines(lines)[0]
    except Exception:  # icalendar raises ValueError, TypeError, KeyError...
        pass
    head, tail = lines[0], lines[-1]
    props, children = _blocks(lines)
    kept: list[str] = []
    for line in props:
        try:
            _parse_lines([head, line, tail])
        except Exception:
            log.info("Dropped an unreadable line in %s: %.80r", _line_value(head), line)
            continue
        kept.append(line)
    try:
        component = _parse_lines([head, *kept, tail])[0]
    except Exception as error:
        log.warning("Dropped an unreadable %s: %s", _line_value(head), error)
        return None
    for child in children:
        parsed = _salvage(child)
        if parsed is None:
            uid = next((_line_value(x) for x in child if _line_name(x) == "UID"), "")
            _warn_once(
                ("component", uid, _line_value(child[0])),
                "Skipped an unreadable %s (UID %r)",
                _line_value(child[0]),
                uid,
            )
        else:
            component.add_component(parsed)
    return component


def _top_blocks(body: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    depth = 0
    for line in body:
        name = _line_name(line)
        if depth == 0:
            blocks.append([])
        blocks[-1].append(line)
        depth += {"BEGIN": 1, "END": -1}.get(name, 0)
    return blocks


def parse_calendar(raw: bytes | str) -> icalendar.Calendar:
    """Read one object tolerantly into a single calendar (several VCALENDARs are merged).

    Values with a TZID that resolves to nothing are left naive (see `untrusted_tzids`).
    Raises MalformedObject when nothing in it can be read.
    """
    scanned = _scan(_decode(raw))
    if not scanned.body:
        raise MalformedObject("no iCalendar component found (no BEGIN:VCALENDAR or BEGIN:VEVENT)")
    try:
        components = _parse_lines(scanned.body)
    except Exception as error:
        log.info("Reading the object line by line after: %s", error)
        salvaged = (_salvage(block) for block in _top_blocks(scanned.body))
        components = [c for c in salvaged if c is not None]
    if not components:
        raise MalformedObject("no readable iCalendar component in the object")
    calendars = [c for c in components if isinstance(c, icalendar.Calendar)]
    merged = calendars[0] if calendars else icalendar.Calendar()
    for other in calendars[1:]:
        merged.subcomponents.extend(other.subcomponents)
    merged.subcomponents.extend(c for c in components if not isinstance(c, icalendar.Calendar))
    _apply_zones(merged, _Zones(scanned.zones))
    return merged


# --- Preparing the events ------------------------------------------------------------------------

_RRULE_PARTS = frozenset(
    {"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY"}
    | {"BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST"}
)


def _to_zone(value: date | datetime, zone: ZoneInfo) -> datetime:
    """Aware, in the freelancer's zone: a date is its local midnight, floating is local time."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    # Through UTC, so that a time in a DST gap (fold=0: the offset before the gap, RFC 5545
    # §3.3.5) comes out as the real instant, which compares and subtracts correctly.
    return value.astimezone(UTC).astimezone(zone)


def _is_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


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
        if str(rule["FREQ"][0]).upper() in ("SECONDLY", "MINUTELY"):
            # Not a freelancer's appointment, and tens of thousands of occurrences a month.
            log.info("Ignored a %s RRULE in %s", rule["FREQ"][0], label)
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


def _prepare(raw: bytes | str, zone: ZoneInfo) -> _Prepared:
    """Parse the object, then check and normalise its VEVENTs for expansion."""
    calendar = parse_calendar(raw)
    events: list[_Event] = []
    for index, component in enumerate(calendar.walk("VEVENT")):
        uid = str(_first(component, "UID") or "").strip()
        label = f"UID {uid!r}" if uid else f"VEVENT #{index + 1} (no UID)"
        component.pop(_TAG, None)
        component.add(_TAG, vText(str(index)))
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


class _TooCostly(BaseException):
    """An expansion ran over its CPU budget (BaseException: libraries' `except Exception` must
    not swallow it)."""


# A rule that can never match (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31) makes dateutil walk to the
# year 9999: seconds of CPU for each call, and anyone can send such an invitation. A normal
# series expands in milliseconds.
EXPANSION_CPU_BUDGET = 1.0


@contextlib.contextmanager
def _cpu_budget(seconds: float) -> Iterator[None]:
    """Raise _TooCostly in the block once it has used `seconds` of CPU. Only the main thread
    receives signals; elsewhere (and where setitimer is missing) the block runs unbounded."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "setitimer") or signal.getitimer(signal.ITIMER_VIRTUAL)[0]:
        yield
        return

    def over(signum: int, frame: object) -> None:
        raise _TooCostly

    previous = signal.signal(signal.SIGVTALRM, over)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def _expand(calendar: icalendar.Calendar, start: datetime, end: datetime) -> list[Any]:
    """Occurrences overlapping [start, end); a series that breaks the expansion, or costs too
    much to expand, is skipped alone."""
    too_costly = False
    try:
        with _cpu_budget(EXPANSION_CPU_BUDGET):
            return list(recurring_ical_events.of(calendar).between(start, end))
    except _TooCostly:
        too_costly = True
    except Exception as error:  # the library raises many kinds on odd data
        log.info("Expanding series one by one after: %s", error)
    groups: dict[str, list[Any]] = defaultdict(list)
    for component in calendar.subcomponents:
        groups[str(component.get("UID", id(component)))].append(component)
    if too_costly and len(groups) <= 1:  # one series (the usual CalDAV object): no second try
        for uid in groups:
            _warn_once(("expand", uid), "Skipped the events of UID %r: their recurrence rule "
                       "costs too much to expand (it may never match)", uid)
        return []
    found: list[Any] = []
    for uid, components in groups.items():
        try:
            with _cpu_budget(EXPANSION_CPU_BUDGET):
                found.extend(_expand_some(calendar, components, start, end))
            continue
        except _TooCostly:
            _warn_once(("expand", uid), "Skipped the events of UID %r: their recurrence rule "
                       "costs too much to expand (it may never match)", uid)
            continue
        except Exception as error:
            failure = error
        if len(components) == 1:
            _warn_once(("expand", uid), "Skipped the events of UID %r: %s", uid, failure)
            continue
        for component in components:  # each VEVENT alone: an override alone is its own event
            try:
                with _cpu_budget(EXPANSION_CPU_BUDGET):
                    found.extend(_expand_some(calendar, [component], start, end))
            except _TooCostly:
                _warn_once(("expand", uid), "Skipped events of UID %r: too costly to expand", uid)
            except Exception as error:
                _warn_once(("expand", uid), "Skipped events of UID %r: %s", uid, error)
    return found


def _expand_some(
    calendar: icalendar.Calendar, components: list[Any], start: datetime, end: datetime
) -> list[Any]:
    some = icalendar.Calendar()
    if "X-WR-TIMEZONE" in calendar:
        some["X-WR-TIMEZONE"] = calendar["X-WR-TIMEZONE"]
    some.subcomponents.extend(components)
    return list(recurring_ical_events.of(some).between(start, end))


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


def _declined(component: Any, addresses: frozenset[str]) -> bool:
    for attendee in _props(component, "ATTENDEE"):
        partstat = str(getattr(attendee, "params", {}).get("PARTSTAT", "")).upper()
        if partstat == "DECLINED" and _address(attendee) in addresses:
            return True
    return False


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def busy_intervals(
    raw: bytes | str,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    self_addresses: frozenset[str],
) -> list[BusyInterval]:
    """The occurrences of the object's events that make the freelancer busy in [start, end).

    Not busy: TRANSP:TRANSPARENT, STATUS:CANCELLED, events the freelancer declined. Intervals are
    aware, in `zone`; all-day events block whole local days.
    """
    _aware(start, "start")
    _aware(end, "end")
    prepared = _prepare(raw, zone)
    if end <= start or not prepared.calendar.subcomponents:
        return []
    addresses = frozenset(_address(a) for a in self_addresses)
    found: list[BusyInterval] = []
    for occurrence in _expand(prepared.calendar, start.astimezone(zone), end.astimezone(zone)):
        if (
            _upper(occurrence, "STATUS") == "CANCELLED"
            or _upper(occurrence, "TRANSP") == "TRANSPARENT"
            or _declined(occurrence, addresses)
        ):
            continue
        uid = str(occurrence.get("UID", "")).strip()
        interval = _interval(occurrence, zone, uid)
        # A zero-length event blocks no time (RFC 5545 §3.6.1).
        if interval.start < interval.end and interval.start < end and interval.end > start:
            found.append(interval)
    return sorted(found, key=lambda i: (i.start, i.end, i.uid))


# --- Bounds --------------------------------------------------------------------------------------

_COUNT_CAP = 10_000  # a longer COUNT series gets an unknown end rather than a long walk


def _rule_end(rule: vRecur, event: _Event, zone: ZoneInfo) -> datetime | None:
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
    try:
        text = rule.to_ical().decode()  # type: ignore[no-untyped-call]
        with _cpu_budget(EXPANSION_CPU_BUDGET):
            tail = deque(rrulestr(text, dtstart=anchor, cache=False), maxlen=1)
    except (ValueError, TypeError, OverflowError) as error:
        log.info("No end bound for a COUNT rule: %s", error)
        return None
    except _TooCostly:
        return None  # unknown: the object is read in every window (and its expansion bounded)
    # A day of slack: with X-WR-TIMEZONE the expansion anchors a UTC series in another zone.
    return _to_zone(tail[0], zone) + length + timedelta(days=1) if tail else None


def object_bounds(raw: bytes | str, zone: ZoneInfo) -> Bounds:
    """The earliest start and latest end of the object's events, for skipping it cheaply."""
    prepared = _prepare(raw, zone)
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
        ends.extend(_rule_end(rule, event, zone) for rule in _props(event.component, "RRULE"))
    known = [end for end in ends if end is not None]
    last_end = max(known).timestamp() if len(known) == len(ends) else None
    return Bounds(min(starts).timestamp(), last_end)


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
        for occurrence in _expand(prepared.calendar, now, window):
            tag = str(occurrence.get(_TAG, ""))
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
    min_occurrences: int = 4,
) -> list[CalendarItem]:
    """One CalendarItem per VEVENT (a master or single event, and each override separately).

    A series gets its occurrences ending after `now` and starting before `horizon_end`, and at
    least the next `min_occurrences` within two years; a single event or an override gets its
    one occurrence if it ends after `now`. An item whose times cannot be read has no start, no
    occurrences and `time_trusted=False`.
    """
    _aware(now, "now")
    _aware(horizon_end, "horizon_end")
    prepared = _prepare(raw, zone)
    series = _collect(prepared, now, horizon_end, zone, min_occurrences)
    items: list[CalendarItem] = []
    for event in prepared.events:
        component = event.component
        if isinstance(_first(component, "RECURRENCE-ID"), vBroken):
            continue  # which instance it changes is unknown: never let it pass for a master
        if event.tag in series:
            occurrences = tuple(series[event.tag])
        elif (
            event.start is not None
            and event.end is not None
            and (event.end > now or (event.start == event.end and event.start >= now))
        ):
            occurrences = (BusyInterval(event.start, event.end, event.all_day, event.uid),)
        else:
            occurrences = ()
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
                occurrences=occurrences,
                time_trusted=not event.untrusted and not event.problem,
            )
        )
    return items
