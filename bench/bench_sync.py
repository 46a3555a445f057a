"""Benchmark of the calendar mirror's sync against a real Radicale (run by hand, not by pytest).

    .venv/bin/python bench/bench_sync.py              # 2,000 and 10,000 events
    .venv/bin/python bench/bench_sync.py --sizes 2000 --reps 5

For each size, one child process seeds a Radicale folder (Radicale in-process, fsync off, one PUT
of a whole VCALENDAR into a new collection URL), then another child measures against Radicale
started as a separate process (`python -m radicale`) on that folder, so the peak RSS reported is
the mirror's process alone. Every figure is printed beside its floor measured in the same run:

- no-change sync: Mirror.sync with a current token vs one sync-collection REPORT sent by hand
  (http.client, persistent connection) with the same token. Target: within 1.1x; one request.
- one-change sync: Mirror.sync after one PUT (REPORT + one multiget) vs the same raw REPORT.
- cold initial sync: Mirror.sync into an empty database vs the raw HTTP it needs (a token-less
  sync-collection REPORT and calendar-multigets of 200 hrefs, by hand, unparsed); also the
  connector alone (fetch, no bounds, no database).
- busy time over one week: Mirror.busy (skips by stored bounds) vs reading every object.
- peak RSS of the measuring process vs its RSS before the first sync.

- `frontdesk slots` through the installed command, cold (fresh state dir) and warm (mirror
  synced), beside the command's own start-up; the pure offer computation beside sorting its input.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from connectors.caldav import MULTIGET_BATCH, CalendarConnection  # noqa: E402
from connectors.ical import occurrences  # noqa: E402
from daemon.demo.radicale import RadicaleServer  # noqa: E402
from daemon.ledger import Ledger  # noqa: E402
from daemon.mirror import Mirror  # noqa: E402
from rules.busy import busy_intervals  # noqa: E402

USER, PASSWORD = "julie", "secret"
ZONE = ZoneInfo("Europe/Paris")
ME = frozenset({"julie@example.org"})
# The next Monday, nine months into the two years the calendar spans (as Oct 6, 2025 was in
# 2025-2026 when these figures were first taken): `frontdesk slots --from` takes no past date.
_TODAY = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
WEEK_START = _TODAY + timedelta(days=7 - _TODAY.weekday())
ORIGIN = (WEEK_START - timedelta(days=278)).astimezone(UTC)

PARIS_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Paris
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


# -- The calendar -------------------------------------------------------------------------------


def utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def build_calendar(size: int, seed: int = 7) -> bytes:
    """`size` events over two years from ORIGIN: 10% weekly series (a third open-ended, a
    third COUNT, a third UNTIL; every third with EXDATEs, every fifth with a moved instance),
    1% in Europe/Paris with a VTIMEZONE, the rest in UTC."""
    rng = random.Random(seed)
    span = timedelta(days=730)
    origin = ORIGIN
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//frontdesk//bench//EN", PARIS_VTIMEZONE]
    for i in range(size):
        day = origin + timedelta(days=rng.randrange(span.days))
        start = day.replace(hour=rng.randrange(7, 18), minute=rng.choice((0, 15, 30, 45)))
        length = timedelta(minutes=rng.choice((30, 45, 60, 90, 120)))
        uid = f"bench-{i}@example.org"
        event = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z"]
        if i % 100 == 50:
            local = start.astimezone(ZONE).replace(tzinfo=None)
            event += [
                f"DTSTART;TZID=Europe/Paris:{local:%Y%m%dT%H%M%S}",
                f"DTEND;TZID=Europe/Paris:{local + length:%Y%m%dT%H%M%S}",
            ]
        else:
            event += [f"DTSTART:{utc(start)}", f"DTEND:{utc(start + length)}"]
        event.append(f"SUMMARY:Event {i}")
        overrides: list[str] = []
        if i % 10 == 0:
            series = i // 10
            kind = series % 3
            if kind == 0:
                event.append("RRULE:FREQ=WEEKLY")
            elif kind == 1:
                event.append(f"RRULE:FREQ=WEEKLY;COUNT={rng.randrange(4, 40)}")
            else:
                event.append(f"RRULE:FREQ=WEEKLY;UNTIL={utc(start + timedelta(weeks=26))}")
            if series % 3 == 0:
                event.append(f"EXDATE:{utc(start + timedelta(weeks=2))}")
            if series % 5 == 0:
                moved = start + timedelta(weeks=1)
                overrides = [
                    "BEGIN:VEVENT",
                    f"UID:{uid}",
                    "DTSTAMP:20250101T000000Z",
                    f"RECURRENCE-ID:{utc(moved)}",
                    f"DTSTART:{utc(moved + timedelta(hours=2))}",
                    f"DTEND:{utc(moved + timedelta(hours=2) + length)}",
                    f"SUMMARY:Event {i} (moved)",
                    "END:VEVENT",
                ]
        event.append("END:VEVENT")
        out += event + overrides
    out.append("END:VCALENDAR")
    return ("\r\n".join(out) + "\r\n").encode()


# -- Raw HTTP, by hand: the floors ----------------------------------------------------------------


class Raw:
    """Requests sent by hand over one persistent http.client connection, answers unparsed."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=600)
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/xml"}

    def report(self, body: str, depth: str | None = None) -> bytes:
        headers = dict(self.headers)
        if depth is not None:
            headers["Depth"] = depth
        self.conn.request("REPORT", self.path, body=body.encode(), headers=headers)
        response = self.conn.getresponse()
        answer = response.read()
        if response.status != 207:
            raise RuntimeError(f"REPORT answered {response.status}: {answer[:200]!r}")
        return answer

    def sync_collection(self, token: str | None) -> bytes:
        return self.report(
            '<?xml version="1.0" encoding="utf-8"?>'
            '<D:sync-collection xmlns:D="DAV:">'
            f"<D:sync-token>{token or ''}</D:sync-token><D:sync-level>1</D:sync-level>"
            "<D:prop><D:getetag/></D:prop></D:sync-collection>",
            depth="1",
        )

    def multiget(self, hrefs: list[str]) -> bytes:
        return self.report(
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
            + "".join(f"<D:href>{quote(h)}</D:href>" for h in hrefs)
            + "</C:calendar-multiget>"
        )

    def close(self) -> None:
        self.conn.close()


def hrefs_of(answer: bytes) -> list[str]:
    from lxml import etree

    tree = etree.fromstring(answer)
    return [h.text for h in tree.iter("{DAV:}href") if h.text and h.text.endswith(".ics")]


# -- Measuring ------------------------------------------------------------------------------------


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


@dataclass
class Context:
    url: str
    size: int
    reps: int
    work: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def row(self, figure: str, value: str, floor: str, ratio: float | None, note: str = "") -> None:
        self.rows.append(
            {"figure": figure, "value": value, "floor": floor, "ratio": ratio, "note": note}
        )

    def fresh_mirror(self) -> tuple[Any, Mirror]:
        state = Path(tempfile.mkdtemp(dir=self.work, prefix="state-"))
        db = Ledger.open(state)
        return db, Mirror(db, ZONE)


def section_cold(ctx: Context) -> None:
    raw = Raw(ctx.url)
    raw.sync_collection(None)  # warm the server's item cache, as a running server has it
    floors: list[float] = []
    mirrors: list[float] = []
    fetches: list[float] = []
    for _ in range(max(1, min(ctx.reps, 3))):

        def by_hand() -> None:
            listing = hrefs_of(raw.sync_collection(None))
            for i in range(0, len(listing), MULTIGET_BATCH):
                raw.multiget(listing[i : i + MULTIGET_BATCH])

        floors.append(timed(by_hand)[0])
        with CalendarConnection(ctx.url, USER, PASSWORD) as fetcher:
            fetches.append(timed(partial(fetcher.sync, None, {}))[0])
        db, mirror = ctx.fresh_mirror()
        with CalendarConnection(ctx.url, USER, PASSWORD) as conn:
            seconds, change = timed(partial(mirror.sync, ctx.url, conn))
        mirrors.append(seconds)
        ctx.state.update(
            db=db, mirror=mirror, requests=change.requests, objects=len(change.changed)
        )
    raw.close()
    floor = statistics.median(floors)
    value = statistics.median(mirrors)
    ctx.row(
        "cold initial sync",
        f"{value:.2f} s",
        f"{floor:.2f} s raw HTTP",
        value / floor,
        f"{ctx.state['objects']} objects, {ctx.state['requests']} requests; "
        f"connector alone {statistics.median(fetches):.2f} s",
    )


def section_no_change(ctx: Context) -> None:
    db, mirror = ctx.state["db"], ctx.state["mirror"]
    raw = Raw(ctx.url)
    with CalendarConnection(ctx.url, USER, PASSWORD) as conn:
        mirror.sync(ctx.url, conn)  # warm both paths once
        token = mirror.token(ctx.url)
        raw.sync_collection(token)
        ours: list[float] = []
        floors: list[float] = []
        cpu: list[float] = []
        requests: set[int] = set()
        for _ in range(max(ctx.reps, 5)):
            floors.append(timed(lambda: raw.sync_collection(token))[0])
            started = time.process_time()
            seconds, change = timed(lambda: mirror.sync(ctx.url, conn))
            cpu.append(time.process_time() - started)  # this process only: not the server's
            ours.append(seconds)
            requests.add(change.requests)
            assert not change.changed and not change.deleted, change
        value, floor = statistics.median(ours), statistics.median(floors)
        ctx.row(
            "no-change sync",
            f"{value * 1000:.1f} ms",
            f"{floor * 1000:.1f} ms raw REPORT",
            value / floor,
            f"requests per sync: {sorted(requests)}; best-of ratio {min(ours) / min(floors):.2f}x; "
            f"client CPU {statistics.median(cpu) * 1000:.1f} ms/sync; target <= 1.1x",
        )

        # One change: REPORT + one multiget.
        href = next(iter(db.conn.execute(
            "SELECT href FROM objects WHERE raw NOT LIKE '%RRULE%'")))[0]
        etag, body = mirror.get(ctx.url, href) or (None, b"")
        edited = body.replace(b"SUMMARY:Event", b"SUMMARY:Edited event", 1)
        conn.put(href, edited, etag)
        seconds, change = timed(lambda: mirror.sync(ctx.url, conn))
        assert change.changed == [href], change
        ctx.row(
            "one-change sync",
            f"{seconds * 1000:.1f} ms",
            f"{floor * 1000:.1f} ms raw REPORT",
            seconds / floor,
            f"requests: {change.requests}",
        )
    raw.close()


def section_busy_week(ctx: Context) -> None:
    mirror: Mirror = ctx.state["mirror"]
    end = WEEK_START + timedelta(days=7)
    total = ctx.state["db"].conn.execute("SELECT count(*) FROM objects").fetchone()[0]
    read = sum(1 for _ in mirror.ledger.objects_in_window([ctx.url], WEEK_START.timestamp(),
                                                         end.timestamp()))
    ours: list[float] = []
    naive: list[float] = []
    for _ in range(max(1, min(ctx.reps, 3))):
        seconds, busy = timed(lambda: mirror.busy([ctx.url], WEEK_START, end, ME))
        ours.append(seconds)

        def every_object() -> int:
            rows = ctx.state["db"].conn.execute("SELECT raw FROM objects").fetchall()
            return sum(len(busy_intervals(occurrences(bytes(r[0]), WEEK_START, end, ZONE), ME))
                       for r in rows)

        naive_seconds, count = timed(every_object)
        naive.append(naive_seconds)
        assert count == len(busy), (count, len(busy))
    value, floor = statistics.median(ours), statistics.median(naive)
    ctx.row(
        "busy time, one week",
        f"{value * 1000:.0f} ms",
        f"{floor * 1000:.0f} ms reading all",
        value / floor,
        f"{read} of {total} objects read, {len(busy)} intervals",
    )


SLOTS_CONFIG = """
[freelancer]
name = "Julie"
email = "julie@example.org"
timezone = "Europe/Paris"
language = "fr"
[calendar]
url = "{url}"
username = "{user}"
password_file = "{secret}"
[hours]
monday = ["09:00-12:00", "13:00-18:00"]
tuesday = ["09:00-12:00", "13:00-18:00"]
wednesday = ["09:00-12:00", "13:00-18:00"]
thursday = ["09:00-12:00", "13:00-18:00"]
friday = ["09:00-12:00", "13:00-18:00"]
[daemon]
state_dir = "{state}"
"""


def section_slots(ctx: Context) -> None:
    """`frontdesk slots` through the installed command, warm and cold; the pure computation."""
    from rules.availability import offer
    from rules.model import BookingPolicy, Freelancer, Hours, Policy, TimeRange

    binary = str(Path(sys.executable).parent / "frontdesk")
    secret = ctx.work / "slots-secret"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)
    state = Path(tempfile.mkdtemp(dir=ctx.work, prefix="slots-state-"))
    config = ctx.work / "slots.toml"
    config.write_text(SLOTS_CONFIG.format(url=ctx.url, user=USER, secret=secret, state=state))
    command = [binary, "--config", str(config), "slots", "--from", f"{WEEK_START:%Y-%m-%d}"]

    def run_slots() -> None:
        subprocess.run(command, check=True, capture_output=True)

    cold, _ = timed(run_slots)
    warm = statistics.median(timed(run_slots)[0] for _ in range(max(3, min(ctx.reps, 7))))
    start_up = statistics.median(
        timed(lambda: subprocess.run([binary, "--help"], check=True, capture_output=True))[0]
        for _ in range(3))
    ctx.row("slots, cold", f"{cold:.2f} s", f"{start_up:.2f} s command start", cold / start_up,
            "fresh state dir: full sync + busy time + offer")
    ctx.row("slots, warm", f"{warm:.2f} s", f"{start_up:.2f} s command start", warm / start_up,
            "mirror synced: one no-change REPORT + busy time + offer; target < 1 s")

    mirror: Mirror = ctx.state["mirror"]
    end = WEEK_START + timedelta(days=22)
    busy = mirror.busy([ctx.url], WEEK_START, end, ME)
    week = {d: (TimeRange(datetime.strptime("09:00", "%H:%M").time(),
                          datetime.strptime("12:00", "%H:%M").time()),
                TimeRange(datetime.strptime("13:00", "%H:%M").time(),
                          datetime.strptime("18:00", "%H:%M").time())) for d in range(5)}
    policy = Policy(Freelancer("Julie", "julie@example.org", timezone="Europe/Paris"),
                    Hours(week), BookingPolicy())
    pure = statistics.median(timed(lambda: offer(policy, busy, WEEK_START))[0]
                             for _ in range(max(5, ctx.reps)))
    copy = statistics.median(timed(lambda: sorted(busy, key=lambda b: b.start))[0]
                             for _ in range(max(5, ctx.reps)))
    ctx.row("pure slot computation", f"{pure * 1000:.1f} ms",
            f"{copy * 1000:.2f} ms sorting busy", pure / copy if copy else None,
            f"offer over 21 days, {len(busy)} busy intervals; target < 50 ms")


SECTIONS: list[Callable[[Context], None]] = [
    section_cold, section_no_change, section_busy_week, section_slots]


# -- Processes ------------------------------------------------------------------------------------


def seed(folder: Path, size: int) -> dict[str, Any]:
    """Child: build the calendar and PUT it whole, Radicale in-process with fsync off."""
    body = build_calendar(size)
    with RadicaleServer(folder, {USER: PASSWORD}) as server:
        seconds, url = timed(lambda: server.create_calendar(USER, f"bench-{size}", body))
    return {"url_path": urlsplit(url).path, "seed_seconds": seconds, "bytes": len(body)}


def measure(folder: Path, url_path: str, size: int, reps: int) -> dict[str, Any]:
    """Child: Radicale as its own process on the seeded folder; the mirror in this one."""
    before = rss_mib()
    with RadicaleServer(folder, {USER: PASSWORD}, mode="process") as server:
        ctx = Context(server.url + url_path, size, reps, folder)
        for section in SECTIONS:
            section(ctx)
    peak = rss_mib()
    ctx.row("peak RSS", f"{peak:.0f} MiB", f"{before:.0f} MiB before syncing", peak / before)
    return {"rows": ctx.rows}


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the measuring child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--reps", type=int, default=11, help="repetitions of the fast figures")
    parser.add_argument("--_seed", nargs=2, metavar=("FOLDER", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--_measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._seed:
        print(json.dumps(seed(Path(args._seed[0]), int(args._seed[1]))))
        return
    if args._measure:
        folder, url_path, size, reps = args._measure
        print(json.dumps(measure(Path(folder), url_path, int(size), int(reps))))
        return

    print("Radicale 3.9: seeded in-process (fsync off) by one PUT of a whole VCALENDAR;")
    print("measured against Radicale as a separate process (python -m radicale) on 127.0.0.1.\n")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench-{size}-") as tmp:
            seeded = run_child("--_seed", tmp, str(size))
            result = run_child("--_measure", tmp, seeded["url_path"], str(size), str(args.reps))
        print(
            f"== {size:,} events ({seeded['bytes'] / 1e6:.1f} MB of iCalendar; "
            f"seeding took {seeded['seed_seconds']:.1f} s)"
        )
        print(f"{'figure':<22} {'value':>12}   {'floor':<26} {'ratio':>6}   note")
        for row in result["rows"]:
            ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else ""
            print(
                f"{row['figure']:<22} {row['value']:>12}   {row['floor']:<26} {ratio:>6}   "
                f"{row['note']}"
            )
        print()


if __name__ == "__main__":
    main()
