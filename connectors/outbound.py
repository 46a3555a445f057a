"""Turns a reply's text into the email frontdesk sends: headers per RFC 3834 and RFC 5322.

Nothing a client wrote can add a header: every value has its CR, LF and other control
characters removed before it reaches the email package, addresses go through
email.headerregistry, and message ids are kept only when they are well-formed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from email import policy as email_policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

from rules.replies import ReplyText, clean_line

log = logging.getLogger(__name__)

# SMTP line endings. Headers set raw here (In-Reply-To, References) are already folded, one id a
# line; refolding them would turn a long id into an RFC 2047 encoded-word, which breaks threading.
# Every other header is a structured object that folds itself. smtplib's send_message and
# msg.as_bytes() both use the message's own policy.
REPLY_POLICY: Final = email_policy.SMTP.clone(refold_source="none")

# A msg-id as RFC 5322 §3.6.4 writes it, loosely: printable ASCII between angle brackets.
_MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")
MAX_ID_LENGTH: Final = 250  # well under the 998-character line limit, with room for the name
MAX_REFERENCES: Final = 20  # the thread's first id and the 19 latest


def _clean(value: str, limit: int = 998) -> str:
    return clean_line(value, limit)


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


def _address(name: str, address: str, role: str) -> Address:
    addr = _clean(address, 320).strip("<> ")
    try:
        return Address(display_name=_clean(name, 200), addr_spec=addr)
    except (HeaderParseError, ValueError, IndexError) as error:
        raise ValueError(f"{role} address {addr!r} is not a valid address: {error}") from error


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
    Raises ValueError for an unusable address or message id, or a naive `now`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    own_ids = message_ids([message_id])
    if len(own_ids) != 1:
        raise ValueError(f"not a message id: {message_id!r}")

    msg = EmailMessage(policy=REPLY_POLICY)
    msg["From"] = _address(from_name, from_address, "From")
    msg["To"] = _address(to_name, to_address, "To")
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
    return msg
