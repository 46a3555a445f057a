"""The small exception tree of errors a person can fix, with their exit status."""

from __future__ import annotations

EX_FAILURE = 1
EX_USAGE = 64  # sysexits.h: the command was used wrongly
EX_UNAVAILABLE = 69  # sysexits.h: a service (calendar, mail server) is unavailable
EX_CONFIG = 78  # sysexits.h: configuration error; systemd does not restart on it


class UserError(Exception):
    """Something the person can fix; printed as one sentence, no traceback."""

    status = EX_FAILURE

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class CalendarUnavailable(UserError):
    """The calendar could not be reached or used."""

    status = EX_UNAVAILABLE


class MailUnavailable(UserError):
    """The mail servers could not be reached or used."""

    status = EX_UNAVAILABLE
