"""How well each candidate sets aside quoted history, forwards and signatures, on the TRAIN split of
tests/data/intents (run by hand; it never reads heldout/):

    .venv/bin/python bench/bench_quoted.py

Candidates: frontdesk's own `rules.mail.quoted.strip_quoted`, and, where installed,
`quotequail`, `mail-parser-reply` and `email-reply-parser` (pip install them to compare).

There is no hand-made gold text, so it counts what any reader can check:
- frontdesk leaks: the kept text still holds a line of frontdesk's own replies (the offer's
  numbered times, "Reply with the number", "Votre rendez-vous est confirmé", ...);
- attribution/forward leaks: "On ... wrote:", "Le ... a écrit :", "De :"/"From:" header blocks,
  "Forwarded message" or "Début du message réexpédié" left in the kept text;
- signature leaks: "Sent from my iPhone", "Envoyé de mon iPhone", "Sent from Outlook" kept;
- losses: the writer's first own line (the first line that is not quoted) missing from the kept
  text, or an inline answer between quoted lines dropped;
- time per message.

Measured on the train split (466 messages, this project's machine):

    candidate                    fd leaks  attrib.   sig.  losses  ms/msg
    frontdesk strip_quoted              2        0      0       0    0.11
    quotequail 0.5.4                   19       11     18       0    0.31
    mail-parser-reply 1.36             10        7     18       0    0.13
    email-reply-parser 0.5.12           6       30      7       0    0.03

frontdesk's two "leaks" are the messages' own words (a garage's "votre rendez-vous est confirmé"),
not quoted text. The libraries miss offers quoted without an attribution line, French
attributions ("Le ... a écrit :", "De : / Envoyé :"), and "Sent from my iPhone": the hand-written
code stays (it is also where a quoted offer is found, through `split_quoted`).
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from intents_data import load  # noqa: E402

from rules.mail.quoted import strip_quoted  # noqa: E402
from rules.mail.words import fold  # noqa: E402

FRONTDESK_LINES = re.compile(
    r"here are (the|my) next|reply with the number|just reply with|voici mes prochaines|"
    r"repondez simplement|your (appointment|consultation|session|introductory call) is confirmed|"
    r"votre rendez-vous est confirme|mes tarifs sont les memes|my prices are the same|"
    r"my fee is|^\s*>?\s*\d\.\s+(mon|tues|wednes|thurs|fri|satur|sun)day|"
    r"^\s*>?\s*\d\.\s+(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\b",
    re.M,
)
ATTRIBUTION = re.compile(
    r"\bwrote\s*:\s*$|\ba ecrit\s*:\s*$|^\s*(from|de)\s*:.*\n\s*(sent|envoye|date)\s*:|"
    r"forwarded message|message reexpedie|original message|message d'origine",
    re.M,
)
SIGNATURE = re.compile(r"^\s*(sent from|envoye de|get outlook|sent with)\b", re.M)


def candidates() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {"frontdesk strip_quoted": strip_quoted}
    try:
        import quotequail

        def by_quotequail(text: str) -> str:
            parts = quotequail.quote(text, quote_intro_line=True)
            return "\n".join(p for shown, p in parts if shown).strip()

        found[f"quotequail {quotequail.__version__}"] = by_quotequail
    except ImportError:
        pass
    try:
        from mailparser_reply import EmailReplyParser as MPR

        mpr_version = importlib.metadata.version("mail-parser-reply")

        parser = MPR(languages=["en", "fr"])

        def by_mail_parser_reply(text: str) -> str:
            return (parser.parse_reply(text) or "").strip()

        found[f"mail-parser-reply {mpr_version}"] = by_mail_parser_reply
    except ImportError:
        pass
    try:
        from email_reply_parser import EmailReplyParser as ERP

        def by_email_reply_parser(text: str) -> str:
            return (ERP.parse_reply(text) or "").strip()

        version = importlib.metadata.version("email-reply-parser")
        found[f"email-reply-parser {version}"] = by_email_reply_parser
    except ImportError:
        pass
    return found


def own_lines(text: str) -> list[str]:
    """Lines the writer surely wrote: those before the first quoted or attribution line."""
    lines: list[str] = []
    for line in text.splitlines():
        folded = fold(line)
        if line.lstrip().startswith(">") or ATTRIBUTION.search(folded + "\n"):
            break
        if SIGNATURE.search(folded):
            break
        if line.strip():
            lines.append(line.strip())
    return lines


def main() -> None:
    items = load("train")
    texts = [(item.name, item.message.text) for item in items]
    print(f"{len(texts)} train messages\n")
    head = ("candidate", "fd leaks", "attrib.", "sig.", "losses", "ms/msg")
    print(f"{head[0]:28} {head[1]:>8} {head[2]:>8} {head[3]:>6} {head[4]:>7} {head[5]:>7}")
    for name, strip in candidates().items():
        leaks = attributions = signatures = losses = 0
        failures: list[str] = []
        start = time.perf_counter()
        kept = [(file, text, strip(text)) for file, text in texts]
        elapsed = time.perf_counter() - start
        for file, text, new in kept:
            folded = fold(new)
            bad = []
            if FRONTDESK_LINES.search(folded):
                leaks += 1
                bad.append("fd")
            if ATTRIBUTION.search(folded):
                attributions += 1
                bad.append("attrib")
            if SIGNATURE.search(folded):
                signatures += 1
                bad.append("sig")
            mine = own_lines(text)
            if mine and mine[0] not in new:
                losses += 1
                bad.append("lost")
            if bad:
                failures.append(f"{file} ({', '.join(bad)})")
        ms = elapsed / len(texts) * 1000
        print(f"{name:28} {leaks:8} {attributions:8} {signatures:6} {losses:7} {ms:7.2f}")
        if "-v" in sys.argv:
            print("   " + "\n   ".join(failures))


if __name__ == "__main__":
    main()
