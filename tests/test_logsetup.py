"""Logging for a service: journald priorities when systemd captures stderr, timestamps else."""

from __future__ import annotations

import logging
import subprocess
import sys

from daemon.logsetup import JournalFormatter, under_journald
from daemon.runner import BACKOFF_MAX, Backoff


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("frontdesk", level, __file__, 1, message, None, None)


def test_journal_lines_carry_the_syslog_priority_and_no_time() -> None:
    fmt = JournalFormatter("%(message)s")
    assert fmt.format(record(logging.WARNING, "mail: down")) == "<4>mail: down"
    assert fmt.format(record(logging.INFO, "declined 'x'")) == "<6>declined 'x'"
    assert fmt.format(record(logging.ERROR, "a\nb")) == "<3>a\n<3>b"


def test_journal_stream_switches_the_format() -> None:
    assert under_journald({"JOURNAL_STREAM": "8:1234"})
    assert not under_journald({})
    code = ("from daemon.logsetup import setup_logging; import logging; "
            "setup_logging('info'); logging.getLogger('x').info('hello')")
    env = {"JOURNAL_STREAM": "8:1234", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stderr == "<6>hello\n"
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"}, check=True)
    assert plain.stderr.endswith(" INFO hello\n") and plain.stderr[:4].isdigit()


def test_backoff_doubles_up_to_five_minutes_and_resets() -> None:
    backoff = Backoff()
    delays = [backoff.failed(0.0) for _ in range(12)]
    assert delays[:3] == [2.0, 4.0, 8.0]
    assert max(delays) == BACKOFF_MAX == 300.0
    assert not backoff.ready(100.0) and backoff.ready(300.0)
    assert backoff.succeeded() is True and backoff.ready(0.0)
    assert backoff.failed(0.0, slow=True) == 300.0
