"""Turns a reply's text into the email frontdesk sends: headers per RFC 3834 and RFC 5322.

Nothing a client wrote can add a header: every value has its CR, LF and other control
characters removed before it reaches the email package, addresses go through
email.headerregistry, and message ids are kept only when they are well-formed.

Addresses are written as they travel: the domain in IDNA ASCII form (`client@xn--bcher-kva.example`,
never an RFC 2047 word inside an address), so an address with an ASCII local part needs nothing
special anywhere. A non-ASCII local part has no 7-bit form at all: its message is an RFC 6532 one
(policy with utf8=True, raw UTF-8 header), which only an SMTPUTF8 server may carry, and which
fails loudly (UnicodeEncodeError) if anyone tries to write it with a 7-bit policy.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from email import policy as email_policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

from rules.replies import ReplyText, clean_line
from rules.senders import ascii_domain

log = logging.getLogger(__name__)

# SMTP line endings. Headers set raw here (In-Reply-To, References) are already folded, one id a
# line; refolding them would turn a long id into an RFC 2047 encoded-word, which breaks threading.
# Every other header is a structured object that folds itself. smtplib's send_message and
# msg.as_bytes() both use the message's own policy.
REPLY_POLICY: Final = email_policy.SMTP.clone(refold_source="none")
# The same for a message to or from a non-ASCII local part (RFC 6531/6532: SMTPUTF8 only).
REPLY_POLICY_UTF8: Final = REPLY_POLICY.clone(utf8=True)

# A msg-id as RFC 5322 §3.6.4 writes it, loosely: printable ASCII between angle brackets.
_MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")
MAX_ID_LENGTH: Final = 250  # well under the 998-character line limit, with room for the name
MAX_REFERENCES: Final = 20  # the thread's first id and the 19 latest


# RFC 5322 atext (and, RFC 6532 §3.2, any non-ASCII character): a dot-atom local part.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_LOCAL_PART = re.compile(rf"[{_ATEXT}\x80-\U0010ffff]+(?:\.[{_ATEXT}\x80-\U0010ffff]+)*")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
MAX_PATH_OCTETS: Final = 254  # RFC 5321 §4.5.3.1.3: a path is 256 octets with its brackets
MAX_LINE_OCTETS: Final = 998  # RFC 5322 §2.1.1


def _clean(value: str, limit: int = 998) -> str:
    return clean_line(_SURROGATES.sub("\ufffd", value), limit)


def wire_address(address: str, role: str = "the") -> str:
    """The address as it travels in headers and in SMTP: the domain in IDNA ASCII form, the local
    part as written (NFC). Raises ValueError, one sentence, when it cannot be an email address.

    Give the result to SMTP as the recipient too: it is ASCII whenever the local part is, so only
    a non-ASCII local part ever needs SMTPUTF8.
    """
    text = address.strip().strip("<>").strip()[:1_000]
    if _CONTROLS.search(text):
        raise ValueError(
            f"{role} address {text!r} holds control characters: it cannot be an email address"
        )
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise ValueError(f"{role} address {text!r} is not an email address (it needs local@domain)")
    local = unicodedata.normalize("NFC", local)
    if not _LOCAL_PART.fullmatch(local) or any(_bad_local_char(c) for c in local):
        raise ValueError(
            f"{role} address {text!r} cannot be written: its part before the @ is not a plain "
            "dot-atom (RFC 5322 §3.4.1)"
        )
    ascii_name = ascii_domain(domain)
    if not ascii_name:
        raise ValueError(
            f"{role} address {text!r} has no usable domain name (IDNA refused {domain!r})"
        )
    wired = f"{local}@{ascii_name}"
    if len(wired.encode("utf-8")) > MAX_PATH_OCTETS:
        raise ValueError(
            f"{role} address {text!r} is longer than SMTP allows ({MAX_PATH_OCTETS} octets)"
        )
    return wired


def _bad_local_char(char: str) -> bool:
    """Characters no local part should hold: controls, spaces, separators, unassigned."""
    return not char.isascii() and unicodedata.category(char) in ("Cc", "Cs", "Cn", "Zs", "Zl", "Zp")


def _quoted(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def needs_smtputf8(address: str) -> bool:
    """Whether mail to or from this address can only be an SMTPUTF8 message (a non-ASCII local
    part; an IDN domain alone does not need it). ValueError as wire_address."""
    return not wire_address(address).rpartition("@")[0].isascii()


def set_mailbox(msg: EmailMessage, field: str, name: str, address: str) -> str:
    """Set the header `field` (From, To, Cc, ...) of msg to one mailbox, written so any reader
    can answer it: the domain in IDNA ASCII form; a non-ASCII local part as a raw RFC 6532
    header, which only a message whose policy has utf8=True may hold (ValueError otherwise, as
    for an unusable address). The name loses control characters and surrogates, 200 at most.
    Returns the address as written (`wire_address`), the one to give SMTP as well."""
    wired = wire_address(address, field)
    display = _clean(name, 200)
    local, _, domain = wired.rpartition("@")
    if local.isascii():
        try:
            msg[field] = Address(display_name=display, username=local, domain=domain)
        except (HeaderParseError, ValueError, IndexError, TypeError) as error:
            raise ValueError(f"{field} address {wired!r} cannot be written: {error}") from error
        return wired
    if not msg.policy.utf8:  # type: ignore[attr-defined]
        raise ValueError(
            f"{field} address {wired!r} has a non-ASCII local part: only an SMTPUTF8 message "
            "(a policy with utf8=True) can carry it"
        )
    # No header object writes a UTF-8 local part correctly (they make an RFC 2047 word of it):
    # write the RFC 6532 header raw, one mailbox, folded before the address when long.
    value = f"{_quoted(display)} <{wired}>" if display else wired
    if len(f"{field}: {value}".encode()) > MAX_LINE_OCTETS:
        value = f"{_quoted(display)}\r\n <{wired}>"
    msg.set_raw(field, value)
    return wired


def message_ids(values: Iterable[str]) -> list[str]:
    """The well-formed message ids in `values` (whole headers or single ids), in order, once."""
    seen: set[str] = set()
    ids: list[str] = []
    for value in values:
        for found in _MSG_ID.findall(value):
            if len(found) <= MAX_ID_LENGTH and found not in seen:
                seen.add(found)
                ids.append(found)
    return ids


def reply_message_id(client_message_id: str, kind: str, domain: str) -> str:
    """Our Message-ID for the `kind` reply to that client message: the same every time.

    A repeated send after a crash is then the same message, which receivers de-duplicate.
    """
    digest = hashlib.sha256(f"{kind}\0{client_message_id.strip()}".encode()).hexdigest()
    host = re.sub(r"[^A-Za-z0-9.-]", "", domain.strip().lower()) or "frontdesk.invalid"
    return f"<fd-{digest[:32]}@{host}>"


def _references(in_reply_to: str, references: Sequence[str]) -> list[str]:
    """The client's References and their own Message-ID (RFC 5322 §3.6.4), bounded."""
    ids = message_ids([*references, in_reply_to])
    if len(ids) > MAX_REFERENCES:
        # Keep the thread's root, which clients use to group, and the most recent ids.
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def build_reply(
    *,
    reply: ReplyText,
    from_address: str,
    from_name: str,
    to_address: str,
    to_name: str,
    in_reply_to: str,
    references: Sequence[str],
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """The automatic reply as a text/plain UTF-8 message (RFC 3834 §3).

    `in_reply_to` is the client's Message-ID, `references` their References header (or its ids).
    Addresses are written with IDNA domains (see `wire_address`); when either local part is not
    ASCII, the message's policy is REPLY_POLICY_UTF8 and it can only go out over SMTPUTF8.
    The result always serialises with its own policy (`msg.as_bytes(policy=msg.policy.clone(
    linesep="\r\n"))`). Raises ValueError, one sentence, for an unusable address or message id,
    or a naive `now`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    own_ids = message_ids([message_id])
    if len(own_ids) != 1:
        raise ValueError(f"not a message id: {message_id!r}")
    utf8 = needs_smtputf8(wire_address(from_address, "From")) or needs_smtputf8(
        wire_address(to_address, "To")
    )
    msg = EmailMessage(policy=REPLY_POLICY_UTF8 if utf8 else REPLY_POLICY)
    set_mailbox(msg, "From", from_name, from_address)
    recipient = set_mailbox(msg, "To", to_name, to_address)
    msg["Subject"] = _clean(reply.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = own_ids[0]
    parent = message_ids([in_reply_to])
    if parent:
        msg.set_raw("In-Reply-To", parent[0])
    thread = _references(in_reply_to, references)
    if thread:
        msg.set_raw("References", "\r\n ".join(thread))
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5
    msg["X-Auto-Response-Suppress"] = "All"  # so Exchange's responders do not answer us
    # Quoted-printable: 7-bit safe through any relay, whatever the server's 8BITMIME support.
    msg.set_content(reply.body, subtype="plain", charset="utf-8", cte="quoted-printable")
    if reply.language:  # after set_content, which clears every Content-* header
        msg["Content-Language"] = _clean(reply.language, 35)  # RFC 3282
    try:
        msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    except Exception as error:  # the email package's folder has its own bugs: never hand one on
        raise ValueError(
            f"the reply to {recipient} cannot be written as an email: {error!r}"
        ) from error
    return msg
