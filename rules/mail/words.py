"""Text helpers the reader shares: folding (case, accents, typographic apostrophes and dashes)
and the client's language."""

from __future__ import annotations

import re
import unicodedata


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


FOREIGN_WORDS = 25  # words of text before its language can be told foreign
FOREIGN_OPENING = 60  # words of the opening read to tell it
FOREIGN_SHARE = 0.05  # fewer common French or English words than this share: another language


def foreign(text: str) -> bool:
    """Whether a text long enough to tell is written in neither French nor English: its share of
    either language's common words is under FOREIGN_SHARE (a German letter: 3 in 119, 2 in 46; the
    barest client mail in French or English: 9 in 100)."""
    # the writer's opening: a client may paste the document to translate after a line of French
    folded = fold(" ".join(text.split()[:FOREIGN_OPENING]))
    words = re.findall(r"[a-z]+", folded)
    if len(words) < FOREIGN_WORDS:
        return False
    known = sum(1 for w in words if w in _FR_STOPWORDS or w in _EN_STOPWORDS)
    return known + len(_FR_ELISION.findall(folded)) < FOREIGN_SHARE * len(words)
