"""The invitation guard's decision (rules/invitations.py): every path of the issue's rule.

Items are built directly as CalendarItem records for the rule itself, and from iCalendar text
through connectors.ical.calendar_items for the time-zone cases (Windows names, IANA, UTC,
floating, an unknown TZID), so the decision is tested on what the daemon really feeds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import EASTERN_WINDOWS_VTIMEZONE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.templates import load_templates
from rules.availability import describe_hours, inside_working_hours
from rules.invitations import (
    Decline,
    Leave,
    NotAnInvitation,
    Review,
    decide,
    explanation,
    is_invitation,
    my_attendee,
    reply_comment,
)
from rules.model import (
    Attendee,
    BookingPolicy,
    BusyInterval,
    CalendarItem,
    DateRange,
    Freelancer,
    Hours,
    InvitePolicy,
    Policy,
    TimeRange,
)
from rules.recurrence import MIN_SERIES_OCCURRENCES
from rules.replies import format_slot

TEMPLATES = load_templates()  # the shipped decline templates

TORONTO = ZoneInfo("America/Toronto")
SPLIT = (TimeRange(time(9), time(12)), TimeRange(time(13), time(17)))
# Mon, Tue, Thu, split by lunch; Christmas Eve closed.
HOURS = Hours(
    {0: SPLIT, 1: SPLIT, 3: SPLIT}, closed=(DateRange(date(2026, 12, 24), date(2026, 12, 24)),)
)
DESCRIBED_EN = "Mon, Tue, Thu 09:00-12:00, 13:00-17:00"
DESCRIBED_FR = "lun., mar., jeu. 09:00-12:00, 13:00-17:00"
# Monday 2 March 2026, 08:00 in Toronto (before the DST change of 8 March).
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=TORONTO)
ME = "alice@example.org"


def make_policy(
    *,
    language: str = "en",
    zone: str = "America/Toronto",
    hours: Hours = HOURS,
    outside: bool = True,
    conflicts: bool = False,
    horizon_days: int = 21,
) -> Policy:
    return Policy(
        Freelancer(
            "Alice Martin", ME, aliases=("A.Martin@Work.example",), timezone=zone, language=language
        ),
        hours,
        BookingPolicy(min_notice_hours=0, horizon_days=horizon_days),
        InvitePolicy(decline_outside_hours=outside, decline_conflicts=conflicts),
    )


POLICY = make_policy()


def at(day: int, hh: int, mm: int = 0, month: int = 3, zone: ZoneInfo = TORONTO) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=zone)


def me(**kw: object) -> Attendee:
    return Attendee(ME, **kw)  # type: ignore[arg-type]


def invitation(
    start: datetime,
    end: datetime | None = None,
    *,
    uid: str = "inv-1@example.com",
    attendees: tuple[Attendee, ...] | None = None,
    occurrences: Sequence[tuple[datetime, datetime]] | None = None,
    all_day: bool = False,
    **kw: object,
) -> CalendarItem:
    end = end if end is not None else start + timedelta(hours=1)
    spans = occurrences if occurrences is not None else [(start, end)]
    base = CalendarItem(
        uid=uid,
        summary="Weekly sync",
        organizer="bob@example.com",
        organizer_name="Bob Organizer",
        attendees=attendees
        if attendees is not None
        else (me(), Attendee("carl@example.com", partstat="ACCEPTED", name="Carl Secret")),
        start=start,
        end=end,
        all_day=all_day,
        occurrences=tuple(BusyInterval(s, e, all_day, uid) for s, e in spans),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def weekly(start: datetime, count: int, hours: float = 1.0) -> list[tuple[datetime, datetime]]:
    return [
        (start + timedelta(weeks=i), start + timedelta(weeks=i, hours=hours)) for i in range(count)
    ]


def busy(start: datetime, end: datetime, uid: str = "other@example.com") -> BusyInterval:
    return BusyInterval(start, end, uid=uid)


# --- Outside working hours ----------------------------------------------------------------------


def test_issue_example_saturday_is_outside_working_days() -> None:
    hours = Hours({0: (TimeRange(time(9), time(17)),), 1: (TimeRange(time(9), time(17)),),
                   3: (TimeRange(time(9), time(17)),)})  # fmt: skip
    got = decide(invitation(at(7, 10)), make_policy(hours=hours), [], NOW)
    assert isinstance(got, Decline)
    assert got.reason == "Saturday 10:00 is outside your working days (Mon, Tue, Thu 09:00-17:00)"
    assert got.kind == "days"


def test_day_off_is_declined_with_french_reason() -> None:
    got = decide(invitation(at(7, 10)), make_policy(language="fr"), [], NOW)
    assert isinstance(got, Decline)
    assert got.reason == f"samedi 10:00 est en dehors de vos jours de travail ({DESCRIBED_FR})"


def test_language_argument_overrides_the_freelancers_language() -> None:
    got = decide(invitation(at(7, 10)), POLICY, [], NOW, language="fr")
    assert isinstance(got, Decline) and got.reason.startswith("samedi 10:00 est en dehors")


def test_weekday_off_wednesday_is_outside_working_days() -> None:
    got = decide(invitation(at(4, 10)), POLICY, [], NOW)
    assert isinstance(got, Decline)
    assert got.reason == f"Wednesday 10:00 is outside your working days ({DESCRIBED_EN})"


def test_evening_on_a_working_day_is_outside_working_hours() -> None:
    got = decide(invitation(at(2, 19)), POLICY, [], NOW)
    assert isinstance(got, Decline)
    assert got.reason == f"Monday 19:00 is outside your working hours ({DESCRIBED_EN})"
    assert got.kind == "hours"
    assert got.occurrence == BusyInterval(at(2, 19), at(2, 20), False, "inv-1@example.com")


def test_evening_reason_in_french() -> None:
    got = decide(invitation(at(2, 19)), make_policy(language="fr"), [], NOW)
    assert isinstance(got, Decline)
    assert got.reason == f"lundi 19:00 est en dehors de vos heures de travail ({DESCRIBED_FR})"


def test_partly_outside_counts_as_outside() -> None:
    got = decide(invitation(at(2, 16, 30), at(2, 17, 30)), POLICY, [], NOW)
    assert isinstance(got, Decline) and "Monday 16:30 is outside your working hours" in got.reason


def test_across_lunch_is_not_inside_one_working_range() -> None:
    got = decide(invitation(at(2, 11, 30), at(2, 12, 30)), POLICY, [], NOW)
    assert isinstance(got, Decline) and got.kind == "hours"


def test_exactly_filling_a_range_is_inside() -> None:
    got = decide(invitation(at(2, 13), at(2, 17)), POLICY, [], NOW)
    assert isinstance(got, Leave) and not got.attention
    assert got.reason == "it is inside your working hours"


def test_closed_date_is_declined_naming_the_date() -> None:
    start = datetime(2026, 12, 24, 10, tzinfo=TORONTO)  # a Thursday, normally worked
    got = decide(invitation(start), POLICY, [], NOW)
    assert isinstance(got, Decline)
    assert got.reason == "Thursday 10:00 falls on a closed date (2026-12-24)"
    assert got.kind == "closed"
    fr = decide(invitation(start), make_policy(language="fr"), [], NOW)
    assert isinstance(fr, Decline)
    assert fr.reason == "jeudi 10:00 tombe un jour de fermeture (2026-12-24)"


def test_outside_hours_with_decline_outside_hours_off_is_left() -> None:
    got = decide(invitation(at(7, 10)), make_policy(outside=False), [], NOW)
    assert isinstance(got, Leave)


def test_reason_is_in_the_freelancers_zone_not_the_events() -> None:
    # 15:00 in Paris is 09:00 in Toronto: inside; 14:00 in Paris is 08:00: outside.
    paris = ZoneInfo("Europe/Paris")
    inside = decide(invitation(at(2, 15, zone=paris)), POLICY, [], NOW)
    assert isinstance(inside, Leave)
    outside = decide(invitation(at(3, 14, zone=paris)), POLICY, [], NOW)
    assert isinstance(outside, Decline) and outside.reason.startswith("Tuesday 08:00 ")


# --- Conflicts ----------------------------------------------------------------------------------


def test_conflict_declined_when_decline_conflicts_is_on() -> None:
    other = busy(at(2, 10, 30), at(2, 11, 30))
    got = decide(invitation(at(2, 10)), make_policy(conflicts=True), [other], NOW)
    assert isinstance(got, Decline)
    assert got.reason == "Monday 10:00 overlaps another appointment"
    assert got.kind == "conflict"
    fr = decide(invitation(at(2, 10)), make_policy(conflicts=True, language="fr"), [other], NOW)
    assert isinstance(fr, Decline) and fr.reason == "lundi 10:00 chevauche un autre rendez-vous"


def test_conflict_left_when_decline_conflicts_is_off() -> None:
    other = busy(at(2, 10, 30), at(2, 11, 30))
    got = decide(invitation(at(2, 10)), make_policy(conflicts=False), [other], NOW)
    assert isinstance(got, Leave)


def test_conflict_is_plain_overlap_buffer_not_counted() -> None:
    touching = busy(at(2, 11), at(2, 12))  # BookingPolicy.buffer_minutes is 15: ignored here
    got = decide(invitation(at(2, 10)), make_policy(conflicts=True), [touching], NOW)
    assert isinstance(got, Leave)


def test_the_invitation_itself_in_busy_time_is_no_conflict() -> None:
    item = invitation(at(2, 10))
    own = busy(at(2, 10), at(2, 11), uid=item.uid)
    got = decide(item, make_policy(conflicts=True), [own], NOW)
    assert isinstance(got, Leave)


def test_conflict_reason_never_names_the_other_event() -> None:
    other = busy(at(2, 10, 30), at(2, 11, 30), uid="secret-meeting-with-carol")
    got = decide(invitation(at(2, 10)), make_policy(conflicts=True), [other], NOW)
    assert isinstance(got, Decline) and "secret" not in got.reason and "carol" not in got.reason


def test_alternatives_exclude_the_invitation_and_keep_its_duration() -> None:
    item = invitation(at(2, 19), at(2, 20, 30))
    own = busy(at(2, 19), at(2, 20, 30), uid=item.uid)
    other = busy(at(3, 9), at(3, 12))
    got = decide(item, POLICY, [own, other], NOW)
    assert isinstance(got, Decline)
    assert 1 <= len(got.alternatives) <= 3
    for slot in got.alternatives:
        assert slot.end - slot.start == timedelta(minutes=90)
        assert inside_working_hours(HOURS, TORONTO, slot.start, slot.end)
        assert not (slot.start < other.end and other.start < slot.end)
        assert slot.start > NOW


# --- Series and instances -----------------------------------------------------------------------


def test_series_all_outside_is_declined_as_a_whole() -> None:
    spans = weekly(at(7, 10), 6)  # Saturdays
    item = invitation(at(7, 10), occurrences=spans, recurring=True)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Decline)
    assert got.occurrence is None
    # Worded as the issue's example line, on the first occurrence.
    assert got.reason == f"Saturday 10:00 is outside your working days ({DESCRIBED_EN})"
    assert len(got.alternatives) == 3


def test_series_partly_inside_is_left_for_the_freelancers_eye() -> None:
    # Daily at 10:00 from Monday: Monday and Tuesday inside, Wednesday outside...
    spans = [(at(2 + i, 10), at(2 + i, 11)) for i in range(14)]
    item = invitation(at(2, 10), occurrences=spans, recurring=True)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Leave) and got.attention
    assert "needs your eye" in got.reason


def test_series_judged_on_at_least_four_occurrences_beyond_a_short_horizon() -> None:
    # Weekly on Saturday, but the 4th occurrence was moved by the organizer to a Monday morning
    # (as the connector expands it): with a 7-day horizon only 1 occurrence lies inside.
    spans = [*weekly(at(7, 10), 3), (at(30, 10), at(30, 11))]
    item = invitation(at(7, 10), occurrences=spans, recurring=True)
    got = decide(item, make_policy(horizon_days=7), [], NOW)
    assert isinstance(got, Leave) and got.attention


def test_series_judged_only_within_the_horizon_when_it_holds_four() -> None:
    spans = [(at(7 + i, 10), at(7 + i, 11)) for i in range(0, 28, 7)]  # 4 Saturdays in 21 days
    spans.append((at(6, 10, month=4), at(6, 11, month=4)))  # a Monday, beyond the horizon
    item = invitation(at(7, 10), occurrences=spans, recurring=True)
    got = decide(item, make_policy(horizon_days=22), [], NOW)
    assert isinstance(got, Decline)


def test_series_started_in_the_past_is_judged_on_its_future_occurrences() -> None:
    spans = weekly(at(28, 10, month=2), 6)  # Saturdays from 28 February
    item = invitation(spans[0][0], occurrences=spans, recurring=True)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Decline)


def test_override_instance_is_judged_on_its_own() -> None:
    # The series is inside hours; one instance moved to Saturday is declined alone.
    item = invitation(at(7, 10), recurrence_id="20260305T150000Z", recurring=False)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Decline)
    assert got.occurrence is not None and got.occurrence.start == at(7, 10)
    moved_inside = invitation(at(5, 10), recurrence_id="20260307T150000Z")
    assert isinstance(decide(moved_inside, POLICY, [], NOW), Leave)


# --- Not invitations, already answered, untrusted, past ----------------------------------------


@pytest.mark.parametrize("answer", ["ACCEPTED", "DECLINED", "TENTATIVE"])
def test_already_answered_is_left(answer: str) -> None:
    item = invitation(at(7, 10), attendees=(me(partstat=answer),))
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Leave) and not got.attention
    assert got.reason == f"you already answered ({answer.lower()})"
    assert not is_invitation(item, POLICY.freelancer.addresses)


def test_pending_invitation_is_an_invitation_case_insensitively() -> None:
    item = invitation(at(7, 10), attendees=(Attendee("mailto:A.MARTIN@work.example"),))
    assert is_invitation(item, POLICY.freelancer.addresses)
    assert my_attendee(item, frozenset({"MAILTO:a.martin@WORK.example"})) is not None
    assert isinstance(decide(item, POLICY, [], NOW), Decline)


def test_organizer_is_self_is_not_an_invitation() -> None:
    item = invitation(at(7, 10), organizer="a.martin@work.example")
    assert not is_invitation(item, POLICY.freelancer.addresses)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, NotAnInvitation) and got.reason == "you organize it"


def test_no_organizer_is_not_an_invitation() -> None:
    assert isinstance(decide(invitation(at(7, 10), organizer=""), POLICY, [], NOW), NotAnInvitation)


def test_not_an_attendee_is_not_an_invitation() -> None:
    item = invitation(at(7, 10), attendees=(Attendee("carl@example.com"),))
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, NotAnInvitation) and my_attendee(item, frozenset({ME})) is None


def test_cancelled_is_not_an_invitation_rfc5546() -> None:
    item = invitation(at(7, 10), status="CANCELLED")
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, NotAnInvitation) and got.reason == "it is cancelled"


@pytest.mark.parametrize(
    ("attendee", "reason"),
    [
        (me(rsvp=False), "RSVP=FALSE"),
        (me(role="NON-PARTICIPANT"), "non-participant"),
        (me(cutype="GROUP"), "group"),
    ],
)
def test_no_answer_expected_is_not_an_invitation_standards_2(
    attendee: Attendee, reason: str
) -> None:
    item = invitation(at(7, 10), attendees=(attendee,))
    assert not is_invitation(item, POLICY.freelancer.addresses)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, NotAnInvitation) and reason in got.reason


def test_usable_entry_preferred_when_listed_twice() -> None:
    item = invitation(at(7, 10), attendees=(me(rsvp=False), Attendee("a.martin@work.example")))
    assert my_attendee(item, POLICY.freelancer.addresses) == Attendee("a.martin@work.example")
    assert isinstance(decide(item, POLICY, [], NOW), Decline)


def test_untrusted_time_is_reviewed_never_declined() -> None:
    item = invitation(at(7, 10), time_trusted=False)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Review) and "time zone is unknown" in got.reason


def test_unreadable_time_is_reviewed() -> None:
    item = replace(invitation(at(7, 10)), start=None, end=None, occurrences=(), time_trusted=False)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Review) and got.reason == "its time cannot be read: check it yourself"


def test_untrusted_time_long_past_is_left() -> None:
    item = invitation(at(1, 10, month=2), time_trusted=False)
    assert isinstance(decide(item, POLICY, [], NOW), Leave)


def test_past_invitation_is_left_alone() -> None:
    item = invitation(at(28, 10, month=2))  # last Saturday
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Leave) and got.reason == "it is already past"
    started = invitation(at(2, 7, 30), at(2, 8, 30))  # running now: too late to decline
    assert isinstance(decide(started, POLICY, [], NOW), Leave)


def test_single_event_beyond_the_connectors_horizon_is_still_judged() -> None:
    far = datetime(2026, 9, 5, 10, tzinfo=TORONTO)  # a Saturday, no occurrences expanded
    item = replace(invitation(far), occurrences=())
    assert isinstance(decide(item, POLICY, [], NOW), Decline)


def test_both_switches_off_declines_nothing() -> None:
    got = decide(invitation(at(7, 10)), make_policy(outside=False, conflicts=False), [], NOW)
    assert isinstance(got, Leave) and "switched off" in got.reason


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        decide(invitation(at(7, 10)), POLICY, [], NOW.replace(tzinfo=None))


# --- All-day invitations ------------------------------------------------------------------------


def day(d: int, month: int = 3) -> datetime:
    return datetime(2026, month, d, tzinfo=TORONTO)


def test_all_day_on_a_day_off_is_declined_without_alternatives() -> None:
    item = invitation(day(7), day(8), all_day=True)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Decline) and got.alternatives == ()
    assert got.reason == f"Saturday 2026-03-07 is outside your working days ({DESCRIBED_EN})"


def test_all_day_on_a_working_day_is_left_with_attention() -> None:
    item = invitation(day(3), day(4), all_day=True)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Leave) and got.attention


def test_multi_day_all_day_touching_a_day_off_is_declined() -> None:
    item = invitation(day(3), day(6), all_day=True)  # Tue-Thu, Wednesday off
    assert isinstance(decide(item, POLICY, [], NOW), Decline)


def test_all_day_on_a_closed_date_is_declined() -> None:
    item = invitation(day(24, 12), day(25, 12), all_day=True)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Decline) and got.kind == "closed"


# --- The explanation ----------------------------------------------------------------------------


def test_explanation_english_states_hours_alternatives_and_signs() -> None:
    got = decide(invitation(at(7, 10)), POLICY, [busy(at(9, 9), at(9, 12), "x")], NOW)
    assert isinstance(got, Decline)
    subject, body = explanation(got, POLICY, "en", templates=TEMPLATES)
    assert subject == "Declined: Weekly sync"
    assert "Hello Bob Organizer," in body
    assert "this day is not one of my working days" in body
    assert f"My working hours: {DESCRIBED_EN} (Toronto time)." in body
    assert body.rstrip().endswith("Alice Martin")
    lines = [line for line in body.splitlines() if line.startswith("- ")]
    assert len(lines) == len(got.alternatives) == 3
    first = got.alternatives[0].start.astimezone(TORONTO)
    # the same wording of a time as booking replies use (rules.replies.format_slot)
    assert lines[0] == f"- {format_slot(got.alternatives[0], 'en', TORONTO)}"
    assert lines[0].startswith(f"- {first:%A}, {first:%B} {first.day}, 2026, ")


def test_explanation_french_subject_and_zone() -> None:
    policy = make_policy(language="fr")
    got = decide(invitation(at(2, 19)), policy, [], NOW)
    assert isinstance(got, Decline)
    subject, body = explanation(got, policy, "fr", templates=TEMPLATES)
    assert subject == "Refusé : Weekly sync"
    assert "je ne suis pas disponible à ce moment" in body  # issue 9: no hint of why
    assert f"Mes heures de travail : {DESCRIBED_FR} (heure de Toronto)." in body
    assert "- lundi 2 mars 2026, 9 h 00 – 10 h 00, heure de Toronto (HNE)" in body
    assert body.rstrip().endswith("Alice Martin")


def test_explanation_reveals_nothing_else_of_the_calendar_rfc3834_6() -> None:
    other = busy(at(9, 9), at(9, 12), "secret-uid")
    item = invitation(at(2, 10))
    policy = make_policy(conflicts=True)
    got = decide(item, policy, [busy(at(2, 10), at(2, 11), "secret-uid")], NOW)
    assert isinstance(got, Decline)
    for language in ("en", "fr"):
        subject, body = explanation(got, policy, language, templates=TEMPLATES)
        text = subject + body
        for leak in ("secret", "Carl", "carl@example.com", "Monday 10:00", other.uid):
            assert leak not in text


def test_explanation_for_a_series_without_alternatives() -> None:
    spans = weekly(at(7, 10), 4)
    item = invitation(at(7, 10), occurrences=spans, recurring=True)
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Decline)
    bare = replace(got, alternatives=())
    _, body = explanation(bare, POLICY, "en", templates=TEMPLATES)
    assert "its occurrences fall outside my working days" in body
    assert "propose another time" in body


def test_reply_comment_speaks_to_the_organizer() -> None:
    other = busy(at(2, 10, 30), at(2, 11, 30), uid="secret")
    policy = make_policy(conflicts=True)
    got = decide(invitation(at(2, 10)), policy, [other], NOW)
    assert isinstance(got, Decline)
    assert reply_comment(got, policy, "en") == (
        "I am sorry, I cannot attend: I am not available at that time. "
        f"My working hours: {DESCRIBED_EN} (Toronto time)."
    )
    fr = reply_comment(got, policy, "fr")
    assert fr.startswith("Je ne pourrai malheureusement pas y participer : je ne suis pas")
    assert "appointment" not in fr and "your" not in reply_comment(got, policy, "en")


def test_explanation_with_utc_zone_names_utc() -> None:
    policy = make_policy(zone="UTC")
    got = decide(invitation(datetime(2026, 3, 7, 10, tzinfo=UTC)), policy, [], NOW)
    assert isinstance(got, Decline)
    _, body = explanation(got, policy, "en", templates=TEMPLATES)
    assert "(UTC)" in body


# --- From iCalendar text, through the connector ------------------------------------------------


def ics_items(text: str, zone: ZoneInfo = TORONTO) -> list[CalendarItem]:
    ical = pytest.importorskip(
        "connectors.ical", reason="connectors/ical.py is not in the tree yet"
    )
    raw = text.strip().replace("\n", "\r\n").encode()
    return list(ical.calendar_items(raw, NOW, NOW + timedelta(days=60), zone,
                                    min_occurrences=MIN_SERIES_OCCURRENCES))


def event(dtstart: str, dtend: str, *, extra: str = "", vtimezone: str = "") -> str:
    return f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
METHOD:REQUEST
{vtimezone}BEGIN:VEVENT
UID:zone-test@example.com
DTSTAMP:20260301T000000Z
SEQUENCE:0
DTSTART{dtstart}
DTEND{dtend}
SUMMARY:Zone test
ORGANIZER;CN=Bob:mailto:bob@example.com
ATTENDEE;CN=Alice;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:alice@example.org
{extra}END:VEVENT
END:VCALENDAR
"""


EASTERN_WINDOWS = EASTERN_WINDOWS_VTIMEZONE


def one(text: str) -> CalendarItem:
    items = ics_items(text)
    assert len(items) == 1
    return items[0]


@pytest.mark.parametrize("with_vtimezone", [True, False])
def test_windows_zone_eastern_standard_time(with_vtimezone: bool) -> None:
    tz = ";TZID=Eastern Standard Time:"
    vtz = EASTERN_WINDOWS if with_vtimezone else ""
    inside = one(event(f"{tz}20260302T100000", f"{tz}20260302T110000", vtimezone=vtz))
    assert inside.time_trusted
    assert isinstance(decide(inside, POLICY, [], NOW), Leave)
    evening = one(event(f"{tz}20260302T190000", f"{tz}20260302T200000", vtimezone=vtz))
    got = decide(evening, POLICY, [], NOW)
    assert isinstance(got, Decline) and got.reason.startswith("Monday 19:00 ")


def test_another_iana_zone_is_judged_in_the_freelancers_zone() -> None:
    tz = ";TZID=Europe/Paris:"
    item = one(event(f"{tz}20260303T140000", f"{tz}20260303T150000"))
    got = decide(item, POLICY, [], NOW)  # 08:00 in Toronto
    assert isinstance(got, Decline) and got.reason.startswith("Tuesday 08:00 ")
    item = one(event(f"{tz}20260303T150000", f"{tz}20260303T160000"))
    assert isinstance(decide(item, POLICY, [], NOW), Leave)


def test_utc_times() -> None:
    item = one(event(":20260303T140000Z", ":20260303T150000Z"))  # 09:00 in Toronto
    assert isinstance(decide(item, POLICY, [], NOW), Leave)
    item = one(event(":20260303T130000Z", ":20260303T140000Z"))
    assert isinstance(decide(item, POLICY, [], NOW), Decline)


def test_floating_time_is_the_freelancers_local_time_rfc5545() -> None:
    item = one(event(":20260303T100000", ":20260303T110000"))
    assert item.time_trusted
    assert isinstance(decide(item, POLICY, [], NOW), Leave)
    item = one(event(":20260303T180000", ":20260303T190000"))
    got = decide(item, POLICY, [], NOW)
    assert isinstance(got, Decline) and got.reason.startswith("Tuesday 18:00 ")


def test_unknown_tzid_is_reviewed_never_declined_standards_5() -> None:
    tz = ";TZID=Mars/Olympus_Mons:"
    item = one(event(f"{tz}20260307T100000", f"{tz}20260307T110000"))
    assert not item.time_trusted
    assert isinstance(decide(item, POLICY, [], NOW), Review)


def test_ics_series_on_saturdays_declined_whole_and_override_alone() -> None:
    text = event(
        ";TZID=America/Toronto:20260307T100000",
        ";TZID=America/Toronto:20260307T110000",
        extra="RRULE:FREQ=WEEKLY;COUNT=8\n",
    ).replace(
        "END:VCALENDAR",
        """BEGIN:VEVENT
UID:zone-test@example.com
RECURRENCE-ID;TZID=America/Toronto:20260314T100000
DTSTAMP:20260301T000000Z
SEQUENCE:0
DTSTART;TZID=America/Toronto:20260312T100000
DTEND;TZID=America/Toronto:20260312T110000
SUMMARY:Zone test (moved)
ORGANIZER;CN=Bob:mailto:bob@example.com
ATTENDEE;CN=Alice;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:alice@example.org
END:VEVENT
END:VCALENDAR""",
    )
    items = ics_items(text)
    master = next(i for i in items if i.recurrence_id is None)
    override = next(i for i in items if i.recurrence_id is not None)
    assert master.recurring
    assert isinstance(decide(master, POLICY, [], NOW), Decline)  # every Saturday left is outside
    assert isinstance(decide(override, POLICY, [], NOW), Leave)  # moved to a Thursday morning


def test_ics_all_day_saturday_declined() -> None:
    item = one(event(";VALUE=DATE:20260307", ";VALUE=DATE:20260308"))
    assert item.all_day
    assert isinstance(decide(item, POLICY, [], NOW), Decline)


# --- Properties ---------------------------------------------------------------------------------

_minutes = st.integers(min_value=0, max_value=14 * 24 * 4).map(lambda q: timedelta(minutes=15 * q))
_lengths = st.integers(min_value=1, max_value=16).map(lambda q: timedelta(minutes=15 * q))
_busy = st.lists(st.tuples(_minutes, _lengths), max_size=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offset=_minutes, length=_lengths, taken=_busy, conflicts=st.booleans())
def test_decline_alternatives_inside_hours_and_never_overlap_busy(
    offset: timedelta,
    length: timedelta,
    taken: list[tuple[timedelta, timedelta]],
    conflicts: bool,
) -> None:
    policy = make_policy(conflicts=conflicts)
    # real-time arithmetic (in UTC): wall-clock sums can land in a DST gap and end before start
    start = (NOW.astimezone(UTC) + timedelta(minutes=15) + offset).astimezone(TORONTO)
    end = (start.astimezone(UTC) + length).astimezone(TORONTO)
    item = invitation(start, end)
    others = [busy(NOW + o, NOW + o + n, uid=f"b{i}") for i, (o, n) in enumerate(taken)]
    own = busy(start, end, uid=item.uid)
    got = decide(item, policy, [*others, own], NOW)
    if isinstance(got, Decline):
        assert len(got.alternatives) <= 3
        for slot in got.alternatives:
            assert slot.end - slot.start == length
            assert inside_working_hours(HOURS, TORONTO, slot.start, slot.end)
            assert not any(b.start < slot.end and slot.start < b.end for b in others)
    else:
        assert isinstance(got, Leave)
        inside = inside_working_hours(HOURS, TORONTO, start, end)
        assert inside  # outside hours is always declined with decline_outside_hours on


@settings(max_examples=60, deadline=None)
@given(offset=_minutes, length=_lengths, recurring=st.booleans())
def test_never_declines_an_untrusted_time(
    offset: timedelta, length: timedelta, recurring: bool
) -> None:
    start = NOW + offset - timedelta(days=3)
    spans = weekly(start, 6, hours=length.total_seconds() / 3600)
    item = invitation(
        start, start + length, occurrences=spans, recurring=recurring, time_trusted=False
    )
    got = decide(item, make_policy(conflicts=True), [busy(start, start + length)], NOW)
    assert not isinstance(got, Decline)


def test_describe_hours_used_in_reasons_matches_the_engine() -> None:
    assert describe_hours(HOURS, "en") == DESCRIBED_EN
    assert describe_hours(HOURS, "fr") == DESCRIBED_FR


def test_conflict_decline_is_worded_exactly_like_an_off_hours_one() -> None:
    """Issue 9 item 9: with decline_conflicts on, an organizer must not tell busy time from
    off-hours time by the words of the decline (both say "not available at that time")."""
    other = BusyInterval(at(2, 10), at(2, 11), uid="other")
    conflict = decide(invitation(at(2, 10)), make_policy(conflicts=True), [other], NOW)
    evening = decide(invitation(at(2, 19)), make_policy(conflicts=True), [], NOW)
    assert isinstance(conflict, Decline) and isinstance(evening, Decline)
    for language in ("en", "fr"):
        policy = make_policy(conflicts=True, language=language)
        _, busy_text = explanation(conflict, policy, language, templates=TEMPLATES)
        _, hours_text = explanation(evening, policy, language, templates=TEMPLATES)
        why = [line for line in busy_text.splitlines() if ":" in line and "—" not in line][:2]
        assert why == [line for line in hours_text.splitlines()
                       if ":" in line and "—" not in line][:2]
        assert reply_comment(conflict, policy, language) == reply_comment(evening, policy,
                                                                          language)
