"""Decode raw iCalendar objects (CalDAV bodies, iMIP parts) into the records of rules/model.py.

- reading: tolerant text reading and repair, parsing with icalendar;
- zones: resolving each object's TZIDs without icalendar's process-wide zone cache;
- expansion: preparing events, expanding recurrences within bounded work, an object's bounds;
- items: occurrences (for busy time) and calendar items (for judging invitations).
"""

from __future__ import annotations

from connectors.ical.expansion import Bounds, object_bounds
from connectors.ical.items import calendar_items, occurrences
from connectors.ical.reading import parse_calendar
from connectors.ical.values import MalformedObject
from connectors.ical.zones import untrusted_tzids

__all__ = [
    "Bounds",
    "MalformedObject",
    "calendar_items",
    "object_bounds",
    "occurrences",
    "parse_calendar",
    "untrusted_tzids",
]
