"""Word tables and the text helpers that read them: folding (case, accents, typographic
apostrophes), whole-word phrase matching, and the client's language.

Entries are comma-separated and written naturally, with accents: matching strips accents and case,
treats spaces, hyphens and apostrophes alike, and matches whole words only. A trailing `*` matches
any ending; `...` stands for up to three words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache


def _table(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.replace("\n", " ").split(",") if w.strip())


BOOKING_WORDS: Mapping[str, tuple[str, ...]] = {
    "fr": _table(
        """
        rendez-vous, rdv, prendre rendez-vous, prendre un rendez-vous, prendre rdv, disponible,
        disponibles, dispo, dispos, disponibilité, disponibilités, réserver, réservation, séance,
        séances, session, créneau, créneaux, consultation, êtes-vous libre, seriez-vous libre,
        es-tu libre, serais-tu libre, une place, caler un, caler une, planifier, programmer un,
        programmer une, un cours, des cours, un entretien, un appel, une visio, un rendez vous,
        vous voir, vous rencontrer, se voir, se revoir, on se voit, on se revoit, prévoir,
        organiser un, organiser une, fixer un, fixer une, libre le, libre la semaine prochaine,
        libre lundi, libre mardi, libre mercredi, libre jeudi, libre vendredi, libre samedi,
        reporter, décaler, déplacer, reprogrammer
        """
    ),
    "en": _table(
        """
        book, booking, to book, appointment, appointments, session, sessions, available,
        availability, availabilities, schedule a, schedule an, schedule time, reschedule, slot,
        slots, time slot, free next week, are you free, free on, consultation, reserve,
        reservation, a lesson, a call, a meeting, meet up, meet again, get together, opening,
        openings, set up a time, set up a session, arrange a, plan a, postpone, move it, move our
        """
    ),
}

OBJECTION_WORDS: Mapping[str, tuple[str, ...]] = {
    # Not "remise" or "réduction" alone: "remise en forme", "réduction du stress" are sessions.
    "fr": _table(
        """
        trop cher, trop chère, trop chers, trop chères, un peu cher, un peu chère, assez cher,
        bien cher, pas les moyens, pas trop les moyens, plus les moyens, pas vraiment les moyens,
        budget, hors de prix, moins cher, moins chère, moins chers, rabais, réduction de prix,
        réduction tarifaire, petite réduction, faire une réduction, avoir une réduction,
        obtenir une réduction, réduction étudiant, remise commerciale, petite remise,
        tarif réduit, tarif préférentiel, geste commercial, ristourne, coûteux, coûteuse,
        onéreux, onéreuse, négocier, au-dessus de mes moyens, trop élevé, trop élevés,
        prix élevé, hors budget
        """
    ),
    "en": _table(
        """
        too expensive, expensive, can't afford, cannot afford, can not afford, couldn't afford,
        unable to afford, more affordable, a bit pricey, pricey, too pricey, overpriced, discount,
        discounts, cheaper, lower price, lower rate, reduced rate, out of my budget,
        over my budget, negotiate, too high, too steep, too costly, costly, budget
        """
    ),
}

# Phrases that make a message a request. A booking word fires only in a sentence that also holds
# one of these or a question mark, so "thanks for the session" alone is not a booking request.
REQUEST_CUES: Mapping[str, tuple[str, ...]] = {
    "fr": _table(
        """
        je voudrais, je voulais, j'aimerais, j'aurais aimé, je souhaite, je souhaiterais,
        je souhaitais, nous souhaitons, nous voudrions, pourriez-vous, pouvez-vous, pourrais-je,
        puis-je, peut-on, pourrait-on, pourrions-nous, pouvons-nous, est-il possible,
        serait-il possible, est-ce possible, possible de, avez-vous, auriez-vous, as-tu, aurais-tu,
        êtes-vous, seriez-vous, quand pourr*, quelles sont vos, quels sont vos, merci de me,
        merci de m'indiquer, je cherche, besoin, demande, prendre rendez-vous,
        prendre un rendez-vous, prendre rdv, réserver, je suis intéressé, je suis intéressée,
        intéressé par, intéressée par, vos disponibilités, tes disponibilités, vos dispos,
        vos créneaux
        """
    ),
    "en": _table(
        """
        i would like, i'd like, i would love, i'd love, i want, i wish, we would like, we'd like,
        could you, can you, would you, can i, could i, may i, can we, could we, shall we,
        do you have, is it possible, would it be possible, when are you, when can, when could,
        when would, looking for, i need, we need, request, interested in, hoping to, let me know,
        to book, book a, book an, book me, schedule a, schedule an, are you free,
        are you available, your availability, your availabilities
        """
    ),
}

# Clauses that look back rather than ask: a thank-you for something done, or a past time.
# Such clauses are set aside before booking words and request cues are read. `...` stands for up
# to three words. Sign-offs ("Merci", "Thanks,", "thanks in advance") are not in this table.
THANKS_WORDS: Mapping[str, tuple[str, ...]] = {
    "fr": _table(
        """
        merci ... pour, merci ... d'avoir, merci ... de votre, merci ... de ta, un grand merci,
        je vous remercie pour, je vous remercie de votre, je vous remercie d'avoir,
        je te remercie pour, vous remercier, te remercier
        """
    ),
    "en": _table(
        """
        thank you ... for, thanks ... for, thank u for, thx for, many thanks, to thank you
        """
    ),
}

PAST_WORDS: Mapping[str, tuple[str, ...]] = {
    "fr": _table(
        """
        hier, avant-hier, la semaine dernière, l'autre jour, c'était, s'est bien passé,
        s'est très bien passé, j'ai adoré, j'ai apprécié, j'ai beaucoup apprécié, super séance,
        belle séance, la dernière séance, lors de notre séance, notre dernière
        """
    ),
    "en": _table(
        """
        yesterday, last week, last time, the other day, earlier today, was great, was wonderful,
        was amazing, was lovely, was so helpful, was very helpful, went well, i loved, i enjoyed,
        really enjoyed, great session, last session, our last
        """
    ),
}

# Clauses about something else than a new appointment (an invoice, a payment, a cancellation) are
# set aside too: "can you send the invoice for the session?" asks for no slot.
ASIDE_WORDS: Mapping[str, tuple[str, ...]] = {
    "fr": _table(
        """
        facture, factures, reçu, paiement, payer, virement, rembourser, remboursement, annuler,
        annulation, attestation, note d'honoraires
        """
    ),
    "en": _table(
        """
        invoice, invoices, receipt, payment, pay, refund, cancel, cancelled, canceled,
        cancellation
        """
    ),
}

def _strip(text: str) -> str:
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class _Stripped(dict[int, str]):
    """Each character stripped once, then remembered (stripping is character by character)."""

    def __missing__(self, code: int) -> str:
        self[code] = _strip(chr(code))
        return self[code]


_STRIPPED = _Stripped()


def fold(text: str) -> str:
    """Lower-case, accents stripped, typographic apostrophes and dashes made plain."""
    plain = (text if text.isascii() else text.translate(_STRIPPED)).lower()
    plain = re.sub(r"[\u2018\u2019\u201b\u02bc\u00b4`]", "'", plain)
    return re.sub(r"[\u2010-\u2015\u2212]", "-", plain)


@lru_cache(maxsize=4096)
def _phrase_re(phrase: str) -> re.Pattern[str]:
    """A whole-word pattern for one table entry, over folded text."""
    text = fold(phrase.strip())
    stem = text.endswith("*")
    pattern = ""
    after_gap = False
    for piece in re.split(r"(\.\.\.|[\s\-']+)", text.rstrip("*")):
        if not piece:
            continue
        if piece == "...":
            pattern += r"(?:\w+[\s\-']+){0,3}"
            after_gap = True
        elif re.fullmatch(r"[\s\-']+", piece):
            if not after_gap:
                # A space needs some separator; a hyphen or apostrophe may be left out.
                pattern += r"[\s\-']+" if re.search(r"\s", piece) else r"[\s\-']*"
        else:
            pattern += re.escape(piece)
            after_gap = False
    return re.compile(r"(?<!\w)" + pattern + (r"\w*" if stem else "") + r"(?!\w)")


def _hits(folded: str, table: Mapping[str, tuple[str, ...]]) -> list[str]:
    found: list[str] = []
    for words in table.values():
        for word in words:
            if word not in found and _phrase_re(word).search(folded):
                found.append(word)
    return found


_NEGATION_BEFORE = re.compile(
    r"(?:\b(?:pas|not|never|jamais|plus|isn't|aren't|wasn't|"
    r"n't|nullement|aucunement)\s+)$"
)


def _objection_hits(folded: str) -> list[str]:
    """Objection words, skipping negated ones ("pas trop cher", "not too expensive")."""
    negated: list[tuple[int, int]] = []
    candidates: list[tuple[str, int, int]] = []
    for words in OBJECTION_WORDS.values():
        for word in words:
            for match in _phrase_re(word).finditer(folded):
                before = folded[max(0, match.start() - 20) : match.start()]
                if _NEGATION_BEFORE.search(before):
                    negated.append(match.span())
                else:
                    candidates.append((word, *match.span()))
    found: list[str] = []
    for word, start, end in candidates:
        inside_negated = any(s <= start and end <= e for s, e in negated)
        if not inside_negated and word not in found:
            found.append(word)
    # Keep only the longest phrase when one contains another ("too expensive" > "expensive").
    return [w for w in found if not any(w != o and fold(w) in fold(o) for o in found)]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FR_STOPWORDS = _words(
    "le la les des du un une et est je vous nous pour pas que qui dans sur avec mon ma mes ce "
    "cette ces bonjour bonsoir merci au aux il elle mais tres bien votre vos ne suis serait sont "
    "etre ai avez cordialement bonne journee oui aussi de en chez voudrais aimerais pourriez "
    "seance rendez semaine prochaine mardi mercredi jeudi vendredi samedi dimanche lundi"
)
_EN_STOPWORDS = _words(
    "the and is are i you we for not that this with my your hello hi thanks thank to of be would "
    "could please can have has it will what when do does next week regards best dear in at an "
    "am was were like session appointment available monday tuesday wednesday thursday friday "
    "saturday sunday"
)
_FR_ELISION = re.compile(r"\b(?:j|l|d|qu|n|s|c|m|t)'(?=[a-z])")


def detect_language(text: str, default: str, *, minimum: int = 2) -> str:
    """ "fr" or "en" by counting each language's common words; `default` when unclear (fewer
    than `minimum` of them, or as many of each)."""
    folded = fold(text)
    words = re.findall(r"[a-z]+", folded)
    fr = sum(1 for w in words if w in _FR_STOPWORDS) + len(_FR_ELISION.findall(folded))
    en = sum(1 for w in words if w in _EN_STOPWORDS)
    if max(fr, en) < minimum or fr == en:
        return default
    return "fr" if fr > en else "en"


