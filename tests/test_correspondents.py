"""Friends are never answered automatically: the people Julie writes to herself, learnt from her
Sent folder (daemon/correspondents.py), through the installed command on real servers (Radicale,
Dovecot or pymap, an SMTP server delivering into it), and what is learnt from which message."""

from __future__ import annotations

import email.utils
import imaplib
import json
import sqlite3
import uuid
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import JULIE, ZONE, invitation, local, next_weekday, run, write_config
from test_imap import spy_commands
from test_inbox_e2e import client_mail, deliver, installed, outgoing, run_ok

from connectors.imap import SentMessage
from daemon.app import App
from daemon.config import load_config
from daemon.correspondents import SentReader
from daemon.ledger import Ledger

FRIEND = "friend@personal.example"
STRANGER = "someone@stranger.example"
ASK = "Salut, on pourrait se voir mardi prochain ?"  # a stranger gets times for this


def written_by_julie(to: str, *, cc: str = "", subject: str = "Des nouvelles") -> bytes:
    """An email Julie wrote in her mail app, as it files it in Sent: no Auto-Submitted."""
    msg = EmailMessage()
    msg["From"] = f"Julie Tremblay <{JULIE}>"
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    msg["Date"] = email.utils.format_datetime(datetime.now(ZONE))
    msg.set_content("Coucou, ça fait longtemps ! On s'appelle ?\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def file_in(account: object, folder: str, raw: bytes) -> None:
    """APPEND as Julie's mail app does after sending."""
    conn = imaplib.IMAP4("127.0.0.1", account.imap_port)  # type: ignore[attr-defined]
    try:
        conn.login(account.address, account.password)  # type: ignore[attr-defined]
        typ, data = conn.append(folder, "(\\Seen)", None, raw)
        assert typ == "OK", data
    finally:
        conn.logout()


def state(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "state" / "frontdesk.sqlite3")


def correspondents(config: Path) -> set[str]:
    with state(config) as db:
        return {str(r[0]) for r in db.execute("SELECT rate_key FROM correspondents")}


def sent_position(config: Path) -> dict[str, object]:
    with state(config) as db:
        row = db.execute("SELECT value FROM facts WHERE key = 'sent_position'").fetchone()
    assert row is not None
    value = json.loads(row[0])
    assert isinstance(value, dict)
    return value


def test_frontdesks_own_mail_and_julies_own_addresses_teach_nothing(tmp_path: Path) -> None:
    config = load_config(str(write_config(tmp_path / "j", calendar_url="http://127.0.0.1:9/c/")))
    with Ledger.open(None) as ledger:
        ledger.queue_mail("<fd-1@example.org>", kind="booking", recipient="c@client.example",
                          in_reply_to="x@client.example", body=b"", draft=False)
        keys = SentReader(config, ledger).correspondents([
            SentMessage(1, "<a@example.org>", ("friend+x@personal.example", JULIE,
                                               "contact+tag@julie.example"), machine=False),
            # Auto-Submitted: frontdesk's, filed before its state folder was started afresh
            SentMessage(2, "<fd-0@example.org>", ("old@client.example",), machine=True),
            # frontdesk's (in the outbox), even with its Auto-Submitted edited away
            SentMessage(3, "<fd-1@example.org>", ("c@client.example",), machine=False),
            SentMessage(4, "", ("other@personal.example",), machine=False),
        ])
    assert keys == {"friend@personal.example", "other@personal.example"}


@pytest.fixture
def desk(tmp_path: Path, calendar_url: str, mail_account: object) -> Path:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    first = run_ok(config)  # the first start only takes mail that arrives from then on
    assert "replied" not in first
    return config


@pytest.mark.servers
def test_a_friend_julie_writes_to_is_left_for_her_and_a_stranger_is_answered(
        desk: Path, mail_account: object) -> None:
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    file_in(mail_account, "Sent", written_by_julie(f"Marc <{FRIEND}>",
                                                   cc="Julie <contact@julie.example>"))
    deliver(server, client_mail(FRIEND, "Coucou", ASK, name="Marc"))
    deliver(server, client_mail(STRANGER, "Coucou", ASK))
    result = run(installed(), desk, "once")
    assert result.returncode == 0, result.stderr
    # today the reader takes a personal correspondent's words for nothing to answer: the log
    # says so, `once` prints a line only for the stranger
    assert (f"INFO ignored {FRIEND} 'Coucou': nothing to answer: sender: someone the "
            "freelancer writes to personally") in result.stderr, result.stderr
    assert f"replied (booking, fr) to {STRANGER} about 'Coucou'" in result.stdout
    assert FRIEND not in result.stdout
    assert outgoing(sink, FRIEND) == []
    assert len(outgoing(sink, STRANGER)) == 1
    # Julie's own alias in Cc is no correspondent of hers; frontdesk's reply, filed in Sent,
    # is not Julie writing to the stranger
    assert correspondents(desk) == {FRIEND}
    # the same friend from a +tag address, in the next pass
    deliver(server, client_mail("Friend+Tag@Personal.example", "Re: Coucou", ASK))
    assert "replied" not in run_ok(desk)
    assert correspondents(desk) == {FRIEND}
    assert outgoing(sink, FRIEND) == [] and outgoing(sink, "friend+tag@personal.example") == []


@pytest.mark.servers
def test_a_dry_run_knows_the_friend_and_records_nothing(
        desk: Path, mail_account: object) -> None:
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    before = sent_position(desk)
    file_in(mail_account, "Sent", written_by_julie(FRIEND))
    deliver(server, client_mail(FRIEND, "Coucou", ASK))
    deliver(server, client_mail(STRANGER, "Coucou", ASK))
    out = run_ok(desk, "--dry-run")
    assert f"would reply (booking, fr) to {STRANGER}" in out and FRIEND not in out, out
    assert correspondents(desk) == set() and sent_position(desk) == before
    assert sink.messages == []


@pytest.mark.servers
def test_frontdesks_own_mail_in_sent_makes_nobody_personal(
        desk: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    """A booking reply and an iMIP decline are filed in Sent with Auto-Submitted: their
    recipients stay a client and an organizer, answered when they write again."""
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    sat = next_weekday(5)
    radicale.put_event(calendar_url, "sat.ics", invitation(  # type: ignore[attr-defined]
        "Weekend workshop", local(sat, "10:00"), local(sat, "11:00"),
        organizer="organizer@events.example")[1])
    deliver(server, client_mail("marie@client.example", "Rendez-vous", ASK))
    out = run_ok(desk)
    assert "declined" in out and "replied (booking, fr) to marie@client.example" in out, out
    run_ok(desk)  # reads the two copies frontdesk filed in Sent
    assert sent_position(desk)["last_uid"] == 2
    assert correspondents(desk) == set()
    deliver(server, client_mail("marie@client.example", "Re: Rendez-vous",
                                "Bonjour, c'est trop cher pour moi en ce moment."))
    # the organizer got only a decline, so is no client: "personal" would leave this one
    deliver(server, client_mail("organizer@events.example", "Session",
                                "Hello, can I book a session next week?"))
    out = run_ok(desk)
    assert "replied (objection, fr) to marie@client.example" in out, out
    assert "replied (booking, en) to organizer@events.example" in out, out
    assert len(outgoing(sink, "marie@client.example")) == 2


@pytest.mark.servers
def test_a_missing_sent_folder_does_not_stop_the_pass(
        tmp_path: Path, calendar_url: str, mail_account: object) -> None:
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    config.write_text(config.read_text().replace('sent_folder = "Sent"',
                                                 'sent_folder = "Gesendet"'))
    run_ok(config)
    deliver(server, client_mail(STRANGER, "Coucou", ASK))
    result = run(installed(), config, "once")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    warning = "WARNING cannot learn who you write to from Gesendet: the folder 'Gesendet' does "
    assert result.stderr.count(warning) == 1, result.stderr
    # the inbox was read: the reply is planned, and waits for its copy's folder
    assert "could not file the reply in Gesendet" in result.stderr
    with state(config) as db:
        assert db.execute("SELECT outcome FROM messages WHERE sender = ?",
                          (STRANGER,)).fetchall() == [("replied",)]
    conn = imaplib.IMAP4("127.0.0.1", mail_account.imap_port)  # type: ignore[attr-defined]
    conn.login(mail_account.address, mail_account.password)  # type: ignore[attr-defined]
    conn.create("Gesendet")
    conn.logout()
    file_in(mail_account, "Gesendet", written_by_julie(FRIEND))
    result = run(installed(), config, "once")
    assert result.returncode == 0 and "WARNING" not in result.stderr, result.stderr
    assert len(outgoing(sink, STRANGER)) == 1
    assert correspondents(config) == {FRIEND}


@pytest.mark.servers
def test_a_folder_that_cannot_be_read_is_warned_about_once_per_process(
        tmp_path: Path, calendar_url: str, mail_account: object,
        caplog: pytest.LogCaptureFixture) -> None:
    path = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    path.write_text(path.read_text().replace('sent_folder = "Sent"', 'sent_folder = "Nowhere"'))
    with App(load_config(str(path))) as app:
        for _ in range(3):
            report = app.run_pass(datetime.now(ZONE))
            assert report.mail_error == ""
    warnings = [r for r in caplog.records if "cannot learn who you write to" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.servers
def test_each_message_in_sent_is_read_once_and_a_new_uidvalidity_reads_again(
        desk: Path, mail_account: object) -> None:
    file_in(mail_account, "Sent", written_by_julie(FRIEND))
    run_ok(desk)
    position = sent_position(desk)
    assert position["folder"] == "Sent" and position["last_uid"] == 1
    assert correspondents(desk) == {FRIEND}
    with state(desk) as db:  # forgotten: a pass that read Sent again would learn it again
        db.execute("DELETE FROM correspondents")
    run_ok(desk)
    assert correspondents(desk) == set() and sent_position(desk) == position
    with state(desk) as db:  # as if the server had rebuilt the folder (RFC 3501 2.3.1.1)
        db.execute("UPDATE facts SET value = ? WHERE key = 'sent_position'", (json.dumps(
            {**position, "uidvalidity": int(str(position["uidvalidity"])) + 1000,
             "last_uid": 99999}),))
    run_ok(desk)
    assert correspondents(desk) == {FRIEND} and sent_position(desk) == position


@pytest.mark.servers
def test_a_pass_with_nothing_new_in_sent_looks_at_it_with_one_status(
        tmp_path: Path, calendar_url: str, mail_account: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    file_in(mail_account, "Sent", written_by_julie(FRIEND))
    with App(load_config(str(path))) as app:
        app.run_pass(datetime.now(ZONE))
        assert app.ledger.is_correspondent(FRIEND)
        commands = spy_commands(app.connections.mailbox(), monkeypatch)
        app.run_pass(datetime.now(ZONE))
        # INBOX selected and searched as ever; Sent: one STATUS, no EXAMINE, no FETCH
        assert commands.count("STATUS") == 1, commands
        assert "EXAMINE" not in commands and "UID FETCH" not in commands, commands
        file_in(mail_account, "Sent", written_by_julie("other@personal.example"))
        commands.clear()
        app.run_pass(datetime.now(ZONE))
        assert commands.count("UID FETCH") == 1, commands  # the new message only
        assert app.ledger.is_correspondent("other@personal.example")
