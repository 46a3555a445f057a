"""connectors/mailparse.py on synthesised messages: charsets, MIME shapes, calendars, injection."""

from __future__ import annotations

import base64
import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.mailparse import MAX_TEXT, MalformedMessage, _unflow, html_to_text, parse_message
from rules.desk import JudgeInvitations, Request, read
from rules.mail import auto_reply_markers, strip_quoted
from rules.model import Freelancer, Hours, InboundMessage, Policy

POLICY = Policy(freelancer=Freelancer(name="Jane", email="jane@freelance.example"), hours=Hours({}))

HEAD = (
    b"Return-Path: <client@example.org>\r\n"
    b"From: Marie Client <Client@Example.ORG>\r\n"
    b"To: Jane <Jane@Freelance.Example>\r\n"
    b"Date: Mon, 04 Mar 2024 10:15:00 +0100\r\n"
    b"Message-ID: <abc.123@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
)
ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
    b"UID:u1\r\nDTSTART:20240305T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def message(body: bytes, *headers: bytes, subject: bytes = b"Subject: Hello\r\n") -> bytes:
    return HEAD + subject + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def string_fields(msg: InboundMessage) -> list[str]:
    values: list[str] = []
    for field in dataclasses.fields(msg):
        value = getattr(msg, field.name)
        if isinstance(value, str):
            values.append(value)
        elif isinstance(value, tuple):
            for item in value:
                values.extend(item if isinstance(item, tuple) else (item,))
    return [v for v in values if isinstance(v, str)]


def header_fields(msg: InboundMessage) -> list[str]:
    """Every string that came from a header (text and calendar bodies may hold line breaks)."""
    skip = {"text", "calendar_parts"}
    values: list[str] = []
    for field in dataclasses.fields(msg):
        if field.name in skip:
            continue
        value = getattr(msg, field.name)
        if isinstance(value, str):
            values.append(value)
        elif isinstance(value, tuple):
            values.extend(v for v in value if isinstance(v, str))
    if msg.return_path is not None:
        values.append(msg.return_path)
    return values


# --- headers ----------------------------------------------------------------------------------


def test_plain_message_fields() -> None:
    raw = message(
        b"Bonjour, je voudrais prendre rendez-vous.\r\n",
        b"Content-Type: text/plain; charset=utf-8",
        b"Cc: Other <OTHER@x.example>, third@y.example",
        b"Bcc: hidden@z.example",
        b"Resent-To: R1@example.net",
        b"Resent-Cc: r2@example.net",
        b"Reply-To: Marie <Marie@Perso.Example>",
        b"In-Reply-To: <prev@example.org>",
        b"References: <a@x> <b@y>\r\n <prev@example.org>",
        b"Auto-Submitted: no",
        b"Precedence: first-class",
        b"X-Auto-Response-Suppress: DR",
    )
    msg = parse_message(raw)
    assert msg.message_id == "abc.123@example.org"
    assert not msg.message_id_synthetic
    assert msg.subject == "Hello"
    assert msg.from_address == "client@example.org"
    assert msg.from_name == "Marie Client"
    assert msg.reply_to == "marie@perso.example"
    assert msg.return_path == "client@example.org"
    assert msg.to == ("jane@freelance.example",)
    assert msg.cc == ("other@x.example", "third@y.example")
    assert msg.bcc == ("hidden@z.example",)
    assert msg.resent_to == ("r1@example.net",)
    assert msg.resent_cc == ("r2@example.net",)
    assert msg.date == datetime(2024, 3, 4, 9, 15, tzinfo=UTC)
    assert msg.date is not None and msg.date.utcoffset() == timedelta(hours=1)
    assert msg.in_reply_to == "prev@example.org"
    assert msg.references == ("a@x", "b@y", "prev@example.org")
    assert msg.auto_submitted == ("no",)
    assert msg.precedence == "first-class"
    assert msg.x_auto_response_suppress == "DR"
    assert msg.content_type == "text/plain"
    assert not msg.is_report
    assert msg.text == "Bonjour, je voudrais prendre rendez-vous.\n"
    assert msg.calendar_parts == ()
    assert msg.headers_ok


def test_rfc2047_subject_and_names_are_decoded_and_unfolded() -> None:
    raw = message(
        b"x",
        b"Content-Type: text/plain",
        subject=b"Subject: =?UTF-8?B?UsOpc2VydmVy?= =?iso-8859-1?q?_une_s=E9ance?=\r\n"
        b"\tpour =?utf-8?q?mardi_=E2=82=AC?=\r\n",
    )
    assert parse_message(raw).subject == "Réserver une séance pour mardi €"


def test_raw_8bit_latin1_in_headers_is_decoded() -> None:
    raw = (
        b'Return-Path: <a@b.example>\r\nFrom: "Ingo L\xfctkebohle" <ingo@b.example>\r\n'
        b"To: jane@freelance.example\r\nSubject: R\xe9servation\r\n\r\nbody"
    )
    msg = parse_message(raw)
    assert msg.from_name == "Ingo Lütkebohle"
    assert msg.subject == "Réservation"
    assert msg.headers_ok


def test_raw_utf8_in_headers_is_decoded() -> None:
    raw = "From: Zoë <zoe@b.example>\r\nSubject: Séance à 10h\r\n\r\nbody".encode()
    msg = parse_message(raw)
    assert (msg.from_name, msg.subject) == ("Zoë", "Séance à 10h")


def test_unknown_charset_in_an_encoded_word_does_not_fail() -> None:
    msg = parse_message(message(b"x", subject=b"Subject: =?x-nonsense?q?caf=E9?= ok\r\n"))
    assert msg.subject.endswith("ok")
    assert "caf" in msg.subject


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        (b"Return-Path: <>", ""),
        (b"Return-Path: <> (bounce)", ""),
        (b"Return-Path:<>", ""),
        (b"Return-Path: <MAILER-DAEMON@Mx.Example>", "mailer-daemon@mx.example"),
        (b"Return-Path: bare@Example.org", "bare@example.org"),
    ],
)
def test_return_path_none_empty_or_address(header: bytes | None, expected: str | None) -> None:
    raw = b"From: a@b.example\r\nTo: jane@freelance.example\r\n"
    raw += (header + b"\r\n") if header else b""
    assert parse_message(raw + b"\r\nbody").return_path == expected


def test_missing_message_id_is_synthesised_deterministically() -> None:
    raw = b"From: a@b.example\r\nTo: jane@freelance.example\r\nSubject: x\r\n\r\nbody"
    first = parse_message(raw)
    assert first.message_id_synthetic
    assert first.message_id == parse_message(raw).message_id
    assert first.message_id != parse_message(raw + b"!").message_id
    assert "@" in first.message_id and "<" not in first.message_id
    empty = parse_message(raw.replace(b"Subject", b"Message-ID: <>\r\nSubject"))
    assert empty.message_id_synthetic


def test_message_id_without_brackets_is_kept() -> None:
    raw = b"From: a@b.example\r\nMessage-ID: naked@id.example\r\n\r\nbody"
    msg = parse_message(raw)
    assert (msg.message_id, msg.message_id_synthetic) == ("naked@id.example", False)


def test_every_auto_submitted_occurrence_is_kept() -> None:
    raw = message(b"x", b"Auto-Submitted: no", b"Auto-Submitted: Auto-Replied (vacation)")
    assert parse_message(raw).auto_submitted == ("no", "Auto-Replied (vacation)")


def test_list_headers_are_named() -> None:
    raw = message(b"x", b"List-Id: <yoga.lists.example>", b"list-unsubscribe: <mailto:u@x>")
    assert parse_message(raw).list_headers == ("List-Id", "list-unsubscribe")


def test_non_standard_auto_reply_markers() -> None:
    raw = message(b"x", b"X-Apple-Action: VACATION", b"X-Autoreply: yes")
    assert auto_reply_markers(parse_message(raw).headers) == (
        "X-Apple-Action: vacation",
        "X-Autoreply",
    )
    nothing = parse_message(message(b"x", b"X-Apple-Action: NOTHING"))
    assert auto_reply_markers(nothing.headers) == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"Mon, 04 Mar 2024 10:15:00 -0000", datetime(2024, 3, 4, 10, 15, tzinfo=UTC)),
        (
            b"4 Mar 2024 10:15 +0530",
            datetime(2024, 3, 4, 10, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        (b"yesterday at noon", None),
        (b"Mon, 99 Foo 2024 10:15:00 +0100", None),
    ],
)
def test_date_is_aware_or_none(value: bytes, expected: datetime | None) -> None:
    raw = b"From: a@b.example\r\nDate: " + value + b"\r\n\r\nbody"
    date = parse_message(raw).date
    assert date == expected
    assert date is None or date.tzinfo is not None


# --- header injection -------------------------------------------------------------------------

INJECTIONS = [
    b"Subject: =?utf-8?q?hi=0D=0ABcc:_victim@x.example?=",
    b"Subject: =?utf-8?b?aGkNCkJjYzogdmljdGltQHguZXhhbXBsZQ==?=",
    b"From: =?utf-8?q?Evil=0D=0ABcc=3A_x=40y.example?= <evil@example.org>",
    b"To: =?utf-8?b?ZXZpbA0KQmNjOiB4QHkuZXhhbXBsZQ==?= <jane@freelance.example>",
    b"Reply-To: =?utf-8?q?a=0Ab?= <r@example.org>",
    b"Auto-Submitted: =?utf-8?q?no=0D=0AX-Evil:_1?=",
    b"Message-ID: <id\x0b@x>",
]


@pytest.mark.parametrize("header", INJECTIONS)
def test_no_cr_or_lf_survives_in_any_header_field(header: bytes) -> None:
    name = header.split(b":", 1)[0]
    base = b"Return-Path: <e@example.org>\r\nFrom: e@example.org\r\nTo: jane@freelance.example\r\n"
    base = b"".join(
        line + b"\r\n" for line in base.split(b"\r\n") if line and not line.startswith(name + b":")
    )
    msg = parse_message(base + header + b"\r\n\r\nbody")
    for value in header_fields(msg):
        assert "\r" not in value and "\n" not in value, value
        assert "\x0b" not in value
    if b"Message-ID" not in header:
        assert not msg.headers_ok


def test_injected_display_name_keeps_the_real_address() -> None:
    msg = parse_message(
        b"From: =?utf-8?q?Evil=0D=0ABcc=3A_x=40y.example?= <evil@example.org>\r\n\r\nbody"
    )
    assert msg.from_address == "evil@example.org"
    assert msg.from_name == "Evil Bcc: x@y.example"
    assert not msg.headers_ok


def test_missing_from_is_not_ok() -> None:
    msg = parse_message(b"To: jane@freelance.example\r\nSubject: x\r\n\r\nbody")
    assert (msg.from_address, msg.headers_ok) == ("", False)


def test_odd_address_lists() -> None:
    raw = (
        b'From: "Weird, Name" <W@x.example>, other@z.example\r\n'
        b"To: undisclosed-recipients:;\r\nCc: a@b.example (comment), <C@D.EXAMPLE>, ;;, <<>>@@\r\n"
        b"\r\nbody"
    )
    msg = parse_message(raw)
    assert (msg.from_address, msg.from_name) == ("w@x.example", "Weird, Name")
    assert msg.to == ()
    assert msg.cc == ("a@b.example", "c@d.example")


# --- bodies and charsets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ((b"Content-Type: text/plain; charset=utf-8",), "réservé €".encode(), "réservé €"),
        (
            (
                b"Content-Type: text/plain; charset=iso-8859-1",
                b"Content-Transfer-Encoding: quoted-printable",
            ),
            b"Je voudrais r=E9server une s=E9ance=\r\n tr=E8s vite",
            "Je voudrais réserver une séance très vite",
        ),
        (
            (b"Content-Type: text/plain; charset=utf-8", b"Content-Transfer-Encoding: base64"),
            base64.encodebytes("Êtes-vous libre mardi ?".encode()),
            "Êtes-vous libre mardi ?",
        ),
        # 8-bit windows-1252 with no charset at all (Outlook), smart quote and euro sign
        ((b"Content-Type: text/plain",), b"L\x92id\xe9e co\xfbte 10 \x80", "L’idée coûte 10 €"),
        ((), b"caf\xe9 cr\xe8me", "café crème"),
        # latin-1 label on windows-1252 bytes
        ((b"Content-Type: text/plain; charset=ISO-8859-1",), b"\x93oui\x94", "“oui”"),
        # a wrong label: UTF-8 declared, latin-1 sent
        ((b"Content-Type: text/plain; charset=utf-8",), b"s\xe9ance", "séance"),
        # a latin-1 label on UTF-8 bytes
        ((b"Content-Type: text/plain; charset=iso-8859-1",), "séance".encode(), "séance"),
        # an unknown charset name
        ((b"Content-Type: text/plain; charset=x-martian",), b"s\xe9ance", "séance"),
        ((b'Content-Type: text/plain; charset="windows-1252"',), b"\x9cuvre", "œuvre"),
        ((b"Content-Type: text/plain; charset=koi8-r",), "привет".encode("koi8-r"), "привет"),
        # broken quoted-printable and broken base64 are read, not fatal
        (
            (
                b"Content-Type: text/plain; charset=utf-8",
                b"Content-Transfer-Encoding: quoted-printable",
            ),
            b"CN=Receiver =ZZ s=C3=A9ance",
            "CN=Receiver =ZZ séance",
        ),
        (
            (b"Content-Type: text/plain; charset=utf-8", b"Content-Transfer-Encoding: base64"),
            b"U8OpYW5jZQ=!!",
            "Séance",
        ),
    ],
)
def test_body_charsets_and_transfer_encodings(
    headers: tuple[bytes, ...], body: bytes, expected: str
) -> None:
    assert parse_message(message(body, *headers)).text.strip() == expected


def test_undefined_windows_1252_bytes_are_replaced_not_fatal() -> None:
    text = parse_message(message(b"a\x81b\x8dc \xff\xfe", b"Content-Type: text/plain")).text
    assert text.startswith("a")


def test_format_flowed_soft_breaks_are_joined() -> None:
    raw = message(
        b"Bonjour, je voudrais prendre \r\nrendez-vous mardi.\r\n-- \r\nMarie\r\n",
        b"Content-Type: text/plain; charset=utf-8; format=flowed",
    )
    assert parse_message(raw).text.splitlines()[:2] == [
        "Bonjour, je voudrais prendre rendez-vous mardi.",
        "-- ",
    ]


HTML = (
    b"<html><head><title>T</title><style>p {color: red}</style></head><body>"
    b"<script>var booking = 'rendez-vous';</script>"
    b"<p>Bonjour,</p><div>Seriez-vous&nbsp;disponible <b>mardi</b> ?<br>Merci</div>"
    b'<div class="gmail_quote"><div>Le lun. 4 mars 2024 &agrave; 10:15, Jane a &eacute;crit'
    b"&nbsp;:<br></div><blockquote>Merci pour la s&eacute;ance d'hier&nbsp;!<blockquote>old"
    b"</blockquote></blockquote></div></body></html>"
)


def test_html_only_mail_is_reduced_to_text() -> None:
    raw = message(HTML, b"Content-Type: text/html; charset=utf-8")
    text = parse_message(raw).text
    assert "var booking" not in text and "color" not in text and "T\n" not in text
    lines = text.splitlines()
    assert lines[0] == "Bonjour,"
    assert "Seriez-vous disponible mardi ?" in lines
    assert "Merci" in lines
    assert "> Merci pour la séance d'hier !" in lines
    assert "> > old" in lines
    assert strip_quoted(text) == "Bonjour,\n\nSeriez-vous disponible mardi ?\nMerci"


def test_html_to_text_keeps_block_breaks_and_table_cells() -> None:
    html = "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table><ul><li>x<li>y</ul>"
    assert html_to_text(html).split() == ["a", "b", "c", "x", "y"]
    assert html_to_text("<pre>one\ntwo</pre>") == "one\ntwo"
    assert html_to_text("<p>unclosed <b>tags <i>everywhere") == "unclosed tags everywhere"
    assert html_to_text("") == ""


def test_html_only_booking_is_answered_end_to_end() -> None:
    raw = message(HTML, b"Content-Type: text/html; charset=utf-8", subject=b"Subject: Re: x\r\n")
    decision = read(parse_message(raw), POLICY)
    assert isinstance(decision, Request) and decision.kind == "booking"
    assert decision.language == "fr"


def alternative(plain: bytes, html: bytes) -> bytes:
    return message(
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain + b"\r\n"
        b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + b"\r\n--b1--\r\n",
        b"Content-Type: multipart/alternative; boundary=b1",
    )


def test_text_plain_is_preferred_over_html() -> None:
    msg = parse_message(alternative(b"plain words", b"<p>html words</p>"))
    assert msg.text.strip() == "plain words"


def test_an_empty_text_plain_falls_back_to_html() -> None:
    msg = parse_message(alternative(b"\r\n  \r\n", b"<p>html words</p>"))
    assert msg.text.strip() == "html words"


def test_nested_multiparts() -> None:
    body = (
        b"preamble\r\n--outer\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n"
        b'--rel\r\nContent-Type: multipart/alternative; boundary="alt 1"\r\n\r\n'
        b"--alt 1\r\nContent-Type: text/plain; charset=windows-1257\r\n\r\nLabas \xe0\r\n"
        b"--alt 1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--alt 1--\r\n"
        b"--rel\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
        b"--rel--\r\n--outer\r\nContent-Type: text/plain; name=notes.txt\r\n"
        b"Content-Disposition: attachment; filename=notes.txt\r\n\r\nattached text\r\n--outer--\r\n"
    )
    msg = parse_message(message(body, b"Content-Type: multipart/mixed; boundary=outer"))
    assert msg.content_type == "multipart/mixed"
    assert msg.text.strip() == "Labas ą"


def test_multipart_without_boundary_is_still_read() -> None:
    msg = parse_message(message(b"hello there", b"Content-Type: multipart/mixed"))
    assert "hello there" in msg.text


def test_unclosed_multipart_and_garbage_parts() -> None:
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: \x00\xff/??\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n@@@@\r\n--b\r\nContent-Type: text/calendar\r\n"
    )
    msg = parse_message(message(body, b"Content-Type: multipart/mixed; boundary=b"))
    assert msg.text.strip() == "first"


def test_multipart_report_is_flagged() -> None:
    body = (
        b"--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        b"Final-Recipient: rfc822; a@b\r\nAction: failed\r\n--r--\r\n"
    )
    raw = message(body, b"Content-Type: multipart/report; report-type=delivery-status; boundary=r")
    msg = parse_message(raw)
    assert (msg.is_report, msg.content_type) == (True, "multipart/report")
    assert msg.text.strip() == "Delivery failed"


def test_mbox_from_line_is_skipped() -> None:
    msg = parse_message(b"From someone@x Mon Jan  1 00:00:00 2024\nFrom: a@b.example\n\nhi\n")
    assert (msg.from_address, msg.text) == ("a@b.example", "hi\n")


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", b"just some words, no header at all"])
def test_unreadable_bytes_raise_malformed_message(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_message(raw)


def test_non_bytes_raise_malformed_message() -> None:
    with pytest.raises(MalformedMessage):
        parse_message("From: a@b\r\n\r\nx")  # type: ignore[arg-type]


# --- calendar parts in every shape -----------------------------------------------------------


def mixed(*parts: bytes) -> bytes:
    body = b"".join(b"--m\r\n" + p + b"\r\n" for p in parts) + b"--m--\r\n"
    return message(body, b"Content-Type: multipart/mixed; boundary=m")


TEXT_PART = b"Content-Type: text/plain; charset=utf-8\r\n\r\nYou are invited."
B64_ICS = base64.encodebytes(ICS)


@pytest.mark.parametrize(
    ("raw", "methods"),
    [
        # inline text/calendar with a method parameter
        (
            mixed(
                TEXT_PART,
                b"Content-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\n" + ICS,
            ),
            ["REQUEST"],
        ),
        # quoted, upper-case parameter name
        (mixed(b'Content-Type: text/calendar; METHOD="request"\r\n\r\n' + ICS), ["REQUEST"]),
        # Google: application/ics attachment, no method parameter, base64
        (
            mixed(
                TEXT_PART,
                b"Content-Type: application/ics; name=invite.ics\r\n"
                b"Content-Disposition: attachment; filename=invite.ics\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" + B64_ICS,
            ),
            [""],
        ),
        # an .ics attachment sent as application/octet-stream
        (
            mixed(
                b'Content-Type: application/octet-stream; name="Add to calendar.ICS"\r\n'
                b"Content-Disposition: attachment\r\n\r\n" + ICS
            ),
            [""],
        ),
        # an .ics attachment sent as text/plain, found by its filename
        (
            mixed(
                TEXT_PART,
                b"Content-Type: text/plain; charset=UTF-8\r\n"
                b'Content-Disposition: attachment; filename="c141520.ics"\r\n\r\n' + ICS,
            ),
            [""],
        ),
        # Outlook's text/x-vCalendar
        (mixed(b"Content-Type: text/x-vCalendar; name=event.vcs\r\n\r\n" + ICS), [""]),
        # the whole message is text/calendar
        (message(ICS, b"Content-Type: text/calendar; method=REQUEST; charset=utf-8"), ["REQUEST"]),
        # nested: mixed > alternative > calendar, plus a duplicate attachment
        (
            mixed(
                b"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n"
                + TEXT_PART
                + b"\r\n--a\r\nContent-Type: text/calendar; method=REQUEST\r\n"
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                + ICS.replace(b"PRODID:-//t//t//EN", b"PRODID:-//t//t=\r\n//EN")
                + b"\r\n--a--",
                b"Content-Type: text/calendar; method=REQUEST\r\n\r\n" + ICS,
            ),
            ["REQUEST"],
        ),
    ],
)
def test_rfc6047_calendar_parts_in_every_shape(raw: bytes, methods: list[str]) -> None:
    msg = parse_message(raw)
    assert [m for m, _ in msg.calendar_parts] == methods
    for _, ics in msg.calendar_parts:
        assert "METHOD:REQUEST" in ics and "UID:u1" in ics
    assert isinstance(read(msg, POLICY), JudgeInvitations)
    assert "BEGIN:VCALENDAR" not in msg.text


def test_text_named_ics_without_a_calendar_is_not_a_calendar_part() -> None:
    raw = mixed(TEXT_PART, b"Content-Type: text/plain; name=notes.ics\r\n\r\njust notes")
    assert parse_message(raw).calendar_parts == ()


def test_calendars_inside_an_attached_message_are_not_ours() -> None:
    inner = b"From: o@x.example\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n" + ICS
    raw = mixed(TEXT_PART, b"Content-Type: message/rfc822\r\n\r\n" + inner)
    msg = parse_message(raw)
    assert msg.calendar_parts == ()
    assert msg.text.strip() == "You are invited."


def test_calendar_in_a_latin1_charset() -> None:
    ics = ICS.replace(b"UID:u1", b"UID:u1\r\nSUMMARY:R\xe9union")
    raw = mixed(b"Content-Type: text/calendar; method=REQUEST; charset=iso-8859-1\r\n\r\n" + ics)
    assert "SUMMARY:Réunion" in parse_message(raw).calendar_parts[0][1]


# --- invariants -------------------------------------------------------------------------------

HEADER_NAMES = [
    b"From",
    b"To",
    b"Cc",
    b"Subject",
    b"Reply-To",
    b"Return-Path",
    b"Message-ID",
    b"Date",
    b"References",
    b"In-Reply-To",
    b"Auto-Submitted",
    b"Content-Type",
    b"List-Id",
    b"Precedence",
    b"Content-Transfer-Encoding",
    b"X-Auto-Response-Suppress",
    b"Resent-To",
]
HEADER_VALUES = st.one_of(
    st.binary(max_size=60),
    st.sampled_from(
        [
            b"=?utf-8?q?a=0D=0Ab?=",
            b"=?utf-8?b?DQo=?=",
            b"<>",
            b"a@b",
            b'"q" <x@y>',
            b"(c)",
            b"=?x-bad?q?=FF?=",
            b"multipart/mixed; boundary=z",
            b"base64",
            b"text/html",
            b";;",
            b"<a@b> <c@d>",
            b"\xff\xfe",
            b"=?utf-8?q?",
            b"Mon, 31 Feb 2024 25:61:00 +9999",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=8),
    st.binary(max_size=200),
)
def test_any_header_soup_parses_or_raises_malformed_and_never_leaks_cr_lf(
    headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    raw = b"".join(name + b": " + value.replace(b"\n", b" ") + b"\r\n" for name, value in headers)
    raw += b"\r\n" + body
    try:
        msg = parse_message(raw)
    except MalformedMessage as exc:
        assert not str(exc).startswith("internal error"), exc
        return
    for value in header_fields(msg):
        assert "\r" not in value and "\n" not in value
    assert msg.message_id
    assert msg.date is None or msg.date.tzinfo is not None
    assert all(a == a.lower() for a in msg.recipients)
    assert isinstance(string_fields(msg), list)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_malformed(raw: bytes) -> None:
    try:
        parse_message(raw)
    except MalformedMessage as exc:
        assert not str(exc).startswith("internal error"), exc


# --- One message must not stop or stall the service (regressions) ------------------------------


# These inputs once took minutes; their time is measured by bench/bench_abuse.py (CPU per
# email), not asserted here: a regression shows as a test that never ends (and in --durations).


def test_quadratic_html_extractor_html_only_body_is_read() -> None:
    # "<b>a</b>" x N: 1.6 MB took 122 s ("".join(self.current) for every chunk of text).
    unit = b"<b>a</b>"
    small = parse_message(message(unit * 50_000, b"Content-Type: text/html; charset=utf-8"))
    big = parse_message(message(unit * 200_000, b"Content-Type: text/html; charset=utf-8"))
    assert small.text == "a" * 50_000 and big.text == "a" * MAX_TEXT


@pytest.mark.parametrize(
    "html",
    [
        "<a" * 100_000,  # html.parser in Python 3.11 took 61 s over these 0.2 MB
        "</" * 100_000,
        "<?" * 100_000,
        "<div>" * 200_000 + "deep",
        "<blockquote>q" * 20_000,
        "<!--" + "x" * 1_000_000,
    ],
    ids=["lt-a", "lt-slash", "lt-question", "deep-div", "deep-quote", "open-comment"],
)
def test_quadratic_html_extractor_hostile_markup_is_read(html: str) -> None:
    text = html_to_text(html)
    assert len(text) <= MAX_TEXT + 100


def test_html_extractor_keeps_its_behaviour_on_quotes_and_voids() -> None:
    html = "<body><blockquote>one<blockquote>two</blockquote>back</blockquote>out<br>x<hr>y</body>"
    assert html_to_text(html) == "> one\n> > two\n> back\nout\nx\ny"
    assert html_to_text("<p>a</p>\n\n<p>b</p>") == "a\n\nb"
    assert html_to_text("<p>caf&eacute;&nbsp;cr&#232;me</p>") == "café crème"
    assert html_to_text('<?xml version="1.0" encoding="utf-8"?><p>x</p>') == "x"
    assert html_to_text('<meta charset="iso-8859-1"><p>café</p>') == "café"
    assert html_to_text("no markup at all") == "no markup at all"


def test_quadratic_unflow_delsp_yes_is_read() -> None:
    # format=flowed; delsp=yes: 3.2 MB took 73 s (each soft break rebuilt the whole paragraph).
    body = b"word \r\n" * 450_000
    raw = message(body, b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes")
    assert parse_message(raw).text == "word" * (MAX_TEXT // 4)


def test_rfc3676_unflow_keeps_signature_quotes_and_hard_breaks() -> None:
    text = "one \ntwo \nthree\n-- \nsig \nline\n> quoted \n> more\nlast"
    assert _unflow(text, delsp=False) == "one two three\n-- \nsig line\n> quoted \n> more\nlast"
    assert _unflow("one \ntwo", delsp=True) == "onetwo"
    assert _unflow("", delsp=True) == ""


def test_stray_byte_in_encoded_display_name_leaves_valid_text() -> None:
    # "Zoé" + 64 x "x" + one byte that is no UTF-8: the name kept a surrogate, and the reply's
    # To header could not be written later.
    word = base64.b64encode("Zoé".encode() + b"x" * 64 + b"\xff").decode()
    raw = f"From: =?utf-8?b?{word}?= <zoe@example.org>\r\nTo: j@x.example\r\n\r\nhi".encode()
    msg = parse_message(raw)
    assert msg.from_name == "Zoé" + "x" * 64 + "ÿ"
    for value in string_fields(msg):
        value.encode("utf-8")  # no surrogate anywhere


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (b"=?utf-8?q?Zo=C3=A9_Dup?= =?utf-8?q?ont?=", "Zoé Dupont"),
        (b"=?utf-8?b?Wm/DqSBEdXA=?=\r\n =?utf-8?b?b250?=", "Zoé Dupont"),  # folded between
        (b"=?utf-8?q?ab?= =?utf-8?q?cd?= x =?utf-8?q?ef?=", "abcd x ef"),
        (b"Jean =?utf-8?q?Zo=C3=A9?=", "Jean Zoé"),
    ],
)
def test_rfc2047_6_2_space_between_encoded_words_of_a_name_is_not_text(
    value: bytes, name: str
) -> None:
    # Senders split long names into several encoded words anywhere, even inside a word.
    raw = b"From: " + value + b" <zoe@example.org>\r\nTo: j@x.example\r\n\r\nhi"
    msg = parse_message(raw)
    assert (msg.from_name, msg.from_address, msg.headers_ok) == (name, "zoe@example.org", True)


@pytest.mark.parametrize(
    "header",
    [
        b"Subject: =?utf-7?q?+2AA-?=",  # UTF-7 decodes to a lone surrogate
        b"Subject: =?utf-16?b?ANg=?=",  # half a UTF-16 pair
        b"Subject: =?unicode_escape?q?=5Cud800?=",  # a Python codec, not a charset
        b"Subject: =?undefined?q?x?=",  # a codec that always raises UnicodeError
        b"Subject: R\xc3\xa9union \xff\xfe",
        b"Return-Path: <cl\xc3\xafent@b\xc3\xbccher.example>",
        b"Return-Path: cl\xc3\xaf ent@b\xc3\xbc cher.example",
        b"Message-ID: <\xff\xfe@x>",
        b"Content-Type: text/plain; charset=unicode_escape",
        b"Content-Type: text/plain; charset=undefined",
        b"Content-Type: text/plain; charset=utf-7",
        b"Content-Type: text/calendar; method=\xff\xc3",
    ],
)
def test_no_surrogate_survives_decoding(header: bytes) -> None:
    body = b"\\ud800 +2AA- caf\xe9 \xff"
    msg = parse_message(message(body, header))
    for value in string_fields(msg):
        value.encode("utf-8")
    for value in header_fields(msg):
        value.encode("utf-8")


@pytest.mark.parametrize(
    ("header", "address"),
    [
        ("From: Marie <clïent@bücher.example>", "clïent@xn--bcher-kva.example"),
        ("From: clïent@BÜCHER.Example", "clïent@xn--bcher-kva.example"),
        ("From: CLÏENT@xn--bcher-kva.example", "clïent@xn--bcher-kva.example"),
        ("From: anna@пример.рф", "anna@xn--e1afmkfd.xn--p1ai"),
        ("From: z@bücher。example", "z@xn--bcher-kva.example"),  # an ideographic full stop
        ("From: z@straße.de", "z@xn--strae-oqa.de"),  # IDNA 2008: not strasse.de
        ("From: cli\u0308ent@example.org", "clïent@example.org"),  # NFC
        ("From: z@bad_domain!.example", ""),
    ],
)
def test_non_ascii_local_part_and_idn_domain_decode_to_usable_addresses(
    header: str, address: str
) -> None:
    msg = parse_message((header + "\r\nReturn-Path: <" + address + ">\r\n\r\nbody").encode())
    assert msg.from_address == address
    assert msg.headers_ok is bool(address)
    if address:
        assert msg.from_address.rpartition("@")[2].isascii()
        assert msg.return_path == address


def test_raw_latin1_address_bytes_decode_too() -> None:
    msg = parse_message("From: clïent@bücher.example\r\n\r\nbody".encode("latin-1"))
    assert msg.from_address == "clïent@xn--bcher-kva.example"


def test_real_size_of_a_truncated_message() -> None:
    head = b"From: a@b.example\r\nSubject: big\r\n\r\n"
    assert parse_message(head).size == len(head)
    assert parse_message(head, size=30_000_000).size == 30_000_000


def test_authentication_results_are_kept_whole() -> None:
    value = "mx.example; " + "; ".join(f"x-m{i}=pass header.d=d{i}.example" for i in range(100))
    assert 2_000 < len(value) < 8_000
    raw = message(b"x", b"Authentication-Results: " + value.encode(), b"X-Long: " + b"y" * 5_000)
    headers = dict(parse_message(raw).headers)
    assert headers["authentication-results"] == value
    assert len(headers["x-long"]) == 2_000


# --- Seeded fuzz: mutated real-looking messages -------------------------------------------------

FUZZ_SEEDS = [
    # Gmail: multipart/alternative, quoted-printable, encoded words, Authentication-Results
    (
        b"Delivered-To: jane@freelance.example\r\n"
        b"Return-Path: <marie@client.example>\r\n"
        b"Authentication-Results: mx.google.com;\r\n"
        b"       dkim=pass header.i=@client.example header.s=s1 header.b=AbC;\r\n"
        b"       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=client.example\r\n"
        b"From: =?UTF-8?Q?Marie_Cl=C3=A9ment?= <marie@client.example>\r\n"
        b"To: Jane <jane@freelance.example>\r\n"
        b"Subject: =?UTF-8?B?UsOpc2VydmF0aW9uIG1hcmRp?=\r\n"
        b"Date: Mon, 4 Mar 2024 10:15:00 +0100\r\n"
        b"Message-ID: <CAFx=abc@mail.gmail.com>\r\n"
        b"References: <a@x> <b@y>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="000000000000abc"\r\n\r\n'
        b'--000000000000abc\r\nContent-Type: text/plain; charset="UTF-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Bonjour, =C3=AAtes-vous libre mardi =C3=A0 10h ?\r\n\r\n"
        b'--000000000000abc\r\nContent-Type: text/html; charset="UTF-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b'<div dir=3D"ltr">Bonjour, <b>mardi</b> ?<blockquote>old</blockquote></div>\r\n'
        b"--000000000000abc--\r\n"
    ),
    # Outlook: 8-bit windows-1252 headers and body, HTML only in base64
    (
        b'From: "Ingo L\xfctkebohle" <Ingo@Example.DE>\r\n'
        b"To: <jane@freelance.example>\r\nSubject: R\xe9servation\r\n"
        b"Thread-Index: AdpuQ1Zx\r\nX-MS-Has-Attach:\r\nAuto-Submitted: no\r\n"
        b'Content-Type: text/html; charset="windows-1252"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"<html><body><p>L\x92id\xe9e co\xfbte 10 \x80</p></body></html>")
    ),
    # An invitation: mixed > alternative > calendar, plus the .ics attachment
    (
        b"From: organizer@corp.example\r\nTo: jane@freelance.example\r\n"
        b"Subject: Invitation\r\nMessage-ID: <inv-1@corp.example>\r\n"
        b"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n"
        b"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nYou are invited.\r\n--a\r\n"
        b"Content-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\n"
        + ICS
        + b"\r\n--a--\r\n"
        b"--m\r\nContent-Type: application/ics; name=invite.ics\r\n"
        b"Content-Disposition: attachment; filename=invite.ics\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(ICS) + b"--m--\r\n"
    ),
    # SMTPUTF8: raw UTF-8 headers, an IDN domain, a non-ASCII local part, format=flowed
    (
        "Return-Path: <clïent@bücher.example>\r\n"
        "From: Zoé Brontë <clïent@bücher.example>\r\n"
        "Reply-To: Zoé <zoe@xn--bcher-kva.example>\r\n"
        "To: jane@freelance.example\r\nSubject: Séance à 10h\r\n"
        "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n\r\n"
        "Bonjour, je voudrais une séance \r\nmardi prochain.\r\n"
        "> cité \r\n> encore\r\n-- \r\nZoé\r\n"
    ).encode(),
    # A bounce: multipart/report with the original message attached
    (
        b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example\r\nTo: jane@freelance.example\r\n"
        b"Subject: Undelivered Mail\r\nAuto-Submitted: auto-replied\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
        b"--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"--r\r\nContent-Type: message/rfc822\r\n\r\nFrom: jane@freelance.example\r\n"
        b"Subject: x\r\n\r\nbody\r\n--r--\r\n"
    ),
]
FUZZ_TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b" ",
    b"\t",
    b":",
    b";",
    b"<",
    b">",
    b"@",
    b'"',
    b"(",
    b")",
    b"\\",
    b"=?utf-8?b?",
    b"?=",
    b"=?utf-8?q?a=0D=0Ab?=",
    b"=?utf-7?q?+2AA-?=",
    b"=?utf-16?b?ANg=?=",
    b"=?unicode_escape?q?=5Cud800?=",
    b"=?undefined?q?x?=",
    b"=?x-bad?q?=FF?=",
    b"<cl\xc3\xafent@b\xc3\xbccher.example>",
    b"z@xn--bcher-kva.example",
    b"z@\xf0\x9f\x98\x80.example",
    b"--m",
    b"--000000000000abc--",
    b"boundary=",
    b"charset=utf-7",
    b"charset=unicode_escape",
    b"charset=undefined",
    b"charset=utf-16",
    b"format=flowed; delsp=yes",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Type: multipart/mixed; boundary=m",
    b"Content-Type: text/html",
    b"<a",
    b"<blockquote>",
    b"<!--",
    b"&#",
    b"=\r\n",
    b"====",
]


def _mutate(rng: random.Random, raw: bytes) -> tuple[bytes, str]:
    data = bytearray(raw)
    done: list[str] = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["flip", "insert", "token", "delete", "duplicate", "truncate", "nest"])
        at = rng.randrange(len(data) + 1)
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == "insert":
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == "token":
            data[at:at] = rng.choice(FUZZ_TOKENS)
        elif kind == "delete":
            del data[at : at + rng.randint(1, 40)]
        elif kind == "duplicate":
            data[at:at] = data[at : at + rng.randint(1, 200)] * rng.randint(1, 20)
        elif kind == "truncate":
            del data[at:]
        elif kind == "nest":  # a deep multipart structure around what is left
            depth = rng.randint(1, 120)
            head = b"".join(
                b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (i, i)
                for i in range(depth)
            )
            data[at:at] = head
        done.append(f"{kind}@{at}")
    return bytes(data), ",".join(done)


FUZZ_SEED = 20240304
FUZZ_CASES = 600


def test_fuzz_mutated_messages_decode_to_valid_text_or_malformed() -> None:
    """Seeded and reproducible: a failure names the case; rerun with that seed and index."""
    rng = random.Random(FUZZ_SEED)
    for index in range(FUZZ_CASES):
        seed = rng.choice(FUZZ_SEEDS)
        raw, how = _mutate(rng, seed)
        case = f"case {index} (seed {FUZZ_SEED}, base {FUZZ_SEEDS.index(seed)}, {how})"
        try:
            msg = parse_message(raw)
        except MalformedMessage as exc:
            assert not str(exc).startswith("internal error"), f"{case}: {exc}"
            continue
        except Exception as exc:  # pragma: no cover - the failure report
            raise AssertionError(f"{case}: raised {exc!r}") from exc
        for value in string_fields(msg):
            assert isinstance(value, str), case
            value.encode("utf-8")  # raises on a surrogate
        for value in header_fields(msg):
            assert "\r" not in value and "\n" not in value, f"{case}: {value!r}"
            value.encode("utf-8")
        assert "\r" not in msg.text, case
        for address in (msg.from_address, msg.reply_to, *msg.recipients):
            assert address == address.lower(), case
            assert address.rpartition("@")[2].isascii(), f"{case}: {address!r}"
        assert msg.date is None or msg.date.tzinfo is not None, case
        assert msg.message_id, case


def test_a_huge_references_header_keeps_the_threads_first_and_latest_ids() -> None:
    """30,000 Message-IDs in References (a crafted or runaway thread): the first ten and the
    latest ninety are kept, in order, once each; the reply frontdesk sent last is among them."""
    from connectors.mailparse import MAX_THREAD_IDS, THREAD_HEAD

    ids = [f"<r{i}@x.example>" for i in range(30_000)] + ["<r5@x.example>", "<fd-last@julie>"]
    raw = ("From: a@b.example\r\nTo: julie@example.org\r\nSubject: Re: x\r\n"
           f"Message-ID: <m@b.example>\r\nReferences: {' '.join(ids)}\r\n\r\nLe 2 svp\r\n")
    refs = parse_message(raw.encode()).references
    assert len(refs) == MAX_THREAD_IDS
    assert refs[:THREAD_HEAD] == tuple(f"r{i}@x.example" for i in range(THREAD_HEAD))
    assert refs[-1] == "fd-last@julie" and refs[-2] == "r29999@x.example"
    assert len(set(refs)) == len(refs)
