"""The text of frontdesk's replies to clients' booking emails, in French or English.

Texts are Jinja templates: the ones shipped in rules/templates/, each of which a freelancer may
override with a file of the same name in their own folder. Dates, times, durations and zone names
come from babel (CLDR), in the freelancer's zone. Nothing here reads the calendar: a booking reply
is given only the free slots to offer (RFC 3834 §6), so it cannot reveal anything else.

Template variables (all plain strings, lists and dicts):
  language          "fr" or "en", the language of the reply
  client_name       the client's name, or "" when unknown
  freelancer_name   for the signature
  services          list of {name, minutes, duration ("60 minutes"), price, label (the name,
                    with the duration unless the name already says it)}; minutes is None and
                    duration "" for a service without minutes
  slots             list of slot texts, in the order offered (the client replies with 1, 2, ...)
  zone              the freelancer's zone as a reader names it ("heure de Toronto", "UTC")
  horizon           how far ahead slots were looked for ("21 jours", "21 days")
  payment, cancellation, contact   terms.* in the reply's language ("" when not set)
  options           list of terms.options in the reply's language

The decline templates (decline.fr.txt.j2, decline.en.txt.j2), sent with a declined invitation,
have their own variables: organizer_name, summary (the event's title, shortened), why, hours,
zone, alternatives (free times, as text), freelancer_name.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Final
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.core import get_global
from babel.dates import (
    format_date,
    format_interval,
    format_time,
    get_timezone_gmt,
    get_timezone_location,
    get_timezone_name,
    tokenize_pattern,
)
from babel.localedata import locale_identifiers
from babel.units import format_unit

from rules.availability import describe_hours
from rules.model import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    BookingPolicy,
    Freelancer,
    Hours,
    Localized,
    Policy,
    Service,
    Slot,
    Terms,
)

SHIPPED_TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
KINDS: Final = ("booking", "objection", "decline", "confirmation", "unclear", "how_i_work",
                 "cancelled", "late", "which", "unpaid")
TEMPLATE_NAMES: Final = tuple(f"{k}.{lang}.txt.j2" for k in KINDS for lang in LANGUAGES)

# The longest client name we repeat back: a name is a greeting, not a place for a message.
MAX_NAME_LENGTH: Final = 64
MAX_SUBJECT_LENGTH: Final = 200
MAX_TITLE_LENGTH: Final = 200  # an event's title quoted in a decline, a log line, stdout

DEFAULT_SUBJECT: Final[Mapping[str, str]] = {
    "fr": "Votre demande de rendez-vous",
    "en": "Your booking request",
}


@dataclass(frozen=True)
class ReplyText:
    subject: str
    body: str
    language: str


# --- Dates and zones ---------------------------------------------------------------------------


def reader_locale(language: str, zone: ZoneInfo) -> Locale:
    """The CLDR locale whose conventions a reader of `language` near `zone` expects.

    The zone's country picks the variant when CLDR has one (fr_CA for America/Toronto, fr_FR for
    Europe/Paris, fr_BE, fr_CH, en_CA, en_US, en_GB, en_AU...): the times shown are the freelancer's
    local times, and their clients mostly live in the same place. Otherwise French falls back to
    fr_CA in the Americas and fr_FR elsewhere; English to en_US in the Americas and en_GB elsewhere.
    """
    territory = _zone_territory(zone)
    if territory:
        candidate = f"{language}_{territory}"
        if candidate in _locale_ids():
            return Locale.parse(candidate)
    american = _canonical_zone(zone).startswith("America/")
    fallback = {
        "fr": "fr_CA" if american else "fr_FR",
        "en": "en_US" if american else "en_GB",
    }
    return Locale.parse(fallback.get(language, language))


_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu", "Etc/Zulu",
                        "Etc/Universal", "GMT", "Etc/GMT", "Etc/GMT0", "GMT0"})


def zone_label(language: str, zone: ZoneInfo) -> str:
    """How a reader names the zone, whatever the season: "heure de Toronto", "Toronto time".

    UTC and Etc/* have no city (and Etc/GMT+5 means UTC-5): they are named by their fixed offset.
    """
    if zone.key in _UTC_NAMES:
        return "UTC"
    if not _zone_territory(zone):
        fixed = datetime(2000, 1, 1, tzinfo=zone)
        return str(get_timezone_gmt(fixed, width="long", locale=reader_locale(language, zone)))
    city = str(get_timezone_location(zone, locale=Locale.parse(language), return_city=True))
    if language == "fr":
        return f"heure d’{city}" if _starts_with_vowel(city) else f"heure de {city}"
    return f"{city} time"


def zone_abbreviation(moment: datetime, language: str, zone: ZoneInfo) -> str:
    """The zone's name at that moment: "HNE"/"HAE", "EST"/"EDT", "CET"; else "UTC+01:00".

    CLDR has abbreviations only where readers use them; where it has none babel answers with a
    bare offset ("+0100"), which reads badly, so the locale's own offset format is used instead.
    """
    loc = reader_locale(language, zone)
    local = moment.astimezone(zone)
    name = str(get_timezone_name(local, width="short", locale=loc))
    if name and not any(ch.isdigit() for ch in name):
        return name
    return str(get_timezone_gmt(local, width="long", locale=loc))


def format_slot(slot: Slot, language: str, zone: ZoneInfo) -> str:
    """One offered slot as a reader expects it, in the freelancer's zone, with the zone named.

    "mardi 1 décembre 2026, 10 h 00 – 11 h 00, heure de Toronto (HNE)";
    "Tuesday, December 1, 2026, 10:00–11:00 a.m., Toronto time (EST)".
    """
    if slot.start.tzinfo is None or slot.end.tzinfo is None:
        raise ValueError("a slot's start and end must be aware datetimes")
    loc = reader_locale(language, zone)
    start = slot.start.astimezone(zone)
    end = slot.end.astimezone(zone)
    glue = str(loc.datetime_formats["full"])  # "{1}, {0}": date, then time
    if start.date() == end.date():
        times = str(format_interval(start, end, _hour_skeleton(loc), tzinfo=zone, locale=loc))
        text = glue.format(times, str(format_date(start, "full", locale=loc)))
    else:
        ends = [
            glue.format(
                str(format_time(t, "short", tzinfo=zone, locale=loc)),
                str(format_date(t, "full", locale=loc)),
            )
            for t in (start, end)
        ]
        text = str(loc.interval_formats[None]).format(*ends)
    if _zone_territory(zone):
        named = f"{zone_label(language, zone)} ({zone_abbreviation(start, language, zone)})"
    else:
        named = zone_label(language, zone)
    return _plain_spaces(f"{text}, {named}")


def _hour_skeleton(loc: Locale) -> str:
    """CLDR skeleton for hour and minute in the locale's own clock (12 or 24 hours)."""
    pattern = str(loc.time_formats["short"].pattern)
    fields = {tok[1][0] for tok in tokenize_pattern(pattern) if tok[0] == "field"}
    return "hm" if "h" in fields or "K" in fields else "Hm"


def _plain_spaces(text: str) -> str:
    # CLDR's narrow no-break and thin spaces are missing from many fonts plain-text mail is read
    # in; an ordinary no-break space keeps "10:00 a.m." together and shows everywhere.
    return text.replace("\u202f", "\u00a0").replace("\u2009", " ")


def _starts_with_vowel(word: str) -> bool:
    first = unicodedata.normalize("NFD", word[:1]).lower()[:1]
    return first in "aeiou"


def _canonical_zone(zone: ZoneInfo) -> str:
    aliases: Mapping[str, str] = get_global("zone_aliases")
    return aliases.get(zone.key, zone.key)


def _zone_territory(zone: ZoneInfo) -> str:
    territories: Mapping[str, str] = get_global("zone_territories")
    territory = territories.get(_canonical_zone(zone), "")
    return "" if territory in ("", "ZZ", "001") else territory


@lru_cache(maxsize=1)
def _locale_ids() -> frozenset[str]:
    return frozenset(locale_identifiers())


# --- Subjects and names ------------------------------------------------------------------------

# Reply and forward prefixes mail programs add, in the languages clients write in: Re, RE, Ré,
# Réf., Rép., AW (German), SV/VS (Nordic), Antw (Dutch), TR (French forward), Fwd, FW, WG, with an
# optional counter ("Re[2]:") and a space before the colon (French typography, also no-break).
_PREFIX = re.compile(
    r"^\s*(?:re|ré|réf|ref|rép|rep|aw|sv|vs|antw|tr|fwd?|wg)\.?"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_line(text: str, limit: int) -> str:
    """One line of text from a client: control characters (CR, LF...) become spaces, trimmed."""
    line = " ".join(_CONTROLS.sub(" ", text).split())
    return line[:limit].rstrip()


def clean_title(text: str, limit: int = MAX_TITLE_LENGTH) -> str:
    """A title someone else wrote (an event's SUMMARY, a subject), as frontdesk quotes it: one
    line, control characters made spaces, at most `limit` characters (cut with "…")."""
    line = clean_line(text, limit * 2)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def reply_subject(original_subject: str, language: str) -> str:
    """ "Re: " and the original subject, with exactly one prefix and no CR/LF.

    "Re:" is used in every language (RFC 5322 §3.6.5): localized prefixes confuse other clients'
    threading. An empty subject gets a short one in the reply's language.
    """
    subject = clean_line(original_subject, MAX_SUBJECT_LENGTH * 2)
    while True:
        stripped = _PREFIX.sub("", subject, count=1)
        if stripped == subject:
            break
        subject = stripped
    subject = subject.strip()[:MAX_SUBJECT_LENGTH].rstrip()
    if not subject:
        subject = DEFAULT_SUBJECT.get(language, DEFAULT_SUBJECT["en"])
    return f"Re: {subject}"


def greeting_name(client_name: str) -> str:
    """The name to greet the client with, or "" when it is not a usable name.

    A display name that is an address ("marie@example.com") is no name to greet anyone with.
    """
    name = clean_line(client_name, MAX_NAME_LENGTH * 4).strip("\"' ")
    if "@" in name or len(name) > MAX_NAME_LENGTH:
        return ""
    return name


def reply_language(language: str, freelancer: Freelancer) -> str:
    """The language to answer in: the client's when it is one we write, else the freelancer's."""
    for candidate in (language, freelancer.language):
        primary = candidate.strip().lower().replace("_", "-").split("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


# --- Rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Templates:
    """The reply templates in use: template name -> (source text, where it came from).

    daemon/templates.py reads them (the shipped ones, then the freelancer's overrides); here
    they are only data, rendered by a jinja2 environment that reads nothing else.
    """

    sources: Mapping[str, tuple[str, str]]

    @functools.cached_property
    def environment(self) -> jinja2.Environment:
        def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
            found = self.sources.get(name)
            return None if found is None else (found[0], found[1], lambda: True)

        return jinja2.Environment(
            loader=jinja2.FunctionLoader(load),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain text: nothing is HTML here
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )


def _tidy(text: str) -> str:
    # Templates switch whole paragraphs on and off; never leave more than one empty line.
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n"


def _terms_text(value: Localized, language: str) -> str:
    return "\n".join(item.strip() for item in value.items(language) if item.strip())


# The policy's own words in one language, rendered once: every reply of a pass (a backlog of
# hundreds) says the same services, terms and zone. Keyed by the policy object itself, which
# the entry keeps alive, so a new policy (a reload) is rendered afresh.
_POLICY_WORDS: dict[str, tuple[Policy, dict[str, object]]] = {}


def _policy_words(policy: Policy, language: str) -> dict[str, object]:
    known = _POLICY_WORDS.get(language)
    if known is not None and known[0] is policy:
        return known[1]
    zone = policy.zone
    loc = reader_locale(language, zone)
    terms = policy.terms
    horizon = format_unit(policy.booking.horizon_days, "duration-day", length="long", locale=loc)
    words: dict[str, object] = {
        "services": [_service_fields(s, language, loc) for s in policy.services],
        "zone": _plain_spaces(zone_label(language, zone)),
        "horizon": _plain_spaces(str(horizon)),
        "payment": _terms_text(terms.payment, language),
        "cancellation": _terms_text(terms.cancellation, language),
        "contact": _terms_text(terms.contact, language),
        "options": [o.strip() for o in terms.options.items(language) if o.strip()],
    }
    _POLICY_WORDS[language] = (policy, words)
    return words


def _context(
    policy: Policy, language: str, client_name: str, slots: Sequence[Slot]
) -> dict[str, object]:
    words = _policy_words(policy, language)
    return {
        "language": language,
        "client_name": greeting_name(client_name),
        "freelancer_name": policy.freelancer.name,
        "slots": [format_slot(s, language, policy.zone) for s in slots],
        **{k: list(v) if isinstance(v, list) else v for k, v in words.items()},
        "service_for": "",
        "hold_until": "",
        "intro": "",
        "current": "",
        "previous": "",
        "how_i_work": "",
        "notice_hours": _hours(policy.terms.cancellation_notice_hours),
    }


def _hours(value: float) -> str:
    return f"{value:g}"


def how_i_work(policy: Policy, language: str, templates: Templates) -> str:
    """The "how I work" block a client gets once, in the first reply: hours, payment,
    cancellation, how to reach the freelancer."""
    lang = reply_language(language, policy.freelancer)
    context = _context(policy, lang, "", ())
    context["hours"] = describe_hours(policy.hours, lang)
    return _render("how_i_work", lang, context, templates).strip("\n")


def _service_fields(service: Service, language: str, loc: Locale) -> dict[str, object]:
    name = service.name.text(language) or ", ".join(service.name.items(language))
    # a service without minutes (a translation per page) shows no duration
    duration = "" if service.minutes is None else _plain_spaces(
        str(format_unit(service.minutes, "duration-minute", length="long", locale=loc)))
    # "Massage, 60 minutes" already says how long: do not say it twice
    label = (name if not duration or re.search(rf"\b{service.minutes}\b", name)
             else f"{name}, {duration}")
    return {"name": name, "minutes": service.minutes, "duration": duration,
            "price": service.price, "label": label}


def service_name(policy: Policy, service: int, language: str) -> str:
    """One service as a client reads it, with its duration ("Massage, 60 minutes"); ""
    when there is none."""
    if not 0 <= service < len(policy.services):
        return ""
    loc = reader_locale(language, policy.zone)
    return str(_service_fields(policy.services[service], language, loc)["label"])


def format_moment(moment: datetime, language: str, zone: ZoneInfo) -> str:
    """A date and time as a reader expects it: "mardi 8 décembre 2026, 10 h 00"."""
    loc = reader_locale(language, zone)
    local = moment.astimezone(zone)
    glue = str(loc.datetime_formats["full"])
    return _plain_spaces(glue.format(str(format_time(local, "short", tzinfo=zone, locale=loc)),
                                     str(format_date(local, "full", locale=loc))))


def _render(kind: str, language: str, context: Mapping[str, object], templates: Templates) -> str:
    template = templates.environment.get_template(f"{kind}.{language}.txt.j2")
    return _tidy(template.render(context))


def _text(kind: str, policy: Policy, language: str, client_name: str, original_subject: str,
          templates: Templates, slots: Sequence[Slot] = (), **extra: object) -> ReplyText:
    """One reply from its template, in the reply language, with the common variables and
    `extra` ones; `slot`, `previous` and `current` (Slots) are written as the client reads
    them."""
    lang = reply_language(language, policy.freelancer)
    context = _context(policy, lang, client_name, slots)
    for name, value in extra.items():
        context[name] = format_slot(value, lang, policy.zone) if isinstance(value, Slot) \
            else value
    body = _render(kind, lang, context, templates)
    return ReplyText(reply_subject(original_subject, lang), body, lang)


def booking_reply(
    policy: Policy,
    *,
    language: str,
    client_name: str,
    original_subject: str,
    slots: Sequence[Slot],
    templates: Templates,
    service: int = 0,
    hold_until: datetime | None = None,
    intro: str = "",
    current: Slot | None = None,
    first_contact: bool = False,
) -> ReplyText:
    """The reply to a booking request: services and prices, the offered slots (for `service`,
    named when there are several), until when they are held, the terms. `intro` is "taken"
    when the time the client chose is no longer free, "declined" when none suited them, "move"
    when the times would replace the appointment `current`. A first contact gets the "how I
    work" block.

    Raises jinja2.TemplateError when a freelancer's template is broken (template_problems says
    so at start-up).
    """
    lang = reply_language(language, policy.freelancer)
    context = _context(policy, lang, client_name, slots)
    if len(policy.services) > 1:
        context["service_for"] = service_name(policy, service, lang)
    if hold_until is not None:
        context["hold_until"] = format_moment(hold_until, lang, policy.zone)
    context["intro"] = intro
    if current is not None:
        context["current"] = format_slot(current, lang, policy.zone)
    if first_contact:
        context["how_i_work"] = how_i_work(policy, lang, templates)
    body = _render("booking", lang, context, templates)
    return ReplyText(reply_subject(original_subject, lang), body, lang)


def confirmation_reply(policy: Policy, *, language: str, client_name: str,
                       original_subject: str, slot: Slot, service: int, templates: Templates,
                       previous: Slot | None = None) -> ReplyText:
    """The confirmation of a booked appointment, with the terms and how to cancel; of a move
    when `previous` is the time it was moved from."""
    lang = reply_language(language, policy.freelancer)
    price = policy.services[service].price if 0 <= service < len(policy.services) else ""
    return _text("confirmation", policy, language, client_name, original_subject, templates,
                 (slot,), when=slot, service=service_name(policy, service, lang), price=price,
                 previous=previous or "")


def unclear_reply(policy: Policy, *, language: str, client_name: str, original_subject: str,
                  slots: Sequence[Slot], numbers: Sequence[int], templates: Templates) -> ReplyText:
    """Asking back which of the offered times the client means (`numbers`: their numbers)."""
    return _text("unclear", policy, language, client_name, original_subject, templates, slots,
                 numbers=list(numbers))


def objection_reply(policy: Policy, *, language: str, client_name: str, original_subject: str,
                    templates: Templates, first_contact: bool = False) -> ReplyText:
    """The reply to a client who finds the price too high: the same prices, and terms.options."""
    block = how_i_work(policy, language, templates) if first_contact else ""
    return _text("objection", policy, language, client_name, original_subject, templates,
                 how_i_work=block)


def unpaid_reply(policy: Policy, *, language: str, client_name: str, original_subject: str,
                 templates: Templates) -> ReplyText:
    """The answer to a client on clients.unpaid: the balance first, with the payment terms; no
    times."""
    return _text("unpaid", policy, language, client_name, original_subject, templates)


def cancelled_reply(policy: Policy, *, language: str, client_name: str, original_subject: str,
                    slot: Slot, service: int, templates: Templates) -> ReplyText:
    """The confirmation of a cancellation made in time."""
    return _text("cancelled", policy, language, client_name, original_subject, templates,
                 when=slot, service=service_name(policy, service,
                                                 reply_language(language, policy.freelancer)))


def late_reply(policy: Policy, *, language: str, client_name: str, original_subject: str,
               slot: Slot, change: str, hours_left: float, templates: Templates) -> ReplyText:
    """The answer to a cancellation or a move asked too late: the freelancer's rule, the
    appointment kept, the freelancer decides. `change` is "cancel" or "move"."""
    return _text("late", policy, language, client_name, original_subject, templates,
                 when=slot, change=change, hours_left=f"{max(hours_left, 0):.0f}")


def which_reply(policy: Policy, *, language: str, client_name: str, original_subject: str,
                slots: Sequence[Slot], change: str, templates: Templates) -> ReplyText:
    """Asking which of their appointments (`slots`, numbered from 1) the client means."""
    lang = reply_language(language, policy.freelancer)
    return _text("which", policy, language, client_name, original_subject, templates,
                 appointments=[format_slot(s, lang, policy.zone) for s in slots], change=change)


def decline_context(
    policy: Policy,
    *,
    language: str,
    organizer_name: str,
    summary: str,
    why: str,
    alternatives: Sequence[Slot],
) -> dict[str, object]:
    """The variables of a decline template (see the template's header)."""
    zone = policy.zone
    return {
        "language": language,
        "organizer_name": clean_title(organizer_name, MAX_NAME_LENGTH),
        "summary": clean_title(summary),
        "why": why,
        "hours": describe_hours(policy.hours, language),
        "zone": _plain_spaces(zone_label(language, zone)),
        "alternatives": [format_slot(s, language, zone) for s in alternatives],
        "freelancer_name": clean_title(policy.freelancer.name, MAX_NAME_LENGTH),
    }


def decline_text(templates: Templates, context: Mapping[str, object]) -> str:
    """The body sent with a declined invitation (rules.invitations.explanation)."""
    return _render("decline", str(context["language"]), context, templates)


# --- Checking a freelancer's templates ---------------------------------------------------------


def _sample_policy() -> Policy:
    zone = "America/Toronto"
    both = {"fr": "texte d’exemple", "en": "sample text"}
    return Policy(
        freelancer=Freelancer(name="Sample Freelancer", email="sample@example.com", timezone=zone),
        hours=Hours(week={}),
        booking=BookingPolicy(),
        terms=Terms(
            payment=Localized(both),
            cancellation=Localized(both),
            contact=Localized(both),
            options=Localized({"fr": ["option 1", "option 2"], "en": ["option 1", "option 2"]}),
        ),
        services=(Service(Localized({"fr": "Séance", "en": "Session"}), 60, "95 $"),),
    )


def _sample_slots(policy: Policy) -> tuple[Slot, ...]:
    first = datetime(2030, 1, 7, 10, 0, tzinfo=policy.zone)
    length = timedelta(minutes=policy.booking.duration_minutes)
    return tuple(
        Slot(first + timedelta(days=d), first + timedelta(days=d) + length) for d in (0, 1)
    )


def _template_line(tb: TracebackType | None, filename: str | None) -> int | None:
    # Jinja rewrites tracebacks so that template frames carry the template's own file and line.
    line = None
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _source_file(env: jinja2.Environment, name: str) -> str:
    """Where the template in use comes from: the freelancer's file or the shipped one."""
    try:
        source = env.loader.get_source(env, name) if env.loader else None
    except jinja2.TemplateNotFound:
        return name
    return (source[1] if source else None) or name


def _describe(name: str, error: Exception, env: jinja2.Environment) -> str:
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"{error.filename or name}, line {error.lineno}: {error.message}"
    filename = _source_file(env, name)
    line = _template_line(error.__traceback__, filename)
    where = f"{filename}, line {line}" if line else filename
    return f"{where}: {type(error).__name__}: {error}"


def template_problems(templates: Templates, policy: Policy | None = None) -> list[str]:
    """Every problem with the reply templates, as sentences naming the file and line.

    Each template is rendered with sample data (or `policy`): with and without a client name,
    with and without free slots. A booking text that does not show the offered slots is a
    problem too: the client could not pick one.
    """
    problems: list[str] = []
    sample = policy or _sample_policy()
    env = templates.environment
    slot_cases: dict[str, tuple[tuple[Slot, ...], ...]] = {
        "booking": (_sample_slots(sample), ()),
        "objection": ((),),
        "decline": (_sample_slots(sample), ()),
        "confirmation": (_sample_slots(sample)[:1],),
        "unclear": (_sample_slots(sample),),
        "how_i_work": ((),),
        "cancelled": ((),),
        "late": ((),),
        "which": ((),),
        "unpaid": ((),),
    }
    for kind in KINDS:
        for language in LANGUAGES:
            name = f"{kind}.{language}.txt.j2"
            problem = None
            for client_name in ("Marie", ""):
                for slots in slot_cases[kind]:
                    if kind == "decline":
                        context = decline_context(
                            sample, language=language, organizer_name=client_name,
                            summary="Weekly sync" if client_name else "", why="sample reason",
                            alternatives=slots)
                    elif kind == "confirmation":
                        context = _context(sample, language, client_name, slots)
                        context.update(when=format_slot(slots[0], language, sample.zone),
                                       service=service_name(sample, 0, language), price="")
                    elif kind == "unclear":
                        context = _context(sample, language, client_name, slots)
                        context["numbers"] = list(range(1, len(slots) + 1))
                    elif kind in ("cancelled", "late", "which"):
                        context = _context(sample, language, client_name, slots)
                        when = format_slot(_sample_slots(sample)[0], language, sample.zone)
                        context.update(when=when, service=service_name(sample, 0, language),
                                       change="cancel", hours_left="3", appointments=[when])
                    elif kind == "how_i_work":
                        context = _context(sample, language, client_name, slots)
                        context["hours"] = describe_hours(sample.hours, language)
                    else:
                        context = _context(sample, language, client_name, slots)
                    problem = _check_one(env, name, sample, language, context, slots)
                    if problem:
                        break
                if problem:
                    problems.append(problem)
                    break
    return problems


def unknown_template_names(names: Sequence[str]) -> list[str]:
    """For each name that is no reply template: what it is not, and the likely one meant."""
    problems = []
    for found in names:
        if found.endswith(".j2") and found not in TEMPLATE_NAMES:
            close = difflib.get_close_matches(found, TEMPLATE_NAMES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(
                f"{found}: not a reply template name{hint}; known names: "
                f"{', '.join(TEMPLATE_NAMES)}"
            )
    return problems


def _check_one(
    env: jinja2.Environment,
    name: str,
    policy: Policy,
    language: str,
    context: Mapping[str, object],
    slots: tuple[Slot, ...],
) -> str | None:
    try:
        body = _tidy(env.get_template(name).render(context))
    except Exception as error:  # whatever a freelancer's template does wrong is reported
        return _describe(name, error, env)
    if not body.strip():
        return f"{_source_file(env, name)}: renders an empty text"
    if any(format_slot(s, language, policy.zone) not in body for s in slots):
        return f"{_source_file(env, name)}: the offered slots do not appear in the text"
    return None
