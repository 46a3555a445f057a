"""The local mirror of the calendar(s), kept in the state database and synced incrementally.

Busy time is read from here, never from server-side time-range queries (STANDARDS.md §3). Each
collection row holds the sync token; each object row holds href, ETag, the raw iCalendar bytes
and the object's bounds (first start, last end: NULL when open-ended or unknown), so a window
over a large calendar parses only the objects that may occur in it. A sync is applied in one
transaction: a crash leaves the previous state and token, and the next sync resumes from it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from connectors.budget import OverBudget
from connectors.ical import MalformedObject, object_bounds, occurrences
from daemon.state import get_fact, set_fact
from rules.busy import busy_intervals
from rules.model import BusyInterval

if TYPE_CHECKING:
    from connectors.caldav import CalendarConnection

log = logging.getLogger(__name__)

_BOUNDS_ZONE_FACT = "mirror.bounds_zone"
# busy_cache spans: a miss expands an object from a week before the window to 120 days after
# its start, so the windows of the next weeks' passes (21-day horizons) are all hits
CACHE_BEFORE = timedelta(days=7)
CACHE_AHEAD = timedelta(days=120)


@dataclass(frozen=True)
class MirrorChange:
    """What one sync changed in the mirror: hrefs added or modified, hrefs removed, whether it
    was a full listing, and how many HTTP requests it cost."""

    url: str
    changed: list[str]
    deleted: list[str]
    full: bool
    requests: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Mirror:
    """Reads and updates the `collections` and `objects` tables of the state database."""

    def __init__(self, conn: sqlite3.Connection, zone: ZoneInfo) -> None:
        self.conn = conn
        self.zone = zone
        self._reported: set[tuple[str, str, int]] = set()
        # Floating and all-day times are bounded in the freelancer's zone: if it changed since
        # the bounds were computed, compute them again rather than skip the wrong objects.
        if get_fact(conn, _BOUNDS_ZONE_FACT) != zone.key:
            self._recompute_bounds()

    # -- bounds ----------------------------------------------------------------------------

    def _bounds(self, href: str, raw: bytes) -> tuple[float | None, float | None]:
        """(first_start, last_end) in epoch seconds; (None, None) when the object cannot be
        read (busy() then reads it in every window, and reports it)."""
        try:
            bounds = object_bounds(raw, self.zone)
        except MalformedObject:
            return (None, None)
        except Exception:
            # A bug in bounding one object must not stop the sync: read it in every window.
            log.debug("could not bound %s", href, exc_info=True)
            return (None, None)
        return (bounds.first_start, bounds.last_end)

    def _recompute_bounds(self) -> None:
        rows = self.conn.execute("SELECT collection, href, raw FROM objects").fetchall()
        updates = [(*self._bounds(r[1], bytes(r[2])), r[0], r[1]) for r in rows]
        with self._transaction():
            self.conn.executemany(
                "UPDATE objects SET first_start = ?, last_end = ? "
                "WHERE collection = ? AND href = ?",
                updates,
            )
            set_fact(self.conn, _BOUNDS_ZONE_FACT, self.zone.key)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """All or nothing; a savepoint when the caller already holds a transaction."""
        nested = self.conn.in_transaction
        self.conn.execute("SAVEPOINT mirror" if nested else "BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO mirror" if nested else "ROLLBACK")
            if nested:
                self.conn.execute("RELEASE mirror")
            raise
        self.conn.execute("RELEASE mirror" if nested else "COMMIT")

    # -- sync ------------------------------------------------------------------------------

    def token(self, url: str) -> str | None:
        row = self.conn.execute(
            "SELECT sync_token FROM collections WHERE url = ?", (url,)
        ).fetchone()
        return None if row is None else row[0]

    def sync(self, url: str, connection: CalendarConnection, role: str = "main") -> MirrorChange:
        """Bring the mirror of `url` up to date and store the new token, in one transaction."""
        token = self.token(url)
        known = _KnownEtags(self.conn, url)
        before = connection.requests
        result = connection.sync(token, known)
        requests = connection.requests - before

        # Parse outside the write transaction: it is the slow part.
        now = _now()
        rows = [self._row(url, o.href, o.etag, o.raw, now) for o in result.changed]
        if result.full:
            before_full = dict(known.items())
            listed = {obj.href for obj in result.changed}
            changed = [
                o.href
                for o in result.changed
                if o.etag is None or before_full.get(o.href) != o.etag
            ]
            deleted = sorted(h for h in before_full if h not in listed)
        else:
            changed = [o.href for o in result.changed]
            deleted = sorted(h for h in set(result.deleted) if h in known)
        with self._transaction():
            if result.full:
                self.conn.execute("DELETE FROM objects WHERE collection = ?", (url,))
            else:
                self.conn.executemany(
                    "DELETE FROM objects WHERE collection = ? AND href = ?",
                    [(url, h) for h in result.deleted],
                )
            # cached busy intervals of objects that are gone (changed ones miss by their key)
            self.conn.execute("DELETE FROM busy_cache WHERE collection = ? AND href NOT IN "
                              "(SELECT href FROM objects WHERE collection = ?) AND href NOT IN "
                              "(SELECT value FROM json_each(?))",
                              (url, url, json.dumps([o.href for o in result.changed])))
            self.conn.executemany(_UPSERT, rows)
            self.conn.execute(
                "INSERT INTO collections (url, sync_token, synced_at, role) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET sync_token = excluded.sync_token, "
                "synced_at = excluded.synced_at, role = excluded.role",
                (url, result.token, now, role),
            )
            set_fact(self.conn, _BOUNDS_ZONE_FACT, self.zone.key)
        if result.full or changed or deleted:
            log.info(
                "calendar %s: %d changed, %d removed%s (%d requests)",
                url,
                len(changed),
                len(deleted),
                ", full resync" if result.full and token else "",
                requests,
            )
        return MirrorChange(url, changed, deleted, result.full, requests)

    def _row(
        self, url: str, href: str, etag: str | None, raw: bytes, now: str
    ) -> tuple[object, ...]:
        first, last = self._bounds(href, raw)
        return (url, href, etag, raw, first, last, now)

    # -- reading ---------------------------------------------------------------------------

    def objects_in_window(
        self, urls: Sequence[str], start: datetime, end: datetime
    ) -> Iterator[tuple[str, str, bytes]]:
        """(collection, href, raw) of every object that may occur in [start, end): its bounds
        overlap the window, or are unknown or open-ended."""
        if not urls:
            return
        marks = ",".join("?" * len(urls))
        # Inclusive comparisons: a bound that touches the window costs one parse, never a miss.
        cursor = self.conn.execute(
            f"SELECT collection, href, raw FROM objects WHERE collection IN ({marks}) "
            "AND (first_start IS NULL OR first_start <= ?) "
            "AND (last_end IS NULL OR last_end >= ?) ORDER BY collection, href",
            (*urls, end.timestamp(), start.timestamp()),
        )
        while batch := cursor.fetchmany(500):
            for collection, href, raw in batch:
                yield collection, href, bytes(raw)

    def busy(
        self,
        urls: Sequence[str],
        start: datetime,
        end: datetime,
        self_addresses: frozenset[str],
    ) -> list[BusyInterval]:
        """Busy intervals of every object of `urls` within [start, end), sorted by start. An
        object that cannot be read is reported once and skipped."""
        found: list[BusyInterval] = []
        lo, hi = start.timestamp(), end.timestamp()
        who = ",".join(sorted(self_addresses))
        objects = list(self.objects_in_window(urls, start, end))
        cached = self._cached(urls)
        fresh: list[tuple[str, str, str, float, float, str]] = []
        for collection, href, raw in objects:
            key = f"{zlib.crc32(raw)}:{len(raw)}:{self.zone.key}:{who}"
            hit = cached.get((collection, href))
            if hit is not None and hit[0] == key and hit[1] <= lo and hi <= hit[2]:
                found += self._decode(hit[3], lo, hi)
                continue
            # a miss: expand over a span wide enough for the next windows too
            span = (start - CACHE_BEFORE, max(end, start + CACHE_AHEAD))
            try:
                intervals = busy_intervals(occurrences(raw, span[0], span[1], self.zone),
                                           self_addresses, span[0], span[1])
            except (MalformedObject, OverBudget) as exc:
                report = (collection, href, zlib.crc32(raw))
                if report not in self._reported:
                    self._reported.add(report)
                    log.warning("skipping unreadable calendar object %s: %s", href, exc)
                intervals = []  # cached as empty: this revision is not read again
            encoded = json.dumps([[b.start.timestamp(), b.end.timestamp(), b.all_day, b.uid]
                                  for b in intervals])
            fresh.append((collection, href, key, span[0].timestamp(), span[1].timestamp(),
                          encoded))
            found += [b for b in intervals if b.start.timestamp() < hi and b.end.timestamp() > lo]
        if fresh:
            try:
                with self._transaction():
                    self.conn.executemany(
                        "INSERT OR REPLACE INTO busy_cache (collection, href, key, span_start, "
                        "span_end, intervals) VALUES (?, ?, ?, ?, ?, ?)", fresh)
            except sqlite3.OperationalError as exc:  # a read-only or busy database: no cache
                log.debug("busy cache not written: %s", exc)
        found.sort(key=lambda b: (b.start, b.end))
        return found

    def _cached(self, urls: Sequence[str]) -> dict[tuple[str, str], tuple[str, float, float, str]]:
        marks = ", ".join("?" * len(urls))
        rows = self.conn.execute(
            "SELECT collection, href, key, span_start, span_end, intervals FROM busy_cache "
            f"WHERE collection IN ({marks})", list(urls))  # only placeholders are formatted in
        return {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows}

    def _decode(self, encoded: str, lo: float, hi: float) -> list[BusyInterval]:
        zone = self.zone
        return [BusyInterval(datetime.fromtimestamp(a, zone), datetime.fromtimestamp(b, zone),
                             bool(all_day), uid)
                for a, b, all_day, uid in json.loads(encoded) if a < hi and b > lo]

    def get(self, url: str, href: str) -> tuple[str | None, bytes] | None:
        row = self.conn.execute(
            "SELECT etag, raw FROM objects WHERE collection = ? AND href = ?", (url, href)
        ).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def put_local(self, url: str, href: str, etag: str | None, raw: bytes) -> None:
        """Record an object we PUT ourselves, so the mirror is right before the next sync (which
        then skips it when the server reports the same ETag)."""
        row = self._row(url, href, etag, raw, _now())
        with self._transaction():
            self.conn.execute(_UPSERT, row)


class _KnownEtags(Mapping[str, "str | None"]):
    """href -> ETag of one collection, read from the database only as far as it is asked: an
    incremental sync looks up the few hrefs the server listed, never the whole collection."""

    def __init__(self, conn: sqlite3.Connection, url: str) -> None:
        self.conn = conn
        self.url = url

    def __getitem__(self, href: str) -> str | None:
        row = self.conn.execute(
            "SELECT etag FROM objects WHERE collection = ? AND href = ?", (self.url, href)
        ).fetchone()
        if row is None:
            raise KeyError(href)
        return None if row[0] is None else str(row[0])

    def __contains__(self, href: object) -> bool:
        return isinstance(href, str) and self.get(href, _ABSENT) is not _ABSENT

    def __iter__(self) -> Iterator[str]:
        rows = self.conn.execute("SELECT href FROM objects WHERE collection = ?", (self.url,))
        return iter([str(r[0]) for r in rows.fetchall()])

    def __len__(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM objects WHERE collection = ?", (self.url,)
        ).fetchone()
        return int(row[0])

    def items(self) -> Any:
        rows = self.conn.execute(
            "SELECT href, etag FROM objects WHERE collection = ?", (self.url,)
        ).fetchall()
        return [(str(r[0]), None if r[1] is None else str(r[1])) for r in rows]


_ABSENT = object()

_UPSERT = (
    "INSERT INTO objects (collection, href, etag, raw, first_start, last_end, changed_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(collection, href) DO UPDATE SET "
    "etag = excluded.etag, raw = excluded.raw, first_start = excluded.first_start, "
    "last_end = excluded.last_end, changed_at = excluded.changed_at"
)
