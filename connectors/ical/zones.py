"""Resolving the TZIDs of one object: IANA, Windows, vendor-prefixed, its own VTIMEZONE, OWA
display names. Never through icalendar's process-wide cache of VTIMEZONE definitions: it keeps the
first definition it sees under a TZID, so one sender's "Customized Time Zone" would shift every
later invitation using the same name."""

from __future__ import annotations

import functools
import logging
import re
import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from icalendar.prop import vBroken
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from connectors.ical.values import (
    _DT_NAMES,
    _holders,
    _line_name,
    _line_value,
    _props,
    _tz_key,
)

log = logging.getLogger("connectors.ical")



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
