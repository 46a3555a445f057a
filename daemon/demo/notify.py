"""A NOTIFY_SOCKET of our own: what `frontdesk run` tells systemd, for the demo, tests and benches.

It plays systemd's side of sd_notify: a datagram socket that records every line the service
sends (READY=1, STATUS=..., WATCHDOG=1, STOPPING=1) with the monotonic time it arrived.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self


class NotifyListener:
    def __init__(self, folder: Path) -> None:
        self.path = str(Path(folder) / f"notify-{time.monotonic_ns()}.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.seen: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536).decode("utf-8", "replace")
            except (TimeoutError, OSError):
                continue
            at = time.monotonic()
            self.seen.extend((at, line) for line in data.split("\n"))

    def lines(self) -> list[str]:
        return [line for _, line in list(self.seen)]

    def first(self, prefix: str) -> tuple[float, str] | None:
        return next(((at, line) for at, line in list(self.seen) if line.startswith(prefix)),
                    None)

    def wait_for(self, prefix: str, timeout: float = 60,
                 alive: Callable[[], bool] | None = None) -> str:
        """The first line starting with `prefix`; TimeoutError when none came in time (or when
        `alive()` says the service is gone)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.first(prefix)
            if found is not None:
                return found[1]
            if alive is not None and not alive():
                break
            time.sleep(0.02)
        raise TimeoutError(f"no {prefix!r} from the service; saw {self.lines()[-5:]}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
