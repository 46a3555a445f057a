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
from connectors.itip import (
    booking_calendars,
    booking_message_id,
    imip_request_message,
    read_answers,
)
from connectors.mailparse import MalformedMessage, parse_message
from connectors.outbound import build_reply, reply_message_id
from daemon.config import Config
from daemon.guard import Guard
from daemon.ledger import (
    FACT_POSITION_AT,
    AppointmentState,
    Change,
    ChangeKind,
    Ledger,
    OfferState,
    Outcome,
    rate_key,
)
from daemon.plan import ChangeEvent, CreateEvent, MessagePlan, SendMail, wire
from rules.desk import (
    AboutAppointment,
    BookIt,
    CalendarAnswers,
    ChangeIt,
    Choose,
    ForFreelancer,
    Ignore,
    JudgeInvitations,
    Reply,
    Request,
    SentCounts,
    SetPartstat,
    WaitForCalendar,
    answer,
    answer_calendar,
    answer_change,
    answer_choice,
    read,
    repeat_window,
)
from rules.mail import not_for_us
from rules.model import (
    Appointment,
    BusyInterval,
    CalendarAnswer,
    InboundMessage,
    MailContext,
    Offer,
    Policy,
    Slot,
)
from rules.replies import Templates, clean_title, format_slot, service_name
from rules.when import read_choice

log = logging.getLogger(__name__)

# CPU one email may cost to read and decide (its calendar parts' expansion included); past it,
# it is set aside for the freelancer with that reason
MESSAGE_CPU_SECONDS = 5.0
# a message that stopped frontdesk this many times running while it was being handled is set
# aside (systemd restarts it 10 s later: under a minute). Five, not fewer: a service killed from
# outside again and again (a kill -9 storm, a host under pressure) must not set a client aside.
MAX_ATTEMPTS = 5
_WARM_SAMPLES = (
    ("fr", b"Subject: Rendez-vous\r\nFrom: a@client.invalid\r\nTo: b@frontdesk.invalid\r\n"
           b"Message-ID: <warm-fr@frontdesk.invalid>\r\n\r\nBonjour, un rendez-vous mardi "
           b"prochain vers 14 h ?\r\n"),
    ("en", b"Subject: Appointment\r\nFrom: a@client.invalid\r\nTo: b@frontdesk.invalid\r\n"
           b"Message-ID: <warm-en@frontdesk.invalid>\r\n\r\nHi, could I book a session next "
           b"Tuesday around 2pm?\r\n"),
)
_DAY = timedelta(days=1)


def label(msg: InboundMessage) -> str:
    """How log lines name a message: its sender and subject, once each."""
    subject = clean_title(msg.subject, 60) if msg.subject else "(no subject)"
    return f"{msg.from_address or '(no sender)'} '{subject}'"


# which of frontdesk's own emails a reply answers, by the outbox kind of that email
THREAD_OF = {"booking": "offer", "objection": "objection", "imip": "decline",
             "confirmation": "confirmation", "moved": "confirmation", "cancelled": "cancelled",
             "late": "late", "unpaid": "unpaid", "which_cancel": "which", "which_move": "which"}
# the categories a late cancellation or move puts on the event, in the freelancer's language
LATE_CATEGORY = {("cancel", "fr"): "Annulation tardive (frontdesk)",
                 ("cancel", "en"): "Late cancellation (frontdesk)",
                 ("move", "fr"): "Déplacement tardif (frontdesk)",
                 ("move", "en"): "Late move (frontdesk)"}


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
    conversations: dict[str, set[str]] = field(default_factory=dict)
    by_conversation: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def add(self, key: str, kind: str, conversation: str = "") -> None:
        self.by_key_kind[(key, kind)] = self.by_key_kind.get((key, kind), 0) + 1
        self.by_key[key] = self.by_key.get(key, 0) + 1
        self.conversations.setdefault(key, set()).add(conversation)
        self.by_conversation[conversation] = self.by_conversation.get(conversation, 0) + 1
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
        self._attendees: tuple[Sequence[BusyInterval], dict[str, list[Slot]]] | None = None
        # learnt from the Sent folder this pass: what a dry run knows without recording it
        self.correspondents: frozenset[str] = frozenset()

    def warm_up(self, now: datetime) -> None:
        """Pay, before any message is claimed, for what loads on first use (the reader's
        tables, dateparser's languages, babel's locales, the templates, the email policies):
        the first email a process handles is then as quick as the others, and a kill from
        outside during that loading is not counted against a client's message."""
        global _warmed
        if _warmed:
            return
        _warmed = True
        try:
            for language, raw in _WARM_SAMPLES:
                msg = parse_message(raw)
                read(msg, self.policy, MailContext())
                request = Request(kind="booking", language=language, to=msg.from_address,
                                  to_name="", fired=(), reason="warm-up")
                reply = answer(request, msg, policy=self.policy, now=now, busy=[],
                               templates=self.templates, sent=SentCounts(), first_contact=True)
                if isinstance(reply, Reply):
                    wire(build_reply(reply=reply.text, from_address=msg.from_address,
                                     from_name="", to_address=msg.from_address, to_name="",
                                     in_reply_to=f"<{msg.message_id}>", references=[],
                                     message_id="<warm@frontdesk.invalid>", now=now))
                    read_choice(msg.text, reply.slots, language, self.policy.zone, now)
        except Exception as exc:  # a warm-up only saves time: it never stops a pass
            log.debug("warming up: %r", exc)

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
        thread = [msg.in_reply_to, *msg.references]
        offer = (self.ledger.offer_in_thread(thread, zone)
                 or next(iter(reversed(self.ledger.offers(state=OfferState.OPEN,
                                                          client=msg.from_address,
                                                          zone=zone))), None))
        if offer is not None and offer.state != OfferState.OPEN:
            offer = None  # a reply after the booking is the appointment's business
        kinds = self.ledger.thread_kinds(thread)
        last = next((k for k in reversed(kinds) if k in THREAD_OF), "")
        asked_which = last.removeprefix("which_") if last.startswith("which_") else ""
        mail = self.config.mail
        reading = read(msg, self.policy, self.context(msg, now, busy), offer,
                       authserv_ids=mail.authserv_ids if mail is not None else (),
                       asked_which=asked_which)
        conversation = self.conversation(msg)
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
        if isinstance(reading, CalendarAnswers):
            plan = self._calendar_answers(msg, uid, reading, now, busy, conversation)
        elif isinstance(reading, AboutAppointment):
            plan = self._about(msg, uid, reading, now, busy, conversation)
        elif isinstance(reading, Choose):
            plan = self._choice(msg, uid, reading, now, busy, conversation)
        else:
            plan = self._answer(msg, uid, reading, now, busy, conversation)
        return _with(plan, conversation=conversation)

    def conversation(self, msg: InboundMessage) -> str:
        """The Message-ID this email's thread started with, as the limits count conversations:
        the conversation of frontdesk's own email it answers, else the first it references,
        else its own."""
        thread = [m for m in [*msg.references, msg.in_reply_to] if m.strip()]
        known = self.ledger.conversation_of(thread)
        if known:
            return known
        return (thread[0] if thread else msg.message_id).strip().strip("<>")

    def _sent(self, kind: str, to: str, conversation: str, now: datetime,
              message_id: str) -> SentCounts:
        """What the limits count for a reply of this kind to `to` in this conversation; nothing
        when the same reply was recorded before (a restart finishes it, no limit applies)."""
        if self.ledger.mail(message_id) is not None:
            return SentCounts()
        return self.counts(kind, to, conversation, now)

    def _domain(self) -> str:
        return self.policy.freelancer.email.rpartition("@")[2] or "frontdesk.invalid"

    def _decided(self, msg: InboundMessage, uid: int, kind: str,
                 decision: Ignore | ForFreelancer | WaitForCalendar | Reply | ChangeIt
                 | SetPartstat | BookIt, now: datetime, message_id: str) -> MessagePlan:
        """A plan for what the desk decided about this email."""
        if isinstance(decision, Ignore):
            return self._plan(msg, uid, kind, Outcome.IGNORED, decision.reason)
        if isinstance(decision, ForFreelancer):
            return self._plan(msg, uid, decision.kind or kind, Outcome.LEFT, decision.reason,
                              flagged=True)
        if isinstance(decision, WaitForCalendar):
            return self._plan(msg, uid, kind, Outcome.WAITING, decision.reason)
        if isinstance(decision, BookIt):
            return self._book(msg, uid, decision, now)
        if isinstance(decision, ChangeIt):
            return self._change(msg, uid, kind, decision, now)
        if isinstance(decision, SetPartstat):
            appointment = decision.appointment
            change = Change(change_id=f"partstat:{appointment.uid}:{msg.message_id}",
                            uid=appointment.uid, kind=ChangeKind.PARTSTAT,
                            sequence=appointment.sequence, attendee=appointment.client.lower(),
                            partstat=decision.partstat)
            plan = self._plan(msg, uid, kind, Outcome.CHANGED,
                              f"{decision.reason}: recorded on the appointment of "
                              f"{self._when(appointment.start)}, no answer sent")
            return _with(plan, changes=(ChangeEvent(change, what=f"mark {decision.partstat}"),))
        return self._reply_plan(msg, uid, decision, message_id, now, kind=kind)

    def _when(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.policy.zone):%a %Y-%m-%d %H:%M}"

    def _about(self, msg: InboundMessage, uid: int, about: AboutAppointment, now: datetime,
               busy: Sequence[BusyInterval] | None, conversation: str) -> MessagePlan:
        """A client asks to cancel or move an appointment."""
        zone = self.policy.zone
        kind = "cancellation" if about.change == "cancel" else "reschedule"
        in_thread = self.ledger.appointment_in_thread([msg.in_reply_to, *msg.references], zone)
        reply_kind = {"cancel": "late", "move": "booking"}[about.change]
        message_id = reply_message_id(msg.message_id, reply_kind, self._domain())
        decision = answer_change(
            about, msg, policy=self.policy, now=now, busy=busy, templates=self.templates,
            sent=self._sent(reply_kind, about.to, conversation, now, message_id),
            appointments=self.ledger.appointments(client=about.to, zone=zone),
            in_thread=in_thread, offers=self.ledger.held_offers(now, zone),
            booked=self.ledger.appointments(after=now, zone=zone), draft_mode=self._draft_mode())
        if isinstance(decision, Reply):
            message_id = reply_message_id(msg.message_id, decision.kind, self._domain())
        return self._decided(msg, uid, kind, decision, now, message_id)

    def _calendar_answers(self, msg: InboundMessage, uid: int, answers: CalendarAnswers,
                          now: datetime, busy: Sequence[BusyInterval] | None,
                          conversation: str) -> MessagePlan:
        """A client's calendar app answered: the first answer about an appointment frontdesk
        booked decides (a calendar app answers one event per email)."""
        zone = self.policy.zone
        parsed: list[CalendarAnswer] = []
        for _param, ics in answers.parts:
            try:
                parsed += [CalendarAnswer(method=a.method, uid=a.uid, attendee=a.attendee,
                                          partstat=a.partstat, sequence=a.sequence,
                                          start=a.start, end=a.end, comment=a.comment)
                           for a in read_answers(ics, zone=zone)]
            except MalformedObject as exc:
                return self._plan(msg, uid, "calendar answer", Outcome.LEFT,
                                  f"its calendar answer is unreadable: {exc}", flagged=True)
        first: MessagePlan | None = None
        for found in parsed[:20]:
            appointment = self.ledger.appointment(found.uid, zone)
            message_id = reply_message_id(msg.message_id, "calendar", self._domain())
            to = answers.sender or ""
            decision = answer_calendar(
                found, appointment, answers, msg, policy=self.policy, now=now, busy=busy,
                templates=self.templates,
                sent=self._sent("late", to, conversation, now, message_id) if to
                else SentCounts(),
                offers=self.ledger.held_offers(now, zone),
                booked=self.ledger.appointments(after=now, zone=zone),
                draft_mode=self._draft_mode())
            if isinstance(decision, Reply):
                message_id = reply_message_id(msg.message_id, decision.kind, self._domain())
            plan = self._decided(msg, uid, "calendar answer", decision, now, message_id)
            if not isinstance(decision, Ignore):
                return plan
            first = first or plan
        return first or self._plan(msg, uid, "calendar answer", Outcome.IGNORED,
                                   "a calendar answer about nothing frontdesk booked")

    def _draft_mode(self) -> bool:
        return self.config.mail is not None and self.config.mail.mode == "draft"

    def _change(self, msg: InboundMessage, uid: int, kind: str, change: ChangeIt,
                now: datetime) -> MessagePlan:
        """Cancel or move an appointment: the event changed (SEQUENCE+1), then the client gets
        the iMIP CANCEL or REQUEST with the confirmation."""
        policy = self.policy
        freelancer = policy.freelancer
        appointment = change.appointment
        sequence = appointment.sequence + 1
        moving = change.change == "move"
        slot = change.slot if moving and change.slot is not None else \
            Slot(appointment.start, appointment.end)
        language = change.text.language
        mail_kind = "moved" if moving else "cancelled"
        message_id = booking_message_id(appointment.uid, sequence, mail_kind, self._domain())
        try:
            _stored, calendar = booking_calendars(
                uid=appointment.uid, start=slot.start, end=slot.end,
                summary=_summary(policy, appointment.service, language,
                                 msg.from_name or appointment.client_name, change.to),
                description=_terms(policy, language),
                organizer=(freelancer.name, freelancer.email),
                attendee=(change.to_name or appointment.client_name, appointment.client),
                now=now, sequence=sequence, status="CONFIRMED" if moving else "CANCELLED")
            message = imip_request_message(
                from_address=freelancer.email, from_name=freelancer.name,
                to_address=change.to, to_name=change.to_name, subject=change.text.subject,
                text=change.text.body, calendar=calendar, message_id=message_id, now=now,
                in_reply_to="" if msg.message_id_synthetic else f"<{msg.message_id}>",
                references=[f"<{ref}>" for ref in msg.references],
                method="REQUEST" if moving else "CANCEL")
            body = wire(message)
        except (ValueError, TypeError, UnicodeError) as exc:
            return self._plan(msg, uid, kind, Outcome.LEFT,
                              f"the change cannot be written: {exc}", flagged=True)
        mail = SendMail(message_id=message_id, recipient=change.to, kind=mail_kind,
                        in_reply_to=msg.message_id, body=body, text=change.text.body)
        record = Change(change_id=message_id, uid=appointment.uid,
                        kind=ChangeKind.MOVE if moving else ChangeKind.CANCEL,
                        sequence=sequence, start=slot.start if moving else None,
                        end=slot.end if moving else None, message_id=message_id,
                        offer_id=change.offer.offer_id if change.offer is not None else "")
        if moving:
            what = (f"move the appointment of {self._when(appointment.start)} to "
                    f"{self._when(slot.start)}")
        else:
            what = f"cancel the appointment of {self._when(appointment.start)}"
        reason = change.reason
        if change.also_asks:
            reason += "; the client also asks something: it is left for you too"
        plan = self._plan(msg, uid, kind, Outcome.CHANGED, reason, flagged=change.also_asks)
        return _with(plan, changes=(ChangeEvent(record, mail, what=what),),
                     language=language, slots=(slot,) if moving else ())

    def _choice(self, msg: InboundMessage, uid: int, choice: Choose, now: datetime,
                busy: Sequence[BusyInterval] | None, conversation: str) -> MessagePlan:
        """A reply to an offer: book the time it chooses (or move the appointment the offer
        was for), or answer it."""
        zone = self.policy.zone
        offer = choice.offer
        moving = self.ledger.appointment(offer.moves, zone) if offer.moves else None
        message_id = reply_message_id(msg.message_id, "booking", self._domain())
        decision = answer_choice(
            choice, msg, policy=self.policy, now=now, busy=busy, templates=self.templates,
            sent=self._sent("choice", choice.to, conversation, now, message_id),
            offers=self.ledger.held_offers(now, zone),
            booked=self.ledger.appointments(after=now, zone=zone),
            draft_mode=self._draft_mode(), moving=moving,
            returning=self.returning(choice.to, now, busy))
        if isinstance(decision, Reply):
            message_id = reply_message_id(msg.message_id, decision.kind, self._domain())
        plan = self._decided(msg, uid, "choice", decision, now, message_id)
        if isinstance(decision, Reply):
            plan = _with(plan, kind="choice", asked_offer=offer.offer_id
                         if decision.kind == "unclear" else "")
        return plan

    def returning(self, client: str, now: datetime,
                  busy: Sequence[BusyInterval] | None) -> bool:
        """Has this client had an appointment before (one frontdesk booked, or one in the
        calendar with them as an attendee)?"""
        if not self.policy.booking.new_client_days:
            return True  # nothing depends on it: the calendar is not searched
        key = rate_key(client)
        if self.ledger.returning(key, now):
            return True
        return any(s.start < now for s in self._attended(busy).get(key, ()))

    def _book(self, msg: InboundMessage, uid: int, book: BookIt, now: datetime) -> MessagePlan:
        policy = self.policy
        freelancer = policy.freelancer
        offer = book.offer
        domain = freelancer.email.rpartition("@")[2] or "frontdesk.invalid"
        key = f"{offer.offer_id}\0{book.slot.start.isoformat()}"
        uid_text = f"frontdesk-{hashlib.sha256(key.encode()).hexdigest()[:24]}@{domain}"
        language = book.text.language
        try:
            stored, request = booking_calendars(
                uid=uid_text, start=book.slot.start, end=book.slot.end,
                summary=_summary(policy, offer.service, language,
                                 msg.from_name or offer.client_name, book.to),
                description=_terms(policy, language),
                organizer=(freelancer.name, freelancer.email),
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
                busy: Sequence[BusyInterval] | None, conversation: str) -> MessagePlan:
        message_id = reply_message_id(msg.message_id, request.kind, self._domain())
        recorded = self.ledger.mail(message_id)
        if recorded is None:
            settle = reply_message_id(msg.message_id, "unpaid", self._domain())
            recorded = self.ledger.mail(settle)
        # a reply recorded before (schema 1, or a crash) is the same reply: no limit applies
        sent = SentCounts() if recorded is not None else self.counts(
            request.kind, request.to, conversation, now)
        zone = self.policy.zone
        key = rate_key(request.to)
        # (a reply recorded before keeps the bytes it was recorded with, whatever this says)
        first = not self.ledger.dealt_with(key) and not self.tally.by_key.get(key, 0)
        decision = answer(request, msg, policy=self.policy, now=now, busy=busy,
                          templates=self.templates, sent=sent, draft_mode=self._draft_mode(),
                          offers=self.ledger.held_offers(now, zone),
                          booked=self.ledger.appointments(after=now, zone=zone),
                          first_contact=first,
                          returning=self.returning(request.to, now, busy))
        if isinstance(decision, Reply):
            message_id = reply_message_id(msg.message_id, decision.kind, self._domain())
        return self._decided(msg, uid, request.kind, decision, now, message_id)

    def _reply_plan(self, msg: InboundMessage, uid: int, reply: Reply, message_id: str,
                    now: datetime, kind: str = "") -> MessagePlan:
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
            self.tally.add(rate_key(reply.to), reply.kind, self.conversation(msg))
        outcome = Outcome.DRAFTED if reply.draft else Outcome.REPLIED
        reason = reply.reason + (f"; drafted: {reply.draft_why}" if reply.draft_why else "")
        plan = self._plan(msg, uid, kind or reply.kind, outcome, reason,
                          flagged=reply.draft or bool(reply.flag))
        offer = None
        if reply.kind == "booking" and reply.slots:
            expires = reply.hold_until or now
            offer = Offer(offer_id=message_id, client=reply.to, client_name=msg.from_name,
                          language=reply.language, service=reply.service, slots=reply.slots,
                          created_at=now, expires_at=expires,
                          thread=tuple(dict.fromkeys([*msg.references, msg.message_id])),
                          moves=reply.moves)
        changes: list[ChangeEvent] = []
        if reply.flag and reply.appointment:
            # a late cancellation or move: the event keeps its time and says so to the
            # freelancer (CATEGORIES: no SEQUENCE change, nothing sent to the client)
            change = reply.change or "cancel"
            language = self.policy.freelancer.language
            category = LATE_CATEGORY.get((change, language), LATE_CATEGORY[(change, "en")])
            changes.append(ChangeEvent(
                Change(change_id=f"flag:{reply.appointment}:{msg.message_id}",
                       uid=reply.appointment, kind=ChangeKind.FLAG, sequence=0,
                       category=category), flag=reply.flag, what=f"flag it: {category}"))
            if reply.partstat:
                changes.append(ChangeEvent(
                    Change(change_id=f"partstat:{reply.appointment}:{msg.message_id}",
                           uid=reply.appointment, kind=ChangeKind.PARTSTAT, sequence=0,
                           attendee=reply.to.lower(), partstat=reply.partstat),
                    what=f"mark {reply.partstat}"))
        return _with(plan, mail=mail, slots=reply.slots, language=reply.language,
                     fired=reply.fired, offer=offer, changes=tuple(changes))

    def context(self, msg: InboundMessage, now: datetime,
                busy: Sequence[BusyInterval] | None) -> MailContext:
        """What frontdesk knows around this email: which of its own replies it answers, who
        the sender is to the freelancer, and the sender's upcoming appointments."""
        kinds = self.ledger.thread_kinds([msg.in_reply_to, *msg.references])
        thread = next((THREAD_OF[k] for k in reversed(kinds) if k in THREAD_OF), "")
        key = rate_key(msg.from_address)
        appointments = tuple(sorted((s for s in self._attended(busy).get(key, ()) if s.end > now),
                                    key=lambda s: s.start))
        if appointments or self.ledger.dealt_with(key):
            relation = "client"
        elif key in self.correspondents or self.ledger.is_correspondent(key):
            relation = "personal"
        else:
            relation = "stranger"
        return MailContext(thread=thread, relation=relation, appointments=appointments)

    def _attended(self, busy: Sequence[BusyInterval] | None) -> dict[str, list[Slot]]:
        """Busy time by attendee (rate key): built once for the busy list a pass hands every
        message, instead of scanning every event's attendees for each email."""
        if busy is None:
            return {}
        if self._attendees is not None and self._attendees[0] is busy:
            return self._attendees[1]
        found: dict[str, list[Slot]] = {}
        for interval in busy:
            for key in {rate_key(a) for a in interval.attendees}:
                found.setdefault(key, []).append(Slot(interval.start, interval.end))
        self._attendees = (busy, found)
        return found

    def counts(self, kind: str, to: str, conversation: str, now: datetime) -> SentCounts:
        """What the limits count: this kind to `to` within limits.repeat_days (since their last
        appointment changed: a client who cancels may ask for times again), the other
        conversations with them today, the replies in this one, all mail in the last hour and
        day (with what this pass planned but a dry run does not record)."""
        key = rate_key(to)
        ledger = self.ledger
        tally = self.tally
        since = now - repeat_window(self.policy)
        changed = ledger.appointment_changed(key)
        if changed is not None and changed > since:
            since = changed
        others = (ledger.conversations(now - _DAY, key=key)
                  | tally.conversations.get(key, set())) - {conversation}
        return SentCounts(
            same_kind=ledger.sent_count(since, key=key, kind=kind)
            + tally.by_key_kind.get((key, kind), 0),
            to_recipient=len(others),
            in_conversation=ledger.sent_in_conversation(now - _DAY, conversation)
            + tally.by_conversation.get(conversation, 0),
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


def _summary(policy: Policy, service: int, language: str, name: str, address: str) -> str:
    """An appointment's title in the freelancer's calendar: the service and the client."""
    what = service_name(policy, service, language)
    who = clean_title(name, 64) or address
    return f"{what or ('Rendez-vous' if language == 'fr' else 'Appointment')} — {who}"


def _terms(policy: Policy, language: str) -> str:
    terms = [policy.terms.payment.text(language), policy.terms.cancellation.text(language)]
    return "\n".join(t for t in terms if t)


_warmed = False  # once a process


def _with(plan: MessagePlan, **changes: object) -> MessagePlan:
    from dataclasses import replace

    return replace(plan, **changes)  # type: ignore[arg-type]


def describe(plan: MessagePlan, *, dry_run: bool) -> str | None:
    """The line `once` prints (and the log writes) for a message's plan; None for quiet ones."""
    if not plan.record and plan.outcome is Outcome.IGNORED:
        return None
    words = f" [{', '.join(plan.fired)}]" if plan.fired else ""
    mail = plan.mail
    # what the reply is when it is not what the email asked for (times to a client who owes)
    said = mail.kind if mail is not None and mail.kind in _SAID_AS_SENT else plan.kind
    kind = f"{said}, {plan.language}" if plan.language else said
    flags = "".join(f"; flagged for you: {c.flag}" for c in plan.changes if c.flag)
    if plan.outcome is Outcome.REPLIED and mail is not None:
        verb = "would reply" if dry_run else "replied"
        return f"{verb} ({kind}) to {mail.recipient} about {_subject(plan)}{flags}{words}"
    if plan.outcome is Outcome.DRAFTED and mail is not None:
        verb = "would draft" if dry_run else "drafted"
        return (f"{verb} a reply ({kind}) to {mail.recipient} about {_subject(plan)}: "
                f"{plan.reason.rpartition('drafted: ')[2]}")
    if plan.outcome is Outcome.BOOKED and plan.booking is not None:
        who = plan.booking.confirmation.recipient
        return f"{'would book' if dry_run else 'booked'} for {who}: {plan.reason}"
    if plan.outcome is Outcome.CHANGED and plan.changes:
        whats = "; ".join(did(c.what, dry_run=dry_run) for c in plan.changes)
        return f"{whats} ({plan.sender}): {plan.reason}"
    if plan.outcome is Outcome.LEFT:
        return f"left for you: {plan.label}: {plan.reason}"
    if plan.outcome is Outcome.WAITING:
        return f"waiting: {plan.label}: {plan.reason}"
    if plan.outcome is Outcome.FAILED:
        return f"set aside: {plan.label}: {plan.reason}"
    return None


_SAID_AS_SENT = frozenset({"unpaid", "unclear", "which_cancel", "which_move"})
_PAST = {"cancel": "cancelled", "move": "moved", "mark": "marked", "flag": "flagged"}


def did(what: str, *, dry_run: bool) -> str:
    """"cancel the appointment..." as a dry run says it ("would cancel ...") and as a pass
    that did it says it ("cancelled ...")."""
    if dry_run:
        return f"would {what}"
    verb, _, rest = what.partition(" ")
    return f"{_PAST.get(verb, verb)} {rest}".strip()


def _subject(plan: MessagePlan) -> str:
    return plan.label.partition(" ")[2] or "(no subject)"
