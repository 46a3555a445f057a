"""Quoted history, forwards and signatures: what of a message body is the writer's own new text.

Attribution lines ("On ... wrote:", "Le ... a écrit :"), Outlook header blocks ("From:/Sent:",
"De :/Envoyé :"), separators ("-----Original Message-----", "Begin forwarded message:") and
signature markers ("-- ", "Sent from my iPhone", "Envoyé de mon iPhone") end the new text;
`>` lines in between are someone else's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rules.mail.words import fold

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

_SUBJECT_PREFIX_RE = re.compile(
    r"^\s*((re|fw|fwd|tr|aw|wg|sv|vs|ref|réf|rép|rep|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE
)


def clean_subject(subject: str) -> str:
    """The subject without reply/forward prefixes (Re:, Fwd:, TR:, AW:, ...)."""
    return _SUBJECT_PREFIX_RE.sub("", subject).strip()


def strip_quoted(text: str) -> str:
    """The writer's own new text: quoted history and signatures dropped."""
    return split_quoted(text)[0]


def split_quoted(text: str) -> tuple[str, str]:
    """(the writer's own new text, everything else): the quoted `>` lines, and all that follows
    the first attribution, forward or signature line. The second part is where a quoted offer
    of frontdesk's is looked for; the first is what the client wrote."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    folded = [fold(line) for line in lines]
    kept: list[str] = []
    other: list[str] = []
    for index, line in enumerate(lines):
        if _is_history_start(folded, index) or any(r.match(folded[index]) for r in _SIGNATURE_RES):
            other.extend(lines[index:])
            break
        if line.lstrip().startswith(">"):
            other.append(line)
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip(), "\n".join(other).strip()


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


