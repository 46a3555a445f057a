"""How frontdesk reads one inbound email.

A package split along its seams:

- `words`: word tables, folding, whole-word phrase matching, the client's language;
- `quoted`: quoted history, forwards and signatures set aside, reply prefixes of subjects;
- `etiquette`: when a personal responder stays silent (RFC 3834/5230), rate limits, calendar
  METHODs;
- `senders`: bulk and notification platforms recognised by their headers and addresses;
- `cues`: what a person's words say, as readable patterns, explicit ones apart;
- `features`: the client's words, the cues and the context as the model's features;
- `weights`: the fitted model as plain data (bench/train_intents.py writes it);
- `reading`: `read()`, the reader of intents with their context, confidence and band;
- `decide`: `classify()`, today's word-table decision, kept until the daemon calls `read()`.

Pure: the connector decodes the raw bytes into an `InboundMessage`; everything here reads plain
records. The names below are the package's public API.
"""

from rules.mail.decide import (
    Answer,
    Decision,
    Ignore,
    Invitation,
    Review,
    classify,
    intent,
)
from rules.mail.etiquette import (
    AUTO_REPLY_HEADERS,
    MAX_REPLIES_PER_SENDER,
    RATE_WINDOW,
    auto_reply_markers,
    auto_submitted_value,
    calendar_methods,
    matches_pattern,
    not_for_us,
    rate_limit,
)
from rules.mail.quoted import clean_subject, split_quoted, strip_quoted
from rules.mail.reading import ANSWERED, BANDS, INTENTS, Reading, read
from rules.mail.words import (
    BOOKING_WORDS,
    OBJECTION_WORDS,
    detect_language,
    fold,
)
from rules.model import InboundMessage

__all__ = [
    "ANSWERED",
    "AUTO_REPLY_HEADERS",
    "BANDS",
    "BOOKING_WORDS",
    "INTENTS",
    "MAX_REPLIES_PER_SENDER",
    "OBJECTION_WORDS",
    "RATE_WINDOW",
    "Answer",
    "Decision",
    "Ignore",
    "InboundMessage",
    "Invitation",
    "Reading",
    "Review",
    "auto_reply_markers",
    "auto_submitted_value",
    "calendar_methods",
    "classify",
    "clean_subject",
    "detect_language",
    "fold",
    "intent",
    "matches_pattern",
    "not_for_us",
    "rate_limit",
    "read",
    "split_quoted",
    "strip_quoted",
]
