"""connectors/outbound.py: replies to any decoded address have valid headers (RFC 5322, IDNA for
domains, RFC 6532 for non-ASCII local parts), or build_reply says in one sentence why not."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.mailparse import parse_message
from connectors.outbound import (
    REPLY_POLICY,
    REPLY_POLICY_UTF8,
    build_reply,
    needs_smtputf8,
    reply_message_id,
    set_mailbox,
    wire_address,
)
from rules.replies import ReplyText

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT_ID = "<client-1@client.example>"


def reply_to(to_address: str, to_name: str = "Marie", **kwargs: str) -> EmailMessage:
    fields = {
        "from_address": "jane@freelance.example",
        "from_name": "Jane Doe",
        **kwargs,
    }
    return build_reply(
        reply=ReplyText("Re: Rendez-vous", "Bonjour,\n", "fr"),
        to_address=to_address,
        to_name=to_name,
        in_reply_to=CLIENT_ID,
        references=(CLIENT_ID,),
        message_id=reply_message_id(CLIENT_ID, "booking", "freelance.example"),
        now=NOW,
        **fields,
    )


def wire(msg: EmailMessage) -> bytes:
    """As daemon/plan.py writes it for the ledger and SMTP."""
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def headers_of(raw: bytes) -> list[bytes]:
    block = raw.split(b"\r\n\r\n", 1)[0]
    return [line for line in block.split(b"\r\n") if line and not line[:1].isspace()]


def read_back(raw: bytes) -> EmailMessage:
    """As a reader sees it (RFC 6532: headers are UTF-8; the stdlib's bytes parser would leave
    their non-ASCII bytes escaped)."""
    parsed = email.message_from_string(raw.decode("utf-8"), policy=email.policy.SMTPUTF8)
    assert isinstance(parsed, EmailMessage)
    return parsed


# --- IDNA domains -------------------------------------------------------------------------------


def test_idna_domain_is_written_as_a_labels_not_an_encoded_word() -> None:
    # Was: To: Marie <client@=?utf-8?q?b=C3=BCcher?=.example> (no reader can answer that).
    msg = reply_to("client@bücher.example")
    raw = wire(msg)
    to_line = next(h for h in headers_of(raw) if h.startswith(b"To:"))
    assert to_line == b"To: Marie <client@xn--bcher-kva.example>"
    assert raw.isascii() and msg.policy is REPLY_POLICY
    assert read_back(raw)["To"].addresses[0].addr_spec == "client@xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("given_address", "wired"),
    [
        ("client@xn--bcher-kva.example", "client@xn--bcher-kva.example"),
        ("Client@BÜCHER.Example", "Client@xn--bcher-kva.example"),
        ("anna@пример.рф", "anna@xn--e1afmkfd.xn--p1ai"),
        ("z@straße.de", "z@xn--strae-oqa.de"),
        ("z@i❤.ws", "z@xn--i-7iq.ws"),  # IDNA 2003 only (the stdlib codec): still deliverable
        ("<marie@client.example>", "marie@client.example"),
        ("o'brien+x@client.example", "o'brien+x@client.example"),
        ("clïent@bücher.example", "clïent@xn--bcher-kva.example"),
        ("cli\u0308ent@example.org", "clïent@example.org"),  # NFC
    ],
)
def test_wire_address(given_address: str, wired: str) -> None:
    assert wire_address(given_address) == wired


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("", "not an email address"),
        ("no-at-sign", "not an email address"),
        ("@client.example", "not an email address"),
        ("marie@", "no usable domain"),
        ("marie@bad domain.example", "no usable domain"),
        ("marie@a..b", "no usable domain"),
        ("marie@" + "x" * 64 + ".example", "no usable domain"),
        ("a b@client.example", "not a plain dot-atom"),
        ("a..b@client.example", "not a plain dot-atom"),
        (".a@client.example", "not a plain dot-atom"),
        ('"quoted"@client.example', "not a plain dot-atom"),
        ("a\u00a0b@client.example", "not a plain dot-atom"),
        ("marie@client.example\r\nBcc: evil@example.com", "control characters"),
        ("\x80marie@client.example", "control characters"),
        ("marie@client.example\udcff", "control characters"),
        ("x" * 250 + "@client.example", "longer than SMTP allows"),
    ],
)
def test_unusable_address_raises_one_sentence(address: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        reply_to(address)
    assert str(caught.value).startswith("To address")
    assert "\n" not in str(caught.value)


# --- Non-ASCII local parts (RFC 6531/6532) ------------------------------------------------------


def test_rfc6532_non_ascii_local_part_is_a_utf8_header_that_needs_smtputf8() -> None:
    msg = reply_to("clïent@bücher.example", to_name="Zoé")
    assert msg.policy is REPLY_POLICY_UTF8
    raw = wire(msg)
    assert 'To: "Zoé" <clïent@xn--bcher-kva.example>'.encode() in headers_of(raw)
    assert b"=?" not in b"".join(h for h in headers_of(raw) if h.startswith(b"To:"))
    parsed = read_back(raw)
    assert parsed["To"].addresses[0].addr_spec == "clïent@xn--bcher-kva.example"
    assert parsed["To"].addresses[0].display_name == "Zoé"
    # A 7-bit writer cannot make a valid header of it: it fails instead of sending garbage.
    with pytest.raises(UnicodeEncodeError):
        msg.as_bytes(policy=email.policy.SMTP)


def test_rfc6532_non_ascii_local_part_without_a_name() -> None:
    raw = wire(reply_to("josé@example.org", to_name=""))
    assert "To: josé@example.org".encode() in headers_of(raw)


def test_rfc6532_long_utf8_name_is_folded_under_998_octets() -> None:
    raw = wire(reply_to("clïent@example.org", to_name="é" * 400))
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert read_back(raw)["To"].addresses[0].addr_spec == "clïent@example.org"


def test_freelancer_with_a_non_ascii_address_also_makes_a_utf8_message() -> None:
    msg = reply_to("marie@client.example", from_address="jäne@freelance.example")
    assert msg.policy is REPLY_POLICY_UTF8
    assert read_back(wire(msg))["From"].addresses[0].addr_spec == "jäne@freelance.example"


# --- Whatever decoding produced -----------------------------------------------------------------


def test_stray_byte_display_name_from_a_decoded_message_is_writable() -> None:
    # "Zoé" + 64 x "x" + one byte that is no UTF-8, in an encoded word: the reply's To header
    # could not be written once the name reached it.
    word = base64.b64encode("Zoé".encode() + b"x" * 64 + b"\xff").decode()
    inbound = parse_message(
        f"From: =?utf-8?b?{word}?= <zoe@bücher.example>\r\nTo: j@x.example\r\n\r\nhi".encode()
    )
    msg = reply_to(inbound.from_address, to_name=inbound.from_name)
    raw = wire(msg)
    to_value = raw.split(b"\r\nTo: ", 1)[1].split(b"\r\nSubject:")[0].replace(b"\r\n", b"")
    name, _, address = to_value.decode("ascii").rpartition(" <")
    # RFC 2047 §6.2: the space between two encoded words is not text (Python 3.11's address
    # parser keeps it; email.header follows the RFC).
    assert str(make_header(decode_header(name))) == inbound.from_name
    assert address == "zoe@xn--bcher-kva.example>"


def test_surrogates_in_a_name_never_reach_the_header() -> None:
    raw = wire(reply_to("marie@client.example", to_name="Zo\udcc3\udca9 \ud800"))
    assert read_back(raw)["To"].addresses[0].display_name == "Zo\ufffd\ufffd \ufffd"


# --- Property: any name, any address --------------------------------------------------------------

LOCALS = st.one_of(
    st.sampled_from(["marie", "o'brien+x", "a.b", "clïent", "josé.ñ", "用户", "x" * 64, "-", "_"]),
    st.text(min_size=1, max_size=20),
    st.text(alphabet="abcé.+-_'", min_size=1, max_size=20),
)
DOMAINS = st.one_of(
    st.sampled_from(
        [
            "client.example",
            "bücher.example",
            "xn--bcher-kva.example",
            "пример.рф",
            "例え.jp",
            "straße.de",
            "i❤.ws",
            "localhost",
            "a..b",
            "",
            "-x.example",
            "1.2.3.4",
        ]
    ),
    st.text(max_size=30),
    st.text(alphabet="abcü.-", min_size=1, max_size=30),
)
NAMES = st.one_of(
    st.text(max_size=250),
    st.builds(lambda s: s + "\udcff", st.text(max_size=40)),
    st.sampled_from(['"', "\\", "=?utf-8?q?x?=", "a, b", "<x@y>", "(c)", "é" * 300, " "]),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local=LOCALS, domain=DOMAINS, name=NAMES)
def test_any_name_and_address_make_a_writable_reply_or_a_value_error(
    local: str, domain: str, name: str
) -> None:
    address = f"{local}@{domain}"
    try:
        msg = reply_to(address, to_name=name)
    except ValueError as error:
        assert str(error).startswith("To address") and "\n" not in str(error)
        return
    raw = wire(msg)  # never raises
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert [h.split(b":", 1)[0] for h in headers_of(raw)].count(b"To") == 1
    assert raw.isascii() == (msg.policy is REPLY_POLICY)
    parsed = read_back(raw)
    (mailbox,) = parsed["To"].addresses
    expected = wire_address(address)
    assert mailbox.addr_spec == expected
    assert mailbox.domain.isascii()
    assert "Bcc" not in parsed and len(parsed.get_all("To") or []) == 1
    # The address is the one the SMTP envelope gets: ASCII unless the local part is not.
    assert expected.isascii() == expected.rpartition("@")[0].isascii()
    assert needs_smtputf8(address) == (not expected.isascii())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.binary(max_size=40))
def test_any_decoded_from_header_can_be_answered_or_refused(name: bytes, address: bytes) -> None:
    raw = b"From: " + name.replace(b"\n", b" ") + b" <" + address.replace(b"\n", b"") + b">\r\n"
    try:
        inbound = parse_message(raw + b"To: j@x.example\r\n\r\nhi")
    except Exception:
        return
    if not inbound.from_address:
        return
    try:
        msg = reply_to(inbound.from_address, to_name=inbound.from_name)
    except ValueError:
        return
    wire(msg)


def test_set_mailbox_serves_other_messages_such_as_declines() -> None:
    # connectors/itip builds its REPLY email with Address(addr_spec=...): same bug, same cure.
    msg = EmailMessage(policy=REPLY_POLICY)
    wired = set_mailbox(msg, "To", "Organizer", "organizer@bücher.example")
    assert wired == "organizer@xn--bcher-kva.example"
    assert b"To: Organizer <organizer@xn--bcher-kva.example>" in wire(msg)
    with pytest.raises(ValueError, match="only an SMTPUTF8 message"):
        set_mailbox(EmailMessage(policy=REPLY_POLICY), "To", "", "clïent@example.org")
    assert needs_smtputf8("clïent@example.org") and not needs_smtputf8("a@bücher.example")
    utf8 = EmailMessage(policy=REPLY_POLICY_UTF8)
    set_mailbox(utf8, "To", 'Zoé "Z" \\ B', "clïent@example.org")
    assert read_back(wire(utf8))["To"].addresses[0].display_name == 'Zoé "Z" \\ B'
