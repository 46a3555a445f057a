"""What frontdesk does with one inbound email: ignore it, leave it for review, hand it to the
invitation guard, or answer it (a booking request or a price objection).

Pure: the connector decodes the raw bytes into an `InboundMessage`; everything here reads plain
text. Automatic-reply etiquette follows RFC 3834, RFC 5230 and Pigeonhole's vacation
(STANDARDS.md section 1). Rate limiting per sender is the daemon's, with the ledger.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from rules.model import InboundMessage, Policy

# --- Decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ignore:
    reason: str


@dataclass(frozen=True)
class Review:
    reason: str


@dataclass(frozen=True)
class Invitation:
    """A calendar request, to be judged by the invitation guard."""

    reason: str
    parts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Answer:
    kind: str  # "booking" | "objection"
    language: str
    fired: tuple[str, ...]
    reason: str


Decision = Ignore | Review | Invitation | Answer

# --- Word tables (one readable table per language) ---------------------------------------------
# Entries are comma-separated and written naturally, with accents: matching strips accents and
# case, treats spaces, hyphens and apostrophes alike, and matches whole words only. A trailing `*`
# matches any ending; `...` stands for up to three words.


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

# Quoted-history openers, matched on folded lines: the rest is someone else's text.
_ATTRIBUTION_RES = (
    re.compile(
        r"^\s*-{2,}\s*(original message|message d'origine|forwarded message|message transfere|"
        r"ursprungliche nachricht|mensaje original|messaggio originale)\s*-{2,}\s*$"
    ),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's separator line
    re.compile(r"^\s*(>\s*)?on\b(?=.*\d).{0,400}\bwrote\s*:\s*$", re.DOTALL),
    re.compile(r"^\s*(>\s*)?le\b(?=.*\d).{0,400}\ba\s+ecrit\s*:\s*$", re.DOTALL),
    re.compile(r"^\s*(>\s*)?am\b(?=.*\d).{0,400}\bschrieb\b.{0,200}:\s*$", re.DOTALL),
    re.compile(r"^\s*begin forwarded message\s*:\s*$"),
    re.compile(r"^\s*debut du message (reexpedie|transfere)\s*:\s*$"),
)
# Outlook-style header block: "From:"/"De :" followed closely by "Sent:"/"Envoyé :"/"Date:".
_HEADER_FROM_RE = re.compile(r"^\s*\*?(from|de|von)\s*\*?\s*:")
_HEADER_NEXT_RE = re.compile(
    r"^\s*\*?(sent|envoye|date|gesendet|to|a|cc|subject|objet|betreff)\s*\*?\s*:"
)
_SIGNATURE_RES = (
    re.compile(r"^--\s?$"),
    re.compile(
        r"^\s*(envoye|expedie) (de|depuis|a partir de) (mon|ma|l'application|outlook|yahoo|"
        r"gmail)\b.*$"
    ),
    re.compile(r"^\s*sent (from|with|via) (my|the|mail|outlook|yahoo|gmail|samsung|proton)\b.*$"),
    re.compile(r"^\s*(get|obtenir|telecharger) outlook (for|pour)\b.*$"),
    re.compile(r"^\s*von meine[mr]?\b.{0,40}\bgesendet\s*$"),
)

_OOO_SUBJECT_RE = re.compile(
    r"^\s*(\[[^\]]*\]\s*)?(automatic reply|auto reply|auto-reply|autoreply|auto response|"
    r"auto-response|autoresponse|reponse automatique|out of office|out of the office|"
    r"absence|abwesend|abwesenheitsnotiz|respuesta automatica|risposta automatica)\b"
    r"|\b(out of (the )?office|reponse automatique|automatic reply|message d'absence)\b",
    re.IGNORECASE,
)
_SUBJECT_PREFIX_RE = re.compile(
    r"^\s*((re|fw|fwd|tr|aw|wg|sv|vs|ref|réf|rép|rep|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
# Non-standard headers that mark an automatic message: header name (lower-case) -> a word its value
# must contain ("" means any value). `X-Autoreply: no` says the opposite and is skipped.
AUTO_REPLY_HEADERS: Mapping[str, str] = {
    "x-autoreply": "",
    "x-autorespond": "",
    "x-autoresponder": "",
    "x-auto-reply": "",
    "x-apple-action": "vacation",
    "x-failed-recipients": "",
}
_ROBOT_LOCAL_PARTS = ("mailer-daemon", "postmaster", "listserv", "majordomo")
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
_SUPPRESS_VALUES = frozenset({"all", "autoreply", "oof"})
_CALENDAR_SILENT = "nothing to answer"


# --- Text helpers ------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower-case, accents stripped, typographic apostrophes and dashes made plain."""
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
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


def clean_subject(subject: str) -> str:
    """The subject without reply/forward prefixes (Re:, Fwd:, TR:, AW:, ...)."""
    return _SUBJECT_PREFIX_RE.sub("", subject).strip()


def strip_quoted(text: str) -> str:
    """The writer's own new text: quoted history and signatures dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    folded = [fold(line) for line in lines]
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _is_history_start(folded, index) or any(r.match(folded[index]) for r in _SIGNATURE_RES):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _is_history_start(folded: Sequence[str], index: int) -> bool:
    line = folded[index]
    if not line.strip():
        return False
    # Gmail and Apple wrap long attributions over two or three lines; a wrapped one must start
    # on this line rather than borrow a complete one further down.
    for span in range(1, min(3, len(folded) - index) + 1):
        joined = " ".join(s.strip() for s in folded[index : index + span])
        last_alone = span > 1 and any(r.match(folded[index + span - 1]) for r in _ATTRIBUTION_RES)
        if not last_alone and any(r.match(joined) for r in _ATTRIBUTION_RES):
            return True
    if _HEADER_FROM_RE.match(line):
        following = [s for s in folded[index + 1 : index + 6] if s.strip()][:4]
        return any(_HEADER_NEXT_RE.match(s) for s in following)
    return False


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


def detect_language(text: str, default: str) -> str:
    """ "fr" or "en" by counting each language's common words; `default` when unclear."""
    folded = fold(text)
    words = re.findall(r"[a-z]+", folded)
    fr = sum(1 for w in words if w in _FR_STOPWORDS) + len(_FR_ELISION.findall(folded))
    en = sum(1 for w in words if w in _EN_STOPWORDS)
    if max(fr, en) < 2 or fr == en:
        return default
    return "fr" if fr > en else "en"


def _sentences(folded: str) -> list[str]:
    """Sentences of a folded text; each keeps its line breaks (hard-wrapped mail)."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", folded):
        sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", paragraph) if s.strip())
    return sentences


def _set_aside(sentence: str) -> tuple[str, list[str]]:
    """The sentence without its thank-you, past-time and aside clauses, and the words that
    marked them.

    Clauses end at commas, semicolons and line breaks, so "Thanks for yesterday, could we book
    another session?" keeps its request and a wrapped sign-off stays apart from the request.
    """
    kept: list[str] = []
    marks: list[str] = []
    for clause in re.split(r"[,;\n]", sentence):
        found = _hits(clause, THANKS_WORDS) + _hits(clause, PAST_WORDS) + _hits(clause, ASIDE_WORDS)
        if found:
            marks.extend(found)
        else:
            kept.append(clause)
    return " ".join(kept), marks


def intent(subject: str, text: str) -> tuple[str, tuple[str, ...]]:
    """("booking" | "objection" | "other", the words that fired) from subject and new text.

    An objection anywhere wins. A booking needs, in one sentence, a booking word and a request cue
    or a question mark, once thank-you, past-time and aside clauses are set aside. A fresh subject
    ("Rendez-vous", not "Re: ...") counts as a sentence and gives its topic to the body's
    requests; a reply's subject repeats the thread and is read for objections only. For "other"
    the fired words say what was seen.
    """
    objections = _objection_hits(fold(subject + "\n" + text))
    if objections:
        return "objection", tuple(objections)
    topic = clean_subject(subject)
    fresh = bool(topic) and not _SUBJECT_PREFIX_RE.match(subject)
    sentences = _sentences(fold(text))
    subject_words: list[str] = []
    if fresh:
        live_subject, _ = _set_aside(fold(topic))
        subject_words = _hits(live_subject, BOOKING_WORDS)
        sentences.insert(0, fold(topic))
    fired: list[str] = []
    seen: list[str] = []
    for sentence in sentences:
        live, marks = _set_aside(sentence)
        seen.extend(marks)
        words = _hits(live, BOOKING_WORDS)
        cues = _hits(live, REQUEST_CUES) + (["?"] if "?" in live else [])
        seen.extend(words)
        if cues and (words or subject_words):
            fired.extend(subject_words + words + cues)
    if fired:
        return "booking", tuple(dict.fromkeys(fired))
    return "other", tuple(dict.fromkeys(seen))


# --- Addresses ---------------------------------------------------------------------------------


def matches_pattern(address: str, patterns: Sequence[str]) -> bool:
    """Whether the address matches any shell-style pattern, case-insensitively."""
    address = address.strip().lower()
    if not address:
        return False
    return any(fnmatch.fnmatchcase(address, p.strip().lower()) for p in patterns if p.strip())


def _mailbox(address: str) -> str:
    """The address without a +subaddress tag: jane+clients@x and jane@x are one mailbox."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.split('+', 1)[0] or local}@{domain}"


def _is_self(address: str, self_addresses: Iterable[str]) -> bool:
    if not address:
        return False
    mine = {_mailbox(a) for a in self_addresses}
    return _mailbox(address) in mine


def _local_part(address: str) -> str:
    return address.rpartition("@")[0] if "@" in address else address


def _robot_reason(address: str, what: str) -> str | None:
    local = _local_part(address.lower())
    if not local:
        return None
    if local in _ROBOT_LOCAL_PARTS:
        return f"{what} {address} is a mail system or list robot (RFC 3834 §2)"
    if "-request" in local or local.startswith("owner-"):
        return f"{what} {address} is a list address (RFC 3834 §2, RFC 5230 §4.6)"
    return None


def _strip_comments(value: str) -> str:
    """A header value without its RFC 5322 (comments), nested ones included."""
    out: list[str] = []
    depth = 0
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            continue
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def auto_submitted_value(raw: str) -> str:
    """The keyword of one Auto-Submitted value: comments and parameters dropped, lower-cased."""
    return _strip_comments(raw).split(";", 1)[0].strip().lower()


# --- Decisions ---------------------------------------------------------------------------------


def auto_reply_markers(headers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The non-standard headers (AUTO_REPLY_HEADERS) that mark this message as automatic."""
    markers: list[str] = []
    for name, value in headers:
        wanted = AUTO_REPLY_HEADERS.get(name)
        if wanted is None:
            continue
        text = value.strip().lower()
        if (wanted and wanted not in text) or (name == "x-autoreply" and text == "no"):
            continue
        shown = "-".join(part.capitalize() for part in name.split("-"))  # X-Apple-Action
        label = shown if not wanted else f"{shown}: {text}"
        if label not in markers:
            markers.append(label)
    return tuple(markers)


def not_for_us(msg: InboundMessage, self_addresses: frozenset[str]) -> str | None:
    """Why a personal responder must not answer this message (STANDARDS.md §1), or None."""
    if msg.return_path is None:
        return "no Return-Path: a bounce or a notification (RFC 3834 §2)"
    if msg.return_path == "":
        return "empty Return-Path <>: a bounce or a notification (RFC 3834 §2)"
    if not msg.from_address:
        return "no readable sender address"
    if _is_self(msg.from_address, self_addresses):
        return f"sent by the freelancer ({msg.from_address})"
    if msg.is_report or msg.content_type == "multipart/report":
        return "a delivery report (multipart/report, RFC 3834 §2)"
    for address, what in (
        (msg.from_address, "sender"),
        (msg.return_path, "Return-Path"),
        (msg.reply_to, "Reply-To"),
    ):
        reason = _robot_reason(address, what)
        if reason:
            return reason
    if msg.list_headers:
        return f"mailing list mail ({', '.join(msg.list_headers)}; RFC 5230 §4.6)"
    for raw in msg.auto_submitted:
        if auto_submitted_value(raw) != "no":
            return f"Auto-Submitted: {raw.strip() or '(empty)'} (RFC 3834 §5)"
    precedence = auto_submitted_value(msg.precedence)
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence} (RFC 3834 §7)"
    suppress = {
        t.strip().lower() for t in re.split(r"[,;\s]+", msg.x_auto_response_suppress) if t.strip()
    }
    if suppress & _SUPPRESS_VALUES:
        return f"X-Auto-Response-Suppress: {msg.x_auto_response_suppress} (MS-OXCMAIL 2.1.3.2.20)"
    markers = auto_reply_markers(msg.headers)
    if markers:
        return f"an automatic message ({', '.join(markers)})"
    if _OOO_SUBJECT_RE.search(fold(msg.subject)):
        return f"an out-of-office reply by its subject ({msg.subject!r})"
    if _is_self(msg.reply_to, self_addresses):
        return f"Reply-To is the freelancer ({msg.reply_to}): an answer would loop"
    if not any(_is_self(a, self_addresses) for a in msg.recipients):
        return "none of the freelancer's addresses is among the recipients (RFC 5230 §4.5)"
    return None


_METHOD_RE = re.compile(
    r"^METHOD[ \t]*(?:;[^:\n]*)?:[ \t]*([A-Za-z-]+)", re.IGNORECASE | re.MULTILINE
)


def calendar_methods(ics: str) -> tuple[str, ...]:
    """The METHOD values written inside an iCalendar text, upper-cased, in order."""
    unfolded = re.sub(r"\r?\n[ \t]", "", ics.replace("\r\n", "\n"))
    found: list[str] = []
    for match in _METHOD_RE.finditer(unfolded):
        method = match.group(1).upper()
        if method not in found:
            found.append(method)
    return tuple(found)


def _calendar_decision(msg: InboundMessage) -> Decision | None:
    requests: list[tuple[str, str]] = []
    others: list[str] = []
    mismatches: list[str] = []
    for param, ics in msg.calendar_parts:
        mime = param.strip().upper()
        inner = calendar_methods(ics)
        methods = inner or ((mime,) if mime else ())
        if mime and inner and mime not in inner and "REQUEST" in (mime, *inner):
            mismatches.append(f"MIME method {mime}, calendar METHOD {', '.join(inner)}")
            continue
        if "REQUEST" in methods:
            requests.append((param, ics))
        others.extend(m for m in methods if m != "REQUEST" and m not in others)
    if requests:
        return Invitation("calendar METHOD REQUEST", tuple(requests))
    if mismatches:
        return Review("calendar part disagrees with itself: " + "; ".join(mismatches))
    if others:
        return Ignore(f"calendar METHOD {', '.join(others)}: {_CALENDAR_SILENT}")
    return None  # a bare .ics file with no METHOD: read the mail as any other


def classify(
    msg: InboundMessage, policy: Policy, *, self_addresses: frozenset[str] | None = None
) -> Ignore | Review | Invitation | Answer:
    """What frontdesk does with the message. `self_addresses` defaults to the freelancer's."""
    selves = (
        policy.freelancer.addresses
        if self_addresses is None
        else frozenset(a.strip().lower() for a in self_addresses)
    )
    reason = not_for_us(msg, selves)
    if reason:
        return Ignore(reason)
    senders = [a for a in (msg.from_address, msg.reply_to) if a]
    for address in senders:
        if matches_pattern(address, policy.clients.block):
            return Ignore(f"{address} matches clients.block")
    for address in senders:
        if matches_pattern(address, policy.clients.review):
            return Review(f"{address} matches clients.review")
    calendar = _calendar_decision(msg)
    if calendar is not None:
        return calendar
    new_text = strip_quoted(msg.text)
    kind, fired = intent(msg.subject, new_text)
    if kind == "other":
        seen = f" (saw: {', '.join(fired)})" if fired else ""
        return Ignore(f"not a booking request{seen}")
    if not msg.headers_ok:
        return Review(f"looks like a {kind} message, but its headers needed repair")
    language = detect_language(
        clean_subject(msg.subject) + "\n" + new_text, policy.freelancer.language
    )
    words = ", ".join(fired)
    what = "a price objection" if kind == "objection" else "a booking request"
    return Answer(kind=kind, language=language, fired=fired, reason=f"{what} ({words})")


# -- How often one sender is answered (RFC 5230 4.2; the mail-loop bound) --------------

RATE_WINDOW = timedelta(hours=24)
MAX_REPLIES_PER_SENDER = 3  # a day, whatever the kind: the last guard against mail loops


def rate_limit(recipient: str, kind: str, same_kind: int, any_kind: int) -> str | None:
    """Why no automatic reply may go to `recipient` now, given how many it got in the last
    RATE_WINDOW of this kind and of any kind; None when one may."""
    if same_kind >= 1:
        return f"{recipient} already got a {kind} reply in the last 24 hours"
    if any_kind >= MAX_REPLIES_PER_SENDER:
        return (f"{recipient} already got {MAX_REPLIES_PER_SENDER} automatic replies in the "
                "last 24 hours")
    return None
