"""rules/booking.py, pure: holds, services, and what a reply to an offer chooses."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

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
    slot_length,
    slots_to_offer,
)
from rules.model import (
    Appointment,
    BookingPolicy,
    BusyInterval,
    Freelancer,
    Hours,
    Localized,
    Offer,
    Policy,
    Service,
    Slot,
    TimeRange,
)

ZONE = ZoneInfo("America/Toronto")
DAY = (TimeRange(time(9), time(12)), TimeRange(time(13), time(17)))
POLICY = Policy(
    Freelancer("Julie", "julie@example.org", timezone="America/Toronto", language="fr"),
    Hours({0: DAY, 1: DAY, 3: DAY}),
    BookingPolicy(min_notice_hours=24, horizon_days=21, slots_offered=3, hold_hours=24),
    services=(Service(Localized({"fr": "Massage, 60 minutes", "en": "Massage, 60 minutes"}), 60,
                      "95 $"),
              Service(Localized({"fr": "Massage profond, 90 minutes",
                                 "en": "Deep tissue massage, 90 minutes"}), 90, "130 $")),
)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)  # a Tuesday


def make_offer(client: str, slots: tuple[Slot, ...], *, created: datetime = NOW,
               service: int = 0, asked: int = 0, offer_id: str = "<o1@x>") -> Offer:
    return Offer(offer_id=offer_id, client=client, client_name="", language="fr",
                 service=service, slots=slots, created_at=created,
                 expires_at=created + timedelta(hours=24), asked=asked)


def test_service_named_by_the_client_else_the_first() -> None:
    assert service_for("Bonjour, un massage profond de 90 minutes svp", POLICY) == 1
    assert service_for("I'd like a deep tissue massage", POLICY) == 1
    assert service_for("Un massage svp", POLICY) == 0
    assert slot_length(POLICY, 1) == timedelta(minutes=90)
    no_minutes = Policy(POLICY.freelancer, POLICY.hours, POLICY.booking,
                        services=(Service(Localized({"en": "Translation, per page"}), None,
                                          "35 €"),))
    assert slot_length(no_minutes, 0) == timedelta(minutes=60)  # booking.duration_minutes


def test_slots_follow_the_service_length() -> None:
    slots = slots_to_offer(POLICY, [], NOW, service=1, offers=[], client="a@client.example")
    assert slots and all(s.end - s.start == timedelta(minutes=90) for s in slots)


def test_held_times_are_not_offered_to_another_client() -> None:
    first = slots_to_offer(POLICY, [], NOW, service=0, offers=[], client="a@client.example")
    held = make_offer("a@client.example", first)
    second = slots_to_offer(POLICY, [], NOW, service=0, offers=[held], client="b@client.example")
    assert not set(first) & set(second)
    # the client who holds them gets them again
    again = slots_to_offer(POLICY, [], NOW, service=0, offers=[held], client="A+x@client.example")
    assert again == first


def test_a_flood_of_holds_never_leaves_a_client_without_times() -> None:
    """Fewer than slots_offered left: the oldest holds are offered again."""
    offers: list[Offer] = []
    for n in range(200):
        slots = slots_to_offer(POLICY, [], NOW, service=0, offers=offers,
                               client=f"c{n}@client.example")
        assert len(slots) == POLICY.booking.slots_offered
        offers.append(make_offer(f"c{n}@client.example", slots,
                                 created=NOW + timedelta(seconds=n), offer_id=f"<o{n}@x>"))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=119), min_size=1, max_size=12))
def test_the_search_for_holds_to_release_gives_the_fewest_from_any_start(
        hints: list[int]) -> None:
    """Where the search starts (the last search's end, kept between calls) changes its cost,
    never its answer: the offer with the fewest oldest holds released that leaves enough."""
    import rules.booking as booking
    from rules.availability import offer as offer_slots
    from rules.availability import prepare

    offers: list[Offer] = []
    for n in range(120):  # a flood: far more holds than the calendar has times
        slots = slots_to_offer(POLICY, [], NOW, service=0, offers=offers,
                               client=f"c{n}@client.example")
        offers.append(make_offer(f"c{n}@client.example", slots,
                                 created=NOW + timedelta(seconds=n), offer_id=f"<o{n}@x>"))
    wanted = POLICY.booking.slots_offered
    length = slot_length(POLICY, 0)
    holds = [prepare([BusyInterval(s.start, s.end, uid="h") for s in o.slots], ZONE)
             for o in offers]

    def released(k: int) -> list[Slot]:
        return offer_slots(POLICY, prepare([], ZONE).joined(*holds[k:]), NOW, duration=length)

    fewest = next(k for k in range(len(offers) + 1) if len(released(k)) >= wanted)
    expected = tuple(released(fewest))
    for hint in hints:
        booking._LAST_KEPT[0] = offers[hint].offer_id
        assert slots_to_offer(POLICY, [], NOW, service=0, offers=offers,
                              client="new@client.example") == expected
    booking._LAST_KEPT[0] = None
    assert slots_to_offer(POLICY, [], NOW, service=0, offers=offers,
                          client="new@client.example") == expected


def test_expired_holds_and_closed_offers_hold_nothing() -> None:
    first = slots_to_offer(POLICY, [], NOW, service=0, offers=[], client="a@client.example")
    old = make_offer("a@client.example", first, created=NOW - timedelta(hours=25))
    assert slots_to_offer(POLICY, [], NOW, service=0, offers=[old],
                          client="b@client.example") == first
    assert hold_until(POLICY, NOW) == NOW + timedelta(hours=24)


def test_a_hold_never_blocks_the_freelancers_own_events() -> None:
    first = slots_to_offer(POLICY, [], NOW, service=0, offers=[], client="a@client.example")
    offer = make_offer("a@client.example", first)
    mine = BusyInterval(first[0].start, first[0].end, uid="her-own")
    result = choose("1", offer, POLICY, [mine], NOW)
    assert isinstance(result, NotBookable) and "taken" in result.why


def test_choosing_by_number_books_that_slot() -> None:
    offered = slots_to_offer(POLICY, [], NOW, service=0, offers=[], client="a@client.example")
    offer = make_offer("a@client.example", offered)
    result = choose("Le 2 svp", offer, POLICY, [], NOW)
    assert isinstance(result, Book) and result.slot == offered[1] and not result.also_asks
    asking = choose("the first one's great — is there parking nearby?", offer, POLICY, [], NOW)
    assert isinstance(asking, Book) and asking.slot == offered[0] and asking.also_asks


def test_a_booked_appointment_is_not_booked_twice() -> None:
    offered = slots_to_offer(POLICY, [], NOW, service=0, offers=[], client="a@client.example")
    offer = make_offer("a@client.example", offered)
    booked = Appointment(uid="u", client="b@client.example", client_name="", service=0,
                         start=offered[0].start, end=offered[0].end)
    assert isinstance(choose("1", offer, POLICY, [], NOW, booked=[booked]), NotBookable)


def test_an_unclear_answer_is_asked_once_then_left() -> None:
    offered = slots_to_offer(POLICY, [], NOW, service=0, offers=[], client="a@client.example")
    offer = make_offer("a@client.example", offered)
    first = choose("Celui qui vous arrange", offer, POLICY, [], NOW)
    assert isinstance(first, AskWhich) and first.numbers == (1, 2, 3)
    again = choose("Celui qui vous arrange", make_offer("a@client.example", offered, asked=1),
                   POLICY, [], NOW)
    assert isinstance(again, LeaveIt)


def test_none_of_them_suits_gets_fresh_times() -> None:
    offered = slots_to_offer(POLICY, [], NOW, service=0, offers=[], client="a@client.example")
    offer = make_offer("a@client.example", offered)
    result = choose("Aucun ne me convient, auriez-vous un jeudi après-midi ?", offer, POLICY,
                    [], NOW)
    assert isinstance(result, Declined) and result.slots
    assert all(s.start.astimezone(ZONE).weekday() == 3 and s.start.astimezone(ZONE).hour >= 12
               for s in result.slots)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20 * 24 * 4), max_size=25),
       st.integers(min_value=1, max_value=6), st.integers(min_value=0, max_value=1))
def test_offered_slots_are_always_bookable_and_never_overlap_holds(
        busy_quarters: list[int], pick: int, service: int) -> None:
    """Invariants: every slot offered is bookable now; none overlaps another client's hold or
    the freelancer's busy time; a pick of an offered slot books exactly that slot or says why
    not."""
    busy = [BusyInterval(NOW + timedelta(minutes=15 * q), NOW + timedelta(minutes=15 * q + 60),
                         uid=f"b{q}") for q in busy_quarters]
    first = slots_to_offer(POLICY, busy, NOW, service=service, offers=[],
                           client="a@client.example")
    held = make_offer("a@client.example", first, service=service)
    second = slots_to_offer(POLICY, busy, NOW, service=service, offers=[held],
                            client="b@client.example")
    for slot in (*first, *second):
        assert why_not_bookable(POLICY, busy, NOW, slot) is None
    if len(second) == POLICY.booking.slots_offered and len(first) == len(second):
        assert not any(a.start < b.end and b.start < a.end for a in first for b in second) or \
            len(first) < POLICY.booking.slots_offered
    if first and pick <= len(first):
        result = choose(str(pick), held, POLICY, busy, NOW)
        assert isinstance(result, Book | NotBookable)
        if isinstance(result, Book):
            assert result.slot == first[pick - 1]
