"""Every email frontdesk sends goes through here, exactly once.

The ledger row (keyed by the reply's deterministic Message-ID) is written as `sending` before SMTP
and `sent` after; a row still `sending` after a crash is looked up in the Sent folder (or Drafts)
by Message-ID before anything is sent again. SMTP 4xx leaves no row (tried again next pass); 5xx
is recorded as `failed` with the reason and never retried.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from connectors.imap import Mailbox, MailError
from connectors.smtp import PermanentFailure, SmtpConfigError, SmtpSender, TemporaryFailure
from daemon.config import MailSettings
from daemon.faults import crash_point

log = logging.getLogger(__name__)

SENT = "sent"
DRAFTED = "drafted"
FAILED = "failed"
RETRY = "retry"  # a temporary failure: not sent, the next pass tries again
SENDING = "sending"
FILED = "filed"  # its copy is in the Sent folder; SMTP has not begun the content
DATA = "data"  # the recipients were accepted and the content is going out


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as it goes on the wire: CRLF, folded by the message's own policy (which keeps
    long Message-IDs in References unencoded, so threads hold together)."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def utcnow_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Outcome:
    state: str  # sent | drafted | failed | retry
    detail: str = ""
    repeated: bool = False  # the ledger already had it: nothing was done now


class Outbox:
    def __init__(self, db: sqlite3.Connection, mail: MailSettings, *, envelope_from: str,
                 sender: Callable[[], SmtpSender], mailbox: Callable[[], Mailbox]) -> None:
        # RFC 3834 3.3: bounces of an automatic reply go to the freelancer's own address, where
        # frontdesk never answers a bounce (Return-Path <>); many submission servers refuse
        # MAIL FROM:<> from an authenticated user, so the empty sender is not used.
        self.envelope_from = envelope_from
        # `mailbox` returns the service's shared, connected IMAP session (not closed here)
        self.db = db
        self.mail = mail
        self._sender_factory = sender
        self._mailbox_factory = mailbox
        self._sender: SmtpSender | None = None

    def close(self) -> None:
        if self._sender is not None:
            try:
                self._sender.close()
            finally:
                self._sender = None

    def state(self, message_id: str) -> str | None:
        row = self.db.execute("SELECT state FROM replies WHERE message_id = ?",
                              (message_id,)).fetchone()
        return None if row is None else str(row[0])

    def recent_count(self, recipient: str, since: datetime, kind: str | None = None) -> int:
        """Automatic replies to this address since that time (for the rate limits)."""
        query = ("SELECT COUNT(*) FROM replies WHERE recipient = ? AND created_at >= ? "
                 "AND state IN ('sending', 'filed', 'data', 'sent', 'drafted')")
        params: list[str] = [recipient.lower(), since.astimezone(UTC).isoformat(timespec="seconds")]
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        return int(self.db.execute(query, params).fetchone()[0])

    def deliver(self, message: EmailMessage, *, kind: str, recipient: str, in_reply_to: str,
                draft: bool = False) -> Outcome:
        """Send (or file as a draft) once; safe to call again with the same Message-ID.

        The ledger row moves `sending` -> `filed` (its copy is in Sent) -> `data` (the
        recipients were accepted; the content is going out) -> `sent`. After a crash the state
        says what may have happened: before `data` nothing can have been delivered, so it is
        sent (its Sent copy is not filed twice); at `data` the server may have accepted it, so
        it is never sent again, unless the server files sent mail itself (sent_folder = "")
        and its Sent folder shows it was not.
        """
        message_id = str(message["Message-ID"])
        previous = self.state(message_id)
        if previous in (SENT, DRAFTED, FAILED):
            return Outcome(previous, "already done", repeated=True)
        if draft:
            return self._draft(message, message_id, previous, kind, recipient, in_reply_to)
        if previous == DATA:
            resolved = self._resolve_data(message_id)
            if resolved is not None:
                return resolved
        self._start(message_id, in_reply_to, recipient, kind, previous)
        if self.mail.sent_folder:
            present: bool | None = False
            if previous is not None:  # an earlier attempt may have filed it already
                present = self._filed(self.mail.sent_folder, message_id)
            if present is None:
                return self._retry(message_id, f"cannot look in {self.mail.sent_folder}")
            if not present:
                filed = self._file(message_id, self.mail.sent_folder, wire_bytes(message),
                                   ["\\Seen"], FILED)
                if filed.state != FILED:
                    return filed
            else:
                self._set(message_id, FILED, f"in {self.mail.sent_folder}")
        crash_point("before-smtp")
        try:
            self.sender().send(message, envelope_from=self.envelope_from,
                               recipients=[recipient],
                               before_data=lambda: self._set(message_id, DATA, None))
        except SmtpConfigError as exc:
            # wrong password, no STARTTLS...: a person must fix the settings; every reply
            # waits for that rather than failing for good
            self.close()
            log.error("cannot send: %s", exc)
            return self._retry(message_id, str(exc))
        except TemporaryFailure as exc:
            self.close()
            if exc.maybe_sent:
                # the content went out before the connection broke: it stays `data`, never
                # sent again (unless the server's own Sent folder shows it was not accepted)
                log.warning("reply to %s may have been sent (%s); not sent again", recipient,
                            exc)
                return Outcome(RETRY, str(exc))
            log.warning("reply to %s not sent yet (%s); will try again", recipient, exc)
            return self._retry(message_id, str(exc))
        except PermanentFailure as exc:
            self._set(message_id, FAILED, str(exc))
            log.error("reply to %s refused by the SMTP server: %s", recipient, exc)
            if self.mail.sent_folder:
                log.error("its copy in %s was never delivered", self.mail.sent_folder)
            return Outcome(FAILED, str(exc))
        crash_point("after-smtp")
        self._set(message_id, SENT, None)
        return Outcome(SENT)

    def _resolve_data(self, message_id: str) -> Outcome | None:
        """A send interrupted after its content started to go out: sent, or None to resend."""
        if self.mail.sent_folder:
            self._set(message_id, SENT, "interrupted while the server was taking it; "
                                        "counted as sent, never sent twice")
            log.info("reply %s was being sent when frontdesk stopped: not sent again",
                     message_id)
            return Outcome(SENT, "interrupted, counted as sent", repeated=True)
        # the server files what it accepts: its Sent folder answers the question
        found = self._filed(self._sent_lookup_folder(), message_id)
        if found is None:
            return Outcome(RETRY, f"cannot look in {self._sent_lookup_folder()}")
        if found:
            self._set(message_id, SENT, f"found in {self._sent_lookup_folder()} after a restart")
            return Outcome(SENT, "found after restart", repeated=True)
        return None

    def _start(self, message_id: str, in_reply_to: str, recipient: str, kind: str,
               previous: str | None) -> None:
        now = utcnow_text()
        self.db.execute(
            "INSERT INTO replies (message_id, in_reply_to, recipient, kind, state, detail, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, 'sending', NULL, ?, ?) "
            "ON CONFLICT(message_id) DO UPDATE SET state = 'sending', "
            "updated_at = excluded.updated_at",
            (message_id, in_reply_to, recipient.lower(), kind, now, now))

    def _draft(self, message: EmailMessage, message_id: str, previous: str | None, kind: str,
               recipient: str, in_reply_to: str) -> Outcome:
        folder = self.mail.drafts_folder
        if previous is not None:
            found = self._filed(folder, message_id)
            if found is None:
                return Outcome(RETRY, f"cannot look in {folder} for {message_id}")
            if found:
                self._set(message_id, DRAFTED, f"found in {folder} after a restart")
                return Outcome(DRAFTED, "found after restart", repeated=True)
        self._start(message_id, in_reply_to, recipient, kind, previous)
        return self._file(message_id, folder, wire_bytes(message), ["\\Draft", "\\Seen"],
                          DRAFTED)

    def _retry(self, message_id: str, why: str) -> Outcome:
        # not sent: the next pass sends it without concluding anything from a Sent copy
        self._set(message_id, RETRY, why)
        return Outcome(RETRY, why)

    def sender(self) -> SmtpSender:
        if self._sender is None:
            self._sender = self._sender_factory()
        return self._sender

    def _file(self, message_id: str, folder: str, raw: bytes, flags: list[str],
              state: str) -> Outcome:
        try:
            self._mailbox_factory().append(folder, raw, flags=flags)
        except MailError as exc:
            log.warning("could not file the reply in %s (%s); will try again", folder, exc)
            return self._retry(message_id, str(exc))
        if state != SENDING:
            self._set(message_id, state, f"in {folder}")
        return Outcome(state)

    def _sent_lookup_folder(self) -> str:
        return self.mail.sent_folder or "Sent"

    def _filed(self, folder: str, message_id: str) -> bool | None:
        """Is it in that folder? None when the folder cannot be searched now (never guess)."""
        try:
            return bool(self._mailbox_factory().find_message_id(folder, message_id))
        except MailError as exc:
            log.warning("cannot look for %s in %s (%s)", message_id, folder, exc)
            return None

    def _set(self, message_id: str, state: str, detail: str | None) -> None:
        self.db.execute("UPDATE replies SET state = ?, detail = ?, updated_at = ? "
                        "WHERE message_id = ?", (state, detail, utcnow_text(), message_id))
