"""The invitation guard end to end: Radicale + a real SMTP server, through `frontdesk once`."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest
from helpers import JULIE, invitation, local, next_weekday, run, write_config

pytestmark = pytest.mark.servers

SAT, MON, TUE, THU = 5, 0, 1, 3


def reply_parts(raw: bytes) -> tuple[email.message.EmailMessage, icalendar.Calendar, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    assert msg.get_content_type() == "multipart/alternative"
    cal_part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert cal_part.get_param("method") == "REPLY"
    text = next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_content()
    return msg, icalendar.Calendar.from_ical(cal_part.get_payload(decode=True)), text


def assert_rfc5546_reply(cal: icalendar.Calendar, uid: str, sequence: int,
                         recurrence: bool) -> icalendar.Event:
    """RFC 5546 3.2.3 REPLY rules, as STANDARDS.md section 2 lists them."""
    assert str(cal["METHOD"]) == "REPLY"
    assert "PRODID" in cal and str(cal["VERSION"]) == "2.0"
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert str(event["UID"]) == uid
    assert "ORGANIZER" in event
    attendees = event.get("ATTENDEE")
    assert not isinstance(attendees, list), "exactly one ATTENDEE"
    assert str(attendees).lower() == f"mailto:{JULIE}"
    assert attendees.params["PARTSTAT"] == "DECLINED"
    assert int(event.get("SEQUENCE", 0)) == sequence
    assert "DTSTAMP" in event
    assert ("RECURRENCE-ID" in event) == recurrence
    assert not list(event.walk("VALARM"))
    return event


@pytest.fixture
def julie(tmp_path: Path, calendar_url: str, mail_account: object) -> Path:
    closed_day = next_weekday(MON, after_days=10)
    return write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account,
                        closed=[closed_day.isoformat()])


def test_declines_what_is_outside_and_leaves_the_rest(
        frontdesk_bin: str, julie: Path, radicale: object, calendar_url: str,
        mail_account: object) -> None:
    sink = mail_account.sink  # type: ignore[attr-defined]
    sat = next_weekday(SAT)
    tue = next_weekday(TUE)
    closed_day = next_weekday(MON, after_days=10)
    mon = next_weekday(MON, after_days=3)
    put = radicale.put_event  # type: ignore[attr-defined]
    declined = {}
    for name, (uid, ics) in {
        "saturday": invitation("Weekly sync", local(sat, "10:00"), local(sat, "11:00")),
        "evening": invitation("Apéro", local(tue, "19:00"), local(tue, "20:00")),
        "partly": invitation("Late call", local(tue, "16:30"), local(tue, "17:30")),
        "closed": invitation("Closed day", local(closed_day, "10:00"),
                             local(closed_day, "11:00")),
        "series": invitation("Saturday club", local(sat, "10:00"), local(sat, "11:00"),
                             rrule="FREQ=WEEKLY;COUNT=10"),
        "windows": invitation("Windows zone", local(sat, "14:00"), local(sat, "15:00"),
                              tzid="Eastern Standard Time"),
        "utc": invitation("UTC one", local(sat, "15:00") + "Z", local(sat, "16:00") + "Z",
                          tzid=None),
        "floating": invitation("Floating", local(sat, "09:00"), local(sat, "10:00"), tzid=None),
    }.items():
        put(calendar_url, f"{name}.ics", ics)
        declined[name] = uid
    # an in-hours weekly series whose one instance was moved to a Saturday
    series_uid, series = invitation(
        "Monday review", local(mon, "10:00"), local(mon, "11:00"), rrule="FREQ=WEEKLY;COUNT=6")
    override = series.decode().replace("END:VCALENDAR\r\n", "")
    moved = mon + timedelta(days=7)
    override += (
        "BEGIN:VEVENT\r\nUID:" + series_uid + "\r\nDTSTAMP:20261101T120000Z\r\n"
        f"RECURRENCE-ID;TZID=America/Toronto:{local(moved, '10:00')}\r\n"
        f"DTSTART;TZID=America/Toronto:{local(moved + timedelta(days=5), '10:00')}\r\n"
        f"DTEND;TZID=America/Toronto:{local(moved + timedelta(days=5), '11:00')}\r\n"
        "SUMMARY:Monday review (moved)\r\nSEQUENCE:0\r\nORGANIZER;CN=Bob:mailto:bob@example.com\r\n"
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{JULIE}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    put(calendar_url, "series-override.ics", override.encode())
    untouched = {
        "inside": invitation("Inside", local(tue, "10:00"), local(tue, "11:00"))[1],
        "own": invitation("My own", local(sat, "10:00"), local(sat, "11:00"), organizer=JULIE,
                          attendee="client@example.net")[1],
        "answered": invitation("Answered", local(sat, "12:00"), local(sat, "13:00"),
                               partstat="ACCEPTED")[1],
        "cancelled": invitation("Cancelled", local(sat, "13:00"), local(sat, "14:00"),
                                status="CANCELLED")[1],
        "rsvp-false": invitation("FYI", local(sat, "16:00"), local(sat, "17:00"),
                                 extra="")[1].replace(b"RSVP=TRUE", b"RSVP=FALSE"),
    }
    for name, ics in untouched.items():
        put(calendar_url, f"{name}.ics", ics)
    before = {name: radicale.request("GET", f"{calendar_url}{name}.ics")[2]  # type: ignore
              for name in untouched}

    # a dry run first: the same decisions, nothing changed, nothing sent
    dry = run(frontdesk_bin, julie, "once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert sink.messages == []

    result = run(frontdesk_bin, julie, "once")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("declined")]
    # a dry run says what it would do, in the same words (issue 11: never "declined")
    assert not [line for line in dry.stdout.splitlines() if line.startswith("declined")]
    assert sorted(lines) == sorted(
        line.replace("would decline", "declined", 1) for line in dry.stdout.splitlines()
        if line.startswith("would decline"))
    assert len(lines) == len(declined) + 1, result.stdout
    assert any(line.startswith("declined 'Weekly sync' from bob@example.com: Saturday 10:00 is "
                               "outside your working days (Mon, Tue, Thu") for line in lines), lines
    replies = sink.wait_for(len(declined) + 1, timeout=20)
    by_uid = {}
    for envelope in replies:
        assert list(envelope.rcpt_tos) == ["bob@example.com"]
        msg, cal, text = reply_parts(envelope.content)
        assert msg["Auto-Submitted"] == "auto-replied"
        assert msg["From"].addresses[0].addr_spec == JULIE
        event = next(iter(cal.walk("VEVENT")))
        by_uid.setdefault(str(event["UID"]), []).append((cal, text, event))
        assert "lun." in text or "Mon" in text  # the working days are stated
    for uid in declined.values():
        (cal, text, event), = by_uid[uid]
        assert_rfc5546_reply(cal, uid, 0, recurrence=False)
    (cal, text, event), = by_uid[series_uid]
    assert_rfc5546_reply(cal, series_uid, 0, recurrence=True)

    # stored copies: only Julie's PARTSTAT changed, SEQUENCE kept, no METHOD
    for name in declined:
        stored = icalendar.Calendar.from_ical(
            radicale.request("GET", f"{calendar_url}{name}.ics")[2])  # type: ignore
        assert "METHOD" not in stored
        for event in stored.walk("VEVENT"):
            mine = [a for a in event.get("ATTENDEE") if JULIE in str(a).lower()]
            assert mine[0].params["PARTSTAT"] == "DECLINED"
            assert int(event.get("SEQUENCE", 0)) == 0
    for name, raw in before.items():
        assert radicale.request("GET", f"{calendar_url}{name}.ics")[2] == raw, name  # type: ignore

    # a second pass sends nothing
    sink.clear()
    again = run(frontdesk_bin, julie, "once")
    assert again.returncode == 0, again.stderr
    assert not [line for line in again.stdout.splitlines() if line.startswith("declined")]
    assert sink.messages == []

    # the organizer moves the meeting (new SEQUENCE): judged again
    uid = declined["saturday"]
    _, moved_ics = invitation("Weekly sync", local(sat, "18:00"), local(sat, "19:00"), uid=uid,
                              sequence=1)
    put(calendar_url, "saturday.ics", moved_ics)
    third = run(frontdesk_bin, julie, "once")
    assert third.returncode == 0, third.stderr
    assert len([ln for ln in third.stdout.splitlines() if ln.startswith("declined")]) == 1
    (envelope,) = sink.wait_for(1, timeout=20)
    _, cal, _ = reply_parts(envelope.content)
    assert_rfc5546_reply(cal, uid, 1, recurrence=False)


def test_untrusted_time_goes_to_review(frontdesk_bin: str, julie: Path, radicale: object,
                                       calendar_url: str, mail_account: object) -> None:
    sat = next_weekday(SAT)
    _, ics = invitation("Mystery zone", local(sat, "10:00"), local(sat, "11:00"),
                        tzid="Mars/Olympus_Mons")
    radicale.put_event(calendar_url, "mystery.ics", ics)  # type: ignore[attr-defined]
    result = run(frontdesk_bin, julie, "once")
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("left for review 'Mystery zone'")
               for line in result.stdout.splitlines()), result.stdout
    assert mail_account.sink.messages == []  # type: ignore[attr-defined]


def test_declined_by_email_then_stored_copy_is_caught_up_without_a_second_reply(
        frontdesk_bin: str, julie: Path, radicale: object, calendar_url: str,
        mail_account: object) -> None:
    """An invitation first seen by email is declined by iMIP; when the same revision reaches the
    calendar (the freelancer's app added it), only their PARTSTAT is set, nothing is re-sent."""
    from email.message import EmailMessage

    from test_inbox_e2e import deliver

    sink, server = mail_account.sink, mail_account.server  # type: ignore[attr-defined]
    assert run(frontdesk_bin, julie, "once").returncode == 0  # the inbox position
    sat = next_weekday(SAT)
    _, ics = invitation("By mail first", local(sat, "10:00"), local(sat, "11:00"))
    msg = EmailMessage()
    msg["From"] = "bob@example.com"
    msg["To"] = JULIE
    msg["Subject"] = "Invitation: By mail first"
    msg["Message-ID"] = "<by-mail-first@example.com>"
    msg["Return-Path"] = "<bob@example.com>"
    msg.set_content("You are invited")
    msg.add_alternative(ics.decode().replace("BEGIN:VEVENT", "METHOD:REQUEST\r\nBEGIN:VEVENT", 1),
                        subtype="calendar", params={"method": "REQUEST"})
    deliver(server, msg.as_bytes())
    first = run(frontdesk_bin, julie, "once")
    assert first.returncode == 0, first.stderr
    assert "declined 'By mail first'" in first.stdout
    assert len(sink.wait_for(1, timeout=20)) == 1
    radicale.put_event(calendar_url, "mail-first.ics", ics)  # type: ignore[attr-defined]
    second = run(frontdesk_bin, julie, "once")
    assert second.returncode == 0, second.stderr
    assert "declined" not in second.stdout
    assert len(sink.messages) == 1
    stored = icalendar.Calendar.from_ical(
        radicale.request("GET", f"{calendar_url}mail-first.ics")[2])  # type: ignore
    event = next(iter(stored.walk("VEVENT")))
    mine = [a for a in event.get("ATTENDEE") if JULIE in str(a).lower()]
    assert mine[0].params["PARTSTAT"] == "DECLINED"


def test_crash_between_the_put_and_its_record_still_sends_the_decline_once(
        frontdesk_bin: str, julie: Path, radicale: object, calendar_url: str,
        mail_account: object) -> None:
    """After our PUT the stored copy says DECLINED, so judging it again finds no invitation:
    the ledger's pending row must finish the decline, exactly once."""
    import os

    sink = mail_account.sink  # type: ignore[attr-defined]
    sat = next_weekday(SAT)
    uid, ics = invitation("Crash test", local(sat, "10:00"), local(sat, "11:00"))
    radicale.put_event(calendar_url, "crash.ics", ics)  # type: ignore[attr-defined]
    crashed = run(frontdesk_bin, julie, "once",
                  env=dict(os.environ, FRONTDESK_CRASH_AT="after-put"))
    assert crashed.returncode == 137
    assert sink.messages == []
    again = run(frontdesk_bin, julie, "once")
    assert again.returncode == 0, again.stderr
    (envelope,) = sink.wait_for(1, timeout=20)
    _, cal, _ = reply_parts(envelope.content)
    assert_rfc5546_reply(cal, uid, 0, recurrence=False)
    assert run(frontdesk_bin, julie, "once").returncode == 0
    assert len(sink.messages) == 1
