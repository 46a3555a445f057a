"""Issue 13, pure: rules.appointments (notice, which appointment, moves, calendar answers, new
clients) and the desk's decisions after the booking (rules.desk), with the conversation limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from test_booking import NOW, POLICY, ZONE

from daemon.templates import load_templates
from rules.appointments import (
    calendar_answer,
    countered,
    for_client,
    live,
    move_slots,
    move_wish,
    notice,
    which,
)
from rules.booking import slots_to_offer
from rules.desk import (
    AboutAppointment,
    ChangeIt,
    Choose,
    ForFreelancer,
    Ignore,
    Reply,
    Request,
    SentCounts,
    SetPartstat,
    answer,
    answer_change,
    answer_choice,
    limit_reason,
)
from rules.model import (
    Appointment,
    CalendarAnswer,
    ClientsPolicy,
    InboundMessage,
    Limits,
    Offer,
    Slot,
    Terms,
)

TEMPLATES = load_templates()
CLIENT = "marie@client.example"


def appointment(days: float, *, hour: int = 10, client: str = CLIENT, uid: str = "a1",
                state: str = "booked", sequence: int = 0) -> Appointment:
    day = (NOW + timedelta(days=days)).replace(hour=hour, minute=0)
    return Appointment(uid=uid, client=client, client_name="Marie", service=0, start=day,
                       end=day + timedelta(hours=1), state=state, language="fr",
                       sequence=sequence)


def message(text: str, subject: str = "Re: Rendez-vous") -> InboundMessage:
    return InboundMessage(message_id="m1@client.example", from_address=CLIENT,
                          from_name="Marie", subject=subject, text=text, return_path=CLIENT,
                          date=NOW, to=(POLICY.freelancer.email,))


def about(change: str = "cancel", *, to: str = CLIENT, asked_which: bool = False,
          language: str = "fr") -> AboutAppointment:
    return AboutAppointment(change=change, language=language, to=to, to_name="Marie",
                            fired=(), reason="test", asked_which=asked_which)


def change_answer(text: str, appointments: list[Appointment], *, change: str = "cancel",
                  in_thread: Appointment | None = None, sent: SentCounts | None = None,
                  policy: object = POLICY, **kw: object) -> object:
    return answer_change(about(change, **kw), message(text),  # type: ignore[arg-type]
                         policy=policy, now=NOW, busy=[], templates=TEMPLATES,  # type: ignore
                         sent=sent or SentCounts(), appointments=appointments,
                         in_thread=in_thread)


# --- The notice rule ----------------------------------------------------------------------------


@given(st.floats(min_value=-48, max_value=24 * 30), st.floats(min_value=0, max_value=24 * 14))
@settings(max_examples=200, deadline=None)
def test_in_time_exactly_when_at_least_the_notice_is_left(hours: float, need: float) -> None:
    policy = replace(POLICY, terms=Terms(cancellation_notice_hours=need))
    start = NOW + timedelta(hours=hours)
    booked = Appointment("u", CLIENT, "", 0, start, start + timedelta(hours=1))
    rule = notice(policy, booked, NOW)
    assert rule.in_time == (hours >= need) or abs(hours - need) < 1e-6


def test_the_notice_boundary_is_in_time() -> None:
    booked = appointment(1)
    exactly = booked.start - timedelta(hours=24)
    assert notice(POLICY, booked, exactly).in_time
    assert not notice(POLICY, booked, exactly + timedelta(seconds=1)).in_time


# --- Which appointment ------------------------------------------------------------------------


def test_the_thread_names_the_appointment_unless_the_text_names_another() -> None:
    thursday, monday = appointment(2, uid="thu"), appointment(6, uid="mon")  # Thu 3, Mon 7
    both = [thursday, monday]
    assert which("je dois annuler", both, monday, "fr", POLICY, NOW) == (monday,)
    assert which("je dois annuler jeudi", both, monday, "fr", POLICY, NOW) == (thursday,)
    assert which("je dois annuler jeudi", both, None, "fr", POLICY, NOW) == (thursday,)
    assert which("please cancel my appointment on Thursday December 3rd at 10am", both, None,
                 "en", POLICY, NOW) == (thursday,)
    assert set(which("je dois annuler", both, None, "fr", POLICY, NOW)) == set(both)


def test_past_and_cancelled_appointments_are_not_candidates() -> None:
    gone = [appointment(-2, uid="past"), appointment(3, uid="x", state="cancelled")]
    assert live(gone, NOW) == []
    assert which("annuler", gone, None, "fr", POLICY, NOW) == ()


def test_several_appointments_ask_which_once_then_the_answer_picks() -> None:
    both = [appointment(2, uid="thu"), appointment(6, uid="mon")]
    asked = change_answer("je dois annuler mon rendez-vous", both)
    assert isinstance(asked, Reply) and asked.kind == "which_cancel"
    assert "1. " in asked.text.body and "2. " in asked.text.body
    picked = change_answer("le 2", both, asked_which=True)
    assert isinstance(picked, ChangeIt) and picked.appointment.uid == "mon"
    unclear = change_answer("je ne sais pas", both, asked_which=True)
    assert isinstance(unclear, ForFreelancer)


# --- Cancellations and moves --------------------------------------------------------------------


def test_in_time_cancel_is_made_late_cancel_states_the_rule_and_flags() -> None:
    booked = appointment(3)
    done = change_answer("je dois annuler", [booked], in_thread=booked)
    assert isinstance(done, ChangeIt) and done.change == "cancel"
    assert "annulé" in done.text.body
    late = change_answer("je dois annuler", [appointment(0.2, hour=15)])
    assert isinstance(late, Reply) and late.kind == "late"
    assert late.flag.startswith("late cancellation") and late.appointment == "a1"
    assert "reste donc réservé" in late.text.body


def test_only_the_appointments_own_client_changes_it() -> None:
    someone = appointment(3, client="ann@client.example")
    result = change_answer("annulez svp", [], in_thread=someone)
    assert isinstance(result, ForFreelancer) and "only the appointment's client" in result.reason
    assert isinstance(change_answer("annulez svp", []), ForFreelancer)


def test_a_move_in_time_offers_times_that_keep_the_appointment() -> None:
    booked = appointment(2)  # Thursday Dec 3, 10:00
    moved = change_answer("Can we move my appointment to next week, Monday afternoon?",
                          [booked], change="move", in_thread=booked, language="en")
    assert isinstance(moved, Reply) and moved.kind == "booking" and moved.moves == "a1"
    assert moved.slots and all(s.start.astimezone(ZONE).weekday() == 0 and
                               s.start.astimezone(ZONE).hour >= 12 for s in moved.slots)
    assert "stays booked until you choose" in moved.text.body


def test_move_wish_leaves_out_the_day_it_comes_from() -> None:
    booked = appointment(2)  # Thursday
    wish = move_wish("move my Thursday appointment to later in the week", booked, "en", POLICY,
                     NOW)
    assert 3 not in wish.weekdays
    same = move_wish("même heure la semaine prochaine", booked, "fr", POLICY, NOW)
    slots = move_slots(POLICY, [], NOW, booked, same, offers=[], booked=[booked])
    assert slots and slots[0].start.astimezone(ZONE).hour == 10
    assert all(s.start != booked.start for s in slots)


def test_choosing_a_move_changes_the_appointment_and_never_collides_with_itself() -> None:
    booked = appointment(2)
    slot = Slot(booked.start + timedelta(minutes=30), booked.end + timedelta(minutes=30))
    offer = Offer("<o@x>", CLIENT, "Marie", "fr", 0, (slot,), NOW, NOW + timedelta(hours=24),
                  moves="a1")
    choice = Choose(offer, "fr", CLIENT, "Marie", (), "test")
    result = answer_choice(choice, message("1"), policy=POLICY, now=NOW, busy=[],
                           templates=TEMPLATES, sent=SentCounts(), booked=[booked],
                           moving=booked)
    assert isinstance(result, ChangeIt) and result.change == "move" and result.slot == slot
    assert "déplacé" in result.text.body


# --- Calendar answers ---------------------------------------------------------------------------


def reply_of(partstat: str, *, attendee: str = CLIENT, method: str = "REPLY",
             sequence: int = 0) -> CalendarAnswer:
    return CalendarAnswer(method=method, uid="a1", attendee=attendee, partstat=partstat,
                          sequence=sequence)


def test_calendar_answers() -> None:
    booked = appointment(3, sequence=1)
    assert calendar_answer(POLICY, reply_of("ACCEPTED", sequence=1), booked, CLIENT).action \
        == "partstat"
    assert calendar_answer(POLICY, reply_of("DECLINED", sequence=1), booked, CLIENT).action \
        == "cancel"
    assert calendar_answer(POLICY, reply_of("ACCEPTED"), booked, CLIENT).action == "ignore"
    assert calendar_answer(POLICY, reply_of("ACCEPTED", sequence=1), None, CLIENT).action \
        == "ignore"
    assert calendar_answer(POLICY, reply_of("DECLINED", attendee="x@y.example", sequence=1),
                           booked, CLIENT).action == "leave"
    assert calendar_answer(POLICY, reply_of("DECLINED", sequence=1), booked,
                           "x@y.example").action == "leave"
    assert calendar_answer(POLICY, reply_of("DECLINED", sequence=1), booked, None).action \
        == "leave"
    # a COUNTER's PARTSTAT says nothing (Thunderbird sends DECLINED): it is a move
    counter = replace(reply_of("DECLINED", method="COUNTER", sequence=1),
                      start=booked.start + timedelta(days=7))
    what = calendar_answer(POLICY, counter, booked, CLIENT)
    assert what.action == "move" and what.proposed == countered(POLICY, booked, counter)
    assert what.proposed is not None and what.proposed.end - what.proposed.start == \
        timedelta(minutes=60)


def test_an_accepted_answer_is_recorded_without_a_reply() -> None:
    from rules.desk import CalendarAnswers, answer_calendar

    booked = appointment(3)
    answers = CalendarAnswers("r", (), CLIENT)
    result = answer_calendar(reply_of("TENTATIVE"), booked, answers, message(""),
                             policy=POLICY, now=NOW, busy=[], templates=TEMPLATES,
                             sent=SentCounts())
    assert isinstance(result, SetPartstat) and result.partstat == "TENTATIVE"


# --- The freelancer's client rules --------------------------------------------------------------


def request(to: str = CLIENT, kind: str = "booking") -> Request:
    return Request(kind=kind, language="fr", to=to, to_name="", fired=(), reason="test")


def test_unpaid_clients_get_no_times() -> None:
    policy = replace(POLICY, clients=ClientsPolicy(unpaid=("marie@client.example",)))
    result = answer(request("Marie+x@client.example"), message("un rdv svp"), policy=policy,
                    now=NOW, busy=[], templates=TEMPLATES, sent=SentCounts())
    assert isinstance(result, Reply) and result.kind == "unpaid" and result.slots == ()
    assert "solde" in result.text.body


@given(st.sets(st.sampled_from([0, 1, 3]), min_size=1))
@settings(max_examples=20, deadline=None)
def test_new_clients_are_offered_only_their_days(days: set[int]) -> None:
    policy = replace(POLICY, booking=replace(POLICY.booking, new_client_days=tuple(days)))
    new = slots_to_offer(for_client(policy, returning=False), [], NOW, service=0, offers=[],
                         client=CLIENT)
    assert new and {s.start.astimezone(ZONE).weekday() for s in new} <= days
    assert for_client(policy, returning=True) is policy


def test_first_contact_gets_how_i_work_once() -> None:
    first = answer(request(), message("un rdv svp"), policy=POLICY, now=NOW, busy=[],
                   templates=TEMPLATES, sent=SentCounts(), first_contact=True)
    again = answer(request(), message("un rdv svp"), policy=POLICY, now=NOW, busy=[],
                   templates=TEMPLATES, sent=SentCounts(), first_contact=False)
    assert isinstance(first, Reply) and isinstance(again, Reply)
    assert "Ma façon de travailler" in first.text.body
    assert "Ma façon de travailler" not in again.text.body


# --- Conversation limits ------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=7), st.integers(min_value=0, max_value=20),
       st.sampled_from(["booking", "confirmation", "cancelled", "late", "unclear"]))
@settings(max_examples=200, deadline=None)
def test_inside_a_conversation_every_answer_goes_until_the_loop_cap(
        replies: int, conversations: int, kind: str) -> None:
    policy = replace(POLICY, limits=Limits(per_conversation_per_day=8))
    sent = SentCounts(same_kind=3, to_recipient=conversations, in_conversation=replies)
    assert limit_reason(kind, CLIENT, policy, sent) is None
    assert limit_reason(kind, CLIENT, policy, replace(sent, in_conversation=8)) is not None


def test_new_conversations_are_counted_per_sender() -> None:
    limits = Limits(per_sender_per_day=3, repeat_days=1)
    policy = replace(POLICY, limits=limits)
    assert limit_reason("booking", CLIENT, policy, SentCounts(to_recipient=2)) is None
    assert limit_reason("booking", CLIENT, policy, SentCounts(to_recipient=3)) is not None
    assert limit_reason("booking", CLIENT, policy, SentCounts(same_kind=1)) is not None
    # a client's request, choice, question and cancel in one day: one conversation
    day = [SentCounts(to_recipient=0, in_conversation=n) for n in range(4)]
    assert all(limit_reason("booking", CLIENT, policy, s) is None for s in day)


def test_a_change_over_the_global_cap_is_left_for_the_freelancer() -> None:
    policy = replace(POLICY, limits=Limits(per_hour=1))
    result = change_answer("annuler", [appointment(3)], sent=SentCounts(last_hour=1),
                           policy=policy)
    assert isinstance(result, ForFreelancer)
    ignored = answer(request(), message("un rdv"), policy=policy, now=NOW, busy=[],
                     templates=TEMPLATES, sent=SentCounts(same_kind=1))
    assert isinstance(ignored, Ignore)



# --- Only a plain request changes an appointment ------------------------------------------------

PLAIN = {
    "cancel": ["je dois annuler jeudi",
               "please cancel my appointment on Thursday December 3rd at 1pm",
               "Bonjour, je ne pourrai pas venir jeudi, je dois annuler.",
               "Hi, something came up and I can't make it tomorrow, sorry",
               "Annulation de mon rdv du 3 décembre svp",
               "I'm going to have to cancel, sorry", "I've got to cancel tomorrow",
               "Bonjour, je dois malheureusement annuler notre rendez-vous de jeudi."],
    "move": ["can we move my appointment on Tuesday to later in the week?",
             "on peut remettre ça à la semaine prochaine?",
             "Est-ce qu'on pourrait décaler notre rendez-vous à la même heure la semaine "
             "prochaine ?", "I need to reschedule, could we do Thursday afternoon instead?",
             "Hi Julie, can we push it back a week? Work is crazy.",
             "I'm going to have to reschedule"],
}
NOT_PLAIN = {
    "cancel": ["What's your cancellation policy?", "Do I need to cancel if I'm sick?",
               "I'm not cancelling, just confirming Thursday!",
               "Quelle est votre politique d'annulation ?",
               "Je confirme jeudi, pas besoin d'annuler.",
               "If I have to cancel, how much notice do you need?",
               "Est-ce que je peux annuler sans frais si je suis malade ?",
               "My colleague has to cancel her appointment, can she give it to me?",
               "I'm not going to cancel", "I cancelled my gym, so Thursday is fine"],
    "move": ["Is it possible to move it later if needed?",
             "Can I move my appointment if I get sick?"],
}


def test_only_a_plain_first_person_request_changes_an_appointment() -> None:
    from rules.appointments import plainly_asks

    for change, texts in PLAIN.items():
        for text in texts:
            assert plainly_asks(text, change), text
    for change, texts in NOT_PLAIN.items():
        for text in texts:
            assert not plainly_asks(text, change), text


def test_a_question_about_the_rule_is_left_for_the_freelancer() -> None:
    from rules.desk import read
    from rules.model import MailContext

    context = MailContext(thread="confirmation", relation="client",
                          appointments=(Slot(NOW + timedelta(days=2),
                                             NOW + timedelta(days=2, hours=1)),))
    msg = message("Bonjour, si je dois annuler, combien de temps à l'avance faut-il prévenir ?")
    result = read(msg, POLICY, context)
    assert isinstance(result, ForFreelancer), result
    plain = read(message("Bonjour, je dois annuler mon rendez-vous de jeudi."), POLICY, context)
    assert isinstance(plain, AboutAppointment) and plain.change == "cancel"


def test_a_counter_to_a_taken_time_gets_times_on_that_day() -> None:
    from rules.desk import CalendarAnswers, answer_calendar
    from rules.model import BusyInterval

    booked = appointment(2)  # Thursday Dec 3, 10:00
    monday = (NOW + timedelta(days=6)).replace(hour=10, minute=0)  # Monday Dec 7
    taken = [BusyInterval(monday, monday + timedelta(hours=1), uid="other")]
    counter = CalendarAnswer(method="COUNTER", uid="a1", attendee=CLIENT, partstat="DECLINED",
                             start=monday, end=monday + timedelta(hours=1))
    result = answer_calendar(counter, booked, CalendarAnswers("r", (), CLIENT), message(""),
                             policy=POLICY, now=NOW, busy=taken, templates=TEMPLATES,
                             sent=SentCounts(), booked=[booked])
    assert isinstance(result, Reply) and result.moves == "a1", result
    assert result.slots and all(s.start.date() == monday.date() for s in result.slots)
    assert monday not in {s.start for s in result.slots}
    free = replace(counter, start=monday + timedelta(hours=4), end=None)
    moved = answer_calendar(free, booked, CalendarAnswers("r", (), CLIENT), message(""),
                            policy=POLICY, now=NOW, busy=taken, templates=TEMPLATES,
                            sent=SentCounts(), booked=[booked])
    assert isinstance(moved, ChangeIt) and moved.slot is not None
    assert moved.slot.start == monday + timedelta(hours=4)
    assert moved.slot.end - moved.slot.start == timedelta(hours=1)
