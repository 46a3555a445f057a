"""The features the intent reader weighs: the client's own words (folded, with numbers, times,
prices and days reduced to their kind), the cues (`cues.CUES`), and the context around the
message (the thread it answers, a quoted offer, the sender's upcoming appointment, who the sender
is, what the freelancer sells).

The same function serves the reader at run time and the training script (bench/train_intents.py),
so the weights always meet the features they were fitted on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rules.mail.cues import bare_pick, cue_hits
from rules.mail.platforms import role_address
from rules.mail.quoted import _SUBJECT_PREFIX_RE, clean_subject, split_quoted
from rules.mail.words import fold
from rules.model import InboundMessage, MailContext, Policy

MAX_TEXT = 3000  # characters of the new text read: a request is made at the start

_MONEY = re.compile(
    r"[$€£]\s?\d[\d,. ]*|\d[\d,.]*\s?(?:\$|€|£|euros?|dollars?|piasses|bucks|eur\b|cad\b)"
)
_TIME = re.compile(r"\b\d{1,2}\s?(?:h\s?\d{0,2}|:\d{2}|\s?(?:am|pm|a\.m\.|p\.m\.))(?!\w)")
_ORDINAL = re.compile(r"\b\d{1,2}(?:st|nd|rd|th|er|eme|e)\b")
_SMALL = re.compile(r"\b[1-9]\b")
_NUMBER = re.compile(r"\d+")
_TOKEN = re.compile(r"[a-z_]+|\?")
_CLASSES = {
    **dict.fromkeys(
        [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
            "mon",
            "tue",
            "tues",
            "wed",
            "thu",
            "thur",
            "thurs",
            "fri",
            "sat",
            "sun",
            "lundi",
            "mardi",
            "mercredi",
            "jeudi",
            "vendredi",
            "samedi",
            "dimanche",
            "mondays",
            "tuesdays",
            "wednesdays",
            "thursdays",
            "fridays",
            "saturdays",
            "sundays",
            "lundis",
            "mardis",
            "mercredis",
            "jeudis",
            "vendredis",
            "samedis",
            "dimanches",
        ],
        "_day_",
    ),
    **dict.fromkeys(
        [
            "january",
            "february",
            "march",
            "april",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
            "janvier",
            "fevrier",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "aout",
            "septembre",
            "octobre",
            "novembre",
            "decembre",
            "jan",
            "feb",
            "mar",
            "apr",
            "jun",
            "jul",
            "aug",
            "sep",
            "sept",
            "oct",
            "nov",
            "dec",
        ],
        "_month_",
    ),
    **dict.fromkeys(
        ["tomorrow", "tmrw", "tmr", "today", "tonight", "demain", "aujourd", "hui"], "_soon_"
    ),
    **dict.fromkeys(["yesterday", "hier", "earlier"], "_past_"),
}
# A line of frontdesk's offer: "1. mardi 8 décembre 2026, 10 h 00 – 11 h 00".
_OFFER_LINE = re.compile(r"^[\s>]*[1-9][.)]\s+\S.*\d", re.MULTILINE)
_OFFER_WORDS = re.compile(
    r"reply with the number|just reply with|repondez (?:simplement )?avec le numero|"
    r"here are (?:the|my) next|voici mes prochaines"
)
_CONFIRMED = re.compile(r"\b(?:is confirmed|est confirme)")
_FD_ID = re.compile(r"^fd-[0-9a-f]{32}@")
_ORG_NAME = re.compile(r"\||\bfrom\b|\bteam\b|\bequipe\b|\b(?:inc|ltd|llc|sas|gmbh)\b|\bvia\b")


def organisation(msg: InboundMessage) -> bool:
    """Whether the sender looks like an organisation: a role address or a display name like
    "Ravi | RankRight Digital", "Jessica from MindBridge", "L'équipe X"."""
    return role_address(msg.from_address) or bool(_ORG_NAME.search(fold(msg.from_name)))


@dataclass(frozen=True)
class Facts:
    """What was read around and in the message, for the features and for `explain`."""

    subject: str  # without Re:/Fwd: prefixes
    new_text: str  # the writer's own words
    quoted: str  # quoted history, forwards and signatures
    thread: str  # which frontdesk reply it answers ("offer", "confirmation", ...), or ""
    quoted_offer: bool  # the quoted part holds frontdesk's numbered times
    quoted_confirmation: bool
    reply_subject: bool  # "Re:" / "RE:" / "TR:"...
    bare_pick: bool  # the new text is only a number ("2", "le 2 svp")
    cues: dict[str, str]  # cue name -> the words that matched
    services: tuple[str, ...]  # the freelancer's service words the client used


def facts(msg: InboundMessage, context: MailContext, policy: Policy) -> Facts:
    new_text, quoted = split_quoted(msg.text)
    new_text = new_text[:MAX_TEXT]
    folded = fold(new_text)
    quoted_folded = fold(quoted[:MAX_TEXT])
    thread = context.thread
    if not thread:
        own_domain = policy.freelancer.email.rpartition("@")[2].lower()
        for ref in (msg.in_reply_to, *msg.references):
            if _FD_ID.match(ref) and ref.lower().endswith("@" + own_domain):
                thread = "frontdesk"
                break
    offer_lines = len(_OFFER_LINE.findall(quoted_folded))
    quoted_offer = offer_lines >= 2 or bool(_OFFER_WORDS.search(quoted_folded))
    first_lines = " ".join(line for line in folded.splitlines()[:2] if line.strip())
    subject = clean_subject(msg.subject)
    reply_subject = bool(_SUBJECT_PREFIX_RE.match(msg.subject))
    # The cues read the writer's own words, with the sender's own name set aside (a "Price" or a
    # "Booker" signing is not asking about prices), and the subject of a new message (a reply's
    # subject is the other side's).
    cue_text = fold(_without_names(new_text, _name_words(msg)))
    if subject and not reply_subject:
        cue_text = fold(subject) + " | " + cue_text
    words = set(_TOKEN.findall(folded))
    service_words = {
        w
        for service in policy.services
        for name in service.name.texts.values()
        if isinstance(name, str)
        for w in _TOKEN.findall(fold(name))
        if len(w) >= 5
    }
    return Facts(
        subject=subject,
        new_text=new_text,
        quoted=quoted,
        thread=thread,
        quoted_offer=quoted_offer,
        quoted_confirmation=bool(_CONFIRMED.search(quoted_folded)),
        reply_subject=reply_subject,
        bare_pick=bare_pick(first_lines) if len(folded) < 60 else False,
        cues=cue_hits(cue_text),
        services=tuple(sorted(words & service_words)),
    )


def _name_words(msg: InboundMessage) -> frozenset[str]:
    """The sender's own name, folded words of three letters or more (display name and address)."""
    names = _TOKEN.findall(fold(msg.from_name)) + _TOKEN.findall(
        fold(msg.from_address.partition("@")[0].replace(".", " "))
    )
    return frozenset(w for w in names if len(w) > 2)


_CAPITALISED = re.compile(r"\b[^\W\d_a-z][\w'-]*")


def _without_names(text: str, names: frozenset[str]) -> str:
    """The text with the sender's name words, where capitalised, replaced by `_name_`."""
    if not names:
        return text
    return _CAPITALISED.sub(lambda m: "_name_" if fold(m.group(0)) in names else m.group(0), text)


def tokens(folded: str) -> list[str]:
    """Words of folded text, with prices, times, dates, numbers, days and months as kinds."""
    text = _MONEY.sub(" _money_ ", folded)
    text = _TIME.sub(" _time_ ", text)
    text = _ORDINAL.sub(" _date_ ", text)
    text = _SMALL.sub(" _n_ ", text)
    text = _NUMBER.sub(" _num_ ", text)
    return [_CLASSES.get(t, t) for t in _TOKEN.findall(text)]


_CROSSED_CUES = (
    "ask_availability",
    "want_booking",
    "booking_explicit",
    "objection_explicit",
    "day_ask",
    "later",
    "possible",
    "reschedule_explicit",
    "cancel_explicit",
    "reject_offer",
    "cancel",
    "reschedule",
    "pick",
    "price",
    "price_objection",
    "question_topic",
    "service_question",
    "my_appointment",
    "thanks",
)


WORD_VALUE = 0.5  # words count half a cue: there are many of them, each seen in few messages


def features(msg: InboundMessage, context: MailContext, read: Facts) -> dict[str, float]:
    """Named feature values for the linear model: 1.0 for cues and context, WORD_VALUE for words.

    The sender's own name is one word, `_name_`: a model must not learn who writes what."""
    found: dict[str, float] = {}
    names = _name_words(msg)
    words = ["_name_" if w in names else w for w in tokens(fold(read.new_text))]
    subject = tokens(fold(read.subject))
    # A new message's subject is the writer's own words too ("RDV massage 60 min la semaine
    # prochaine svp" over an empty body); a reply's is the other side's.
    lines = [subject, words] if subject and not read.reply_subject else [words]
    for line in lines:
        for index, word in enumerate(line):
            found["w:" + word] = WORD_VALUE
            if index:
                found["b:" + line[index - 1] + " " + word] = WORD_VALUE
    for word in subject:
        found["s:" + word] = WORD_VALUE
    for cue in read.cues:
        found["cue:" + cue] = 1.0
    contexts = ["any"]
    if read.thread:
        contexts.append("thread")
        found["ctx:thread=" + read.thread] = 1.0
    if read.quoted_offer:
        contexts.append("offer")
        found["ctx:quoted_offer"] = 1.0
    if read.thread == "offer" and "offer" not in contexts:
        contexts.append("offer")
    if read.quoted_confirmation:
        found["ctx:quoted_confirmation"] = 1.0
    if context.appointments:
        contexts.append("appointment")
        found["ctx:appointment"] = 1.0
    found["ctx:sender=" + (context.relation or "stranger")] = 1.0
    if read.reply_subject:
        found["ctx:reply_subject"] = 1.0
    if read.bare_pick:
        found["ctx:bare_pick"] = 1.0
    if read.services:
        found["ctx:service_words"] = 1.0
    if organisation(msg):
        found["ctx:organisation"] = 1.0
    size = len(words)
    found["ctx:length=" + ("tiny" if size <= 4 else "short" if size <= 15 else "long")] = 1.0
    if "?" not in read.new_text:
        found["ctx:no_question_mark"] = 1.0
    for cue in _CROSSED_CUES:
        if cue in read.cues:
            for where in contexts[1:]:
                found[f"x:{cue}&{where}"] = 1.0
    if read.bare_pick:
        for where in contexts[1:]:
            found[f"x:bare_pick&{where}"] = 1.0
    return found
