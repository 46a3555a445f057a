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

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from connectors.budget import Budget, OverBudget
from connectors.ical import MalformedObject
from connectors.imap import FolderState, Mailbox
from connectors.itip import booking_calendars, booking_message_id, imip_request_message
from connectors.mailparse import MalformedMessage, parse_message
from connectors.outbound import build_reply, reply_message_id
from daemon.config import Config
from daemon.guard import Guard
from daemon.ledger import (
    FACT_POSITION_AT,
    AppointmentState,
    Ledger,
    OfferState,
    Outcome,
    rate_key,
)
from daemon.plan import CreateEvent, MessagePlan, SendMail, wire
from rules.desk import (
    BookIt,
    Choose,
    ForFreelancer,
    Ignore,
    JudgeInvitations,
    Reply,
    Request,
    SentCounts,
    WaitForCalendar,
    answer,
    answer_choice,
    read,
    repeat_window,
)
from rules.mail import not_for_us
from rules.model import Appointment, BusyInterval, InboundMessage, MailContext, Offer, Slot
from rules.replies import Templates, clean_title, format_slot, service_name

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

    def read(self, raw: bytes, budget: Budget, size: int | None = None) -> InboundMessage:
        budget.check("reading an email")
        return parse_message(raw, size=size)

    def too_big(self, msg: InboundMessage, uid: int, size: int) -> MessagePlan:
        """A message over mail.max_message_mb: only its header was read; the freelancer sees it
        (unless its header alone says it is nothing to answer)."""
        limit = self.config.mail.max_message_bytes if self.config.mail else 0
        reason = (f"too big to read ({size / 1_048_576:.1f} MB, over mail.max_message_mb = "
                  f"{limit / 1_048_576:g}): only its header was read")
        silent = not_for_us(msg, self.policy.freelancer.addresses)
        if silent:
            return self._plan(msg, uid, "", Outcome.IGNORED, f"{silent} ({reason})")
        return self._plan(msg, uid, "", Outcome.LEFT, reason, flagged=True)

    def plan(self, msg: InboundMessage, uid: int, now: datetime,
             busy: Sequence[BusyInterval] | None, budget: Budget | None = None) -> MessagePlan:
        """The plan for one email. `busy` is None when the calendar is not fresh enough to
        offer times from (booking requests and emailed invitations then wait for it)."""
        budget = budget or Budget(MESSAGE_CPU_SECONDS, what="handling an email")
        handled = self.ledger.handled(msg.message_id)
        if handled is not None and handled.outcome.final:
            return self._plan(msg, uid, "", Outcome.IGNORED, "handled before", record=False)
        zone = self.policy.zone
        offer = (self.ledger.offer_in_thread([msg.in_reply_to, *msg.references], zone)
                 or next(iter(reversed(self.ledger.offers(state=OfferState.OPEN,
                                                          client=msg.from_address,
                                                          zone=zone))), None))
        if offer is not None and offer.state not in (OfferState.OPEN, OfferState.BOOKED):
            offer = None
        if offer is not None and offer.state == OfferState.BOOKED:
            offer = None  # a reply after the booking: the appointment's business (issue 13)
        mail = self.config.mail
        reading = read(msg, self.policy, self.context(msg, now, busy), offer,
                       authserv_ids=mail.authserv_ids if mail is not None else ())
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
        if isinstance(reading, Choose):
            return self._choice(msg, uid, reading, now, busy)
        return self._answer(msg, uid, reading, now, busy)

    def _choice(self, msg: InboundMessage, uid: int, choice: Choose, now: datetime,
                busy: Sequence[BusyInterval] | None) -> MessagePlan:
        """A reply to an offer: book the time it chooses, or answer it."""
        zone = self.policy.zone
        decision = answer_choice(
            choice, msg, policy=self.policy, now=now, busy=busy, templates=self.templates,
            sent=SentCounts(), offers=self.ledger.offers(state=OfferState.OPEN, zone=zone),
            booked=self.ledger.appointments(after=now, zone=zone),
            draft_mode=self.config.mail is not None and self.config.mail.mode == "draft")
        if isinstance(decision, WaitForCalendar):
            return self._plan(msg, uid, "choice", Outcome.WAITING, decision.reason)
        if isinstance(decision, ForFreelancer):
            return self._plan(msg, uid, "choice", Outcome.LEFT, decision.reason, flagged=True)
        if isinstance(decision, BookIt):
            return self._book(msg, uid, decision, now)
        kind = decision.kind
        domain = self.policy.freelancer.email.rpartition("@")[2] or "frontdesk.invalid"
        message_id = reply_message_id(msg.message_id, kind, domain)
        plan = self._reply_plan(msg, uid, decision, message_id, now)
        return _with(plan, kind="choice", asked_offer=choice.offer.offer_id
                     if kind == "unclear" else "")

    def _book(self, msg: InboundMessage, uid: int, book: BookIt, now: datetime) -> MessagePlan:
        policy = self.policy
        freelancer = policy.freelancer
        offer = book.offer
        domain = freelancer.email.rpartition("@")[2] or "frontdesk.invalid"
        key = f"{offer.offer_id}\0{book.slot.start.isoformat()}"
        uid_text = f"frontdesk-{hashlib.sha256(key.encode()).hexdigest()[:24]}@{domain}"
        language = book.text.language
        service = service_name(policy, offer.service, language)
        who = clean_title(msg.from_name or offer.client_name, 64) or book.to
        summary = f"{service or ('Rendez-vous' if language == 'fr' else 'Appointment')} — {who}"
        terms = [policy.terms.payment.text(language), policy.terms.cancellation.text(language)]
        description = "\n".join(t for t in terms if t)
        try:
            stored, request = booking_calendars(
                uid=uid_text, start=book.slot.start, end=book.slot.end, summary=summary,
                description=description, organizer=(freelancer.name, freelancer.email),
                attendee=(book.to_name, book.to), now=now, schedule_agent_client=True)
            message_id = booking_message_id(uid_text, 0, "confirmation", domain)
            message = imip_request_message(
                from_address=freelancer.email, from_name=freelancer.name, to_address=book.to,
                to_name=book.to_name, subject=book.text.subject, text=book.text.body,
                calendar=request, message_id=message_id, now=now,
                in_reply_to="" if msg.message_id_synthetic else f"<{msg.message_id}>",
                references=[f"<{ref}>" for ref in msg.references])
            body = wire(message)
        except (ValueError, TypeError, UnicodeError) as exc:
            return self._plan(msg, uid, "choice", Outcome.LEFT,
                              f"the booking cannot be written: {exc}", flagged=True)
        collection = self.config.calendar.url
        href = urlsplit(collection).path.rstrip("/") + "/" + \
            uid_text.replace("@", "-").replace("/", "-") + ".ics"
        appointment = Appointment(uid=uid_text, client=book.to, client_name=msg.from_name,
                                  service=offer.service, start=book.slot.start,
                                  end=book.slot.end, state=AppointmentState.PENDING.value,
                                  offer_id=offer.offer_id, language=language)
        mail = SendMail(message_id=message_id, recipient=book.to, kind="confirmation",
                        in_reply_to=msg.message_id, body=body, text=book.text.body)
        create = CreateEvent(appointment=appointment, collection=collection, href=href,
                             event=stored, confirmation=mail, offer_id=offer.offer_id,
                             also_asks=book.also_asks)
        reason = f"books {book.how}: {format_slot(book.slot, language, policy.zone)}"
        if book.also_asks:
            reason += "; the client also asks something: it is left for you too"
        plan = self._plan(msg, uid, "choice", Outcome.BOOKED, reason, flagged=book.also_asks)
        return _with(plan, booking=create, slots=(book.slot,), language=language)

    def _answer(self, msg: InboundMessage, uid: int, request: Request, now: datetime,
                busy: Sequence[BusyInterval] | None) -> MessagePlan:
        freelancer = self.policy.freelancer
        domain = freelancer.email.rpartition("@")[2] or "frontdesk.invalid"
        message_id = reply_message_id(msg.message_id, request.kind, domain)
        recorded = self.ledger.mail(message_id)
        # a reply recorded before (schema 1, or a crash) is the same reply: no limit applies
        sent = SentCounts() if recorded is not None else self.counts(request, now)
        zone = self.policy.zone
        decision = answer(request, msg, policy=self.policy, now=now, busy=busy,
                          templates=self.templates, sent=sent,
                          draft_mode=self.config.mail is not None and
                          self.config.mail.mode == "draft",
                          offers=self.ledger.offers(state=OfferState.OPEN, zone=zone),
                          booked=self.ledger.appointments(after=now, zone=zone))
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
        offer = None
        if reply.kind == "booking" and reply.slots:
            expires = reply.hold_until or now
            offer = Offer(offer_id=message_id, client=reply.to, client_name=msg.from_name,
                          language=reply.language, service=reply.service, slots=reply.slots,
                          created_at=now, expires_at=expires,
                          thread=tuple(dict.fromkeys([*msg.references, msg.message_id])))
        return _with(plan, mail=mail, slots=reply.slots, language=reply.language,
                     fired=reply.fired, offer=offer)

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
    if plan.outcome is Outcome.BOOKED and plan.booking is not None:
        who = plan.booking.confirmation.recipient
        return f"{'would book' if dry_run else 'booked'} for {who}: {plan.reason}"
    if plan.outcome is Outcome.LEFT:
        return f"left for you: {plan.label}: {plan.reason}"
    if plan.outcome is Outcome.WAITING:
        return f"waiting: {plan.label}: {plan.reason}"
    if plan.outcome is Outcome.FAILED:
        return f"set aside: {plan.label}: {plan.reason}"
    return None


def _subject(plan: MessagePlan) -> str:
    return plan.label.partition(" ")[2] or "(no subject)"
