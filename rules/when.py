"""Reading times in what clients write: which offered slot a reply picks, what times a client
wishes for, and which of a client's appointments a message means. French and English.

Pure: the text, the slots, the freelancer's zone and `now` are arguments; nothing here reads the
clock. Datetimes are aware; `now` and every slot are read in the freelancer's zone whatever zone
they carry, so a result never depends on the zone `now` happens to carry.

How the text is read
- It is folded first (lower case, accents and typographic quotes gone: "Févr." and "fevr" read
  alike), and near-misses of weekday and month names are corrected ("Wendesday", "Thrusday",
  "mecredi", "jeudy", "Febuary", "decmbre"): one letter wrong, missing, extra or swapped.
- Calendar dates written with a month ("8 décembre", "Dec. 8th", "the 8th of December",
  "8/12", "2026-12-08") and offsets in days or weeks ("dans deux semaines", "in 10 days") are
  read by dateparser. Its year for a date written without one is not used: such a date is the
  next one, today included (dateparser skips today, and reads "08/12/26" as 2126).
- Everything else is read here, because dateparser reads it wrongly (see tests/test_when.py,
  `test_dateparser_alone_*`): French times ("14 h 30" is "in 14 hours" to it), days of the month
  alone ("the 10th" is October), a weekday and an hour ("mardi 14h" is December 14, "Monday at 9"
  is September), parts of the day ("en soirée"), spans of days ("plus tard dans la semaine"),
  picks by number, and anything misspelled.
- Numbers that are prices ("95 $"), phone numbers, quantities ("2 personnes", "5 minutes") or
  lengths ("une séance de 1h30") are set aside first; past days ("last Monday", "hier soir") and
  greetings ("good morning", "bonne soirée") name nothing.
- Times: "14h", "14 h 30", "14:30", "2h30", "2 pm", "2pm", "10 heures", "9h du matin", "midi",
  "noon", "minuit", "2 h et demie", "half past 2", "9 o'clock", "à 9", "at 9". An hour without
  am/pm ("at 2", "à 9", "2h30") also reads 12 hours later, so "at 2" fits a 14:00 slot, except a
  French "8h" to "11h", which is the morning; where one time must be chosen, 1 to 7 is the
  afternoon. "vers 14h"/"around 2" is 13:30-14:30; "10h" picks a 10:30 slot when nothing starts
  at 10:00; "2:30" never picks a 2:00 slot.
- Parts of the day, by the slot's local start: morning before 12:00, midday 11:30-14:00,
  afternoon 12:00-18:00, evening from 17:00. "fin d'après-midi", "early morning", "after work"
  and the like are narrower windows; "après 17h", "avant 11h" bound the start.
- A weekday names the next such day. Today's weekday means today only when a time or part of
  the day is named that is still ahead today ("jeudi 15h" on Thursday morning), and then the
  same day a week later too (a wish gets both dates, a request the first); otherwise a week
  later. "jeudi prochain"/"next Thursday" is the next Thursday after today, "lundi de la semaine
  prochaine" the Monday of next week. "le lundi", "Mondays", "every Monday", "du lundi au
  vendredi", "weekdays" name every such day. In a reply to an offer a weekday names the offered
  slots on that weekday, whichever week; for appointments, those of the next seven days first.
- "le 10"/"the 10th" is the next 10th, today included. "la semaine prochaine"/"next week" is
  Monday-Sunday; "plus tard dans la semaine"/"later in the week" is tomorrow to Sunday (the next
  week on a Sunday); "en fin de semaine"/"end of the week" is Thursday-Sunday (a French "fin de
  semaine" is Thursday-Friday, a Québec one the weekend: both are kept); "le week-end" is
  Saturday-Sunday; "after the 10th" starts on the 11th, "à partir du 10" on the 10th, "avant
  Noël" ends on the 24th; "I'm away until the 10th"/"pas disponible avant le 15" mean after.
- "n'importe quand", "anytime", "je suis flexible" name nothing, so they constrain nothing.
- Negation is read per clause (clauses end at punctuation and at "mais"/"but"/"sinon"...): a day
  or a pick in a clause with "pas", "sauf", "not", "except", "can't", "busy"... is refused.
- Only the first 4,000 characters are read; the new text of a reply to an offer is short.

Reading a reply to an offer, a number or an ordinal ("le 2", "option 3", "#4", "the 2nd", "la
deuxième") is a pick when it is 1..len(offered) and reads as one: alone, after "le"/"the"/"take"/
"option"/"n°"..., before "svp"/"works"/"me convient"... and not before a time, a month or a unit.
"le 2" is pick 2 even when a slot falls on the 2nd; "le 10" with five slots is the 10th. A pick
given before "sinon"/"otherwise" wins over the one after. A day or time that fits one offered
slot picks it; several, they are Ambiguous ("the earlier one" then picks the first of them);
none, it is Asked. A span of days or a bound alone ("plutôt la semaine prochaine", "after 5") is
a wish, Asked, even when offered slots lie in it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from types import MappingProxyType
from typing import Final, Literal, TypeAlias, TypeVar
from zoneinfo import ZoneInfo

import dateparser

from rules.mail import fold
from rules.model import DateRange, Slot, TimeRange

__all__ = [
    "PART_HOURS",
    "Ambiguous",
    "Asked",
    "Choice",
    "NoChoice",
    "Part",
    "Picked",
    "Wish",
    "fits",
    "fitting",
    "read_choice",
    "read_wish",
    "which_appointments",
]

_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
_MAX_CHARS = 4000
_LOOKAHEAD_DAYS = 400  # how far a weekday or a day of the month is looked for


# --- Results ------------------------------------------------------------------------------------


class Part(enum.Enum):
    """A part of the day, as clients name them."""

    MORNING = "morning"
    MIDDAY = "midday"
    AFTERNOON = "afternoon"
    EVENING = "evening"


PART_HOURS: Final[Mapping[Part, TimeRange]] = MappingProxyType(
    {
        Part.MORNING: TimeRange(time(0), time(12)),
        Part.MIDDAY: TimeRange(time(11, 30), time(14)),
        Part.AFTERNOON: TimeRange(time(12), time(18)),
        Part.EVENING: TimeRange(time(17), _MIDNIGHT),  # an end of 00:00 is the end of the day
    }
)


@dataclass(frozen=True)
class Wish:
    """The times a client asks for. An empty field constrains nothing.

    A slot fits when its local date is one of `dates` or on one of `weekdays` (when either is
    given), lies in `within`, and is none of the `not_*`; and when its local start is one of
    `times`, or in one of `windows`, or in one of `parts` (when any is given), is at or after
    `after` and before `before`. `same_time` records that the client asked for the time of their
    current appointment; it is already in `times` when that appointment was known.
    """

    dates: tuple[date, ...] = ()
    weekdays: tuple[int, ...] = ()  # 0 = Monday
    within: DateRange | None = None
    times: tuple[time, ...] = ()
    windows: tuple[TimeRange, ...] = ()
    parts: tuple[Part, ...] = ()
    after: time | None = None
    before: time | None = None
    not_dates: tuple[date, ...] = ()
    not_weekdays: tuple[int, ...] = ()
    not_parts: tuple[Part, ...] = ()
    same_time: bool = False

    @property
    def is_empty(self) -> bool:
        return self == Wish()


@dataclass(frozen=True)
class Picked:
    """The client picked offered slot `number` (1 = the first offered)."""

    number: int


@dataclass(frozen=True)
class Ambiguous:
    """The client's words fit several offered slots: ask which. Two or more, ascending."""

    numbers: tuple[int, ...]


@dataclass(frozen=True)
class Asked:
    """The client asks for a time that is none of the offered slots.

    `start` is the datetime asked, in the freelancer's zone, when a day and a time were named
    ("Wednesday at 3pm"); `wish` describes what was asked either way, for a calendar search.
    """

    wish: Wish
    start: datetime | None = None


@dataclass(frozen=True)
class NoChoice:
    """Nothing in the reply reads as a choice; "declined" when it turns the offer down."""

    reason: Literal["declined", "unreadable"]


Choice: TypeAlias = Picked | Ambiguous | Asked | NoChoice


# --- Words --------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WEEKDAYS: Final = {
    "monday": 0, "lundi": 0, "tuesday": 1, "mardi": 1, "wednesday": 2, "mercredi": 2,
    "thursday": 3, "jeudi": 3, "friday": 4, "vendredi": 4, "saturday": 5, "samedi": 5,
    "sunday": 6, "dimanche": 6,
}  # fmt: skip
_WEEKDAY_ABBREVIATIONS: Final = {
    "fr": {"lun": 0, "mar": 1, "mer": 2, "jeu": 3, "ven": 4, "sam": 5, "dim": 6},
    "en": {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4,
           "sat": 5, "sun": 6},
}  # fmt: skip
_MONTHS: Final = {
    "janvier": 1, "january": 1, "fevrier": 2, "february": 2, "mars": 3, "march": 3, "avril": 4,
    "april": 4, "mai": 5, "may": 5, "juin": 6, "june": 6, "juillet": 7, "july": 7, "aout": 8,
    "august": 8, "septembre": 9, "september": 9, "octobre": 10, "october": 10, "novembre": 11,
    "november": 11, "decembre": 12, "december": 12,
}  # fmt: skip
_MONTH_ABBREVIATIONS: Final = {
    "janv": 1, "jan": 1, "fevr": 2, "fev": 2, "feb": 2, "mar": 3, "avr": 4, "apr": 4, "jun": 6,
    "juil": 7, "jul": 7, "aug": 8, "sept": 9, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
# Real words one letter away from a weekday or month name: never "corrected".
_NOT_TYPOS: Final = _words(
    "match marsh larch parch perch sundae sundry hardi mardis lundis jeudis samedis dimanches "
    "mercredis vendredis mondays tuesdays wednesdays thursdays fridays saturdays sundays augusta "
    "auguste"
)
_ORDINALS: Final = {
    "first": 1, "premier": 1, "premiere": 1, "second": 2, "seconde": 2, "deuxieme": 2,
    "third": 3, "troisieme": 3, "fourth": 4, "quatrieme": 4, "fifth": 5, "cinquieme": 5,
    "sixth": 6, "sixieme": 6, "seventh": 7, "septieme": 7, "eighth": 8, "huitieme": 8,
    "ninth": 9, "neuvieme": 9, "tenth": 10, "dixieme": 10, "last": -1, "dernier": -1,
    "derniere": -1,
}  # fmt: skip
_NUMBER_WORDS: Final = {
    "one": 1, "un": 1, "une": 1, "two": 2, "deux": 2, "three": 3, "trois": 3, "four": 4,
    "quatre": 4, "five": 5, "cinq": 5, "six": 6, "seven": 7, "sept": 7, "eight": 8, "huit": 8,
    "nine": 9, "neuf": 9, "ten": 10, "dix": 10, "eleven": 11, "onze": 11, "twelve": 12,
    "douze": 12,
}  # fmt: skip


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True))


_WD: Final = _alternatives(_WEEKDAYS)
_MO: Final = _alternatives([*_MONTHS, *_MONTH_ABBREVIATIONS])
_MO_FULL: Final = _alternatives(_MONTHS)
_NUMW: Final = _alternatives(_NUMBER_WORDS)
_SUFFIX: Final = r"(?:ere|er|re|st|nd|rd|th|eme|ieme|e)"


def _edits(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    if len(word) >= 6:
        out |= {a + b[1:] for a, b in splits if b}
        out |= {a + c + b for a, b in splits for c in letters}
    return out


@lru_cache(maxsize=1)
def _typos() -> Mapping[str, str]:
    """Misspelling -> name, for weekday and month names of five letters or more."""
    meaning = {w: ("d", n) for w, n in _WEEKDAYS.items()}
    meaning.update({m: ("m", n) for m, n in _MONTHS.items()})
    known = set(meaning) | set(_MONTH_ABBREVIATIONS) | _NOT_TYPOS
    for lang in _WEEKDAY_ABBREVIATIONS.values():
        known |= set(lang)
    table: dict[str, str] = {}
    clash: set[str] = set()
    for name, sense in meaning.items():
        if len(name) < 5:
            continue
        for variant in _edits(name):
            if variant in known or variant == name + "s":
                continue
            if variant in table and meaning[table[variant]] != sense:
                clash.add(variant)
            table.setdefault(variant, name)
    return MappingProxyType({k: v for k, v in table.items() if k not in clash})


# --- Preparing the text -------------------------------------------------------------------------

_HOLE: Final = "\x1f"  # stands for a claimed character: not a word, not a space
_OFFER_LINE: Final = re.compile(
    r"^[\s>]*\(?\d{1,2}\s*[.)]\s+(?=.*\b(?:19|20)\d\d\b)(?=.*\d\s*(?:h|:)\s*\d\d)"
)
_ANY_BUT: Final = re.compile(
    r"\b(any ?(?:day|time|thing|one|date)?|anytime|whenever|every ?day|everything)\s+but\b"
)
_WORD: Final = re.compile(r"[a-z]+")


def _prepare(text: str) -> tuple[str, list[str]]:
    """The folded own text, with typos of names corrected; and the offer lines quoted in it."""
    own: list[str] = []
    offers: list[str] = []
    for line in text[:_MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        folded = fold(line).replace(_HOLE, " ")
        if _OFFER_LINE.match(folded):
            offers.append(folded)
        elif not folded.lstrip().startswith(">"):
            own.append(folded)
    return _normalize("\n".join(own)), offers


def _normalize(folded: str) -> str:
    table = _typos()
    corrected = _WORD.sub(lambda m: table.get(m.group(), m.group()), folded)
    corrected = re.sub(r"[\t\f\v ]+", " ", corrected)
    return _ANY_BUT.sub(r"\1 except", corrected)


# --- Mentions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Clock:
    """A time of day as written. `certain` is False for 1-11 without am/pm or a 24-hour hint."""

    hour: int
    minute: int
    certain: bool
    minutes_written: bool

    def readings(self) -> tuple[time, ...]:
        first = time(self.hour % 24, self.minute)
        if self.certain or not 1 <= self.hour <= 11:
            return (first,)
        return (first, time(self.hour + 12, self.minute))

    def likely(self) -> time:
        if not self.certain and 1 <= self.hour <= 7:
            return time(self.hour + 12, self.minute)
        return time(self.hour % 24, self.minute)


@dataclass(slots=True)
class _Mention:
    """What one phrase (or, merged, one moment) of the text says. Positions are in the text."""

    start: int
    end: int
    dates: tuple[date, ...] = ()
    span: DateRange | None = None
    weekday: int | None = None
    habitual: bool = False
    upcoming: bool = False
    dom: int | None = None
    days_of_week: frozenset[int] = frozenset()  # "du lundi au vendredi", "weekdays"
    clock: _Clock | None = None
    until: _Clock | None = None
    around: bool = False
    window: TimeRange | None = None
    part: Part | None = None
    after: time | None = None
    before: time | None = None
    pick: int | None = None
    same: frozenset[str] = frozenset()
    prefix: str = ""
    negated: bool = False

    @property
    def has_day(self) -> bool:
        return bool(
            self.dates or self.span or self.weekday is not None or self.dom is not None
            or self.days_of_week
        )  # fmt: skip

    @property
    def has_time(self) -> bool:
        return bool(
            self.clock or self.window or self.part or self.after is not None
            or self.before is not None
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Context:
    today: date
    now: time
    language: str
    date_order: str
    count: int  # slots offered; 0 when not reading a choice


@dataclass(slots=True)
class _Scan:
    """The text, and the same text with every claimed character replaced by _HOLE."""

    text: str
    ctx: _Context
    mentions: list[_Mention] = field(default_factory=list)
    _chars: list[str] = field(default_factory=list)
    _free: str | None = None

    def __post_init__(self) -> None:
        self._chars = list(self.text)
        self._free = self.text

    @property
    def free(self) -> str:
        if self._free is None:
            self._free = "".join(self._chars)
        return self._free

    def claim(self, start: int, end: int) -> None:
        self._chars[start:end] = _HOLE * (end - start)
        self._free = None

    def add(self, mention: _Mention) -> None:
        self.mentions.append(mention)
        self.claim(mention.start, mention.end)

    def each(self, pattern: re.Pattern[str]) -> Iterable[re.Match[str]]:
        """Matches of `pattern` in the unclaimed text, each claimed only by the caller."""
        return list(pattern.finditer(self.free))


def _week(day: date) -> DateRange:
    monday = day - timedelta(days=day.weekday())
    return DateRange(monday, monday + timedelta(days=6))


def _this_week_part(today: date, first_wd: int, last_wd: int) -> DateRange:
    """Days first_wd..last_wd of this week from today on; of next week once they are past."""
    week = _week(today)
    first = max(today, week.first + timedelta(days=first_wd))
    last = week.first + timedelta(days=last_wd)
    if first > last:
        nxt = week.first + timedelta(days=7)
        return DateRange(nxt + timedelta(days=first_wd), nxt + timedelta(days=last_wd))
    return DateRange(first, last)


def _next_date(today: date, month: int, day: int) -> date | None:
    """The next `day`/`month`, today included; None when no year has it (31/11)."""
    for year in range(today.year, today.year + 9):
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if found >= today:
            return found
    return None


def _next_dom(today: date, day: int) -> date | None:
    """The next date whose day of the month is `day`, today included."""
    if today > date.max - timedelta(days=62):
        return None
    year, month = today.year, today.month
    for _ in range(13):
        try:
            found = date(year, month, day)
        except ValueError:
            found = None
        if found is not None and found >= today:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


# Holidays: the date, or the span of "les fêtes", in the year that comes next.
def _christmas(today: date) -> DateRange:
    day = _next_date(today, 12, 25) or today
    return DateRange(day, day)


def _new_year(today: date) -> DateRange:
    day = _next_date(today, 1, 1) or today
    return DateRange(day, day)


def _holidays(today: date) -> DateRange:
    for year in (today.year - 1, today.year):
        season = DateRange(date(year, 12, 24), date(year + 1, 1, 1))
        if season.last >= today:
            return season
    return DateRange(today, today)


# --- dateparser, where it reads right -----------------------------------------------------------


@lru_cache(maxsize=2048)
def _dateparser(span: str, languages: tuple[str, ...], order: str, base: date) -> date | None:
    settings = {
        "RELATIVE_BASE": datetime.combine(base, time(12)),
        "PREFER_DATES_FROM": "future",
        "PREFER_DAY_OF_MONTH": "first",
        "DATE_ORDER": order,
        "TIMEZONE": "UTC",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    try:
        found: datetime | None = dateparser.parse(
            span, languages=list(languages), settings=settings
        )
    except (ValueError, OverflowError):
        return None
    return found.date() if found is not None else None


def _languages(ctx: _Context) -> tuple[str, ...]:
    return ("en", "fr") if ctx.language == "en" else ("fr", "en")


def _calendar_date(span: str, ctx: _Context, year_written: bool) -> date | None:
    """A date written with a month, by dateparser; the next such date when no year is written."""
    span = re.sub(r"\b(?:premier|first)\b", "1", span)
    found = _dateparser(span, _languages(ctx), ctx.date_order, ctx.today)
    if found is None:
        return None
    if year_written:
        if found.year > ctx.today.year + 50:  # dateparser: "08/12/26" is 2126
            found = found.replace(year=found.year - 100)
        return found
    return _next_date(ctx.today, found.month, found.day)


def _offset(count: str, unit: str, ctx: _Context) -> date | None:
    """The date `count` days or weeks from today, by dateparser ("deux", "two", "a", 15...)."""
    if count == "quinze" and unit.startswith("jour"):
        count, unit = "2", "semaines"  # "dans quinze jours" is two weeks, not fifteen days
    count = {"a couple of": "2", "couple of": "2", "une couple de": "2"}.get(count, count)
    english = unit.startswith(("day", "week", "month"))
    words = f"in {count} {unit}" if english else f"dans {count} {unit}"
    return _dateparser(words, _languages(ctx), ctx.date_order, ctx.today)


# --- The passes ---------------------------------------------------------------------------------

_PHONE: Final = re.compile(
    r"(?<![\w.])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}(?!\d)"
    r"|(?<![\w.])(?:\+33\s?|0)\d(?:[\s.-]?\d\d){4}(?!\d)"
)
_MONEY: Final = re.compile(
    r"[$€£]\s*\d+(?:[.,]\d+)?|\b\d+(?:[.,]\d+)?\s*(?:[$€£]|dollars?\b|euros?\b|eur\b|cad\b|usd\b"
    r"|bucks\b)"
)
_QUANTITY: Final = re.compile(
    r"(?<![\d:.,])\b\d+(?:[.,]\d+)?\s*(?:%|personnes?|people|persons?|pers\b|minutes?|mins?\b"
    r"|hours?|hrs?\b|jours|days|nuits?|nights|semaines|weeks|mois|months?|ans|years?|fois|times"
    r"|enfants?|kids?|children|adultes?|adults?|places|seats|participants?|invites?|guests?"
    r"|km|kg|pages?|sessions?|seances?|rendez-vous|rdv|appointments?|questions?|photos?|items?"
    r"|articles?|chambres?|rooms?)\b"
)
_DATE_RANGE: Final = re.compile(
    rf"\b(?:du|from|between|entre le)\s+(?:the\s+)?(?P<d1>\d{{1,2}}){_SUFFIX}?(?:\s+(?:of\s+)?"
    rf"(?P<m1>{_MO})\.?)?\s*(?:au|to|until|till|and|et le|et|-)\s*(?:the\s+)?(?P<d2>\d{{1,2}})"
    rf"{_SUFFIX}?\b(?:\s+(?:of\s+)?(?P<m2>{_MO})\b\.?)?"
)
_DATE_RANGE_MD: Final = re.compile(
    rf"\b(?:(?:between|from|du|entre le)\s+)?(?P<m1>{_MO})\.?\s+(?P<d1>\d{{1,2}})"
    rf"(?:st|nd|rd|th|er)?\s*(?:and|to|through|thru|until|-|au|et)\s*(?:(?P<m2>{_MO})\.?\s+)?"
    rf"(?:the\s+)?(?P<d2>\d{{1,2}})(?:st|nd|rd|th|er)?\b(?![:h]\d|\s*(?:h\b|am\b|pm\b))"
)
_DATE_DM: Final = re.compile(
    rf"(?:\b(?:{_WD})\s*,?\s*)?(?:\b(?:le|the)\s+)?\b(?P<d>\d{{1,2}}|premier|first){_SUFFIX}?"
    rf"\s*(?:of\s+|de\s+)?(?P<m>{_MO})\b(?!(?<=may)\s+(?:work|be|suit|fit|not|also|have|do))"
    rf"\.?(?:\s*,?\s*(?P<y>\d{{4}})\b)?"
)
_DATE_MD: Final = re.compile(
    rf"(?:\b(?:{_WD})\s*,?\s*)?\b(?P<m>{_MO})\b\.?\s+(?:the\s+)?(?P<d>\d{{1,2}})"
    rf"(?:st|nd|rd|th|er)?\b(?![:h]\d|\s*(?:h\b|am\b|pm\b|a\.m|p\.m))(?:\s*,?\s*(?P<y>\d{{4}})\b)?"
)
_DATE_NUMERIC: Final = re.compile(
    r"(?<![\d/.:-])(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}(?:/(?P<y>\d{4}|\d{2}))?"
    r"|\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2}))(?![\d/.:-])"
)
_OFFSET: Final = re.compile(
    rf"\b(?P<pre>dans|in|d'ici|within|sous)\s+(?P<n>\d{{1,2}}|{_NUMW}|quinze|a couple of|"
    rf"couple of|une couple de|a|an)\s+(?P<u>jours?|days?|semaines?|weeks?|mois|months?)\b"
)
_MONTH_SPAN: Final = re.compile(
    rf"\b(?P<q>en|in|during|pendant|au mois d[e']|au mois de|in the month of|courant|early|late|"
    rf"mid|debut|mi|fin|end of|beginning of|start of|the end of|the beginning of|de|d'|of|my|"
    rf"our|mon|notre|the|for|pour|this|next|ce|cette|le)(?:[\s-]+|(?<='))"
    rf"(?P<m>{_MO_FULL})\b(?:\s+(?P<y>\d{{4}}))?"
)

# Times. Hours 0-23; a separator "h", ":" or "heures" (the latter needs context).
_MER: Final = r"(?P<mer>a\.?\s?m\b\.?|p\.?\s?m\b\.?)"
_QUAL: Final = (
    r"(?P<qual>du matin|de l'apres-?midi|de l'apres midi|de l'aprem|du soir|de la nuit|"
    r"in the morning|in the afternoon|in the evening|at night)"
)
_T1: Final = (
    r"(?P<h1>[01]?\d|2[0-3])(?:\s*(?:h|:)\s*(?P<m1>[0-5]\d)?|\s*(?P<mer1>am|pm|a\.m\.?|p\.m\.?))?"
)
_T2: Final = (
    r"(?P<h2>[01]?\d|2[0-3])(?:\s*(?:h|:)\s*(?P<m2>[0-5]\d)?)?"
    r"\s*(?P<mer2>am\b|pm\b|a\.m\.?|p\.m\.?)?"
)
_TIME_RANGE: Final = re.compile(
    rf"(?P<pre>\b(?:de|from|entre|between)\s+)?(?<![\d:.,/]){_T1}\s*(?P<to>-|a|to|until|till|"
    rf"et|and|jusqu'a)\s*{_T2}(?![\d:/])"
)
_TIME_HALF: Final = re.compile(
    r"(?<![\d:.,/])(?P<h>[01]?\d|2[0-3])\s*(?:h|heures?)\s*(?:et\s+(?P<q>demie?|quart)|moins\s+"
    r"(?:le\s+)?(?P<l>quart))\b"
    r"|\b(?P<e>half|quarter)\s+(?P<r>past|to)\s+(?P<h2>1[0-2]|0?[1-9])\b"
)
_TIME: Final = re.compile(
    rf"(?<![\d:.,/$€£-])(?P<h>[01]?\d|2[0-3])(?:\s*(?P<sep>h(?![a-z])|:(?=[0-5]\d)|heures?\b)"
    rf"\s*(?P<m>[0-5]\d(?!\d))?(?:\s*(?:min|mn)\b)?)?(?:\s*{_MER}|\s*{_QUAL}|\s*(?P<oc>o'?\s?clock))?"
)
_DURATION_BEFORE: Final = re.compile(
    r"\b(?:de|d'|pendant|durant|for|duree|dure|durera|lasts?|session of|seance de)\s*$"
)
_TIME_WORD: Final = re.compile(
    r"(?<!apres-)(?<!apres )(?<!avant-)(?<!avant )(?<!du )(?<!le )"
    r"\b(?P<w>midi|noon|midday|minuit|midnight)\b"
    r"(?:\s*(?:et\s+(?P<q>demie?|quart)|(?P<m>[0-5]\d)\b|(?P<t>trente|quinze)\b))?"
)
_TIME_BARE: Final = re.compile(
    rf"(?:(?<!y )\ba|\bat|\bvers|\baround|\babout|\bfrom|\bdes|\bafter|\bapres|\bbefore|\bavant"
    rf"|\buntil|\btill|\bby|\bjusqu'a|\benviron|\bautour de|\baux alentours de|\bsur les|@)\s+"
    rf"(?P<h>1[0-9]|2[0-3]|0?[1-9]|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
    rf"(?::(?P<m>[0-5]\d))?(?P<ish>ish)?\b"
    rf"(?!\s*(?:{_SUFFIX}\b|[/.,]\d|%|h|:))"
)
_TIME_WORDS_HOUR: Final = re.compile(
    rf"\b(?P<h>{_NUMW})\s+(?:(?P<sep>heures?)(?:\s+(?P<m>\d\d|trente|quinze))?|{_MER}|"
    rf"(?P<oc>o'?\s?clock))"
)

# Parts of the day; greetings and farewells first, so that "good morning" names no morning.
_GREETINGS: Final = re.compile(
    r"\b(?:good|lovely|nice|great) (?:morning|afternoon|evening|day|night|weekend|week-end)\b"
    r"|\bhave a (?:good|nice|great|lovely) \w+\b|\benjoy (?:your|the) \w+\b"
    r"|\bbon(?:ne)? (?:matin|apres-midi|apres midi|aprem|soiree|soir|journee|fin de journee"
    r"|fin de semaine|week-end|weekend|semaine|nuit)\b|\bbonsoir\b|\bbonjour\b"
)
# What is past names no time to book: "last week", "hier soir", "lundi dernier".
_PAST: Final = re.compile(
    rf"\b(?:last|past|this past) (?:night|week|weekend|week-end|month|time|{_WD})\b"
    rf"|\b(?:hier|yesterday)(?: soir| matin| apres-midi| morning| afternoon| evening)?\b"
    rf"|\b(?:la semaine|le week-end|le mois|la fois) derniere?\b|\b(?:{_WD}) dernier\b"
    rf"|\b(?:the other|l'autre) (?:day|night|jour|soir)\b|\bearlier today\b"
)
_WINDOWS: Final = (
    (r"\b(?:early morning|early in the morning|tot le matin|de bon matin|en debut de matinee|"
     r"debut de matinee|first thing in the morning)\b", TimeRange(time(0), time(10))),
    (r"\b(?:late morning|late in the morning|fin de matinee|en fin de matinee|"
     r"fin de l'avant-midi)\b", TimeRange(time(10), time(12))),
    (r"\b(?:early afternoon|early in the afternoon|debut d'apres-?midi|en debut d'apres-?midi|"
     r"debut d'apres midi)\b", TimeRange(time(12), time(15))),
    (r"\b(?:late afternoon|late in the afternoon|fin d'apres-?midi|en fin d'apres-?midi|"
     r"fin d'apres midi)\b", TimeRange(time(15), time(18))),
    (r"\b(?:end of the day|end of day|fin de journee|en fin de journee|after work|"
     r"apres le travail|apres le boulot|apres le bureau)\b", TimeRange(time(16), _MIDNIGHT)),
)  # fmt: skip
_PARTS: Final = (
    (r"\b(?:matin(?:ee)?s?|mornings?|avant-midi|avant midi|in the am|a\.m\.)", Part.MORNING),
    (r"\b(?:lunch(?:time)?|l'heure du midi|heure du midi|le midi|heure du lunch|over lunch)\b",
     Part.MIDDAY),
    (r"\b(?:apres-?midis?|apres midi|aprems?|afternoons?|arvo|in the pm|p\.m\.)", Part.AFTERNOON),
    (r"\b(?:soir(?:ee)?s?|evenings?|tonight|nights?)\b", Part.EVENING),
)  # fmt: skip

_WEEKDAYS_ONLY: Final = re.compile(
    r"\b(?:en semaine|weekdays|on weekdays|during the week|in the week|les jours de semaine|"
    r"jours de semaine|business days|jours ouvrables)\b"
)
_RELATIVE_DAYS: Final = (
    (r"\b(?:apres-demain|apres demain|day after tomorrow|surlendemain)\b", 2),
    (r"\b(?:demain|tomorrow|tmrw|tmr|tomorow|tommorow|tommorrow)\b", 1),
    (r"\b(?:aujourd'hui|aujourdhui|auj|today|tonight|ce soir|ce matin|cet apres-?midi|"
     r"cet aprem|this morning|this afternoon|this evening|plus tard aujourd'hui)\b", 0),
)  # fmt: skip


def _weeks(ctx: _Context) -> list[tuple[str, DateRange]]:
    today = ctx.today
    week = _week(today)
    nxt = DateRange(week.first + timedelta(days=7), week.last + timedelta(days=7))
    later = DateRange(today + _DAY, week.last) if today < week.last else nxt
    weekend = _this_week_part(today, 5, 6)
    return [
        (r"\b(?:(?:au |en )?(?:debut|commencement) de (?:la )?semaine prochaine|early next week|"
         r"beginning of next week|start of next week)\b",
         DateRange(nxt.first, nxt.first + timedelta(days=2))),
        (r"\b(?:(?:a la |en )?fin de (?:la )?semaine prochaine|(?:at the )?end of next week|"
         r"late next week)\b", DateRange(nxt.first + timedelta(days=3), nxt.last)),
        (r"\b(?:the week after next|la semaine d'apres la semaine prochaine|in a fortnight)\b",
         DateRange(nxt.first + timedelta(days=7), nxt.last + timedelta(days=7))),
        (r"\b(?:next week-?end|le week-?end prochain|la fin de semaine prochaine)\b",
         DateRange(nxt.first + timedelta(days=5), nxt.last)),
        (r"\b(?:(?:la |the )?semaine (?:prochaine|suivante|d'apres)|sem prochaine|"
         r"(?:the )?(?:next|following|coming) week|the week after)\b", nxt),
        (r"\b(?:later (?:in|this|that) (?:the )?week|plus tard (?:dans|cette) (?:la )?semaine|"
         r"plus tard cette semaine|d'ici la fin de (?:la )?semaine|by the end of the week|"
         r"before the end of the week|avant la fin de (?:la )?semaine)\b", later),
        (r"\b(?:(?:a la |en )?fin de (?:la |cette )?semaine|(?:at the |by the )?end of "
         r"(?:the|this) week|late this week|late in the week)\b", _this_week_part(today, 3, 6)),
        (r"\b(?:(?:au |en )?debut de (?:la |cette )?semaine|early (?:this|in the) week|"
         r"beginning of (?:the|this) week)\b", _this_week_part(today, 0, 2)),
        (r"\b(?:(?:ce |this |the |le )?week-?end)\b", weekend),
        (r"\b(?:cette semaine|this week|cette sem)\b", DateRange(today, week.last)),
    ]  # fmt: skip


_SAME: Final = (
    (r"\b(?:(?:a |at )?(?:la |the )?(?:meme|same) (?:heure|time|horaire|hour|creneau|slot))\b",
     "time"),
    (r"\b(?:(?:le |the )?(?:meme|same) (?:jour|day|journee))\b", "day"),
)  # fmt: skip
_SAME_BOTH: Final = re.compile(r"\b(?:meme jour,? meme heure|same day,? same time)\b")

# Prefixes that bind to the day or time that follows them. "Away until the 10th" is "after".
_AWAY: Final = (
    r"(?:(?:i'm |i am |je suis |je serai |i'll be |i will be )?(?:away|absente?|en vacances|"
    r"on vacation|on holiday|out of (?:town|the office)|busy|occupee?|pas disponible|pas dispo|"
    r"not available|unavailable|indisponible))"
)
_PREFIXES: Final = (
    ("week_from", r"(?:week commencing|week beginning|week starting|w/c|(?:la )?semaine du"
                  r"|(?:la )?semaine (?:qui commence|debutant)(?: le)?)"),
    ("week_of", r"(?:(?:the |la )?week of(?: the)?)"),
    ("after", r"(?:after|apres|later than|plus tard que|pas avant|not before|no earlier than|"
              rf"{_AWAY} (?:until|till|jusqu'(?:au|a))|"
              r"i work (?:until|till)|i(?:'m| am) at work (?:until|till)|i (?:finish|get off)"
              r"(?: work)? at|je travaille jusqu'(?:a|au)|je (?:finis|termine)(?: le travail)? a|"
              r"je sors du (?:travail|bureau) a)"),
    ("from", r"(?:from|starting|a partir d[eu']?|des|since|depuis|as of|beginning|"
             rf"{_AWAY} (?:avant|before))"),
    ("before", r"(?:before|avant|earlier than|plus tot que)"),
    ("until", r"(?:until|till|up to|jusqu'(?:a|au)|d'ici|by|no later than|au plus tard|"
              r"pas apres|not after)"),
    ("around", r"(?:vers|around|(?<!how )(?<!what )about|environ|autour de|aux alentours de|"
               r"sur les|approximately|"
               r"approx\.?|roughly)"),
)  # fmt: skip
_PREFIX_RES: Final = tuple(
    (kind, re.compile(rf"\b{words}\s+(?:(?:the|le|la|l'|du|a|at)\s+)?$"))
    for kind, words in _PREFIXES
)
_DEFAULT_RE: Final = re.compile(r"(?:\b(?:tous les|every|chaque)\s+)$")
_NEXT_RE: Final = re.compile(r"(?:\b(?:next|coming)\s+)$")
_NEXT_AFTER_RE: Final = re.compile(r"^\s+(?:prochain|qui vient|qui suit|suivant|d'apres)\b")


def _wd_abbreviations(language: str) -> Mapping[str, int]:
    return _WEEKDAY_ABBREVIATIONS.get(language, _WEEKDAY_ABBREVIATIONS["fr"])


def _scan(text: str, ctx: _Context) -> _Scan:
    """Every mention of a day, a time or a pick, each phrase claimed by the first pass it fits."""
    scan = _Scan(text, ctx)
    for pattern in (_GREETINGS, _PAST):
        for match in scan.each(pattern):
            scan.claim(*match.span())
    for pattern in (_PHONE, _MONEY):
        for match in scan.each(pattern):
            scan.claim(*match.span())
    _scan_dates(scan)
    _scan_offsets(scan)
    for match in scan.each(_QUANTITY):
        scan.claim(*match.span())
    _scan_times(scan)
    _scan_days(scan)
    if ctx.count:
        _scan_picks(scan)
    _scan_doms(scan)
    for mention in scan.mentions:
        _bind_prefix(scan, mention)
    scan.mentions.sort(key=lambda m: m.start)
    return scan


def _scan_dates(scan: _Scan) -> None:
    ctx = scan.ctx
    for m in scan.each(_DATE_RANGE):
        m1 = m.group("m1") or m.group("m2")
        m2 = m.group("m2") or m.group("m1")
        d1, d2 = int(m.group("d1")), int(m.group("d2"))
        ordinal = re.search(r"\d(?:st|nd|rd|th|er)\b", m.group(0))
        if not (m1 or m.group(0).startswith("du") or ordinal):
            continue
        if m1 and m2:
            first = _next_date(ctx.today, _month(m1), d1)
            last = _next_date(first or ctx.today, _month(m2), d2)
        else:
            first = _next_dom(ctx.today, d1)
            last = _next_dom(first or ctx.today, d2)
        if first and last and first <= last:
            scan.add(_Mention(m.start(), m.end(), span=DateRange(first, last)))
    for m in scan.each(_DATE_RANGE_MD):
        month = _month(m.group("m1"))
        first = _next_date(ctx.today, month, int(m.group("d1")))
        m2 = m.group("m2")
        last = _next_date(first or ctx.today, _month(m2) if m2 else month, int(m.group("d2")))
        if first and last and first <= last:
            scan.add(_Mention(m.start(), m.end(), span=DateRange(first, last)))
    for pattern in (_DATE_DM, _DATE_MD, _DATE_NUMERIC):
        for m in scan.each(pattern):
            span = m.group(0)
            if re.fullmatch(r"24/7|1/[24]|3/4", span):
                continue
            if m.groupdict().get("m") == "mar" and ctx.language == "fr":
                continue  # "mar 8" is "mardi 8" in French
            year = m.group("y") is not None or bool(re.match(r"\d{4}-", span))
            if pattern is _DATE_NUMERIC and "." in span:
                year = True
            found = _calendar_date(span, ctx, year)
            if found is not None:
                scan.add(_Mention(m.start(), m.end(), dates=(found,)))
    for m in scan.each(_MONTH_SPAN):
        month = _MONTHS[m.group("m")]
        written = int(m.group("y")) if m.group("y") else None
        first = date(written or ctx.today.year, month, 1)
        if written is None and (first.year, first.month) < (ctx.today.year, ctx.today.month):
            first = first.replace(year=first.year + 1)
        nxt = first.replace(day=28) + timedelta(days=4)
        last = nxt - timedelta(days=nxt.day)
        q = m.group("q")
        if q in ("early", "debut", "beginning of", "start of", "the beginning of"):
            first, last = first, first.replace(day=10)
        elif q in ("mid", "mi"):
            first, last = first.replace(day=11), first.replace(day=20)
        elif q in ("late", "fin", "end of", "the end of"):
            first = first.replace(day=21)
        first = max(first, ctx.today)
        if first <= last:
            scan.add(_Mention(m.start(), m.end(), span=DateRange(first, last)))
    holidays: tuple[tuple[str, Callable[[date], DateRange]], ...] = (
        (r"\b(?:noel|christmas|xmas)\b", _christmas),
        (r"\b(?:jour de l'an|nouvel an|new year'?s?(?: day)?|premier de l'an)\b", _new_year),
        (
            r"\b(?:les fetes|temps des fetes|(?:the )?holidays|(?:the )?holiday season|"
            r"festive season)\b",
            _holidays,
        ),
    )
    for pattern_text, when in holidays:
        for m in scan.each(re.compile(pattern_text)):
            days = when(ctx.today)
            if days.first == days.last:
                scan.add(_Mention(m.start(), m.end(), dates=(days.first,)))
            else:
                scan.add(_Mention(m.start(), m.end(), span=days))


def _month(word: str) -> int:
    return _MONTHS.get(word) or _MONTH_ABBREVIATIONS[word]


def _scan_offsets(scan: _Scan) -> None:
    ctx = scan.ctx
    for m in scan.each(_OFFSET):
        found = _offset(m.group("n"), m.group("u"), ctx)
        if found is None:
            continue
        if m.group("pre") in ("d'ici", "within", "sous"):
            scan.add(_Mention(m.start(), m.end(), span=DateRange(ctx.today, found)))
        elif m.group("u").startswith(("jour", "day")) and m.group("n") != "quinze":
            scan.add(_Mention(m.start(), m.end(), dates=(found,)))
        else:
            scan.add(_Mention(m.start(), m.end(), span=_week(found)))
    for pattern_text, span in _weeks(ctx):
        for m in scan.each(re.compile(pattern_text)):
            scan.add(_Mention(m.start(), m.end(), span=span))


def _hour(text: str) -> int:
    return _NUMBER_WORDS[text] if text in _NUMBER_WORDS else int(text)


def _clock(hour: int, minute: int, meridiem: str | None, *, sure: bool = False) -> _Clock | None:
    """A clock from a written hour; am/pm or a qualifier ("du soir") makes it certain."""
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        pm = meridiem.startswith("p") or meridiem in (
            "de l'apres-midi",
            "de l'apres midi",
            "de l'aprem",
            "du soir",
            "in the afternoon",
            "in the evening",
            "at night",
        )
        if meridiem == "de la nuit":
            pm = hour >= 7
        return _Clock((hour % 12) + (12 if pm else 0), minute, True, True)
    if not 0 <= hour <= 23:
        return None
    return _Clock(hour, minute, sure or hour == 0 or hour >= 12, True)


def _scan_times(scan: _Scan) -> None:
    for m in scan.each(_TIME_RANGE):
        pre, to = (m.group("pre") or "").strip(), m.group("to")
        first = m.group(0)[m.start("h1") - m.start() : m.end("h1") - m.start() + 4]
        first_marked = bool(m.group("m1") or m.group("mer1") or re.match(r"\d+\s*h", first))
        second_marked = bool(
            m.group("m2") or m.group("mer2") or re.search(r"\d\s*h\s*\d*$", m.group(0))
        )
        if to in ("et", "and") and pre not in ("entre", "between"):
            continue
        between = pre in ("entre", "between") and to in ("et", "and")
        if between and _QUANTITY.match(scan.text, m.start("h2")):
            continue  # "entre 2 et 3 personnes"
        if not (first_marked or between or (second_marked and (pre or to in ("-", "to")))):
            continue
        if re.search(r"\b(?:le|the)\s+$", scan.text[max(0, m.start() - 6) : m.start()]):
            continue
        mer2 = m.group("mer2")
        h1, h2 = int(m.group("h1")), int(m.group("h2"))
        mer1 = m.group("mer1") or (mer2 if mer2 and h1 <= h2 and h2 != 12 else None)
        if mer2 and not m.group("mer1") and h2 == 12 and h1 < 12:
            mer1 = "am"
        start = _clock(h1, int(m.group("m1") or 0), mer1, sure="h" in m.group(0) and h1 >= 8)
        end = _clock(h2, int(m.group("m2") or 0), mer2, sure="h" in m.group(0) and h2 >= 8)
        if start is None or end is None:
            continue
        begin = m.start("h1")
        scan.add(_Mention(begin, m.end(), clock=start, until=end))
        scan.claim(m.start(), begin)
    for m in scan.each(_TIME_HALF):
        if m.group("h") is not None:
            hour, minute = int(m.group("h")), 30 if (m.group("q") or "").startswith("demi") else 15
            if m.group("l"):
                hour, minute = hour - 1, 45
        else:
            hour = int(m.group("h2"))
            minute = 30 if m.group("e") == "half" else 15
            if m.group("r") == "to":
                hour, minute = hour - 1, 45
        made = _clock(hour % 24, minute, None, sure=hour >= 12)
        if made is not None:
            scan.add(_Mention(m.start(), m.end(), clock=made))
    for m in scan.each(_TIME_WORDS_HOUR):
        hour = _NUMBER_WORDS[m.group("h")]
        if m.group("sep") and not m.group("m"):
            before = scan.text[max(0, m.start() - 12) : m.start()]
            if not re.search(r"\b(?:a|vers|de|des|avant|apres|jusqu'a|entre|et|pour)\s*$", before):
                continue
        minute = {"trente": 30, "quinze": 15}.get(m.group("m") or "", 0)
        if (m.group("m") or "").isdigit():
            minute = int(m.group("m"))
        made = _clock(hour, minute, m.group("mer"))
        if made is not None and minute < 60:
            scan.add(_Mention(m.start(), m.end(), clock=made))
    for m in scan.each(_TIME):
        sep, mer, qual = m.group("sep"), m.group("mer"), m.group("qual")
        if not (sep or mer or qual or m.group("oc")):
            continue
        if sep and sep.startswith("heure") and not (m.group("m") or mer or qual):
            before = scan.text[max(0, m.start() - 12) : m.start()]
            if not re.search(r"\b(?:a|vers|de|des|avant|apres|jusqu'a|entre|et|pour)\s*$", before):
                continue
        hour, minute = int(m.group("h")), int(m.group("m") or 0)
        if sep and hour <= 3 and _DURATION_BEFORE.search(scan.text, 0, m.start()):
            continue  # "une séance de 1h30", "for 2h": a length, not a time
        # "10h" is 10:00; "2h30" may be 14:30 (spoken French), "at 10" may be 22:00.
        made = _clock(hour, minute, mer or qual, sure=bool(sep and sep[0] == "h" and hour >= 8))
        if made is None:
            continue
        if m.group("m"):
            made = replace(made, minutes_written=True)
        elif not (mer or qual):
            made = replace(made, minutes_written=False)
        scan.add(_Mention(m.start(), m.end(), clock=made))
    for m in scan.each(_TIME_WORD):
        word = m.group("w")
        hour = 0 if word in ("minuit", "midnight") else 12
        minute = 0
        if m.group("q"):
            minute = 30 if m.group("q").startswith("demi") else 15
        elif m.group("m"):
            minute = int(m.group("m"))
        elif m.group("t"):
            minute = 30 if m.group("t") == "trente" else 15
        scan.add(_Mention(m.start(), m.end(), clock=_Clock(hour, minute, True, True)))
    for m in scan.each(_TIME_BARE):
        hour, minute = _hour(m.group("h")), int(m.group("m") or 0)
        made = _clock(hour, minute, None)
        if made is None:
            continue
        made = replace(made, minutes_written=m.group("m") is not None)
        begin = m.start("h")
        scan.add(_Mention(begin, m.end(), clock=made, around=bool(m.group("ish"))))


def _scan_days(scan: _Scan) -> None:
    ctx = scan.ctx
    for m in scan.each(re.compile(_SAME_BOTH.pattern)):
        scan.add(_Mention(m.start(), m.end(), same=frozenset({"time", "day"})))
    for pattern_text, what in _SAME:
        for m in scan.each(re.compile(pattern_text)):
            scan.add(_Mention(m.start(), m.end(), same=frozenset({what})))
    for pattern_text, offset in _RELATIVE_DAYS:
        for m in scan.each(re.compile(pattern_text)):
            words = m.group(0)
            part = None
            if re.search(r"soir|tonight|evening", words):
                part = Part.EVENING
            elif re.search(r"matin|morning", words):
                part = Part.MORNING
            elif re.search(r"apres-?midi|apres midi|aprem|afternoon", words):
                part = Part.AFTERNOON
            day = ctx.today + timedelta(days=offset)
            scan.add(_Mention(m.start(), m.end(), dates=(day,), part=part))
    for pattern_text, window in _WINDOWS:
        for m in scan.each(re.compile(pattern_text)):
            scan.add(_Mention(m.start(), m.end(), window=window))
    wd_range = re.compile(
        rf"\b(?:(?:from|du|de)\s+)?(?P<a>{_WD})s?\s*(?:to|au|a|-|through|thru|until|till|jusqu'au)"
        rf"\s*(?P<b>{_WD})s?\b"
    )
    for m in scan.each(wd_range):
        a, b = _WEEKDAYS[m.group("a")], _WEEKDAYS[m.group("b")]
        days = frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))
        scan.add(_Mention(m.start(), m.end(), days_of_week=days))
    for m in scan.each(_WEEKDAYS_ONLY):
        scan.add(_Mention(m.start(), m.end(), days_of_week=frozenset(range(5))))
    for pattern_text, part_of_day in _PARTS:
        for m in scan.each(re.compile(pattern_text)):
            scan.add(_Mention(m.start(), m.end(), part=part_of_day))
    abbreviations = _wd_abbreviations(ctx.language)
    wd_any = f"{_WD}|{_alternatives(abbreviations)}"
    with_dom = re.compile(
        rf"\b(?P<wd>{wd_any})(?P<pl>s)?\b\.?\s*,?\s*(?:le\s+|the\s+)?(?P<d>\d{{1,2}}){_SUFFIX}?\b"
        rf"(?!\s*(?:h\b|h\d|[:.]\d|heures?|am\b|pm\b|a\.m|p\.m|[/$€%]))"
    )
    for m in scan.each(with_dom):
        number = int(m.group("d"))
        if 1 <= number <= 31:
            weekday = _WEEKDAYS.get(m.group("wd"), abbreviations.get(m.group("wd")))
            scan.add(_Mention(m.start(), m.end(), weekday=weekday, dom=number))
    full = re.compile(rf"\b(?P<wd>{_WD})(?P<pl>s)?\b")
    short = re.compile(
        rf"\b(?P<wd>{_alternatives(abbreviations)})(?P<pl>)(?:\.|\b(?=\s*(?:\d|at\b|a\b|@)))"
    )
    for pattern in (full, short):
        for m in scan.each(pattern):
            weekday = _WEEKDAYS.get(m.group("wd"), abbreviations.get(m.group("wd")))
            before = scan.text[max(0, m.start() - 16) : m.start()]
            after = scan.text[m.end() : m.end() + 16]
            habitual = bool(m.group("pl")) or bool(_DEFAULT_RE.search(before))
            if re.search(r"\ble\s+$", before) and not re.match(r"\s*(?:\d|" + _HOLE + ")", after):
                habitual = True
            end = m.end()
            upcoming = bool(_NEXT_RE.search(before))
            following = _NEXT_AFTER_RE.match(after)
            if following:
                upcoming, end = True, m.end() + following.end()
            scan.add(_Mention(m.start(), end, weekday=weekday, habitual=habitual,
                              upcoming=upcoming))  # fmt: skip


# Picks: a number or an ordinal that names an offered slot.
_PICK_STRONG: Final = re.compile(
    rf"(?:\b(?:options?|choix|choice|creneau|slot|time slot|proposition|possibilite|plage|horaire"
    rf"|numero|number|num|nr|no)\b\.?|n°|#)\s*(?:#|n°|no\.?|numero|number)?\s*"
    rf"(?P<n>\d{{1,2}}|{_NUMW})\b(?!\s*(?:h\b|:\d|am\b|pm\b))"
)
_PICK_ORDINAL: Final = re.compile(
    rf"\b(?P<w>{_alternatives(_ORDINALS)})\b|(?<![\w.,:/-])(?P<d>\d{{1,2}})(?P<s>{_SUFFIX})\b"
)
_PICK_BARE: Final = re.compile(r"(?<![\w.,:/$€£+#-])(?P<n>\d{1,2})(?![\w:/]|[.,]\d)")
_PICK_NOUNS: Final = _words(
    "one ones option slot creneau proposition possibilite plage horaire date dates"
)
_FOLLOW_PICK: Final = _words(
    "both one ones option options slot slots creneau creneaux proposition possibilite plage "
    "horaire "
    "works work worked does do is s would will sounds suits fits looks seems please pls plz "
    "thanks thank thx ok okay perfect great good fine best svp stp merci me m est c serait sera "
    "convient conviendrait conviennent va irait ira marche fonctionne pour parfait parfaite "
    "super nickel ideal ideale top si if then alors car because since as but mais and et or ou "
    "for de la of on in dans sur"
)
_PRECEDE_PICK: Final = _words(
    "le la l the take took prends prendrai prendrais prendre pick picked choose chose choisis "
    "choisirai choisirais choisir opt opte opterais go with want veux voudrais prefer prefere "
    "prefererais like d would book reserve reserver reserverais confirm confirme confirmer ou "
    "or et and either soit plutot rather maybe etre donc so alors then ok okay oui yes yep sure "
    "parfait perfect great merci thanks is est c ca be sera serait"
)
_DETERMINERS: Final = _words("the le la l my mon ma your votre ton ta")
_FALLBACK: Final = re.compile(
    r"\b(?:sinon|otherwise|or else|failing that|a defaut|if not|si non|second choice|"
    r"deuxieme choix|second choix|as a backup|en alternative|backup)\b"
)


def _word_before(free: str, index: int) -> str:
    """The word just before `index` ("" at a sentence start), skipping spaces."""
    head = free[:index].rstrip(" ")
    if not head or head[-1] in "\n.!?:;,()[]*>-":
        return ""
    words: list[str] = re.findall(r"[a-z]+", head[-24:])
    if not words or not head[-1].isalpha():
        return "\x00"
    return words[-1]


def _word_after(free: str, index: int) -> str:
    """The word just after `index`; "" at an end or before punctuation; HOLE before a mention."""
    tail = free[index:].lstrip(" ")
    if not tail or tail[0] in "\n.!?:;,()[]*-–—/":
        return ""
    if tail[0] == _HOLE:
        return _HOLE
    word = re.match(r"[a-z]+", tail)
    return word.group() if word else "\x00"


def _prefixed(text: str, index: int) -> bool:
    head = text[max(0, index - 40) : index]
    return any(pattern.search(head) for kind, pattern in _PREFIX_RES if kind != "around")


def _scan_picks(scan: _Scan) -> None:
    count = scan.ctx.count
    for m in scan.each(_PICK_STRONG):
        n = _hour(m.group("n"))
        if 1 <= n <= count:
            scan.add(_Mention(m.start(), m.end(), pick=n))
    for m in scan.each(_PICK_ORDINAL):
        word = m.group("w")
        n = _ORDINALS[word] if word else int(m.group("d"))
        n = count if n == -1 else n
        before = _word_before(scan.free, m.start())
        after = _word_after(scan.free, m.end())
        if not 1 <= n <= count or _prefixed(scan.text, m.start()) or after in ("choice", "choix"):
            continue
        if word and word.startswith("second") and before == "a":
            continue
        if before in _DETERMINERS:
            ok = after in ("", *_FOLLOW_PICK)
        elif word:
            ok = after in _PICK_NOUNS
        else:
            ok = before in ("", *_PRECEDE_PICK) and after in ("", *_FOLLOW_PICK)
        if ok:
            scan.add(_Mention(m.start(), m.end(), pick=n))
    for m in scan.each(_PICK_BARE):
        n = int(m.group("n"))
        if not 1 <= n <= count or _prefixed(scan.text, m.start()):
            continue
        before = _word_before(scan.free, m.start())
        after = _word_after(scan.free, m.end())
        if before in ("", *_PRECEDE_PICK) and after in ("", *_FOLLOW_PICK):
            scan.add(_Mention(m.start(), m.end(), pick=n))


def _scan_doms(scan: _Scan) -> None:
    dom = re.compile(
        rf"(?:\b(?:le|the|on the|on|du|jusqu'au|ce)\s+)(?P<d>\d{{1,2}}|premier){_SUFFIX}?\b"
        rf"|(?<![\w.,:/-])(?P<d2>\d{{1,2}})(?:st|nd|rd|th|er)\b"
    )
    for m in scan.each(dom):
        text = m.group("d") or m.group("d2")
        day = 1 if text == "premier" else int(text)
        if not 1 <= day <= 31 or re.match(r"\s*(?:h\b|:\d|[/.]\d)", scan.free[m.end() :]):
            continue
        begin = m.start("d") if m.group("d") else m.start("d2")
        scan.add(_Mention(begin, m.end(), dom=day))
        scan.claim(m.start(), begin)
    # "le 15 ou 16", "15, 16 ou 17 décembre": bare day numbers in a list with a named day.
    named = [m for m in scan.mentions if m.dom is not None or len(m.dates) == 1]
    if not named:
        return
    bare = [m for m in scan.each(_BARE_DAY) if 1 <= int(m.group("d")) <= 31]
    items: list[_Mention | re.Match[str]] = sorted(
        [*named, *bare], key=lambda x: x.start if isinstance(x, _Mention) else x.start()
    )
    groups: list[list[_Mention | re.Match[str]]] = [[items[0]]]
    for previous, item in pairwise(items):
        end = previous.end if isinstance(previous, _Mention) else previous.end()
        begin = item.start if isinstance(item, _Mention) else item.start()
        if _LIST_GAP.fullmatch(scan.text, end, begin):
            groups[-1].append(item)
        else:
            groups.append([item])
    for group in groups:
        if not any(isinstance(x, _Mention) for x in group):
            continue
        months = [
            (i, x.dates[0].month)
            for i, x in enumerate(group)
            if isinstance(x, _Mention) and x.dates
        ]
        for i, x in enumerate(group):
            if isinstance(x, _Mention):
                continue
            day = int(x.group("d"))
            if months:
                month = min(months, key=lambda pair: (abs(pair[0] - i), -pair[0]))[1]
                found = _next_date(scan.ctx.today, month, day)
                if found is not None:
                    scan.add(_Mention(x.start(), x.end(), dates=(found,)))
            else:
                scan.add(_Mention(x.start(), x.end(), dom=day))


_BARE_DAY: Final = re.compile(rf"(?<![\w.,:/-])(?P<d>\d{{1,2}}){_SUFFIX}?\b")
_LIST_GAP: Final = re.compile(r"\s*(?:,|ou|or|et|and|&)\s*(?:le\s+|the\s+)?")


def _bind_prefix(scan: _Scan, mention: _Mention) -> None:
    head = scan.text[max(0, mention.start - 40) : mention.start]
    for kind, pattern in _PREFIX_RES:
        if pattern.search(head):
            mention.prefix = kind
            return


# --- Moments ------------------------------------------------------------------------------------

_CLAUSE_BREAK: Final = re.compile(
    r"[.;!?\n()\[\]:,]|\s[-–—]+\s|\b(?:but|mais|however|cependant|par contre|sinon|otherwise|"
    r"instead|plutot|rather|though|although|whereas|alors que|tandis que|because|parce que|"
    r"car|puisque|since)\b"
)
_NEUTRAL: Final = re.compile(
    rf"\b{_AWAY} (?:until|till|jusqu'(?:au|a)|avant|before)\b|"
    r"\b(?:no problem|no problems|no worries|no rush|no pressure|not sure|no preference|"
    r"doesn't matter|does not matter|don't mind|do not mind|not a problem|not at all|"
    r"pas de (?:probleme|souci|soucis|stress|preference|rush|presse)|aucun (?:probleme|souci)|"
    r"sans (?:probleme|souci)|n'hesitez pas|n'hesite pas|ne vous (?:en )?(?:inquietez|faites) pas|"
    r"pas mal|ca ne me derange pas|peu importe|n'importe|je ne sais pas si|i don't know if|"
    r"not before|pas avant|no later than|not later than|no earlier than|pas apres|not after|"
    r"pas plus tard que|pas plus tot que)\b"
)
_NEGATION: Final = re.compile(
    r"\b(?:not|never|except|excluding|besides|other than|apart from|unavailable|busy|cannot|"
    r"can't|cant|won't|wont|isn't|doesn't|don't|didn't|aren't|is out|no(?!\s*\.?\s*\d)|pas|"
    r"jamais|aucune?|sauf|excepte|hormis|a part|autre que|indisponible|occupee?s?|impossible|"
    r"ni|neither|nor|empeche|empechee)\b|n't\b"
)
# What parts two moments: "mardi ou jeudi", "move Thursday to next week".
_SENTENCE_BREAK: Final = re.compile(
    r"[.;!?\n]|\b(?:ou|or|sinon|otherwise|but|mais|either|to|au|into|instead|plutot|rather)\b"
)
_JOIN: Final = re.compile(r"^[\s,&]*(?:(?:ou|or|et|and|sinon|otherwise|either|soit)\b[\s,]*)*$")


def _negate(scan: _Scan) -> list[tuple[int, int]]:
    """Mark the mentions that sit in a clause with a negation; return those clauses."""
    chars = list(_NEUTRAL.sub(lambda m: " " * len(m.group()), scan.text))
    for mention in scan.mentions:
        chars[mention.start : mention.end] = _HOLE * (mention.end - mention.start)
    text = "".join(chars)
    bounds = [0, *(m.start() for m in _CLAUSE_BREAK.finditer(text)), len(text)]
    negative = [(a, b) for a, b in pairwise(bounds) if _NEGATION.search(text, a, b)]
    for a, b in negative:
        inside = [m for m in scan.mentions if a <= m.start < b]
        named = [m for m in inside if m.span is None or m.has_time or m.pick is not None]
        for mention in inside:
            # "any day but Monday next week": the week is where, not what is refused.
            span_only = mention.span is not None and not mention.has_time
            mention.negated = not (span_only and named)
    return negative


def _merge(a: _Mention, b: _Mention) -> _Mention | None:
    """One moment from two mentions, or None when they name two different things."""
    if a.negated != b.negated:
        return None
    out = replace(a, end=b.end)
    for name in ("dates", "weekday", "dom", "days_of_week", "clock", "window", "part", "after",
                 "before"):  # fmt: skip
        mine, theirs = getattr(a, name), getattr(b, name)
        if theirs in (None, (), frozenset()):
            continue
        if mine not in (None, (), frozenset()) and mine != theirs:
            return None
        setattr(out, name, theirs)
    if b.span is not None:
        if a.span is not None:
            first, last = max(a.span.first, b.span.first), min(a.span.last, b.span.last)
            if first > last:
                return None
            out.span = DateRange(first, last)
        else:
            out.span = b.span
    out.until = a.until or b.until
    out.around = a.around or b.around
    out.habitual = a.habitual or b.habitual
    out.upcoming = a.upcoming or b.upcoming
    out.same = a.same | b.same
    return out


def _resolve_span(mention: _Mention, ctx: _Context) -> DateRange | None:
    """The days one mention names, first to last, for a prefix to bound."""
    if mention.dates:
        return DateRange(min(mention.dates), max(mention.dates))
    if mention.span is not None:
        return mention.span
    days = _resolve(mention, ctx)
    return DateRange(days[0], days[0]) if days else None


def _apply_prefix(mention: _Mention, ctx: _Context) -> _Mention:
    """Turn "after the 10th", "avant 11h", "week of the 7th", "vers 14h" into ranges."""
    kind = mention.prefix
    if not kind:
        return mention
    if mention.clock is not None and mention.until is not None:
        return mention
    if mention.clock is not None and not mention.has_day:
        clock = mention.clock.likely()
        if kind in ("after", "from"):
            return replace(mention, clock=None, until=None, after=clock)
        if kind in ("before", "until"):
            return replace(mention, clock=None, until=None, before=clock)
        if kind == "around":
            return replace(mention, around=True)
        return mention
    if not mention.has_day or mention.has_time or kind == "around":
        return mention
    days = _resolve_span(mention, ctx)
    if days is None:
        return mention
    plain = _Mention(mention.start, mention.end, negated=mention.negated)
    if kind == "week_from":
        return replace(plain, span=DateRange(days.first, days.first + timedelta(days=6)))
    if kind == "week_of":
        return replace(plain, span=_week(days.first))
    if kind == "after":
        return replace(plain, span=DateRange(days.last + _DAY, date.max))
    if kind == "from":
        return replace(plain, span=DateRange(days.first, date.max))
    if kind == "before":
        last = days.first - _DAY
        return replace(plain, span=DateRange(ctx.today, last)) if last >= ctx.today else mention
    if kind == "until":
        return replace(plain, span=DateRange(ctx.today, max(ctx.today, days.last)))
    return mention


def _moments(scan: _Scan) -> list[_Mention]:
    """Mentions grouped into moments: "jeudi le 10 à 9 h 30" is one, "mardi ou jeudi" two.

    A moment without a time borrows the time of the moment that follows it when only "ou", "et"
    or a comma stand between them ("mardi ou jeudi à 14h"); one without a day borrows the day
    of the moment before ("mardi 10h ou 14h").
    """
    ctx = scan.ctx
    mentions = [_apply_prefix(m, ctx) for m in scan.mentions if m.pick is None]
    moments: list[_Mention] = []
    for mention in mentions:
        if moments:
            last = moments[-1]
            gap = scan.text[last.end : mention.start]
            merged = None
            if not _SENTENCE_BREAK.search(gap) and len(gap.split()) <= 4:
                merged = _merge(last, mention)
            if merged is not None:
                moments[-1] = merged
                continue
        moments.append(replace(mention))
    for i in range(len(moments) - 1):
        a, b = moments[i], moments[i + 1]
        if a.negated != b.negated or not _JOIN.match(scan.text[a.end : b.start]):
            continue
        if b.span is None and a.span is not None and b.weekday is not None and not b.dates:
            # "la semaine prochaine, jeudi ou vendredi"
            moments[i + 1] = b = replace(b, span=a.span)
        if not a.has_time and b.has_time and a.has_day:
            moments[i] = replace(a, clock=b.clock, until=b.until, window=b.window, part=b.part,
                                 after=b.after, before=b.before, around=b.around)  # fmt: skip
    for i in range(1, len(moments)):
        a, b = moments[i - 1], moments[i]
        if a.negated != b.negated or not _JOIN.match(scan.text[a.end : b.start]):
            continue
        if not b.has_day and b.has_time and a.has_day:
            moments[i] = replace(b, dates=a.dates, span=a.span, weekday=a.weekday, dom=a.dom,
                                 habitual=a.habitual, upcoming=a.upcoming)  # fmt: skip
    return moments


def _later_today(moment: _Mention, now: time) -> bool:
    if moment.clock is not None:
        return moment.clock.likely() > now
    if moment.part is not None:
        end = PART_HOURS[moment.part].end
        return end == _MIDNIGHT or end > now
    if moment.window is not None:
        return moment.window.end == _MIDNIGHT or moment.window.end > now
    return moment.after is not None


def _resolve(moment: _Mention, ctx: _Context) -> tuple[date, ...]:
    """The dates a moment names: the next ones, as the module docstring says."""
    if moment.dates:
        inside = tuple(d for d in moment.dates if moment.span is None or d in moment.span)
        return inside or moment.dates
    if moment.weekday is None and moment.dom is None:
        return ()
    today = ctx.today
    first = today
    last = today + timedelta(days=_LOOKAHEAD_DAYS)
    if moment.span is not None:
        first, last = max(first, moment.span.first), min(last, moment.span.last)

    def search(weekday: int | None, dom: int | None) -> date | None:
        if dom is None:
            assert weekday is not None
            day = first + timedelta(days=(weekday - first.weekday()) % 7)
            return day if day <= last else None
        found = _next_dom(first, dom)
        while found is not None and found <= last:
            if weekday is None or found.weekday() == weekday:
                return found
            found = _next_dom(found + _DAY, dom)
        return None

    found = search(moment.weekday, moment.dom)
    if moment.dom is not None:
        if moment.weekday is not None and (found is None or found > today + timedelta(days=62)):
            found = search(None, moment.dom)  # "jeudi le 11" when the 11th is no Thursday
        return (found,) if found else ()
    if found is None:
        return ()
    if found == today:
        if moment.upcoming or not _later_today(moment, ctx.now):
            later = found + timedelta(days=7)
            return (later,) if later <= last else ()
        return (found, found + timedelta(days=7))
    return (found,)


# --- Fitting ------------------------------------------------------------------------------------


def _in(at: time, window: TimeRange) -> bool:
    return window.start <= at and (window.end == _MIDNIGHT or at < window.end)


def _around(clock: _Clock) -> tuple[TimeRange, ...]:
    out = []
    for reading in clock.readings():
        middle = datetime.combine(date(2000, 1, 2), reading)
        lo, hi = middle - timedelta(minutes=30), middle + timedelta(minutes=31)
        lo_t = lo.time() if lo.date() == middle.date() else _MIDNIGHT
        hi_t = hi.time() if hi.date() == middle.date() else _MIDNIGHT
        out.append(TimeRange(lo_t, hi_t))
    return tuple(out)


def _time_fits(moment: _Mention, at: time, loose: bool) -> bool:
    at = at.replace(second=0, microsecond=0)
    clock = moment.clock
    if clock is not None:
        readings = clock.readings()
        exact = at in readings
        if not exact:
            same_hour = loose and not clock.minutes_written
            if same_hour and any(at.hour == r.hour for r in readings):
                pass
            elif not ((moment.around or same_hour) and any(_in(at, w) for w in _around(clock))):
                return False
    if moment.window is not None and not _in(at, moment.window):
        return False
    if moment.part is not None and not _in(at, PART_HOURS[moment.part]):
        return False
    if moment.after is not None and at < moment.after:
        return False
    return moment.before is None or at < moment.before


def _day_fits(moment: _Mention, day: date, near: DateRange | None) -> bool:
    if moment.dates and day not in moment.dates:
        return False
    if moment.span is not None and day not in moment.span:
        return False
    if moment.weekday is not None and day.weekday() != moment.weekday:
        return False
    if moment.dom is not None and day.day != moment.dom:
        return False
    if moment.days_of_week and day.weekday() not in moment.days_of_week:
        return False
    return near is None or moment.weekday is None or bool(moment.dates) or day in near


def _matches(
    moment: _Mention, starts: Sequence[datetime], ctx: _Context, *, tiers: bool
) -> list[int]:
    """Indexes of `starts` that fit the moment, loosening step by step until some fit.

    Always: the exact time, then the same hour ("10h" for 10:30) or half an hour around. With
    `tiers` (appointments): a weekday within the next seven days first, and the day alone when
    no time fits.
    """
    soon = ctx.today + _DAY if moment.upcoming else ctx.today
    near = DateRange(soon, soon + timedelta(days=6))
    steps: list[tuple[DateRange | None, bool, bool]] = [(None, False, True), (None, True, True)]
    if tiers:
        steps = [(near, False, True), (near, True, True), (None, False, True), (None, True, True)]
        if moment.has_day and moment.has_time:
            steps += [(near, True, False), (None, True, False)]
    for near_days, loose, with_time in steps:
        found = [
            i
            for i, start in enumerate(starts)
            if _day_fits(moment, start.date(), near_days)
            and (not with_time or _time_fits(moment, start.time(), loose))
        ]
        if found:
            return found
    return []


def fits(slot: Slot, wish: Wish, zone: ZoneInfo) -> bool:
    """True when the slot's local start, in `zone`, fits the wish (see `Wish`)."""
    start = _local(slot.start, zone, "slot start")
    day, at = start.date(), start.time().replace(second=0, microsecond=0)
    if (wish.dates or wish.weekdays) and not (day in wish.dates or day.weekday() in wish.weekdays):
        return False
    if wish.within is not None and day not in wish.within:
        return False
    if day in wish.not_dates or day.weekday() in wish.not_weekdays:
        return False
    if (wish.times or wish.windows or wish.parts) and not (
        at in wish.times
        or any(_in(at, w) for w in wish.windows)
        or any(_in(at, PART_HOURS[p]) for p in wish.parts)
    ):
        return False
    if wish.after is not None and at < wish.after:
        return False
    if wish.before is not None and at >= wish.before:
        return False
    return not any(_in(at, PART_HOURS[p]) for p in wish.not_parts)


def fitting(slots: Sequence[Slot], wish: Wish, zone: ZoneInfo) -> list[Slot]:
    """The slots that fit the wish, in the order given; [] when none does."""
    return [slot for slot in slots if fits(slot, wish, zone)]


# --- Entry points -------------------------------------------------------------------------------


def _local(value: datetime, zone: ZoneInfo, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, not naive {value.isoformat()}")
    return value.astimezone(zone)


def _context(language: str, zone: ZoneInfo, now: datetime, count: int) -> _Context:
    local = _local(now, zone, "now")
    lang = language.strip().lower()[:2]
    if lang == "en":
        order = "MDY" if zone.key.startswith(("America/", "US/", "Canada/")) else "DMY"
    else:
        order = "DMY"
    return _Context(local.date(), local.time().replace(tzinfo=None), lang, order, count)


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Wall time `at` on `day` in `zone`: fold=0, a time in a DST gap moves past the gap."""
    return datetime.combine(day, at).replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def _wish(moments: Sequence[_Mention], ctx: _Context, current: datetime | None) -> Wish:
    dates: list[date] = []
    weekdays: list[int] = []
    spans: list[DateRange] = []
    times: list[time] = []
    windows: list[TimeRange] = []
    parts: list[Part] = []
    not_dates: list[date] = []
    not_weekdays: list[int] = []
    not_parts: list[Part] = []
    after: time | None = None
    before: time | None = None
    same_time = False
    for moment in moments:
        if moment.same:
            same_time = same_time or "time" in moment.same
            moment = _with_current(moment, current)
        if moment.negated:
            not_weekdays.extend(sorted(moment.days_of_week))
            if moment.weekday is not None and not moment.dates and moment.dom is None:
                not_weekdays.append(moment.weekday)
            elif moment.has_day:
                not_dates.extend(_resolve(moment, ctx))
            elif moment.part is not None:
                not_parts.append(moment.part)
            continue
        if moment.days_of_week and moment.weekday is None and not moment.dates:
            weekdays.extend(sorted(moment.days_of_week))
            if moment.span is not None:
                spans.append(moment.span)
        elif moment.weekday is not None and moment.habitual and moment.dom is None:
            weekdays.append(moment.weekday)
            if moment.span is not None:
                spans.append(moment.span)
        elif moment.dates or moment.weekday is not None or moment.dom is not None:
            dates.extend(_resolve(moment, ctx))
        elif moment.span is not None:
            spans.append(moment.span)
        if moment.clock is not None:
            if moment.until is not None:
                windows.append(TimeRange(moment.clock.likely(), moment.until.likely()))
            elif moment.around:
                windows.extend(_around(moment.clock))
            else:
                times.extend(moment.clock.readings())
        if moment.window is not None:
            windows.append(moment.window)
        if moment.part is not None:
            parts.append(moment.part)
        if moment.after is not None:
            after = moment.after if after is None else max(after, moment.after)
        if moment.before is not None:
            before = moment.before if before is None else min(before, moment.before)
    return Wish(
        dates=tuple(sorted(set(dates))),
        weekdays=_unique(weekdays),
        within=_combine(spans),
        times=_unique(times),
        windows=_unique(windows),
        parts=_unique(parts),
        after=after,
        before=before,
        not_dates=tuple(sorted(set(not_dates))),
        not_weekdays=_unique(not_weekdays),
        not_parts=_unique(not_parts),
        same_time=same_time,
    )


def _with_current(moment: _Mention, current: datetime | None) -> _Mention:
    """ "même heure la semaine prochaine": the current appointment's time, weekday or date."""
    if current is None:
        return moment
    out = replace(moment)
    if "time" in moment.same and moment.clock is None:
        out.clock = _Clock(current.hour, current.minute, True, True)
    if not (moment.dates or moment.weekday is not None or moment.dom is not None):
        if moment.span is not None:
            out.weekday = current.weekday()
        elif "day" in moment.same:
            out.dates = (current.date(),)
    return out


_T = TypeVar("_T")


def _unique(values: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(values))


def _combine(spans: Sequence[DateRange]) -> DateRange | None:
    if not spans:
        return None
    first, last = max(s.first for s in spans), min(s.last for s in spans)
    if first <= last:
        return DateRange(first, last)
    return DateRange(min(s.first for s in spans), max(s.last for s in spans))


def read_wish(
    text: str,
    language: str,
    zone: ZoneInfo,
    now: datetime,
    *,
    current: datetime | None = None,
) -> Wish:
    """The times a client's text asks for ("jeudi après-midi", "next week", "after the 10th").

    `current` is the start of the appointment being moved, for "même heure la semaine
    prochaine"/"same time next week" (same weekday and time, in the week named). An empty Wish
    when the text names no time: "n'importe quand" constrains nothing.
    """
    ctx = _context(language, zone, now, 0)
    here = _local(current, zone, "current") if current is not None else None
    prepared, _ = _prepare(text)
    scan = _scan(prepared, ctx)
    _negate(scan)
    return _wish(_moments(scan), ctx, here)


_DECLINED: Final = re.compile(
    r"\b(?:none|neither|aucune?|ni l'un ni l'autre|rien ne|no option|nothing works|"
    r"ne (?:me )?conviennent pas|don't work for me|do not work for me|doesn't work for me)\b"
)
_ANY: Final = re.compile(
    r"\b(?:either (?:one|works|is fine|would)|either|any (?:of them|one|is fine|works|will do)|"
    r"whichever|n'importe (?:lequel|laquelle)|peu importe (?:lequel|laquelle)|l'un ou l'autre|"
    r"tous me conviennent|toutes me conviennent|all (?:of them )?(?:work|are fine))\b"
)


def read_choice(
    text: str,
    offered: Sequence[Slot],
    language: str,
    zone: ZoneInfo,
    now: datetime,
) -> Choice:
    """Which of the `offered` slots (numbered from 1, in order) a client's reply picks.

    `text` is the reply's own new text; offer lines quoted back ("> 1. mardi 8 décembre 2026,
    10 h 00 – 11 h 00, …") are ignored, unless the reply is nothing but one of them. A pick by
    number or ordinal, or by day and time, is Picked; words that fit several offered slots are
    Ambiguous; a day or time that fits none of them is Asked; else NoChoice.
    """
    ctx = _context(language, zone, now, len(offered))
    starts = [_local(slot.start, zone, "offered slot start") for slot in offered]
    prepared, quoted = _prepare(text)
    choice = _choice(prepared, starts, ctx, zone)
    if choice == NoChoice("unreadable") and len(quoted) == 1 and len(offered) > 1:
        line = _normalize(re.sub(r"^[\s>]*\(?\d{1,2}\s*[.)]\s+", "", quoted[0]))
        alone = _choice(line, starts, replace(ctx, count=0), zone)
        if isinstance(alone, Picked):
            return alone
    return choice


_RANK: Final = re.compile(
    r"\b(?:(?P<early>the earlier(?: one)?|the earliest|the early one|le plus tot|la plus tot|"
    r"celui le plus tot|l'heure la plus tot)|the later(?: one)?|the latest|the late one|"
    r"le plus tard|la plus tard|celui le plus tard|l'heure la plus tardive)\b"
)


def _vague(moment: _Mention) -> bool:
    """A moment that names only a span of days or a bound in time: a wish, never a pick."""
    return not (
        moment.dates or moment.weekday is not None or moment.dom is not None
        or moment.days_of_week or moment.clock or moment.window or moment.part
    )  # fmt: skip


def _choice(text: str, starts: Sequence[datetime], ctx: _Context, zone: ZoneInfo) -> Choice:
    scan = _scan(text, ctx)
    negative = _negate(scan)
    count = len(starts)
    picks = [m for m in scan.mentions if m.pick is not None]
    fallback = _FALLBACK.search(text)
    if fallback and any(m.start < fallback.start() and not m.negated for m in picks):
        picks = [m for m in picks if m.start < fallback.start()]
    chosen: set[int] = {m.pick for m in picks if not m.negated and m.pick is not None}
    refused: set[int] = {m.pick for m in picks if m.negated and m.pick is not None}
    moments = [m for m in _moments(scan) if (m.has_day or m.has_time) and not m.same]
    several: list[int] = []
    unmatched: list[_Mention] = []
    for moment in moments:
        found = [i + 1 for i in _matches(moment, starts, ctx, tiers=False)]
        if _vague(moment) and not moment.negated:
            found = []  # "what about the week of the 14th?", "after 5": a wish, not a pick
        if moment.negated:
            refused.update(found)
        elif len(found) == 1:
            chosen.update(found)
        elif found:
            several.extend(found)
        else:
            unmatched.append(moment)
    by_number = {m.pick for m in picks if not m.negated and m.pick is not None}
    if not by_number - refused and moments and _DECLINED.search(_NEUTRAL.sub(" ", text)):
        # "aucun ne me convient, auriez-vous un jeudi après-midi ?": the offer is turned down
        # and the day named is a wish, even when one offered slot happens to fit it
        asked = [m for m in moments if not m.negated] + [m for m in moments if m.negated]
        return Asked(_wish(asked, ctx, None), None)
    for candidates in (chosen, set(several)):
        left = sorted(candidates - refused)
        if len(left) > 1 and (rank := _RANK.search(scan.free)):
            left = left[:1] if rank.group("early") else left[-1:]
        if len(left) == 1:
            return Picked(left[0])
        if left:
            return Ambiguous(tuple(left))
    if unmatched:
        asked = [m for m in moments if not m.negated and m in unmatched] + [
            m for m in moments if m.negated
        ]
        wish = _wish(asked, ctx, None)
        start = None
        for moment in unmatched:
            days = _resolve(moment, ctx)
            if days and moment.clock is not None:
                start = _at(days[0], moment.clock.likely(), zone)
                break
        return Asked(wish, start)
    anyone = _ANY.search(text)
    if anyone and any(a <= anyone.start() < b for a, b in negative):
        return NoChoice("declined")  # "I can't do either"
    if anyone:
        left = [n for n in range(1, count + 1) if n not in refused]
        if len(left) == 1:
            return Picked(left[0])
        if left:
            return Ambiguous(tuple(left))
    if refused or _DECLINED.search(_NEUTRAL.sub(" ", text)):
        return NoChoice("declined")
    return NoChoice("unreadable")


def which_appointments(
    text: str,
    appointments: Sequence[Slot],
    language: str,
    zone: ZoneInfo,
    now: datetime,
) -> tuple[int, ...]:
    """Indexes (from 0) of the appointments the text names ("je dois annuler jeudi").

    Every index when the text names no day or time; () when it names one that none of them
    has. A weekday prefers the appointments of the next seven days; a time that fits none of
    the appointments on the day named is let go ("Thursday at 1pm" for a Thursday at 1:30).
    Negations are not read: "I can't make it Thursday" names Thursday.
    """
    ctx = _context(language, zone, now, 0)
    starts = [_local(slot.start, zone, "appointment start") for slot in appointments]
    prepared, _ = _prepare(text)
    scan = _scan(prepared, ctx)
    moments = [m for m in _moments(scan) if m.has_day or m.has_time]
    if not moments:
        return tuple(range(len(appointments)))
    # A day or time named is what the text is about; a span ("la semaine prochaine") is more
    # often where the client wants to go: it counts only when nothing more precise matched.
    for group in ([m for m in moments if not _vague(m)], [m for m in moments if _vague(m)]):
        found = {i for moment in group for i in _matches(moment, starts, ctx, tiers=True)}
        if found:
            return tuple(sorted(found))
    return ()
