"""rules.mail.read (issue 10): who is asking and what they want, with context, confidence, band.

The pieces (cues, quoted offers, machine senders), the issue's own phrasings, and the training
mail of tests/data/intents against the issue's targets, cross-validated by writers (the held-out
set is the benchmark's only).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from intents_data import PERSONAS, load_training, split_labels, targets

from rules.mail import INTENTS, Reading, read, split_quoted, weights
from rules.mail.cues import WHEN, bare_pick, cue_hits
from rules.mail.features import facts
from rules.mail.platforms import machine_signals, role_address
from rules.mail.words import fold
from rules.model import InboundMessage, MailContext, Slot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # train_intents

JULIE = PERSONAS["julie"]
SAM = PERSONAS["sam"]
CLAIRE = PERSONAS["claire"]
TO_CLAIRE = "contact@claire-traduction.example"
ZONE = ZoneInfo("America/Toronto")
APPOINTMENT = Slot(datetime(2026, 12, 8, 14, tzinfo=ZONE), datetime(2026, 12, 8, 15, tzinfo=ZONE))
STRANGER = MailContext()
CLIENT = MailContext(relation="client")
BOOKED = MailContext(relation="client", appointments=(APPOINTMENT,))
FRIEND = MailContext(relation="personal")
OFFERED = MailContext(thread="offer")


def mail(
    text: str, subject: str = "", to: str = "julie@julie-massage.example", **changes: Any
) -> InboundMessage:
    base = InboundMessage(
        message_id="m1@client.example",
        subject=subject,
        from_address="marie.client@client.example",
        from_name="Marie Client",
        return_path="marie.client@client.example",
        to=(to,),
        text=text,
    )
    return replace(base, **changes)


def answered(reading: Reading) -> bool:
    return reading.band in ("act", "draft")


# --- the pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("t'as-tu de la place la semaine prochaine?", "ask_availability"),
        ("aurais-tu un spot jeudi?", "ask_availability"),
        ("avez-vous des plages horaires libres?", "ask_availability"),
        ("vous avez de la disponibilitée quand ?", "ask_availability"),
        ("could you fit me in on friday?", "want_booking"),
        ("any spots open thursday?", "ask_availability"),
        ("when could i come in?", "ask_availability"),
        ("what do you have after the 10th?", "ask_availability"),
        ("anything week commencing 7th?", "ask_availability"),
        ("i have to cancel thursday", "cancel"),
        ("can we push it back a week?", "reschedule"),
        ("on peut remettre ca?", "reschedule"),
        ("do you have a student rate?", "price_objection"),
        ("is there any flexibility on the price?", "price_objection"),
        ("auriez-vous un prix reduit?", "price_objection"),
        ("the first one works", "pick"),
        ("mardi 14h me va", "pick"),
        # the second round: everyday requests, soft objections, moves said without the word
        ("whats your earliest for a 90 min?", "ask_availability"),
        ("anything left before christmas?", "ask_availability"),
        ("would you have room to take me on?", "ask_availability"),
        ("quand est votre prochaine place libre?", "ask_availability"),
        ("est-ce que vous avez quelque chose en apres-midi?", "ask_availability"),
        ("same time as usual next week?", "ask_availability"),
        ("thurs?", "day_ask"),
        ("place mercredi soir?", "day_ask"),
        ("je serais interessee par un massage de 60 minutes", "want_booking"),
        ("$190 a session would be a real stretch", "price_objection"),
        ("is there any flexibility there?", "price_objection"),
        ("could i pay in instalments?", "price_objection"),
        ("c'est un peu raide pour moi", "price_objection"),
        ("i was quoted $110 by another counsellor", "price_objection"),
        ("could we make it a bit later in the day?", "reschedule"),
        ("on peut tu changer pour dimanche?", "reschedule_explicit"),
        ("is it possible to change the hour of our meeting?", "reschedule_explicit"),
        ("can we postpone next week's session?", "reschedule_explicit"),
        ("je me desiste pour samedi", "cancel"),
        ("aucun de ces creneaux ne me convient", "reject_offer"),
        ("i'll get in touch after the holidays to book", "later"),
        # paying less, a price proposed, somebody else to write
        ("est-ce que je pourrais payer le prix du 60?", "price_objection"),
        ("could i pay the price of the 60 minute one?", "price_objection"),
        ("would you do two 60-minute massages for $170?", "objection_explicit"),
        ("m. perrin vous contactera directement la semaine prochaine", "third_party"),
        ("my assistant will call you to set something up", "third_party"),
    ],
)
def test_cues_read_the_ways_people_ask(text: str, cue: str) -> None:
    assert cue in cue_hits(fold(text))


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("thanks, but that's too expensive for me.", "objection_explicit"),
        ("c'est trop cher pour moi", "objection_explicit"),
        ("je n'ai pas les moyens", "objection_explicit"),
        ("do you have a student rate?", "objection_explicit"),
        ("would you accept $100 a session?", "objection_explicit"),
        ("can i book a massage for friday?", "booking_explicit"),
        ("je voudrais un rendez-vous", "booking_explicit"),
        ("jaimerais un rdv svp", "booking_explicit"),
        ("bonjour, un rendez-vous svp.", "booking_explicit"),
        ("avez-vous des disponibilites la semaine prochaine?", "booking_explicit"),
        ("are you taking new clients?", "booking_explicit"),
        ("i need to cancel my appointment", "cancel_explicit"),
        ("je dois annuler jeudi", "cancel_explicit"),
    ],
)
def test_explicit_cues(text: str, cue: str) -> None:
    assert cue in cue_hits(fold(text))


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("it's not too expensive, i just want to know", "price_objection"),
        ("ce n'est pas trop cher", "price_objection"),
        ("je ne veux surtout pas annuler", "cancel"),
        ("no need to cancel, see you tuesday", "cancel"),
        ("is it possible to send the documents by post?", "ask_availability"),
        ("je peux me deplacer a paris", "reschedule"),
        ("je prefere vous le remettre en main propre", "reschedule_explicit"),
        ("do you have any cancellations this week?", "cancel_explicit"),
        ("same as last time", "pick"),
    ],
)
def test_cues_said_otherwise_do_not_count(text: str, cue: str) -> None:
    assert cue not in cue_hits(fold(text))


def test_the_senders_own_name_is_not_a_cue() -> None:
    msg = mail(
        "Could you confirm your registration number?\n\nMelanie Price\nHR",
        from_name="Melanie Price",
        from_address="melanie.price@dental.example",
    )
    assert "price" not in facts(msg, STRANGER, JULIE).cues
    assert "price" in facts(mail("What is your price?"), STRANGER, JULIE).cues


def test_a_new_messages_subject_is_read_for_cues() -> None:
    request = mail("", "Any 90 min openings Saturday morning?")
    assert "ask_availability" in facts(request, STRANGER, JULIE).cues
    reply = mail("Thanks", "Re: Any openings Saturday?")
    assert "ask_availability" not in facts(reply, STRANGER, JULIE).cues


def test_cues_join_hard_wrapped_lines() -> None:
    assert "want_booking" in cue_hits("could\nwe book a session?")


@pytest.mark.parametrize(
    "text", ["2", "le 2 svp", "Le 1 SVP merci", "ok pour le 1", "#3", "3 pls x"]
)
def test_a_bare_number_is_a_pick(text: str) -> None:
    assert bare_pick(fold(text))


@pytest.mark.parametrize("text", ["2 massages samedi?", "I need 2 sessions next week", ""])
def test_a_sentence_with_a_number_is_not_a_bare_pick(text: str) -> None:
    assert not bare_pick(fold(text))


def test_split_quoted_keeps_the_quoted_offer_apart() -> None:
    text = (
        "Le 2 svp\n\nLe 26 nov. 2026 à 06:58, Julie <julie@julie-massage.example> a écrit :\n"
        "> 1. jeudi 26 novembre 2026, 17 h 00 – 18 h 00\n"
        "> 2. vendredi 27 novembre 2026, 12 h 00 – 13 h 00\n"
    )
    new, quoted = split_quoted(text)
    assert new == "Le 2 svp"
    assert "vendredi 27 novembre" in quoted


@pytest.mark.parametrize(
    ("headers", "address", "return_path"),
    [
        ((("feedback-id", "1.us-east-1.x:AmazonSES"),), "hello@app.example", "hello@app.example"),
        ((("x-mailer", "Mailchimp Mailer"),), "news@x.example", "news@x.example"),
        ((), "no-reply@zoom.example", "no-reply@zoom.example"),
        ((), "team@app.example", "bounces+123-ab@em.app.example"),
    ],
)
def test_machine_senders_without_list_headers(
    headers: tuple[tuple[str, str], ...], address: str, return_path: str
) -> None:
    msg = mail("Hi", from_address=address, return_path=return_path, headers=headers)
    assert machine_signals(msg)
    assert not machine_signals(mail("Hi"))


def test_role_addresses_are_not_people() -> None:
    assert role_address("recrutement@spa.example")
    assert role_address("billing@cleaning.example")
    assert not role_address("marie.client@client.example")


def test_split_labels_removes_every_x_frontdesk_header() -> None:
    raw = (
        b"From: a@b.example\r\nX-Frontdesk-Label: booking\r\n"
        b"X-Frontdesk-Context: persona=julie;\r\n sender=client\r\n"
        b"Subject: hi\r\n\r\nBody X-Frontdesk-Label: no\r\n"
    )
    clean, found = split_labels(raw)
    assert b"X-Frontdesk" not in clean.split(b"\r\n\r\n")[0]
    assert clean.endswith(b"Body X-Frontdesk-Label: no\r\n")
    assert found == {
        "x-frontdesk-label": "booking",
        "x-frontdesk-context": "persona=julie; sender=client",
    }


# --- the Reading --------------------------------------------------------------------------------


def test_a_reading_names_its_intent_confidence_band_language_and_signals() -> None:
    reading = read(
        mail("Bonjour, t'as-tu de la place la semaine prochaine pour un massage?"), STRANGER, JULIE
    )
    assert reading.intent in INTENTS
    assert 0.0 <= reading.confidence <= 1.0
    assert reading.band in ("act", "draft", "leave")
    assert reading.language == "fr"
    assert any(s.startswith("sender:") for s in reading.signals)
    assert any(s.startswith("band:") for s in reading.signals)


def test_reading_is_pure_and_repeatable() -> None:
    msg = mail("Any spots open Thursday?")
    assert read(msg, STRANGER, JULIE) == read(msg, STRANGER, JULIE)


def test_rfc3834_silence_comes_first() -> None:
    reading = read(
        mail("Any spots open Thursday?", auto_submitted=("auto-replied",)), STRANGER, JULIE
    )
    assert (reading.intent, reading.band) == ("none", "leave")
    assert reading.signals[0].startswith("etiquette: Auto-Submitted")


# --- the issue's phrasings ------------------------------------------------------------------------

BOOKINGS = [
    ("", "Salut! T'as-tu de la place la semaine prochaine pour un massage de 60 min?"),
    ("", "Allo Julie, aurais-tu un spot jeudi soir? Mon dos est barré."),
    ("Rendez-vous", "Bonjour, avez-vous des plages horaires libres mardi ou mercredi?"),
    ("traduction", "Bonjour vous avez de la disponibilitée quand ? je peux me deplacer"),
    ("Massage", "Hi Julie, could you fit me in on Friday? My neck is so stiff."),
    ("Massage this week?", "Hi Julie,\nAny spots open Thursday? A 60-minute would be perfect."),
    ("Gift certificate", "Hi, I have one of your gift certificates. When could I come in?"),
    ("after the 10th", "Hi Julie, what do you have after the 10th? I'm away until then."),
    ("w/c 7th?", "Hi, could you do anything week commencing 7th? Evenings only."),
]


@pytest.mark.parametrize(("subject", "text"), BOOKINGS)
def test_everyday_booking_requests_are_answered(subject: str, text: str) -> None:
    reading = read(mail(text, subject), STRANGER, JULIE)
    assert reading.intent == "booking", reading
    assert answered(reading), reading


def test_same_as_last_time_does_not_veto_a_request() -> None:
    reading = read(mail("Hi Julie, can I come Tuesday at 3? Same as last time."), CLIENT, JULIE)
    assert reading.intent == "booking" and answered(reading), reading


def test_cetait_does_not_veto_a_rebooking() -> None:
    text = (
        "Allo Julie, c'était vraiment super la dernière fois! J'aimerais revenir la semaine "
        "prochaine si t'as un spot."
    )
    reading = read(mail(text), CLIENT, JULIE)
    assert reading.intent == "booking" and answered(reading), reading


NOT_FOR_AN_OFFER = [
    # (text, context, headers)
    ("Allo toi! T'es dispo vendredi soir pour un souper chez Fabrice?", FRIEND, ()),
    ("Hi Julie, are you free for a call Thursday? I want to pick your brain.", FRIEND, ()),
    (
        "How was your appointment with Dr. Patel? Leave us a review.",
        STRANGER,
        (("feedback-id", "review:dental:weave"),),
    ),
    ("Fill every empty slot this December. Book a free demo. Unsubscribe", STRANGER, ()),
    ("Hi Julie, is there parking near you? I'll come by car.", BOOKED, ()),
    ("Hi Julie, what should I wear for my appointment on Tuesday?", BOOKED, ()),
    ("Bonjour, j'ai rendez-vous jeudi, y a-t-il du stationnement?", BOOKED, ()),
    ("Hi Julie, my colleague will write to you to book, I gave her your name.", CLIENT, ()),
]


@pytest.mark.parametrize(("text", "context", "headers"), NOT_FOR_AN_OFFER)
def test_what_needs_no_booking_offer_gets_none(
    text: str, context: MailContext, headers: tuple[tuple[str, str], ...]
) -> None:
    reading = read(mail(text, headers=headers), context, JULIE)
    assert not (reading.intent == "booking" and answered(reading)), reading
    assert reading.band != "act", reading


@pytest.mark.parametrize(
    "text",
    [
        "Hi Sam, do you have a student rate? $140 is a lot for me.",
        "Hello, is there any chance of a better price? I'd come every week.",
        "Hi, is there any flexibility on the price? I'm between jobs.",
        "Bonjour, auriez-vous un prix réduit pour les étudiants?",
    ],
)
def test_price_objections_are_answered_as_objections(text: str) -> None:
    reading = read(mail(text, to="sam@sampatel-therapy.example"), STRANGER, SAM)
    assert reading.intent == "objection", reading
    assert answered(reading), reading


@pytest.mark.parametrize(
    ("text", "context", "intent"),
    [
        ("le 2 svp", OFFERED, "choice"),
        ("mardi 14h me va", OFFERED, "choice"),
        ("The first one works! Thanks.", OFFERED, "choice"),
        ("Hi Julie, I have to cancel Thursday. Sorry!", BOOKED, "cancellation"),
        ("Hi Julie, can we push it back a week? Work is crazy.", BOOKED, "reschedule"),
        ("Hi Julie, can we move my appointment to Friday?", BOOKED, "reschedule"),
    ],
)
def test_the_booking_conversation(text: str, context: MailContext, intent: str) -> None:
    reading = read(mail(text, "Re: Massage"), context, JULIE)
    assert reading.intent == intent, reading
    # a choice is read with its offer by the desk; a clear cancellation or move of the
    # sender's appointment is acted on (issue 13: the desk checks whose and the notice rule)
    assert reading.band == ("leave" if intent == "choice" else "act"), reading


def test_an_explicit_objection_is_sure_even_when_thanks_pull_the_other_way() -> None:
    # the issue's example: a reply, a stranger, "thanks" pulling towards nothing to answer
    reading = read(mail("Thanks, but that's too expensive for me.", "Re: booking"), STRANGER, JULIE)
    assert (reading.intent, reading.band) == ("objection", "act"), reading
    assert any('the explicit "too expensive"' in s for s in reading.signals), reading.signals


@pytest.mark.parametrize(
    "text",
    [
        "Hi Julie, can I book a 60-minute massage next week?",
        "Bonjour, je voudrais un rendez-vous pour un massage, idéalement jeudi.",
        "Bonjour, avez-vous des disponibilités la semaine prochaine?",
    ],
)
def test_an_explicit_booking_request_is_sent(text: str) -> None:
    reading = read(mail(text), STRANGER, JULIE)
    assert (reading.intent, reading.band) == ("booking", "act"), reading


def test_price_words_make_an_objection_of_a_choice() -> None:
    text = "The second one works, but could you do it for $80? Other places charge less."
    reading = read(mail(text, "Re: Massage"), OFFERED, JULIE)
    assert (reading.intent, reading.band) == ("objection", "act"), reading


@pytest.mark.parametrize(
    ("subject", "text", "context"),
    [
        ("RDV massage 60 min la semaine prochaine svp", "", STRANGER),  # all in the subject
        ("Place mercredi soir?", "(voir objet) merci!!", CLIENT),
        ("", "dispo jeudi?", CLIENT),
        ("", "Would Tuesday at 3 work? Same as last time.", CLIENT),
    ],
)
def test_terse_requests_are_answered(subject: str, text: str, context: MailContext) -> None:
    reading = read(mail(text, subject), context, JULIE)
    assert reading.intent == "booking" and answered(reading), reading


def test_another_appointment_asked_for_by_a_sender_who_has_one_is_a_draft() -> None:
    text = "Hi Julie, I'd like to book a massage for my husband too, any time next week."
    reading = read(mail(text, "Massage for my husband"), BOOKED, JULIE)
    assert (reading.intent, reading.band) == ("booking", "draft"), reading
    reading = read(mail("Hi Julie, what do you have next week?"), BOOKED, JULIE)
    assert reading.band == "leave", reading  # not in so many words: a person answers


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Hi Julie, can we move my appointment to Friday?", "reschedule"),
        ("Hi Julie, I have to cancel Thursday. Sorry!", "cancellation"),
        ("Bonjour, on peut décaler notre rendez-vous à la semaine prochaine?", "reschedule"),
        ("Could we push it back a week? Work is crazy.", "reschedule"),
        ("Je dois annuler mon massage de samedi, désolée.", "cancellation"),
    ],
)
def test_moves_and_cancellations_without_a_known_appointment(text: str, intent: str) -> None:
    # the daemon may not know the appointment (booked by the freelancer under another address):
    # the words say it, never a booking offer (the desk then looks for the sender's own
    # appointment before changing anything, issue 13)
    reading = read(mail(text), CLIENT, JULIE)
    assert reading.intent == intent, reading


@pytest.mark.parametrize(
    "text",
    [
        "Hi Julie, I'll write to you again in January to book, December is crazy at work.",
        "Bonjour Julie, je vais vous réécrire après les fêtes pour prendre rendez-vous.",
        "Thank you so much for yesterday's massage, I feel like new!",
    ],
)
def test_later_and_thanks_are_not_requests(text: str) -> None:
    reading = read(mail(text), CLIENT, JULIE)
    assert not answered(reading), reading


def test_a_reply_to_an_offer_is_never_a_fresh_offer() -> None:
    text = (
        "2\n\nOn Mon, Nov 23, 2026 at 10:15 AM Julie <julie@julie-massage.example> wrote:\n"
        "> 1. Wednesday, November 25, 2026, 2:00–3:00 p.m.\n"
        "> 2. Thursday, November 26, 2026, 3:00–4:00 p.m.\n"
    )
    reading = read(mail(text, "Re: Massage"), STRANGER, JULIE)  # no thread known: the quote says
    assert reading.intent == "choice", reading
    assert any("quoted" in s for s in reading.signals)


def test_the_reply_language_is_the_clients() -> None:
    assert read(mail("Any spots open Thursday?"), STRANGER, JULIE).language == "en"
    assert read(mail("Avez-vous de la place jeudi?"), STRANGER, SAM).language == "fr"


# --- the train split against the issue's targets --------------------------------------------------


@pytest.fixture(scope="module")
def train() -> list[tuple[str, Reading]]:
    return [(it.label, read(it.message, it.context, it.policy)) for it in load_training()]


def test_cross_validated_figures_meet_the_issues_targets() -> None:
    """The meaningful check on the training mail: cross-validation by writers, each message read
    by a model fitted on the other writers' mail (bench/train_intents.py), meets the issue's
    targets with the band thresholds it chooses; and those thresholds and figures are the ones
    shipped in rules/mail/weights.py (the weights are not stale after a change of cues or
    features)."""
    import train_intents as training

    items = load_training()
    seen, xs = training.vectors(items)
    *_, bands, found = training.cross_validate(items, seen, xs, training.SETTINGS, workers=1)
    assert not found.failed, found.failed
    assert found.unsafe == 0, found.line()
    assert min(found.blind.values()) >= 0.9, found.line()  # moves without their appointment
    assert (bands.act, bands.sure, bands.draft) == (weights.ACT, weights.SURE, weights.DRAFT)
    assert weights.CROSS_VALIDATED["booking_sent"] == round(found.sent, 4)


def test_fitted_model_meets_the_issues_targets_on_its_own_train_split(
    train: list[tuple[str, Reading]],
) -> None:
    # in-sample (the model saw these messages): a floor, not a measure
    found = targets([label for label, _ in train], [(r.intent, r.band) for _, r in train])
    failed = [t.line() for t in found if not t.ok]
    assert not failed, failed


def test_every_train_reading_says_why(train: list[tuple[str, Reading]]) -> None:
    for _, reading in train:
        assert reading.signals
        assert reading.language in ("fr", "en")


def test_appointment_slot_is_in_the_personas_zone() -> None:
    booked = [it for it in load_training() if it.context.appointments]
    assert booked
    for it in booked:
        slot = it.context.appointments[0]
        assert str(slot.start.tzinfo) == it.policy.freelancer.timezone
        assert slot.end - slot.start == timedelta(minutes=60)


# --- a pitch is not a client ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Quick chat?", "Hi, we are building a team of therapists for our platform, we handle all "
         "billing. Would you be available for a 15-minute call Wednesday or Thursday?"),
        ("Opportunité", "Bonjour, nous sommes à la recherche de massothérapeutes pour l'hiver. "
         "Seriez-vous disponible pour une entrevue téléphonique mardi ou mercredi?"),
        ("January", "Is your calendar ready? Join our free webinar on Dec 9 - book your spot, "
         "any openings next week for a demo call?"),
        ("Referral partnership", "I'm a chiropractor in NDG. I'd love to set up a referral "
         "arrangement with you. Would you be free for a coffee Tuesday or Thursday after 3?"),
        ("Collaboration EN/FR", "Nous cherchons des traductrices certifiées pour des projets "
         "réguliers. Would you be open to a quick call next week? Mardi 14 h?"),
        ("Re: a better EHR?", "Are you available for a 20-minute demo this week or next? "
         "Thursday at 11am or Friday at 9am both work on my end."),
    ],
)
def test_a_strangers_pitch_in_booking_words_is_left(subject: str, text: str) -> None:
    reading = read(mail(text, subject), STRANGER, JULIE)
    assert reading.band == "leave", reading


def test_a_strangers_request_near_pitch_words_is_drafted_never_sent() -> None:
    text = "Hi, can I book a massage Thursday? It would be a great opportunity to relax."
    reading = read(mail(text, "Massage"), STRANGER, JULIE)
    assert reading.band == "draft", reading
    assert any("pitch" in s for s in reading.signals), reading.signals


def test_the_pitch_words_leave_a_clients_own_request_alone() -> None:
    text = "Bonjour, avez-vous de la place jeudi pour un massage? Merci"
    assert read(mail(text, "Rendez-vous"), STRANGER, JULIE).band == "act"
    text = "I came across your profile on Psychology Today. Could I book a session next week?"
    to = "sam@sampatel-therapy.example"
    assert read(mail(text, "Session", to=to), STRANGER, SAM).band == "act"
    # a client who was recruited elsewhere still books as ever
    text = "J'ai eu une offre d'emploi, je fête ça: avez-vous de la place jeudi pour un massage?"
    assert read(mail(text, "Rendez-vous"), CLIENT, JULIE).band == "act"


# --- a booking offer answers a request for a time ------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Penses-tu pouvoir me caser avant Noël? N'importe quel jour de semaine après 15h.",
        "U have room tmrw aft? 60 min",
        "I need session for my back. When I can come? I am free in morning before 11.",
        "Il sera à Paris le 15 et le 16 décembre, would either day work?",
        "Time for my monthly. 60 min, any Thursday after 5. Thanks!",
        "What's your wait like these days? Looking for a 60 min, nothing fancy.",
    ],
)
def test_a_question_about_a_time_asks_for_one(text: str) -> None:
    assert WHEN.search(fold(text))


@pytest.mark.parametrize(
    "text",
    [
        "Est-ce que vous offrez les séances en français ou seulement en anglais?",
        "Is that something you allow, and how would it work confidentiality-wise?",
        "Mon anglais est correct, mais pour parler de choses personnelles j'ai de la misère?",
        "Do you treat 3 kinds of pain?",
        "I am not sure this is for me, by the way. Is it covered by insurance?",
        "Est-ce que c'est pour le massage suédois? J'habite pas loin d'ici.",
        "I have a German marriage certificate and an English birth certificate.",
        "I'd like to pay for a few sessions for her as a gift. Is that something you allow?",
    ],
)
def test_a_question_without_a_time_is_not_a_request_for_one(text: str) -> None:
    assert not WHEN.search(fold(text))


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for the session yesterday, I feel so much better.",
        "Thanks for the session on Tuesday, see you next month!",
        "Merci pour le massage de jeudi, mon dos va beaucoup mieux.",
    ],
)
def test_thanks_for_a_session_gets_no_offer(text: str) -> None:
    reading = read(mail(text), CLIENT, JULIE)
    assert not (reading.intent == "booking" and answered(reading)), reading


def test_somebody_else_to_write_is_never_sent_an_offer() -> None:
    text = (
        "Bonjour Madame Dubois, M. Perrin, associé du cabinet, vous contactera directement la "
        "semaine prochaine pour fixer un rendez-vous au sujet de la traduction des contrats."
    )
    reading = read(mail(text, "Traduction des contrats", to="contact@claire-traduction.example"),
                   STRANGER, PERSONAS["claire"])
    assert reading.band != "act", reading


def test_mail_in_another_language_is_left_for_the_freelancer() -> None:
    text = (
        "Guten Tag Frau Tremblay, ich hätte gerne einen Termin für eine Massage nächste Woche, "
        "am liebsten am Dienstag oder Mittwoch nach der Arbeit. Meine Schultern sind seit "
        "Wochen verspannt und mein Arzt hat mir eine Massage empfohlen. Vielen Dank im Voraus "
        "und freundliche Grüße aus Berlin."
    )
    reading = read(mail(text, "Termin"), STRANGER, JULIE)
    assert (reading.intent, reading.band) == ("question", "leave"), reading
    assert "neither French nor English" in reading.signals[0]
    short = read(mail("Danke schön!", "Termin"), STRANGER, JULIE)  # too short to tell
    assert "neither French nor English" not in short.signals[0]
    pasted = "Bonjour, pourriez-vous traduire ce texte? Je suis pressée, merci! " + text * 3
    reading = read(mail(pasted, "Traduction", to=TO_CLAIRE), STRANGER, CLAIRE)
    assert "neither French nor English" not in reading.signals[0]  # the opening is French


def test_the_free_introductory_call_is_booked_not_taken_for_an_introduction() -> None:
    text = "Hi Sam, I'd like to book the free introductory call, any time next week works."
    reading = read(mail(text, "Intro call", to="sam@sampatel-therapy.example"), STRANGER, SAM)
    assert (reading.intent, reading.band) == ("booking", "act"), reading


def test_a_business_ordering_the_service_in_pitch_words_is_drafted_not_dropped() -> None:
    text = (
        "Bonjour, nous recrutons un ingénieur américain qui prend son poste le 4 janvier. Nous "
        "avons besoin de la traduction certifiée de son diplôme. Pourriez-vous nous proposer un "
        "rendez-vous la semaine prochaine?"
    )
    reading = read(mail(text, "Traduction diplôme", to=TO_CLAIRE), STRANGER, CLAIRE)
    assert (reading.intent, reading.band) == ("booking", "draft"), reading
    assert any("pitch" in s for s in reading.signals), reading.signals


def test_the_wait_for_a_first_appointment_is_a_request_not_a_turnaround() -> None:
    text = "Bonjour, quel est votre délai pour un premier rendez-vous ces temps-ci? Merci"
    reading = read(mail(text, "Premier rendez-vous"), STRANGER, JULIE)
    assert reading.intent == "booking" and reading.band == "act", reading


def test_a_turnaround_beside_an_explicit_request_does_not_hold_it_back() -> None:
    text = "Bonjour, auriez-vous des disponibilités la semaine du 7 pour une relecture? Quel délai?"
    reading = read(mail(text, "Relecture", to=TO_CLAIRE), STRANGER, CLAIRE)
    assert (reading.intent, reading.band) == ("booking", "act"), reading


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Hey Julie, désolé, can we move this to un autre soir? Any evening next week.",
         "reschedule"),
        ("can we push tmrw to next week? car broke down, sorry!!", "reschedule"),
        ("dsl julie je peux pas demain finalement, chu pogné au travail", "cancellation"),
        ("I won't be needing my appointment on the 9th, I'm moving to Ottawa.", "cancellation"),
    ],
)
def test_moves_and_cancellations_in_everyday_words_get_no_booking_offer(
        text: str, intent: str) -> None:
    reading = read(mail(text), CLIENT, JULIE)  # the calendar does not know the appointment
    assert not (reading.intent == "booking" and answered(reading)), reading
