"""When frontdesk stays silent (STANDARDS.md §1) and how it reads a client's mail: rules.mail's
pieces, and what the desk decides with them (rules.desk.read, the decision the daemon takes)."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.desk import (
    AboutAppointment,
    CalendarAnswers,
    Choose,
    ForFreelancer,
    Ignore,
    JudgeInvitations,
    Request,
    read,
)
from rules.mail import (
    InboundMessage,
    auto_submitted_value,
    detect_language,
    matches_pattern,
    not_for_us,
    strip_quoted,
)
from rules.mail import read as read_intent
from rules.mail.cues import cue_hits
from rules.mail.words import fold
from rules.model import ClientsPolicy, Freelancer, Hours, MailContext, Policy

JANE = "jane@freelance.example"
ALIAS = "contact@jane.example"
CLIENT = "client@example.org"
SELF = frozenset({JANE, ALIAS})

POLICY = Policy(
    freelancer=Freelancer(
        name="Jane", email=JANE, aliases=(ALIAS,), timezone="Europe/Paris", language="fr"
    ),
    hours=Hours(week={}),
    clients=ClientsPolicy(block=("*@spam.example", "Pest@Example.NET"), review=("boss@*",)),
)

BOOKING_FR = "Bonjour,\nJe voudrais prendre rendez-vous la semaine prochaine.\nMerci, Marie"
BOOKING_EN = "Hi Jane,\nCould we book a session next week?\nBest, John"


def mail(**changes: Any) -> InboundMessage:
    """A plain booking request from a client to Jane; `changes` override fields."""
    base = InboundMessage(
        message_id="m1@example.org",
        subject="Séance",
        from_address=CLIENT,
        from_name="Marie Client",
        return_path=CLIENT,
        to=(JANE,),
        text=BOOKING_FR,
        content_type="text/plain",
    )
    return replace(base, **changes)


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def is_booking_request(decision: object) -> bool:
    """The desk would offer times: a Request of kind booking."""
    return isinstance(decision, Request) and decision.kind == "booking"


def test_a_plain_booking_request_is_answered() -> None:
    decision = read(mail(), POLICY)
    assert isinstance(decision, Request)
    assert decision.kind == "booking"
    assert decision.language == "fr"
    assert decision.to == CLIENT and not decision.draft_why  # the envelope vouches for the sender
    assert any("je voudrais" in fired for fired in decision.fired), decision.fired
    assert "booking request" in decision.reason


# --- STANDARDS.md §1, one bullet at a time: a case that suppresses, a close one that does not ---

BULLETS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # (bullet, suppressing change, harmless change, words expected in the reason)
    (
        "Return-Path missing (3834 §2)",
        {"return_path": None},
        {"return_path": CLIENT},
        "Return-Path",
    ),
    ("Return-Path empty <> (3834 §2)", {"return_path": ""}, {"return_path": "x@y.example"}, "<>"),
    (
        "sender is the freelancer",
        {"from_address": JANE},
        {"from_address": "jane@other.example"},
        "freelancer",
    ),
    (
        "sender is an alias",
        {"from_address": ALIAS.upper().lower()},
        {"from_address": CLIENT},
        "freelancer",
    ),
    (
        "sender is a +subaddress of the freelancer",
        {"from_address": "jane+news@freelance.example"},
        {"from_address": "jane.doe@freelance.example"},
        "freelancer",
    ),
    (
        "multipart/report (3834 §2)",
        {"content_type": "multipart/report", "is_report": True},
        {"content_type": "multipart/mixed"},
        "delivery report",
    ),
    (
        "MAILER-DAEMON sender (3834 §2)",
        {"from_address": "mailer-daemon@mx.example"},
        {"from_address": "daemon.fan@mx.example"},
        "robot",
    ),
    (
        "postmaster sender",
        {"from_address": "postmaster@mx.example"},
        {"from_address": "postmistress@mx.example"},
        "robot",
    ),
    (
        "MAILER-DAEMON envelope sender",
        {"return_path": "mailer-daemon@mx.example"},
        {"return_path": "mailer@mx.example"},
        "Return-Path",
    ),
    ("List-Id (5230 §4.6)", {"list_headers": ("List-Id",)}, {"list_headers": ()}, "List-Id"),
    ("List-Unsubscribe (5230 §4.6)", {"list_headers": ("List-Unsubscribe",)}, {}, "mailing list"),
    (
        "Auto-Submitted: auto-replied (3834 §5)",
        {"auto_submitted": ("auto-replied",)},
        {"auto_submitted": ("no",)},
        "Auto-Submitted",
    ),
    (
        "Auto-Submitted: auto-replied (comment)",
        {"auto_submitted": ("auto-replied (vacation)",)},
        {"auto_submitted": ("No",)},
        "auto-replied",
    ),
    (
        "Auto-Submitted with parameters",
        {"auto_submitted": ("auto-generated; owner-email=x@y",)},
        {"auto_submitted": ("no (a human wrote this)",)},
        "auto-generated",
    ),
    (
        "Auto-Submitted checked on every occurrence",
        {"auto_submitted": ("no", "AUTO-NOTIFIED")},
        {"auto_submitted": ("no", " No ")},
        "AUTO-NOTIFIED",
    ),
    ("Precedence: bulk (3834 §7)", {"precedence": "bulk"}, {"precedence": "first-class"}, "bulk"),
    ("Precedence: junk", {"precedence": "Junk"}, {"precedence": "urgent"}, "junk"),
    ("Precedence: list", {"precedence": "list"}, {"precedence": ""}, "list"),
    (
        "X-Auto-Response-Suppress: All",
        {"x_auto_response_suppress": "All"},
        {"x_auto_response_suppress": "DR, RN, NRN"},
        "X-Auto-Response-Suppress",
    ),
    (
        "X-Auto-Response-Suppress: OOF",
        {"x_auto_response_suppress": "DR, OOF"},
        {"x_auto_response_suppress": "NDR"},
        "OOF",
    ),
    (
        "X-Auto-Response-Suppress: AutoReply",
        {"x_auto_response_suppress": "AutoReply"},
        {"x_auto_response_suppress": "RN"},
        "AutoReply",
    ),
    (
        "LISTSERV sender",
        {"from_address": "listserv@lists.example"},
        {"from_address": "lister@lists.example"},
        "robot",
    ),
    (
        "majordomo sender",
        {"from_address": "Majordomo@lists.example".lower()},
        {"from_address": "major@lists.example"},
        "robot",
    ),
    (
        "-request sender (3834 §2)",
        {"from_address": "yoga-request@lists.example"},
        {"from_address": "requests.desk@lists.example"},
        "list address",
    ),
    (
        "owner- sender",
        {"from_address": "owner-yoga@lists.example"},
        {"from_address": "yoga-owner@lists.example"},
        "list address",
    ),
    (
        "freelancer not among recipients (5230 §4.5)",
        {"to": ("someone@else.example",)},
        {"to": ("someone@else.example",), "cc": (ALIAS,)},
        "recipients",
    ),
    (
        "only Bcc'd, Resent-To counts",
        {"to": (), "cc": ()},
        {"to": (), "resent_to": (JANE,)},
        "recipients",
    ),
    (
        "Resent-Cc counts",
        {"to": ()},
        {"to": (), "resent_cc": ("JANE+clients@freelance.example",)},
        "recipients",
    ),
    (
        "Bcc counts",
        {"to": ("list@x.example",)},
        {"to": ("list@x.example",), "bcc": (JANE,)},
        "recipients",
    ),
    (
        "Exchange out-of-office by subject",
        {"subject": "Automatic reply: Séance"},
        {"subject": "A reply about my séance"},
        "out-of-office",
    ),
    (
        "French Exchange out-of-office",
        {"subject": "Réponse automatique : Séance"},
        {"subject": "Réponse à votre message : séance"},
        "out-of-office",
    ),
    (
        "Out of Office anywhere in the subject",
        {"subject": "Séance [Out of Office]"},
        {"subject": "Séance au bureau"},
        "out-of-office",
    ),
    (
        "Absence subject",
        {"subject": "Absence du 3 au 10 août"},
        {"subject": "Séance malgré mon absence ?"},
        "out-of-office",
    ),
    (
        "iCloud Auto reply",
        {"subject": "Auto reply: Séance"},
        {"subject": "Auto-école: séance"},
        "out-of-office",
    ),
    (
        "X-Apple-Action: VACATION",
        {"headers": (("x-apple-action", "VACATION"),)},
        {"headers": (("x-apple-action", "nothing"),)},
        "automatic",
    ),
    (
        "Reply-To is the freelancer (loop)",
        {"reply_to": JANE},
        {"reply_to": "marie@perso.example"},
        "loop",
    ),
    ("no sender address", {"from_address": ""}, {"from_address": "a@b.example"}, "sender"),
]


@pytest.mark.parametrize(
    ("bullet", "suppress", "harmless", "reason"), BULLETS, ids=[b[0] for b in BULLETS]
)
def test_rfc3834_not_for_us_each_bullet(
    bullet: str, suppress: dict[str, Any], harmless: dict[str, Any], reason: str
) -> None:
    stopped = not_for_us(mail(**suppress), SELF)
    assert stopped is not None, bullet
    assert reason.lower() in stopped.lower()
    assert read(mail(**suppress), POLICY) == Ignore(stopped)
    assert not_for_us(mail(**harmless), SELF) is None, bullet
    assert is_booking_request(read(mail(**harmless), POLICY))


def test_the_freelancers_addresses_are_the_policys() -> None:
    boss = replace(POLICY, freelancer=replace(POLICY.freelancer, email="boss@agency.example",
                                              aliases=()))
    assert is_booking_request(read(mail(to=("boss@agency.example",)), boss))
    assert isinstance(read(mail(), boss), Ignore)


@pytest.mark.parametrize(
    ("raw", "keyword"),
    [
        ("no", "no"),
        ("No", "no"),
        (" NO (typed by a human)", "no"),
        ("(comment first) no", "no"),
        ("auto-replied (vacation (nested))", "auto-replied"),
        ("auto-generated; type=dsn", "auto-generated"),
        ("", ""),
    ],
)
def test_auto_submitted_value_drops_comments_and_parameters(raw: str, keyword: str) -> None:
    assert auto_submitted_value(raw) == keyword


def test_empty_auto_submitted_still_suppresses() -> None:
    assert isinstance(read(mail(auto_submitted=("",)), POLICY), Ignore)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=3))
def test_rfc3834_any_auto_submitted_but_no_is_always_ignored(values: list[str]) -> None:
    msg = mail(auto_submitted=tuple(values))
    decision = read(msg, POLICY)
    if all(auto_submitted_value(v) == "no" for v in values):
        assert is_booking_request(decision)
    else:
        assert isinstance(decision, Ignore)
        assert "Auto-Submitted" in decision.reason


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["no", "No", "NO", "nO"]),
    st.sampled_from(["", " ", "(human)", " (a (nested) comment)", "; x=1"]),
)
def test_rfc3834_auto_submitted_no_never_suppresses(word: str, tail: str) -> None:
    assert is_booking_request(read(mail(auto_submitted=(word + tail,)), POLICY))


# --- clients.block and clients.review ---------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "patterns", "expected"),
    [
        ("bad@spam.example", ["*@spam.example"], True),
        ("BAD@SPAM.EXAMPLE", ["*@spam.example"], True),
        ("bad@spam.example", ["*@SPAM.example"], True),
        ("bad@notspam.example", ["*@spam.example"], False),
        ("bad@spam.example.org", ["*@spam.example"], False),
        ("pest@example.net", ["Pest@Example.NET"], True),
        ("boss@anything.example", ["boss@*"], True),
        ("", ["*"], False),
        ("a@b.example", [], False),
        ("a@b.example", ["  ", "*@b.example "], True),
    ],
)
def test_matches_pattern_is_shell_style_and_case_insensitive(
    address: str, patterns: list[str], expected: bool
) -> None:
    assert matches_pattern(address, patterns) is expected


def test_blocked_client_is_ignored() -> None:
    decision = read(mail(from_address="x@spam.example", return_path="x@spam.example"), POLICY)
    assert decision == Ignore("x@spam.example matches clients.block")


def test_blocked_by_reply_to() -> None:
    decision = read(mail(reply_to="PEST@example.net".lower()), POLICY)
    assert isinstance(decision, Ignore)
    assert "clients.block" in decision.reason


def test_review_client_is_left_for_the_freelancer() -> None:
    decision = read(mail(from_address="boss@agency.example"), POLICY)
    assert decision == ForFreelancer("boss@agency.example matches clients.review")


def test_block_wins_over_review_and_not_for_us_comes_first() -> None:
    policy = replace(POLICY, clients=ClientsPolicy(block=("*@x.example",), review=("*@x.example",)))
    assert isinstance(read(mail(from_address="a@x.example"), policy), Ignore)
    decision = read(mail(from_address="a@x.example", precedence="bulk"), policy)
    assert isinstance(decision, Ignore) and "Precedence" in decision.reason


# --- invitations ------------------------------------------------------------------------------

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:{}\r\nBEGIN:VEVENT\r\nUID:1\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.mark.parametrize(
    "parts",
    [
        (("REQUEST", ICS.format("REQUEST")),),
        (("", ICS.format("REQUEST")),),  # Google's attachment without a method parameter
        (("REQUEST", ICS.replace("METHOD:{}\r\n", "")),),  # METHOD only on the MIME part
        (("request", ICS.format("request")),),
        (("", ICS.format("CANCEL")), ("REQUEST", ICS.format("REQUEST"))),
        (("", "BEGIN:VCALENDAR\r\nMETH\r\n OD:REQUEST\r\nEND:VCALENDAR\r\n"),),  # folded line
    ],
)
def test_rfc6047_request_goes_to_the_invitation_guard(parts: tuple[tuple[str, str], ...]) -> None:
    decision = read(mail(calendar_parts=parts, text="", subject="Invitation"), POLICY)
    assert isinstance(decision, JudgeInvitations)
    assert decision.parts
    assert set(decision.parts) <= set(parts)
    assert decision.sender == CLIENT


@pytest.mark.parametrize("method", ["CANCEL", "PUBLISH", "DECLINECOUNTER"])
def test_rfc5546_other_methods_have_nothing_to_answer(method: str) -> None:
    for param in (method, ""):
        decision = read(mail(calendar_parts=((param, ICS.format(method)),)), POLICY)
        assert decision == Ignore(f"calendar METHOD {method}: nothing to answer")


@pytest.mark.parametrize("method", ["REPLY", "COUNTER"])
def test_rfc5546_a_calendar_apps_answer_is_matched_with_the_appointments(method: str) -> None:
    for param in (method, ""):
        parts = ((param, ICS.format(method)),)
        decision = read(mail(calendar_parts=parts), POLICY)
        assert isinstance(decision, CalendarAnswers), decision
        assert decision.parts == parts
        assert decision.sender == CLIENT


def test_mime_method_disagreeing_with_the_calendar_is_left_for_the_freelancer() -> None:
    decision = read(mail(calendar_parts=(("REQUEST", ICS.format("CANCEL")),)), POLICY)
    assert isinstance(decision, ForFreelancer)
    assert "CANCEL" in decision.reason


def test_a_bare_ics_without_method_is_read_as_a_mail() -> None:
    parts = (("", ICS.replace("METHOD:{}\r\n", "")),)
    assert is_booking_request(read(mail(calendar_parts=parts), POLICY))


def test_invitation_from_a_list_is_still_not_for_us() -> None:
    parts = (("REQUEST", ICS.format("REQUEST")),)
    decision = read(mail(calendar_parts=parts, list_headers=("List-Id",)), POLICY)
    assert isinstance(decision, Ignore)


# --- intent: booking requests, objections, thank-you notes ------------------------------------

BOOKINGS = [
    ("Rendez-vous", "Bonjour, est-ce possible mardi à 10h ?"),
    ("", "Bonjour,\nJe voudrais prendre rendez-vous la semaine prochaine.\nCordialement"),
    ("", "Bonjour, êtes-vous disponible jeudi pour une séance ?"),
    ("", "Bonjour, etes-vous disponible jeudi pour une seance ?"),
    ("", "ETES VOUS DISPONIBLE LUNDI ?"),
    ("Demande de RDV", "Bonjour"),
    ("", "Avez-vous un créneau mercredi après-midi ?"),
    ("", "Quelles sont vos disponibilités pour une séance la semaine prochaine ?"),
    ("", "Quelles sont vos disponibilites ?"),
    ("", "Seriez-vous libre mardi ?"),
    ("", "Bonjour, je souhaiterais un rendez vous svp"),
    ("", "Je voudrais réserver une séance."),
    ("", "je voudrais reserver une seance"),
    ("", "Est-il possible de prendre rdv jeudi ?"),
    ("", "Bonjour, je suis dispo la semaine prochaine, on peut caler un créneau ?"),
    ("", "Merci pour la séance d'hier, pourrions-nous en prévoir une autre la semaine prochaine ?"),
    ("", "Pouvez-vous me proposer un créneau ?"),
    ("", "Hi, I'd like to book a session next week\nThanks\nJohn"),
    ("", "Hi,\nAre you available on Tuesday for a session?\nBest,\nJohn"),
    ("", "Hello, I would like to schedule an appointment."),
    ("Booking", "Do you have any slots free next week?"),
    ("", "Could we schedule a call? Thanks in advance for your reply."),
    ("", "Thanks for the session yesterday, could we book another one next week?"),
    ("", "What is your availability for a consultation?"),
    ("", "Are you free next week for a session?"),
    ("Appointment request", "Hello Jane, is Tuesday at 3pm possible?"),
    ("", "I need an appointment, please."),
    ("", "Can I book you for two hours on Friday?"),
    ("", "I'd like to book a session, how do I pay?"),
]

# About an appointment one has: cancelling or moving it is read as such (the desk then checks whose
# appointment it is), or left for the freelancer; never silence, and no offer of new times.
CHANGES = [
    ("", "Je n'ai pas pu venir hier, pourrions-nous reprogrammer la séance ?"),
    ("", "Je dois annuler ma séance de demain, pourrions-nous la reporter ?"),
    ("", "I have to cancel tomorrow's session, could we book another one next week?"),
]

THANK_YOUS = [
    ("", "Merci pour la séance d'hier !"),
    ("Re: Séance de demain", "Merci pour la séance d'hier, c'était super."),
    ("", "Merci beaucoup pour la seance d'hier, c'etait tres utile."),
    ("", "Un grand merci pour notre séance de la semaine dernière !"),
    ("", "Thanks for the session yesterday!"),
    ("", "Thanks for the session yesterday! How did you find it?"),
    ("", "Thank you so much for the session yesterday, it was great."),
    ("", "I'd like to thank you for the session yesterday."),
    ("", "Thank you for yesterday"),
    ("Re: our session", "The session was great, see you soon."),
    ("", "Please find attached the payment for the session."),
    ("Re: Vos disponibilités", "Mardi 10h me va très bien, merci !"),
    ("", "Quel est votre tarif ?"),
    ("", "Bonjour, voici la facture."),
    ("", "Hello, just checking in."),
    ("", "Can you send me the invoice for the session?"),
    ("", "Pourriez-vous m'envoyer la facture de la séance ?"),
    ("", "I need to cancel my session tomorrow."),
    ("", "Je souhaite annuler mon rendez-vous de jeudi."),
]

OBJECTIONS = [
    (
        "",
        "Je voudrais réserver une séance mais c'est un peu cher pour moi, avez-vous un tarif "
        "réduit ?",
    ),
    ("", "Votre tarif est trop cher pour moi."),
    ("", "Votre tarif est trop cher pour moi.".upper()),
    ("", "C'est hors de prix !"),
    ("", "Je n'ai pas les moyens en ce moment."),
    ("", "Auriez-vous quelque chose de moins cher ?"),
    ("", "Un petit rabais serait possible ?"),
    ("", "Serait-il possible d'avoir une réduction ?"),
    ("", "Je n'ai plus les moyens de venir chaque semaine."),
    ("Budget", "Bonjour"),
    ("", "That's too expensive for me, sorry."),
    ("", "I can't afford it right now."),
    ("", "I can’t afford it right now."),  # typographic apostrophe
    ("", "I cannot afford a session at that price, could I book a shorter one?"),
    ("", "Do you offer a student discount?"),
    ("", "Your rate is a bit pricey for me."),
    ("Re: Booking", "Could we book? It's expensive though."),
]


@pytest.mark.parametrize(("subject", "text"), BOOKINGS)
def test_booking_requests_are_recognised(subject: str, text: str) -> None:
    decision = read(mail(subject=subject, text=text), POLICY)
    assert is_booking_request(decision), decision
    assert isinstance(decision, Request) and decision.fired


@pytest.mark.parametrize(("subject", "text"), CHANGES)
def test_cancelling_or_moving_is_not_a_new_booking_request(subject: str, text: str) -> None:
    decision = read(mail(subject=subject, text=text), POLICY)
    assert isinstance(decision, (AboutAppointment, ForFreelancer)), decision


@pytest.mark.parametrize(("subject", "text"), THANK_YOUS)
def test_thank_you_notes_and_other_mail_are_not_booking_requests(subject: str, text: str) -> None:
    decision = read(mail(subject=subject, text=text), POLICY)
    assert not isinstance(decision, Request), decision


@pytest.mark.parametrize(("subject", "text"), OBJECTIONS)
def test_price_objections_win_over_booking_words(subject: str, text: str) -> None:
    msg = mail(subject=subject, text=text)
    reading = read_intent(msg, MailContext(), POLICY)
    assert reading.intent == "objection", reading.signals
    decision = read(msg, POLICY)
    assert isinstance(decision, (Request, ForFreelancer)), decision
    assert decision.kind == "objection"


@pytest.mark.parametrize(
    "text",
    [
        "Cher Monsieur, je voudrais prendre rendez-vous.",  # "cher" alone is "dear"
        "Ce n'est pas trop cher, je voudrais réserver une séance.",
        "It is not too expensive, I'd like to book a session.",
        "Je voudrais réserver une séance pour mon budgétiste ?",
        "Could we book a session? I'm available on weekdays.",
        "Je voudrais réserver une séance de remise en forme.",
        "Avez-vous un créneau pour une séance de réduction du stress ?",
    ],
)
def test_objection_words_match_whole_words_and_respect_negation(text: str) -> None:
    assert is_booking_request(read(mail(subject="", text=text), POLICY))


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour, auriez-vous une réduction pour les étudiants ?",
        "Une remise de 10 % serait-elle possible ? Merci",
        "Est-ce qu'une réduction de prix est envisageable ?",
        "Hello, that is over my budget, is there any discount?",
        "Nos budgets sont serrés cette année, pourriez-vous faire un geste ?",
    ],
)
def test_the_same_words_about_the_price_are_still_objections(text: str) -> None:
    reading = read_intent(mail(subject="", text=text), MailContext(), POLICY)
    assert reading.intent == "objection", reading.signals


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour, avez-vous des disponibilités la semaine prochaine ?",
        "As-tu encore de la place jeudi ?",
        "Auriez-vous un créneau mardi matin ?",
        "Could I book a session next week?",
        "I'd like to rebook for Thursday, if you have room.",
    ],
)
def test_narrowed_cues_still_read_requests(text: str) -> None:
    assert is_booking_request(read(mail(subject="", text=text), POLICY))


@pytest.mark.parametrize(
    "text",
    [
        "Avez-vous vu le disponibleur ?",
        "Thanks for the bookkeeping?",
    ],
)
def test_whole_words_only(text: str) -> None:
    assert not isinstance(read(mail(subject="", text=text), POLICY), Request)


def test_cues_match_whole_words() -> None:
    hits = cue_hits(fold("Avez-vous vu le disponibleur ?"))
    assert not any("disponib" in hit for hit in hits.values()), hits


def test_the_fired_words_explain_each_decision() -> None:
    decision = read(mail(subject="", text="Votre tarif est trop cher pour moi."), POLICY)
    assert isinstance(decision, Request)
    assert (decision.kind, decision.language) == ("objection", "fr")
    assert any('"trop cher"' in fired for fired in decision.fired), decision.fired
    assert decision.reason.startswith("a price objection")
    ignored = read(mail(subject="", text="Merci pour la séance d'hier !"), POLICY)
    assert isinstance(ignored, Ignore)
    assert ignored.reason.startswith("nothing to answer")
    assert '"merci pour"' in ignored.reason


VOCABULARY = [
    "Bonjour",
    "je",
    "voudrais",
    "réserver",
    "une",
    "séance",
    "créneau",
    "disponibilités",
    "êtes-vous",
    "libre",
    "mardi",
    "?",
    "merci",
    "pour",
    "hier",
    "trop",
    "cher",
    "rabais",
    "prendre",
    "rendez-vous",
    "c'était",
    "très",
    "bien",
    "book",
    "session",
    "could",
    "we",
    "thanks",
    "for",
    "yesterday",
    "too",
    "expensive",
    "à",
    "la",
    "semaine",
    "prochaine",
    ".",
    ",",
    "\n",
    "Thank",
    "you",
    "coûteux",
    "Ç",
    "œuvre",
    "élevé",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(VOCABULARY), max_size=25),
    st.lists(st.sampled_from(VOCABULARY), max_size=5),
)
def test_intent_ignores_accents_and_case(words: list[str], subject_words: list[str]) -> None:
    text = " ".join(words)
    subject = " ".join(subject_words)

    def reading(subject: str, text: str) -> tuple[str, float, str, str]:
        got = read_intent(mail(subject=subject, text=text), MailContext(), POLICY)
        return got.intent, got.confidence, got.band, got.language

    expected = reading(subject, text)
    assert reading(strip_accents(subject), strip_accents(text)) == expected
    assert reading(subject.upper(), text.upper()) == expected


# Plain ways of saying the price is an obstacle (each is a price cue of rules.mail.cues).
PRICE_PHRASES = [
    "trop cher",
    "trop chère",
    "un peu cher",
    "pas les moyens",
    "plus les moyens",
    "hors de prix",
    "moins cher",
    "rabais",
    "ristourne",
    "tarif réduit",
    "petite réduction",
    "hors budget",
    "too expensive",
    "expensive",
    "can't afford",
    "cannot afford",
    "more affordable",
    "discount",
    "lower price",
    "reduced rate",
    "out of my budget",
    "overpriced",
    "too costly",
]


@pytest.mark.parametrize("phrase", PRICE_PHRASES)
def test_each_price_phrase_is_a_price_cue(phrase: str) -> None:
    assert {"price_objection", "objection_explicit"} & set(cue_hits(fold(phrase)))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(VOCABULARY), max_size=20),
    st.sampled_from(PRICE_PHRASES),
)
def test_price_words_never_get_a_booking_offer(words: list[str], objection: str) -> None:
    text = " ".join(words) + " . " + objection + " !"
    assert not is_booking_request(read(mail(subject="", text=text), POLICY))


# --- quoted history and signatures ------------------------------------------------------------

QUOTED = [
    # Gmail, English
    "Could we book a session?\n\nOn Mon, Mar 4, 2024 at 10:15 AM Jane Doe <jane@freelance.example> "
    "wrote:\n> Thanks for the session yesterday!\n> Jane",
    # Gmail, English, attribution wrapped over two lines
    "Could we book a session?\n\nOn Mon, Mar 4, 2024 at 10:15 AM Jane Doe <\n"
    "jane@freelance.example> wrote:\n\nThanks for the session yesterday!",
    # Gmail, French
    "Could we book a session?\n\nLe lun. 4 mars 2024 à 10:15, Jane Doe <jane@freelance.example> a "
    "écrit :\n> Merci pour la séance d'hier !",
    # Gmail, French, non-breaking space before the colon
    "Could we book a session?\n\nLe lun. 4 mars 2024 à 10:15, Jane <j@x.example> a écrit\u00a0:\n"
    "Merci pour la séance d'hier !",
    # Outlook, English
    "Could we book a session?\n\n________________________________\nFrom: Jane Doe\n"
    "Sent: Monday, March 4, 2024 10:15 AM\nTo: Client\nSubject: Thanks\n\nThanks for yesterday!",
    # Outlook, English, no separator line
    "Could we book a session?\n\nFrom: Jane Doe <jane@freelance.example>\nSent: Monday, March 4, "
    "2024 10:15 AM\nTo: Client <client@example.org>\n\nThank you for the session yesterday.",
    # Outlook, French
    "Could we book a session?\n\nDe : Jane Doe <jane@freelance.example>\nEnvoyé : lundi 4 mars "
    "2024 10:15\nÀ : Client\nObjet : Merci\n\nMerci pour la séance d'hier !",
    # Outlook, old style
    "Could we book a session?\n\n-----Original Message-----\nFrom: Jane\nThanks for yesterday!",
    "Could we book a session?\n\n-----Message d'origine-----\nDe : Jane\nMerci pour hier !",
    # Apple Mail, French, signature then quote
    "Could we book a session?\n\nEnvoyé de mon iPhone\n\n> Le 4 mars 2024 à 10:15, Jane Doe "
    "<jane@freelance.example> a écrit :\n> \n> Merci pour la séance d'hier !",
    # Apple Mail, English
    "Could we book a session?\n\nSent from my iPhone\n\n> On Mar 4, 2024, at 10:15, Jane Doe "
    "<jane@freelance.example> wrote:\n> \n> Thanks for the session yesterday!",
    # Thunderbird
    "Could we book a session?\n\nOn 04/03/2024 10:15, Jane Doe wrote:\n> Thanks for yesterday!",
    # A "-- " signature
    "Could we book a session?\n\n-- \nJohn Client\nThanks for the session yesterday!",
    # Apple forward
    "Could we book a session?\n\nBegin forwarded message:\n\nFrom: Jane\nThanks for yesterday!",
]


@pytest.mark.parametrize("text", QUOTED)
def test_strip_quoted_drops_history_and_signatures(text: str) -> None:
    new = strip_quoted(text)
    assert new == "Could we book a session?"


def test_strip_quoted_keeps_inline_answers_between_quotes() -> None:
    text = "> Are you still interested?\nYes, could we book a session?\n> Jane"
    assert strip_quoted(text) == "Yes, could we book a session?"


def test_strip_quoted_keeps_a_line_that_only_starts_like_an_attribution() -> None:
    text = "Le mardi me convient.\nOn peut caler un créneau ?"
    assert strip_quoted(text) == text


def test_quoted_booking_words_do_not_make_a_booking() -> None:
    text = (
        "Merci pour la séance d'hier !\n\nLe lun. 4 mars 2024 à 10:15, Jane <j@x.example> a écrit"
        " :\n> Seriez-vous disponible pour une autre séance ?"
    )
    decision = read(mail(subject="Re: Séance", text=text), POLICY)
    assert isinstance(decision, Ignore)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab >\n-:Le écritOnwrote")), max_size=200))
def test_strip_quoted_never_returns_a_quoted_line(text: str) -> None:
    assert not any(line.lstrip().startswith(">") for line in strip_quoted(text).splitlines())


# --- language ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bonjour, je voudrais prendre rendez-vous la semaine prochaine.", "fr"),
        ("Bonjour, je voudrais prendre rendez-vous la semaine prochaine.".upper(), "fr"),
        ("Bonjour, etes-vous disponible pour une seance ?", "fr"),
        ("J'aimerais réserver une séance, s'il vous plaît.", "fr"),
        ("Hi Jane, could we book a session next week? Thanks, John", "en"),
        ("Hello, I would like to schedule an appointment with you.", "en"),
        ("RDV ?", "xx"),
        ("", "xx"),
        ("Jane", "xx"),
    ],
)
def test_detect_language_from_the_clients_words(text: str, expected: str) -> None:
    assert detect_language(text, "xx") == expected


def test_answer_language_is_the_clients_else_the_freelancers() -> None:
    english = read(mail(subject="Booking", text=BOOKING_EN), POLICY)
    assert is_booking_request(english)
    assert isinstance(english, Request) and english.language == "en"
    unclear = read_intent(mail(subject="RDV ?", text=""), MailContext(), POLICY)
    assert unclear.language == "fr"
    policy_en = replace(POLICY, freelancer=replace(POLICY.freelancer, language="en"))
    unclear_en = read_intent(mail(subject="RDV ?", text=""), MailContext(), policy_en)
    assert unclear_en.language == "en"


def test_language_ignores_the_quoted_history() -> None:
    text = (
        "Could we book a session next week?\n\nLe lun. 4 mars 2024 à 10:15, Jane <j@x.example> a "
        "écrit :\n> Bonjour, je vous remercie pour votre message, je suis en vacances et je "
        "reviens la semaine prochaine avec plaisir."
    )
    decision = read(mail(subject="Re: Séance", text=text), POLICY)
    assert isinstance(decision, Request) and decision.language == "en"


def test_repaired_headers_leave_an_answer_to_the_freelancer() -> None:
    decision = read(mail(headers_ok=False), POLICY)
    assert isinstance(decision, ForFreelancer)
    assert "headers" in decision.reason
    thanks = read(mail(headers_ok=False, text="Merci !", subject=""), POLICY)
    assert not isinstance(thanks, (Request, Choose, AboutAppointment)), thanks
