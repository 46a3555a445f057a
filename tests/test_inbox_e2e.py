"""The booking desk end to end: a real IMAP server (Dovecot or pymap), a real SMTP server
delivering into it, Radicale for the calendar, through the installed `frontdesk` command."""

from __future__ import annotations

import email
import email.policy
import imaplib
import os
import re
import sys
import uuid
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import JULIE, invitation, local, next_weekday, run, write_config

pytestmark = pytest.mark.servers
ZONE = ZoneInfo("America/Toronto")


def client_mail(sender: str, subject: str, body: str, *, name: str = "", to: str = JULIE,
                headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@client.example>"
    msg["Date"] = email.utils.format_datetime(datetime.now(ZONE))
    msg["Return-Path"] = f"<{sender}>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


def deliver(server: object, raw: bytes) -> None:
    """Into Julie's INBOX as an MTA would: the envelope sender becomes the Return-Path."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    rp = str(msg.get("Return-Path", "")).strip().strip("<>")
    server.deliver(JULIE, raw, mail_from=rp)  # type: ignore[attr-defined]


def imap_flags(account: object, folder: str = "INBOX") -> dict[str, set[str]]:
    """Message-ID -> flags, read with a plain imaplib session (BODY.PEEK)."""
    conn = imaplib.IMAP4("127.0.0.1", account.imap_port)  # type: ignore[attr-defined]
    try:
        conn.login(account.address, account.password)  # type: ignore[attr-defined]
        conn.select(folder, readonly=True)
        _, data = conn.uid("SEARCH", "ALL")
        result: dict[str, set[str]] = {}
        for uid in data[0].split():
            _, parts = conn.uid("FETCH", uid,
                                "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            flags = set(re.findall(rb"\\\w+|\$\w+", parts[0][0].split(b"BODY")[0]))
            header = parts[0][1].decode()
            mid = header.split(":", 1)[1].strip() if ":" in header else ""
            result[mid] = {f.decode() for f in flags}
        return result
    finally:
        conn.logout()


def folder_count(account: object, folder: str) -> int:
    conn = imaplib.IMAP4("127.0.0.1", account.imap_port)  # type: ignore[attr-defined]
    try:
        conn.login(account.address, account.password)  # type: ignore[attr-defined]
        _, data = conn.select(folder, readonly=True)
        return int(data[0])
    finally:
        conn.logout()


def outgoing(sink: object, to: str) -> list[email.message.EmailMessage]:
    found = []
    for env in sink.messages:  # type: ignore[attr-defined]
        if to in env.rcpt_tos:
            msg = email.message_from_bytes(env.content, policy=email.policy.default)
            found.append(msg)
    return found


@pytest.fixture
def desk(tmp_path: Path, radicale: object, calendar_url: str, mail_account: object) -> Path:
    tue = next_weekday(1)
    radicale.put_event(calendar_url, "busy.ics", invitation(  # type: ignore[attr-defined]
        "Private appointment", local(tue, "10:00"), local(tue, "11:00"),
        partstat="ACCEPTED")[1])
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    first = run_ok(config)  # the first start only takes mail that arrives from then on
    assert "replied" not in first
    return config


def installed() -> str:
    """The installed console script beside this interpreter (as the frontdesk_bin fixture)."""
    candidate = Path(sys.executable).parent / "frontdesk"
    return str(candidate) if candidate.exists() else "frontdesk"


def run_ok(config: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = run(installed(), config, "once", *args, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_booking_requests_get_one_reply_each(desk: Path, mail_account: object,
                                             frontdesk_bin: str) -> None:
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    fr = client_mail("marie@client.example", "Rendez-vous",
                     "Bonjour, j'aimerais prendre rendez-vous la semaine prochaine. Merci !",
                     name="Marie Tremblay")
    en = client_mail("john@client.example", "Session?",
                     "Hi, are you available for a session next week?", name="John Smith")
    objection = client_mail("paul@client.example", "Re: rendez-vous",
                            "Bonjour, c'est trop cher pour moi en ce moment.")
    thanks = client_mail("anna@client.example", "Merci", "Merci pour la séance d'hier !")
    newsletter = client_mail("news@shop.example", "Our sale", "Book now!",
                             headers={"List-Unsubscribe": "<mailto:u@shop.example>",
                                      "Precedence": "bulk"})
    ooo = client_mail("bob@example.com", "Réponse automatique : rendez-vous",
                      "Je suis absent.", headers={"Auto-Submitted": "auto-replied"})
    for raw in (fr, en, objection, thanks, newsletter, ooo):
        deliver(server, raw)
    before = imap_flags(mail_account)
    out = run_ok(desk)
    assert out.count("replied") == 3, out
    fr_reply, = outgoing(sink, "marie@client.example")
    en_reply, = outgoing(sink, "john@client.example")
    obj_reply, = outgoing(sink, "paul@client.example")
    assert not outgoing(sink, "anna@client.example")
    assert not outgoing(sink, "news@shop.example")
    assert not outgoing(sink, "bob@example.com")
    fr_text = fr_reply.get_content()
    assert "Bonjour Marie" in fr_text and "95 $" in fr_text and "1." in fr_text
    assert "Private appointment" not in fr_text
    assert fr_reply["Auto-Submitted"] == "auto-replied"
    assert fr_reply["In-Reply-To"].strip() in fr.decode()
    assert fr_reply["Subject"] == "Re: Rendez-vous"
    en_text = en_reply.get_content()
    assert "Hello John" in en_text or "Hi John" in en_text
    assert "Payment is due" in en_text
    assert "trois versements" in obj_reply.get_content()
    # the offered slots really are free: never on Tuesday 10:00-11:00 (+ buffer)
    tue = next_weekday(1)
    assert f"{tue.day} " not in fr_text or "10 h 00 –" not in fr_text.split(f"{tue.day} ")[1][:40]
    # the clients' messages: \Seen unchanged, \Answered added to the three answered
    after = imap_flags(mail_account)
    for mid, flags in before.items():
        assert ("\\Seen" in flags) == ("\\Seen" in after[mid])
    answered = [mid for mid, flags in after.items() if "\\Answered" in flags]
    assert len(answered) == 3
    assert folder_count(mail_account, "Sent") == 3
    # twice: nothing twice
    sink.clear()
    out = run_ok(desk)
    assert "replied" not in out
    assert sink.messages == []


def test_crash_between_smtp_and_ledger_sends_again_with_the_same_message_id(
        desk: Path, mail_account: object) -> None:
    """Issue 8: killed after the final dot, before the server's answer was recorded, the reply
    may or may not have gone out; it is sent again with the same Message-ID (mail programs show
    one message), because a client who never gets an answer is worse. Then never again."""
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    deliver(server, client_mail("marie@client.example", "Disponibilités",
                                      "Bonjour, avez-vous des disponibilités ?"))
    env = dict(os.environ, FRONTDESK_CRASH_AT="after-smtp")
    crashed = run(installed(), desk, "once", env=env)
    assert crashed.returncode == 137
    assert len(outgoing(sink, "marie@client.example")) == 1
    run_ok(desk)
    first, again = outgoing(sink, "marie@client.example")
    assert first["Message-ID"] == again["Message-ID"]
    assert folder_count(mail_account, "Sent") == 1  # its copy is filed once
    run_ok(desk)
    assert len(outgoing(sink, "marie@client.example")) == 2


def test_crash_after_filing_in_sent_before_smtp_still_sends_once(
        desk: Path, mail_account: object) -> None:
    """The copy is in Sent but SMTP never began: nothing was delivered, so it is sent, once,
    and its Sent copy is not filed twice."""
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    deliver(server, client_mail("marie@client.example", "Disponibilités",
                                "Bonjour, avez-vous des disponibilités ?"))
    env = dict(os.environ, FRONTDESK_CRASH_AT="before-smtp")
    crashed = run(installed(), desk, "once", env=env)
    assert crashed.returncode == 137
    assert outgoing(sink, "marie@client.example") == []
    assert folder_count(mail_account, "Sent") == 1
    out = run_ok(desk)
    assert "replied" in out
    assert len(outgoing(sink, "marie@client.example")) == 1
    assert folder_count(mail_account, "Sent") == 1
    assert "replied" not in run_ok(desk)


def test_draft_mode_sends_nothing_and_leaves_a_draft(
        tmp_path: Path, radicale: object, calendar_url: str, mail_account: object) -> None:
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    config = write_config(tmp_path / "draft", calendar_url=calendar_url, mail=mail_account,
                          mode="draft")
    run_ok(config)
    deliver(server, client_mail("marie@client.example", "RDV",
                                      "Bonjour, je voudrais réserver une séance."))
    out = run_ok(config)
    assert "drafted" in out
    assert sink.messages == []
    assert folder_count(mail_account, "Drafts") == 1
    run_ok(config)
    assert folder_count(mail_account, "Drafts") == 1


def test_backfill_takes_the_last_hours(tmp_path: Path, radicale: object, calendar_url: str,
                                       mail_account: object) -> None:
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    deliver(server, client_mail("early@client.example", "Booking",
                                      "Hello, can I book an appointment next week?"))
    config = write_config(tmp_path / "bf", calendar_url=calendar_url, mail=mail_account)
    out = run_ok(config, "--backfill-hours", "2")
    assert "replied" in out
    assert len(outgoing(sink, "early@client.example")) == 1


def test_rate_limit_one_reply_per_kind_per_day(desk: Path, mail_account: object) -> None:
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    for i in range(3):
        deliver(server, client_mail("loop@client.example", f"Booking {i}",
                                          "Hello, can I book an appointment next week?"))
    out = run_ok(desk)
    assert len(outgoing(sink, "loop@client.example")) == 1, out


def test_corpus_mail_gets_no_booking_reply(desk: Path, mail_account: object,
                                           corpus: Path) -> None:
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    for path in sorted((corpus / "eml").glob("*.eml")):
        raw = path.read_bytes()
        # readdress to Julie so that "not among the recipients" is not what saves us
        raw = re.sub(rb"(?im)^To:.*(\r?\n[ \t].*)*", b"To: " + JULIE.encode(), raw, count=1)
        deliver(server, raw)
    out = run_ok(desk)
    assert "replied" not in out
    for env in sink.messages:  # only iMIP declines may go out, never a booking reply
        msg = email.message_from_bytes(env.content, policy=email.policy.default)
        assert msg.get_content_type() == "multipart/alternative", (env.rcpt_tos, out)


def test_new_uidvalidity_answers_nothing_twice(desk: Path, mail_account: object) -> None:
    """RFC 3501 2.3.1.1: a new UIDVALIDITY renumbers every message; what was handled is known
    by Message-ID and is not answered again, what is new is."""
    import sqlite3

    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    deliver(server, client_mail("first@client.example", "Rendez-vous",
                                "Bonjour, un rendez-vous la semaine prochaine ?"))
    assert "replied" in run_ok(desk)
    state = desk.parent / "state" / "frontdesk.sqlite3"
    with sqlite3.connect(state) as db:  # as if the server had rebuilt the mailbox
        db.execute("UPDATE mailboxes SET uidvalidity = uidvalidity + 1000, last_uid = 99999")
    deliver(server, client_mail("second@client.example", "Appointment",
                                "Hello, can I book a session next week?"))
    out = run_ok(desk)
    assert "second@client.example" in out and "first@client.example" not in out
    assert len(outgoing(sink, "first@client.example")) == 1
    assert len(outgoing(sink, "second@client.example")) == 1


def test_status_tells_what_was_done(desk: Path, mail_account: object,
                                    frontdesk_bin: str) -> None:
    server = mail_account.server  # type: ignore[attr-defined]
    deliver(server, client_mail("marie@client.example", "Rendez-vous",
                                "Bonjour, avez-vous des disponibilités ?"))
    deliver(server, client_mail("news@shop.example", "Sale", "Buy",
                                headers={"List-Id": "<sale.shop.example>"}))
    run_ok(desk)
    result = run(frontdesk_bin, desk, "status")
    assert result.returncode == 0, result.stderr
    assert "1 reply sent" in result.stdout and "1 email ignored" in result.stdout
    assert "last mail:" in result.stdout and "calendar synced:" in result.stdout
    assert "recent failures:  none" in result.stdout
