"""Issue 9, safe to leave running: every finding of the attack report as a regression test,
through the installed command on real servers (Radicale, Dovecot or pymap, an SMTP sink)."""

from __future__ import annotations

import email
import email.policy
import os
import uuid
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import JULIE, invitation, local, next_weekday, run, write_config
from test_inbox_e2e import client_mail, deliver, installed, outgoing, run_ok

pytestmark = pytest.mark.servers
ZONE = ZoneInfo("America/Toronto")


@pytest.fixture
def desk(tmp_path: Path, radicale: object, calendar_url: str, mail_account: object) -> Path:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    assert "replied" not in run_ok(config)  # the first start sets the inbox position
    return config


def sent_to(sink: object) -> list[str]:
    return [r for e in sink.messages for r in e.rcpt_tos  # type: ignore[attr-defined]
            if e.mail_from.lower() == JULIE]


def raw_mail(sender: str, subject: str, body: str | None = None, *, envelope: str | None = None,
             headers: dict[str, str] | None = None, calendar: bytes | None = None,
             from_header: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = from_header or sender
    msg["To"] = JULIE
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@attack.example>"
    msg["Date"] = email.utils.format_datetime(datetime.now(ZONE))
    msg["Return-Path"] = f"<{envelope if envelope is not None else sender}>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body or "Hello")
    if calendar is not None:
        msg.add_alternative(calendar.decode(), subtype="calendar", params={"method": "REQUEST"})
    return msg.as_bytes(policy=email.policy.SMTP)


def weekend_request(n: int, organizers: list[str], *, series_overrides: int = 0) -> bytes:
    """One VCALENDAR with `n` METHOD:REQUEST events on a Saturday, each from its organizer."""
    sat = next_weekday(5)
    events = []
    for i in range(n):
        _, ics = invitation(f"Weekend {i}", local(sat, "10:00"), local(sat, "11:00"),
                            organizer=organizers[i % len(organizers)])
        body = ics.decode().split("BEGIN:VEVENT", 1)[1].split("END:VEVENT", 1)[0]
        events.append("BEGIN:VEVENT" + body + "END:VEVENT")
    uid = f"{uuid.uuid4()}@example.com"
    if series_overrides:
        org = organizers[0]
        _, master = invitation("Weekly", local(sat, "10:00"), local(sat, "11:00"), uid=uid,
                               organizer=org, rrule=f"FREQ=WEEKLY;COUNT={series_overrides + 1}")
        events.append("BEGIN:VEVENT" + master.decode().split("BEGIN:VEVENT", 1)[1]
                      .split("END:VEVENT", 1)[0] + "END:VEVENT")
        for week in range(1, series_overrides + 1):
            day = sat.toordinal() + 7 * week
            from datetime import date

            d = date.fromordinal(day)
            events.append(
                "BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20261101T120000Z\r\n"
                f"RECURRENCE-ID;TZID=America/Toronto:{local(d, '10:00')}\r\n"
                f"DTSTART;TZID=America/Toronto:{local(d, '12:00')}\r\n"
                f"DTEND;TZID=America/Toronto:{local(d, '13:00')}\r\n"
                f"SUMMARY:Weekly moved {week}\r\nSEQUENCE:0\r\n"
                f"ORGANIZER:mailto:{org}\r\nATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:"
                f"{JULIE}\r\nEND:VEVENT")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nMETHOD:REQUEST\r\n"
            + "\r\n".join(events) + "\r\nEND:VCALENDAR\r\n").encode()


# -- Reflection (CRITICAL) -------------------------------------------------------------------


def test_finding_1_declines_go_only_to_the_organizer_who_sent_the_invitation(
        desk: Path, mail_account: object) -> None:
    """One email holding 50 weekend REQUESTs, each from a different third party as ORGANIZER:
    no decline at all (the sender is none of them: RFC 6047 §3); left for review."""
    sink = mail_account.sink  # type: ignore[attr-defined]
    victims = [f"victim{i}@third.example" for i in range(50)]
    deliver(mail_account.server, raw_mail(  # type: ignore[attr-defined]
        "attacker@evil.example", "Invitations", calendar=weekend_request(50, victims)))
    result = run(installed(), desk, "once")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert not [r for r in sent_to(sink) if r in victims]
    assert "would" not in result.stdout and "declined" not in result.stdout


def test_finding_1_a_series_and_its_200_overrides_get_one_reply(
        desk: Path, mail_account: object) -> None:
    sink = mail_account.sink  # type: ignore[attr-defined]
    organizer = "carol@partner.example"
    deliver(mail_account.server, raw_mail(  # type: ignore[attr-defined]
        organizer, "Weekly", calendar=weekend_request(0, [organizer], series_overrides=200)))
    out = run_ok(desk)
    assert sent_to(sink).count(organizer) == 1, out


def test_finding_1_a_title_is_shortened_and_cannot_forge_a_line(
        desk: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    sat = next_weekday(5)
    title = "Sync\\r\\nBcc: victim@third.example\\n" + "x" * 20_000
    _, ics = invitation(title, local(sat, "10:00"), local(sat, "11:00"))
    radicale.put_event(calendar_url, "long.ics", ics)  # type: ignore[attr-defined]
    out = run_ok(desk)
    assert not [line for line in out.splitlines() if line.startswith("Bcc:")]
    (decline,) = outgoing(mail_account.sink, "bob@example.com")  # type: ignore[attr-defined]
    assert len(str(decline["Subject"])) < 260
    assert "victim@third.example" not in decline.get("Bcc", "")


def test_finding_2_a_forged_reply_to_or_from_never_reaches_the_victim(
        desk: Path, mail_account: object) -> None:
    """Replies go to the address the envelope (or a trusted Authentication-Results) vouches
    for: a forged Reply-To is ignored, a forged From gets a draft at most."""
    sink = mail_account.sink  # type: ignore[attr-defined]
    server = mail_account.server  # type: ignore[attr-defined]
    for i in range(3):
        deliver(server, raw_mail("attacker@evil.example", "Rendez-vous",
                                 "Bonjour, je voudrais un rendez-vous svp.",
                                 headers={"Reply-To": f"victim{i}@third.example"}))
    for i in range(3):
        deliver(server, raw_mail(f"forged{i}@third.example", "Rendez-vous",
                                 "Bonjour, je voudrais un rendez-vous svp.",
                                 envelope="attacker@evil.example"))
    out = run_ok(desk)
    recipients = sent_to(sink)
    assert not [r for r in recipients if r.endswith("@third.example")], recipients
    assert recipients.count("attacker@evil.example") == 1  # its own address, once (repeat)
    assert out.count("drafted a reply") == 3  # the forged Froms: drafts for the freelancer


def test_finding_2_plus_tags_do_not_defeat_the_limit(desk: Path, mail_account: object) -> None:
    sink = mail_account.sink  # type: ignore[attr-defined]
    for i in range(4):
        deliver(mail_account.server, raw_mail(  # type: ignore[attr-defined]
            f"ann+{i}@client.example", "Rendez-vous", "Bonjour, un rendez-vous svp ?"))
    run_ok(desk)
    assert len([r for r in sent_to(sink) if r.startswith("ann")]) == 1


def test_finding_3_a_global_cap_turns_replies_into_drafts_and_status_says_so(
        tmp_path: Path, radicale: object, calendar_url: str, mail_account: object,
        frontdesk_bin: str) -> None:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account,
                          extra="\n[limits]\nper_hour = 5\nper_day = 200\n")
    run_ok(config)
    for i in range(9):
        deliver(mail_account.server, client_mail(  # type: ignore[attr-defined]
            f"client{i}@client.example", "Rendez-vous", "Bonjour, un rendez-vous svp ?"))
    out = run_ok(config)
    assert len(sent_to(mail_account.sink)) == 5  # type: ignore[attr-defined]
    assert out.count("over the cap") == 4
    status = run(frontdesk_bin, config, "status").stdout
    assert "OVER THE CAP" in status


# -- One email stops the service (HIGH) ----------------------------------------------------


def test_finding_4_a_poison_display_name_does_not_block_the_inbox(
        desk: Path, mail_account: object) -> None:
    server = mail_account.server  # type: ignore[attr-defined]
    poison = ("From: =?utf-8?b?" + __import__("base64").b64encode(
        ("Zoé" + "x" * 64).encode() + b"\xff").decode() + "?= <zoe@client.example>\r\n"
              "To: julie@example.org\r\nSubject: Rendez-vous\r\nMessage-ID: <poison@x>\r\n"
              "Return-Path: <zoe@client.example>\r\n\r\nBonjour, un rendez-vous svp ?\r\n")
    server.deliver(JULIE, poison.encode(), mail_from="zoe@client.example")
    deliver(server, client_mail("next@client.example", "Rendez-vous",
                                "Bonjour, je voudrais prendre rendez-vous."))
    result = run(installed(), desk, "once")
    assert result.returncode == 0 and "Traceback" not in result.stderr + result.stdout
    assert outgoing(mail_account.sink, "next@client.example")  # type: ignore[attr-defined]


def test_finding_4_explain_a_non_ascii_local_part_and_an_idn_domain(
        desk: Path, tmp_path: Path, frontdesk_bin: str) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(("From: Marie <clïent@bücher.example>\r\nTo: julie@example.org\r\n"
                      "Subject: Rendez-vous\r\nMessage-ID: <i@x>\r\n\r\n"
                      "Bonjour, je voudrais un rendez-vous.\r\n").encode())
    result = run(frontdesk_bin, desk, "explain", str(path))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "xn--bcher-kva.example" in result.stdout
    assert "=?utf-8?" not in result.stdout.split("--- the reply")[-1].split("\n\n")[0]


def test_finding_5_a_huge_html_body_is_read_and_the_next_message_answered(
        desk: Path, mail_account: object) -> None:
    server = mail_account.server  # type: ignore[attr-defined]
    msg = EmailMessage()
    msg["From"] = "html@client.example"
    msg["To"] = JULIE
    msg["Subject"] = "Newsletter"
    msg["Message-ID"] = "<big-html@x>"
    msg["Return-Path"] = "<html@client.example>"
    msg.set_content("<b>a</b>" * 200_000, subtype="html")
    server.deliver(JULIE, msg.as_bytes(policy=email.policy.SMTP), mail_from="html@client.example")
    deliver(server, client_mail("after@client.example", "RDV", "Bonjour, un rendez-vous ?"))
    run_ok(desk)
    assert outgoing(mail_account.sink, "after@client.example")  # type: ignore[attr-defined]


def test_finding_6_a_message_that_stops_frontdesk_is_set_aside_after_five_times(
        desk: Path, mail_account: object, frontdesk_bin: str) -> None:
    # five, not three: a storm of kills from outside must not set a client's request aside
    # (tests/test_kill.py)
    deliver(mail_account.server, client_mail(  # type: ignore[attr-defined]
        "crash@client.example", "RDV", "Bonjour, un rendez-vous ?"))
    env = dict(os.environ, FRONTDESK_CRASH_AT="while-handling")
    codes = [run(installed(), desk, "once", env=env).returncode for _ in range(6)]
    assert codes == [137, 137, 137, 137, 137, 0]
    status = run(frontdesk_bin, desk, "status").stdout
    assert "stopped 5 times while handling it" in status
    assert outgoing(mail_account.sink, "crash@client.example") == []  # type: ignore[attr-defined]


def test_finding_1_the_organizer_s_own_flood_is_capped_too(
        desk: Path, mail_account: object) -> None:
    """100 weekend invitations (distinct UIDs) from the sender itself: declines stop at
    limits.declines_per_organizer_per_day; the rest is left for review."""
    sink = mail_account.sink  # type: ignore[attr-defined]
    organizer = "flood@partner.example"
    deliver(mail_account.server, raw_mail(  # type: ignore[attr-defined]
        organizer, "Many", calendar=weekend_request(100, [organizer])))
    run_ok(desk)
    assert 1 <= sent_to(sink).count(organizer) <= 10
