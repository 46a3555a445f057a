"""RFC 4791 / STANDARDS.md section 2: the freelancer's copy is PUT with If-Match; when the server
answers 412 (someone changed it meanwhile) the guard fetches it, decides again, retries once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import icalendar
import pytest
from helpers import JULIE, ZONE, invitation, local, next_weekday, write_config

from daemon.app import App, Pass, PassReport
from daemon.config import load_config

pytestmark = pytest.mark.servers


def partstat(raw: bytes) -> str:
    event = next(iter(icalendar.Calendar.from_ical(raw).walk("VEVENT")))
    mine = [a for a in event.get("ATTENDEE") if JULIE in str(a).lower()]
    return str(mine[0].params.get("PARTSTAT"))


def judge_without_syncing(app: App, lines: list[str]) -> PassReport:
    """The pass's calendar step on the mirror as it is (the server changed since the sync)."""
    now = datetime.now(ZONE)
    step = Pass(app, now, dry_run=False, emit=lines.append, should_stop=None, heartbeat=None)
    step.judge_calendar(app.busy_for_offers(now))
    app.connections.close_sender()
    return step.report


def test_412_fetches_decides_again_and_keeps_the_other_change(
        tmp_path: Path, radicale: object, calendar_url: str, mail_account: object) -> None:
    sat = next_weekday(5)
    _, ics = invitation("Weekly sync", local(sat, "10:00"), local(sat, "11:00"))
    put = radicale.put_event  # type: ignore[attr-defined]
    put(calendar_url, "sat.ics", ics)
    config = load_config(str(write_config(tmp_path / "j", calendar_url=calendar_url,
                                          mail=mail_account)))
    lines: list[str] = []
    with App(config) as app:
        app.sync_calendars()
        # the organizer's server adds a description after our sync: our ETag is now stale
        changed = ics.replace(b"SEQUENCE:0", b"SEQUENCE:0\r\nDESCRIPTION:Agenda attached")
        put(calendar_url, "sat.ics", changed)
        report = judge_without_syncing(app, lines)
    assert report.declined == 1, lines
    stored = radicale.request("GET", calendar_url + "sat.ics")[2]  # type: ignore[attr-defined]
    assert partstat(stored) == "DECLINED"
    assert b"Agenda attached" in stored  # the newer revision was declined, not overwritten
    sent = [e for e in mail_account.sink.messages  # type: ignore[attr-defined]
            if "bob@example.com" in e.rcpt_tos]
    assert len(sent) == 1


def test_412_then_a_new_sequence_is_left_for_the_next_pass(
        tmp_path: Path, radicale: object, calendar_url: str, mail_account: object) -> None:
    sat = next_weekday(5)
    uid, ics = invitation("Weekly sync", local(sat, "10:00"), local(sat, "11:00"))
    put = radicale.put_event  # type: ignore[attr-defined]
    put(calendar_url, "sat.ics", ics)
    config = load_config(str(write_config(tmp_path / "j", calendar_url=calendar_url,
                                          mail=mail_account)))
    lines: list[str] = []
    with App(config) as app:
        app.sync_calendars()
        tue = next_weekday(1)
        moved = invitation("Weekly sync", local(tue, "10:00"), local(tue, "11:00"), uid=uid,
                           sequence=1)[1]
        put(calendar_url, "sat.ics", moved)  # moved inside working hours meanwhile
        report = judge_without_syncing(app, lines)
    assert report.declined == 0, lines
    stored = radicale.request("GET", calendar_url + "sat.ics")[2]  # type: ignore[attr-defined]
    assert partstat(stored) == "NEEDS-ACTION"
    assert mail_account.sink.messages == []  # type: ignore[attr-defined]
