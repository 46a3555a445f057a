"""rules/when.py: reading a choice among offered slots, a wish for times, and which appointment a
message means, in French and English.

Unless a test says otherwise, `now` is Thursday 3 December 2026, 09:00 in Toronto:

    December 2026   Mo Tu We Th Fr Sa Su
                        1  2 [3] 4  5  6
                     7  8  9 10 11 12 13
                    14 15 16 17 18 19 20
                    21 22 23 24 25 26 27
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dateparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.model import DateRange, Slot, TimeRange
from rules.when import (
    PART_HOURS,
    Ambiguous,
    Asked,
    Choice,
    NoChoice,
    Part,
    Picked,
    Wish,
    fits,
    fitting,
    read_choice,
    read_wish,
    which_appointments,
)

TORONTO = ZoneInfo("America/Toronto")
PARIS = ZoneInfo("Europe/Paris")
SYDNEY = ZoneInfo("Australia/Sydney")
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=TORONTO)  # a Thursday
CURRENT = datetime(2026, 12, 4, 10, 0, tzinfo=TORONTO)  # the appointment being moved: Fri 10:00

MORNING, MIDDAY, AFTERNOON, EVENING = Part.MORNING, Part.MIDDAY, Part.AFTERNOON, Part.EVENING


def d(day: int, month: int = 12, year: int = 2026) -> date:
    return date(year, month, day)


def slot(day: int, hour: int, minute: int = 0, *, month: int = 12, year: int = 2026,
         zone: ZoneInfo = TORONTO, minutes: int = 60) -> Slot:  # fmt: skip
    start = datetime(year, month, day, hour, minute, tzinfo=zone)
    return Slot(start, start + timedelta(minutes=minutes))


# 1. Tue 8 Dec 10:00, 2. Tue 8 Dec 14:00, 3. Thu 10 Dec 9:30, 4. Thu 10 Dec 14:30,
# 5. Mon 14 Dec 9:00
OFFER = (slot(8, 10), slot(8, 14), slot(10, 9, 30), slot(10, 14, 30), slot(14, 9))
# 1. Wed 9 Dec 13:00, 2. Thu 10 Dec 10:30, 3. Fri 11 Dec 16:00
OFFER_B = (slot(9, 13), slot(10, 10, 30), slot(11, 16))

# How the booking reply writes OFFER (rules.replies.format_slot), as a client may quote it back.
OFFER_LINES_FR = (
    "1. mardi 8 décembre 2026, 10 h 00 – 11 h 00, heure de Toronto (HNE)\n"
    "2. mardi 8 décembre 2026, 14 h 00 – 15 h 00, heure de Toronto (HNE)\n"
    "3. jeudi 10 décembre 2026, 9 h 30 – 10 h 30, heure de Toronto (HNE)\n"
    "4. jeudi 10 décembre 2026, 14 h 30 – 15 h 30, heure de Toronto (HNE)\n"
    "5. lundi 14 décembre 2026, 9 h 00 – 10 h 00, heure de Toronto (HNE)"
)
OFFER_LINES_EN = (
    "1. Tuesday, December 8, 2026, 10:00–11:00\u00a0a.m., Toronto time (EST)\n"
    "2. Tuesday, December 8, 2026, 2:00–3:00\u00a0p.m., Toronto time (EST)\n"
    "3. Thursday, December 10, 2026, 9:30–10:30\u00a0a.m., Toronto time (EST)\n"
    "4. Thursday, December 10, 2026, 2:30–3:30\u00a0p.m., Toronto time (EST)\n"
    "5. Monday, December 14, 2026, 9:00–10:00\u00a0a.m., Toronto time (EST)"
)


def quoted(lines: str) -> str:
    return "\n".join(f"> {line}" for line in lines.splitlines())


P1, P2, P3, P4, P5 = (Picked(n) for n in range(1, 6))
UNREADABLE = NoChoice("unreadable")
DECLINED = NoChoice("declined")


# --- 1. A choice among offered slots ------------------------------------------------------------

CHOICES: list[tuple[str, str, Choice]] = [
    # by number
    ("fr", "2", P2),
    ("fr", "2.", P2),
    ("fr", "le 2", P2),
    ("fr", "Le 2 svp", P2),
    ("en", "2 please", P2),
    ("en", "option 3", P3),
    ("en", "Option #3", P3),
    ("en", "#4", P4),
    ("fr", "n°1", P1),
    ("fr", "no 2", P2),
    ("fr", "No. 2", P2),
    ("fr", "numéro 2", P2),
    ("fr", "numero deux", P2),
    ("fr", "choix 2", P2),
    ("fr", "Créneau 4", P4),
    ("en", "slot 5", P5),
    ("en", "Number two", P2),
    ("en", "the 2nd", P2),
    ("en", "the first one", P1),
    ("en", "The first one works", P1),
    ("fr", "la deuxième", P2),
    ("fr", "la deuxieme", P2),
    ("fr", "la 2e", P2),
    ("fr", "le premier", P1),
    ("fr", "Le premier me convient", P1),
    ("en", "first option", P1),
    ("en", "the last one", P5),
    ("fr", "le dernier", P5),
    ("en", "I'll take 4, thanks", P4),
    ("fr", "Je prends le 3", P3),
    ("fr", "Bonjour, le 3 me convient parfaitement. Merci!", P3),
    ("en", "3 works for me", P3),
    ("en", "Hi Anna,\n\n3 please!\n\nBest,\nTom", P3),
    ("fr", "Je choisis l'option 1", P1),
    ("en", "I'd go with 5", P5),
    ("en", "the first one's great — is there parking?", P1),
    ("fr", "Le 2 c'est parfait. Y a-t-il du stationnement ?", P2),
    ("en", "Good morning! I'll take 4, thanks", P4),
    ("fr", "Bon matin, je prends le 5", P5),
    # by day and time
    ("fr", "mardi 14h", P2),
    ("fr", "mardi à 14 h", P2),
    ("fr", "Mardi 14 h 00", P2),
    ("fr", "jeudi le 10 à 9 h 30", P3),
    ("fr", "jeudi 9h30", P3),
    ("en", "Thursday 9:30", P3),
    ("en", "Thursday at 9:30 am", P3),
    ("en", "Monday at 9 would be perfect", P5),
    ("en", "the 10th at 9:30", P3),
    ("en", "tuesday afternoon", P2),
    ("en", "Tuesday morning works", P1),
    ("fr", "jeudi après-midi", P4),
    ("fr", "jeudi apres midi", P4),
    ("fr", "lundi", P5),
    ("en", "Monday", P5),
    ("fr", "le 14", P5),
    ("en", "the 14th", P5),
    ("fr", "lundi 14 décembre", P5),
    ("en", "December 14", P5),
    ("en", "Tuesday 2pm", P2),
    ("en", "2 pm on Tuesday", P2),
    ("en", "Tuesday at 2", P2),
    ("fr", "mardi 8 décembre à 10h", P1),
    ("fr", "Mardi, 10 h", P1),
    ("en", "Tuesday, December 8 at 10", P1),
    ("fr", "jeudi 14h30", P4),
    ("fr", "jeudi 2h30", P4),
    ("en", "Thursday 2:30pm", P4),
    ("en", "Thursday half past 2", P4),
    ("fr", "jeudi à 2 h et demie", P4),
    ("en", "Thrusday 9:30", P3),
    ("fr", "jeudy 9h30", P3),
    ("en", "Tuseday 2pm", P2),
    ("en", "Mondy at 9", P5),
    ("fr", "JEUDI 9H30", P3),
    ("fr", "jeudi 10", Ambiguous((3, 4))),
    ("fr", "jeudi vers 10h", P3),
    ("fr", "lundi prochain 9h", P5),
    ("fr", "Le créneau de mardi 14h me convient", P2),
    ("en", "I'd like the 10:00 on Tuesday", P1),
    # ambiguous
    ("fr", "mardi", Ambiguous((1, 2))),
    ("en", "Tuesday", Ambiguous((1, 2))),
    ("en", "Tuesday works", Ambiguous((1, 2))),
    ("en", "Tuesday the 8th", Ambiguous((1, 2))),
    ("en", "the afternoon one", Ambiguous((2, 4))),
    ("fr", "celui de l'après-midi", Ambiguous((2, 4))),
    ("fr", "jeudi", Ambiguous((3, 4))),
    ("fr", "le matin", Ambiguous((1, 3, 5))),
    ("en", "2 or 3", Ambiguous((2, 3))),
    ("fr", "le 1 ou le 2", Ambiguous((1, 2))),
    ("fr", "3 ou 4, peu importe", Ambiguous((3, 4))),
    ("en", "Either is fine", Ambiguous((1, 2, 3, 4, 5))),
    ("fr", "N'importe lequel", Ambiguous((1, 2, 3, 4, 5))),
    ("en", "Tuesday 10am or Thursday 9:30", Ambiguous((1, 3))),
    ("fr", "mardi ou jeudi à 14h30", P4),
    # negations and fallbacks
    ("en", "Not the first one, the second", P2),
    ("fr", "Je ne peux pas mardi, mais jeudi 9h30 c'est parfait", P3),
    ("en", "Tuesday doesn't work, but Monday does", P5),
    ("fr", "pas le 1, plutôt le 3", P3),
    ("en", "2 works, not 3", P2),
    ("en", "2, otherwise 3", P2),
    ("fr", "le 4, sinon le 5", P4),
    ("en", "My first choice would be 4", P4),
    # numbers that are not picks
    ("fr", "2 personnes", UNREADABLE),
    ("en", "We'll be 2 people", UNREADABLE),
    ("fr", "95 $", UNREADABLE),
    ("fr", "Le tarif de 95 $ me va", UNREADABLE),
    ("en", "$95 is fine", UNREADABLE),
    ("en", "514-555-0101", UNREADABLE),
    ("en", "Call me at 514-555-0101", UNREADABLE),
    ("en", "My number is (438) 555 0199", UNREADABLE),
    ("fr", "Mon numéro : 06 12 34 56 78", UNREADABLE),
    ("en", "I'll be 5 minutes late", UNREADABLE),
    ("en", "I'm 5 min away", UNREADABLE),
    ("en", "7", UNREADABLE),
    ("en", "I have 2 questions", UNREADABLE),
    ("fr", "J'ai 2 enfants", UNREADABLE),
    ("en", "Room 3", UNREADABLE),
    ("fr", "Appartement 4, 2e étage", UNREADABLE),
    ("en", "First, thank you for the quick answer.", UNREADABLE),
    ("fr", "C'est mon premier rendez-vous", UNREADABLE),
    ("en", "Good morning!", UNREADABLE),
    ("fr", "Merci beaucoup!", UNREADABLE),
    ("en", "Sounds good", UNREADABLE),
    ("en", "", UNREADABLE),
    ("fr", "Le 2 pour 2 personnes", P2),
    ("en", "Option 1 please, we'll be 3 people", P1),
    ("en", "Option 2 — my number is 514-555-0101", P2),
    ("fr", "Le 1 svp, c'est bien 95 $ ?", P1),
    ("en", "None of these work for me unfortunately", DECLINED),
    ("en", "I can't do either", DECLINED),
    ("fr", "Ni l'un ni l'autre, désolé", DECLINED),
    ("en", "Thursday works, the earlier one", P3),
    ("fr", "Mardi, le plus tard possible", P2),
    ("en", "1 or 5 both work, whichever you prefer", Ambiguous((1, 5))),
    ("fr", "Je dispose de 2 heures le mardi après-midi", P2),
    ("en", "I need 90 minutes, can we do the 14:00 on Tuesday?", P2),
    ("en", "Thank you! I'll see you Monday at 9.", P5),
    ("en", "I was sick last Tuesday; Monday at 9 works", P5),
    ("fr", "3)", P3),
    ("fr", "(3)", P3),
    ("en", "3rd one please", P3),
    ("fr", "Je préfère la 4ème option", P4),
    ("en", "Tues 2pm", P2),
    ("fr", "mar. 14h", P2),
    ("fr", "Lun 9h", P5),
    ("fr", "Aucun de ces créneaux ne me convient", DECLINED),
    # quoted offers left in the reply
    ("fr", "Le 2\n\n" + quoted(OFFER_LINES_FR), P2),
    ("en", "4 please\n\n" + quoted(OFFER_LINES_EN), P4),
    ("fr", "Le 4 svp\n\n" + OFFER_LINES_FR, P4),
    ("en", "Thanks!\n\n" + OFFER_LINES_EN, UNREADABLE),
    ("fr", OFFER_LINES_FR.splitlines()[3], P4),
    ("en", quoted(OFFER_LINES_EN.splitlines()[1]), P2),
    ("fr", "jeudi 9h30\n" + quoted(OFFER_LINES_FR), P3),
]


@pytest.mark.parametrize(("language", "text", "expected"), CHOICES)
def test_choice(language: str, text: str, expected: Choice) -> None:
    assert read_choice(text, OFFER, language, TORONTO, NOW) == expected


CHOICES_B: list[tuple[str, str, Choice]] = [
    ("en", "Thursday 10:30", P2),
    ("en", "10:30", P2),
    ("fr", "10h30", P2),
    ("fr", "vendredi 16h", P3),
    ("en", "Friday at 4", P3),
    ("en", "Wednesday at 1", P1),
    ("fr", "mercredi 13 h", P1),
    ("en", "the 9th", P1),
    ("en", "the 11th", P3),
    ("fr", "le 10", P2),
    ("en", "the 2nd", P2),
    ("fr", "le 3", P3),
    ("en", "4", UNREADABLE),
    ("en", "the 4th", Asked(Wish(dates=(d(4),)))),
]


@pytest.mark.parametrize(("language", "text", "expected"), CHOICES_B)
def test_choice_other_offer(language: str, text: str, expected: Choice) -> None:
    assert read_choice(text, OFFER_B, language, TORONTO, NOW) == expected


ASKED: list[tuple[str, str, datetime | None, Wish]] = [
    ("en", "could we do Wednesday at 3pm instead?", datetime(2026, 12, 9, 15, tzinfo=TORONTO),
     Wish(dates=(d(9),), times=(time(15),))),
    ("fr", "Serait-il possible mercredi à 15h?", datetime(2026, 12, 9, 15, tzinfo=TORONTO),
     Wish(dates=(d(9),), times=(time(15),))),
    ("fr", "mardi 16h plutôt ?", datetime(2026, 12, 8, 16, tzinfo=TORONTO),
     Wish(dates=(d(8),), times=(time(16),))),
    ("en", "how about 2:30 on the 8th?", datetime(2026, 12, 8, 14, 30, tzinfo=TORONTO),
     Wish(dates=(d(8),), times=(time(2, 30), time(14, 30)))),
    ("fr", "vendredi 10h", datetime(2026, 12, 4, 10, tzinfo=TORONTO),
     Wish(dates=(d(4),), times=(time(10),))),
    ("en", "Could we do next Wednesday at 3?", datetime(2026, 12, 9, 15, tzinfo=TORONTO),
     Wish(dates=(d(9),), times=(time(3), time(15)))),
    ("en", "Thursday at 4pm?", datetime(2026, 12, 3, 16, tzinfo=TORONTO),
     Wish(dates=(d(3), d(10)), times=(time(16),))),
    ("fr", "le 2 décembre", None, Wish(dates=(d(2, 12, 2027),))),
    ("fr", "le 9", None, Wish(dates=(d(9),))),
    ("en", "tomorrow?", None, Wish(dates=(d(4),))),
    ("en", "Anything on Friday?", None, Wish(dates=(d(4),))),
    ("en", "at 11am", None, Wish(times=(time(11),))),
    ("fr", "Avez-vous quelque chose le mercredi soir ?", None,
     Wish(weekdays=(2,), parts=(EVENING,))),
    ("en", "None of those work, do you have anything next week after 5pm?", None,
     Wish(within=DateRange(d(7), d(13)), after=time(17))),
    ("en", "I'm available Monday to Friday after 5pm", None,
     Wish(weekdays=(0, 1, 2, 3, 4), after=time(17))),
    ("fr", "Pas mardi. Mercredi 11h ?", datetime(2026, 12, 9, 11, tzinfo=TORONTO),
     Wish(dates=(d(9),), times=(time(11),), not_weekdays=(1,))),
    ("en", "Wed at 1pm?", datetime(2026, 12, 9, 13, tzinfo=TORONTO),
     Wish(dates=(d(9),), times=(time(13),))),
    # a span of days or a bound alone is a wish, even where offered slots lie in it
    ("en", "I'd prefer next week if possible", None, Wish(within=DateRange(d(7), d(13)))),
    ("fr", "Plutôt la semaine prochaine", None, Wish(within=DateRange(d(7), d(13)))),
    ("en", "Sorry I can't make any of those. What about the week of the 14th?", None,
     Wish(within=DateRange(d(14), d(20)))),
    ("fr", "Je travaille jusqu'à 17h, auriez-vous quelque chose après ?", None,
     Wish(after=time(17))),
]  # fmt: skip


@pytest.mark.parametrize(("language", "text", "start", "wish"), ASKED)
def test_asked(language: str, text: str, start: datetime | None, wish: Wish) -> None:
    choice = read_choice(text, OFFER, language, TORONTO, NOW)
    assert choice == Asked(wish, start)
    if start is not None:
        assert isinstance(choice, Asked) and choice.start is not None
        assert choice.start.tzinfo is TORONTO


def test_asked_start_is_in_the_freelancers_zone_whatever_now_carries() -> None:
    choice = read_choice("Wednesday at 3pm?", OFFER, "en", TORONTO, NOW.astimezone(SYDNEY))
    assert isinstance(choice, Asked)
    assert choice.start == datetime(2026, 12, 9, 15, tzinfo=TORONTO)
    assert choice.start is not None and choice.start.utcoffset() == timedelta(hours=-5)


def test_choice_with_nothing_offered_is_never_a_pick() -> None:
    assert read_choice("1", (), "fr", TORONTO, NOW) == UNREADABLE
    assert isinstance(read_choice("mardi 14h", (), "fr", TORONTO, NOW), Asked)


def test_choice_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        read_choice("2", OFFER, "fr", TORONTO, datetime(2026, 12, 3, 9))
    naive = Slot(datetime(2026, 12, 8, 10), datetime(2026, 12, 8, 11))
    with pytest.raises(ValueError, match="aware"):
        read_choice("2", (naive,), "fr", TORONTO, NOW)


def test_offered_slots_may_carry_any_zone() -> None:
    in_utc = tuple(Slot(s.start.astimezone(UTC), s.end.astimezone(UTC)) for s in OFFER)
    assert read_choice("mardi 14h", in_utc, "fr", TORONTO, NOW) == P2
    assert read_choice("jeudi après-midi", in_utc, "fr", TORONTO, NOW) == P4


# --- 2. A wish for times ------------------------------------------------------------------------

WISHES: list[tuple[str, str, Wish]] = [
    ("en", "Thursday afternoon", Wish(dates=(d(3), d(10)), parts=(AFTERNOON,))),
    ("fr", "jeudi après-midi", Wish(dates=(d(3), d(10)), parts=(AFTERNOON,))),
    ("fr", "jeudi", Wish(dates=(d(10),))),
    ("en", "Thursday", Wish(dates=(d(10),))),
    ("fr", "jeudi prochain", Wish(dates=(d(10),))),
    ("en", "next Thursday", Wish(dates=(d(10),))),
    ("fr", "jeudi à 8h", Wish(dates=(d(10),), times=(time(8),))),
    ("fr", "jeudi 15h", Wish(dates=(d(3), d(10)), times=(time(15),))),
    ("fr", "vendredi", Wish(dates=(d(4),))),
    ("fr", "même heure la semaine prochaine",
     Wish(dates=(d(11),), times=(time(10),), same_time=True)),
    ("en", "same time next week", Wish(dates=(d(11),), times=(time(10),), same_time=True)),
    ("fr", "à la même heure mardi", Wish(dates=(d(8),), times=(time(10),), same_time=True)),
    ("en", "same time", Wish(times=(time(10),), same_time=True)),
    ("en", "same day, later", Wish(dates=(d(4),))),
    ("en", "later in the week", Wish(within=DateRange(d(4), d(6)))),
    ("fr", "plus tard dans la semaine", Wish(within=DateRange(d(4), d(6)))),
    ("fr", "plus tard cette semaine", Wish(within=DateRange(d(4), d(6)))),
    ("fr", "la semaine prochaine", Wish(within=DateRange(d(7), d(13)))),
    ("fr", "semaine prochaine", Wish(within=DateRange(d(7), d(13)))),
    ("en", "next week", Wish(within=DateRange(d(7), d(13)))),
    ("en", "sometime next week?", Wish(within=DateRange(d(7), d(13)))),
    ("en", "early next week", Wish(within=DateRange(d(7), d(9)))),
    ("fr", "en fin de semaine", Wish(within=DateRange(d(3), d(6)))),
    ("en", "week commencing 7th", Wish(within=DateRange(d(7), d(13)))),
    ("en", "w/c 14th", Wish(within=DateRange(d(14), d(20)))),
    ("fr", "la semaine du 14", Wish(within=DateRange(d(14), d(20)))),
    ("fr", "la semaine du 14 décembre", Wish(within=DateRange(d(14), d(20)))),
    ("en", "the week of the 16th", Wish(within=DateRange(d(14), d(20)))),
    ("en", "after the 10th", Wish(within=DateRange(d(11), date.max))),
    ("fr", "après le 10", Wish(within=DateRange(d(11), date.max))),
    ("fr", "à partir du 10", Wish(within=DateRange(d(10), date.max))),
    ("fr", "avant Noël", Wish(within=DateRange(d(3), d(24)))),
    ("en", "before Christmas", Wish(within=DateRange(d(3), d(24)))),
    ("fr", "après les fêtes", Wish(within=DateRange(d(2, 1, 2027), date.max))),
    ("fr", "d'ici vendredi", Wish(within=DateRange(d(3), d(4)))),
    ("en", "by Friday", Wish(within=DateRange(d(3), d(4)))),
    ("fr", "jusqu'au 20", Wish(within=DateRange(d(3), d(20)))),
    ("fr", "du 15 au 18", Wish(within=DateRange(d(15), d(18)))),
    ("en", "from the 15th to the 18th", Wish(within=DateRange(d(15), d(18)))),
    ("en", "in the morning", Wish(parts=(MORNING,))),
    ("fr", "le matin", Wish(parts=(MORNING,))),
    ("fr", "en matinée", Wish(parts=(MORNING,))),
    ("fr", "en avant-midi", Wish(parts=(MORNING,))),
    ("fr", "en soirée", Wish(parts=(EVENING,))),
    ("en", "in the evening", Wish(parts=(EVENING,))),
    ("fr", "sur l'heure du midi", Wish(parts=(MIDDAY,))),
    ("en", "over lunch", Wish(parts=(MIDDAY,))),
    ("en", "late afternoon", Wish(windows=(TimeRange(time(15), time(18)),))),
    ("fr", "en fin d'après-midi", Wish(windows=(TimeRange(time(15), time(18)),))),
    ("en", "any day but Monday", Wish(not_weekdays=(0,))),
    ("fr", "n'importe quel jour sauf le lundi", Wish(not_weekdays=(0,))),
    ("fr", "pas le lundi", Wish(not_weekdays=(0,))),
    ("en", "not mornings", Wish(not_parts=(MORNING,))),
    ("fr", "pas le matin", Wish(not_parts=(MORNING,))),
    ("fr", "sauf le 15", Wish(not_dates=(d(15),))),
    ("fr", "le 15 ou le 16", Wish(dates=(d(15), d(16)))),
    ("en", "the 15th or 16th", Wish(dates=(d(15), d(16)))),
    ("fr", "15 ou 16 décembre", Wish(dates=(d(15), d(16)))),
    ("fr", "n'importe quand", Wish()),
    ("fr", "quand vous voulez, je suis flexible", Wish()),
    ("en", "anytime", Wish()),
    ("en", "whenever suits you", Wish()),
    ("fr", "mardi ou jeudi après-midi", Wish(dates=(d(3), d(8), d(10)), parts=(AFTERNOON,))),
    ("en", "Monday or Tuesday morning", Wish(dates=(d(7), d(8)), parts=(MORNING,))),
    ("fr", "mardi 10h ou 14h", Wish(dates=(d(8),), times=(time(10), time(14)))),
    ("fr", "la semaine prochaine, jeudi ou vendredi", Wish(dates=(d(10), d(11)))),
    ("en", "between 2 and 4pm", Wish(windows=(TimeRange(time(14), time(16)),))),
    ("fr", "entre 14h et 16h", Wish(windows=(TimeRange(time(14), time(16)),))),
    ("fr", "de 14h à 16h", Wish(windows=(TimeRange(time(14), time(16)),))),
    ("fr", "vers 14h", Wish(windows=(TimeRange(time(13, 30), time(14, 31)),))),
    ("en", "around 2pm", Wish(windows=(TimeRange(time(13, 30), time(14, 31)),))),
    ("fr", "après 17h", Wish(after=time(17))),
    ("en", "after 5pm", Wish(after=time(17))),
    ("fr", "pas avant 10h", Wish(after=time(10))),
    ("en", "not before 10", Wish(after=time(10))),
    ("fr", "avant 11h", Wish(before=time(11))),
    ("en", "before 11am", Wish(before=time(11))),
    ("fr", "demain matin", Wish(dates=(d(4),), parts=(MORNING,))),
    ("en", "tomorrow afternoon", Wish(dates=(d(4),), parts=(AFTERNOON,))),
    ("fr", "après-demain", Wish(dates=(d(5),))),
    ("fr", "apres demain", Wish(dates=(d(5),))),
    ("fr", "aujourd'hui", Wish(dates=(d(3),))),
    ("fr", "ce soir", Wish(dates=(d(3),), parts=(EVENING,))),
    ("en", "tonight", Wish(dates=(d(3),), parts=(EVENING,))),
    ("fr", "cette semaine", Wish(within=DateRange(d(3), d(6)))),
    ("en", "this weekend", Wish(within=DateRange(d(5), d(6)))),
    ("fr", "le week-end prochain", Wish(within=DateRange(d(12), d(13)))),
    ("fr", "dans deux semaines", Wish(within=DateRange(d(14), d(20)))),
    ("en", "in two weeks", Wish(within=DateRange(d(14), d(20)))),
    ("en", "The week after next", Wish(within=DateRange(d(14), d(20)))),
    ("en", "in 10 days", Wish(dates=(d(13),))),
    ("fr", "dans 3 jours", Wish(dates=(d(6),))),
    ("fr", "d'ici deux semaines", Wish(within=DateRange(d(3), d(17)))),
    ("en", "early January", Wish(within=DateRange(d(1, 1, 2027), d(10, 1, 2027)))),
    ("fr", "en janvier", Wish(within=DateRange(d(1, 1, 2027), d(31, 1, 2027)))),
    ("fr", "fin décembre", Wish(within=DateRange(d(21), d(31)))),
    ("fr", "les lundis", Wish(weekdays=(0,))),
    ("fr", "je préfère le lundi", Wish(weekdays=(0,))),
    ("en", "every Monday", Wish(weekdays=(0,))),
    ("en", "Mondays or Wednesdays after 5", Wish(weekdays=(0, 2), after=time(17))),
    ("fr", "du lundi au vendredi", Wish(weekdays=(0, 1, 2, 3, 4))),
    ("en", "weekdays after 6pm", Wish(weekdays=(0, 1, 2, 3, 4), after=time(18))),
    ("fr", "Je suis disponible les mardis et jeudis en fin d'après-midi",
     Wish(weekdays=(1, 3), windows=(TimeRange(time(15), time(18)),))),
    ("en", "Wendesday or Thrusday", Wish(dates=(d(9), d(10)))),
    ("fr", "mecredi ou jeudy", Wish(dates=(d(9), d(10)))),
    ("en", "Febuary 3rd", Wish(dates=(d(3, 2, 2027),))),
    ("fr", "3 févr.", Wish(dates=(d(3, 2, 2027),))),
    ("fr", "le 3 decmbre", Wish(dates=(d(3),))),
    ("en", "12/15", Wish(dates=(d(15),))),
    ("fr", "15/12", Wish(dates=(d(15),))),
    ("fr", "2026-12-15", Wish(dates=(d(15),))),
    ("fr", "15/12/26", Wish(dates=(d(15),))),
    ("fr", "mardi 14h30", Wish(dates=(d(8),), times=(time(14, 30),))),
    ("fr", "9h du matin", Wish(times=(time(9),))),
    ("en", "9 in the morning", Wish(times=(time(9),))),
    ("fr", "8 heures du soir", Wish(times=(time(20),))),
    ("fr", "à 10 heures", Wish(times=(time(10),))),
    ("fr", "midi", Wish(times=(time(12),))),
    ("fr", "midi et demi", Wish(times=(time(12, 30),))),
    ("en", "noon", Wish(times=(time(12),))),
    ("fr", "2h30", Wish(times=(time(2, 30), time(14, 30)))),
    ("en", "2 pm", Wish(times=(time(14),))),
    ("en", "2pm", Wish(times=(time(14),))),
    ("en", "2 p.m.", Wish(times=(time(14),))),
    ("fr", "14:30", Wish(times=(time(14, 30),))),
    ("fr", "14 h 30", Wish(times=(time(14, 30),))),
    ("en", "at nine", Wish(times=(time(9), time(21)))),
    ("en", "ten o'clock", Wish(times=(time(10), time(22)))),
    ("fr", "le 10", Wish(dates=(d(10),))),
    ("en", "the 3rd", Wish(dates=(d(3),))),
    ("fr", "le 2", Wish(dates=(d(2, 1, 2027),))),
    ("fr", "Noël", Wish(dates=(d(25),))),
    ("fr", "pas mardi", Wish(not_weekdays=(1,))),
    ("en", "I can't do Tuesday, but Wednesday morning is good",
     Wish(dates=(d(9),), parts=(MORNING,), not_weekdays=(1,))),
    ("en", "2 people, next Tuesday", Wish(dates=(d(8),))),
    ("en", "Good morning, next week please", Wish(within=DateRange(d(7), d(13)))),
    ("fr", "Bonne soirée", Wish()),
    ("fr", "Je ne suis pas disponible avant le 15", Wish(within=DateRange(d(15), date.max))),
    ("en", "I'm away until the 10th", Wish(within=DateRange(d(11), date.max))),
    ("fr", "Je suis en vacances jusqu'au 10", Wish(within=DateRange(d(11), date.max))),
    ("en", "Not available until after the holidays",
     Wish(within=DateRange(d(2, 1, 2027), date.max))),
    ("en", "I'm busy until 3pm", Wish(after=time(15))),
    ("en", "I finish work at 5, anything after that?", Wish(after=time(17))),
    ("en", "Sometime between Dec 14 and 18", Wish(within=DateRange(d(14), d(18)))),
    ("en", "Dec 14-18", Wish(within=DateRange(d(14), d(18)))),
    ("fr", "entre le 14 et le 18 décembre", Wish(within=DateRange(d(14), d(18)))),
    ("en", "between 9 and 11 on Friday",
     Wish(dates=(d(4),), windows=(TimeRange(time(9), time(11)),))),
    ("fr", "mardi 8h-10h", Wish(dates=(d(8),), windows=(TimeRange(time(8), time(10)),))),
    ("en", "9-11am on Friday", Wish(dates=(d(4),), windows=(TimeRange(time(9), time(11)),))),
    ("fr", "entre 2 et 3 personnes", Wish()),
    ("fr", "Je voudrais une séance de 1h30 mardi", Wish(dates=(d(8),))),
    ("fr", "dans quinze jours", Wish(within=DateRange(d(14), d(20)))),
    ("en", "I was sick last Monday, can we do Thursday afternoon?",
     Wish(dates=(d(3), d(10)), parts=(AFTERNOON,))),
    ("fr", "hier soir j'ai oublié, désolée. Demain 10h ?", Wish(dates=(d(4),), times=(time(10),))),
    ("en", "around 10 people", Wish()),
    ("en", "I'll be about 5 minutes late", Wish()),
    ("en", "option 2 may work", Wish()),
    ("fr", "le rdv d'avril", Wish(within=DateRange(d(1, 4, 2027), d(30, 4, 2027)))),
    ("fr", "Serait-il possible de décaler à la semaine prochaine, idéalement mardi ou mercredi en "
     "fin de journée ?", Wish(dates=(d(8), d(9)), windows=(TimeRange(time(16), time(0)),))),
    ("en", "Could we push it to the following week, same time?",
     Wish(dates=(d(11),), times=(time(10),), same_time=True)),
    ("fr", "lundi de la semaine prochaine", Wish(dates=(d(7),))),
    ("en", "Monday next week", Wish(dates=(d(7),))),
    ("fr", "Noël ou le jour de l'an", Wish(dates=(d(25), d(1, 1, 2027)))),
    ("en", "Tuesdays and Thursdays after 3", Wish(weekdays=(1, 3), after=time(15))),
    ("en", "I'll be 5 minutes late", Wish()),
]  # fmt: skip


@pytest.mark.parametrize(("language", "text", "expected"), WISHES)
def test_wish(language: str, text: str, expected: Wish) -> None:
    assert read_wish(text, language, TORONTO, NOW, current=CURRENT) == expected


def test_same_time_without_the_current_appointment_is_only_flagged() -> None:
    wish = read_wish("même heure la semaine prochaine", "fr", TORONTO, NOW)
    assert wish == Wish(within=DateRange(d(7), d(13)), same_time=True)


def test_empty_wish() -> None:
    assert Wish().is_empty
    assert read_wish("", "fr", TORONTO, NOW).is_empty
    assert not read_wish("jeudi", "fr", TORONTO, NOW).is_empty


# A week of bookable-looking slots: every weekday 9:00-17:00 on the hour, Dec 4 to Dec 18.
GRID = tuple(
    slot(day, hour)
    for day in range(4, 19)
    if date(2026, 12, day).weekday() < 5
    for hour in range(9, 18)
)


def starts(slots: Sequence[Slot]) -> list[tuple[int, int]]:
    return [(s.start.day, s.start.hour) for s in slots]


FILTERS: list[tuple[str, str, list[tuple[int, int]]]] = [
    ("fr", "jeudi après-midi", [(10, h) for h in range(12, 18)]),
    ("en", "Friday at 4pm", [(4, 16)]),
    ("fr", "la semaine prochaine le matin",
     [(day, h) for day in range(7, 12) for h in (9, 10, 11)]),
    ("en", "any day but Monday next week, after 4",
     [(day, h) for day in range(8, 12) for h in (16, 17)]),
    ("fr", "même heure la semaine prochaine", [(11, 10)]),
    ("fr", "le 15 ou le 16 à 9h", [(15, 9), (16, 9)]),
    ("en", "Saturday", []),
    ("fr", "n'importe quand", starts(GRID)),
]  # fmt: skip


@pytest.mark.parametrize(("language", "text", "expected"), FILTERS)
def test_fitting(language: str, text: str, expected: list[tuple[int, int]]) -> None:
    wish = read_wish(text, language, TORONTO, NOW, current=CURRENT)
    assert starts(fitting(GRID, wish, TORONTO)) == expected


def test_fitting_reads_slots_in_the_freelancers_zone() -> None:
    evening = slot(8, 18)  # 18:00 in Toronto is 00:00 on the 9th in Paris
    wish = read_wish("mardi soir", "fr", TORONTO, NOW)
    assert fitting([Slot(evening.start.astimezone(PARIS), evening.end)], wish, TORONTO)
    assert not fitting([evening], wish, PARIS)


def test_parts_of_the_day() -> None:
    assert PART_HOURS[MORNING] == TimeRange(time(0), time(12))
    assert fits(slot(8, 17, 30), Wish(parts=(AFTERNOON,)), TORONTO)
    assert fits(slot(8, 17, 30), Wish(parts=(EVENING,)), TORONTO)
    assert fits(slot(8, 23, 30), Wish(parts=(EVENING,)), TORONTO)
    assert not fits(slot(8, 12), Wish(parts=(MORNING,)), TORONTO)


# --- 3. Which appointment a message means -------------------------------------------------------

# 0. today Thu 3 Dec 13:00, 1. Tue 8 Dec 10:00, 2. Thu 10 Dec 14:30, 3. Thu 17 Dec 9:00,
# 4. Mon 4 Jan 2027 11:00
APPOINTMENTS = (slot(3, 13), slot(8, 10), slot(10, 14, 30), slot(17, 9),
                slot(4, 11, month=1, year=2027))  # fmt: skip
ALL = (0, 1, 2, 3, 4)

WHICH: list[tuple[str, str, tuple[int, ...]]] = [
    ("fr", "je dois annuler jeudi", (0,)),
    ("en", "please cancel my appointment on Thursday December 3rd at 1pm", (0,)),
    ("en", "please cancel my appointment on Thursday December 10th", (2,)),
    ("en", "my appointment tomorrow", ()),
    ("en", "my appointment today", (0,)),
    ("fr", "notre rdv de mardi", (1,)),
    ("fr", "je dois annuler", ALL),
    ("en", "Can I reschedule?", ALL),
    ("en", "Sorry, something came up.", ALL),
    ("fr", "le rendez-vous du 17", (3,)),
    ("en", "the one on the 17th", (3,)),
    ("en", "my 2:30 appointment", (2,)),
    ("fr", "le rdv de 9h", (3,)),
    ("fr", "mon rdv de 13h", (0,)),
    ("en", "Thursday at 1pm", (0,)),
    ("en", "Thursday at 2:30", (2,)),
    ("en", "Thursday at 9", (3,)),
    ("en", "Thursday at 3pm", (0,)),
    ("fr", "jeudi prochain", (2,)),
    ("en", "next Thursday", (2,)),
    ("en", "this Thursday", (0,)),
    ("fr", "ce jeudi", (0,)),
    ("en", "Thursday the 17th", (3,)),
    ("en", "Thursday the 17th at 9", (3,)),
    ("en", "next week", (1, 2)),
    ("fr", "la semaine prochaine", (1, 2)),
    ("fr", "en janvier", (4,)),
    ("fr", "le 4 janvier", (4,)),
    ("fr", "mon rendez-vous de lundi", (4,)),
    ("fr", "Je ne pourrai pas venir mardi matin", (1,)),
    ("en", "I can't make it on Wednesday", ()),
    ("fr", "mercredi", ()),
    ("en", "the 10th", (2,)),
    ("en", "Dec 10", (2,)),
    ("fr", "10/12", (2,)),
    ("fr", "le 10 décembre à 14h30", (2,)),
    ("fr", "mes rendez-vous de jeudi et de mardi", (0, 1)),
    ("en", "Tuesday and Thursday", (0, 1)),
    ("fr", "annuler le rdv de jeudy", (0,)),
    ("en", "my Thrusday appointment", (0,)),
    ("en", "the appointment before Christmas", (0, 1, 2, 3)),
    ("en", "my appointment after the holidays", (4,)),
    ("fr", "celui du matin", (1, 3, 4)),
    ("en", "the afternoon one", (0, 2)),
    (
        "fr",
        "Pour mardi, je ne pourrai pas. Pouvez-vous me proposer autre chose la semaine prochaine ?",
        (1,),
    ),
    ("en", "Can we reschedule Thursday's session to next week, same time?", (0,)),
    ("en", "cancel my January appointment", (4,)),
    ("en", "Please cancel tomorrow's appointment", ()),
    ("fr", "Je serai en retard de 10 minutes aujourd'hui", (0,)),
    ("en", "cancel the 11am", (4,)),
    ("en", "Hi, I need to cancel my appointment on December 17. Sorry!", (3,)),
    ("fr", "annulation rdv 17/12", (3,)),
    (
        "fr",
        "Bonjour, je ne pourrai malheureusement pas être présente à notre rendez-vous de jeudi "
        "prochain. Merci de l'annuler.",
        (2,),
    ),
]


@pytest.mark.parametrize(("language", "text", "expected"), WHICH)
def test_which_appointments(language: str, text: str, expected: tuple[int, ...]) -> None:
    assert which_appointments(text, APPOINTMENTS, language, TORONTO, NOW) == expected


def test_which_appointments_of_none() -> None:
    assert which_appointments("jeudi", (), "fr", TORONTO, NOW) == ()
    assert which_appointments("", (), "fr", TORONTO, NOW) == ()


# --- Zones around DST changes -------------------------------------------------------------------


def test_toronto_spring_forward() -> None:
    # Sunday 8 March 2026, 02:00 EST -> 03:00 EDT.
    now = datetime(2026, 3, 6, 12, tzinfo=TORONTO)
    offer = (slot(7, 10, month=3), slot(8, 10, month=3), slot(9, 10, month=3))
    assert read_choice("dimanche 10h", offer, "fr", TORONTO, now) == P2
    assert read_choice("Monday at 10", offer, "en", TORONTO, now) == P3
    asked = read_choice("Sunday at 2:30 am", offer, "en", TORONTO, now)
    assert isinstance(asked, Asked) and asked.start is not None
    # 2:30 does not exist that night: it is read past the gap, as rules/availability does.
    assert asked.start == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert asked.start.astimezone(TORONTO).hour == 3
    same = read_wish("same time next week", "en", TORONTO, now, current=slot(7, 10, month=3).start)
    week_later = slot(14, 10, month=3)
    assert same == Wish(dates=(d(14, 3),), times=(time(10),), same_time=True)
    assert fitting([week_later, slot(14, 11, month=3)], same, TORONTO) == [week_later]
    elapsed = week_later.start.astimezone(UTC) - slot(7, 10, month=3).start.astimezone(UTC)
    assert elapsed == timedelta(days=7, hours=-1)


def test_toronto_fall_back() -> None:
    # Sunday 1 November 2026, 02:00 EDT -> 01:00 EST: 01:30 happens twice, the first is taken.
    now = datetime(2026, 10, 30, 12, tzinfo=TORONTO)
    asked = read_choice("dimanche 1h30 du matin", (slot(2, 10, month=11),), "fr", TORONTO, now)
    assert isinstance(asked, Asked) and asked.start is not None
    assert asked.start.utcoffset() == timedelta(hours=-4)
    # (an ambiguous wall time never compares equal across zones: PEP 495)
    assert asked.start.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_paris_around_both_changes() -> None:
    # Sunday 29 March 2026 02:00 -> 03:00; Sunday 25 October 2026 03:00 -> 02:00.
    for month, day in ((3, 29), (10, 25)):
        now = datetime(2026, month, day - 2, 18, tzinfo=PARIS)  # the Friday before
        offer = (slot(day - 1, 10, month=month, zone=PARIS),
                 slot(day, 10, month=month, zone=PARIS),
                 slot(day + 1, 10, month=month, zone=PARIS))  # fmt: skip
        assert read_choice("dimanche 10h", offer, "fr", PARIS, now) == P2
        assert read_choice("demain 10h", offer, "fr", PARIS, now) == P1
        assert read_choice("lundi", offer, "fr", PARIS, now.astimezone(UTC)) == P3
        wish = read_wish("dimanche matin", "fr", PARIS, now)
        assert fitting(offer, wish, PARIS) == [offer[1]]
        assert which_appointments("dimanche", offer, "fr", PARIS, now) == (1,)


def test_sydney_dates_come_from_the_local_clock() -> None:
    # Saturday 3 October 2026, 23:30 AEST is 13:30 UTC; DST starts at 02:00 on Sunday 4 October.
    now = datetime(2026, 10, 3, 13, 30, tzinfo=UTC)
    offer = (slot(4, 9, month=10, zone=SYDNEY), slot(5, 9, month=10, zone=SYDNEY))
    assert read_choice("tomorrow at 9", offer, "en", SYDNEY, now) == P1
    assert read_choice("Sunday 9am", offer, "en", SYDNEY, now) == P1
    assert read_wish("tomorrow", "en", SYDNEY, now) == Wish(dates=(d(4, 10),))
    assert read_wish("today", "en", SYDNEY, now) == Wish(dates=(d(3, 10),))
    # Sunday 5 April 2026: 03:00 AEDT -> 02:00 AEST.
    april = datetime(2026, 4, 3, 12, tzinfo=SYDNEY)
    asked = read_choice("Sunday at 2:30 am", (slot(6, 9, month=4, zone=SYDNEY),), "en", SYDNEY,
                        april)  # fmt: skip
    assert isinstance(asked, Asked) and asked.start is not None
    assert asked.start.utcoffset() == timedelta(hours=11)


def test_late_evening_in_toronto_is_already_tomorrow_in_utc() -> None:
    now = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)  # Thursday 3 December, 22:00 in Toronto
    assert read_wish("demain", "fr", TORONTO, now) == Wish(dates=(d(4),))
    assert read_wish("ce soir", "fr", TORONTO, now) == Wish(dates=(d(3),), parts=(EVENING,))
    # 15:00 is past at 22:00 on Thursday: "jeudi 15h" is next week's Thursday.
    assert read_wish("jeudi 15h", "fr", TORONTO, now) == Wish(dates=(d(10),), times=(time(15),))


# --- Properties ---------------------------------------------------------------------------------

ZONES = st.sampled_from([TORONTO, PARIS, SYDNEY, ZoneInfo("Pacific/Apia"), ZoneInfo("UTC")])
FRAGMENTS = st.sampled_from(
    ["1", "2", "3", "7", "12", "31", "le", "la", "the", "option", "#", "n°", "mardi", "Tuesday",
     "jeudi", "Thursday", "lundi", "14h", "9:30", "2pm", "14 h 30", "at", "à", "pas", "not", "ou",
     "or", "matin", "afternoon", "soir", "le 10", "the 2nd", "premier", "first", "one", "décembre",
     "Dec", "janvier", "95 $", "514-555-0101", "personnes", "semaine prochaine", "next week",
     "demain", "tomorrow", "après", "after", "avant", "before", "vers", "sauf", "except", "svp",
     "please", "même heure", "same time", "jusqu'au", "du", "au", "week of", ",", ".", "?", "\n",
     "> 1. mardi 8 décembre 2026, 10 h 00 – 11 h 00", "2026", "29 février", "31/11", "0h", "23h59"]
)  # fmt: skip
TEXTS = st.one_of(st.lists(FRAGMENTS, max_size=14).map(" ".join), st.text(max_size=80))
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@st.composite
def slot_lists(draw: st.DrawFn, zone: ZoneInfo, now: datetime, most: int = 7) -> list[Slot]:
    base = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    count = draw(st.integers(0, most))
    out = []
    for _ in range(count):
        days = draw(st.integers(0, 25))
        minutes = draw(st.integers(0, 47)) * 30
        start = (base + timedelta(days=days, minutes=minutes)).astimezone(UTC).astimezone(zone)
        out.append(Slot(start, start + timedelta(hours=1)))
    return out


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(st.data(), TEXTS, ZONES, INSTANTS, st.sampled_from(["fr", "en"]))
def test_a_pick_is_always_one_of_the_offered(
    data: st.DataObject, text: str, zone: ZoneInfo, now: datetime, language: str
) -> None:
    offered = data.draw(slot_lists(zone, now))
    choice = read_choice(text, offered, language, zone, now)
    if isinstance(choice, Picked):
        assert 1 <= choice.number <= len(offered)
    elif isinstance(choice, Ambiguous):
        assert len(choice.numbers) >= 2
        assert list(choice.numbers) == sorted(set(choice.numbers))
        assert all(1 <= n <= len(offered) for n in choice.numbers)
    elif isinstance(choice, Asked) and choice.start is not None:
        assert choice.start.tzinfo is zone


@PROPERTY_SETTINGS
@given(st.data(), TEXTS, ZONES, INSTANTS, st.sampled_from(["fr", "en"]))
def test_fitting_keeps_only_given_slots_in_order(
    data: st.DataObject, text: str, zone: ZoneInfo, now: datetime, language: str
) -> None:
    slots = data.draw(slot_lists(zone, now, most=30))
    wish = read_wish(text, language, zone, now, current=slots[0].start if slots else None)
    kept = fitting(slots, wish, zone)
    positions = [next(i for i, s in enumerate(slots) if s is k) for k in kept]
    assert positions == sorted(set(positions))
    assert fitting(slots, Wish(), zone) == slots


@PROPERTY_SETTINGS
@given(st.data(), TEXTS, ZONES, ZONES, INSTANTS, st.sampled_from(["fr", "en"]))
def test_results_do_not_depend_on_the_zone_now_carries(
    data: st.DataObject, text: str, zone: ZoneInfo, other: ZoneInfo, now: datetime, language: str
) -> None:
    slots = data.draw(slot_lists(zone, now))
    elsewhere = now.astimezone(other)
    assert read_choice(text, slots, language, zone, now) == read_choice(
        text, slots, language, zone, elsewhere
    )
    assert read_wish(text, language, zone, now) == read_wish(text, language, zone, elsewhere)
    assert which_appointments(text, slots, language, zone, now) == which_appointments(
        text, slots, language, zone, elsewhere
    )


@PROPERTY_SETTINGS
@given(st.data(), TEXTS, ZONES, INSTANTS)
def test_appointment_indexes_are_valid(
    data: st.DataObject, text: str, zone: ZoneInfo, now: datetime
) -> None:
    slots = data.draw(slot_lists(zone, now))
    found = which_appointments(text, slots, "fr", zone, now)
    assert list(found) == sorted(set(found))
    assert all(0 <= i < len(slots) for i in found)


@PROPERTY_SETTINGS
@given(st.integers(1, 7), st.integers(1, 99), INSTANTS)
def test_a_number_beyond_the_offer_is_never_a_pick(count: int, number: int, now: datetime) -> None:
    offered = [slot(8, 9 + i) for i in range(count)]
    choice = read_choice(f"le {number}", offered, "fr", TORONTO, now)
    assert (choice == Picked(number)) == (number <= count)


# --- Long input ---------------------------------------------------------------------------------
# (the time of every phrasing is measured by bench/bench_when.py)


def test_a_long_list_of_numbers_is_read() -> None:
    """Regression: bare day numbers beside a named day were joined in quadratic passes."""
    text = "le " + ", ".join(str(i % 31 + 1) for i in range(2000))
    read_wish(text, "fr", TORONTO, NOW)
    which_appointments(text, APPOINTMENTS, "fr", TORONTO, NOW)
    assert read_choice(text, OFFER, "fr", TORONTO, NOW) is not None


# --- Why dateparser reads only calendar dates and offsets here ----------------------------------
# If one of these starts failing, dateparser has learnt to read the phrase: the hand-written
# reading in rules/when.py may then be replaced by it.

BASE = {"RELATIVE_BASE": datetime(2026, 12, 3, 9, 0), "PREFER_DATES_FROM": "future"}


def _dateparser(text: str, language: str) -> datetime | None:
    found: datetime | None = dateparser.parse(text, languages=[language], settings=BASE)
    return found


def test_dateparser_alone_reads_french_hours_as_durations() -> None:
    assert _dateparser("14 h 30", "fr") != datetime(2026, 12, 3, 14, 30)


def test_dateparser_alone_reads_weekday_and_hour_as_a_date() -> None:
    assert _dateparser("mardi 14h", "fr") != datetime(2026, 12, 8, 14, 0)
    assert _dateparser("Monday at 9", "en") != datetime(2026, 12, 7, 9, 0)


def test_dateparser_alone_reads_a_day_of_the_month_as_a_month() -> None:
    found = _dateparser("the 10th", "en")
    assert found is None or found.date() != date(2026, 12, 10)


def test_dateparser_alone_knows_no_typos_and_no_parts_of_the_day() -> None:
    assert _dateparser("jeudy", "fr") is None
    assert _dateparser("en soirée", "fr") is None
    assert _dateparser("plus tard dans la semaine", "fr") is None


def test_turning_the_offer_down_names_a_wish_even_when_an_offered_slot_fits_it() -> None:
    """"Aucun ne me convient, auriez-vous un jeudi après-midi ?" is not a pick of the offered
    Thursday-afternoon slot: the client said none suits them (issue 12)."""
    zone = ZoneInfo("America/Toronto")
    now = datetime(2026, 12, 1, 9, 0, tzinfo=zone)
    offered = [Slot(datetime(2026, 12, 3, h, 0, tzinfo=zone),
                    datetime(2026, 12, 3, h + 1, 0, tzinfo=zone)) for h in (9, 10, 13)]
    found = read_choice("Aucun ne me convient, auriez-vous un jeudi après-midi ?", offered, "fr",
                        zone, now)
    assert isinstance(found, Asked) and found.start is None
    assert read_choice("None of these work for me. Le 2 alors ?", offered, "fr", zone,
                       now) == Picked(2)
