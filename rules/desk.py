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
    confirmation_reply,
    objection_reply,
    unclear_reply,
)
from rules.senders import Confidence, reply_target
from rules.when import Picked, read_choice

__all__ = [
    "ForFreelancer",
    "Ignore",
    "JudgeInvitations",
    "Reply",
    "Request",
    "SentCounts",
    "WaitForCalendar",
    "answer",
    "read",
]

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


Reading = Ignore | ForFreelancer | JudgeInvitations | Request | Choose
Decision = Ignore | ForFreelancer | JudgeInvitations | WaitForCalendar | Reply | BookIt


@dataclass(frozen=True)
class SentCounts:
    """What was already sent, as the limits count it (Policy.limits)."""

    same_kind: int = 0  # to this recipient, of this kind, within limits.repeat_days
    to_recipient: int = 0  # automatic replies to this recipient in the last 24 hours
    last_hour: int = 0  # all automatic mail in the last hour
    last_day: int = 0  # all automatic mail in the last 24 hours
    details: tuple[str, ...] = field(default=())


# --- Step 1: reading ----------------------------------------------------------------------------


def _calendar_reading(msg: InboundMessage, sender: str) -> Reading | None:
    requests: list[tuple[str, str]] = []
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
        others.extend(m for m in methods if m != "REQUEST" and m not in others)
    if requests:
        return JudgeInvitations("calendar METHOD REQUEST", tuple(requests), sender)
    if mismatches:
        return ForFreelancer("calendar part disagrees with itself: " + "; ".join(mismatches))
    if others:
        return Ignore(f"calendar METHOD {', '.join(others)}: {_CALENDAR_SILENT}")
    return None  # a bare .ics file with no METHOD: read the mail as any other


def read(msg: InboundMessage, policy: Policy, context: MailContext | None = None,
         offer: Offer | None = None, authserv_ids: Sequence[str] = ()) -> Reading:
    """What the email is, and who may be answered. `context` is what the daemon knows around
    it (the thread, the sender, their appointments); without it the sender is a stranger.
    `offer` is the client's open offer this email may answer (its thread, or their latest).
    `authserv_ids`: the freelancer's receiving servers whose Authentication-Results count
    (rules.senders: who may be answered)."""
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
    calendar = _calendar_reading(msg, target.address or "")
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


def limit_reason(request: Request, policy: Policy, sent: SentCounts) -> str | None:
    """Why no automatic reply may go to this address now (RFC 5230 §4.2), or None."""
    limits = policy.limits
    if sent.same_kind >= 1:
        days = f"{limits.repeat_days:g} day" + ("" if limits.repeat_days == 1 else "s")
        return f"{request.to} already got a {request.kind} reply in the last {days}"
    if sent.to_recipient >= limits.per_sender_per_day:
        return (f"{request.to} already got {sent.to_recipient} automatic replies in the last "
                "24 hours (limits.per_sender_per_day)")
    return None


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
) -> Reply | Ignore | WaitForCalendar:
    """The reply to a request. `busy` is None when the calendar is not fresh enough to offer
    times from: a booking request then waits. `offers` are the open offers (their slots are
    held for their clients), `booked` the appointments frontdesk made."""
    limited = limit_reason(request, policy, sent)
    if limited:
        return Ignore(f"not answered: {limited}", request.kind)
    slots: tuple[Slot, ...] = ()
    if request.kind == "booking":
        if busy is None:
            return WaitForCalendar(request.kind, "waits for the calendar: it has not synced "
                                                 "recently, so no time can be offered")
        service = service_for(f"{msg.subject}\n{strip_quoted(msg.text)}", policy)
        slots = slots_to_offer(policy, busy, now, service=service, offers=offers,
                               client=request.to, booked=booked)
        held = hold_until(policy, now) if slots else None
        text = booking_reply(policy, language=request.language, client_name=msg.from_name,
                             original_subject=msg.subject, slots=slots, templates=templates,
                             service=service, hold_until=held)
        return _reply(request.kind, text, request, policy, sent, draft_mode, slots=slots,
                      service=service, hold_until=held)
    else:
        text = objection_reply(policy, language=request.language, client_name=msg.from_name,
                               original_subject=msg.subject, templates=templates)
    return _reply(request.kind, text, request, policy, sent, draft_mode)


def _reply(kind: str, text: ReplyText, request: Request | Choose, policy: Policy,
           sent: SentCounts, draft_mode: bool, *, slots: tuple[Slot, ...] = (),
           service: int = 0, hold_until: datetime | None = None,
           about_offer: str = "") -> Reply:
    draft_why = request.draft_why if isinstance(request, Request) else ""
    capped = over_cap(policy, sent)
    if capped and not draft_why:
        draft_why = f"over the cap: {capped}"
    if draft_mode and not draft_why:
        draft_why = 'mail.mode = "draft"'
    return Reply(kind=kind, language=text.language, to=request.to, to_name=request.to_name,
                 text=text, slots=slots, draft=bool(draft_why), reason=request.reason,
                 fired=request.fired, draft_why=draft_why, service=service,
                 hold_until=hold_until, about_offer=about_offer)


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
) -> BookIt | Reply | ForFreelancer | WaitForCalendar:
    """What a reply to an offer gets: the booking and its confirmation; fresh times when the
    time chosen is taken (or none suited); one question back when it is unclear; the
    freelancer when it is still unclear. Nothing is booked from a calendar that is not fresh."""
    if busy is None:
        return WaitForCalendar("choice", "waits for the calendar: it has not synced recently, "
                                         "so nothing can be booked")
    offer = choice.offer
    text = strip_quoted(msg.text)
    result = choose(text, offer, policy, busy, now, booked=booked, offers=offers)
    common = {"language": choice.language, "client_name": msg.from_name,
              "original_subject": msg.subject, "templates": templates}
    if isinstance(result, Book):
        confirmation = confirmation_reply(policy, slot=result.slot, service=offer.service,
                                          **common)  # type: ignore[arg-type]
        return BookIt(offer=offer, slot=result.slot, how=result.how, text=confirmation,
                      to=choice.to, to_name=choice.to_name, also_asks=result.also_asks,
                      reason=f"chose {result.how} of the offer")
    if isinstance(result, LeaveIt):
        return ForFreelancer(result.why, "choice")
    if isinstance(result, AskWhich):
        slots = tuple(offer.slots[n - 1] for n in result.numbers)
        asked = unclear_reply(policy, slots=slots, numbers=result.numbers,
                              **common)  # type: ignore[arg-type]
        return _reply("unclear", asked, choice, policy, sent, draft_mode,
                      about_offer=offer.offer_id)
    intro = "taken" if isinstance(result, NotBookable) else "declined"
    why = (f"the time chosen cannot be booked: {result.why}" if isinstance(result, NotBookable)
           else result.why)
    choice = replace(choice, reason=f"{choice.reason}: {why}")
    fresh = tuple(result.slots) if isinstance(result, Declined) else slots_to_offer(
        policy, busy, now, service=offer.service, offers=offers, client=choice.to,
        booked=booked)
    held = hold_until(policy, now) if fresh else None
    again = booking_reply(policy, slots=fresh, service=offer.service, hold_until=held,
                          intro=intro, **common)  # type: ignore[arg-type]
    return _reply("booking", again, choice, policy, sent, draft_mode, slots=fresh,
                  service=offer.service, hold_until=held, about_offer=offer.offer_id)
