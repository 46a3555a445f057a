"""connectors/imap.py against real IMAP servers on 127.0.0.1: Dovecot (when installed) and pymap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from fixtures.dovecot import Dovecot, imap_server
from fixtures.relay import Relay

from connectors import imap
from connectors.imap import (
    Fetched,
    FolderMissing,
    MailAuthError,
    Mailbox,
    MailError,
    MailUnreachable,
)
from daemon.demo.mail import PymapServer, SmtpSink, deliver, free_port

pytestmark = pytest.mark.servers

USER = "julie@example.org"
PASSWORD = "imap-test-pass-3"
CLIENT = "bob@client.test"


def message(number: int, *, subject: str = "Booking", body: str = "Hello Julie,\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = CLIENT
    msg["To"] = USER
    msg["Subject"] = f"{subject} {number}"
    msg["Message-ID"] = f"<msg-{number}@client.test>"
    msg.set_content(body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


Server = Dovecot | PymapServer


def lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


@pytest.fixture(params=["dovecot", "pymap"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A fresh IMAP server of each kind, with julie's INBOX, Sent and Drafts."""
    kind = request.param
    if kind == "dovecot" and not Dovecot.available():
        pytest.skip("Dovecot is not installed (Debian: dovecot-imapd dovecot-lmtpd)")
    if kind == "pymap" and not PymapServer.available():
        pytest.skip("pymap is not installed (pip install pymap)")
    with imap_server(None, {USER: PASSWORD}, kind=kind) as started:
        yield started


@pytest.fixture
def box(server: Server) -> Iterator[Mailbox]:
    mailbox = Mailbox(server.host, server.imap_port, "none", USER, PASSWORD, timeout=20)
    with mailbox:
        yield mailbox


def kind_of(server: Server) -> str:
    return "dovecot" if isinstance(server, Dovecot) else "pymap"


def other_view(server: Server, folder: str, uid: int) -> Fetched:
    """The message as a second, independent session sees it (read-only, BODY.PEEK)."""
    with Mailbox(server.host, server.imap_port, "none", USER, PASSWORD, timeout=20) as look:
        look.select(folder)
        (fetched,) = look.fetch([uid])
        return fetched


# -- connecting


def test_login_reads_capabilities_and_folders(server: Server, box: Mailbox) -> None:
    assert box.connected
    assert box.supports_idle()
    assert "IMAP4REV1" in box.capabilities
    assert {"INBOX", "Sent", "Drafts"} <= set(box.folders())
    assert box.folder_exists("Sent")
    assert not box.folder_exists("Nowhere")


def test_wrong_password_is_one_sentence_naming_the_settings(server: Server) -> None:
    wrong = Mailbox(server.host, server.imap_port, "none", USER, "not-the-password", timeout=20)
    with pytest.raises(MailAuthError) as caught:
        wrong.connect()
    text = str(caught.value)
    assert "\n" not in text
    assert USER in text and "mail.password_file" in text
    assert "not-the-password" not in text
    assert not wrong.connected


def test_non_ascii_password_logs_in_with_sasl_plain(server: Server) -> None:
    # imaplib sends LOGIN strings as ASCII; AUTHENTICATE PLAIN carries UTF-8 (RFC 4616).
    zoe = "zoe@example.org"
    server.add_user(zoe, "mot-de-passe-été")
    with Mailbox(server.host, server.imap_port, "none", zoe, "mot-de-passe-été") as box:
        assert box.select("INBOX").exists == 0
    with pytest.raises(MailAuthError):
        Mailbox(server.host, server.imap_port, "none", zoe, "mot-de-passe-ete").connect()


def test_no_password_where_the_server_wants_a_login_is_an_auth_error(server: Server) -> None:
    with pytest.raises(MailAuthError, match="no password is configured"):
        Mailbox(server.host, server.imap_port, "none", USER, None, timeout=20).connect()


def test_closed_port_is_unreachable() -> None:
    port = free_port()
    with pytest.raises(MailUnreachable) as caught:
        Mailbox("127.0.0.1", port, "none", USER, PASSWORD, timeout=5).connect()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "refused" in str(caught.value)


def test_starttls_required_but_not_offered_stops_before_login(server: Server) -> None:
    # These test servers offer no TLS: frontdesk must not fall back to a clear-text login.
    box = Mailbox(server.host, server.imap_port, "starttls", USER, PASSWORD, timeout=20)
    with pytest.raises(MailError, match="does not offer STARTTLS") as caught:
        box.connect()
    assert not isinstance(caught.value, MailUnreachable | MailAuthError)
    assert not box.connected


def test_tls_against_a_plain_server_is_unreachable_not_downgraded(server: Server) -> None:
    box = Mailbox(server.host, server.imap_port, "tls", USER, PASSWORD, timeout=20)
    with pytest.raises(MailUnreachable, match="TLS"):
        box.connect()


def test_calls_after_close_say_the_connection_is_not_open(box: Mailbox) -> None:
    box.close()
    with pytest.raises(MailUnreachable, match="not open"):
        box.noop()


# -- reading the inbox


def test_select_reports_uidvalidity_uidnext_and_count(server: Server, box: Mailbox) -> None:
    for n in range(2):
        deliver(server, USER, message(n))
    state = box.select("INBOX")
    assert state.name == "INBOX"
    assert state.uidvalidity > 0
    assert state.exists == 2
    assert state.uidnext == 3
    # RFC 3501 §2.3.1.1: the same mailbox keeps its UIDVALIDITY between sessions.
    with Mailbox(server.host, server.imap_port, "none", USER, PASSWORD, timeout=20) as again:
        assert again.select("INBOX").uidvalidity == state.uidvalidity


def test_select_missing_folder_is_folder_missing(box: Mailbox) -> None:
    with pytest.raises(FolderMissing, match="'Archive/2023'"):
        box.select("Archive/2023")


def test_uids_after_filters_the_star_range_edge_rfc3501_6_4_8(server: Server, box: Mailbox) -> None:
    for n in range(3):
        deliver(server, USER, message(n))
    box.select("INBOX")
    assert box.uids_after(0) == [1, 2, 3]
    assert box.uids_after(2) == [3]
    # "UID 4:*" matches message 3 when 4 is above the highest UID: nothing new here.
    assert box.uids_after(3) == []
    assert box.uids_after(50) == []


def test_uids_since_filters_by_exact_internaldate(box: Mailbox) -> None:
    box.select("INBOX")
    early = datetime(2024, 3, 10, 8, 0, tzinfo=UTC)
    late = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    box.append("INBOX", message(1), when=early)
    box.append("INBOX", message(2), when=late)
    box.select("INBOX")
    # SEARCH SINCE only knows dates: both are on 10 March, only one is after 10:00.
    assert box.uids_since(datetime(2024, 3, 10, 10, 0, tzinfo=UTC)) == [2]
    assert box.uids_since(datetime(2024, 3, 10, 7, 0, tzinfo=UTC)) == [1, 2]
    assert box.uids_since(datetime(2024, 3, 11, 0, 0, tzinfo=UTC)) == []
    with pytest.raises(ValueError, match="aware"):
        box.uids_since(datetime(2024, 3, 10, 10, 0))


def test_fetch_peek_leaves_unseen_unseen_and_seen_seen(server: Server, box: Mailbox) -> None:
    deliver(server, USER, message(1, body="Can we meet on Tuesday?\n"))
    box.select("INBOX")
    box.append("INBOX", message(2), flags=["\\Seen"])
    box.select("INBOX")
    fetched = {f.uid: f for f in box.fetch([1, 2])}
    assert set(fetched) == {1, 2}
    assert b"Can we meet on Tuesday?" in fetched[1].raw
    assert fetched[1].raw.startswith(b"Return-Path:")  # delivered as a real MTA would
    assert "\\Seen" not in fetched[1].flags
    assert "\\Seen" in fetched[2].flags
    assert isinstance(fetched[1].internaldate, datetime) and fetched[1].internaldate.tzinfo
    # The server's own record, from another session: reading did not mark it read.
    assert "\\Seen" not in other_view(server, "INBOX", 1).flags
    assert "\\Seen" in other_view(server, "INBOX", 2).flags


def test_fetch_batches_and_skips_vanished_uids(server: Server, box: Mailbox) -> None:
    for n in range(5):
        deliver(server, USER, message(n))
    box.select("INBOX")
    got = list(box.fetch([5, 1, 3, 2, 4, 99], batch=2))
    assert [f.uid for f in got] == [1, 2, 3, 4, 5]
    assert all(isinstance(f.raw, bytes) and isinstance(f.flags, tuple) for f in got)


def big_message(number: int, size: int) -> bytes:
    """A message of about `size` bytes: a short greeting, then an attachment-like body."""
    filler = ("x" * 76 + "\n") * (size // 77)
    return message(number, body="Hello Julie,\n" + filler)


def spy_fetches(box: Mailbox, monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[int], str]]:
    """Every FETCH the mailbox sends: (UIDs, what it asked for)."""
    calls: list[tuple[list[int], str]] = []
    client = box._client
    assert client is not None
    real = client.fetch

    def fetch(messages: list[int], data: list[str], *args: object, **kwargs: object) -> object:
        calls.append((list(messages), " ".join(data)))
        return real(messages, data, *args, **kwargs)

    monkeypatch.setattr(client, "fetch", fetch)
    return calls


def test_oversized_message_is_fetched_headers_only_with_its_real_size(
    server: Server, box: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    small, big = message(1), big_message(2, 300_000)
    deliver(server, USER, small)
    deliver(server, USER, big)
    deliver(server, USER, message(3))
    box.select("INBOX")
    calls = spy_fetches(box, monkeypatch)
    got = list(box.fetch([1, 2, 3], max_size=100_000))
    assert [(f.uid, f.truncated) for f in got] == [(1, False), (2, True), (3, False)]
    whole, header = got[0], got[1]
    assert lf(whole.raw).endswith(lf(small)) and whole.size >= len(small)
    assert b"Subject: Booking 2" in header.raw and b"Hello Julie" not in header.raw
    assert header.raw.endswith(b"\r\n\r\n") or header.raw.endswith(b"\n\n")
    # the real size, not the header's (delivery adds a few headers; pymap counts LF line ends
    # where RFC 3501 says CRLF)
    assert len(lf(big)) <= header.size <= len(big) + 1_000
    assert isinstance(header.internaldate, datetime)
    # sizes first, then the bodies that fit and the header of the one that does not, in order
    asked = [data for _, data in calls]
    assert asked[0] == "RFC822.SIZE FLAGS INTERNALDATE"
    assert [data.split("<")[0] for data in asked[1:]] == [
        "BODY.PEEK[]",
        "BODY.PEEK[HEADER]",
        "BODY.PEEK[]",
    ]
    assert "BODY[" not in " ".join(asked)  # only PEEK: \\Seen is never set
    assert "\\Seen" not in other_view(server, "INBOX", 2).flags
    assert "\\Seen" not in other_view(server, "INBOX", 1).flags


def test_oversized_message_with_a_huge_header_reads_only_the_start_of_it(
    server: Server, box: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "MAX_HEADER_BYTES", 2_000)
    raw = message(1).replace(b"Subject:", b"X-Padding: " + b"p" * 10_000 + b"\r\nSubject:")
    deliver(server, USER, raw)
    box.select("INBOX")
    (fetched,) = box.fetch([1], max_size=5_000)
    assert fetched.truncated and len(fetched.raw) == 2_000
    assert fetched.size >= len(lf(raw))


def test_default_maximum_reads_a_large_message_whole(server: Server, box: Mailbox) -> None:
    deliver(server, USER, big_message(1, 2_000_000))
    box.select("INBOX")
    (fetched,) = box.fetch([1])
    assert not fetched.truncated
    assert fetched.size >= 2_000_000 and len(fetched.raw) >= 2_000_000


def test_fetch_batches_are_bounded_by_bytes_as_well_as_count(
    server: Server, box: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1, 7):
        deliver(server, USER, big_message(n, 40_000 if n != 4 else 150_000))
    box.select("INBOX")
    calls = spy_fetches(box, monkeypatch)
    got = list(box.fetch(range(1, 7), batch=4, batch_bytes=100_000))
    assert [f.uid for f in got] == [1, 2, 3, 4, 5, 6]
    assert not any(f.truncated for f in got)
    bodies = [uids for uids, data in calls if data == "BODY.PEEK[]"]
    # 40 KB each: two fit in 100 KB; the 150 KB one goes alone; sizes asked 4 UIDs at a time
    assert bodies == [[1, 2], [3], [4], [5, 6]]
    assert [uids for uids, data in calls if data.startswith("RFC822.SIZE")] == [
        [1, 2, 3, 4],
        [5, 6],
    ]


def test_message_ids_reads_headers_without_marking_seen(server: Server, box: Mailbox) -> None:
    deliver(server, USER, message(7))
    box.select("INBOX")
    box.append("INBOX", b"From: x@client.test\r\nSubject: no id\r\n\r\nbody\r\n")
    box.select("INBOX")
    assert box.message_ids([1, 2, 3]) == {1: "<msg-7@client.test>"}
    assert "\\Seen" not in other_view(server, "INBOX", 1).flags


def test_add_flags_answered_and_keyword_only_where_kept(server: Server, box: Mailbox) -> None:
    deliver(server, USER, message(1))
    state = box.select("INBOX")
    # PERMANENTFLAGS holds \* on Dovecot; pymap drops keywords it was not told about.
    assert state.keywords_ok is (kind_of(server) == "dovecot")
    box.add_flags(1, ["\\Answered", "$Frontdesk"])
    flags = other_view(server, "INBOX", 1).flags
    assert "\\Answered" in flags
    assert ("$Frontdesk" in flags) is state.keywords_ok
    assert "\\Seen" not in flags


def test_add_flags_refuses_deleted(server: Server, box: Mailbox) -> None:
    deliver(server, USER, message(1))
    box.select("INBOX")
    with pytest.raises(ValueError, match="never deletes"):
        box.add_flags(1, ["\\Answered", "\\Deleted"])
    assert "\\Deleted" not in other_view(server, "INBOX", 1).flags


# -- our own copies


def test_append_to_sent_and_drafts_keeps_bytes_and_flags(server: Server, box: Mailbox) -> None:
    reply = message(20, subject="Re: Booking")
    box.append("Sent", reply, flags=["\\Seen"])
    box.append(
        "Drafts", reply, flags=["\\Draft", "\\Seen"], when=datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    )
    sent = other_view(server, "Sent", 1)
    draft = other_view(server, "Drafts", 1)
    # pymap's maildir hands the message back with bare LF line ends; Dovecot byte for byte.
    assert lf(sent.raw) == lf(reply) and lf(draft.raw) == lf(reply)
    assert "\\Seen" in sent.flags and "\\Draft" not in sent.flags
    assert {"\\Draft", "\\Seen"} <= set(draft.flags)
    assert draft.internaldate == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def test_append_to_missing_folder_is_folder_missing(box: Mailbox) -> None:
    with pytest.raises(FolderMissing, match="'Sent Items'"):
        box.append("Sent Items", message(1))


def test_find_message_id_finds_the_sent_copy_and_keeps_inbox(server: Server, box: Mailbox) -> None:
    deliver(server, USER, message(1))
    box.select("INBOX")
    box.append("Sent", message(30, subject="Re: Booking"))
    box.append("Sent", message(300, subject="Re: Other"))
    assert box.find_message_id("Sent", "<msg-30@client.test>") == [1]
    assert box.find_message_id("Sent", "msg-30@client.test") == [1]  # brackets added
    # SEARCH HEADER matches substrings: <msg-3@...> must not find <msg-30@...>.
    assert box.find_message_id("Sent", "<msg-3@client.test>") == []
    assert box.find_message_id("INBOX", "<msg-1@client.test>") == [1]
    # INBOX is selected again (read-write): flags can still be added there.
    assert box.uids_after(0) == [1]
    box.add_flags(1, ["\\Answered"])
    assert "\\Answered" in other_view(server, "INBOX", 1).flags
    with pytest.raises(FolderMissing):
        box.find_message_id("Gesendet", "<msg-30@client.test>")
    assert box.uids_after(0) == [1]


# -- waiting for mail


def calls_once(action: Callable[[], None]) -> Callable[[], bool]:
    """A should_stop callback that runs action on its first call, while IDLE is under way."""
    done: list[bool] = []

    def should_stop() -> bool:
        if not done:
            done.append(True)
            action()
        return False

    return should_stop


def test_idle_wakes_when_mail_arrives_through_the_sink(server: Server, box: Mailbox) -> None:
    import smtplib

    box.select("INBOX")
    with SmtpSink(server, users=server.users) as sink:

        def send() -> None:
            with smtplib.SMTP(sink.host, sink.port, local_hostname="client.test") as smtp:
                smtp.sendmail(CLIENT, [USER], message(1))

        assert box.idle_wait(20, should_stop=calls_once(send)) is True
    assert box.uids_after(0) == [1]
    box.noop()


def test_idle_reports_mail_that_arrived_just_before_it(server: Server, box: Mailbox) -> None:
    box.select("INBOX")
    deliver(server, USER, message(1))  # between the last command and IDLE
    assert box.idle_wait(20) is True
    assert box.uids_after(0) == [1]


def test_idle_times_out_quietly_and_the_session_goes_on(box: Mailbox) -> None:
    box.select("INBOX")
    assert box.idle_wait(0.2) is False
    assert box.idle_wait(0) is False
    box.noop()
    assert box.uids_after(0) == []


def test_idle_stops_when_asked(box: Mailbox) -> None:
    box.select("INBOX")
    assert box.idle_wait(60, should_stop=lambda: True) is False
    box.noop()


def test_idle_on_server_shutdown_raises_unreachable(server: Server, box: Mailbox) -> None:
    box.select("INBOX")
    with pytest.raises(MailUnreachable, match="frontdesk will reconnect"):
        box.idle_wait(20, should_stop=calls_once(server.stop))
    assert not box.connected


def test_idle_on_a_dead_connection_raises_instead_of_returning_empty(server: Server) -> None:
    # STANDARDS §4: imapclient's idle_check() returns [] on a dead connection.
    relay = Relay(server.imap_port)
    try:
        box = Mailbox("127.0.0.1", relay.port, "none", USER, PASSWORD, timeout=20)
        with box:
            box.select("INBOX")
            with pytest.raises(MailUnreachable):
                box.idle_wait(20, should_stop=calls_once(relay.cut))
            assert not box.connected
            box.connect()  # a new connection through the relay works again
            assert box.select("INBOX").exists == 0
    finally:
        relay.close()
