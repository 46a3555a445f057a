"""Crash points for the exactly-once tests: `FRONTDESK_CRASH_AT=NAME` kills the process there.

A real crash cannot be timed from outside between two statements; this can. It costs one
dictionary lookup and does nothing unless that variable names the point.
"""

from __future__ import annotations

import os


def crash_point(name: str) -> None:
    if os.environ.get("FRONTDESK_CRASH_AT") == name:
        os._exit(137)  # as SIGKILL would: no cleanup, no flush, no ledger update
