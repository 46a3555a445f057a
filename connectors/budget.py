"""A bound on the CPU one message or one calendar object may cost.

Time is the CPU of the calling thread (`time.thread_time()`), so the bound holds in any thread.
Nothing is interrupted from outside (no signal, which only reaches the main thread and can fire
inside a garbage-collector callback that swallows it): code that loops calls `check()` between
steps, and `guard()` wraps a library call that may loop for long by itself (dateutil walking a
recurrence rule that never matches towards the year 9999). The guard counts the Python calls
made in the block and, every few hundred, compares the CPU used with the budget; past it, it
raises `OverBudget` inside the library's own frame, which unwinds the call. `OverBudget` is a
BaseException, so the libraries' `except Exception` clauses let it through.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["Budget", "OverBudget"]

_CHECK_EVERY = 256  # calls between two reads of the CPU clock inside a guarded block


class OverBudget(BaseException):
    """A piece of input cost more CPU than its budget; str() says what was being done.

    `budget` is the budget that ran out: a caller that gave a part of its own budget to one
    series can tell whether only that part, or all of its own, is spent.
    """

    def __init__(self, message: str, budget: Budget) -> None:
        super().__init__(message)
        self.budget = budget


class Budget:
    """`seconds` of CPU from now for the calling thread, never more than its parent has left."""

    def __init__(self, seconds: float, *, parent: Budget | None = None, what: str = "") -> None:
        self.seconds = seconds
        self.what = what
        self.parent = parent
        self.started = time.thread_time()
        own = self.started + seconds
        self.deadline: float = min(own, parent.deadline) if parent is not None else own

    def part(self, seconds: float, what: str = "") -> Budget:
        """A budget of at most `seconds` out of this one (for one step of the work)."""
        return Budget(seconds, parent=self, what=what or self.what)

    def used(self) -> float:
        return time.thread_time() - self.started

    def spent(self) -> bool:
        return time.thread_time() > self.deadline

    def exhausted_by(self) -> Budget:
        """The outermost budget that is spent (this one when only this part is)."""
        found = self
        node = self.parent
        while node is not None:
            if node.spent():
                found = node
            node = node.parent
        return found

    def _over(self, doing: str) -> OverBudget:
        which = self.exhausted_by()
        what = f" while {doing}" if doing else (f" while {which.what}" if which.what else "")
        return OverBudget(f"took more than {which.seconds:g} s of CPU{what}", which)

    def check(self, doing: str = "") -> None:
        """Raise OverBudget when the budget (or a parent's) is spent."""
        if self.spent():
            raise self._over(doing)

    @contextmanager
    def guard(self, doing: str = "") -> Iterator[None]:
        """Run the block under this budget, even inside the libraries it calls."""
        self.check(doing)
        previous = sys.gettrace()
        calls = 0

        def tracer(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal calls
            if event == "call":
                calls += 1
                # never raise inside a finalizer: the interpreter would swallow it there
                if calls % _CHECK_EVERY == 0 and frame.f_code.co_name != "__del__" \
                        and time.thread_time() > self.deadline:
                    raise self._over(doing)
            return previous(frame, event, arg) if previous is not None else None  # type: ignore[arg-type]

        sys.settrace(tracer)
        try:
            yield
        finally:
            sys.settrace(previous)
        self.check(doing)  # in case a library swallowed the exception after all


def unlimited() -> Budget:
    """A budget that never runs out (for callers that bound the work another way)."""
    return Budget(float("inf"))
