"""Real-world mail from ../shared/corpus/eml: every file parses, and no bounce, automatic reply,
list mail or invitation is ever answered as a booking request.

Corpus mails are addressed to various people, so each is read by the desk (rules.desk.read, the
daemon's decision) for a freelancer whose address is the mail's first To address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.mailparse import MalformedMessage, parse_message
from rules.desk import (
    AboutAppointment,
    CalendarAnswers,
    Choose,
    ForFreelancer,
    Ignore,
    JudgeInvitations,
    Request,
)
from rules.desk import read as desk_read
from rules.model import Freelancer, Hours, InboundMessage, Policy

pytestmark = pytest.mark.corpus

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "eml"

# file -> (what it is, expected decision, words in the reason or None)
# Kinds: bounce, auto-reply, list, invitation (METHOD:REQUEST), calendar (other METHOD),
# notification (machine-sent, not a person), ordinary (a person's mail).
EXPECTED: dict[str, tuple[str, type, str | None]] = {
    "calendarserver__apple-ical-reply-qp.eml": ("calendar", CalendarAnswers, "METHOD REPLY"),
    "calendarserver__bounce-of-imip-request.eml": ("bounce", Ignore, "Return-Path <>"),
    "calmailproc__deutschebahn-iso-dtstamp.eml": ("notification", Ignore, "no Return-Path"),
    "calmailproc__exchange-cancel-escaped-comma-tzid.eml": ("calendar", Ignore, "METHOD CANCEL"),
    "calmailproc__exchange-decline-reply.eml": ("calendar", CalendarAnswers, "METHOD REPLY"),
    "calmailproc__exchange-instance-update.eml": ("invitation", JudgeInvitations, "REQUEST"),
    "calmailproc__forwarded-invite-duplicate-ics.eml": ("invitation", JudgeInvitations, "REQUEST"),
    # The invitations below come without a Return-Path in the corpus (test fixtures, not
    # delivered mail): silent by RFC 3834 §2, and never answered.
    "calmailproc__horde-kronolith-invite.eml": ("invitation", Ignore, "no Return-Path"),
    "calmailproc__outlook-inline-calendar-body.eml": ("invitation", Ignore, "no Return-Path"),
    "calmailproc__trenitalia-no-prodid.eml": ("invitation", Ignore, "no Return-Path"),
    "cpython__mac-oe-reused-boundary.eml": ("ordinary", Ignore, "recipients"),
    "cpython__mailman-delivered-bounce.eml": ("bounce", Ignore, "Return-Path <>"),
    "flanker__gmail-bounce-non-mime.eml": ("bounce", Ignore, "Return-Path <>"),
    "flanker__office365-ndr.eml": ("bounce", Ignore, "no Return-Path"),
    "flanker__raw-latin1-in-from-header.eml": ("list", Ignore, "no Return-Path"),
    "ruby-mail__sendmail-dsn-autosubmitted.eml": ("bounce", Ignore, "delivery report"),
    "sisimai__apple-icloud-vacation.eml": ("auto-reply", Ignore, "X-Apple-Action"),
    "sisimai__autoreply-auto-submitted.eml": ("auto-reply", Ignore, "Return-Path <>"),
    "sisimai__exchange-autoreply-windows1252.eml": ("auto-reply", Ignore, "Return-Path <>"),
    "stalwart-mail-parser__html-only-iso8859-1.eml": ("ordinary", Ignore, "no Return-Path"),
    "stalwart-mail-parser__mailman-list-post.eml": ("list", Ignore, "mailing list"),
    "stalwart-mail-parser__windows1252-qp-crlf.eml": ("ordinary", Ignore, "no Return-Path"),
    "thunderbird__cancel-repeat-event-no-dtstart.eml": ("calendar", Ignore, "no Return-Path"),
    "thunderbird__cancel-single-event.eml": ("calendar", Ignore, "no Return-Path"),
    "thunderbird__google-meet-invite.eml": ("invitation", JudgeInvitations, "REQUEST"),
    "thunderbird__lotus-style-invite-windows1257.eml": ("invitation", Ignore, "no Return-Path"),
    "thunderbird__outlook-test-invite.eml": ("invitation", Ignore, "no Return-Path"),
    "thunderbird__publish-event-not-invite.eml": ("calendar", Ignore, "no Return-Path"),
    "thunderbird__request-attach-file-uri.eml": ("invitation", Ignore, "no Return-Path"),
    "thunderbird__teams-meeting-invite.eml": ("invitation", JudgeInvitations, "REQUEST"),
    "thunderbird__undeclared-windows1252-8bit.eml": ("ordinary", Ignore, "no Return-Path"),
}

# The same mails once delivered (a Return-Path added by the final MTA): what the rules then say.
DELIVERED: dict[str, tuple[type, str]] = {
    "calmailproc__horde-kronolith-invite.eml": (JudgeInvitations, "REQUEST"),
    "calmailproc__outlook-inline-calendar-body.eml": (JudgeInvitations, "REQUEST"),
    "calmailproc__trenitalia-no-prodid.eml": (JudgeInvitations, "REQUEST"),
    "thunderbird__lotus-style-invite-windows1257.eml": (JudgeInvitations, "REQUEST"),
    "thunderbird__outlook-test-invite.eml": (JudgeInvitations, "REQUEST"),
    "thunderbird__request-attach-file-uri.eml": (JudgeInvitations, "REQUEST"),
    "thunderbird__cancel-single-event.eml": (Ignore, "METHOD CANCEL"),
    "thunderbird__cancel-repeat-event-no-dtstart.eml": (Ignore, "METHOD CANCEL"),
    "thunderbird__publish-event-not-invite.eml": (Ignore, "METHOD PUBLISH"),
    "calmailproc__deutschebahn-iso-dtstamp.eml": (Ignore, "METHOD PUBLISH"),
    # a German fable ("Die Hasen und die Frösche"): nothing frontdesk answers, left for the
    # freelancer
    "stalwart-mail-parser__html-only-iso8859-1.eml": (ForFreelancer, "left for you"),
    "stalwart-mail-parser__windows1252-qp-crlf.eml": (ForFreelancer, "left for you"),
    "thunderbird__undeclared-windows1252-8bit.eml": (Ignore, "sent by the freelancer"),  # From = To
    "flanker__raw-latin1-in-from-header.eml": (Ignore, "Precedence: bulk"),
    "flanker__office365-ndr.eml": (Ignore, "delivery report"),
}


# What the desk answers by email on its own (a booking offer or a price answer, a choice of
# times, a cancellation or a move): never for a bounce, an automatic reply, a list or a calendar.
ANSWERED = (Request, Choose, AboutAppointment)


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(CORPUS.glob("*.eml"))


@pytest.fixture(autouse=True)
def _need_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent: the real-world mail tests need it")


def policy_for(msg: InboundMessage) -> Policy:
    address = msg.to[0] if msg.to else "nobody@frontdesk.invalid"
    return Policy(freelancer=Freelancer(name="F", email=address), hours=Hours(week={}))


def read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(p.name for p in corpus_files()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_mail_parses_and_is_never_wrongly_answered(name: str) -> None:
    kind, expected, reason = EXPECTED[name]
    msg = parse_message(read(name))
    decision = desk_read(msg, policy_for(msg))
    assert isinstance(decision, expected), decision
    if reason:
        assert reason in decision.reason
    if kind != "ordinary":
        assert not isinstance(decision, ANSWERED), decision
    for value in (msg.subject, msg.from_name, msg.message_id, *msg.recipients):
        assert "\r" not in value and "\n" not in value


@pytest.mark.parametrize("name", sorted(DELIVERED))
def test_corpus_mail_once_delivered(name: str) -> None:
    expected, reason = DELIVERED[name]
    raw = read(name)
    msg = parse_message(raw)
    sender = msg.from_address or "someone@example.org"
    delivered = parse_message(f"Return-Path: <{sender}>\r\n".encode() + raw)
    decision = desk_read(delivered, policy_for(delivered))
    assert isinstance(decision, expected), decision
    assert reason in decision.reason


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_mail_truncated_anywhere_never_crashes(name: str) -> None:
    raw = read(name)
    for cut in sorted({len(raw) // d for d in (2, 3, 5, 7, 11)} | {1, 17, len(raw) - 1}):
        try:
            msg = parse_message(raw[:cut])
        except MalformedMessage as exc:
            assert not str(exc).startswith("internal error"), exc
            continue
        desk_read(msg, policy_for(msg))


# --- what the parser must read out of particular files ----------------------------------------


def test_html_only_iso8859_1_is_reduced_to_text() -> None:
    msg = parse_message(read("stalwart-mail-parser__html-only-iso8859-1.eml"))
    assert msg.content_type == "text/html"
    assert msg.subject == "Die Hasen und die Frösche"
    assert "Die Hasen klagten einst über ihre mißliche Lage" in msg.text
    assert "<" not in msg.text


def test_windows1252_quoted_printable() -> None:
    msg = parse_message(read("stalwart-mail-parser__windows1252-qp-crlf.eml"))
    assert msg.subject == "Die Hasen und die Frösche (Microsoft Outlook 00)"
    assert "mißliche" in msg.text
    assert "\r" not in msg.text


def test_undeclared_windows1252_body() -> None:
    msg = parse_message(read("thunderbird__undeclared-windows1252-8bit.eml"))
    assert msg.text.startswith("Aquí tenemos texto en español:")
    assert "\ufffd" not in msg.text


def test_raw_latin1_byte_in_from_header() -> None:
    msg = parse_message(read("flanker__raw-latin1-in-from-header.eml"))
    assert (msg.from_name, msg.from_address) == ("Ingo Lütkebohle", "ingo@blank.pages.de")
    assert msg.precedence == "bulk"


def test_mailman_list_post_headers() -> None:
    msg = parse_message(read("stalwart-mail-parser__mailman-list-post.eml"))
    assert "List-Id" in msg.list_headers
    assert msg.precedence == "list"


def test_bounces_are_reports() -> None:
    for name in (
        "calendarserver__bounce-of-imip-request.eml",
        "ruby-mail__sendmail-dsn-autosubmitted.eml",
        "flanker__office365-ndr.eml",
    ):
        msg = parse_message(read(name))
        assert msg.is_report, name
        # the returned iMIP request inside message/rfc822 is not a calendar part of the bounce
        assert msg.calendar_parts == (), name
    dsn = parse_message(read("ruby-mail__sendmail-dsn-autosubmitted.eml"))
    assert dsn.auto_submitted == ("auto-generated (failure)",)


def test_exchange_autoreply_without_auto_submitted() -> None:
    msg = parse_message(read("sisimai__exchange-autoreply-windows1252.eml"))
    assert msg.auto_submitted == ()
    assert msg.x_auto_response_suppress == "All"
    assert msg.subject == "Automatic reply: Nyaan"


@pytest.mark.parametrize(
    ("name", "methods"),
    [
        ("thunderbird__google-meet-invite.eml", ["REQUEST", ""]),  # text/calendar + application/ics
        ("calmailproc__horde-kronolith-invite.eml", ["REQUEST"]),  # METHOD=REQUEST param, base64
        ("calmailproc__outlook-inline-calendar-body.eml", ["REQUEST"]),  # whole body
        ("calmailproc__trenitalia-no-prodid.eml", [""]),  # application/octet-stream .ics
        ("calmailproc__deutschebahn-iso-dtstamp.eml", [""]),
        ("calmailproc__forwarded-invite-duplicate-ics.eml", [""]),  # two identical: kept once
        ("thunderbird__lotus-style-invite-windows1257.eml", ["REQUEST", ""]),  # + text/plain .ics
        ("thunderbird__publish-event-not-invite.eml", [""]),
        ("thunderbird__cancel-single-event.eml", ["CANCEL"]),
        ("thunderbird__outlook-test-invite.eml", ["REQUEST"]),
        ("calendarserver__apple-ical-reply-qp.eml", [""]),
    ],
)
def test_calendar_parts_in_real_mail(name: str, methods: list[str]) -> None:
    msg = parse_message(read(name))
    assert [m for m, _ in msg.calendar_parts] == methods
    for _, ics in msg.calendar_parts:
        assert "BEGIN:VCALENDAR" in ics.upper()
        assert "BEGIN:VCALENDAR" not in msg.text.upper()


def test_google_meet_invite_text_is_the_plain_part() -> None:
    msg = parse_message(read("thunderbird__google-meet-invite.eml"))
    assert msg.text.startswith("Du har blivit inbjuden till följande händelse.")
