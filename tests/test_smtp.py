"""connectors/smtp.py against a real SMTP server on 127.0.0.1 (aiosmtpd sink delivering to IMAP)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from fixtures.relay import Relay

from connectors.smtp import (
    PermanentFailure,
    SendError,
    SmtpAuthError,
    SmtpConfigError,
    SmtpSender,
    TemporaryFailure,
)
from daemon.demo.mail import SmtpSink, free_port

pytestmark = pytest.mark.servers

CLIENT = "bob@client.test"


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> SmtpSink:
    return smtp_sink


@pytest.fixture
def user(smtp_sink: SmtpSink) -> tuple[str, str]:
    """julie's login, which the sink checks (and for which it delivers into the IMAP server)."""
    assert smtp_sink.users
    return next(iter(smtp_sink.users.items()))


@pytest.fixture
def sender(sink: SmtpSink, user: tuple[str, str]) -> Iterator[SmtpSender]:
    login, password = user
    with SmtpSender(sink.host, sink.port, "none", login, password, timeout=20) as smtp:
        yield smtp


def reply(
    number: int, *, sender: str = "julie@example.org", body: str = "Hello Bob,\n"
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = CLIENT
    msg["Subject"] = f"Re: Booking {number}"
    msg["Message-ID"] = f"<reply-{number}@example.org>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(body)
    return msg


def crlf_to_lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def subjects(sink: SmtpSink) -> list[str]:
    return [str(e.message()["Subject"]) for e in sink.messages]


def test_several_messages_share_one_connection(sink: SmtpSink, user: tuple[str, str]) -> None:
    relay = Relay(sink.port)
    try:
        with SmtpSender("127.0.0.1", relay.port, "none", *user, timeout=20) as smtp:
            for n in range(3):
                smtp.send(reply(n), envelope_from=user[0], recipients=[CLIENT])
        assert relay.connections == 1
    finally:
        relay.close()
    assert subjects(sink) == ["Re: Booking 0", "Re: Booking 1", "Re: Booking 2"]
    first = sink.messages[0]
    assert first.mail_from == user[0]
    assert first.rcpt_tos == (CLIENT,)
    assert first.auth_login == user[0]


def test_non_ascii_password_logs_in() -> None:
    # smtplib encodes AUTH data as ASCII; frontdesk sends AUTH PLAIN in UTF-8 (RFC 4616).
    users = {"zoe@example.org": "mot-de-passe-été"}
    with SmtpSink(None, users=users) as own:
        with SmtpSender(own.host, own.port, "none", *next(iter(users.items()))) as smtp:
            smtp.send(reply(1), envelope_from="zoe@example.org", recipients=[CLIENT])
        assert own.messages[0].auth_login == "zoe@example.org"
        with pytest.raises(SmtpAuthError):
            SmtpSender(own.host, own.port, "none", "zoe@example.org", "mot-de-passe-ete").check()


def test_without_password_sends_without_auth(sink: SmtpSink, user: tuple[str, str]) -> None:
    with SmtpSender(sink.host, sink.port, "none", user[0], None, timeout=20) as smtp:
        smtp.send(reply(1), envelope_from=user[0], recipients=[CLIENT])
    assert sink.messages[0].auth_login is None


def test_delivered_reply_arrives_in_the_recipients_mailbox(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    sender.send(reply(1), envelope_from=user[0], recipients=[user[0]])
    assert sink.messages[0].delivered_to == (user[0],)


def test_crlf_serialisation_of_a_long_body_with_bare_lf_is_accepted(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    # TESTSERVERS.md: bare-LF bytes over ~1,000 bytes get "500 Line too long" from aiosmtpd.
    body = "".join(f"Slot {n}: Tuesday 10:00-11:00 — créneau libre\n" for n in range(80))
    assert len(body.encode()) > 1000
    sender.send(reply(1, body=body), envelope_from=user[0], recipients=[CLIENT])
    (got,) = sink.messages
    assert b"\n" not in got.content.replace(b"\r\n", b"")
    assert crlf_to_lf(got.message().get_content()) == body


def test_4xx_at_data_is_temporary_and_the_connection_goes_on(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    sink.fail_next(451, "4.3.0 try again later")
    with pytest.raises(TemporaryFailure) as caught:
        sender.send(reply(1), envelope_from=user[0], recipients=[CLIENT])
    assert caught.value.code == 451
    assert not caught.value.maybe_sent
    assert "451 4.3.0 try again later" in str(caught.value)
    assert "\n" not in str(caught.value)
    sender.send(reply(2), envelope_from=user[0], recipients=[CLIENT])
    assert subjects(sink) == ["Re: Booking 2"]


def test_5xx_at_data_is_permanent(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    sink.fail_next(554, "5.7.1 message refused as spam")
    with pytest.raises(PermanentFailure) as caught:
        sender.send(reply(1), envelope_from=user[0], recipients=[CLIENT])
    assert caught.value.code == 554
    assert not isinstance(caught.value, SmtpConfigError)
    assert "5.7.1 message refused as spam" in caught.value.message
    assert sink.messages == []


def test_refused_single_recipient_is_permanent_and_greylisting_temporary(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    # The sink answers 550 for an unknown user of its own domain.
    with pytest.raises(PermanentFailure) as refused:
        sender.send(reply(1), envelope_from=user[0], recipients=["nobody@example.org"])
    assert refused.value.code == 550
    assert "<nobody@example.org>" in str(refused.value)
    sink.fail_next(450, "4.2.0 greylisted, come back later", at="RCPT")
    with pytest.raises(TemporaryFailure) as greylisted:
        sender.send(reply(2), envelope_from=user[0], recipients=[CLIENT])
    assert greylisted.value.code == 450
    assert sink.messages == []


def test_partial_recipient_refusal_is_permanent_not_repeated(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    with pytest.raises(PermanentFailure, match="accepted the message for some"):
        sender.send(reply(1), envelope_from=user[0], recipients=[CLIENT, "nobody@example.org"])
    assert [e.rcpt_tos for e in sink.messages] == [(CLIENT,)]


def test_refused_sender_5xx_is_permanent(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    sink.fail_next(553, "5.7.1 sender not owned by user", at="MAIL")
    with pytest.raises(PermanentFailure, match="refused the sender"):
        sender.send(reply(1), envelope_from=user[0], recipients=[CLIENT])


def test_421_at_mail_from_reconnects_once_and_sends(sink: SmtpSink, user: tuple[str, str]) -> None:
    relay = Relay(sink.port)
    try:
        with SmtpSender("127.0.0.1", relay.port, "none", *user, timeout=20) as smtp:
            smtp.send(reply(1), envelope_from=user[0], recipients=[CLIENT])
            sink.fail_next(421, "4.4.2 idle too long, closing", at="MAIL")
            smtp.send(reply(2), envelope_from=user[0], recipients=[CLIENT])
            sink.fail_next(421, "4.3.2 shutting down", count=2, at="MAIL")
            with pytest.raises(TemporaryFailure, match="closed the connection before"):
                smtp.send(reply(3), envelope_from=user[0], recipients=[CLIENT])
        assert relay.connections == 3
    finally:
        relay.close()
    assert subjects(sink) == ["Re: Booking 1", "Re: Booking 2"]


def test_server_restarted_between_sends_reconnects_before_mail_from(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    sender.send(reply(1), envelope_from=user[0], recipients=[CLIENT])
    sink.restart()  # the old connection is gone; the sender does not know yet
    sender.send(reply(2), envelope_from=user[0], recipients=[CLIENT])
    assert subjects(sink) == ["Re: Booking 1", "Re: Booking 2"]


def test_server_down_is_temporary(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    sink.stop()
    with pytest.raises(TemporaryFailure, match="could not be reached: the connection was refused"):
        sender.send(reply(1), envelope_from=user[0], recipients=[CLIENT])


def test_wrong_password_is_auth_error_naming_the_settings(
    sink: SmtpSink, user: tuple[str, str]
) -> None:
    smtp = SmtpSender(sink.host, sink.port, "none", user[0], "wrong-secret", timeout=20)
    with smtp, pytest.raises(SmtpAuthError) as caught:
        smtp.send(reply(1), envelope_from=user[0], recipients=[CLIENT])
    error = caught.value
    assert isinstance(error, PermanentFailure)
    assert error.code == 535
    text = str(error)
    assert "mail.username" in text and "mail.password_file" in text
    assert "wrong-secret" not in text and "\n" not in text
    assert sink.messages == []


def test_starttls_required_but_not_offered_is_a_config_error(
    sink: SmtpSink, user: tuple[str, str]
) -> None:
    smtp = SmtpSender(sink.host, sink.port, "starttls", *user, timeout=20)
    with pytest.raises(SmtpConfigError, match="does not offer STARTTLS"):
        smtp.check()
    with pytest.raises(SmtpConfigError):
        smtp.send(reply(1), envelope_from=user[0], recipients=[CLIENT])
    assert sink.messages == []


def test_tls_against_a_plain_server_is_temporary_not_downgraded(
    sink: SmtpSink, user: tuple[str, str]
) -> None:
    with pytest.raises(TemporaryFailure, match="TLS"):
        SmtpSender(sink.host, sink.port, "tls", *user, timeout=20).check()


def test_check_logs_in_and_sends_nothing(sink: SmtpSink, user: tuple[str, str]) -> None:
    lines = SmtpSender(sink.host, sink.port, "none", *user, timeout=20).check()
    where = f"SMTP {sink.host}:{sink.port}: "
    assert all(line.startswith(where) for line in lines)
    assert any("plain text" in line for line in lines)
    assert any("offers" in line and "AUTH" in line for line in lines)
    assert lines[-1] == where + f"logged in as {user[0]}"
    assert sink.messages == [] and sink.rejected == []


def test_check_on_closed_port_is_temporary() -> None:
    port = free_port()
    with pytest.raises(SendError) as caught:
        SmtpSender("127.0.0.1", port, "none", "julie", "x", timeout=5).check()
    assert isinstance(caught.value, TemporaryFailure)
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_8bit_body_arrives_intact(
    sink: SmtpSink, sender: SmtpSender, user: tuple[str, str]
) -> None:
    body = "Bonjour Bob, je suis disponible jeudi à 14 h — à bientôt.\n"
    sender.send(reply(1, body=body), envelope_from=user[0], recipients=[CLIENT])
    (got,) = sink.messages
    parsed = email.message_from_bytes(got.content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert crlf_to_lf(parsed.get_content()) == body
