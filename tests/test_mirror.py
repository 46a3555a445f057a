"""The calendar mirror against a real Radicale: RFC 6578 incremental sync, its failure paths, and
the busy-time reader over the mirror (STANDARDS.md §3)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fixtures.radicale import PASSWORD, USER, CountingProxy
from helpers import busy_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.caldav import (
    AuthError,
    CalDAVError,
    CalendarConnection,
    NotFound,
    PreconditionFailed,
    Unreachable,
)
from daemon.demo.radicale import RadicaleServer, free_port
from daemon.ledger import Ledger
from daemon.mirror import Mirror

pytestmark = pytest.mark.servers

ZONE = ZoneInfo("Europe/Paris")
ME = frozenset({"julie@example.org"})


def event(
    uid: str,
    start: datetime,
    minutes: int = 60,
    *,
    summary: str = "Busy",
    rrule: str | None = None,
) -> bytes:
    end = start + timedelta(minutes=minutes)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//frontdesk//tests//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        f"DTSTART:{start.astimezone(UTC):%Y%m%dT%H%M%SZ}",
        f"DTEND:{end.astimezone(UTC):%Y%m%dT%H%M%SZ}",
        f"SUMMARY:{summary}",
    ]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def at(day: int, hour: int) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=ZONE)


def path_of(url: str, name: str) -> str:
    """The href key the mirror uses: the unquoted path."""
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).path) + name


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Ledger]:
    conn = Ledger.open(tmp_path / "state")
    yield conn
    conn.close()


@pytest.fixture
def mirror(db: Ledger) -> Mirror:
    return Mirror(db, ZONE)


@pytest.fixture
def proxy(radicale: RadicaleServer) -> Iterator[CountingProxy]:
    with CountingProxy(radicale.port) as p:
        yield p


def connect(url: str, password: str = PASSWORD) -> CalendarConnection:
    return CalendarConnection(url, USER, password, timeout=10)


def mirrored(db: Ledger, url: str) -> dict[str, str | None]:
    rows = db.conn.execute("SELECT href, etag FROM objects WHERE collection = ?", (url,)).fetchall()
    return {r[0]: r[1] for r in rows}


# -- RFC 6578: what changes on the server reaches the mirror --------------------------------


def test_rfc6578_change_addition_and_deletion_each_reach_the_mirror(
    radicale: RadicaleServer, calendar_url: str, mirror: Mirror, db: Ledger
) -> None:
    radicale.put_event(calendar_url, "keep.ics", event("keep", at(3, 9)))
    radicale.put_event(calendar_url, "move.ics", event("move", at(3, 11)))
    radicale.put_event(calendar_url, "drop.ics", event("drop", at(3, 14)))
    with connect(calendar_url) as conn:
        first = mirror.sync(calendar_url, conn)
        assert first.full
        assert sorted(first.changed) == [
            path_of(calendar_url, n) for n in ("drop.ics", "keep.ics", "move.ics")
        ]
        before = mirrored(db, calendar_url)

        radicale.put_event(calendar_url, "move.ics", event("move", at(3, 16)))
        radicale.delete(calendar_url + "drop.ics")
        radicale.put_event(calendar_url, "new.ics", event("new", at(4, 10)))
        change = mirror.sync(calendar_url, conn)

    assert not change.full
    assert sorted(change.changed) == [
        path_of(calendar_url, "move.ics"),
        path_of(calendar_url, "new.ics"),
    ]
    assert change.deleted == [path_of(calendar_url, "drop.ics")]
    # One sync-collection REPORT and one calendar-multiget for both changed objects.
    assert change.requests == 2
    after = mirrored(db, calendar_url)
    assert set(after) == {path_of(calendar_url, n) for n in ("keep.ics", "move.ics", "new.ics")}
    assert after[path_of(calendar_url, "keep.ics")] == before[path_of(calendar_url, "keep.ics")]
    stored = mirror.get(calendar_url, path_of(calendar_url, "move.ics"))
    assert stored is not None and b"DTSTART:20250303T150000Z" in stored[1]
    busy = mirror.busy([calendar_url], at(3, 0), at(5, 0), ME)
    assert [(b.start, b.end) for b in busy] == [
        (at(3, 9), at(3, 10)),
        (at(3, 16), at(3, 17)),
        (at(4, 10), at(4, 11)),
    ]


def test_rfc6578_no_change_sync_costs_exactly_one_request_whatever_the_size(
    radicale: RadicaleServer, proxy: CountingProxy, mirror: Mirror
) -> None:
    # 300 events, seeded by one PUT of a whole VCALENDAR (TESTSERVERS.md).
    events = [event(f"e{i}", at(1, 8) + timedelta(hours=i)) for i in range(300)]
    body = (
        events[0].split(b"BEGIN:VEVENT")[0]
        + b"".join(
            b"BEGIN:VEVENT" + e.split(b"BEGIN:VEVENT")[1].split(b"END:VCALENDAR")[0] for e in events
        )
        + b"END:VCALENDAR\r\n"
    )
    url = radicale.create_calendar(USER, f"big-{uuid.uuid4().hex[:8]}", body)
    via = proxy.via(url)
    with connect(via) as conn:
        first = mirror.sync(via, conn)
        assert len(first.changed) == 300
        # 300 hrefs fit two calendar-multiget REPORTs: never one GET per object.
        assert "GET" not in proxy.methods()
        proxy.reset()
        again = mirror.sync(via, conn)
    assert (again.changed, again.deleted, again.full) == ([], [], False)
    assert proxy.methods() == ["REPORT"] and proxy.seen[0].sync_collection
    assert again.requests == 1


def test_own_put_recorded_locally_is_not_fetched_again(
    radicale: RadicaleServer, calendar_url: str, proxy: CountingProxy, mirror: Mirror
) -> None:
    via = proxy.via(calendar_url)
    radicale.put_event(calendar_url, "a.ics", event("a", at(5, 9)))
    with connect(via) as conn:
        mirror.sync(via, conn)
        href = path_of(calendar_url, "a.ics")
        etag, raw = mirror.get(via, href) or (None, b"")
        moved = raw.replace(b"T080000Z", b"T120000Z").replace(b"T090000Z", b"T130000Z")
        new_etag = conn.put(href, moved, etag)
        assert new_etag
        mirror.put_local(via, href, new_etag, moved)
        with pytest.raises(PreconditionFailed):
            conn.put(href, moved, etag)  # RFC 4791 §5.3.4 / If-Match: the old ETag is stale
        proxy.reset()
        change = mirror.sync(via, conn)
    # The server lists our own write with the ETag we already hold: nothing to fetch.
    assert change.changed == [] and change.requests == 1
    assert mirror.get(via, href) == (new_etag, moved)


# -- RFC 6578 §3.2: a token the server no longer knows ---------------------------------------


def test_rfc6578_invalid_token_is_answered_403_and_leads_to_exactly_one_full_resync(
    radicale: RadicaleServer,
    calendar_url: str,
    proxy: CountingProxy,
    mirror: Mirror,
    db: Ledger,
) -> None:
    via = proxy.via(calendar_url)
    radicale.put_event(calendar_url, "a.ics", event("a", at(6, 9)))
    radicale.put_event(calendar_url, "b.ics", event("b", at(6, 11)))
    with connect(via) as conn:
        mirror.sync(via, conn)
        radicale.delete(calendar_url + "b.ics")
        # A token of the right shape that this server never issued (or has expired).
        db.conn.execute(
            "UPDATE collections SET sync_token = ? WHERE url = ?",
            ("http://radicale.org/ns/sync/" + "0" * 64, via),
        )
        proxy.reset()
        change = mirror.sync(via, conn)
    syncs = [s for s in proxy.seen if s.sync_collection]
    assert [s.status for s in syncs] == [403, 207]  # Radicale answers 403 valid-sync-token
    assert b"0" * 64 in syncs[0].body and b"0" * 64 not in syncs[1].body
    assert change.full
    assert change.deleted == [path_of(calendar_url, "b.ics")]
    assert change.changed == []  # a.ics came back with the same ETag
    assert change.requests == 3  # refused REPORT, one full REPORT, one multiget
    assert set(mirrored(db, via)) == {path_of(calendar_url, "a.ics")}
    token = db.sync_token(via)
    assert token is not None
    assert (
        token.startswith("http://radicale.org/ns/sync/")
        and token != "http://radicale.org/ns/sync/" + "0" * 64
    )


def test_restart_resumes_from_the_stored_token(
    radicale: RadicaleServer, calendar_url: str, proxy: CountingProxy, tmp_path: Path
) -> None:
    via = proxy.via(calendar_url)
    radicale.put_event(calendar_url, "a.ics", event("a", at(7, 9)))
    first_db = Ledger.open(tmp_path / "state")
    with connect(via) as conn:
        Mirror(first_db, ZONE).sync(via, conn)
    token = first_db.conn.execute("SELECT sync_token FROM collections").fetchone()[0]
    first_db.close()

    radicale.put_event(calendar_url, "b.ics", event("b", at(7, 13)))
    proxy.reset()
    second_db = Ledger.open(tmp_path / "state")  # the process started again
    with connect(via) as conn:
        change = Mirror(second_db, ZONE).sync(via, conn)
    second_db.close()
    assert not change.full
    assert change.changed == [path_of(calendar_url, "b.ics")]
    assert proxy.seen[0].sync_collection and token.encode() in proxy.seen[0].body
    # Preemptive Basic auth: a new connection pays no 401 round trip.
    assert [s.status for s in proxy.seen] == [207, 207] and change.requests == 2


def test_server_restarted_under_the_client_is_unreachable_then_resumes(tmp_path: Path) -> None:
    server = RadicaleServer(tmp_path / "srv", {USER: PASSWORD}, mode="process")
    with server:
        url = server.create_calendar(USER, "work")
        server.put_event(url, "a.ics", event("a", at(8, 9)))
        db = Ledger.open(tmp_path / "state")
        mirror = Mirror(db, ZONE)
        with connect(url) as conn:
            mirror.sync(url, conn)
            server.kill()
            with pytest.raises(Unreachable) as caught:
                mirror.sync(url, conn)
            assert set(mirrored(db, url)) == {path_of(url, "a.ics")}  # nothing lost
            server.start()
            server.put_event(url, "b.ics", event("b", at(8, 11)))
            change = mirror.sync(url, conn)
        db.close()
    assert "retry later" in str(caught.value)
    assert not change.full and change.changed == [path_of(url, "b.ics")]


# -- A server without sync tokens --------------------------------------------------------------


def test_server_without_sync_collection_is_synced_by_comparing_etags(
    radicale: RadicaleServer, calendar_url: str, mirror: Mirror, db: Ledger
) -> None:
    """Quirk "no-sync-collection": the proxy refuses every sync-collection REPORT with 403
    DAV:supported-report (RFC 3253), as servers with unreliable tokens effectively do."""
    radicale.put_event(calendar_url, "keep.ics", event("keep", at(10, 9)))
    radicale.put_event(calendar_url, "move.ics", event("move", at(10, 11)))
    radicale.put_event(calendar_url, "drop.ics", event("drop", at(10, 14)))
    with CountingProxy(radicale.port, refuse_sync_collection=True) as proxy:
        via = proxy.via(calendar_url)
        with connect(via) as conn:
            first = mirror.sync(via, conn)
            assert len(first.changed) == 3
            assert [s.method for s in proxy.seen] == ["REPORT", "PROPFIND", "REPORT"]
            assert proxy.seen[0].status == 403 and proxy.seen[0].sync_collection

            radicale.put_event(calendar_url, "move.ics", event("move", at(10, 16)))
            radicale.delete(calendar_url + "drop.ics")
            radicale.put_event(calendar_url, "new.ics", event("new", at(11, 10)))
            proxy.reset()
            change = mirror.sync(via, conn)
            assert proxy.methods() == ["PROPFIND", "REPORT"]  # listing, one multiget
            assert b"keep.ics" not in proxy.seen[1].body  # only what changed is fetched

            proxy.reset()
            quiet = mirror.sync(via, conn)
            assert proxy.methods() == ["PROPFIND"] and quiet.requests == 1
    assert not change.full
    assert sorted(change.changed) == [
        path_of(calendar_url, "move.ics"),
        path_of(calendar_url, "new.ics"),
    ]
    assert change.deleted == [path_of(calendar_url, "drop.ics")]
    assert (quiet.changed, quiet.deleted) == ([], [])
    row = db.conn.execute("SELECT sync_token FROM collections WHERE url = ?", (via,)).fetchone()
    assert row[0] is None  # never python-caldav's fake token


# -- The busy-time reader ----------------------------------------------------------------------


def test_malformed_object_is_skipped_once_and_the_rest_still_gives_busy_time(
    radicale: RadicaleServer,
    calendar_url: str,
    mirror: Mirror,
    caplog: pytest.LogCaptureFixture,
) -> None:
    radicale.put_event(calendar_url, "good.ics", event("good", at(12, 9)))
    radicale.put_event(calendar_url, "empty.ics", event("empty", at(12, 11)))
    radicale.put_event(calendar_url, "html.ics", event("html", at(12, 14)))
    empty, html = path_of(calendar_url, "empty.ics"), path_of(calendar_url, "html.ics")
    # Radicale validates what it stores, so the broken copies come from the proxy: a server that
    # hands out empty objects (Google, STANDARDS.md §3) or an error page instead of iCalendar.
    broken = {empty: b"", html: b"<html><body>Service Unavailable</body></html>"}
    with CountingProxy(radicale.port, corrupt=broken) as proxy:
        via = proxy.via(calendar_url)
        with connect(via) as conn:
            mirror.sync(via, conn)
    assert mirror.get(via, empty) is not None  # kept, so it is not fetched on every sync
    caplog.set_level(logging.WARNING, logger="daemon.mirror")
    for _ in range(2):
        busy = mirror.busy([via], at(12, 0), at(13, 0), ME)
        assert [(b.start, b.end) for b in busy] == [(at(12, 9), at(12, 10))]
    warnings = [r.getMessage() for r in caplog.records if r.name == "daemon.mirror"]
    assert len(warnings) == 2  # once per object, not once per window
    assert any(empty in w for w in warnings) and any(html in w for w in warnings)


def test_objects_in_window_skips_objects_that_cannot_occur_in_it(
    radicale: RadicaleServer, calendar_url: str, mirror: Mirror
) -> None:
    radicale.put_event(calendar_url, "before.ics", event("before", at(1, 9)))
    radicale.put_event(calendar_url, "inside.ics", event("inside", at(15, 9)))
    radicale.put_event(calendar_url, "after.ics", event("after", at(28, 9)))
    radicale.put_event(calendar_url, "edge.ics", event("edge", at(14, 23)))  # ends at 15 00:00
    radicale.put_event(calendar_url, "weekly.ics", event("weekly", at(3, 8), rrule="FREQ=WEEKLY"))
    radicale.put_event(
        calendar_url,
        "ended.ics",
        event("ended", datetime(2024, 1, 1, 8, tzinfo=ZONE), rrule="FREQ=DAILY;COUNT=3"),
    )
    with connect(calendar_url) as conn:
        mirror.sync(calendar_url, conn)
    ledger = mirror.ledger
    window = list(ledger.objects_in_window([calendar_url], at(15, 0).timestamp(),
                                           at(16, 0).timestamp()))
    names = sorted(o.href.rsplit("/", 1)[1] for o in window)
    # "edge" touches the window's start: kept (a bound that touches costs a parse, never a miss);
    # the open-ended weekly series is always kept.
    assert names == ["edge.ics", "inside.ics", "weekly.ics"]
    assert all(o.collection == calendar_url for o in window)
    assert list(ledger.objects_in_window([], at(15, 0).timestamp(), at(16, 0).timestamp())) == []
    busy = mirror.busy([calendar_url], at(15, 0), at(16, 0), ME)
    assert [(b.start, b.end) for b in busy] == [(at(15, 9), at(15, 10))]


# -- Errors a person can act on ----------------------------------------------------------------


def one_sentence(text: str) -> bool:
    return "\n" not in text and text.endswith(".") and "Traceback" not in text


def test_wrong_password_is_an_auth_error_in_one_sentence(calendar_url: str) -> None:
    with connect(calendar_url, password="wrong") as conn, pytest.raises(AuthError) as caught:
        conn.sync(None, {})
    assert one_sentence(str(caught.value)) and "password" in str(caught.value)


def test_wrong_url_is_not_found_in_one_sentence(radicale: RadicaleServer) -> None:
    url = radicale.calendar_url(USER, "no-such-calendar")
    with connect(url) as conn, pytest.raises(NotFound) as caught:
        conn.sync(None, {})
    assert one_sentence(str(caught.value)) and url in str(caught.value)
    with connect(url) as conn, pytest.raises(NotFound):
        conn.probe()
    principal = f"{radicale.url}/{USER}/"  # exists, but is not a calendar
    with connect(principal) as conn, pytest.raises(NotFound) as caught:
        conn.sync(None, {})
    assert one_sentence(str(caught.value)) and "not a calendar" in str(caught.value)


def test_closed_port_is_unreachable_in_one_sentence() -> None:
    url = f"http://127.0.0.1:{free_port()}/{USER}/work/"
    with connect(url) as conn, pytest.raises(Unreachable) as caught:
        conn.sync(None, {})
    assert one_sentence(str(caught.value)) and "refused" in str(caught.value)
    assert isinstance(caught.value, CalDAVError)


def test_probe_reports_a_calendar_with_sync_tokens_and_no_scheduling(calendar_url: str) -> None:
    with connect(calendar_url) as conn:
        found = conn.probe()
    assert found["collection"] is True and found["sync_tokens"] is True
    assert found["scheduling"] is False  # Radicale has no RFC 6638 (TESTSERVERS.md)
    assert "calendar-access" in str(found["dav"])


# -- Invariant: after any run of server edits, the mirror equals the server ----------------------

ops = st.lists(
    st.tuples(st.sampled_from(["put", "delete"]), st.integers(0, 5), st.integers(8, 18)),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=st.lists(ops, min_size=1, max_size=3))
def test_mirror_equals_the_server_after_any_edits(
    radicale: RadicaleServer, tmp_path: Path, rounds: list[list[tuple[str, int, int]]]
) -> None:
    url = radicale.create_calendar(USER, f"prop-{uuid.uuid4().hex[:12]}")
    db = Ledger.open(tmp_path / f"state-{uuid.uuid4().hex[:8]}")
    mirror = Mirror(db, ZONE)
    present: set[int] = set()
    with connect(url) as conn, connect(url) as lister:
        mirror.sync(url, conn)
        for edits in rounds:
            for op, n, hour in edits:
                if op == "put":
                    radicale.put_event(url, f"e{n}.ics", event(f"e{n}", at(20, hour)))
                    present.add(n)
                elif n in present:
                    radicale.delete(url + f"e{n}.ics")
                    present.discard(n)
            mirror.sync(url, conn)
            truth = lister.sync(None, {})
            assert mirrored(db, url) == {o.href: o.etag for o in truth.changed}
            for obj in truth.changed:
                assert mirror.get(url, obj.href) == (obj.etag, obj.raw)
    db.close()


def test_bounds_are_recomputed_when_the_freelancers_zone_changes(
    radicale: RadicaleServer, calendar_url: str, db: Ledger
) -> None:
    """Floating times (RFC 5545 §3.3.5) are read in the freelancer's zone, so are their bounds."""
    from connectors.ical import object_bounds

    floating = event("f", at(17, 9)).replace(
        b"DTSTART:20250317T080000Z", b"DTSTART:20250317T090000"
    )
    floating = floating.replace(b"DTEND:20250317T090000Z", b"DTEND:20250317T100000")
    radicale.put_event(calendar_url, "floating.ics", floating)
    with connect(calendar_url) as conn:
        Mirror(db, ZONE).sync(calendar_url, conn)
    href = path_of(calendar_url, "floating.ics")
    kiritimati = ZoneInfo("Pacific/Kiritimati")  # UTC+14
    mirror = Mirror(db, kiritimati)
    row = db.conn.execute(
        "SELECT first_start, last_end, raw FROM objects WHERE href = ?", (href,)
    ).fetchone()
    expected = object_bounds(bytes(row[2]), kiritimati)
    assert (row[0], row[1]) == (expected.first_start, expected.last_end)
    assert row[0] == datetime(2025, 3, 17, 9, tzinfo=kiritimati).timestamp()
    day = datetime(2025, 3, 17, tzinfo=kiritimati)
    busy = mirror.busy([calendar_url], day, day + timedelta(days=1), ME)
    assert [(b.start, b.end) for b in busy] == [(day.replace(hour=9), day.replace(hour=10))]


# -- the busy-time cache: the same answer as reading the objects, for any window ---------------


def test_busy_cache_answers_exactly_what_parsing_answers(
    radicale: RadicaleServer, calendar_url: str, mirror: Mirror, db: Ledger
) -> None:

    radicale.put_event(calendar_url, "once.ics", event("once", at(3, 9)))
    radicale.put_event(calendar_url, "weekly.ics", event("weekly", at(4, 10), rrule="FREQ=WEEKLY"))
    with connect(calendar_url) as conn:
        mirror.sync(calendar_url, conn)
        windows = [(at(1, 0), at(22, 0)), (at(2, 12), at(9, 0)), (at(20, 0), at(31, 0)),
                   (at(1, 0) - timedelta(days=30), at(1, 0)), (at(1, 0), at(1, 0) + timedelta(
                       days=300))]
        for start, end in windows:
            expected = sorted(
                (b for o in db.objects_in_window([calendar_url], start.timestamp(),
                                                 end.timestamp())
                 for b in busy_of(o.raw, start, end, ZONE, ME)),
                key=lambda b: (b.start, b.end))
            first = mirror.busy([calendar_url], start, end, ME)
            again = mirror.busy([calendar_url], start, end, ME)  # from the cache
            assert first == again == expected, (start, end)
        assert db.conn.execute("SELECT count(*) FROM busy_cache").fetchone()[0] == 2
        # a change on the server misses the cache; a deletion drops its row
        radicale.put_event(calendar_url, "once.ics", event("once", at(5, 15)))
        radicale.delete(calendar_url + "weekly.ics")
        mirror.sync(calendar_url, conn)
        (moved,) = mirror.busy([calendar_url], at(1, 0), at(22, 0), ME)
        assert moved.start == at(5, 15)
        assert db.conn.execute("SELECT count(*) FROM busy_cache").fetchone()[0] == 1
