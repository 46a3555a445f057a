"""The local mail servers really speak IMAP, LMTP and SMTP (daemon/demo/mail.py and
tests/fixtures/dovecot.py).

Each IMAP test runs against Dovecot (when installed) and against pymap, the fallback without root.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from fixtures.dovecot import Dovecot, imap_server
from fixtures.mail import JULIE, JULIE_PASSWORD, MailAccount
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from daemon.demo.mail import PymapServer, SmtpSink, deliver, free_port

pytestmark = pytest.mark.servers

REPO = Path(__file__).resolve().parents[1]
KINDS = [
    pytest.param(
        "dovecot",
        marks=pytest.mark.skipif(not Dovecot.available(), reason="dovecot is not installed"),
    ),
    "pymap",
]
USERS = {JULIE: JULIE_PASSWORD, "assistant@example.org": "assistant-pass"}


def message(subject: str, sender: str = "client@outside.test", to: str = JULIE) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@outside.test>"
    msg.set_content(f"Hello, this is {subject}.\n")
    return msg.as_bytes(policy=SMTP)


def crlf(data: bytes) -> bytes:
    # pymap's maildir backend hands messages back with bare LF line endings.
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[Dovecot | PymapServer]:
    with imap_server(None, USERS, kind=request.param) as started:
        yield started


@pytest.fixture
def sink(server: Dovecot | PymapServer) -> Iterator[SmtpSink]:
    with SmtpSink(server, users=server.users) as started:
        yield started


def login(server: Dovecot | PymapServer, user: str = JULIE) -> IMAPClient:
    client = IMAPClient(server.host, server.imap_port, ssl=False, timeout=30)
    client.login(user, USERS[user])
    return client


def test_login_append_search_fetch_rfc3501(server: Dovecot | PymapServer) -> None:
    client = login(server)
    names = {name for _, _, name in client.list_folders()}
    assert {"INBOX", "Sent", "Drafts"} <= names
    info = client.select_folder("INBOX")
    assert info[b"EXISTS"] == 0
    raw = message("append one")
    reply = client.append("INBOX", raw)
    assert b"APPENDUID" in reply  # RFC 4315 UIDPLUS
    client.append("INBOX", message("append two"), flags=[b"\\Seen"])
    client.noop()
    assert client.search(["UNSEEN"]) == [1]
    assert client.search(["SUBJECT", "append two"]) == [2]
    fetched = client.fetch([1], ["BODY.PEEK[]", "FLAGS"])[1]
    assert crlf(fetched[b"BODY[]"]) == raw
    client.logout()


def test_wrong_password_is_refused(server: Dovecot | PymapServer) -> None:
    client = IMAPClient(server.host, server.imap_port, ssl=False, timeout=30)
    with pytest.raises(LoginError):
        client.login(JULIE, "not-the-password")


def test_store_answered_and_keyword_follow_permanentflags(server: Dovecot | PymapServer) -> None:
    """RFC 3501 7.1: a keyword sticks only where PERMANENTFLAGS holds \\*."""
    client = login(server)
    client.append("INBOX", message("flags"))
    info = client.select_folder("INBOX")
    client.add_flags([1], [b"\\Answered", b"$FrontdeskProbe"])
    flags = set(client.get_flags([1])[1])
    assert b"\\Answered" in flags
    keywords_stick = b"\\*" in info[b"PERMANENTFLAGS"]
    assert (b"$FrontdeskProbe" in flags) == keywords_stick
    assert keywords_stick == isinstance(server, Dovecot)
    client.logout()


def test_pymap_keeps_only_declared_keywords() -> None:
    with PymapServer(None, USERS, keywords=["$Answered-By-Frontdesk"]) as server:
        client = login(server)
        client.append("INBOX", message("keywords"))
        info = client.select_folder("INBOX")
        assert b"$Answered-By-Frontdesk" in info[b"PERMANENTFLAGS"]
        client.add_flags([1], [b"$Answered-By-Frontdesk", b"$Other"])
        flags = set(client.get_flags([1])[1])
        assert b"$Answered-By-Frontdesk" in flags
        assert b"$Other" not in flags
        client.logout()


def test_idle_wakes_after_delivery_rfc2177(server: Dovecot | PymapServer) -> None:
    client = login(server)
    client.select_folder("INBOX")
    client.idle()
    deliver(server, JULIE, message("wake up"))
    responses: list[tuple[int | bytes, ...]] = []
    try:
        for _ in range(20):  # bounded: each check waits at most 1 s
            responses += client.idle_check(timeout=1)
            if any(r[1:2] == (b"EXISTS",) for r in responses):
                break
    except IMAPClient.AbortError as exc:
        # pymap may write one untagged FETCH in two pieces, and imapclient's non-blocking
        # idle_check() then reads half a line and aborts: the wake-up came, the connection is
        # lost. A client must reconnect after such an abort.
        assert isinstance(server, PymapServer) and "unterminated line" in str(exc)
        client = login(server)
        client.select_folder("INBOX")
        assert client.search(["SUBJECT", "wake up"]) == [1]
        return
    client.idle_done()
    assert (1, b"EXISTS") in [tuple(r[:2]) for r in responses]
    client.logout()


def test_deliver_sets_return_path_from_sender(server: Dovecot | PymapServer) -> None:
    deliver(server, JULIE, message("bounce", sender="Bob <bob@client.test>"))
    deliver(server, JULIE, message("null sender"), mail_from="")
    client = login(server)
    client.select_folder("INBOX", readonly=True)
    headers = client.fetch([1, 2], ["BODY.PEEK[HEADER.FIELDS (RETURN-PATH)]"])
    values = [crlf(headers[i][b"BODY[HEADER.FIELDS (RETURN-PATH)]"]).strip() for i in (1, 2)]
    assert values == [b"Return-Path: <bob@client.test>", b"Return-Path: <>"]


def test_smtp_to_local_user_lands_in_inbox(server: Dovecot | PymapServer, sink: SmtpSink) -> None:
    raw = message("booking request", sender="client@outside.test")
    with smtplib.SMTP(sink.host, sink.port, timeout=30) as smtp:
        smtp.login(JULIE, JULIE_PASSWORD)
        smtp.sendmail("client@outside.test", [JULIE, "someone@elsewhere.test"], raw)
        smtp.sendmail("", ["someone@elsewhere.test"], message("outside only"))
    first, second = sink.wait_for(2, timeout=10)
    assert first.mail_from == "client@outside.test"
    assert first.rcpt_tos == (JULIE, "someone@elsewhere.test")
    assert first.delivered_to == (JULIE,)
    assert first.content == raw
    assert first.auth_login == JULIE
    assert first.message()["Subject"] == "booking request"
    assert second.mail_from == "" and second.delivered_to == ()
    assert first.accepted_at <= second.accepted_at
    client = login(server)
    client.select_folder("INBOX", readonly=True)
    assert client.search(["SUBJECT", "booking request"]) == [1]
    assert client.search(["SUBJECT", "outside only"]) == []


def test_smtp_unknown_user_of_local_domain_gets_550(sink: SmtpSink) -> None:
    with (
        smtplib.SMTP(sink.host, sink.port, timeout=30) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        smtp.sendmail("client@outside.test", ["nobody@example.org"], message("lost"))
    assert refused.value.recipients["nobody@example.org"][0] == 550
    assert sink.messages == []


def test_smtp_auth_checks_configured_passwords_rfc4954(sink: SmtpSink) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=30) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            smtp.login(JULIE, "wrong")
        assert failed.value.smtp_code == 535
        smtp.login(JULIE, JULIE_PASSWORD)


def test_smtp_auth_without_users_accepts_any_login() -> None:
    with SmtpSink() as sink, smtplib.SMTP(sink.host, sink.port, timeout=30) as smtp:
        smtp.login("anyone", "anything")
        smtp.sendmail("anyone@example.org", ["client@outside.test"], message("no store"))
        assert sink.wait_for(1)[0].auth_login == "anyone"


def test_fail_next_answers_injected_codes() -> None:
    with SmtpSink() as sink, smtplib.SMTP(sink.host, sink.port, timeout=30) as smtp:
        sink.fail_next(451, count=2)
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as data_error:
                smtp.sendmail("a@example.org", ["b@outside.test"], message("retry me"))
            assert data_error.value.smtp_code == 451
        smtp.sendmail("a@example.org", ["b@outside.test"], message("retry me"))
        sink.fail_next(550, "5.1.1 mailbox unavailable", at="RCPT")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail("a@example.org", ["b@outside.test"], message("refused"))
        assert refused.value.recipients["b@outside.test"] == (550, b"5.1.1 mailbox unavailable")
    assert [e.message()["Subject"] for e in sink.messages] == ["retry me"]
    assert [e.reply[:3] for e in sink.rejected] == ["451", "451"]


def test_restart_keeps_mail_and_ports(server: Dovecot | PymapServer, sink: SmtpSink) -> None:
    client = login(server)
    client.append("INBOX", message("kept"))
    validity = client.select_folder("INBOX")[b"UIDVALIDITY"]
    ports = (server.imap_port, server.lmtp_port, sink.port)
    server.restart()
    sink.restart()
    assert (server.imap_port, server.lmtp_port, sink.port) == ports
    with pytest.raises((OSError, IMAPClient.AbortError)):
        client.noop()  # the old connection died with the server
    client = login(server)
    assert client.select_folder("INBOX")[b"UIDVALIDITY"] == validity
    assert client.search(["SUBJECT", "kept"]) == [1]
    with smtplib.SMTP(sink.host, sink.port, timeout=30) as smtp:
        smtp.sendmail("client@outside.test", [JULIE], message("after restart"))
    assert len(sink.wait_for(1)) == 1
    client.noop()
    assert client.search(["SUBJECT", "after restart"]) == [2]


def test_stopped_server_refuses_connections(server: Dovecot | PymapServer) -> None:
    server.stop()
    with pytest.raises(OSError):
        IMAPClient(server.host, server.imap_port, ssl=False, timeout=5)
    server.start()
    login(server).logout()


def test_lmtp_refuses_unknown_recipient() -> None:
    if not Dovecot.available():
        pytest.skip("dovecot is not installed")
    with Dovecot(None, USERS) as server, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        server.deliver("nobody@example.org", message("lost"))
    assert refused.value.recipients["nobody@example.org"][0] == 550


def test_imap_server_prefers_dovecot() -> None:
    chosen = imap_server(None, USERS)
    try:
        assert isinstance(chosen, Dovecot if Dovecot.available() else PymapServer)
        assert isinstance(imap_server(None, USERS, kind="pymap"), PymapServer)
    finally:
        chosen.close()


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535


def test_mail_account_fixture_round_trip(mail_account: MailAccount) -> None:
    with smtplib.SMTP(mail_account.host, mail_account.smtp_port, timeout=30) as smtp:
        smtp.login(mail_account.address, mail_account.password)
        smtp.sendmail(mail_account.address, [mail_account.address], message("to myself"))
    mail_account.sink.wait_for(1)
    client = IMAPClient(mail_account.host, mail_account.imap_port, ssl=False, timeout=30)
    client.login(mail_account.address, mail_account.password)
    client.select_folder("INBOX", readonly=True)
    assert client.search(["SUBJECT", "to myself"]) == [1]


@pytest.mark.skipif(os.geteuid() != 0, reason="checks what happens as root")
def test_dovecot_as_root_explains_an_unreachable_folder(tmp_path: Path) -> None:
    if not Dovecot.available():
        pytest.skip("dovecot is not installed")
    locked = Path(tempfile.mkdtemp())  # mode 0700, owned by root
    try:
        with pytest.raises(RuntimeError, match="cannot enter"):
            Dovecot(locked / "inside", USERS).start()
    finally:
        shutil.rmtree(locked)


NON_ROOT_SCRIPT = """
import imaplib, os, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/tests")
from daemon.demo.mail import deliver
from fixtures.dovecot import Dovecot
assert os.geteuid() != 0
with Dovecot(None, {"julie@example.org": "pw"}) as server:
    deliver(server, "julie@example.org", b"From: a@client.test\\r\\nSubject: hi\\r\\n\\r\\n")
    server.restart()
    imap = imaplib.IMAP4(server.host, server.imap_port)
    imap.login("julie@example.org", "pw")
    imap.select("INBOX")
    print(imap.search(None, "SUBJECT", "hi")[1][0].decode())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to user nobody")
def test_dovecot_runs_without_root() -> None:
    """`frontdesk demo` runs as an ordinary user: Dovecot must start and deliver there too."""
    python = "/usr/bin/python3"
    if not Dovecot.available() or not shutil.which("runuser") or not os.access(python, os.X_OK):
        pytest.skip("needs dovecot, runuser and a system python3")
    readable = subprocess.run(
        ["runuser", "-u", "nobody", "--", "test", "-r", str(REPO / "tests/fixtures/dovecot.py")],
        check=False,
    )
    if readable.returncode != 0:
        pytest.skip(f"user nobody cannot read {REPO}")
    result = subprocess.run(
        ["runuser", "-u", "nobody", "--", python, "-c", NON_ROOT_SCRIPT, str(REPO)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_add_user_while_running(server: Dovecot | PymapServer) -> None:
    server.add_user("late@example.org", "late-pass")
    deliver(server, "late@example.org", message("welcome", to="late@example.org"))
    client = IMAPClient(server.host, server.imap_port, ssl=False, timeout=30)
    client.login("late@example.org", "late-pass")
    client.select_folder("INBOX", readonly=True)
    assert client.search(["SUBJECT", "welcome"]) == [1]


def test_nothing_installed_runs_useradd_or_holds_the_test_servers() -> None:
    """Issue 8: the test harness is not part of the product. The installed packages (rules,
    connectors, daemon) never create system users; Dovecot's harness lives in tests/."""
    for package in ("rules", "connectors", "daemon"):
        for path in (REPO / package).rglob("*.py"):
            assert "useradd" not in path.read_text(encoding="utf-8"), path
    assert not (REPO / "daemon" / "localservers").exists()
