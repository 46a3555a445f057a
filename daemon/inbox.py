"""The booking desk's inbox: which messages are new, and the plan for each.

Position per folder is (UIDVALIDITY, last UID handled) in the ledger, moved past a message in the
same transaction that records what was done with it (and queues its reply): a crash before that
makes the next pass read the message again; after it, the executor's resume finishes the reply.
Before a message is read it is claimed in the ledger, so one that stops frontdesk again and again
is set aside instead of being read for ever. The client's message is read with BODY.PEEK (its
\\Seen flag never changes); only \\Answered (and $Frontdesk where the server keeps keywords) is
added once a reply is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.budget import Budget, OverBudget
from connectors.ical import MalformedObject
from connectors.imap import FolderState, Mailbox
from connectors.mailparse import MalformedMessage, parse_message
from connectors.outbound import build_reply, reply_message_id
from daemon.config import Config
from daemon.guard import Guard
from daemon.ledger import (
    FACT_POSITION_AT,
    Ledger,
    Outcome,
    rate_key,
)
from daemon.plan import MessagePlan, SendMail, wire
from rules.desk import (
    ForFreelancer,
    Ignore,
    JudgeInvitations,
    Reply,
    Request,
    SentCounts,
    WaitForCalendar,
    answer,
    read,
    repeat_window,
)
from rules.model import BusyInterval, InboundMessage, MailContext, Slot
from rules.replies import Templates, clean_title

log = logging.getLogger(__name__)

# CPU one email may cost to read and decide (its calendar parts' expansion included); past it,
# it is set aside for the freelancer with that reason
MESSAGE_CPU_SECONDS = 5.0
# a message that stopped frontdesk this many times while it was being handled is set aside
MAX_ATTEMPTS = 3
_DAY = timedelta(days=1)


def label(msg: InboundMessage) -> str:
    """How log lines name a message: its sender and subject, once each."""
    subject = clean_title(msg.subject, 60) if msg.subject else "(no subject)"
    return f"{msg.from_address or '(no sender)'} '{subject}'"


# which of frontdesk's own emails a reply answers, by the outbox kind of that email
THREAD_OF = {"booking": "offer", "objection": "objection", "imip": "decline",
             "confirmation": "confirmation"}


@dataclass(frozen=True)
class NewMail:
    """What a pass reads in a folder."""

    uids: list[int]
    start_at: int | None = None  # the position to record before reading (None: keep it)
    first: bool = False  # the folder is read for the first time
    note: str = ""  # said once: mail that arrived before the first start is not answered


@dataclass
class ReplyTally:
    """Replies planned in this pass but not in the ledger (a dry run records nothing)."""

    by_key_kind: dict[tuple[str, str], int] = field(default_factory=dict)
    by_key: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def add(self, key: str, kind: str) -> None:
        self.by_key_kind[(key, kind)] = self.by_key_kind.get((key, kind), 0) + 1
        self.by_key[key] = self.by_key.get(key, 0) + 1
        self.total += 1


class Inbox:
    def __init__(self, config: Config, ledger: Ledger, guard: Guard, templates: Templates, *,
                 dry_run: bool) -> None:
        self.config = config
        self.policy = config.policy
        self.ledger = ledger
        self.guard = guard
        self.templates = templates
        self.dry_run = dry_run
        self.tally = ReplyTally()

    # -- which messages --

    def new_uids(self, box: Mailbox, state: FolderState, now: datetime,
                 backfill_hours: float | None) -> NewMail:
        """The UIDs to read now, where the folder's position starts when it has none yet (or a
        new UIDVALIDITY), and a sentence when mail that arrived earlier is not answered."""
        position = self.ledger.position(state.name)
        uids: set[int] = set()
        if backfill_hours:
            uids.update(box.uids_since(now - timedelta(hours=backfill_hours)))
        if position is None:
            # first start: only what arrives from now on (plus an explicit backfill)
            start = max(state.uidnext - 1, 0)
            skipped = state.exists - len(uids)
            note = ""
            if skipped > 0:
                since = now.astimezone(self.policy.zone).strftime("%Y-%m-%d %H:%M")
                note = (f"mail that arrived before {since} is not answered ({skipped} in "
                        f"{state.name}); `frontdesk once --backfill-hours N` takes the last N "
                        "hours")
            return NewMail(sorted(uids), start, first=True, note=note)
        if position.uidvalidity != state.uidvalidity:
            log.warning("%s: UIDVALIDITY changed (%s -> %s); rescanning by Message-ID",
                        state.name, position.uidvalidity, state.uidvalidity)
            started = self.ledger.fact_time(FACT_POSITION_AT) or now - timedelta(days=7)
            candidates = box.uids_since(started)
            known = self.ledger.known_message_ids()
            fresh = [u for u, mid in box.message_ids(candidates).items()
                     if mid.strip().strip("<>") not in known]
            return NewMail(sorted(uids.union(fresh)), 0)
        uids.update(box.uids_after(position.last_uid))
        return NewMail(sorted(uids))

    # -- one message --

    def read(self, raw: bytes, budget: Budget) -> InboundMessage:
        budget.check("reading an email")
        return parse_message(raw)

    def plan(self, msg: InboundMessage, uid: int, now: datetime,
             busy: Sequence[BusyInterval] | None, budget: Budget | None = None) -> MessagePlan:
        """The plan for one email. `busy` is None when the calendar is not fresh enough to
        offer times from (booking requests and emailed invitations then wait for it)."""
        budget = budget or Budget(MESSAGE_CPU_SECONDS, what="handling an email")
        handled = self.ledger.handled(msg.message_id)
        if handled is not None and handled.outcome.final:
            return self._plan(msg, uid, "", Outcome.IGNORED, "handled before", record=False)
        reading = read(msg, self.policy, self.context(msg, now, busy))
        if isinstance(reading, Ignore):
            return self._plan(msg, uid, reading.kind, Outcome.IGNORED, reading.reason)
        if isinstance(reading, ForFreelancer):
            return self._plan(msg, uid, reading.kind, Outcome.LEFT, reading.reason, flagged=True)
        if isinstance(reading, JudgeInvitations):
            if busy is None:
                return self._plan(msg, uid, "invitation", Outcome.WAITING,
                                  "waits for the calendar: it has not synced recently")
            try:
                invitations = self.guard.plan_email(reading.parts, now, busy, reading.sender,
                                                    budget)
            except MalformedObject as exc:
                return self._plan(msg, uid, "invitation", Outcome.LEFT,
                                  f"its invitation is unreadable: {exc}", flagged=True)
            plan = self._plan(msg, uid, "invitation", Outcome.INVITATION, reading.reason)
            return _with(plan, invitations=tuple(invitations))
        return self._answer(msg, uid, reading, now, busy)

    def _answer(self, msg: InboundMessage, uid: int, request: Request, now: datetime,
                busy: Sequence[BusyInterval] | None) -> MessagePlan:
        freelancer = self.policy.freelancer
        domain = freelancer.email.rpartition("@")[2] or "frontdesk.invalid"
        message_id = reply_message_id(msg.message_id, request.kind, domain)
        recorded = self.ledger.mail(message_id)
        # a reply recorded before (schema 1, or a crash) is the same reply: no limit applies
        sent = SentCounts() if recorded is not None else self.counts(request, now)
        decision = answer(request, msg, policy=self.policy, now=now, busy=busy,
                          templates=self.templates, sent=sent,
                          draft_mode=self.config.mail is not None and
                          self.config.mail.mode == "draft")
        if isinstance(decision, Ignore):
            return self._plan(msg, uid, request.kind, Outcome.IGNORED, decision.reason)
        if isinstance(decision, WaitForCalendar):
            return self._plan(msg, uid, request.kind, Outcome.WAITING, decision.reason)
        return self._reply_plan(msg, uid, decision, message_id, now)

    def _reply_plan(self, msg: InboundMessage, uid: int, reply: Reply, message_id: str,
                    now: datetime) -> MessagePlan:
        freelancer = self.policy.freelancer
        try:
            message = build_reply(
                reply=reply.text, from_address=freelancer.email, from_name=freelancer.name,
                to_address=reply.to, to_name=reply.to_name,
                in_reply_to="" if msg.message_id_synthetic else f"<{msg.message_id}>",
                references=[f"<{ref}>" for ref in msg.references], message_id=message_id,
                now=now)
            body = wire(message)
        except (ValueError, TypeError, UnicodeError) as exc:
            return self._plan(msg, uid, reply.kind, Outcome.LEFT,
                              f"the reply cannot be written: {exc}", flagged=True)
        mail = SendMail(message_id=message_id, recipient=reply.to, kind=reply.kind,
                        in_reply_to=msg.message_id, body=body, draft=reply.draft,
                        text=reply.text.body)
        if self.dry_run:
            self.tally.add(rate_key(reply.to), reply.kind)
        outcome = Outcome.DRAFTED if reply.draft else Outcome.REPLIED
        reason = reply.reason + (f"; drafted: {reply.draft_why}" if reply.draft_why else "")
        plan = self._plan(msg, uid, reply.kind, outcome, reason, flagged=reply.draft)
        return _with(plan, mail=mail, slots=reply.slots, language=reply.language,
                     fired=reply.fired)

    def context(self, msg: InboundMessage, now: datetime,
                busy: Sequence[BusyInterval] | None) -> MailContext:
        """What frontdesk knows around this email: which of its own replies it answers, who
        the sender is to the freelancer, and the sender's upcoming appointments."""
        kinds = self.ledger.thread_kinds([msg.in_reply_to, *msg.references])
        thread = next((THREAD_OF[k] for k in reversed(kinds) if k in THREAD_OF), "")
        key = rate_key(msg.from_address)
        appointments = tuple(sorted(
            (Slot(b.start, b.end) for b in busy or () if b.end > now and key in
             {rate_key(a) for a in b.attendees}), key=lambda s: s.start))
        if appointments or self.ledger.dealt_with(key):
            relation = "client"
        elif self.ledger.is_correspondent(key):
            relation = "personal"
        else:
            relation = "stranger"
        return MailContext(thread=thread, relation=relation, appointments=appointments)

    def counts(self, request: Request, now: datetime) -> SentCounts:
        key = rate_key(request.to)
        ledger = self.ledger
        tally = self.tally
        return SentCounts(
            same_kind=ledger.sent_count(now - repeat_window(self.policy), key=key,
                                        kind=request.kind)
            + tally.by_key_kind.get((key, request.kind), 0),
            to_recipient=ledger.sent_count(now - _DAY, key=key, exclude_kinds=("imip",))
            + tally.by_key.get(key, 0),
            last_hour=ledger.sent_count(now - timedelta(hours=1)) + tally.total
            + self.guard.tally.total,
            last_day=ledger.sent_count(now - _DAY) + tally.total + self.guard.tally.total)

    def _plan(self, msg: InboundMessage, uid: int, kind: str, outcome: Outcome, reason: str, *,
              flagged: bool = False, record: bool = True) -> MessagePlan:
        return MessagePlan(message_id=msg.message_id, sender=msg.from_address, label=label(msg),
                           uid=uid, kind=kind, outcome=outcome, reason=reason, flagged=flagged,
                           record=record)

    def unreadable(self, uid: int, folder: FolderState, exc: BaseException) -> MessagePlan:
        """The plan for a message that could not be read or decided: set aside, with why."""
        if isinstance(exc, MalformedMessage | OverBudget):
            why = str(exc)
        else:
            why = f"frontdesk failed on it: {exc!r}"
        return MessagePlan(message_id=f"uid:{folder.uidvalidity}:{uid}", sender="",
                           label=f"UID {uid} in {folder.name}", uid=uid, kind="",
                           outcome=Outcome.FAILED, reason=why, flagged=True)


def _with(plan: MessagePlan, **changes: object) -> MessagePlan:
    from dataclasses import replace

    return replace(plan, **changes)  # type: ignore[arg-type]


def describe(plan: MessagePlan, *, dry_run: bool) -> str | None:
    """The line `once` prints (and the log writes) for a message's plan; None for quiet ones."""
    if not plan.record and plan.outcome is Outcome.IGNORED:
        return None
    words = f" [{', '.join(plan.fired)}]" if plan.fired else ""
    kind = f"{plan.kind}, {plan.language}" if plan.language else plan.kind
    mail = plan.mail
    if plan.outcome is Outcome.REPLIED and mail is not None:
        verb = "would reply" if dry_run else "replied"
        return f"{verb} ({kind}) to {mail.recipient} about {_subject(plan)}{words}"
    if plan.outcome is Outcome.DRAFTED and mail is not None:
        verb = "would draft" if dry_run else "drafted"
        return (f"{verb} a reply ({kind}) to {mail.recipient} about {_subject(plan)}: "
                f"{plan.reason.rpartition('drafted: ')[2]}")
    if plan.outcome is Outcome.LEFT:
        return f"left for you: {plan.label}: {plan.reason}"
    if plan.outcome is Outcome.WAITING:
        return f"waiting: {plan.label}: {plan.reason}"
    if plan.outcome is Outcome.FAILED:
        return f"set aside: {plan.label}: {plan.reason}"
    return None


def _subject(plan: MessagePlan) -> str:
    return plan.label.partition(" ")[2] or "(no subject)"
