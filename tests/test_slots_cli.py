"""`frontdesk slots` through the installed command, against a real Radicale."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import JULIE, invitation, local, next_weekday, run, write_config

pytestmark = pytest.mark.servers
ZONE = ZoneInfo("America/Toronto")
WORK = {0: [("09:00", "12:00"), ("13:00", "17:00")], 1: [("09:00", "12:00"), ("13:00", "17:00")],
        3: [("09:00", "12:00"), ("13:00", "17:00")]}


def own_event(summary: str, start: str, end: str, extra: str = "") -> bytes:
    return invitation(summary, start, end, organizer=JULIE, attendee="client@example.net",
                      extra=extra)[1]


def slots_json(frontdesk_bin: str, config: Path, *args: str) -> list[tuple[datetime, datetime]]:
    result = run(frontdesk_bin, config, "slots", "--json", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return [(datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"]))
            for s in json.loads(result.stdout)]


def inside_hours(start: datetime, end: datetime) -> bool:
    a, b = start.astimezone(ZONE), end.astimezone(ZONE)
    for first, last in WORK.get(a.weekday(), []):
        if a.date() == b.date() and f"{a:%H:%M}" >= first and f"{b:%H:%M}" <= last:
            return True
    return False


@pytest.fixture
def calendar(tmp_path: Path, radicale: object, calendar_url: str) -> tuple[Path, date]:
    tue = next_weekday(1)
    put = radicale.put_event  # type: ignore[attr-defined]
    put(calendar_url, "a.ics", own_event("Client A", local(tue, "10:00"), local(tue, "11:00")))
    put(calendar_url, "free.ics", own_event("Transparent", local(tue, "13:00"),
                                            local(tue, "17:00"), extra="TRANSP:TRANSPARENT"))
    put(calendar_url, "declined.ics", invitation("Declined", local(tue, "14:00"),
                                                 local(tue, "15:00"), partstat="DECLINED")[1])
    return write_config(tmp_path / "julie", calendar_url=calendar_url), tue


def test_offer_respects_every_rule(frontdesk_bin: str, calendar: tuple[Path, date]) -> None:
    config, tue = calendar
    offer = slots_json(frontdesk_bin, config)
    assert 1 <= len(offer) <= 5
    assert offer == sorted(offer)
    busy_start = datetime.fromisoformat(f"{tue}T10:00").replace(tzinfo=ZONE)
    busy_end = busy_start + timedelta(hours=1)
    now = datetime.now(ZONE)
    for start, end in offer:
        assert end - start == timedelta(minutes=60)
        assert inside_hours(start, end), start
        assert start >= now + timedelta(hours=24) - timedelta(minutes=1)
        assert start.utcoffset() is not None  # ISO-8601 with an offset
        assert end + timedelta(minutes=15) <= busy_start or start >= busy_end + timedelta(
            minutes=15)
    every = slots_json(frontdesk_bin, config, "--all")
    assert set(offer) <= set(every)
    # transparent and declined events do not make Julie busy: Tuesday afternoon is bookable
    assert any(s.astimezone(ZONE).date() == tue and s.astimezone(ZONE).hour == 14
               for s, _ in every)


def test_cluster_offers_the_day_with_an_appointment_first(frontdesk_bin: str,
                                                          calendar: tuple[Path, date]) -> None:
    config, tue = calendar
    offer = slots_json(frontdesk_bin, config, "--from", (tue - timedelta(days=3)).isoformat())
    # Tuesday has an appointment: its slots (11:15 right after it, packed) come first
    assert any(s.astimezone(ZONE) == datetime.fromisoformat(f"{tue}T11:15").replace(
        tzinfo=ZONE) or s.astimezone(ZONE).date() == tue for s, _ in offer)


def test_from_and_days_move_the_window(frontdesk_bin: str, calendar: tuple[Path, date]) -> None:
    config, tue = calendar
    start = tue + timedelta(days=14)
    found = slots_json(frontdesk_bin, config, "--from", start.isoformat(), "--days", "7",
                       "--all")
    assert found
    first_allowed = datetime.combine(start, datetime.min.time(), ZONE) + timedelta(hours=24)
    for s, _ in found:
        assert first_allowed <= s < first_allowed + timedelta(days=7)


def test_readable_list_in_french(frontdesk_bin: str, calendar: tuple[Path, date]) -> None:
    config, _ = calendar
    result = run(frontdesk_bin, config, "slots")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. ")
    assert "heure de Toronto" in lines[0]
    assert "Client A" not in result.stdout


def test_busy_urls_count_as_busy(frontdesk_bin: str, tmp_path: Path, radicale: object,
                                 calendar_url: str) -> None:
    other = radicale.create_calendar("julie", "personal")  # type: ignore[attr-defined]
    mon = next_weekday(0)
    for hour in ("09", "10", "11", "13", "14", "15", "16"):
        radicale.put_event(other, f"p{hour}.ics",  # type: ignore[attr-defined]
                           own_event("Private", local(mon, f"{hour}:00"),
                                     local(mon, f"{hour}:59")))
    config = write_config(tmp_path / "busy", calendar_url=calendar_url, busy_urls=[other])
    found = slots_json(frontdesk_bin, config, "--all")
    assert found and not any(s.astimezone(ZONE).date() == mon for s, _ in found)


def test_unreachable_calendar_is_one_sentence(frontdesk_bin: str, tmp_path: Path) -> None:
    from daemon.demo.mail import free_port

    config = write_config(tmp_path / "down", calendar_url=f"http://127.0.0.1:{free_port()}/j/c/")
    result = run(frontdesk_bin, config, "slots")
    assert result.returncode == 69
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("frontdesk: cannot use the calendar")
