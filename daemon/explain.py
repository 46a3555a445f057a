"""`frontdesk explain FILE.eml`: what frontdesk would do with one email, why, and the reply.

The same planning as a pass (daemon.inbox, daemon.guard), on a private in-memory ledger whose
mirror is copied from the service's state: nothing is stored, nothing is sent.
"""

from __future__ import annotations

import email
import email.policy
import logging
from datetime import datetime
from email.message import EmailMessage

from connectors.budget import Budget
from connectors.mailparse import MalformedMessage, parse_message
from daemon.app import App, invitation_lines
from daemon.config import Config
from daemon.errors import UserError
from daemon.guard import Guard
from daemon.inbox import MESSAGE_CPU_SECONDS, Inbox
from daemon.ledger import Ledger, LedgerError, Outcome
from daemon.plan import MessagePlan, SendMail
from rules.replies import clean_line

log = logging.getLogger(__name__)


def readable(mail: SendMail) -> str:
    """The email as its reader sees it: the headers that matter, then the decoded text."""
    message = email.message_from_bytes(mail.body, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    lines = [f"{name}: {clean_line(str(value), 998)}" for name, value in message.items()
             if name.lower() not in ("content-transfer-encoding", "mime-version")]
    parts = list(message.walk()) if message.is_multipart() else [message]
    for part in parts:
        if part.is_multipart():
            continue
        content = part.get_content()
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        lines += ["", f"[{part.get_content_type()}]" if message.is_multipart() else "",
                  text.rstrip("\n")]
    return "\n".join(line for line in lines if line is not None)


def _with_return_path(raw: bytes) -> tuple[bytes, str]:
    """A hand-written .eml has no Return-Path, which delivered mail always has: judge it as if
    delivered from its From address, and say so."""
    try:
        first = parse_message(raw)
    except MalformedMessage as exc:
        raise UserError(f"not a readable email: {exc}") from None
    if first.return_path is not None or not first.from_address:
        return raw, ""
    note = (f"note: the file has no Return-Path; judged as if delivered from its From address "
            f"<{first.from_address}>")
    return f"Return-Path: <{first.from_address}>\r\n".encode() + raw, note


def explain(config: Config, raw: bytes, *, file_name: str = "") -> tuple[list[str], str]:
    """(lines about the decision, the reply as its reader sees it, "" when none)."""
    raw, note = _with_return_path(raw)
    with App(config, ledger=Ledger.open(None)) as app:
        try:
            existing = Ledger.open_existing(config.daemon.state_dir, migrate=False)
        except LedgerError as exc:
            log.warning("warning: the service's state is not read: %s", exc)
            existing = None
        if existing is not None:
            with existing:
                app.ledger.copy_mirror_from(existing)
        try:
            app.sync_calendars()
        except UserError as exc:
            log.warning("warning: slots come from the last synced copy: %s", exc)
        now = datetime.now(config.policy.zone)
        budget = Budget(MESSAGE_CPU_SECONDS, what="handling an email")
        try:
            msg = parse_message(raw)
        except MalformedMessage as exc:
            raise UserError(f"{file_name or 'the file'} is not a readable email: {exc}") from None
        guard = Guard(config, app.ledger, app.templates(), dry_run=True, explaining=True)
        inbox = Inbox(config, app.ledger, guard, app.templates(), dry_run=True)
        plan = inbox.plan(msg, 0, now, app.busy_for_offers(now), budget)
    lines = [f"message {msg.message_id} from {msg.from_address or '(no sender)'}: "
             f"{clean_line(msg.subject, 200)!r}"]
    if note:
        lines.append(note)
    if config.mail is None:
        lines.append("note: there is no [mail] section: nothing would actually be sent")
    lines += _decision_lines(plan)
    reply = ""
    change_mails = [c.mail for c in plan.changes if c.mail is not None]
    if plan.booking is not None:
        reply = readable(plan.booking.confirmation)
    elif change_mails:
        reply = "\n".join(readable(m) for m in change_mails)
    elif plan.mail is not None:
        reply = readable(plan.mail)
    else:
        texts = [readable(i.mail) for i in plan.invitations if i.mail is not None]
        reply = "\n".join(texts)
    return lines, reply


def _decision_lines(plan: MessagePlan) -> list[str]:
    outcome = plan.outcome
    if outcome is Outcome.BOOKED and plan.booking is not None:
        booking = plan.booking
        return [f"decision: book: {plan.reason}",
                f"answers the offer {booking.offer_id}",
                f"would book: {booking.appointment.start:%Y-%m-%d %H:%M}-"
                f"{booking.appointment.end:%H:%M} for {booking.confirmation.recipient} "
                f"(event {booking.href})"]
    if outcome is Outcome.CHANGED:
        lines = [f"decision: change the appointment: {plan.reason}"]
        lines += [f"would {c.what}" + (f" and send {c.mail.recipient} the {c.mail.kind} "
                                       "update" if c.mail is not None else ", no email")
                  for c in plan.changes]
        return lines
    if outcome in (Outcome.REPLIED, Outcome.DRAFTED):
        how = "draft a reply" if outcome is Outcome.DRAFTED else "reply"
        lines = [f"decision: {how} ({plan.kind}) in {plan.language}: {plan.reason}",
                 "signals:", *(f"  - {s}" for s in plan.fired or ("(none)",))]
        if plan.mail is not None:
            lines.append(f"to: {plan.mail.recipient}")
        lines += [f"would {c.what}" + (f" ({c.flag})" if c.flag else "") for c in plan.changes]
        return lines
    if outcome is Outcome.INVITATION:
        lines = [f"decision: invitation: {plan.reason}"]
        for invitation in plan.invitations:
            lines += invitation_lines(invitation, dry_run=True) or [
                f"'{invitation.item.summary}': {invitation.verb}: {invitation.reason}"]
        return lines
    if outcome is Outcome.WAITING:
        return [f"decision: wait: {plan.reason}"]
    if outcome is Outcome.IGNORED:
        return [f"decision: ignore: {plan.reason}"]
    if outcome is Outcome.LEFT:
        return [f"decision: leave for review: {plan.reason}"]
    return [f"decision: set aside: {plan.reason}"]
