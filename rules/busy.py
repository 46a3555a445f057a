"""What makes the freelancer busy: which stored occurrences block time.

Pure: the connector reads every occurrence of an object (connectors.ical.occurrences); this
module decides which of them are busy time (STANDARDS.md §3: free/busy computed by the client).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rules.model import BusyInterval, Occurrence

__all__ = ["busy_intervals", "makes_busy"]


def makes_busy(occurrence: Occurrence, self_addresses: frozenset[str]) -> bool:
    """An occurrence blocks time unless it is cancelled, transparent (TRANSP:TRANSPARENT),
    declined by the freelancer, or zero-length (RFC 5545 §3.6.1: it blocks no time)."""
    if occurrence.status.upper() == "CANCELLED" or occurrence.transparent:
        return False
    if occurrence.declined_by & self_addresses:
        return False
    return occurrence.start < occurrence.end


def busy_intervals(
    occurrences: Iterable[Occurrence],
    self_addresses: frozenset[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[BusyInterval]:
    """The busy intervals among `occurrences` (within [start, end) when given), sorted."""
    selves = frozenset(a.strip().lower() for a in self_addresses)
    found = [
        BusyInterval(o.start, o.end, o.all_day, o.uid, o.attendees)
        for o in occurrences
        if makes_busy(o, selves)
        and (start is None or o.end > start)
        and (end is None or o.start < end)
    ]
    return sorted(found, key=lambda b: (b.start, b.end, b.uid))
