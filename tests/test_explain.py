"""`frontdesk explain FILE.eml`: what frontdesk would do and why, the reply in full; stores and
sends nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import invitation, local, next_weekday, run, write_config
from test_inbox_e2e import client_mail

pytestmark = pytest.mark.servers


@pytest.fixture
def config(tmp_path: Path, calendar_url: str) -> Path:
    return write_config(tmp_path / "julie", calendar_url=calendar_url)


def explain(frontdesk_bin: str, config: Path, raw: bytes, tmp_path: Path) -> str:
    path = tmp_path / "message.eml"
    path.write_bytes(raw)
    result = run(frontdesk_bin, config, "explain", str(path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_booking_request_shows_the_words_and_the_whole_reply(
        frontdesk_bin: str, config: Path, tmp_path: Path) -> None:
    out = explain(frontdesk_bin, config, client_mail(
        "marie@client.example", "Rendez-vous", "Bonjour, avez-vous des disponibilités ?",
        name="Marie Gagnon"), tmp_path)
    assert "decision: reply (booking) in fr" in out
    assert "signals:" in out and "disponibilit" in out  # issue 10: why, in explain
    assert "--- the reply it would send ---" in out
    assert "Subject: Re: Rendez-vous" in out
    assert "Auto-Submitted: auto-replied" in out
    assert "Bonjour Marie" in out
    # nothing stored: the state folder was never created
    assert not (tmp_path / "julie" / "state").exists()


def test_objection_english_and_other(frontdesk_bin: str, config: Path, tmp_path: Path) -> None:
    out = explain(frontdesk_bin, config, client_mail(
        "paul@client.example", "Re: booking", "Thanks, but that's too expensive for me."),
        tmp_path)
    assert "decision: reply (objection) in en" in out
    assert "too expensive" in out
    out = explain(frontdesk_bin, config, client_mail(
        "anna@client.example", "Thanks", "Thank you for yesterday's session!"), tmp_path)
    assert "decision: ignore" in out and "no reply would be sent" in out


def test_auto_reply_is_ignored_with_its_rule(frontdesk_bin: str, config: Path,
                                             tmp_path: Path) -> None:
    out = explain(frontdesk_bin, config, client_mail(
        "bob@example.com", "Out of Office", "Away", headers={"Auto-Submitted": "auto-replied"}),
        tmp_path)
    assert "decision: ignore" in out and "Auto-Submitted" in out


def test_invitation_by_mail_is_judged_by_the_guard(frontdesk_bin: str, config: Path,
                                                   tmp_path: Path) -> None:
    from email.message import EmailMessage

    sat = next_weekday(5)
    _, ics = invitation("Weekly sync", local(sat, "10:00"), local(sat, "11:00"))
    msg = EmailMessage()
    msg["From"] = "bob@example.com"
    msg["To"] = "julie@example.org"
    msg["Subject"] = "Invitation: Weekly sync"
    msg["Message-ID"] = "<inv-1@example.com>"
    msg["Return-Path"] = "<bob@example.com>"
    msg.set_content("You are invited")
    msg.add_alternative(ics.decode().replace("BEGIN:VEVENT", "METHOD:REQUEST\r\nBEGIN:VEVENT", 1),
                        subtype="calendar", params={"method": "REQUEST"})
    out = explain(frontdesk_bin, config, msg.as_bytes(), tmp_path)
    assert "decision: invitation" in out
    assert "'Weekly sync' from bob@example.com: Saturday 10:00 is outside" in out
    assert "--- the reply it would send ---" in out
    assert "METHOD:REPLY" in out and "PARTSTAT=DECLINED" in out


def test_corpus_messages_never_crash(frontdesk_bin: str, config: Path, tmp_path: Path,
                                     corpus: Path) -> None:
    for path in sorted((corpus / "eml").glob("*.eml"))[:8]:
        result = run(frontdesk_bin, config, "explain", str(path))
        assert result.returncode == 0, (path.name, result.stderr)
        assert "decision:" in result.stdout


def test_unreadable_or_missing_file(frontdesk_bin: str, config: Path, tmp_path: Path) -> None:
    result = run(frontdesk_bin, config, "explain", str(tmp_path / "absent.eml"))
    assert result.returncode == 64 and "cannot read" in result.stderr
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    result = run(frontdesk_bin, config, "explain", str(empty))
    assert result.returncode == 1 and "not a readable email" in result.stderr
    assert "Traceback" not in result.stderr
