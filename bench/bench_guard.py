"""Benchmark of the invitation guard (issue 3): 100 off-hours invitations in a 2,000-event
calendar, declined by ONE `frontdesk once` (run by hand, not by pytest).

    .venv/bin/python bench/bench_guard.py
    .venv/bin/python bench/bench_guard.py --events 2000 --invitations 100 --json /tmp/guard.json

Radicale holds Julie's calendar (seeded with ONE PUT of a whole VCALENDAR to a new collection URL,
then served as its own process); Dovecot (or pymap) her mailbox, where frontdesk files each iMIP
reply in Sent before SMTP; the SMTP sink records the replies and counts SMTP sessions.

1. `frontdesk once` warms the mirror (the first start: initial sync, every object judged).
2. Floor: a no-change `frontdesk once` (nothing new), several times, before and after.
3. 100 invitations (Saturdays, Sundays, evenings; NEEDS-ACTION for julie@example.org, organizer
   bob@example.com) are PUT, then ONE `frontdesk once` is timed: total and per decline (stored
   PUT with If-Match + APPEND to Sent + iMIP over the reused SMTP connection).
4. Checked: 100 iMIP REPLYs (PARTSTAT=DECLINED) at the sink, all in one SMTP session; 100 stored
   copies DECLINED in Radicale.
5. A second floor for the per-decline cost, by hand in the same run: the same 100 stored copies
   PUT again over one HTTP connection, 100 APPENDs to Sent in one IMAP session, and the 100 iMIP
   messages sent over one SMTP connection.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import http.client
import smtplib
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CAL_PASSWORD,
    CAL_USER,
    HOST,
    JULIE,
    MAIL_PASSWORD,
    ORGANIZER,
    Servers,
    Table,
    invitation,
    machine,
    median,
    ms,
    now_local,
    off_hours_start,
    once,
    partstat_of,
    sec,
    write_json,
)


def imip_parts(content: bytes) -> tuple[str, str, set[str]]:
    """(METHOD, UID, Julie's PARTSTATs) of the text/calendar part of an iMIP message."""
    msg = email.message_from_bytes(content, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            ics = part.get_content()
            ics_bytes = ics.encode() if isinstance(ics, str) else ics
            from icalendar import Calendar

            cal = Calendar.from_ical(ics_bytes)
            uid = str(next(iter(cal.walk("VEVENT"))).get("UID"))
            return str(cal.get("METHOD", "")), uid, partstat_of(ics_bytes)
    return "", "", set()


def raw_floor(servers: Servers, hrefs: list[str], imip: list[bytes]) -> dict[str, float]:
    """The same work frontdesk does per decline, by hand over persistent connections."""
    from imapclient import IMAPClient

    assert servers.radicale is not None and servers.imap is not None and servers.sink is not None
    base = servers.calendar_url
    path = urlsplit(base).path
    auth = base64.b64encode(f"{CAL_USER}:{CAL_PASSWORD}".encode()).decode()
    conn = http.client.HTTPConnection(HOST, servers.radicale.port, timeout=300)
    bodies = []
    for href in hrefs:
        conn.request("GET", path + href, headers={"Authorization": f"Basic {auth}"})
        response = conn.getresponse()
        bodies.append(response.read())
    started = time.perf_counter()
    for href, body in zip(hrefs, bodies, strict=True):
        conn.request(
            "PUT",
            path + href,
            body=body,
            headers={"Authorization": f"Basic {auth}", "Content-Type": "text/calendar"},
        )
        response = conn.getresponse()
        response.read()
        if response.status not in (201, 204):
            raise RuntimeError(f"raw PUT {href}: {response.status}")
    put = time.perf_counter() - started
    conn.close()
    imap = IMAPClient(HOST, servers.imap.imap_port, ssl=False)
    imap.login(JULIE, MAIL_PASSWORD)
    imap.select_folder("INBOX")  # as frontdesk has it selected while it files in Sent
    started = time.perf_counter()
    for raw in imip:
        imap.append("Sent", raw, (b"\\Seen",))
    append = time.perf_counter() - started
    imap.logout()
    started = time.perf_counter()
    with smtplib.SMTP(HOST, servers.sink.port, timeout=60) as smtp:
        smtp.login(JULIE, MAIL_PASSWORD)
        for raw in imip:
            smtp.sendmail(JULIE, [ORGANIZER], raw)
    send = time.perf_counter() - started
    return {"put": put, "append": append, "smtp": send}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events in the calendar")
    parser.add_argument("--invitations", type=int, default=100, help="new off-hours invitations")
    parser.add_argument(
        "--floor-reps",
        type=int,
        default=3,
        help="no-change `once` runs before and after (floor = median)",
    )
    parser.add_argument(
        "--imap",
        choices=("dovecot", "pymap"),
        default=None,
        help="IMAP server (default: Dovecot when installed)",
    )
    parser.add_argument("--radicale-mode", choices=("process", "thread"), default="process")
    parser.add_argument(
        "--utc-invitations",
        action="store_true",
        help="invitations in UTC instead of TZID=America/Toronto + VTIMEZONE",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    n = args.invitations

    with Servers(events=args.events, imap=args.imap, radicale_mode=args.radicale_mode) as servers:
        assert servers.radicale is not None and servers.sink is not None
        print(
            f"servers: Radicale ({args.radicale_mode}) seeded with {args.events} events in "
            f"{servers.seed_seconds:.2f} s (one PUT); IMAP: {servers.imap_name}; SMTP: "
            "aiosmtpd sink"
        )
        config = servers.config()
        first = once(config)
        print(f"first start (warms the mirror): {first.seconds:.2f} s")
        floors = [once(config).seconds for _ in range(args.floor_reps)]

        today = now_local().date()
        uids, hrefs = [], []
        started = time.perf_counter()
        for i in range(n):
            uid = f"offhours-{i}-{time.time_ns()}@example.com"
            start = off_hours_start(i, today)
            ics = invitation(
                uid, start, summary=f"Weekend planning {i}", zoned=not args.utc_invitations
            )
            href = f"inv-{i}.ics"
            servers.radicale.put_event(servers.calendar_url, href, ics)
            uids.append(uid)
            hrefs.append(href)
        put_seconds = time.perf_counter() - started
        print(f"{n} invitations PUT one by one in {put_seconds:.2f} s")

        mark = time.monotonic()
        sessions_before = servers.sink.sessions_since(0)
        run = once(config)
        accepted = [
            e for e in servers.sink.messages if e.accepted_at >= mark and ORGANIZER in e.rcpt_tos
        ]
        sessions = servers.sink.sessions_since(0) - sessions_before
        carried = servers.sink.data_sessions_since(mark)
        floors += [once(config).seconds for _ in range(args.floor_reps)]
        floor = median(floors)

        replies = [imip_parts(e.content) for e in accepted]
        declined_uids = {
            uid for method, uid, stats in replies if method == "REPLY" and stats == {"DECLINED"}
        }
        stored = []
        for href in hrefs:
            status, _, body = servers.radicale.request("GET", servers.calendar_url + href)
            stored.append(status == 200 and partstat_of(body) == {"DECLINED"})
        stdout_declines = run.stdout.count("declined '")

        raw = raw_floor(servers, hrefs, [e.content for e in accepted])
        raw_total = sum(raw.values())

    per_decline = (run.seconds - floor) / n
    raw_per = raw_total / n
    table = Table(
        f"frontdesk once: {n} off-hours invitations in a {args.events}-event calendar "
        f"(Radicale {args.radicale_mode}, {servers.imap_name}, 2 x {n} checks)"
    )
    table.add(
        "first start (initial sync, all judged)",
        sec(first.seconds),
        sec(floor),
        f"+{sec(first.seconds - floor)}",
    )
    table.add(
        f"once with {n} new invitations",
        sec(run.seconds),
        sec(floor),
        f"+{sec(run.seconds - floor)}",
    )
    table.add(
        "  per decline (PUT+APPEND+SMTP)",
        ms(per_decline),
        f"{ms(raw_per)} by hand",
        f"x{per_decline / raw_per:.2f}",
    )
    table.add("    of which raw PUT to Radicale", "", ms(raw["put"] / n))
    table.add("    of which raw APPEND to Sent", "", ms(raw["append"] / n))
    table.add("    of which raw SMTP send", "", ms(raw["smtp"] / n))
    table.add("SMTP sessions (EHLO) for the pass", str(sessions), "1", target="1", ok=sessions == 1)
    table.add(
        "SMTP sessions carrying the replies",
        str(len(carried)),
        "1",
        target="1",
        ok=len(carried) == 1,
    )
    table.add(
        "iMIP REPLY DECLINED received",
        f"{len(declined_uids & set(uids))}/{n}",
        f"{n}",
        target=f"{n}",
        ok=declined_uids >= set(uids) and len(accepted) == n,
    )
    table.add("stored copies DECLINED", f"{sum(stored)}/{n}", f"{n}", target=f"{n}", ok=all(stored))
    table.notes += [
        f"floor = median of {len(floors)} no-change `once` runs: "
        + ", ".join(f"{f:.2f}" for f in floors)
        + " s",
        f"`once` reported {stdout_declines} declines; {len(accepted)} messages to {ORGANIZER} "
        "reached the sink",
        "raw floor per decline = the same stored copy PUT again over one HTTP connection + the "
        "iMIP message APPENDed to Sent in one IMAP session + sent over one SMTP connection",
    ]
    table.print()
    ok = all(r.verdict != "MISSED" for r in table.rows)
    write_json(
        args.json,
        {
            "bench": "guard",
            "machine": machine(),
            "events": args.events,
            "invitations": n,
            "imap": servers.imap_name,
            "radicale_mode": args.radicale_mode,
            "seed_seconds": servers.seed_seconds,
            "invitations_put_seconds": put_seconds,
            "first_start_seconds": first.seconds,
            "floor_seconds": floors,
            "floor_median": floor,
            "once_seconds": run.seconds,
            "per_decline_seconds": per_decline,
            "raw_floor_seconds": raw,
            "raw_per_decline_seconds": raw_per,
            "smtp_sessions": sessions,
            "smtp_sessions_carrying": len(carried),
            "imip_declined": len(declined_uids & set(uids)),
            "imip_received": len(accepted),
            "stored_declined": sum(stored),
            "ok": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
