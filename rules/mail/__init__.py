"""How frontdesk reads one inbound email.

A package split along its seams:

- `words`: folding (case, accents, apostrophes), the client's language;
- `quoted`: quoted history, forwards and signatures set aside, reply prefixes of subjects;
- `etiquette`: when a personal responder stays silent (RFC 3834/5230), calendar
  METHODs;
- `platforms`: bulk and notification platforms recognised by their headers and addresses
  (who may be answered is `rules.senders`);
- `cues`: what a person's words say, as readable patterns, explicit ones apart;
- `features`: the client's words, the cues and the context as the model's features;
- `weights`: the fitted model as plain data (bench/train_intents.py writes it);
- `reading`: `read()`, the reader of intents with their context, confidence and band.

What frontdesk then does with the email (ignore it, leave it for the freelancer, judge its
invitations, answer it) is `rules.desk.read`, which calls `read()`.

Pure: the connector decodes the raw bytes into an `InboundMessage`; everything here reads plain
records. The names below are the package's public API.
"""

from rules.mail.etiquette import (
    AUTO_REPLY_HEADERS,
    auto_reply_markers,
    auto_submitted_value,
    calendar_methods,
    matches_pattern,
    not_for_us,
)
from rules.mail.quoted import clean_subject, split_quoted, strip_quoted
from rules.mail.reading import ANSWERED, BANDS, INTENTS, Reading, read
from rules.mail.words import detect_language, fold
from rules.model import InboundMessage

__all__ = [
    "ANSWERED",
    "AUTO_REPLY_HEADERS",
    "BANDS",
    "INTENTS",
    "InboundMessage",
    "Reading",
    "auto_reply_markers",
    "auto_submitted_value",
    "calendar_methods",
    "clean_subject",
    "detect_language",
    "fold",
    "matches_pattern",
    "not_for_us",
    "read",
    "split_quoted",
    "strip_quoted",
]
