"""Logging for a service: journald-friendly when systemd captures stderr, timestamps otherwise."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping

# syslog priorities understood by journald's stream protocol (sd-daemon.h "<N>" prefixes)
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


# Control characters a value from outside (an event's title, a header) may smuggle into a log
# line or a line on stdout: a CR that rewrites the line, a LF that forges a second one, an
# escape sequence for the terminal. They are shown escaped (issue 9: log injection).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def safe_text(value: str) -> str:
    """The value on one line, its control characters escaped ("\\r", "\\n", "\\x1b")."""
    def escape(match: re.Match[str]) -> str:
        char = match.group(0)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}")

    return _CONTROLS.sub(escape, value)


def _safe(value: object) -> object:
    return safe_text(value) if isinstance(value, str) else value


class SafeValues(logging.Filter):
    """Escapes control characters in the values a log line formats in (not in frontdesk's own
    wording, nor in tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = {k: _safe(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_safe(v) if not isinstance(v, BaseException)
                                else safe_text(str(v)) for v in record.args)
        return True


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # one journal entry per line: prefix each line so a traceback keeps its priority
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines() or [""])


def under_journald(environ: dict[str, str] | None = None) -> bool:
    """systemd sets JOURNAL_STREAM when stderr goes to the journal, which adds its own time."""
    env = os.environ if environ is None else environ
    return bool(env.get("JOURNAL_STREAM"))


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if under_journald():
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        # the host's clock, labelled with its zone (the journal adds its own time instead)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S %Z"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler.addFilter(SafeValues())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # libraries are chatty at info level; their problems still reach us as exceptions
    for noisy in ("caldav", "urllib3", "niquests", "requests", "imapclient", "radicale",
                  "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
