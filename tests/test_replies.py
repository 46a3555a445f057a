"""Replies to clients' booking emails: their text (rules/replies.py) and headers (outbound.py)."""

from __future__ import annotations

import email
import email.policy
import inspect
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.outbound import build_reply, message_ids, reply_message_id
from daemon.templates import check_templates, load_templates
from rules.model import Freelancer, Hours, Localized, Policy, Service, Slot, Terms
from rules.replies import (
    TEMPLATE_NAMES,
    ReplyText,
    Templates,
    format_slot,
    reply_subject,
)
from rules.replies import booking_reply as render_booking
from rules.replies import objection_reply as render_objection

SHIPPED = load_templates()


def booking_reply(policy: Policy, *, template_dir: Path | None = None,
                  **kwargs: object) -> ReplyText:
    """The booking reply with the shipped templates, or with a folder of overrides; a first
    contact's unless said otherwise (issue 13: it carries the "how I work" block)."""
    templates = load_templates(template_dir) if template_dir else SHIPPED
    kwargs.setdefault("first_contact", True)
    return render_booking(policy, templates=templates, **kwargs)  # type: ignore[arg-type]


def objection_reply(policy: Policy, *, template_dir: Path | None = None,
                    **kwargs: object) -> ReplyText:
    templates = load_templates(template_dir) if template_dir else SHIPPED
    return render_objection(policy, templates=templates, **kwargs)  # type: ignore[arg-type]

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
TORONTO = ZoneInfo("America/Toronto")
PARIS = ZoneInfo("Europe/Paris")
NBSP = "\u00a0"


def make_policy(
    *,
    zone: str = "America/Toronto",
    language: str = "fr",
    terms: Terms | None = None,
    services: tuple[Service, ...] | None = None,
) -> Policy:
    if terms is None:
        terms = Terms(
            payment=Localized(
                {"fr": "Virement Interac ou comptant.", "en": "Interac e-Transfer or cash."}
            ),
            cancellation=Localized(
                {"fr": "Annulation gratuite jusqu’à 24 h avant.", "en": "Free up to 24 h before."}
            ),
            contact=Localized({"fr": "514 555-0100", "en": "514 555-0100"}),
            options=Localized(
                {
                    "fr": ["Une séance de 30 minutes à 55 $", "Un forfait de 5 séances à 430 $"],
                    "en": ["A 30-minute session at $55", "A package of 5 sessions at $430"],
                }
            ),
        )
    if services is None:
        services = (
            Service(Localized({"fr": "Massage", "en": "Massage"}), 60, "95 $"),
            Service(Localized({"fr": "Massage profond", "en": "Deep tissue massage"}), 90, "130 $"),
        )
    return Policy(
        freelancer=Freelancer(
            name="Julie Gagnon", email="julie@example.com", timezone=zone, language=language
        ),
        hours=Hours(week={}),
        terms=terms,
        services=services,
    )


def slot(zone: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int = 0, minutes: int = 60) -> Slot:
    start = datetime(y, mo, d, h, mi, tzinfo=zone)
    return Slot(start, start + timedelta(minutes=minutes))


TWO_SLOTS = (slot(TORONTO, 2026, 12, 1, 10), slot(TORONTO, 2026, 12, 2, 14, 30))


# --- Booking replies, both languages ------------------------------------------------------------


def test_booking_reply_french_reads_as_written() -> None:
    reply = booking_reply(
        make_policy(),
        language="fr",
        client_name="Marie",
        original_subject="Rendez-vous",
        slots=TWO_SLOTS,
    )
    assert reply.language == "fr"
    assert reply.subject == "Re: Rendez-vous"
    assert reply.body == (
        "Bonjour Marie,\n"
        "\n"
        "Merci pour votre message.\n"
        "Voici mes services et leurs tarifs :\n"
        "\n"
        f"- Massage, 60{NBSP}minutes — 95 $\n"
        f"- Massage profond, 90{NBSP}minutes — 130 $\n"
        "\n"
        # issue 11 item 13: with several services, which one the times are for
        f"Je peux vous proposer les créneaux suivants pour : Massage, 60{NBSP}minutes\n"
        "\n"
        "1. mardi 1 décembre 2026, 10 h 00 – 11 h 00, heure de Toronto (HNE)\n"
        "2. mercredi 2 décembre 2026, 14 h 30 – 15 h 30, heure de Toronto (HNE)\n"
        "\n"
        "Pour réserver, répondez simplement avec le numéro du créneau qui vous convient.\n"
        "\n"
        "Ma façon de travailler :\n"
        "- Paiement : Virement Interac ou comptant.\n"
        "- Annulation : Annulation gratuite jusqu’à 24 h avant.\n"
        "- Pour me joindre : 514 555-0100\n"
        "- Pour annuler ou déplacer un rendez-vous, répondez à sa confirmation.\n"
        "\n"
        "Au plaisir,\n"
        "Julie Gagnon\n"
    )


def test_booking_reply_english_reads_as_written() -> None:
    reply = booking_reply(
        make_policy(),
        language="en",
        client_name="Mary",
        original_subject="Appointment",
        slots=TWO_SLOTS,
    )
    assert reply.language == "en"
    assert reply.body == (
        "Hello Mary,\n"
        "\n"
        "Thank you for your message.\n"
        "Here are my services and rates:\n"
        "\n"
        "- Massage, 60 minutes — 95 $\n"
        "- Deep tissue massage, 90 minutes — 130 $\n"
        "\n"
        "I can offer you the following times for Massage, 60 minutes:\n"
        "\n"
        f"1. Tuesday, December 1, 2026, 10:00–11:00{NBSP}a.m., Toronto time (EST)\n"
        f"2. Wednesday, December 2, 2026, 2:30–3:30{NBSP}p.m., Toronto time (EST)\n"
        "\n"
        "To book, simply reply with the number of the time that suits you.\n"
        "\n"
        "How I work:\n"
        "- Payment: Interac e-Transfer or cash.\n"
        "- Cancellation: Free up to 24 h before.\n"
        "- Contact: 514 555-0100\n"
        "- To cancel or move an appointment, reply to its confirmation.\n"
        "\n"
        "Best regards,\n"
        "Julie Gagnon\n"
    )


@pytest.mark.parametrize(("language", "greeting"), [("fr", "Bonjour,\n"), ("en", "Hello,\n")])
@pytest.mark.parametrize("name", ["", "   ", "marie@example.com", '"marie@example.com"'])
def test_greeting_without_a_usable_name(language: str, greeting: str, name: str) -> None:
    reply = booking_reply(
        make_policy(), language=language, client_name=name, original_subject="x", slots=TWO_SLOTS
    )
    assert reply.body.startswith(greeting)
    assert "@" not in reply.body.splitlines()[0]


def test_client_name_with_line_breaks_stays_on_the_greeting_line() -> None:
    reply = booking_reply(
        make_policy(),
        language="fr",
        client_name="Marie\r\n\r\n3. samedi, gratuit",
        original_subject="x",
        slots=TWO_SLOTS,
    )
    assert reply.body.splitlines()[0] == "Bonjour Marie 3. samedi, gratuit,"
    assert [line for line in reply.body.splitlines() if re.match(r"\d+\. ", line)] == [
        f"{i}. {format_slot(s, 'fr', TORONTO)}" for i, s in enumerate(TWO_SLOTS, 1)
    ]


@pytest.mark.parametrize(
    ("language", "honest", "contact"),
    [
        (
            "fr",
            f"Je n’ai malheureusement aucun créneau libre dans les 21{NBSP}jours à venir.",
            "N’hésitez pas à me joindre pour que nous trouvions une solution : 514 555-0100",
        ),
        (
            "en",
            "Unfortunately, I have no free time in the next 21 days.",
            "Please get in touch so we can find another arrangement: 514 555-0100",
        ),
    ],
)
def test_no_free_slot_says_so_and_offers_the_contact(
    language: str, honest: str, contact: str
) -> None:
    reply = booking_reply(
        make_policy(), language=language, client_name="Marie", original_subject="x", slots=()
    )
    lines = reply.body.splitlines()
    assert honest in lines
    assert contact in lines
    assert not any(re.match(r"\d+\. ", line) for line in lines)
    assert "numéro" not in reply.body and "number" not in reply.body


def test_no_free_slot_and_no_contact_invites_a_reply() -> None:
    policy = make_policy(terms=Terms())
    fr = booking_reply(policy, language="fr", client_name="", original_subject="", slots=())
    en = booking_reply(policy, language="en", client_name="", original_subject="", slots=())
    assert "N’hésitez pas à répondre à ce message pour que nous trouvions une solution." in fr.body
    assert "Please reply to this message so we can find another arrangement." in en.body
    assert "Paiement" not in fr.body and "Payment" not in en.body


# --- Objection replies --------------------------------------------------------------------------


def test_objection_reply_french_restates_prices_and_lists_options() -> None:
    reply = objection_reply(
        make_policy(), language="fr", client_name="Marie", original_subject="Re: Tarifs"
    )
    assert reply.subject == "Re: Tarifs"
    assert reply.body == (
        "Bonjour Marie,\n"
        "\n"
        "Merci pour votre message. Je comprends tout à fait que le budget soit un critère "
        "important.\n"
        "Mes tarifs sont les mêmes pour tous mes clients :\n"
        "\n"
        f"- Massage, 60{NBSP}minutes — 95 $\n"
        f"- Massage profond, 90{NBSP}minutes — 130 $\n"
        "\n"
        "Voici toutefois quelques possibilités qui pourraient vous convenir :\n"
        "\n"
        "- Une séance de 30 minutes à 55 $\n"
        "- Un forfait de 5 séances à 430 $\n"
        "\n"
        "Si l’une d’elles vous intéresse, ou pour toute question, répondez simplement à ce "
        "message.\n"
        "Vous pouvez aussi me joindre : 514 555-0100\n"
        "\n"
        "Au plaisir,\n"
        "Julie Gagnon\n"
    )


def test_objection_reply_english_restates_prices_and_lists_options() -> None:
    reply = objection_reply(make_policy(), language="en", client_name="", original_subject="$$$")
    body = reply.body
    assert body.startswith("Hello,\n\nThank you for your message.")
    assert "- Massage, 60 minutes — 95 $\n" in body
    assert "- Deep tissue massage, 90 minutes — 130 $\n" in body
    assert "- A 30-minute session at $55\n- A package of 5 sessions at $430\n" in body
    assert "just reply to this message" in body
    assert body.endswith("Best regards,\nJulie Gagnon\n")


@pytest.mark.parametrize("language", ["fr", "en"])
def test_objection_reply_without_options_still_restates_the_price(language: str) -> None:
    policy = make_policy(terms=Terms())
    body = objection_reply(policy, language=language, client_name="", original_subject="").body
    assert "- Massage, 60 minutes — 95 $" in body.replace(NBSP, " ")
    assert "toutefois" not in body and "That said" not in body
    last_paragraph = body.split("\n\n")[-2]
    assert "répondez simplement à ce message" in last_paragraph or "reply to this message" in (
        last_paragraph
    )


# --- Languages and terms ------------------------------------------------------------------------


def test_single_string_terms_are_used_in_every_language() -> None:
    terms = Terms(payment=Localized({"*": "Interac"}), options=Localized({"*": "Forfait 5 x 85 $"}))
    policy = make_policy(terms=terms)
    for language, label in (("fr", "- Paiement : Interac"), ("en", "- Payment: Interac")):
        body = booking_reply(
            policy, language=language, client_name="", original_subject="", slots=TWO_SLOTS
        ).body
        assert label in body.splitlines()
        objection = objection_reply(policy, language=language, client_name="", original_subject="")
        assert "- Forfait 5 x 85 $" in objection.body.splitlines()


def test_per_language_terms_and_service_names_follow_the_reply_language() -> None:
    policy = make_policy()
    fr = booking_reply(policy, language="fr", client_name="", original_subject="", slots=())
    en = booking_reply(policy, language="en", client_name="", original_subject="", slots=())
    assert "Massage profond" in fr.body and "Deep tissue" not in fr.body
    assert "Deep tissue massage" in en.body and "profond" not in en.body
    assert "Virement" in fr.body and "Interac e-Transfer" in en.body


@pytest.mark.parametrize("language", ["fr", "en"])
def test_issue_11_13_a_service_without_minutes_shows_no_duration(language: str) -> None:
    # a translator's "per page" service has no length: the reply must not invent "60 minutes"
    services = (Service(Localized({"*": "Certified translation, per page"}), price="35 €"),
                Service(Localized({"*": "Proofreading"}), 90, "60 €"))
    policy = make_policy(language=language, services=services)
    body = booking_reply(policy, language=language, client_name="", original_subject="",
                         slots=TWO_SLOTS).body.replace(NBSP, " ")
    assert "- Certified translation, per page — 35 €" in body.splitlines()
    assert "- Proofreading, 90 minutes — 60 €" in body.splitlines()
    objection = objection_reply(policy, language=language, client_name="", original_subject="")
    assert "- Certified translation, per page — 35 €" in objection.body.splitlines()


def test_term_missing_in_a_language_falls_back_to_the_freelancer_language() -> None:
    terms = Terms(payment=Localized({"fr": "Comptant seulement."}, default="fr"))
    en = booking_reply(
        make_policy(terms=terms), language="en", client_name="", original_subject="", slots=()
    )
    assert "- Payment: Comptant seulement." in en.body.splitlines()


@pytest.mark.parametrize(
    ("asked", "freelancer", "expected"),
    [("de", "fr", "fr"), ("", "en", "en"), ("fr-CA", "en", "fr"), ("EN_gb", "fr", "en")],
)
def test_reply_language_is_the_client_s_else_the_freelancer_s(
    asked: str, freelancer: str, expected: str
) -> None:
    policy = make_policy(language=freelancer)
    reply = booking_reply(policy, language=asked, client_name="", original_subject="", slots=())
    assert reply.language == expected
    assert reply.body.startswith({"fr": "Bonjour,", "en": "Hello,"}[expected])


# --- Dates, times and zones --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "moment", "expected"),
    [
        # Toronto leaves daylight time on 2026-11-01 and enters it on 2026-03-08.
        (
            "fr",
            (2026, 10, 30, 10),
            "vendredi 30 octobre 2026, 10 h 00 – 11 h 00, heure de Toronto (HAE)",
        ),
        (
            "fr",
            (2026, 11, 2, 10),
            "lundi 2 novembre 2026, 10 h 00 – 11 h 00, heure de Toronto (HNE)",
        ),
        ("fr", (2026, 3, 6, 9), "vendredi 6 mars 2026, 9 h 00 – 10 h 00, heure de Toronto (HNE)"),
        ("fr", (2026, 3, 9, 9), "lundi 9 mars 2026, 9 h 00 – 10 h 00, heure de Toronto (HAE)"),
        (
            "en",
            (2026, 10, 30, 10),
            f"Friday, October 30, 2026, 10:00–11:00{NBSP}a.m., Toronto time (EDT)",
        ),
        (
            "en",
            (2026, 11, 2, 10),
            f"Monday, November 2, 2026, 10:00–11:00{NBSP}a.m., Toronto time (EST)",
        ),
    ],
)
def test_toronto_slots_across_dst_show_local_time_and_abbreviation(
    language: str, moment: tuple[int, int, int, int], expected: str
) -> None:
    assert format_slot(slot(TORONTO, *moment), language, TORONTO) == expected


@pytest.mark.parametrize(
    ("language", "moment", "expected"),
    [
        # Paris leaves summer time on 2026-10-25 and enters it on 2026-03-29.
        (
            "fr",
            (2026, 10, 23, 9),
            "vendredi 23 octobre 2026, 09:00 – 10:00, heure de Paris (UTC+02:00)",
        ),
        (
            "fr",
            (2026, 10, 26, 9),
            "lundi 26 octobre 2026, 09:00 – 10:00, heure de Paris (UTC+01:00)",
        ),
        ("en", (2026, 3, 27, 14), "Friday, 27 March 2026, 14:00–15:00, Paris time (CET)"),
        ("en", (2026, 3, 30, 14), "Monday, 30 March 2026, 14:00–15:00, Paris time (CEST)"),
    ],
)
def test_paris_slots_across_dst_show_local_time_and_zone(
    language: str, moment: tuple[int, int, int, int], expected: str
) -> None:
    assert format_slot(slot(PARIS, *moment), language, PARIS) == expected


def test_slot_given_in_utc_is_shown_in_the_freelancer_zone() -> None:
    start = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # 10:00 EST
    text = format_slot(Slot(start, start + timedelta(hours=1)), "fr", TORONTO)
    assert text == "lundi 2 novembre 2026, 10 h 00 – 11 h 00, heure de Toronto (HNE)"


def test_slot_over_midnight_names_both_dates() -> None:
    text = format_slot(slot(TORONTO, 2026, 12, 1, 23, 30), "fr", TORONTO)
    assert text == (
        "mardi 1 décembre 2026, 23 h 30 – mercredi 2 décembre 2026, 00 h 30, heure de Toronto (HNE)"
    )


def test_utc_is_called_utc() -> None:
    utc = ZoneInfo("UTC")
    assert format_slot(slot(utc, 2026, 12, 1, 10), "fr", utc).endswith(", 10:00 – 11:00, UTC")


def test_zone_without_a_city_is_named_by_its_offset() -> None:
    fixed = ZoneInfo("Etc/GMT+5")
    assert format_slot(slot(fixed, 2026, 12, 1, 10), "en", fixed).endswith("GMT-05:00")


def test_naive_slot_is_refused() -> None:
    naive = Slot(datetime(2026, 12, 1, 10), datetime(2026, 12, 1, 11))
    with pytest.raises(ValueError, match="aware"):
        format_slot(naive, "fr", TORONTO)


# --- Only the offered slots (RFC 3834 §6) ------------------------------------------------------


def test_booking_reply_takes_no_calendar_data_but_the_slots() -> None:
    params = set(inspect.signature(render_booking).parameters)
    assert params == {
        "policy",
        "language",
        "client_name",
        "original_subject",
        "slots",
        "templates",
        # issue 12: which service, until when the times are held, why they are offered again:
        # none of them is calendar data either
        "service",
        "hold_until",
        "intro",
        # issue 13: the appointment being moved (its own time, the client's already) and
        # whether the client gets the "how I work" block
        "current",
        "first_contact",
    }
    assert set(inspect.signature(Templates).parameters) == {"sources"}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.integers(min_value=0, max_value=24 * 60),  # quarter-hours from 2026-10-20
        min_size=0,
        max_size=6,
        unique=True,
    ),
    st.sampled_from(["fr", "en"]),
)
def test_body_lists_exactly_the_given_slots_in_order(quarters: list[int], language: str) -> None:
    base = datetime(2026, 10, 20, 0, 0, tzinfo=TORONTO)
    slots = [
        Slot(base + timedelta(minutes=15 * q), base + timedelta(minutes=15 * q + 60))
        for q in sorted(quarters)
    ]
    body = booking_reply(
        make_policy(), language=language, client_name="", original_subject="", slots=slots
    ).body
    numbered = [line for line in body.splitlines() if re.match(r"\d+\. ", line)]
    assert numbered == [f"{i}. {format_slot(s, language, TORONTO)}" for i, s in enumerate(slots, 1)]
    years = set(re.findall(r"\b20\d\d\b", body))
    assert years <= {"2026"}


# --- Templates ---------------------------------------------------------------------------------


def test_shipped_templates_pass_the_check() -> None:
    assert check_templates(None) == []
    shipped = Path(__file__).resolve().parents[1] / "rules" / "templates"
    assert sorted(p.name for p in shipped.glob("*.j2")) == sorted(TEMPLATE_NAMES)


def test_override_template_wins_and_other_templates_stay_shipped(tmp_path: Path) -> None:
    (tmp_path / "booking.fr.txt.j2").write_text(
        "Salut {{ client_name }} !\n{% for s in slots %}[{{ loop.index }}] {{ s }}\n{% endfor %}"
        "{{ freelancer_name }}\n",
        encoding="utf-8",
    )
    policy = make_policy()
    fr = booking_reply(
        policy,
        language="fr",
        client_name="Marie",
        original_subject="",
        slots=TWO_SLOTS[:1],
        template_dir=tmp_path,
    )
    assert fr.body == (
        "Salut Marie !\n"
        "[1] mardi 1 décembre 2026, 10 h 00 – 11 h 00, heure de Toronto (HNE)\n"
        "Julie Gagnon\n"
    )
    en = booking_reply(
        policy, language="en", client_name="", original_subject="", slots=(), template_dir=tmp_path
    )
    assert en.body.startswith("Hello,\n")
    assert check_templates(tmp_path) == []


def test_check_reports_syntax_error_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "objection.en.txt.j2").write_text(
        "Hello,\n{% if options %}\n- {{ options }}\n", encoding="utf-8"
    )
    problems = check_templates(tmp_path)
    assert len(problems) == 1
    assert "objection.en.txt.j2" in problems[0]
    assert "line" in problems[0]


def test_check_reports_undefined_variable_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "booking.en.txt.j2").write_text(
        "Hello {{ client_name }},\n\n{% for s in slots %}{{ s }}\n{% endfor %}\n{{ clientname }}\n",
        encoding="utf-8",
    )
    problems = check_templates(tmp_path)
    assert len(problems) == 1
    assert str(tmp_path / "booking.en.txt.j2") in problems[0]
    assert "line 5" in problems[0]
    assert "'clientname' is undefined" in problems[0]


def test_check_reports_a_booking_text_that_hides_the_slots(tmp_path: Path) -> None:
    (tmp_path / "booking.fr.txt.j2").write_text("Bonjour,\nÀ bientôt.\n", encoding="utf-8")
    assert check_templates(tmp_path) == [
        f"{tmp_path / 'booking.fr.txt.j2'}: the offered slots do not appear in the text"
    ]


def test_check_reports_misnamed_and_missing_override(tmp_path: Path) -> None:
    (tmp_path / "booking.fr.j2").write_text("Bonjour\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a template\n", encoding="utf-8")
    problems = check_templates(tmp_path)
    assert len(problems) == 1
    assert "booking.fr.j2" in problems[0] and "did you mean booking.fr.txt.j2?" in problems[0]
    assert check_templates(tmp_path / "absent") == [
        f"{tmp_path / 'absent'}: templates folder does not exist"
    ]


# --- Subjects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("x", "Re: x"),
        ("Re: Re: x", "Re: x"),
        ("RE: x", "Re: x"),
        ("Réf : x", "Re: x"),
        ("Réf. : x", "Re: x"),
        (f"RE{NBSP}: x", "Re: x"),
        ("TR: x", "Re: x"),
        ("AW: Re: x", "Re: x"),
        ("Re[2]: x", "Re: x"),
        ("Fwd: RE: x", "Re: x"),
        ("Reply about x", "Re: Reply about x"),
        ("Retour: x", "Re: Retour: x"),
        ("x\r\nBcc: evil@example.com", "Re: x Bcc: evil@example.com"),
    ],
)
def test_reply_subject_has_exactly_one_prefix(original: str, expected: str) -> None:
    assert reply_subject(original, "fr") == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "Re: Votre demande de rendez-vous"), ("en", "Re: Your booking request")],
)
def test_empty_subject_gets_one_in_the_reply_language(language: str, expected: str) -> None:
    assert reply_subject("  Re:  ", language) == expected


@given(st.text(max_size=300))
def test_reply_subject_is_one_line(original: str) -> None:
    subject = reply_subject(original, "en")
    assert subject.startswith("Re: ")
    assert len(subject.splitlines()) == 1
    assert not re.match(r"(?i)re:\s*re\s*:", subject)


# --- Headers and serialisation ----------------------------------------------------------------

CLIENT_ID = "<CAF=abc123@mail.gmail.com>"
NOW = datetime(2026, 11, 30, 9, 15, tzinfo=TORONTO)


def serialise(
    *,
    subject: str = "Re: Rendez-vous",
    to_name: str = "Marie Tremblay",
    from_name: str = "Julie Gagnon",
    in_reply_to: str = CLIENT_ID,
    references: tuple[str, ...] = ("<root@example.org>",),
    body: str = "Bonjour Marie,\n\n1. mardi 1 décembre 2026, 10 h 00\n",
) -> tuple[bytes, EmailMessage]:
    msg = build_reply(
        reply=ReplyText(subject, body, "fr"),
        from_address="julie@example.com",
        from_name=from_name,
        to_address="marie@example.org",
        to_name=to_name,
        in_reply_to=in_reply_to,
        references=references,
        message_id=reply_message_id(in_reply_to, "booking", "example.com"),
        now=NOW,
    )
    raw = msg.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return raw, parsed


EXPECTED_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
    "Content-Language",
]


def test_reply_headers_follow_rfc_3834() -> None:
    raw, parsed = serialise()
    assert list(parsed.keys()) == EXPECTED_HEADERS
    assert parsed["From"] == "Julie Gagnon <julie@example.com>"
    assert parsed["To"] == "Marie Tremblay <marie@example.org>"
    assert parsed["Subject"] == "Re: Rendez-vous"
    assert parsed["Date"] == "Mon, 30 Nov 2026 09:15:00 -0500"
    assert parsed["In-Reply-To"] == CLIENT_ID
    assert parsed["References"].split() == ["<root@example.org>", CLIENT_ID]
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert (
        parsed.get_content().replace("\r\n", "\n")
        == "Bonjour Marie,\n\n1. mardi 1 décembre 2026, 10 h 00\n"
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert max(raw).bit_length() <= 7  # 7-bit clean on the wire


HOSTILE = [
    "x\r\nBcc: evil@example.com",
    "x\nBcc: evil@example.com",
    "x\rBcc: evil@example.com",
    "x\r\n\r\nbody injected",
    "x\u2028Bcc: evil@example.com",
    "x\x85Bcc: evil@example.com",
    '"x" <evil@example.com>, "y',
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_header_injection_through_name_or_subject_adds_no_header(hostile: str) -> None:
    for kwargs in ({"to_name": hostile}, {"subject": hostile}, {"from_name": hostile}):
        raw, parsed = serialise(**kwargs)
        assert list(parsed.keys()) == EXPECTED_HEADERS, kwargs
        assert "Bcc" not in parsed
        assert [a.addr_spec for a in parsed["To"].addresses] == ["marie@example.org"]
        assert [a.addr_spec for a in parsed["From"].addresses] == ["julie@example.com"]
        assert parsed.get_content().startswith("Bonjour Marie,")
        header_block = raw.split(b"\r\n\r\n", 1)[0]
        names = [
            line.split(b":", 1)[0].decode()
            for line in header_block.split(b"\r\n")
            if not line[:1].isspace()
        ]
        assert names == EXPECTED_HEADERS, kwargs


@pytest.mark.parametrize("hostile", HOSTILE)
def test_header_injection_through_message_ids_adds_no_header(hostile: str) -> None:
    _, parsed = serialise(in_reply_to=hostile, references=(hostile, f"<a@b>{hostile}"))
    assert "Bcc" not in parsed
    assert set(parsed.keys()) <= set(EXPECTED_HEADERS)


@given(st.text(max_size=120), st.text(max_size=120))
@settings(max_examples=60, deadline=None)
def test_any_name_and_subject_keep_the_header_set(to_name: str, subject: str) -> None:
    _, parsed = serialise(to_name=to_name, subject=subject)
    assert list(parsed.keys()) == EXPECTED_HEADERS
    assert [a.addr_spec for a in parsed["To"].addresses] == ["marie@example.org"]
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])


def test_invalid_address_is_refused() -> None:
    with pytest.raises(ValueError, match="To address"):
        build_reply(
            reply=ReplyText("Re: x", "x\n", "fr"),
            from_address="julie@example.com",
            from_name="",
            to_address="marie@example.org\r\nBcc: evil@example.com",
            to_name="",
            in_reply_to=CLIENT_ID,
            references=(),
            message_id=reply_message_id(CLIENT_ID, "booking", "example.com"),
            now=NOW,
        )


def test_long_message_ids_are_folded_not_encoded() -> None:
    outlook = (
        "<" + "DM6PR11MB4235F0A1B2C3D4E5F6A7B8C9" * 3 + "@DM6PR11MB4235.namprd11.prod.outlook.com>"
    )
    refs = tuple(f"<id{i}.{'b' * 40}@example.org>" for i in range(40))
    raw, parsed = serialise(in_reply_to=outlook, references=(" ".join(refs),))
    assert b"=?" not in raw.split(b"\r\n\r\n", 1)[0].split(b"Subject:")[0]
    assert b"?=" not in b"".join(
        line for line in raw.split(b"\r\n") if line.startswith((b"References", b" <"))
    )
    assert parsed["In-Reply-To"] == outlook
    kept = parsed["References"].split()
    assert len(kept) == 20
    assert kept[0] == refs[0] and kept[-1] == outlook and kept[-2] == refs[-1]
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in header_block.split(b"\r\n"))


def test_message_id_is_deterministic_per_client_message_and_kind() -> None:
    first = reply_message_id(CLIENT_ID, "booking", "example.com")
    assert first == reply_message_id(CLIENT_ID, "booking", "example.com")
    assert re.fullmatch(r"<fd-[0-9a-f]{32}@example\.com>", first)
    assert first != reply_message_id(CLIENT_ID, "objection", "example.com")
    assert first != reply_message_id("<other@mail.gmail.com>", "booking", "example.com")
    assert reply_message_id(CLIENT_ID, "booking", "ex\r\nample.com>").endswith("@example.com>")
    _, one = serialise()
    _, two = serialise()
    assert one["Message-ID"] == two["Message-ID"] == first


def test_message_ids_keeps_well_formed_ids_once_in_order() -> None:
    assert message_ids(["<a@b> <c@d>\r\n <a@b>", "junk", "<x y@z>", "<e@f>"]) == [
        "<a@b>",
        "<c@d>",
        "<e@f>",
    ]


# --- Real mail from the corpus ------------------------------------------------------------------


@pytest.mark.corpus
def test_replies_to_corpus_messages_thread_correctly() -> None:
    folder = CORPUS / "eml"
    if not folder.is_dir():
        pytest.skip("../shared/corpus is absent: real-world messages are not available here")
    checked = 0
    for path in sorted(folder.glob("*.eml")):
        original = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        client_id = str(original.get("Message-ID", "")).strip()
        if not message_ids([client_id]):
            continue
        sender = original.get("Reply-To") or original.get("From")
        try:
            addresses = sender.addresses if sender is not None else ()
        except Exception:  # a header the parser could not make sense of: not our concern here
            continue
        if not addresses or not addresses[0].addr_spec or "@" not in addresses[0].addr_spec:
            continue
        reply = ReplyText(reply_subject(str(original.get("Subject", "")), "en"), "Hello,\n", "en")
        msg = build_reply(
            reply=reply,
            from_address="julie@example.com",
            from_name="Julie Gagnon",
            to_address=addresses[0].addr_spec,
            to_name=addresses[0].display_name,
            in_reply_to=client_id,
            references=(str(original.get("References", "")),),
            message_id=reply_message_id(client_id, "booking", "example.com"),
            now=NOW,
        )
        parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
        assert list(parsed.keys()) == [h for h in EXPECTED_HEADERS], path.name
        assert parsed["In-Reply-To"] == message_ids([client_id])[0], path.name
        assert parsed["References"].split()[-1] == message_ids([client_id])[0], path.name
        assert parsed["Subject"].startswith("Re: ") and "Re: Re:" not in parsed["Subject"]
        checked += 1
    assert checked > 5
