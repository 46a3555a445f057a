"""What frontdesk does with one inbound email by today's word tables: ignore it, leave it for
review, hand it to the invitation guard, or answer it (a booking request or a price objection).

`classify` is kept for the daemon's current caller; `rules.mail.reading.read` is the reader that
replaces it (intents, context and bands).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rules.mail.etiquette import calendar_methods, matches_pattern, not_for_us
from rules.mail.quoted import _SUBJECT_PREFIX_RE, clean_subject, strip_quoted
from rules.mail.words import (
    ASIDE_WORDS,
    BOOKING_WORDS,
    PAST_WORDS,
    REQUEST_CUES,
    THANKS_WORDS,
    _hits,
    _objection_hits,
    detect_language,
    fold,
)
from rules.model import InboundMessage, Policy

# --- Decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ignore:
    reason: str


@dataclass(frozen=True)
class Review:
    reason: str


@dataclass(frozen=True)
class Invitation:
    """A calendar request, to be judged by the invitation guard."""

    reason: str
    parts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Answer:
    kind: str  # "booking" | "objection"
    language: str
    fired: tuple[str, ...]
    reason: str


Decision = Ignore | Review | Invitation | Answer

_CALENDAR_SILENT = "nothing to answer"


def _sentences(folded: str) -> list[str]:
    """Sentences of a folded text; each keeps its line breaks (hard-wrapped mail)."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", folded):
        sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", paragraph) if s.strip())
    return sentences


def _set_aside(sentence: str) -> tuple[str, list[str]]:
    """The sentence without its thank-you, past-time and aside clauses, and the words that
    marked them.

    Clauses end at commas, semicolons and line breaks, so "Thanks for yesterday, could we book
    another session?" keeps its request and a wrapped sign-off stays apart from the request.
    """
    kept: list[str] = []
    marks: list[str] = []
    for clause in re.split(r"[,;\n]", sentence):
        found = _hits(clause, THANKS_WORDS) + _hits(clause, PAST_WORDS) + _hits(clause, ASIDE_WORDS)
        if found:
            marks.extend(found)
        else:
            kept.append(clause)
    return " ".join(kept), marks


def intent(subject: str, text: str) -> tuple[str, tuple[str, ...]]:
    """("booking" | "objection" | "other", the words that fired) from subject and new text.

    An objection anywhere wins. A booking needs, in one sentence, a booking word and a request cue
    or a question mark, once thank-you, past-time and aside clauses are set aside. A fresh subject
    ("Rendez-vous", not "Re: ...") counts as a sentence and gives its topic to the body's
    requests; a reply's subject repeats the thread and is read for objections only. For "other"
    the fired words say what was seen.
    """
    objections = _objection_hits(fold(subject + "\n" + text))
    if objections:
        return "objection", tuple(objections)
    topic = clean_subject(subject)
    fresh = bool(topic) and not _SUBJECT_PREFIX_RE.match(subject)
    sentences = _sentences(fold(text))
    subject_words: list[str] = []
    if fresh:
        live_subject, _ = _set_aside(fold(topic))
        subject_words = _hits(live_subject, BOOKING_WORDS)
        sentences.insert(0, fold(topic))
    fired: list[str] = []
    seen: list[str] = []
    for sentence in sentences:
        live, marks = _set_aside(sentence)
        seen.extend(marks)
        words = _hits(live, BOOKING_WORDS)
        cues = _hits(live, REQUEST_CUES) + (["?"] if "?" in live else [])
        seen.extend(words)
        if cues and (words or subject_words):
            fired.extend(subject_words + words + cues)
    if fired:
        return "booking", tuple(dict.fromkeys(fired))
    return "other", tuple(dict.fromkeys(seen))


def _calendar_decision(msg: InboundMessage) -> Decision | None:
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
        return Invitation("calendar METHOD REQUEST", tuple(requests))
    if mismatches:
        return Review("calendar part disagrees with itself: " + "; ".join(mismatches))
    if others:
        return Ignore(f"calendar METHOD {', '.join(others)}: {_CALENDAR_SILENT}")
    return None  # a bare .ics file with no METHOD: read the mail as any other


def classify(
    msg: InboundMessage, policy: Policy, *, self_addresses: frozenset[str] | None = None
) -> Ignore | Review | Invitation | Answer:
    """What frontdesk does with the message. `self_addresses` defaults to the freelancer's."""
    selves = (
        policy.freelancer.addresses
        if self_addresses is None
        else frozenset(a.strip().lower() for a in self_addresses)
    )
    reason = not_for_us(msg, selves)
    if reason:
        return Ignore(reason)
    senders = [a for a in (msg.from_address, msg.reply_to) if a]
    for address in senders:
        if matches_pattern(address, policy.clients.block):
            return Ignore(f"{address} matches clients.block")
    for address in senders:
        if matches_pattern(address, policy.clients.review):
            return Review(f"{address} matches clients.review")
    calendar = _calendar_decision(msg)
    if calendar is not None:
        return calendar
    new_text = strip_quoted(msg.text)
    kind, fired = intent(msg.subject, new_text)
    if kind == "other":
        seen = f" (saw: {', '.join(fired)})" if fired else ""
        return Ignore(f"not a booking request{seen}")
    if not msg.headers_ok:
        return Review(f"looks like a {kind} message, but its headers needed repair")
    language = detect_language(
        clean_subject(msg.subject) + "\n" + new_text, policy.freelancer.language
    )
    words = ", ".join(fired)
    what = "a price objection" if kind == "objection" else "a booking request"
    return Answer(kind=kind, language=language, fired=fired, reason=f"{what} ({words})")


