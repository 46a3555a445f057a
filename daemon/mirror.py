"""The local mirror of the calendar(s), kept in the ledger and synced incrementally.

Busy time is read from here, never from server-side time-range queries (STANDARDS.md §3). Each
object is stored with its bounds (first start, last end: unknown or open-ended when they cannot be
told), so a window over a large calendar parses only the objects that may occur in it, and each
object's busy intervals are cached by revision, so a window read again (every `slots`, every
booking reply) does not parse and expand again. A sync is applied in one transaction: a crash
leaves the previous state and token, and the next sync resumes from it.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from connectors.budget import Budget, OverBudget
from connectors.ical import MalformedObject, object_bounds, occurrences
from daemon.ledger import CachedBusy, Ledger, ObjectRow, StoredObject, utcnow
from rules.busy import busy_intervals
from rules.model import BusyInterval

if TYPE_CHECKING:
    from connectors.caldav import CalendarConnection

log = logging.getLogger(__name__)

# busy_cache spans: a miss expands an object from a week before the window to 120 days after
# its start, so the windows of the next weeks' passes (21-day horizons) are all hits
CACHE_BEFORE = timedelta(days=7)
CACHE_AHEAD = timedelta(days=120)
# the layout of a cached interval: [start, end, all_day, uid, attendees]; another layout misses
CACHE_FORMAT = "v2"
# CPU one calendar object may cost to bound or to expand; past it, it counts as unreadable
OBJECT_CPU_SECONDS = 2.0


@dataclass(frozen=True)
class MirrorChange:
    """What one sync changed in the mirror: hrefs added or modified, hrefs removed, whether it
    was a full listing, and how many HTTP requests it cost."""

    url: str
    changed: list[str]
    deleted: list[str]
    full: bool
    requests: int


class Mirror:
    """The calendar mirror over the ledger's `collections`, `objects` and `busy_cache`."""

    def __init__(self, ledger: Ledger, zone: ZoneInfo) -> None:
        self.ledger = ledger
        self.zone = zone
        self._reported: set[tuple[str, str, int]] = set()
        # Floating and all-day times are bounded in the freelancer's zone: if it changed since
        # the bounds were computed, compute them again rather than skip the wrong objects.
        if not ledger.readonly and ledger.bounds_zone() not in (None, zone.key):
            self._recompute_bounds()

    # -- bounds --

    def _bounds(self, href: str, raw: bytes) -> tuple[float | None, float | None]:
        """(first_start, last_end) in epoch seconds; (None, None) when the object cannot be
        read (busy() then reads it in every window, and reports it)."""
        try:
            bounds = object_bounds(raw, self.zone, budget=Budget(OBJECT_CPU_SECONDS))
        except (MalformedObject, OverBudget):
            return (None, None)
        except Exception:
            # A bug in bounding one object must not stop the sync: read it in every window.
            log.debug("could not bound %s", href, exc_info=True)
            return (None, None)
        return (bounds.first_start, bounds.last_end)

    def _row(self, url: str, href: str, etag: str | None, raw: bytes) -> ObjectRow:
        first, last = self._bounds(href, raw)
        return ObjectRow(url, href, etag, raw, first, last)

    def _recompute_bounds(self) -> None:
        updates = [(*self._bounds(o.href, o.raw), o.collection, o.href)
                   for o in self.ledger.all_objects()]
        self.ledger.set_bounds(updates, self.zone.key)

    # -- sync --

    def token(self, url: str) -> str | None:
        return self.ledger.sync_token(url)

    def sync(self, url: str, connection: CalendarConnection, role: str = "main") -> MirrorChange:
        """Bring the mirror of `url` up to date and store the new token, in one transaction."""
        token = self.token(url)
        known = _KnownEtags(self.ledger, url)
        before = connection.requests
        result = connection.sync(token, known)
        requests = connection.requests - before

        # Parse outside the write transaction: it is the slow part.
        rows = [self._row(url, o.href, o.etag, o.raw) for o in result.changed]
        if result.full:
            before_full = dict(known.items())
            listed = {obj.href for obj in result.changed}
            changed = [o.href for o in result.changed
                       if o.etag is None or before_full.get(o.href) != o.etag]
            deleted = sorted(h for h in before_full if h not in listed)
        else:
            changed = [o.href for o in result.changed]
            deleted = sorted(h for h in set(result.deleted) if h in known)
        self.ledger.apply_sync(url, role, result.token, full=result.full, rows=rows,
                               deleted=list(result.deleted), synced_at=utcnow(),
                               zone_key=self.zone.key)
        if result.full or changed or deleted:
            log.info("calendar %s: %d changed, %d removed%s (%d requests)", url, len(changed),
                     len(deleted), ", full resync" if result.full and token else "", requests)
        return MirrorChange(url, changed, deleted, result.full, requests)

    # -- reading --

    def busy(self, urls: Sequence[str], start: datetime, end: datetime,
             self_addresses: frozenset[str]) -> list[BusyInterval]:
        """Busy intervals of every object of `urls` within [start, end), sorted by start. An
        object that cannot be read is reported once and skipped."""
        found: list[BusyInterval] = []
        lo, hi = start.timestamp(), end.timestamp()
        who = ",".join(sorted(self_addresses))
        objects = list(self.ledger.objects_in_window(urls, lo, hi))
        cached = self.ledger.cached_busy(urls)
        fresh: list[tuple[str, str, CachedBusy]] = []
        for obj in objects:
            key = f"{CACHE_FORMAT}:{zlib.crc32(obj.raw)}:{len(obj.raw)}:{self.zone.key}:{who}"
            hit = cached.get((obj.collection, obj.href))
            if hit is not None and hit.key == key and hit.span_start <= lo and hi <= hit.span_end:
                found += self._decode(hit.intervals, lo, hi)
                continue
            # a miss: expand over a span wide enough for the next windows too
            span = (start - CACHE_BEFORE, max(end, start + CACHE_AHEAD))
            try:
                intervals = busy_intervals(
                    occurrences(obj.raw, span[0], span[1], self.zone,
                                budget=Budget(OBJECT_CPU_SECONDS, what="reading the calendar")),
                    self_addresses, span[0], span[1])
            except (MalformedObject, OverBudget) as exc:
                report = (obj.collection, obj.href, zlib.crc32(obj.raw))
                if report not in self._reported:
                    self._reported.add(report)
                    log.warning("skipping unreadable calendar object %s: %s", obj.href, exc)
                intervals = []  # cached as empty: this revision is not read again
            encoded = json.dumps([[b.start.timestamp(), b.end.timestamp(), b.all_day, b.uid,
                                   sorted(b.attendees)] for b in intervals])
            fresh.append((obj.collection, obj.href, CachedBusy(
                key, span[0].timestamp(), span[1].timestamp(), encoded)))
            found += [b for b in intervals if b.start.timestamp() < hi and b.end.timestamp() > lo]
        self.ledger.cache_busy(fresh)
        found.sort(key=lambda b: (b.start, b.end))
        return found

    def _decode(self, encoded: str, lo: float, hi: float) -> list[BusyInterval]:
        zone = self.zone
        return [BusyInterval(datetime.fromtimestamp(a, zone), datetime.fromtimestamp(b, zone),
                             bool(all_day), uid, frozenset(who))
                for a, b, all_day, uid, who in json.loads(encoded) if a < hi and b > lo]

    def get(self, url: str, href: str) -> tuple[str | None, bytes] | None:
        found = self.ledger.stored(url, href)
        return None if found is None else (found.etag, found.raw)

    def stored(self, url: str, href: str) -> StoredObject | None:
        return self.ledger.stored(url, href)

    def put_local(self, url: str, href: str, etag: str | None, raw: bytes) -> None:
        """Record an object we PUT ourselves, so the mirror is right before the next sync (which
        then skips it when the server reports the same ETag)."""
        self.ledger.put_object(self._row(url, href, etag, raw))


class _KnownEtags(Mapping[str, "str | None"]):
    """href -> ETag of one collection, read from the ledger only as far as it is asked: an
    incremental sync looks up the few hrefs the server listed, never the whole collection."""

    def __init__(self, ledger: Ledger, url: str) -> None:
        self.ledger = ledger
        self.url = url

    def __getitem__(self, href: str) -> str | None:
        known, etag = self.ledger.etag(self.url, href)
        if not known:
            raise KeyError(href)
        return etag

    def __contains__(self, href: object) -> bool:
        return isinstance(href, str) and self.ledger.etag(self.url, href)[0]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ledger.hrefs(self.url))

    def __len__(self) -> int:
        return self.ledger.object_count(self.url)

    def items(self) -> list[tuple[str, str | None]]:  # type: ignore[override]
        return self.ledger.etags(self.url)
