"""Automatic-mail etiquette: when a personal responder must stay silent (RFC 3834, RFC 5230,
Pigeonhole's vacation; STANDARDS.md section 1) and the calendar METHODs a message carries.
How often one sender may be answered is the desk's (`rules.desk.limit_reason`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence

from rules.mail.words import fold
from rules.model import InboundMessage

_OOO_SUBJECT_RE = re.compile(
    r"^\s*(\[[^\]]*\]\s*)?(automatic reply|auto reply|auto-reply|autoreply|auto response|"
    r"auto-response|autoresponse|reponse automatique|out of office|out of the office|"
    r"absence|abwesend|abwesenheitsnotiz|respuesta automatica|risposta automatica)\b"
    r"|\b(out of (the )?office|reponse automatique|automatic reply|message d'absence)\b",
    re.IGNORECASE,
)
# Non-standard headers that mark an automatic message: header name (lower-case) -> a word its value
# must contain ("" means any value). `X-Autoreply: no` says the opposite and is skipped.
AUTO_REPLY_HEADERS: Mapping[str, str] = {
    "x-autoreply": "",
    "x-autorespond": "",
    "x-autoresponder": "",
    "x-auto-reply": "",
    "x-apple-action": "vacation",
    "x-failed-recipients": "",
}
_ROBOT_LOCAL_PARTS = ("mailer-daemon", "postmaster", "listserv", "majordomo")
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
_SUPPRESS_VALUES = frozenset({"all", "autoreply", "oof"})


def matches_pattern(address: str, patterns: Sequence[str]) -> bool:
    """Whether the address matches any shell-style pattern, case-insensitively."""
    address = address.strip().lower()
    if not address:
        return False
    return any(fnmatch.fnmatchcase(address, p.strip().lower()) for p in patterns if p.strip())


def _mailbox(address: str) -> str:
    """The address without a +subaddress tag: jane+clients@x and jane@x are one mailbox."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.split('+', 1)[0] or local}@{domain}"


def _is_self(address: str, self_addresses: Iterable[str]) -> bool:
    if not address:
        return False
    mine = {_mailbox(a) for a in self_addresses}
    return _mailbox(address) in mine


def _local_part(address: str) -> str:
    return address.rpartition("@")[0] if "@" in address else address


def _robot_reason(address: str, what: str) -> str | None:
    local = _local_part(address.lower())
    if not local:
        return None
    if local in _ROBOT_LOCAL_PARTS:
        return f"{what} {address} is a mail system or list robot (RFC 3834 §2)"
    if "-request" in local or local.startswith("owner-"):
        return f"{what} {address} is a list address (RFC 3834 §2, RFC 5230 §4.6)"
    return None


def _strip_comments(value: str) -> str:
    """A header value without its RFC 5322 (comments), nested ones included."""
    out: list[str] = []
    depth = 0
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            continue
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def auto_submitted_value(raw: str) -> str:
    """The keyword of one Auto-Submitted value: comments and parameters dropped, lower-cased."""
    return _strip_comments(raw).split(";", 1)[0].strip().lower()


def auto_reply_markers(headers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The non-standard headers (AUTO_REPLY_HEADERS) that mark this message as automatic."""
    markers: list[str] = []
    for name, value in headers:
        wanted = AUTO_REPLY_HEADERS.get(name)
        if wanted is None:
            continue
        text = value.strip().lower()
        if (wanted and wanted not in text) or (name == "x-autoreply" and text == "no"):
            continue
        shown = "-".join(part.capitalize() for part in name.split("-"))  # X-Apple-Action
        label = shown if not wanted else f"{shown}: {text}"
        if label not in markers:
            markers.append(label)
    return tuple(markers)


def not_for_us(msg: InboundMessage, self_addresses: frozenset[str]) -> str | None:
    """Why a personal responder must not answer this message (STANDARDS.md §1), or None."""
    if msg.return_path is None:
        return "no Return-Path: a bounce or a notification (RFC 3834 §2)"
    if msg.return_path == "":
        return "empty Return-Path <>: a bounce or a notification (RFC 3834 §2)"
    if not msg.from_address:
        return "no readable sender address"
    if _is_self(msg.from_address, self_addresses):
        return f"sent by the freelancer ({msg.from_address})"
    if msg.is_report or msg.content_type == "multipart/report":
        return "a delivery report (multipart/report, RFC 3834 §2)"
    for address, what in (
        (msg.from_address, "sender"),
        (msg.return_path, "Return-Path"),
        (msg.reply_to, "Reply-To"),
    ):
        reason = _robot_reason(address, what)
        if reason:
            return reason
    if msg.list_headers:
        return f"mailing list mail ({', '.join(msg.list_headers)}; RFC 5230 §4.6)"
    for raw in msg.auto_submitted:
        if auto_submitted_value(raw) != "no":
            return f"Auto-Submitted: {raw.strip() or '(empty)'} (RFC 3834 §5)"
    precedence = auto_submitted_value(msg.precedence)
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence} (RFC 3834 §7)"
    suppress = {
        t.strip().lower() for t in re.split(r"[,;\s]+", msg.x_auto_response_suppress) if t.strip()
    }
    if suppress & _SUPPRESS_VALUES:
        return f"X-Auto-Response-Suppress: {msg.x_auto_response_suppress} (MS-OXCMAIL 2.1.3.2.20)"
    markers = auto_reply_markers(msg.headers)
    if markers:
        return f"an automatic message ({', '.join(markers)})"
    if _OOO_SUBJECT_RE.search(fold(msg.subject)):
        return f"an out-of-office reply by its subject ({msg.subject!r})"
    if _is_self(msg.reply_to, self_addresses):
        return f"Reply-To is the freelancer ({msg.reply_to}): an answer would loop"
    if not any(_is_self(a, self_addresses) for a in msg.recipients):
        return "none of the freelancer's addresses is among the recipients (RFC 5230 §4.5)"
    return None


_METHOD_RE = re.compile(
    r"^METHOD[ \t]*(?:;[^:\n]*)?:[ \t]*([A-Za-z-]+)", re.IGNORECASE | re.MULTILINE
)


def calendar_methods(ics: str) -> tuple[str, ...]:
    """The METHOD values written inside an iCalendar text, upper-cased, in order."""
    unfolded = re.sub(r"\r?\n[ \t]", "", ics.replace("\r\n", "\n"))
    found: list[str] = []
    for match in _METHOD_RE.finditer(unfolded):
        method = match.group(1).upper()
        if method not in found:
            found.append(method)
    return tuple(found)
