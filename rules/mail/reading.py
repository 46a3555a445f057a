"""Reading a client's email: what they want (the intent), how sure frontdesk is (confidence), what
to do about it (the band), in which language to answer, and why (signals `explain` prints).

    read(msg, context, policy) -> Reading

Three layers, each saying what it saw:

1. Silence first. RFC 3834 etiquette (`etiquette.not_for_us`), `clients.block`, calendar
   invitations (the invitation guard's), bulk and notification platforms recognised by their
   headers and addresses (`platforms.machine_signals`) or by a machine's words in the new text:
   intent "none", band "leave".
2. A linear model over the client's own words, the cues and the context (`features`), fitted on
   labelled mail (bench/train_intents.py) and shipped as plain data (`weights`): a probability
   for each intent, and the features that weighed most as signals.
3. Context rules the model may not overrule. A message answering one of frontdesk's own replies
   (MailContext.thread, a frontdesk Message-ID in In-Reply-To/References, or frontdesk's offer
   quoted in the body) is a choice, an objection, a question or a cancellation, not a new
   booking, unless the client asks for other times; a sender with an upcoming appointment who
   writes about cancelling or moving, or about "my appointment", means that one, and explicit
   words of moving or cancelling ("push it back", "je dois annuler") mean one even when the
   calendar does not know it; without an appointment known or words about one, a message is
   not a move or a cancellation; price-objection words make an objection of a message the
   model splits between it and a booking, a choice or a question; a thank-you that asks for
   nothing is not a request; a personal correspondent is never answered automatically; price
   words never get a booking offer.

Bands: the intents frontdesk answers (`ANSWERED`: booking, objection) can be "act" (sure: send,
or the draft in draft mode) or "draft" (a reply filed in Drafts for the freelancer to send); a
cancellation or a reschedule (`CHANGES`) is "act" when sure (the desk then checks whose
appointment it is and the notice rule) or "leave"; a choice is read by the desk with the offer it
answers; everything else is "leave" (left for the freelancer). A booking
offer needs a request for a time in the client's words (`REQUEST_CUES`) or a time or date
they name (`cues.WHEN`). The thresholds come
with the weights, chosen on out-of-fold confidences of the training mail: `ACT` (a clear request:
act), `DRAFT` (a plausible one: draft), and `SURE`, the lower bar to act when the explicit cue of
the intent is there ("can I book", "je voudrais un rendez-vous", "too expensive", "trop cher"):
the reader is sure of those even when the model's probability is split with a neighbouring
intent. A booking offer inside a conversation, beside price talk, or to a sender who already has
an appointment, asking how long the work takes or for a quote, or near a pitch's words is a draft
at most; a stranger's pitch (`cues.PITCH`) gets none.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from rules.mail import weights as _weights
from rules.mail.cues import PITCH, PITCH_LIKE, THIRD_PARTY, TURNAROUND, WHEN
from rules.mail.etiquette import calendar_methods, matches_pattern, not_for_us
from rules.mail.features import Facts, facts, features, organisation
from rules.mail.platforms import machine_signals
from rules.mail.words import detect_language, fold, foreign
from rules.model import InboundMessage, MailContext, Policy

INTENTS = ("booking", "objection", "choice", "cancellation", "reschedule", "question", "none")
BANDS = ("act", "draft", "leave")
ANSWERED = frozenset({"booking", "objection"})  # intents frontdesk has an automatic reply for
# Intents about an appointment already booked: acted on when sure (the desk then checks whose
# appointment it is and the notice rule); the least confidence to act when the weights say none.
CHANGES = frozenset({"cancellation", "reschedule"})
CHANGE_ACT = 0.6
# The explicit cue that makes the reader sure of an answered intent ("can I book", "trop cher").
EXPLICIT = MappingProxyType({"booking": "booking_explicit", "objection": "objection_explicit"})
# Cues that ask for a time: a booking offer needs one of them in the client's words.
REQUEST_CUES = frozenset({"ask_availability", "want_booking", "booking_explicit", "day_ask"})
# Cues that ask or say something frontdesk answers: a thank-you without any of them (and without
# a question mark) asks for nothing.
ASKING_CUES = REQUEST_CUES | {
    "possible",
    "cancel",
    "cancel_explicit",
    "reschedule",
    "reschedule_explicit",
    "reject_offer",
    "pick",
    "price",
    "price_objection",
    "objection_explicit",
    "service_question",
}
# Least confidence for "nothing to answer" in a reply to one of frontdesk's own messages.
NONE_IN_THREAD = 0.5
# Intents a message answering frontdesk's own reply may carry (a new booking only when the
# client asks for other times).
THREAD_INTENTS = frozenset({"choice", "objection", "question", "cancellation", "reschedule"})


@dataclass(frozen=True)
class Reading:
    """What the sender wants and what frontdesk does about it.

    `intent`: one of INTENTS. `confidence`: 0..1, the reader's probability for that intent.
    `band`: "act" (answer automatically), "draft" (file a reply for the freelancer to send),
    "leave" (left for the freelancer). `language`: "fr" or "en", the client's, for the reply.
    `signals`: short sentences saying what made the decision, for logs and `explain`.
    """

    intent: str
    confidence: float
    band: str
    language: str
    signals: tuple[str, ...]


@dataclass(frozen=True)
class Model:
    """A multinomial logistic regression: weights per feature, one per class, and biases."""

    classes: tuple[str, ...]
    bias: tuple[float, ...]
    table: MappingProxyType[str, tuple[float, ...]]
    act: MappingProxyType[str, float]  # intent -> least confidence to act
    draft: MappingProxyType[str, float]  # intent -> least confidence to draft
    sure: MappingProxyType[str, float]  # intent -> least confidence to act on an explicit cue

    def probabilities(self, values: dict[str, float]) -> dict[str, float]:
        scores = list(self.bias)
        for name, value in values.items():
            row = self.table.get(name)
            if row is not None:
                for index, weight in enumerate(row):
                    scores[index] += weight * value
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {c: e / total for c, e in zip(self.classes, exps, strict=True)}

    def reasons(self, values: dict[str, float], intent: str, count: int) -> list[tuple[str, float]]:
        """The features that pushed most towards `intent` (against the average of the others)."""
        index = self.classes.index(intent)
        pushes: list[tuple[str, float]] = []
        for name, value in values.items():
            row = self.table.get(name)
            if row is None:
                continue
            others = (sum(row) - row[index]) / (len(row) - 1)
            push = (row[index] - others) * value
            if push > 0.05:
                pushes.append((name, push))
        pushes.sort(key=lambda p: -p[1])
        return pushes[:count]


def parse_table(text: str, width: int) -> MappingProxyType[str, tuple[float, ...]]:
    """The weights table: `name<TAB>w1 w2 ...` a line."""
    table: dict[str, tuple[float, ...]] = {}
    for line in text.splitlines():
        name, _, numbers = line.partition("\t")
        row = tuple(float(n) for n in numbers.split())
        if name and len(row) == width:
            table[name] = row
    return MappingProxyType(table)


MODEL = Model(
    classes=tuple(_weights.CLASSES),
    bias=tuple(_weights.BIAS),
    table=parse_table(_weights.TABLE, len(_weights.CLASSES)),
    act=MappingProxyType(dict(_weights.ACT)),
    draft=MappingProxyType(dict(_weights.DRAFT)),
    sure=MappingProxyType(dict(_weights.SURE)),
)


def read(msg: InboundMessage, context: MailContext, policy: Policy) -> Reading:
    """What the sender wants, how sure frontdesk is, and what it does (see the module's doc)."""
    return read_with(MODEL, msg, context, policy)


def read_with(model: Model, msg: InboundMessage, context: MailContext, policy: Policy) -> Reading:
    """`read` with a given model (the training script scores its folds through this)."""
    language_default = policy.freelancer.language
    silent = _silence(msg, context, policy)
    if silent:
        language = detect_language(msg.subject + "\n" + msg.text[:2000], language_default)
        return Reading("none", 1.0, "leave", language, silent)
    seen = facts(msg, context, policy)
    language = _language(seen, language_default)
    if foreign(seen.new_text):
        # frontdesk reads French and English: the freelancer reads the rest
        why = "language: neither French nor English, for the freelancer"
        return Reading("question", 1.0, "leave", language, (why,))
    signals = _context_signals(seen, context)
    machine_words = seen.cues.get("machine_words")
    if machine_words and context.relation == "stranger":
        return Reading(
            "none", 0.99, "leave", language, (*signals, f'machine: the words "{machine_words}"')
        )
    values = features(msg, context, seen)
    probs = model.probabilities(values)
    probs, guards = _guard(probs, seen, context)
    intent = max(probs, key=lambda c: probs[c])
    confidence = probs[intent]
    signals.extend(_word_signals(model, values, intent, seen))
    signals.extend(guards)
    band, why = _band(model, msg, intent, confidence, seen, context, probs)
    signals.append(why)
    return Reading(intent, round(confidence, 3), band, language, tuple(signals))


# --- 1. silence ----------------------------------------------------------------------------------


def _silence(msg: InboundMessage, context: MailContext, policy: Policy) -> tuple[str, ...]:
    reason = not_for_us(msg, policy.freelancer.addresses)
    if reason:
        return (f"etiquette: {reason}",)
    for address in (msg.from_address, msg.reply_to):
        if address and matches_pattern(address, policy.clients.block):
            return (f"sender: {address} matches clients.block",)
    if any(param.strip() or calendar_methods(ics) for param, ics in msg.calendar_parts):
        # an iTIP message is the invitation guard's (or the appointments'); a bare .ics a
        # client attached (no METHOD) leaves their words to be read like any other mail
        return ("calendar: an iCalendar part, for the invitation guard",)
    machine = machine_signals(msg)
    if machine and context.relation == "stranger":
        return tuple(f"machine: {m}" for m in machine)
    return ()


# --- 2. context and words as signals -------------------------------------------------------------

_THREADS = {
    "offer": "frontdesk's offer of times",
    "confirmation": "frontdesk's booking confirmation",
    "objection": "frontdesk's answer to a price objection",
    "decline": "frontdesk's decline",
    "frontdesk": "one of frontdesk's replies (its Message-ID)",
}


def _context_signals(seen: Facts, context: MailContext) -> list[str]:
    signals: list[str] = []
    if seen.thread:
        signals.append(f"thread: answers {_THREADS.get(seen.thread, seen.thread)}")
    if seen.quoted_offer:
        signals.append("thread: frontdesk's numbered times quoted in the message")
    for slot in context.appointments[:2]:
        signals.append(f"calendar: the sender has an appointment on {slot.start:%Y-%m-%d %H:%M}")
    relation = {
        "client": "a client frontdesk or the freelancer dealt with before",
        "personal": "someone the freelancer writes to personally",
    }.get(context.relation, "a stranger")
    signals.append(f"sender: {relation}")
    if seen.services:
        signals.append("services: the client names " + ", ".join(seen.services))
    return signals


def _word_signals(model: Model, values: dict[str, float], intent: str, seen: Facts) -> list[str]:
    shown: list[str] = []
    for name, push in model.reasons(values, intent, 5):
        kind, _, what = name.partition(":")
        if kind == "cue":
            text = f'cue {what} ("{seen.cues.get(what, what)}")'
        elif kind in ("w", "b"):
            text = f'words "{what}"'
        elif kind == "s":
            text = f'subject word "{what}"'
        elif kind == "x":
            text = f"cue in context {what}"
        else:
            text = f"context {what}"
        shown.append(f"{intent}: {text} +{push:.2f}")
    return shown


def _language(seen: Facts, default: str) -> str:
    own = detect_language(seen.subject + "\n" + seen.new_text, "")
    if own:
        return own
    if len(seen.new_text) > 12:  # a short sentence: one common word decides
        own = detect_language(seen.subject + "\n" + seen.new_text, "", minimum=1)
        if own:
            return own
    # A short reply ("2", "ok") answers in the thread's language: frontdesk's quoted words.
    return detect_language(seen.quoted[:2000], default) if seen.quoted else default


# --- 3. context rules and bands ------------------------------------------------------------------


def _renormalised(probs: dict[str, float], removed: str) -> dict[str, float]:
    rest = 1.0 - probs[removed]
    if rest <= 1e-9:
        return {c: (1.0 if c == "none" else 0.0) for c in probs}
    return {c: (0.0 if c == removed else p / rest) for c, p in probs.items()}


_MOVES = {
    "reschedule": frozenset({"reschedule", "reschedule_explicit", "my_appointment"}),
    "cancellation": frozenset({"cancel", "cancel_explicit", "my_appointment"}),
}


def _guard(
    probs: dict[str, float], seen: Facts, context: MailContext
) -> tuple[dict[str, float], list[str]]:
    probs, notes = _guard_intent(probs, seen, context)
    top = max(probs, key=lambda c: probs[c])
    if top == "none" and probs[top] < NONE_IN_THREAD and (seen.thread or seen.quoted_offer):
        # a reply in a conversation with frontdesk is dropped in silence only when that is sure
        # ("parfait merci"); otherwise it is read as what such replies carry, for a person
        notes.append(f"guard: a reply to frontdesk, not surely nothing ({probs[top]:.2f})")
        probs = _renormalised(probs, top)
    return probs, notes


def _guard_intent(
    probs: dict[str, float], seen: Facts, context: MailContext
) -> tuple[dict[str, float], list[str]]:
    notes: list[str] = []
    top = max(probs, key=lambda c: probs[c])
    if top in _MOVES and not context.appointments and not (_MOVES[top] & set(seen.cues)):
        # a move or a cancellation is of an appointment one has: the calendar says so, or the
        # words do ("my appointment", "cancel", "push it back")
        notes.append(f"guard: no appointment known and no words about one: not a {top}")
        probs = _renormalised(probs, top)
        top = max(probs, key=lambda c: probs[c])
    asks = bool(ASKING_CUES & set(seen.cues)) or "?" in seen.new_text or seen.bare_pick
    if top in ANSWERED and "thanks" in seen.cues and not asks:
        notes.append("guard: a thank-you that asks for nothing")
        for answered in ANSWERED:
            probs = _renormalised(probs, answered)
        return probs, notes
    priced = seen.cues.get("objection_explicit") or seen.cues.get("price_objection")
    second = sorted(probs, key=lambda c: -probs[c])[1]
    if priced and top in ("booking", "choice", "question") and second == "objection":
        # price words are all but only in objections (101 of 102 in train, 1 of 705 elsewhere):
        # the price comes first, the time or the question after
        notes.append(f'guard: "{priced}": the price comes first, an objection not a {top}')
        return _renormalised(probs, top), notes
    if top != "booking":
        return probs, notes
    in_thread = bool(seen.thread) or seen.quoted_offer
    picks = "pick" in seen.cues and "reject_offer" not in seen.cues
    asks_again = "ask_availability" in seen.cues and not seen.bare_pick and not picks
    if in_thread and not asks_again:
        notes.append("guard: a reply to frontdesk is not a new booking request")
        return _renormalised(probs, "booking"), notes
    cues = set(seen.cues)
    another = "booking_explicit" in cues and not ({"cancel", "reschedule"} & cues)
    if context.appointments and ({"cancel", "reschedule", "my_appointment"} & cues) and not another:
        # ("I have my usual session on the 8th. Separately, could we book one for my husband?"
        # asks for another in so many words: a draft, by the band)
        notes.append("guard: the sender writes about the appointment they have")
        return _renormalised(probs, "booking"), notes
    moved = seen.cues.get("reschedule_explicit") or seen.cues.get("cancel_explicit")
    if moved:
        notes.append(f'guard: "{moved}" moves or cancels an appointment, not a new booking')
        return _renormalised(probs, "booking"), notes
    return probs, notes


def _band(
    model: Model,
    msg: InboundMessage,
    intent: str,
    confidence: float,
    seen: Facts,
    context: MailContext,
    probs: dict[str, float],
) -> tuple[str, str]:
    if intent in CHANGES:
        # the desk acts on it only for the sender's own appointment, under the notice rule
        if context.relation == "personal":
            return "leave", "band: leave (a personal correspondent is never answered automatically)"
        act = model.act.get(intent, CHANGE_ACT)
        if confidence >= act:
            return "act", f"band: act ({confidence:.2f} >= {act:.2f})"
        return "leave", f"band: leave ({confidence:.2f} < {act:.2f}: not sure enough)"
    if intent not in ANSWERED:
        if intent == "choice":
            return "leave", f"band: leave, flagged {intent} (read with the offer it answers)"
        return "leave", f"band: leave ({intent}: nothing frontdesk answers by itself)"
    if context.relation == "personal":
        return "leave", "band: leave (a personal correspondent is never answered automatically)"
    cues = set(seen.cues)
    asks_how_long = TURNAROUND.search(fold(seen.new_text))
    if (
        intent == "booking"
        and not (REQUEST_CUES & cues)
        and not _speaks_of_a_time(seen)
        and not asks_how_long
    ):
        # a request names a time, in its words ("any spots open") or by the time itself
        # ("time for my monthly, any Thursday after 5"); a question mark alone is as often a
        # question about the service ("offrez-vous les séances en français?"), and "thanks for
        # the session yesterday" asks for nothing
        return "leave", "band: leave (no request for a time in the client's words)"
    cap = ""  # why the band may be draft at most, or "" when it may be act
    if intent == "booking" and context.appointments:
        # another one, for them or for a partner, only when asked for in so many words ("can I
        # book one for my husband too?"): what a sender with an appointment writes about is most
        # often that one (a parking question must not get new times)
        if EXPLICIT[intent] not in cues:
            return "leave", "band: leave (the sender has an appointment: a person answers)"
        cap = "another appointment asked for by a sender who has one"
    if intent == "booking" and (bool(seen.thread) or seen.quoted_offer):
        cap = "new times asked for inside a conversation"
    if intent == "booking" and {"price_objection", "objection_explicit"} & cues:
        return "leave", "band: leave (the price is an obstacle: never a booking offer)"
    if intent == "booking" and context.relation == "stranger" and organisation(msg):
        return "leave", "band: leave (an organisation's address or name: a pitch, not a client)"
    if intent == "booking" and probs.get("objection", 0.0) > 0.2:
        cap = "price talk beside the request"
    if intent == "booking" and context.relation == "stranger":
        said = fold(f"{seen.subject}\n{seen.new_text}")
        pitch = PITCH.search(said)
        if pitch and not seen.services:
            return "leave", f'band: leave (a pitch, not a client: "{pitch.group(0)}")'
        # a business naming what the freelancer sells may be ordering it ("we are recruiting an
        # engineer and need his diploma translated"): a person checks
        pitch = pitch or PITCH_LIKE.search(said)
        if pitch:
            cap = f'a pitch rather than a client? ("{pitch.group(0)}")'
    if intent == "booking" and asks_how_long and EXPLICIT[intent] not in cues:
        cap = f'how long the work takes is asked ("{asks_how_long.group(0)}")'
    if intent == "booking" and "third_party" in cues:
        announced = THIRD_PARTY.search(fold(seen.new_text))
        if announced:
            cap = f'someone else is to write? ("{announced.group(0)}")'
    explicit = EXPLICIT[intent] in cues
    act = model.sure.get(intent, 1.01) if explicit else model.act.get(intent, 1.01)
    draft = min(model.draft.get(intent, 1.01), act)
    said = f'the explicit "{seen.cues[EXPLICIT[intent]]}", ' if explicit else ""
    if confidence >= act and not cap:
        return "act", f"band: act ({said}{confidence:.2f} >= {act:.2f})"
    if confidence >= draft:
        why = f"{confidence:.2f} >= {draft:.2f}" if confidence < act else f"a person checks: {cap}"
        return "draft", f"band: draft ({said}{why})"
    return "leave", f"band: leave ({said}{confidence:.2f} < {draft:.2f})"


def _speaks_of_a_time(seen: Facts) -> bool:
    """A time or a date in the client's words or a new message's subject (`cues.WHEN`)."""
    return bool(WHEN.search(fold(f"{seen.subject}\n{seen.new_text}")))


__all__ = ["ANSWERED", "BANDS", "INTENTS", "MODEL", "Model", "Reading", "read", "read_with"]
_ = fold
