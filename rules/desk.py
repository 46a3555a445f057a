"""The booking desk's decisions: what frontdesk does with one inbound email.

Pure, in two steps, so the daemon can look up what it needs in between:

1. `read(msg, policy)`: what the email is and who may be answered — Ignore it, leave it
   ForFreelancer, hand its calendar parts to the invitation guard (JudgeInvitations), or a
   Request (a booking request or a price objection, in the client's language, to one address).
2. `answer(request, ...)`: the Reply, with the slots it offers and its text, once the daemon has
   counted what was already sent (the limits) and knows whether the calendar is fresh; or
   WaitForCalendar, or Ignore when a limit says no.

The decision records are small and immutable; the daemon turns a Reply into an email and carries
it out through the ledger, or, for a dry run and `explain`, only prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from rules.appointments import (
    calendar_answer,
    for_client,
    live,
    move_slots,
    move_wish,
    notice,
    plainly_asks,
    which,
)
from rules.availability import why_not_bookable
from rules.booking import (
    AskWhich,
    Book,
    Declined,
    LeaveIt,
    NotBookable,
    choose,
    hold_until,
    service_for,
    slots_to_offer,
)
from rules.mail import ANSWERED, calendar_methods, matches_pattern, not_for_us, strip_quoted
from rules.mail import read as read_intent
from rules.model import (
    Appointment,
    BusyInterval,
    CalendarAnswer,
    InboundMessage,
    MailContext,
    Offer,
    Policy,
    Slot,
    address_key,
)
from rules.replies import (
    ReplyText,
    Templates,
    booking_reply,
    cancelled_reply,
    confirmation_reply,
    late_reply,
    objection_reply,
    unclear_reply,
    unpaid_reply,
    which_reply,
)
from rules.senders import Confidence, reply_target
from rules.when import Ambiguous, Picked, Wish, read_choice

__all__ = [
    "AboutAppointment",
    "BookIt",
    "CalendarAnswers",
    "ChangeIt",
    "Choose",
    "ForFreelancer",
    "Ignore",
    "JudgeInvitations",
    "Reply",
    "Request",
    "SentCounts",
    "SetPartstat",
    "WaitForCalendar",
    "answer",
    "answer_calendar",
    "answer_change",
    "answer_choice",
    "read",
]

# The intents about an appointment already booked, and the change each asks for.
CHANGES = {"cancellation": "cancel", "reschedule": "move"}
# Replies that open a conversation: the same one again within limits.repeat_days is not sent.
OPENING_KINDS = frozenset({"booking", "objection", "unpaid"})

_CALENDAR_SILENT = "nothing to answer"


# --- Decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ignore:
    """Nothing to do: the reason says which rule."""

    reason: str
    kind: str = ""  # what the email was read as, when it was read at all


@dataclass(frozen=True)
class ForFreelancer:
    """Left for the freelancer, who should look at it."""

    reason: str
    kind: str = ""


@dataclass(frozen=True)
class JudgeInvitations:
    """Calendar requests: each is judged by the invitation guard (rules.invitations)."""

    reason: str
    parts: tuple[tuple[str, str], ...]  # (MIME method parameter, iCalendar text)
    sender: str  # the address that sent them, as far as it could be told


@dataclass(frozen=True)
class Request:
    """What the client asks, before the limits and the calendar are consulted."""

    kind: str  # "booking" | "objection"
    language: str
    to: str  # the address a reply goes to
    to_name: str
    fired: tuple[str, ...]  # what made the reading: words, headers, context
    reason: str
    draft_why: str = ""  # why a person must send the reply (""): the daemon drafts it


@dataclass(frozen=True)
class WaitForCalendar:
    """A reply that offers times waits for a calendar synced recently enough."""

    kind: str
    reason: str


@dataclass(frozen=True)
class Reply:
    """An automatic reply: to whom, in which language, with which slots and words."""

    kind: str
    language: str
    to: str
    to_name: str
    text: ReplyText
    slots: tuple[Slot, ...] = ()
    draft: bool = False  # filed in Drafts for the freelancer instead of sent
    reason: str = ""
    fired: tuple[str, ...] = ()
    draft_why: str = ""
    service: int = 0  # the service the slots are for
    hold_until: datetime | None = None  # until when the slots are held for this client
    about_offer: str = ""  # the offer this reply follows up (a choice, a question back)
    moves: str = ""  # the appointment the offered slots would replace (a reschedule)
    appointment: str = ""  # the appointment this reply is about (flagged, answered)
    flag: str = ""  # why that appointment is flagged for the freelancer ("" for no)
    partstat: str = ""  # the client's calendar answer to record on it (a late DECLINED)
    change: str = ""  # a late "cancel" or "move": what the client asked for
    first_contact: bool = False  # the reply carries the "how I work" block


@dataclass(frozen=True)
class Choose:
    """A reply to one of frontdesk's offers that may choose a time (rules.booking reads it)."""

    offer: Offer
    language: str
    to: str
    to_name: str
    fired: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class BookIt:
    """Book `slot` for the client of `offer`, and confirm it to them."""

    offer: Offer
    slot: Slot
    how: str
    text: ReplyText  # the confirmation
    to: str
    to_name: str
    also_asks: bool = False  # the reply asked something too: also left for the freelancer
    reason: str = ""


@dataclass(frozen=True)
class AboutAppointment:
    """A client writes to cancel or move an appointment frontdesk booked."""

    change: str  # "cancel" | "move"
    language: str
    to: str  # the vouched sender: only an appointment's own client may change it
    to_name: str
    fired: tuple[str, ...]
    reason: str
    asked_which: bool = False  # the email answers frontdesk's question "which appointment?"


@dataclass(frozen=True)
class CalendarAnswers:
    """A client's calendar app answering invitations (iTIP REPLY, COUNTER): each answer is
    matched with the appointment frontdesk booked (answer_calendar)."""

    reason: str
    parts: tuple[tuple[str, str], ...]  # (MIME method parameter, iCalendar text)
    sender: str | None  # the vouched sender; None when nothing vouches for it
    to_name: str = ""


@dataclass(frozen=True)
class ChangeIt:
    """Cancel or move an appointment and tell the client, in one step: the calendar first,
    then the email with the iMIP CANCEL or REQUEST (SEQUENCE+1)."""

    change: str  # "cancel" | "move"
    appointment: Appointment
    text: ReplyText
    to: str
    to_name: str
    slot: Slot | None = None  # a move: the new time
    offer: Offer | None = None  # a move: the offer whose time it books
    partstat: str = ""  # the client's calendar answer recorded with it (DECLINED)
    reason: str = ""
    also_asks: bool = False


@dataclass(frozen=True)
class SetPartstat:
    """Record the client's calendar answer (ACCEPTED, TENTATIVE) on the event; no email."""

    appointment: Appointment
    partstat: str
    reason: str


Reading = (Ignore | ForFreelancer | JudgeInvitations | Request | Choose | AboutAppointment
           | CalendarAnswers)
Decision = (Ignore | ForFreelancer | JudgeInvitations | WaitForCalendar | Reply | BookIt
            | ChangeIt | SetPartstat)


@dataclass(frozen=True)
class SentCounts:
    """What was already sent, as the limits count it (Policy.limits): conversations, not
    messages, so a client's request, choice and cancellation in one day each get their answer,
    while a loop of automatic messages is cut off."""

    same_kind: int = 0  # to this recipient, of this kind, within limits.repeat_days
    to_recipient: int = 0  # other conversations with this recipient answered in 24 hours
    last_hour: int = 0  # all automatic mail in the last hour
    last_day: int = 0  # all automatic mail in the last 24 hours
    in_conversation: int = 0  # automatic replies in this conversation in the last 24 hours
    details: tuple[str, ...] = field(default=())


# --- Step 1: reading ----------------------------------------------------------------------------


def _calendar_reading(msg: InboundMessage, sender: str | None) -> Reading | None:
    requests: list[tuple[str, str]] = []
    answers: list[tuple[str, str]] = []
    others: list[str] = []
    mismatches: list[str] = []
    for param, ics in msg.calendar_parts:
        mime = param.strip().upper()
        inner = calendar_methods(ics)
        methods = inner or ((mime,) if mime else ())
        if mime and inner and mime not in inner and "REQUEST" in (mime, *inner):
            mismatches.append(f"MIME method {mime}, calendar METHOD {', '.join(inner)}")
            continue
        if "REQUEST" in methods:
            requests.append((param, ics))
        elif {"REPLY", "COUNTER"} & set(methods):
            answers.append((param, ics))
        others.extend(m for m in methods if m not in ("REQUEST", "REPLY", "COUNTER")
                      and m not in others)
    if requests:
        return JudgeInvitations("calendar METHOD REQUEST", tuple(requests), sender or "")
    if answers:
        return CalendarAnswers("a calendar app's answer (METHOD REPLY or COUNTER)",
                               tuple(answers), sender,
                               msg.from_name if sender == msg.from_address else "")
    if mismatches:
        return ForFreelancer("calendar part disagrees with itself: " + "; ".join(mismatches))
    if others:
        return Ignore(f"calendar METHOD {', '.join(others)}: {_CALENDAR_SILENT}")
    return None  # a bare .ics file with no METHOD: read the mail as any other


def read(msg: InboundMessage, policy: Policy, context: MailContext | None = None,
         offer: Offer | None = None, authserv_ids: Sequence[str] = (),
         asked_which: str = "") -> Reading:
    """What the email is, and who may be answered. `context` is what the daemon knows around
    it (the thread, the sender, their appointments); without it the sender is a stranger.
    `offer` is the client's open offer this email may answer (its thread, or their latest).
    `authserv_ids`: the freelancer's receiving servers whose Authentication-Results count
    (rules.senders: who may be answered). `asked_which`: the change ("cancel", "move") of
    frontdesk's question "which appointment?" this email answers, "" when none."""
    context = context or MailContext()
    selves = policy.freelancer.addresses
    reason = not_for_us(msg, selves)
    if reason:
        return Ignore(reason)
    senders = [a for a in (msg.from_address, msg.reply_to) if a]
    for address in senders:
        if matches_pattern(address, policy.clients.block):
            return Ignore(f"{address} matches clients.block")
    for address in senders:
        if matches_pattern(address, policy.clients.review):
            return ForFreelancer(f"{address} matches clients.review")
    target = reply_target(msg, authserv_ids)
    if target.confidence is Confidence.FORGED:
        return Ignore(f"the sender is forged: {target.reason}")
    calendar = _calendar_reading(msg, target.address)
    if calendar is not None:
        return calendar
    reading = read_intent(msg, context, policy)
    said = "; ".join(reading.signals[:6])
    how = f"{reading.intent} ({reading.confidence:.2f})"
    if offer is not None and _chooses(reading.intent, msg, offer, policy):
        if target.address is None or address_key(target.address) != address_key(offer.client):
            # only the client the times were offered to books them, and only when their
            # address is vouched for (no one books in someone else's name)
            return ForFreelancer(f"chooses a time of an offer made to {offer.client}, but "
                                 f"{target.reason}", "choice")
        return Choose(offer=offer, language=reading.language or offer.language,
                      to=target.address,
                      to_name=msg.from_name if target.address == msg.from_address else "",
                      fired=reading.signals, reason=f"a reply to the offer {offer.offer_id}")
    if reading.intent == "none":
        return Ignore(f"nothing to answer: {said or 'no request'}", "none")
    change = asked_which or (CHANGES.get(reading.intent, "") if reading.band != "leave" else "")
    if change:
        kind = "cancellation" if change == "cancel" else "reschedule"
        if not msg.headers_ok:
            return ForFreelancer(f"looks like a {kind} message, but its headers needed repair",
                                 kind)
        if target.address is None:
            # an appointment changes only at its own client's vouched word
            return ForFreelancer(f"{how}, left for you: the sender is not verified "
                                 f"({target.reason})", kind)
        if reading.band != "act" and not asked_which:
            return ForFreelancer(f"{how}, not sure enough to change an appointment: {said}",
                                 kind)
        if not asked_which and not plainly_asks(f"{strip_quoted(msg.text)}\n{msg.subject}",
                                                change):
            # a question about the rule, a denial, someone else's appointment: a person reads it
            return ForFreelancer(f"{how}, but it does not plainly ask to {change} an "
                                 "appointment: left for you", kind)
        return AboutAppointment(change=change, language=reading.language, to=target.address,
                                to_name=msg.from_name if target.address == msg.from_address
                                else "", fired=reading.signals,
                                reason=f"{'a cancellation' if change == 'cancel' else 'a move'}"
                                       f" asked, confidence {reading.confidence:.2f}",
                                asked_which=bool(asked_which))
    if reading.intent not in ANSWERED or reading.band == "leave":
        return ForFreelancer(f"{how}, left for you: {said}", reading.intent)
    if not msg.headers_ok:
        return ForFreelancer(f"looks like a {reading.intent} message, but its headers needed "
                             "repair", reading.intent)
    what = "a price objection" if reading.intent == "objection" else "a booking request"
    if target.address is None:
        # nothing vouches for the sender: a reply only as a draft to its From, for the
        # freelancer to judge (an outsider cannot aim frontdesk at a third party)
        to = msg.from_address
        draft_why = f"the sender is not verified ({target.reason})"
    else:
        to = target.address
        draft_why = "" if reading.band == "act" else f"not sure enough ({how})"
    return Request(kind=reading.intent, language=reading.language, to=to,
                   to_name=msg.from_name if to == msg.from_address else "",
                   fired=reading.signals,
                   reason=f"{what}, confidence {reading.confidence:.2f}", draft_why=draft_why)


def _chooses(intent: str, msg: InboundMessage, offer: Offer, policy: Policy) -> bool:
    """Does a reply to an offer choose (or try to choose) one of its times? The reader says
    so, or it said booking/question and the text picks one of the offered numbers."""
    if intent == "choice":
        return True
    if intent not in ("booking", "question") or not offer.slots:
        return False
    written = msg.date or offer.created_at
    reading = read_choice(strip_quoted(msg.text), offer.slots, offer.language, policy.zone,
                          written)
    return isinstance(reading, Picked)


# --- Step 2: answering --------------------------------------------------------------------------


def limit_reason(kind: str, to: str, policy: Policy, sent: SentCounts) -> str | None:
    """Why no automatic reply of this kind may go to this address now, or None.

    Conversations are counted, not messages: inside a conversation frontdesk already answers,
    every answer goes out up to limits.per_conversation_per_day (past it, a loop); a new
    conversation counts against limits.per_sender_per_day, and the same opening reply (a
    booking offer, a price answer) is not sent twice within limits.repeat_days (RFC 5230 §4.2).
    """
    limits = policy.limits
    if sent.in_conversation >= limits.per_conversation_per_day:
        return (f"{to} already got {sent.in_conversation} automatic replies in this "
                "conversation in the last 24 hours (limits.per_conversation_per_day)")
    if sent.in_conversation:
        return None
    if kind in OPENING_KINDS and sent.same_kind >= 1:
        days = f"{limits.repeat_days:g} day" + ("" if limits.repeat_days == 1 else "s")
        return f"{to} already got a {kind} reply in the last {days}"
    if sent.to_recipient >= limits.per_sender_per_day:
        return (f"{to} already got automatic replies in {sent.to_recipient} conversations in "
                "the last 24 hours (limits.per_sender_per_day)")
    return None


def unpaid(address: str, policy: Policy) -> bool:
    """Is this client on clients.unpaid (their address, or the same without a +tag)?"""
    patterns = policy.clients.unpaid
    return matches_pattern(address, patterns) or matches_pattern(address_key(address), patterns)


def over_cap(policy: Policy, sent: SentCounts) -> str | None:
    """Why automatic mail must wait for the freelancer (the hourly or daily cap), or None."""
    limits = policy.limits
    if sent.last_hour >= limits.per_hour:
        return f"{sent.last_hour} automatic emails in the last hour (limits.per_hour)"
    if sent.last_day >= limits.per_day:
        return f"{sent.last_day} automatic emails in the last 24 hours (limits.per_day)"
    return None


def repeat_window(policy: Policy) -> timedelta:
    return timedelta(days=policy.limits.repeat_days)


def answer(
    request: Request,
    msg: InboundMessage,
    *,
    policy: Policy,
    now: datetime,
    busy: Sequence[BusyInterval] | None,
    templates: Templates,
    sent: SentCounts,
    draft_mode: bool = False,
    offers: Sequence[Offer] = (),
    booked: Sequence[Appointment] = (),
    first_contact: bool = False,
    returning: bool = True,
) -> Reply | Ignore | WaitForCalendar:
    """The reply to a request. `busy` is None when the calendar is not fresh enough to offer
    times from: a booking request then waits. `offers` are the open offers (their slots are
    held for their clients), `booked` the appointments frontdesk made. `first_contact`: frontdesk
    never answered this client (the reply carries the "how I work" block); `returning`: they
    had an appointment before (else only booking.new_client_days are offered)."""
    kind = "unpaid" if request.kind == "booking" and unpaid(request.to, policy) else request.kind
    limited = limit_reason(kind, request.to, policy, sent)
    if limited:
        return Ignore(f"not answered: {limited}", request.kind)
    common = {"language": request.language, "client_name": msg.from_name,
              "original_subject": msg.subject, "templates": templates}
    if kind == "unpaid":
        text = unpaid_reply(policy, **common)  # type: ignore[arg-type]
        request = replace(request, reason=f"{request.reason}; {request.to} is on clients.unpaid")
        return _reply(kind, text, request, policy, sent, draft_mode)
    if request.kind == "booking":
        if busy is None:
            return WaitForCalendar(request.kind, "waits for the calendar: it has not synced "
                                                 "recently, so no time can be offered")
        service = service_for(f"{msg.subject}\n{strip_quoted(msg.text)}", policy)
        slots = slots_to_offer(for_client(policy, returning), busy, now, service=service,
                               offers=offers, client=request.to, booked=booked)
        held = hold_until(policy, now) if slots else None
        text = booking_reply(policy, slots=slots, service=service, hold_until=held,
                             first_contact=first_contact, **common)  # type: ignore[arg-type]
        return _reply(request.kind, text, request, policy, sent, draft_mode, slots=slots,
                      service=service, hold_until=held, first_contact=first_contact)
    text = objection_reply(policy, first_contact=first_contact,
                           **common)  # type: ignore[arg-type]
    return _reply(request.kind, text, request, policy, sent, draft_mode,
                  first_contact=first_contact)


def _reply(kind: str, text: ReplyText, request: Request | Choose | AboutAppointment,
           policy: Policy, sent: SentCounts, draft_mode: bool, *, slots: tuple[Slot, ...] = (),
           service: int = 0, hold_until: datetime | None = None, about_offer: str = "",
           moves: str = "", appointment: str = "", flag: str = "", partstat: str = "",
           change: str = "", first_contact: bool = False) -> Reply:
    draft_why = request.draft_why if isinstance(request, Request) else ""
    capped = over_cap(policy, sent)
    if capped and not draft_why:
        draft_why = f"over the cap: {capped}"
    if draft_mode and not draft_why:
        draft_why = 'mail.mode = "draft"'
    return Reply(kind=kind, language=text.language, to=request.to, to_name=request.to_name,
                 text=text, slots=slots, draft=bool(draft_why), reason=request.reason,
                 fired=request.fired, draft_why=draft_why, service=service,
                 hold_until=hold_until, about_offer=about_offer, moves=moves,
                 appointment=appointment, flag=flag, partstat=partstat, change=change,
                 first_contact=first_contact)


def answer_choice(
    choice: Choose,
    msg: InboundMessage,
    *,
    policy: Policy,
    now: datetime,
    busy: Sequence[BusyInterval] | None,
    templates: Templates,
    sent: SentCounts,
    offers: Sequence[Offer] = (),
    booked: Sequence[Appointment] = (),
    draft_mode: bool = False,
    moving: Appointment | None = None,
    returning: bool = True,
) -> BookIt | ChangeIt | Reply | ForFreelancer | WaitForCalendar | Ignore:
    """What a reply to an offer gets: the booking and its confirmation (or, when the offer was
    to move `moving`, the move); fresh times when the time chosen is taken (or none suited);
    one question back when it is unclear; the freelancer when it is still unclear. Nothing is
    booked from a calendar that is not fresh."""
    offer = choice.offer
    if offer.moves and (moving is None or moving.state == "cancelled"):
        return ForFreelancer("chooses a time to move an appointment that is no longer booked",
                             "choice")
    if unpaid(choice.to, policy) and moving is None:
        limited = limit_reason("unpaid", choice.to, policy, sent)
        if limited:
            return Ignore(f"not answered: {limited}", "choice")
        settle = unpaid_reply(policy, language=choice.language, client_name=msg.from_name,
                              original_subject=msg.subject, templates=templates)
        choice = replace(choice, reason=f"{choice.reason}; {choice.to} is on clients.unpaid")
        return _reply("unpaid", settle, choice, policy, sent, draft_mode,
                      about_offer=offer.offer_id)
    if busy is None:
        return WaitForCalendar("choice", "waits for the calendar: it has not synced recently, "
                                         "so nothing can be booked")
    if moving is not None:
        # the appointment being moved does not stand in its own way
        busy = [b for b in busy if b.uid != moving.uid]
        booked = [a for a in booked if a.uid != moving.uid]
    allowed = for_client(policy, returning or moving is not None)
    text = strip_quoted(msg.text)
    result = choose(text, offer, allowed, busy, now, booked=booked, offers=offers)
    common = {"language": choice.language, "client_name": msg.from_name,
              "original_subject": msg.subject, "templates": templates}
    if isinstance(result, Book):
        limited = limit_reason("confirmation", choice.to, policy, sent)
        capped = over_cap(policy, sent)
        if limited or capped:
            return ForFreelancer(f"chooses {result.how}, not booked: {limited or capped}",
                                 "choice")
        confirmation = confirmation_reply(policy, slot=result.slot, service=offer.service,
                                          previous=None if moving is None
                                          else Slot(moving.start, moving.end),
                                          **common)  # type: ignore[arg-type]
        if moving is not None:
            return ChangeIt(change="move", appointment=moving, text=confirmation, to=choice.to,
                            to_name=choice.to_name, slot=result.slot, offer=offer,
                            reason=f"chose {result.how} of the offer to move the appointment",
                            also_asks=result.also_asks)
        return BookIt(offer=offer, slot=result.slot, how=result.how, text=confirmation,
                      to=choice.to, to_name=choice.to_name, also_asks=result.also_asks,
                      reason=f"chose {result.how} of the offer")
    if isinstance(result, LeaveIt):
        return ForFreelancer(result.why, "choice")
    limited = limit_reason("booking", choice.to, policy, sent)
    if limited:
        return ForFreelancer(f"not answered: {limited}", "choice")
    if isinstance(result, AskWhich):
        slots = tuple(offer.slots[n - 1] for n in result.numbers)
        asked = unclear_reply(policy, slots=slots, numbers=result.numbers,
                              **common)  # type: ignore[arg-type]
        return _reply("unclear", asked, choice, policy, sent, draft_mode,
                      about_offer=offer.offer_id)
    intro = "taken" if isinstance(result, NotBookable) else "declined"
    if isinstance(result, NotBookable):
        why = f"the time chosen cannot be booked: {_why_not(result, policy, allowed)}"
    else:
        why = result.why
    choice = replace(choice, reason=f"{choice.reason}: {why}")
    fresh = tuple(result.slots) if isinstance(result, Declined) else slots_to_offer(
        allowed, busy, now, service=offer.service, offers=offers, client=choice.to,
        booked=booked)
    held = hold_until(policy, now) if fresh else None
    current = None if moving is None else Slot(moving.start, moving.end)
    again = booking_reply(policy, slots=fresh, service=offer.service, hold_until=held,
                          intro="move" if moving is not None and intro == "declined" else intro,
                          current=current, **common)  # type: ignore[arg-type]
    return _reply("booking", again, choice, policy, sent, draft_mode, slots=fresh,
                  service=offer.service, hold_until=held, about_offer=offer.offer_id,
                  moves=offer.moves)


def _why_not(result: NotBookable, policy: Policy, allowed: Policy) -> str:
    """Why a chosen time cannot be booked, saying so when the day is kept for returning
    clients (booking.new_client_days)."""
    day = result.slot.start.astimezone(policy.zone).weekday()
    if allowed is not policy and day not in allowed.hours.week and day in policy.hours.week:
        return "a first appointment is only on the days of booking.new_client_days"
    return result.why


# --- After the booking: cancellations, moves, calendar answers ---------------------------------


def answer_change(
    about: AboutAppointment,
    msg: InboundMessage,
    *,
    policy: Policy,
    now: datetime,
    busy: Sequence[BusyInterval] | None,
    templates: Templates,
    sent: SentCounts,
    appointments: Sequence[Appointment],
    in_thread: Appointment | None = None,
    offers: Sequence[Offer] = (),
    booked: Sequence[Appointment] = (),
    draft_mode: bool = False,
) -> ChangeIt | Reply | ForFreelancer | WaitForCalendar | Ignore:
    """A client asks to cancel or move an appointment. `appointments` are the appointments
    frontdesk booked for this client (the vouched sender); `in_thread` the one whose
    conversation the email answers, whoever its client is.

    In time for the notice rule: a cancellation is made (ChangeIt) and confirmed; a move gets
    times to choose (preferring the client's words), the appointment kept until one is chosen.
    Late: the freelancer's rule in a reply, the appointment kept and flagged. Several
    appointments: asked once which one. Someone else's appointment, or none: the freelancer."""
    kind = "cancellation" if about.change == "cancel" else "reschedule"
    mine = live(appointments, now)
    if in_thread is not None and address_key(in_thread.client) != address_key(about.to):
        return ForFreelancer(f"asks to {about.change} {in_thread.client}'s appointment, but "
                             f"comes from {about.to}: only the appointment's client may", kind)
    if not mine:
        return ForFreelancer(f"asks to {about.change} an appointment, but {about.to} has no "
                             "upcoming appointment frontdesk booked", kind)
    text = strip_quoted(msg.text)
    found: tuple[Appointment, ...]
    if about.asked_which:
        slots = [Slot(a.start, a.end) for a in mine]
        picked = read_choice(text, slots, about.language, policy.zone, now)
        if isinstance(picked, Picked):
            found = (mine[picked.number - 1],)
        elif isinstance(picked, Ambiguous):
            found = tuple(mine[n - 1] for n in picked.numbers)
        else:
            found = which(text, mine, None, about.language, policy, now)
    else:
        found = which(f"{msg.subject}\n{text}", mine, in_thread, about.language, policy, now)
    common = {"language": about.language, "client_name": msg.from_name,
              "original_subject": msg.subject, "templates": templates}
    if len(found) != 1:
        if about.asked_which:
            return ForFreelancer(f"still unclear which appointment to {about.change}, after "
                                 "one question", kind)
        listed = tuple(found) or tuple(mine)
        if len(listed) == 1:
            found = listed
        else:
            limited = limit_reason("which", about.to, policy, sent)
            if limited:
                return ForFreelancer(f"not answered: {limited}", kind)
            asked = which_reply(policy, slots=[Slot(a.start, a.end) for a in mine],
                                change=about.change, **common)  # type: ignore[arg-type]
            return _reply(f"which_{about.change}", asked, about, policy, sent, draft_mode)
    appointment = found[0]
    return _change(about, appointment, msg, policy=policy, now=now, busy=busy,
                   templates=templates, sent=sent, offers=offers, booked=booked,
                   draft_mode=draft_mode, text=text)


def _change(about: AboutAppointment, appointment: Appointment, msg: InboundMessage, *,
            policy: Policy, now: datetime, busy: Sequence[BusyInterval] | None,
            templates: Templates, sent: SentCounts, offers: Sequence[Offer],
            booked: Sequence[Appointment], draft_mode: bool, text: str,
            partstat: str = "", wish: Wish | None = None,
            ) -> ChangeIt | Reply | ForFreelancer | WaitForCalendar | Ignore:
    kind = "cancellation" if about.change == "cancel" else "reschedule"
    slot = Slot(appointment.start, appointment.end)
    common = {"language": about.language, "client_name": msg.from_name,
              "original_subject": msg.subject, "templates": templates}
    rule = notice(policy, appointment, now)
    when = f"{appointment.start.astimezone(policy.zone):%a %Y-%m-%d %H:%M}"
    if not rule.in_time:
        limited = limit_reason("late", about.to, policy, sent)
        flag = (f"late {'cancellation' if about.change == 'cancel' else 'move'} asked "
                f"{rule.hours_left:.0f} h before (terms.cancellation_notice_hours = "
                f"{rule.notice_hours:g}): you decide")
        if limited:
            return ForFreelancer(f"{flag}; not answered: {limited}", kind)
        late = late_reply(policy, slot=slot, change=about.change, hours_left=rule.hours_left,
                          **common)  # type: ignore[arg-type]
        about = replace(about, reason=f"{about.reason}: the appointment of {when} is "
                                      f"{rule.hours_left:.0f} h away, the rule is stated and it "
                                      "stays booked")
        return _reply("late", late, about, policy, sent, draft_mode, appointment=appointment.uid,
                      flag=flag, partstat=partstat, change=about.change)
    if about.change == "cancel":
        limited = limit_reason("cancelled", about.to, policy, sent) or over_cap(policy, sent)
        if limited:
            return ForFreelancer(f"asks to cancel the appointment of {when}, not done: "
                                 f"{limited}", kind)
        done = cancelled_reply(policy, slot=slot, service=appointment.service,
                               **common)  # type: ignore[arg-type]
        return ChangeIt(change="cancel", appointment=appointment, text=done, to=about.to,
                        to_name=about.to_name, partstat=partstat,
                        reason=f"cancels the appointment of {when}, "
                               f"{rule.hours_left:.0f} h ahead (in time)")
    if unpaid(about.to, policy):
        limited = limit_reason("unpaid", about.to, policy, sent)
        if limited:
            return ForFreelancer(f"asks to move the appointment of {when}; not answered: "
                                 f"{limited}", kind)
        text_unpaid = unpaid_reply(policy, **common)  # type: ignore[arg-type]
        about = replace(about, reason=f"{about.reason}; {about.to} is on clients.unpaid")
        return _reply("unpaid", text_unpaid, about, policy, sent, draft_mode)
    if busy is None:
        return WaitForCalendar(kind, "waits for the calendar: it has not synced recently, so "
                                     "no time can be offered")
    limited = limit_reason("booking", about.to, policy, sent)
    if limited:
        return ForFreelancer(f"asks to move the appointment of {when}; not answered: {limited}",
                             kind)
    if wish is None:
        wish = move_wish(text, appointment, about.language, policy, now)
    slots = move_slots(policy, busy, now, appointment, wish, offers=offers, booked=booked)
    held = hold_until(policy, now) if slots else None
    reply = booking_reply(policy, slots=slots, service=appointment.service, hold_until=held,
                          intro="move", current=slot, **common)  # type: ignore[arg-type]
    about = replace(about, reason=f"{about.reason}: times offered to move the appointment of "
                                  f"{when} ({rule.hours_left:.0f} h ahead, in time)")
    return _reply("booking", reply, about, policy, sent, draft_mode, slots=slots,
                  service=appointment.service, hold_until=held, moves=appointment.uid,
                  appointment=appointment.uid)


def answer_calendar(
    answer: CalendarAnswer,
    appointment: Appointment | None,
    answers: CalendarAnswers,
    msg: InboundMessage,
    *,
    policy: Policy,
    now: datetime,
    busy: Sequence[BusyInterval] | None,
    templates: Templates,
    sent: SentCounts,
    offers: Sequence[Offer] = (),
    booked: Sequence[Appointment] = (),
    draft_mode: bool = False,
) -> SetPartstat | ChangeIt | Reply | ForFreelancer | WaitForCalendar | Ignore:
    """A client's calendar app answered the invitation of `appointment` (None: not one
    frontdesk booked). ACCEPTED and TENTATIVE are recorded, without an email; DECLINED is a
    cancellation, COUNTER a move to the time proposed, both under the notice rule."""
    what = calendar_answer(policy, answer, appointment, answers.sender)
    if what.action == "ignore":
        return Ignore(what.reason, "calendar answer")
    if what.action == "leave" or appointment is None or answers.sender is None:
        return ForFreelancer(what.reason, "calendar answer")
    if what.action == "partstat":
        return SetPartstat(appointment, what.partstat, what.reason)
    language = appointment.language
    change = "cancel" if what.action == "cancel" else "move"
    about = AboutAppointment(change=change, language=language, to=answers.sender,
                             to_name=answers.to_name, fired=(f"calendar: {what.reason}",),
                             reason=what.reason)
    text = strip_quoted(msg.text)
    common = {"policy": policy, "now": now, "busy": busy, "templates": templates,
              "sent": sent, "offers": offers, "booked": booked, "draft_mode": draft_mode,
              "text": text}
    proposed = what.proposed
    if change == "move" and proposed is not None and notice(policy, appointment, now).in_time:
        # the time the client's calendar proposes is booked when it is free, like a time the
        # client names by email; otherwise they get times to choose from
        if busy is None:
            return WaitForCalendar("reschedule", "waits for the calendar: it has not synced "
                                                 "recently")
        others = [b for b in busy if b.uid != appointment.uid]
        mine = [a for a in booked if a.uid != appointment.uid]
        taken = [*others, *(BusyInterval(a.start, a.end, uid=a.uid) for a in mine
                            if a.state != "cancelled")]
        if why_not_bookable(policy, taken, now, proposed) is None and not unpaid(about.to,
                                                                                  policy):
            limited = limit_reason("confirmation", about.to, policy, sent) or over_cap(policy,
                                                                                        sent)
            if limited:
                return ForFreelancer(f"{what.reason}; not moved: {limited}", "reschedule")
            moved = confirmation_reply(policy, language=language, client_name=msg.from_name,
                                       original_subject=msg.subject, slot=proposed,
                                       service=appointment.service, templates=templates,
                                       previous=Slot(appointment.start, appointment.end))
            return ChangeIt(change="move", appointment=appointment, text=moved, to=about.to,
                            to_name=about.to_name, slot=proposed,
                            reason=f"{what.reason}: the time proposed is free, the "
                                   "appointment is moved")
    # a time proposed but not free: times on that day first
    near = None if proposed is None else Wish(dates=(proposed.start.astimezone(policy.zone)
                                                     .date(),))
    return _change(about, appointment, msg, partstat=what.partstat, wish=near,
                   **common)  # type: ignore[arg-type]
