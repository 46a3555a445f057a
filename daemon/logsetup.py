"""Logging for a service: journald-friendly when systemd captures stderr, timestamps otherwise."""

from __future__ import annotations

import logging
import os
import sys

# syslog priorities understood by journald's stream protocol (sd-daemon.h "<N>" prefixes)
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


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
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # libraries are chatty at info level; their problems still reach us as exceptions
    for noisy in ("caldav", "urllib3", "niquests", "requests", "imapclient", "radicale",
                  "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
