"""Small shared pieces of reading iCalendar: the error, content-line helpers, property access,
and logging each problem once."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from icalendar.prop import vDDDLists

log = logging.getLogger("connectors.ical")

class MalformedObject(Exception):
    """The object cannot be read at all; str() says what and why."""


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



_DT_NAMES = ("DTSTART", "DTEND", "RECURRENCE-ID", "DUE", "RDATE", "EXDATE")
def _line_name(line: str) -> str:
    return line.split(":", 1)[0].split(";", 1)[0].strip().upper()


def _line_value(line: str) -> str:
    return line.split(":", 1)[1].strip() if ":" in line else ""


def _unescape_text(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _tz_key(tzid: str) -> str:
    return tzid.strip().strip('"').strip()



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
