"""The booking desk's inbox pass: read what arrived, decide, answer once.

Position per folder is (UIDVALIDITY, last UID handled) in the state database, advanced in the same
transaction as the message's own record, after its reply is done: a crash at any point makes the
next pass see the message again, and the outbox's ledger makes sure its reply is not sent twice.
The client's message is read with BODY.PEEK (its \\Seen flag never changes); only \\Answered (and
$Frontdesk where the server keeps keywords) is added once a reply is sent.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING

from connectors.ical import MalformedObject, calendar_items
from connectors.imap import FolderState, Mailbox, MailError
from connectors.mailparse import MalformedMessage, parse_message
from connectors.outbound import build_reply, reply_message_id
from rules.availability import offer
from rules.mail import (
    RATE_WINDOW,
    Answer,
    Ignore,
    Invitation,
    Review,
    classify,
    rate_limit,
)
from rules.model import InboundMessage
from rules.recurrence import MIN_SERIES_OCCURRENCES
from rules.replies import booking_reply, objection_reply

if TYPE_CHECKING:
    from daemon.app import Service
    from daemon.guard import Guard, GuardReport
    from daemon.outbox import Outbox

log = logging.getLogger(__name__)

KEYWORD = "$Frontdesk"


@dataclass
class InboxReport:
    seen: int = 0
    replied: int = 0
    drafted: int = 0
    ignored: int = 0
    reviewed: int = 0
    failed: int = 0
    stopped: str = ""  # why the pass stopped before the end (a temporary failure), if it did
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """What frontdesk would do with one message (for `explain` and for the pass)."""

    message: InboundMessage
    decision: Ignore | Review | Invitation | Answer
    reply: EmailMessage | None = None
    recipient: str = ""


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def recipient_of(msg: InboundMessage) -> str:
    return msg.reply_to or msg.from_address


def label(msg: InboundMessage) -> str:
    subject = msg.subject if len(msg.subject) <= 60 else msg.subject[:57] + "..."
    return f"{msg.from_address or '(no sender)'} '{subject}'"


class Inbox:
    def __init__(self, service: Service, *, guard: Guard, outbox: Callable[[], Outbox | None],
                 dry_run: bool, emit: Callable[[str], None]) -> None:
        self.service = service
        self.config = service.config
        self.policy = service.config.policy
        self.db: sqlite3.Connection = service.db
        self.guard = guard
        self._outbox = outbox
        self.dry_run = dry_run
        self.emit = emit
        self.mail = self.config.mail  # None only for `explain`, which never touches the inbox

    # -- deciding (pure apart from the calendar read) --

    def plan(self, msg: InboundMessage, now: datetime) -> Plan:
        decision = classify(msg, self.policy)
        if not isinstance(decision, Answer):
            return Plan(msg, decision)
        recipient = recipient_of(msg)
        freelancer = self.policy.freelancer
        if decision.kind == "booking":
            # the pass's busy time, read once (the guard's window covers the whole horizon)
            slots = offer(self.policy, self.guard.busy(now), now)
            text = booking_reply(self.policy, language=decision.language,
                                 client_name=msg.from_name, original_subject=msg.subject,
                                 slots=slots, templates=self.service.templates())
        else:
            text = objection_reply(self.policy, language=decision.language,
                                   client_name=msg.from_name, original_subject=msg.subject,
                                   templates=self.service.templates())
        domain = freelancer.email.rpartition("@")[2] or "frontdesk.invalid"
        reply = build_reply(
            reply=text, from_address=freelancer.email, from_name=freelancer.name,
            to_address=recipient, to_name=msg.from_name if recipient == msg.from_address else "",
            in_reply_to="" if msg.message_id_synthetic else f"<{msg.message_id}>",
            references=[f"<{ref}>" for ref in msg.references],
            message_id=reply_message_id(msg.message_id, decision.kind, domain), now=now)
        return Plan(msg, decision, reply, recipient)

    # -- the pass --

    def run(self, now: datetime, guard_report: GuardReport, *,
            backfill_hours: float | None = None,
            should_stop: Callable[[], bool] | None = None) -> InboxReport:
        report = InboxReport()
        assert self.mail is not None
        box = self.service.mailbox()
        state = box.select(self.mail.inbox)
        uids = self._new_uids(box, state, now, backfill_hours)
        if not uids:
            return report
        for fetched in box.fetch(uids):
            if not self._handle(box, state, fetched.uid, fetched.raw, now, report,
                                guard_report):
                # a temporary failure: stop here, the next pass starts from this message
                report.stopped = f"message UID {fetched.uid} must be tried again"
                break
            if should_stop is not None and should_stop():
                report.stopped = "stopping"
                break
        return report

    def _new_uids(self, box: Mailbox, state: FolderState, now: datetime,
                  backfill_hours: float | None) -> list[int]:
        row = self.db.execute("SELECT uidvalidity, last_uid FROM mailboxes WHERE folder = ?",
                              (state.name,)).fetchone()
        uids: set[int] = set()
        if backfill_hours:
            uids.update(box.uids_since(now - timedelta(hours=backfill_hours)))
        if row is None:
            # first start: only what arrives from now on (plus an explicit backfill)
            if not self.dry_run:
                self._set_position(state.name, state.uidvalidity, max(state.uidnext - 1, 0))
            return sorted(uids)
        if int(row["uidvalidity"]) != state.uidvalidity:
            log.warning("%s: UIDVALIDITY changed (%s -> %s); rescanning by Message-ID",
                        state.name, row["uidvalidity"], state.uidvalidity)
            started = self._fact_time("inbox_position_at") or now - timedelta(days=7)
            candidates = box.uids_since(started)
            known = {r[0] for r in self.db.execute("SELECT message_id FROM messages")}
            fresh = [u for u, mid in box.message_ids(candidates).items()
                     if mid.strip().strip("<>") not in known]
            if not self.dry_run:
                self._set_position(state.name, state.uidvalidity, 0)
            return sorted(uids.union(fresh))
        uids.update(box.uids_after(int(row["last_uid"])))
        return sorted(uids)

    def _fact_time(self, key: str) -> datetime | None:
        from daemon.state import get_fact

        value = get_fact(self.db, key)
        try:
            return datetime.fromisoformat(value) if value else None
        except ValueError:
            return None

    def _set_position(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        from daemon.state import set_fact

        self.db.execute(
            "INSERT INTO mailboxes (folder, uidvalidity, last_uid) VALUES (?, ?, ?) "
            "ON CONFLICT(folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
            "last_uid = MAX(CASE WHEN mailboxes.uidvalidity = excluded.uidvalidity "
            "THEN mailboxes.last_uid ELSE 0 END, excluded.last_uid)",
            (folder, uidvalidity, last_uid))
        set_fact(self.db, "inbox_position_at", datetime.now(UTC).isoformat(timespec="seconds"))

    def _handle(self, box: Mailbox, state: FolderState, uid: int, raw: bytes, now: datetime,
                report: InboxReport, guard_report: GuardReport) -> bool:
        """Handle one message; False to stop the pass (a temporary failure)."""
        report.seen += 1
        try:
            msg = parse_message(raw)
        except MalformedMessage as exc:
            log.warning("message UID %d in %s skipped: %s", uid, state.name, exc)
            self._record(state, uid, f"uid:{state.uidvalidity}:{uid}", "", "failed", str(exc))
            report.failed += 1
            return True
        except Exception as exc:  # a parser bug must not stop the inbox: record and go on
            log.exception("message UID %d in %s made the parser fail", uid, state.name)
            self._record(state, uid, f"uid:{state.uidvalidity}:{uid}", "", "failed",
                         f"parser failure: {exc!r}")
            report.failed += 1
            return True
        done = self.db.execute("SELECT kind FROM messages WHERE message_id = ?",
                               (msg.message_id,)).fetchone()
        if done is not None:
            self._advance(state, uid)
            return True
        try:
            plan = self.plan(msg, now)
        except Exception as exc:
            log.exception("message %s from %s could not be decided", msg.message_id,
                          msg.from_address)
            self._record(state, uid, msg.message_id, msg.from_address, "failed", repr(exc))
            report.failed += 1
            return True
        decision = plan.decision
        if isinstance(decision, Ignore):
            log.info("ignored %s: %s", label(msg), decision.reason)
            report.ignored += 1
            self._record(state, uid, msg.message_id, msg.from_address, "ignored", decision.reason)
            return True
        if isinstance(decision, Review):
            self._say(report, f"left for review {label(msg)}: {decision.reason}")
            report.reviewed += 1
            self._record(state, uid, msg.message_id, msg.from_address, "review", decision.reason)
            return True
        if isinstance(decision, Invitation):
            return self._invitation(state, uid, msg, decision, now, report, guard_report)
        return self._answer(box, state, uid, plan, now, report)

    def _invitation(self, state: FolderState, uid: int, msg: InboundMessage,
                    decision: Invitation, now: datetime, report: InboxReport,
                    guard_report: GuardReport) -> bool:
        horizon_end = now + timedelta(days=self.policy.booking.horizon_days)
        complete = True
        for _method, ics in decision.parts:
            try:
                items = calendar_items(ics, now, horizon_end, self.policy.zone,
                                   min_occurrences=MIN_SERIES_OCCURRENCES)
            except MalformedObject as exc:
                log.warning("invitation in %s unreadable: %s", label(msg), exc)
                continue
            for item in items:
                complete = self.guard.judge(item, now, None, guard_report,
                                            request_raw=ics.encode("utf-8")) and complete
        if not complete:
            return False
        self._record(state, uid, msg.message_id, msg.from_address, "invitation", decision.reason)
        return True

    def _answer(self, box: Mailbox, state: FolderState, uid: int, plan: Plan, now: datetime,
                report: InboxReport) -> bool:
        msg, decision, reply = plan.message, plan.decision, plan.reply
        assert isinstance(decision, Answer) and reply is not None
        outbox = self._outbox()
        assert outbox is not None
        message_id = str(reply["Message-ID"])
        if outbox.state(message_id) is None:
            limited = self._rate_limited(outbox, plan.recipient, decision.kind, now)
            if limited:
                log.info("not answered %s: %s", label(msg), limited)
                report.ignored += 1
                self._record(state, uid, msg.message_id, msg.from_address, "ignored", limited)
                return True
        words = ", ".join(decision.fired)
        if self.dry_run:
            self._say(report, f"would reply ({decision.kind}, {decision.language}) to "
                              f"{plan.recipient} for {label(msg)} [{words}]")
            return True
        assert self.mail is not None
        draft = self.mail.mode == "draft"
        outcome = outbox.deliver(reply, kind=decision.kind, recipient=plan.recipient,
                                 in_reply_to=msg.message_id, draft=draft)
        if outcome.state == "retry":
            return False
        if outcome.state == "failed":
            report.failed += 1
            self._say(report, f"could not reply to {plan.recipient}: {outcome.detail}")
            self._record(state, uid, msg.message_id, msg.from_address, "failed", outcome.detail)
            return True
        if outcome.repeated:
            # done before a crash or restart; finish what may not have been finished
            log.info("already replied to %s for %s before a restart", plan.recipient, label(msg))
            if outcome.state == "sent":
                self._flag_answered(box, state, uid)
        elif outcome.state == "sent":
            report.replied += 1
            self._flag_answered(box, state, uid)
            self._say(report, f"replied ({decision.kind}, {decision.language}) to "
                              f"{plan.recipient} for {label(msg)} [{words}]")
        else:
            report.drafted += 1
            self._say(report, f"drafted a reply ({decision.kind}, {decision.language}) to "
                              f"{plan.recipient} for {label(msg)} in {self.mail.drafts_folder}")
        self._record(state, uid, msg.message_id, msg.from_address, decision.kind,
                     f"{outcome.state}: {decision.reason}")
        return True

    def _rate_limited(self, outbox: Outbox, recipient: str, kind: str, now: datetime) -> str:
        since = now - RATE_WINDOW
        return rate_limit(recipient, kind, outbox.recent_count(recipient, since, kind),
                          outbox.recent_count(recipient, since)) or ""

    def _flag_answered(self, box: Mailbox, state: FolderState, uid: int) -> None:
        flags = ["\\Answered", KEYWORD] if state.keywords_ok else ["\\Answered"]
        try:
            box.add_flags(uid, flags)
        except MailError as exc:
            log.warning("could not mark UID %d as answered: %s", uid, exc)

    def _record(self, state: FolderState, uid: int, message_id: str, sender: str, kind: str,
                reason: str) -> None:
        if self.dry_run:
            return
        self.db.execute("BEGIN")
        try:
            self.db.execute(
                "INSERT INTO messages (message_id, folder, uid, sender, kind, reason, handled_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(message_id) DO NOTHING",
                (message_id, state.name, uid, sender, kind, reason, _now_text()))
            self._advance(state, uid)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _advance(self, state: FolderState, uid: int) -> None:
        if self.dry_run:
            return
        self.db.execute("UPDATE mailboxes SET last_uid = MAX(last_uid, ?) WHERE folder = ? AND "
                        "uidvalidity = ?", (uid, state.name, state.uidvalidity))

    def _say(self, report: InboxReport, line: str) -> None:
        report.lines.append(line)
        self.emit(line)


def explain_message(service: Service, raw: bytes, now: datetime) -> tuple[list[str], str]:
    """What frontdesk would do with one message: (lines about the decision, the reply text)."""
    from daemon.guard import Guard, GuardReport

    lines: list[str] = []
    msg = parse_message(raw)
    guard = Guard(service, outbox=lambda: None, dry_run=True, emit=lines.append)
    inbox = Inbox(service, guard=guard, outbox=lambda: None, dry_run=True, emit=lines.append)
    plan = inbox.plan(msg, now)
    decision = plan.decision
    lines.insert(0, f"message {msg.message_id} from {msg.from_address or '(no sender)'}: "
                    f"{msg.subject!r}")
    if isinstance(decision, Answer):
        lines.append(f"decision: reply ({decision.kind}) in {decision.language}: "
                     f"{decision.reason}")
        lines.append("words that fired: " + (", ".join(decision.fired) or "(none)"))
    elif isinstance(decision, Invitation):
        lines.append(f"decision: invitation: {decision.reason}")
        horizon_end = now + timedelta(days=service.config.policy.booking.horizon_days)
        replies: list[str] = []
        for _method, ics in decision.parts:
            for item in calendar_items(ics, now, horizon_end, service.config.policy.zone,
                                       min_occurrences=MIN_SERIES_OCCURRENCES):
                guard.judge(item, now, None, GuardReport(), request_raw=ics.encode("utf-8"))
                imip = guard.preview(item, now, ics.encode("utf-8"))
                if imip is not None:
                    replies.append(imip.as_string())
        if replies:
            return lines, "\n".join(replies)
    else:
        kind = "ignore" if isinstance(decision, Ignore) else "leave for review"
        lines.append(f"decision: {kind}: {decision.reason}")
    text = ""
    if plan.reply is not None:
        text = plan.reply.as_string()
    return lines, text
